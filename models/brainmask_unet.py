"""``brainmask-unet``: a small MONAI UNet for the brain mask on T1 MRI, trained by annotrace.

The network, its preprocessing and its inferer are defined here once, and used both by
training (:mod:`models.train_brainmask`) and by inference, so the two cannot drift apart.
Inference: orientation RAS, 2 mm isotropic resampling, intensity percentiles 0.5/99.5 ->
[0, 1], sliding window 64^3; the softmax is resampled back onto the source grid (the same
trilinear map as MONAI's inverse of the spacing and orientation transforms, slab by slab).
"""

from __future__ import annotations

import time

import numpy as np

from models.postprocess import binary_proposal, check_single_volume
from models.sliding import run_inferer
from models.spatial import resample_to_source, to_metatensor

NETWORK = dict(spatial_dims=3, in_channels=1, out_channels=2, channels=(8, 16, 32, 64),
               strides=(2, 2, 2), num_res_units=1, norm="batch")
SPACING_MM = (2.0, 2.0, 2.0)
ROI = (64, 64, 64)
LPS_LABELS = (("L", "R"), ("P", "A"), ("I", "S"))


def build_network():
    from monai.networks.nets import UNet

    return UNet(**NETWORK)


def preprocessing():
    """Array transforms from the source grid to the network's grid (invertible)."""
    from monai.transforms import Compose, Orientation, ScaleIntensityRangePercentiles, Spacing

    return Compose([
        Orientation(axcodes="RAS", labels=LPS_LABELS),
        Spacing(pixdim=SPACING_MM, mode="bilinear"),
        ScaleIntensityRangePercentiles(lower=0.5, upper=99.5, b_min=0.0, b_max=1.0, clip=True),
    ])


def inferer():
    from monai.inferers import SlidingWindowInferer

    return SlidingWindowInferer(roi_size=ROI, sw_batch_size=2, overlap=0.25)


def load(spec, device=None):
    return BrainmaskUNet(spec, device=device)


class BrainmaskUNet:
    """The project-trained UNet behind annotrace's proposal interface."""

    def __init__(self, spec, device=None, network=None):
        import torch

        self.spec = spec
        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        if network is None:
            network = build_network()
            spec.weights_sha256  # noqa: B018 - hash (and check) the file before loading it
            state = torch.load(spec.weights[0], map_location="cpu", weights_only=True)
            network.load_state_dict(state)
        self.net = network.to(self.device).eval()

    def probability(self, image, affine_lps, progress=None, fast=True, backend="torch"):
        """Brain probability ``(k, j, i)`` float32 on the source grid."""
        import torch

        pre = preprocessing()
        x = pre(to_metatensor(image, affine_lps))
        logits, _ = run_inferer(inferer(), x.as_tensor()[None].to(self.device), self.net,
                                progress, "brain", fast, backend)
        prob = torch.softmax(logits[0].float(), dim=0)[1:2].cpu()
        # Back to the source grid: the same trilinear map as MONAI's inverse of the
        # preprocessing (checked in tests), computed slab by slab to bound memory.
        return resample_to_source(prob, np.asarray(x.affine), affine_lps, image.shape)[0]

    def propose(self, images, affine_lps, progress=None, fast: bool = True,
                backend: str = "torch"):
        image = check_single_volume(self.spec, images)
        t0 = time.perf_counter()
        prob = self.probability(image, affine_lps, progress, fast, backend)
        timings = {"inference": time.perf_counter() - t0}
        t0 = time.perf_counter()
        proposal = binary_proposal(prob, affine_lps, self.spec, timings)
        timings["postprocess"] = time.perf_counter() - t0
        return proposal
