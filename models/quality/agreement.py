"""Agreement between annotators: Cohen's and Fleiss' kappa, pairwise Dice, STAPLE consensus.

Voxels are the rated items: each rater's label map assigns one category (label value) per
voxel. Kappa over a whole volume is dominated by background voxels; pass ``mask`` (e.g. the
union of all raters' foreground, dilated) to rate only the region where raters could disagree.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from models.quality.errors import QualityInputError


def _stack(raters, mask=None) -> np.ndarray:
    arrays = [np.asarray(r) for r in raters]
    shapes = {a.shape for a in arrays}
    if len(shapes) != 1:
        raise QualityInputError("raters", f"label maps on different grids: {sorted(shapes)}")
    stacked = np.stack([a.reshape(-1) for a in arrays])
    if mask is not None:
        stacked = stacked[:, np.asarray(mask, dtype=bool).reshape(-1)]
    return stacked


def cohen_kappa(rater_a, rater_b, mask=None) -> float | None:
    """Cohen's kappa of two raters' categorical labels (any shape, same for both).

    ``(p_o - p_e) / (1 - p_e)``; ``None`` when chance agreement is 1 (both raters used one
    and the same category everywhere, so kappa is undefined).
    """
    a, b = _stack([rater_a, rater_b], mask)
    cats, codes = np.unique(np.concatenate([a, b]), return_inverse=True)
    ca, cb = codes[: a.size], codes[a.size:]
    n = a.size
    if n == 0:
        return None
    p_o = np.count_nonzero(ca == cb) / n
    p_e = float(np.dot(np.bincount(ca, minlength=cats.size), np.bincount(cb, minlength=cats.size))
                ) / (n * n)
    return None if p_e >= 1.0 else float((p_o - p_e) / (1.0 - p_e))


def fleiss_kappa_counts(counts) -> float | None:
    """Fleiss' kappa from a table ``counts[subject, category]`` = raters choosing it.

    Every subject must have the same number of ratings (at least 2).
    """
    counts = np.asarray(counts, dtype=np.float64)
    n_raters = counts.sum(axis=1)
    if counts.ndim != 2 or counts.shape[0] == 0 or not np.all(n_raters == n_raters[0]) \
            or n_raters[0] < 2:
        raise QualityInputError("ratings", "Fleiss' kappa needs the same number (>= 2) of "
                                           "ratings for every item")
    n, big_n = n_raters[0], counts.shape[0]
    p_j = counts.sum(axis=0) / (big_n * n)
    p_i = (np.square(counts).sum(axis=1) - n) / (n * (n - 1))
    p_bar, p_e = p_i.mean(), float(np.square(p_j).sum())
    return None if p_e >= 1.0 else float((p_bar - p_e) / (1.0 - p_e))


def fleiss_kappa(raters, mask=None) -> float | None:
    """Fleiss' kappa of two or more raters' categorical label maps (same grid)."""
    stacked = _stack(raters, mask)
    cats, codes = np.unique(stacked, return_inverse=True)
    codes = codes.reshape(stacked.shape)
    counts = np.stack([np.count_nonzero(codes == c, axis=0) for c in range(cats.size)], axis=1)
    return fleiss_kappa_counts(counts)


def dice(a, b) -> float:
    """Dice of two binary masks (1.0 when both are empty)."""
    a = np.asarray(a, dtype=bool)
    b = np.asarray(b, dtype=bool)
    den = np.count_nonzero(a) + np.count_nonzero(b)
    return 2.0 * np.count_nonzero(a & b) / den if den else 1.0


def pairwise_dice(masks) -> np.ndarray:
    """Symmetric matrix of Dice between every pair of binary masks (1 on the diagonal)."""
    masks = [np.asarray(m, dtype=bool) for m in masks]
    _stack(masks)  # same grid check
    out = np.ones((len(masks), len(masks)))
    for i in range(len(masks)):
        for j in range(i + 1, len(masks)):
            out[i, j] = out[j, i] = dice(masks[i], masks[j])
    return out


@dataclass(frozen=True)
class StapleResult:
    """STAPLE consensus of binary masks.

    Attributes
    ----------
    consensus : ndarray of bool, (k, j, i)
        Voxels whose posterior probability of being foreground is >= the threshold (0.5).
    probability : ndarray of float32, (k, j, i)
        STAPLE's posterior foreground probability.
    sensitivity, specificity : tuple of float
        Estimated performance of each rater, in input order.
    """

    consensus: np.ndarray
    probability: np.ndarray
    sensitivity: tuple[float, ...]
    specificity: tuple[float, ...]


def staple(masks, threshold: float = 0.5) -> StapleResult:
    """STAPLE (Warfield 2004) consensus of binary masks with SimpleITK's STAPLEImageFilter."""
    import SimpleITK as sitk

    masks = [np.asarray(m, dtype=bool) for m in masks]
    _stack(masks)
    if len(masks) < 2:
        raise QualityInputError("raters", "STAPLE needs at least two raters")
    images = [sitk.GetImageFromArray(m.astype(np.uint8)) for m in masks]
    filt = sitk.STAPLEImageFilter()
    filt.SetForegroundValue(1)
    prob = sitk.GetArrayFromImage(filt.Execute(images)).astype(np.float32)
    return StapleResult(prob >= threshold, prob, tuple(filt.GetSensitivity()),
                        tuple(filt.GetSpecificity()))


def multilabel_staple(label_maps, undecided: int = 0) -> np.ndarray:
    """Consensus label map of several raters' label maps (SimpleITK MultiLabelSTAPLE).

    Voxels where the estimate ties are given ``undecided`` (background by default).
    """
    import SimpleITK as sitk

    maps = [np.asarray(m) for m in label_maps]
    _stack(maps)
    if len(maps) < 2:
        raise QualityInputError("raters", "STAPLE needs at least two raters")
    if min(int(m.min()) for m in maps) < 0 or max(int(m.max()) for m in maps) > 65535:
        raise QualityInputError("raters", "label values must lie in 0..65535 for STAPLE")
    images = [sitk.GetImageFromArray(m.astype(np.uint16)) for m in maps]
    filt = sitk.MultiLabelSTAPLEImageFilter()
    filt.SetLabelForUndecidedPixels(undecided)
    return sitk.GetArrayFromImage(filt.Execute(images)).astype(maps[0].dtype, copy=False)
