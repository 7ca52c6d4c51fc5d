"""A pool of brain-mask proposals with known truth, made from real anatomy (for bench_tbal.py).

Sources: Colin27 (``app/demo/ch2bet.nii.gz``: the brain-extracted T1 of ``ch2.nii.gz`` on the
same grid; truth = ``ch2bet > 0``) and, when nilearn is installed, its bundled MNI152 2009a
template with nilearn's MNI152 brain mask (the bundled template is already brain-extracted).
Each source is cropped to the brain and resampled to ``size``^3. Every case is one random
draw of MONAI transforms applied to image and mask together: elastic deformation with
rotation/scaling/translation (mask: nearest), a bias field, a gamma contrast change and
Gaussian noise, their strengths scaled by one per-case severity ``s ~ U(0, 1)``.

The "model" is an intensity proposer (``propose``: Otsu threshold of the smoothed image,
erosion, largest component, dilation, hole filling). It cannot strip a skull, which is why the
brain-extracted images are used; its proposals range from Dice ~0.8 to ~0.99. Its per-case
confidence is a test-time-perturbation agreement: the mean Dice between the proposal and three
variants (threshold x0.85 and x1.15, erosion radius 2), mapped to [0, 1] by
``clip(1 - 10 (1 - agreement), 0, 1)`` so that the 0.50..0.99 threshold grid spans it. The
project's brainmask-unet was tried as the model; at ~1 s per case on 2 cores it would make the
pool too slow to build, so it serves the effort figure (:func:`unet_effort`) instead.

Per case the builder also simulates an annotator who fixes slices (axial, worst first) until
Dice >= 0.95, counting the voxels edited: starting from the proposal vs painting from nothing.
"""

from __future__ import annotations

import time

import numpy as np
from scipy import ndimage

from models.quality.agreement import dice

REPO_DEMO = "app/demo"


def _kji(data) -> np.ndarray:
    """nibabel's (i, j, k) array -> (k, j, i) float32."""
    return np.ascontiguousarray(np.asarray(data, dtype=np.float32).transpose(2, 1, 0))


def _crop_resize(img, mask, size):
    idx = np.argwhere(mask)
    lo = np.maximum(idx.min(0) - 4, 0)
    hi = np.minimum(idx.max(0) + 5, img.shape)
    sl = tuple(slice(a, b) for a, b in zip(lo, hi))
    f = [size / s for s in img[sl].shape]
    small = ndimage.zoom(np.where(mask, img, 0)[sl], f, order=1)
    return small.astype(np.float32), ndimage.zoom(mask[sl].astype(np.float32), f, order=1) > 0.5


def load_sources(repo, size: int = 64) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """(name, image, brain mask) of each available source, on a size^3 grid."""
    import nibabel as nib

    colin = _kji(nib.load(f"{repo}/{REPO_DEMO}/ch2bet.nii.gz").dataobj)
    out = [("colin27", *_crop_resize(colin, colin > 0, size))]
    try:
        from nilearn import datasets
    except ImportError:  # the dev extra installs nilearn; without it the pool is Colin27 only
        return out
    t1 = _kji(datasets.load_mni152_template(resolution=1).dataobj)
    brain = _kji(datasets.load_mni152_brain_mask(resolution=1).dataobj) > 0
    out.append(("mni152", *_crop_resize(t1, brain, size)))
    return out


def _transforms(severity: float):
    from monai.transforms import (Compose, Rand3DElasticd, RandAdjustContrastd, RandBiasFieldd,
                                  RandGaussianNoised, ScaleIntensityRangePercentilesd)

    keys = ["image", "label"]
    s = severity
    return Compose([
        ScaleIntensityRangePercentilesd("image", 0, 99.5, 0, 1, clip=True),
        Rand3DElasticd(keys, sigma_range=(5, 8), magnitude_range=(20 * s, 20 * s + 1), prob=1.0,
                       rotate_range=[0.25] * 3, scale_range=[0.12] * 3, translate_range=[3] * 3,
                       mode=("bilinear", "nearest"), padding_mode="zeros"),
        RandBiasFieldd("image", coeff_range=(0.0, 0.2 + 0.6 * s), prob=1.0),
        RandAdjustContrastd("image", gamma=(0.6, 1.6), prob=1.0),
        RandGaussianNoised("image", std=0.03 + 0.25 * s, prob=1.0),
    ])


def propose(image, t_scale: float = 1.0, radius: int = 1) -> np.ndarray:
    """The intensity proposer: a brain mask from a brain-extracted, corrupted T1."""
    from skimage.filters import threshold_otsu

    xs = ndimage.gaussian_filter(image, 1.0)
    fg = xs > threshold_otsu(xs) * t_scale
    lab, n = ndimage.label(ndimage.binary_erosion(fg, iterations=radius))
    if n == 0:
        return np.zeros_like(fg)
    big = lab == (np.argmax(np.bincount(lab.ravel())[1:]) + 1)
    return ndimage.binary_fill_holes(ndimage.binary_dilation(big, iterations=radius) & fg)


def proposal_with_confidence(image) -> tuple[np.ndarray, float]:
    """Proposal and its confidence (test-time-perturbation agreement, scaled to [0, 1])."""
    main = propose(image)
    variants = [propose(image, 0.85), propose(image, 1.15), propose(image, 1.0, 2)]
    agreement = float(np.mean([dice(main, v) for v in variants]))
    return main, float(np.clip(1.0 - 10.0 * (1.0 - agreement), 0.0, 1.0))


def correction_effort(start: np.ndarray, truth: np.ndarray, target: float = 0.95) -> int:
    """Voxels a slice-by-slice annotator edits (worst axial slice first) to reach ``target``."""
    current = start.copy()
    wrong = (current != truth).sum(axis=(1, 2))
    edited = 0
    for k in np.argsort(-wrong, kind="stable"):
        if dice(current, truth) >= target or wrong[k] == 0:
            break
        edited += int(wrong[k])
        current[k] = truth[k]
    return edited


def build_pool(repo, n_cases: int, seed: int = 0, size: int = 64, log=print) -> dict:
    """Per-case records: source, severity, Dice, confidence, effort from proposal / scratch."""
    import torch

    torch.set_num_threads(2)
    sources = load_sources(repo, size)
    rng = np.random.default_rng(seed)
    rec = {k: [] for k in ("source", "severity", "dice", "confidence", "effort_proposal",
                           "effort_scratch")}
    t0 = time.perf_counter()
    for i in range(n_cases):
        name, img, mask = sources[i % len(sources)]
        severity = float(rng.uniform(0, 1))
        tf = _transforms(severity)
        tf.set_random_state(int(rng.integers(2 ** 31)))
        d = tf({"image": img[None], "label": mask[None].astype(np.float32)})
        x = np.asarray(d["image"][0], dtype=np.float32)
        y = np.asarray(d["label"][0]) > 0.5
        prop, conf = proposal_with_confidence(x)
        rec["source"].append(name)
        rec["severity"].append(severity)
        rec["dice"].append(dice(prop, y))
        rec["confidence"].append(conf)
        rec["effort_proposal"].append(correction_effort(prop, y))
        rec["effort_scratch"].append(correction_effort(np.zeros_like(y), y))
        if (i + 1) % 100 == 0:
            log(f"  {i + 1}/{n_cases} cases, {time.perf_counter() - t0:.0f} s")
    return {k: np.array(v) for k, v in rec.items()}


def unet_effort(repo, n_cases: int, seed: int = 0, log=print) -> dict:
    """Effort figure with the project's brainmask-unet on corrupted, skull-on Colin27 at 2 mm.

    The full-head ``ch2.nii.gz`` (every 2nd voxel, 2 mm) and its ``ch2bet > 0`` mask get the
    same random MONAI transforms as the pool; the UNet proposes on the case's LPS grid.
    """
    import nibabel as nib
    import torch

    from models.run import _spec

    torch.set_num_threads(2)
    head = nib.load(f"{repo}/{REPO_DEMO}/ch2.nii.gz")
    img = _kji(head.dataobj)[::2, ::2, ::2]
    mask = _kji(nib.load(f"{repo}/{REPO_DEMO}/ch2bet.nii.gz").dataobj)[::2, ::2, ::2] > 0
    # index (i, j, k) of the 2 mm grid -> RAS (nibabel) -> LPS (annotrace's convention)
    affine = np.diag([-1.0, -1.0, 1.0, 1.0]) @ head.affine @ np.diag([2.0, 2.0, 2.0, 1.0])
    model = _spec("brainmask-unet").load(device="cpu")
    rng = np.random.default_rng(seed + 10)
    rec = {"dice": [], "effort_proposal": [], "effort_scratch": []}
    t0 = time.perf_counter()
    for i in range(n_cases):
        tf = _transforms(float(rng.uniform(0, 1)))
        tf.set_random_state(int(rng.integers(2 ** 31)))
        d = tf({"image": img[None], "label": mask[None].astype(np.float32)})
        x = np.asarray(d["image"][0], dtype=np.float32)
        y = np.asarray(d["label"][0]) > 0.5
        prop = model.propose(x, affine).labels > 0
        rec["dice"].append(dice(prop, y))
        rec["effort_proposal"].append(correction_effort(prop, y))
        rec["effort_scratch"].append(correction_effort(np.zeros_like(y), y))
        if (i + 1) % 10 == 0:
            log(f"  unet: {i + 1}/{n_cases} cases, {time.perf_counter() - t0:.0f} s")
    return {k: np.array(v) for k, v in rec.items()}
