"""deepbet brain extraction, run through MONAI transforms and inferers.

deepbet (Fisch et al. 2024, MIT) ships two TorchScript UNets in its wheel. Its own runner
(``deepbet/bet.py``) is *not* used; its preprocessing is reproduced step by step with MONAI:

1. closest canonical orientation (RAS), as ``nib.as_closest_canonical`` -> ``Orientation``;
2. the bounding-box net sees the volume resized to 128^3 (nearest-exact); intensities are
   clipped to the 0.5/99.5 percentiles of that small volume, scaled to [0, 1],
   z-normalised and mapped to ``0.226 * z + 0.449`` (ImageNet-like statistics);
3. the largest component of its mask, plus a 10 % margin per side, crops the head; the
   crop is resized to 256^3 and normalised the same way (same percentiles);
4. the main net's brain probability is resized back to the crop and pasted into the
   volume (trilinear on the probability, where deepbet uses nearest-exact on it), then the
   orientation is inverted onto the source grid;
5. threshold 0.5, largest connected component, holes filled (as deepbet's postprocess).
"""

from __future__ import annotations

import time

import numpy as np

from models.errors import ModelError
from models.postprocess import binary_proposal, check_single_volume
from models.sliding import run_inferer
from models.spatial import to_metatensor

SMALL_SHAPE = (128, 128, 128)
SHAPE = (256, 256, 256)
BBOX_MARGIN = 0.1


def load(spec, device=None):
    """Build the runnable deepbet model for ``spec`` (the registry's runner)."""
    return DeepbetModel(spec, device=device)


def _normalizer(low: float, high: float):
    from monai.transforms import Compose, Lambda, NormalizeIntensity, ScaleIntensityRange

    return Compose([
        ScaleIntensityRange(a_min=low, a_max=high, b_min=0.0, b_max=1.0, clip=True),
        NormalizeIntensity(),
        Lambda(lambda t: 0.226 * t + 0.449),
    ])


def _bbox_with_margin(mask_small: np.ndarray, shape, margin: float = BBOX_MARGIN):
    """deepbet's ``get_bbox_with_margin``: slices of the head in the full-size volume."""
    slices = []
    for axis in range(3):
        other = tuple(a for a in range(3) if a != axis)
        idx = np.where(mask_small.mean(axis=other) > 0.02)[0]
        if idx.size == 0:
            return None
        scale = shape[axis] / mask_small.shape[axis]
        center = scale * (idx.max() + 1 + idx.min()) / 2
        size = (1 + 2 * margin) * scale * ((idx.max() + 1) - idx.min())
        center, size = np.round(center), np.round(size)
        lo, hi = int(center - size / 2), int(center + size / 2)
        slices.append(slice(max(0, lo), min(shape[axis], hi)))
    return tuple(slices)


class DeepbetModel:
    """deepbet's two networks behind annotrace's proposal interface."""

    def __init__(self, spec, device=None):
        import torch

        self.spec = spec
        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        bbox_path, main_path = spec.weights
        spec.weights_sha256  # noqa: B018 - hash (and check) the files before loading them
        self.bbox_net = torch.jit.load(str(bbox_path), map_location=self.device).eval()
        self.net = torch.jit.load(str(main_path), map_location=self.device).eval()

    def propose(self, images, affine_lps, progress=None, fast: bool = True,
                backend: str = "torch"):
        """Brain-mask proposal on the input grid; see :func:`models.run.propose`."""
        import torch
        from monai.inferers import SimpleInferer, SlidingWindowInferer
        from monai.transforms import Orientation, Resize
        from monai.data import MetaTensor

        from models.postprocess import largest_component

        image = check_single_volume(self.spec, images)
        t0 = time.perf_counter()
        orient = Orientation(axcodes="RAS", labels=(("L", "R"), ("P", "A"), ("I", "S")))
        oriented = orient(to_metatensor(image, affine_lps))
        x = torch.nan_to_num(oriented.as_tensor()).to(self.device)
        small = Resize(SMALL_SHAPE, mode="nearest-exact")(x)
        low, high = (float(v) for v in torch.quantile(small.flatten(), torch.tensor(
            [0.005, 0.995], device=small.device)))
        if not high > low:
            raise ModelError(self.spec.name, "the image is constant; nothing to segment")
        norm = _normalizer(low, high)
        timings = {"preprocess": time.perf_counter() - t0}

        t0 = time.perf_counter()
        p_small, _ = run_inferer(SimpleInferer(), torch.as_tensor(norm(small))[None],
                                 self.bbox_net, progress, "head bounding box", fast)
        head = largest_component((p_small[0, 1] > 0.5).cpu().numpy())
        bbox = _bbox_with_margin(head.astype(np.float32), x.shape[1:])
        if bbox is None:
            raise ModelError(self.spec.name, "no head found in the image (is it a T1 MRI?)")
        crop = x[(slice(None),) + bbox]
        big = torch.as_tensor(norm(Resize(SHAPE, mode="nearest-exact")(crop)))
        inferer = SlidingWindowInferer(roi_size=SHAPE, sw_batch_size=1, overlap=0.0)
        p_big, _ = run_inferer(inferer, big[None], self.net, progress, "brain", fast, backend)
        timings["inference"] = time.perf_counter() - t0

        t0 = time.perf_counter()
        p_crop = Resize(crop.shape[1:], mode="trilinear")(p_big[0, 1:2].clone())
        full = torch.zeros_like(x)
        full[(slice(None),) + bbox] = torch.as_tensor(p_crop)
        restored = orient.inverse(MetaTensor(full.cpu(), meta=oriented.meta,
                                             applied_operations=oriented.applied_operations))
        prob = np.asarray(restored.detach().cpu().numpy()[0].T, dtype=np.float32)
        proposal = binary_proposal(prob, affine_lps, self.spec, timings)
        timings["postprocess"] = time.perf_counter() - t0
        return proposal

