"""Overlap, surface and volume metrics of a label set against a reference.

Arrays have axes ``(k, j, i)``; spacing is given as ``(i, j, k)`` millimetres (the project's
convention) and reversed once here for the array axes. Surface distances come from MONAI's
metrics (``compute_hausdorff_distance`` / ``compute_average_surface_distance`` with
``spacing``), so they are the numbers a MONAI user would report.

Conventions for empty masks (stated because papers differ): when both the test and the
reference mask are empty, Dice and IoU are 1 (perfect agreement on "nothing"); precision is
undefined (``None``) for an empty test mask, recall for an empty reference; surface distances
are ``None`` unless both masks are non-empty; lesion-wise F1 is ``None`` when neither mask
has a lesion and 0 when only one of them has.
"""

from __future__ import annotations

import warnings
from dataclasses import asdict, dataclass

import numpy as np

from models.quality.errors import QualityInputError

#: scipy.ndimage structure for 26-connectivity (lesions touching at a corner are one lesion).
_FULL_3D = np.ones((3, 3, 3), dtype=bool)


@dataclass(frozen=True)
class SegmentMetrics:
    """Metrics of one binary segment of one case.

    ``f1`` (voxel-wise) equals ``dice`` by definition; it is kept so that tables name both.
    Lesion-wise detection counts connected components (26-connectivity): a reference lesion is
    detected when any test voxel overlaps it, a test component is a true detection when it
    overlaps any reference voxel.
    """

    dice: float
    iou: float
    precision: float | None
    recall: float | None
    f1: float
    hd95_mm: float | None
    asd_mm: float | None
    volume_ref_ml: float
    volume_test_ml: float
    volume_diff_ml: float
    volume_diff_pct: float | None
    ref_lesions: int
    test_lesions: int
    lesion_precision: float | None
    lesion_recall: float | None
    lesion_f1: float | None

    def as_json(self) -> dict:
        return {k: (None if v is None else (round(v, 6) if isinstance(v, float) else v))
                for k, v in asdict(self).items()}


def _ratio(num: float, den: float) -> float | None:
    return float(num) / float(den) if den > 0 else None


def _check_pair(test: np.ndarray, ref: np.ndarray, spacing_mm) -> tuple[float, ...]:
    if test.shape != ref.shape:
        raise QualityInputError("labels", f"grid {test.shape} differs from the reference's "
                                          f"{ref.shape}")
    if test.ndim != 3:
        raise QualityInputError("labels", f"expected a 3D (k, j, i) array, got {test.ndim}D")
    spacing = tuple(float(s) for s in spacing_mm)
    if len(spacing) != 3 or min(spacing) <= 0:
        raise QualityInputError("spacing", f"expected 3 positive values (i, j, k) mm, got "
                                           f"{spacing_mm!r}")
    return spacing


def surface_distances(test: np.ndarray, ref: np.ndarray, spacing_mm) -> tuple[float, float]:
    """Symmetric 95 % Hausdorff distance and average surface distance, in mm (MONAI).

    Parameters
    ----------
    test, ref : ndarray of bool, shape (k, j, i)
        Non-empty binary masks on the same grid.
    spacing_mm : sequence of 3 floats
        Voxel size ``(i, j, k)`` in mm.
    """
    import torch  # MONAI's metrics run on tensors; imported only when distances are asked for
    from monai.metrics import compute_average_surface_distance, compute_hausdorff_distance

    spacing_kji = [float(s) for s in reversed(tuple(spacing_mm))]
    y_pred = torch.from_numpy(np.ascontiguousarray(test, dtype=bool))[None, None]
    y = torch.from_numpy(np.ascontiguousarray(ref, dtype=bool))[None, None]
    with warnings.catch_warnings():
        # MONAI 1.5+ warns about its own internal use of a deprecated argument; not ours to fix.
        warnings.filterwarnings("ignore", message=".*always_return_as_numpy.*",
                                category=FutureWarning)
        hd95 = compute_hausdorff_distance(y_pred, y, include_background=True, percentile=95,
                                          spacing=spacing_kji)
        asd = compute_average_surface_distance(y_pred, y, include_background=True,
                                               symmetric=True, spacing=spacing_kji)
    return float(hd95.item()), float(asd.item())


def lesion_counts(test: np.ndarray, ref: np.ndarray) -> tuple[int, int, int, int]:
    """Connected components and detections: (ref lesions, test lesions, detected ref, true test)."""
    from scipy import ndimage

    ref_lab, n_ref = ndimage.label(ref, structure=_FULL_3D)
    test_lab, n_test = ndimage.label(test, structure=_FULL_3D)
    detected_ref = len(np.setdiff1d(np.unique(ref_lab[test]), [0]))
    true_test = len(np.setdiff1d(np.unique(test_lab[ref]), [0]))
    return int(n_ref), int(n_test), int(detected_ref), int(true_test)


def segment_metrics(test, ref, spacing_mm, surface: bool = True) -> SegmentMetrics:
    """All metrics of one binary test mask against one binary reference mask.

    Parameters
    ----------
    test, ref : array_like of bool, shape (k, j, i)
        Masks on the same grid (non-zero = inside).
    spacing_mm : sequence of 3 floats
        Voxel size ``(i, j, k)`` in mm.
    surface : bool
        Compute the surface distances (the slowest part); ``None`` when False.
    """
    test = np.asarray(test).astype(bool, copy=False)
    ref = np.asarray(ref).astype(bool, copy=False)
    spacing = _check_pair(test, ref, spacing_mm)
    tp = int(np.count_nonzero(test & ref))
    n_test = int(np.count_nonzero(test))
    n_ref = int(np.count_nonzero(ref))
    fp, fn = n_test - tp, n_ref - tp
    dice = 2.0 * tp / (2 * tp + fp + fn) if (2 * tp + fp + fn) else 1.0
    iou = tp / (tp + fp + fn) if (tp + fp + fn) else 1.0
    hd95 = asd = None
    if surface and n_test and n_ref:
        hd95, asd = surface_distances(test, ref, spacing)
    voxel_ml = spacing[0] * spacing[1] * spacing[2] / 1000.0
    v_ref, v_test = n_ref * voxel_ml, n_test * voxel_ml
    r_les, t_les, detected, true_test = lesion_counts(test, ref)
    l_prec, l_rec = _ratio(true_test, t_les), _ratio(detected, r_les)
    if not r_les and not t_les:
        l_f1 = None  # nothing to detect and nothing detected
    elif not (true_test and detected):
        l_f1 = 0.0  # lesions on one side only, or no overlap at all
    else:
        l_f1 = 2 * l_prec * l_rec / (l_prec + l_rec)
    diff_pct = _ratio(100.0 * (v_test - v_ref), v_ref)
    return SegmentMetrics(
        dice=dice, iou=iou, precision=_ratio(tp, n_test), recall=_ratio(tp, n_ref), f1=dice,
        hd95_mm=hd95, asd_mm=asd, volume_ref_ml=v_ref, volume_test_ml=v_test,
        volume_diff_ml=v_test - v_ref, volume_diff_pct=diff_pct, ref_lesions=r_les,
        test_lesions=t_les, lesion_precision=l_prec, lesion_recall=l_rec, lesion_f1=l_f1)


def label_metrics(test_labels, ref_labels, spacing_mm, segments=None,
                  surface: bool = True) -> dict[int, SegmentMetrics]:
    """Metrics per segment of two label maps (one value per segment, 0 = background).

    Parameters
    ----------
    test_labels, ref_labels : array_like of int, shape (k, j, i)
    spacing_mm : sequence of 3 floats
        ``(i, j, k)`` mm.
    segments : iterable of int, optional
        Label values to score; default every non-zero value in either map.
    surface : bool
        Compute surface distances.
    """
    test_labels = np.asarray(test_labels)
    ref_labels = np.asarray(ref_labels)
    _check_pair(test_labels, ref_labels, spacing_mm)
    if segments is None:
        values = set(np.unique(ref_labels).tolist()) | set(np.unique(test_labels).tolist())
        segments = sorted(values - {0})
    return {int(v): segment_metrics(test_labels == v, ref_labels == v, spacing_mm, surface)
            for v in segments}
