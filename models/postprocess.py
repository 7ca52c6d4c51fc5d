"""Mask clean-up and probability -> Proposal conversion shared by the built-in models."""

from __future__ import annotations

import numpy as np

from models.proposal import Proposal, encode_confidence


def largest_component(mask: np.ndarray) -> np.ndarray:
    """Keep the largest 26-connected component of a boolean mask."""
    import cc3d  # connected-components-3d, installed with deepbet

    if not mask.any():
        return mask
    labels = cc3d.connected_components(mask.astype(np.uint8), connectivity=26)
    counts = np.bincount(labels.ravel())
    counts[0] = 0
    return labels == counts.argmax()


def fill_holes(mask: np.ndarray) -> np.ndarray:
    """Fill enclosed cavities of a 3D boolean mask (fill_voids, installed with deepbet)."""
    import fill_voids

    return fill_voids.fill(mask, in_place=False).astype(bool)


def binary_proposal(prob: np.ndarray, affine_lps, spec, timings: dict,
                    threshold: float = 0.5, clean: bool = True) -> Proposal:
    """A one-segment Proposal from a foreground probability map on the source grid.

    The label is ``prob > threshold`` (optionally its largest component, holes filled);
    the confidence is the probability of the label finally assigned, so a voxel flipped
    by the clean-up shows as uncertain.
    """
    mask = prob > threshold
    if clean:
        mask = fill_holes(largest_component(mask))
    conf = np.array(prob, dtype=np.float32, copy=True)
    np.subtract(1.0, conf, out=conf, where=~mask)   # probability of the assigned label
    confidence = encode_confidence(conf, overwrite=True)
    labels = mask.astype(np.uint8) * np.uint8(spec.segments[0].value)
    return Proposal(labels=labels, confidence=confidence,
                    affine_lps=np.asarray(affine_lps, float).copy(),
                    segments=tuple(spec.segments), model_id=spec.model_id,
                    weights_sha256=spec.weights_sha256, timings_s=timings)


def check_single_volume(spec, images) -> np.ndarray:
    """The one 3D volume a single-channel model takes, or a ModelError."""
    from models.errors import ModelError

    if isinstance(images, (list, tuple)):
        if len(images) != 1:
            raise ModelError(spec.name, f"takes 1 image, got {len(images)}")
        images = images[0]
    array = np.asarray(images)
    if array.ndim != 3:
        raise ModelError(spec.name, f"needs a 3D volume, got shape {array.shape}")
    if array.dtype.kind not in "iufb":
        raise ModelError(spec.name, f"cannot run on voxels of type {array.dtype}")
    if min(array.shape) < 8:
        raise ModelError(spec.name, f"volume (k, j, i) = {array.shape} is too small: a 3D "
                                    "model needs at least 8 voxels along each axis")
    return array
