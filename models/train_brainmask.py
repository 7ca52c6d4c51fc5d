"""Training recipe of the built-in ``brainmask-unet`` model (one command, CPU, minutes).

    .venv/bin/python -m models.train_brainmask            # writes models/weights/brainmask_unet.*

Data: Colin27 T1 (``ch2.nii.gz``) and its brain-extracted twin (``ch2bet.nii.gz``, mask =
``ch2bet > 0``) from Debian's mricron-data, shipped in ``app/demo``. The only head with a
skull and a brain mask available offline here, so the split is by hemisphere: the network
trains on the patient's left hemisphere (world x < -4 mm; MNI/Colin space puts the
midline at x = 0) and is evaluated on the right one (x > +4 mm), which it never sees.
Augmentations: left-right flips, rotations, scaling, translations, bias field, gamma,
intensity scaling and noise, so that it does not learn Colin's exact intensities.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
DEFAULT_IMAGE = REPO / "app" / "demo" / "ch2.nii.gz"
DEFAULT_MASK = REPO / "app" / "demo" / "ch2bet.nii.gz"
DEFAULT_OUT = Path(__file__).resolve().parent / "weights" / "brainmask_unet.pt"
MARGIN_MM = 4.0
PATCH = (40, 64, 64)


def load_pair(image_path, mask_path):
    """``(k, j, i)`` T1 array, boolean brain mask and index->LPS affine, via nibabel."""
    import nibabel as nib

    img, ref = nib.load(str(image_path)), nib.load(str(mask_path))
    if not np.allclose(img.affine, ref.affine) or img.shape != ref.shape:
        raise ValueError("image and mask are not on one grid")
    affine_lps = np.diag([-1.0, -1.0, 1.0, 1.0]) @ img.affine
    return (np.asarray(img.dataobj).T.astype(np.float32), np.asarray(ref.dataobj).T > 0,
            affine_lps)


def hemisphere_masks(shape_kji, affine_lps, margin_mm: float = MARGIN_MM):
    """Boolean ``(k, j, i)`` masks of the training (left) and held-out (right) hemispheres.

    LPS x grows towards the patient's left, so left = LPS x > margin.
    """
    k, j, i = np.indices(shape_kji, sparse=True)
    x_lps = affine_lps[0, 0] * i + affine_lps[0, 1] * j + affine_lps[0, 2] * k + affine_lps[0, 3]
    return x_lps > margin_mm, x_lps < -margin_mm


def dice(a: np.ndarray, b: np.ndarray) -> float:
    s = a.sum() + b.sum()
    return float(2.0 * np.logical_and(a, b).sum() / s) if s else 1.0


def _training_data(image, mask, affine_lps, train_half):
    """Network-grid tensors of the training hemisphere only (held-out voxels zeroed)."""
    import torch
    from monai.transforms import Orientation, Spacing

    from models.brainmask_unet import LPS_LABELS, SPACING_MM, preprocessing
    from models.spatial import to_metatensor

    x = preprocessing()(to_metatensor(image, affine_lps))
    y = to_metatensor(mask.astype(np.float32), affine_lps)
    y = Spacing(pixdim=SPACING_MM, mode="nearest")(
        Orientation(axcodes="RAS", labels=LPS_LABELS)(y))
    keep = to_metatensor(train_half.astype(np.float32), affine_lps)
    keep = Spacing(pixdim=SPACING_MM, mode="nearest")(
        Orientation(axcodes="RAS", labels=LPS_LABELS)(keep))
    # Crop to the training hemisphere's extent along x so no held-out voxel is ever sampled.
    cols = torch.nonzero(keep[0].sum(dim=(1, 2)) > 0).flatten()
    lo, hi = int(cols.min()), int(cols.max()) + 1
    return x.as_tensor()[:, lo:hi].clone(), y.as_tensor()[:, lo:hi].round().clone()


def _augment():
    from monai.transforms import (Compose, RandAdjustContrastd, RandAffined, RandBiasFieldd,
                                  RandFlipd, RandGaussianNoised, RandScaleIntensityd,
                                  RandSpatialCropd, SpatialPadd)

    keys = ("image", "label")
    return Compose([
        SpatialPadd(keys, spatial_size=PATCH),
        RandFlipd(keys, prob=0.5, spatial_axis=0),
        RandAffined(keys, prob=0.9, rotate_range=(0.3, 0.3, 0.3), scale_range=(0.15,) * 3,
                    translate_range=(4, 4, 4), mode=("bilinear", "nearest"),
                    padding_mode="zeros"),
        RandSpatialCropd(keys, roi_size=PATCH, random_size=False),
        RandBiasFieldd("image", prob=0.5, coeff_range=(0.0, 0.3)),
        RandAdjustContrastd("image", prob=0.5, gamma=(0.7, 1.5)),
        RandScaleIntensityd("image", factors=0.2, prob=0.5),
        RandGaussianNoised("image", prob=0.5, std=0.05),
    ])


def train(out: Path = DEFAULT_OUT, steps: int = 1000, batch: int = 2, seed: int = 0,
          image_path=DEFAULT_IMAGE, mask_path=DEFAULT_MASK, log=print) -> dict:
    """Train the built-in model; writes ``out`` (state dict) and ``out.with_suffix('.json')``."""
    import torch

    from models.brainmask_unet import BrainmaskUNet, build_network
    from models.training import train_segmentation

    torch.manual_seed(seed)
    image, mask, affine_lps = load_pair(image_path, mask_path)
    train_half, held_out = hemisphere_masks(image.shape, affine_lps)
    x, y = _training_data(image, mask, affine_lps, train_half)
    augment = _augment()
    augment.set_random_state(seed=seed)

    def sample(step):
        items = [augment({"image": x, "label": y}) for _ in range(batch)]
        return (torch.stack([torch.as_tensor(d["image"]) for d in items]),
                torch.stack([torch.as_tensor(d["label"]) for d in items]).long())

    net = build_network()

    def validate(network):
        runner = BrainmaskUNet(spec=None, network=network, device="cpu")
        prob = runner.probability(image, affine_lps)
        return dice(prob[held_out] > 0.5, mask[held_out])

    t0 = time.perf_counter()
    result = train_segmentation(net, sample, steps, validate=validate, validate_every=100,
                                progress=lambda d, t, s: (d % 100 == 0) and log(
                                    f"step {d}/{t}"),
                                seed=seed)
    seconds = time.perf_counter() - t0
    out = Path(out)
    torch.save(net.state_dict(), out)
    recipe = {
        "model": "brainmask-unet", "version": "1", "steps": steps, "batch": batch,
        "patch": list(PATCH), "seed": seed, "train_seconds": round(seconds, 1),
        "data": "Colin27 ch2.nii.gz / ch2bet.nii.gz (Debian mricron-data), "
                f"training = left hemisphere (LPS x > {MARGIN_MM} mm), "
                f"held out = right hemisphere (LPS x < -{MARGIN_MM} mm)",
        "validation_dice_held_out": [[s, round(v, 4)] for s, v in result.validation],
        "final_loss": round(result.losses[-1], 4),
    }
    out.with_suffix(".json").write_text(json.dumps(recipe, indent=2) + "\n")
    return recipe


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    recipe = train(args.out, steps=args.steps, seed=args.seed)
    print(json.dumps(recipe, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
