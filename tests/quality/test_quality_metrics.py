"""Metrics on shapes with exactly known answers, anisotropic spacing, and Colin27's brain mask."""

import math

import nibabel as nib
import numpy as np
import pytest

from models.quality.errors import QualityInputError
from models.quality.metrics import label_metrics, segment_metrics
from models.quality.summary import bootstrap_ci, summarize

SPACING = (0.5, 1.0, 2.5)  # (i, j, k) mm: every axis different, so a swapped order shows


def _cube(shape, lo, size):
    m = np.zeros(shape, dtype=bool)
    m[lo[0]:lo[0] + size, lo[1]:lo[1] + size, lo[2]:lo[2] + size] = True
    return m


def test_cubes_offset_along_k_overlap_and_volume():
    ref = _cube((30, 30, 30), (5, 5, 5), 10)
    test = _cube((30, 30, 30), (7, 5, 5), 10)  # 2 slices further along k
    m = segment_metrics(test, ref, SPACING, surface=False)
    assert m.dice == pytest.approx(0.8)
    assert m.iou == pytest.approx(800 / 1200)
    assert m.precision == pytest.approx(0.8) and m.recall == pytest.approx(0.8)
    assert m.volume_ref_ml == pytest.approx(1000 * 0.5 * 1.0 * 2.5 / 1000)
    assert m.volume_diff_ml == pytest.approx(0.0) and m.volume_diff_pct == pytest.approx(0.0)
    assert (m.ref_lesions, m.test_lesions, m.lesion_f1) == (1, 1, 1.0)
    assert m.hd95_mm is None


@pytest.mark.parametrize("axis, mm", [(0, 2.5), (1, 1.0), (2, 0.5)])
def test_parallel_plates_three_voxels_apart_give_exact_surface_distances(axis, mm):
    # A one-voxel-thick plate is all surface; each voxel's partner is 3 voxels away along
    # `axis`, so every surface distance, hence HD95 and ASD, is 3 * spacing of that axis.
    ref = np.zeros((20, 20, 20), dtype=bool)
    test = np.zeros_like(ref)
    sl = [slice(4, 16)] * 3
    sl[axis] = 5
    ref[tuple(sl)] = True
    sl[axis] = 8
    test[tuple(sl)] = True
    m = segment_metrics(test, ref, SPACING)
    assert m.hd95_mm == pytest.approx(3 * mm)
    assert m.asd_mm == pytest.approx(3 * mm)
    assert m.dice == 0.0 and m.lesion_f1 == 0.0


def test_single_voxels_distance_in_mm():
    ref = np.zeros((12, 12, 12), dtype=bool)
    test = np.zeros_like(ref)
    ref[5, 5, 5] = True
    test[5, 9, 8] = True  # 4 rows (j, 1 mm) and 3 columns (i, 0.5 mm) away
    m = segment_metrics(test, ref, SPACING)
    assert m.hd95_mm == pytest.approx(math.hypot(4 * 1.0, 3 * 0.5))
    assert m.asd_mm == pytest.approx(math.hypot(4.0, 1.5))


def test_identical_masks_are_perfect():
    ref = _cube((16, 16, 16), (3, 4, 5), 6)
    m = segment_metrics(ref.copy(), ref, SPACING)
    assert (m.dice, m.iou, m.precision, m.recall, m.hd95_mm, m.asd_mm) == (1, 1, 1, 1, 0, 0)


def test_empty_masks_conventions():
    empty = np.zeros((8, 8, 8), dtype=bool)
    m = segment_metrics(empty, empty, SPACING)
    assert (m.dice, m.iou, m.precision, m.recall, m.hd95_mm) == (1.0, 1.0, None, None, None)
    ref = _cube((8, 8, 8), (2, 2, 2), 3)
    m = segment_metrics(empty, ref, SPACING)
    assert (m.dice, m.recall, m.precision, m.lesion_recall) == (0.0, 0.0, None, 0.0)
    assert m.lesion_f1 == 0.0 and segment_metrics(empty, empty, SPACING).lesion_f1 is None


def test_lesion_wise_detection_counts_components():
    ref = np.zeros((20, 20, 20), dtype=bool)
    ref[2:4, 2:4, 2:4] = True     # detected
    ref[10:12, 10:12, 2:4] = True  # detected, by a test blob touching it at a corner only
    ref[15:17, 2:4, 15:17] = True  # missed
    test = np.zeros_like(ref)
    test[3:5, 3:5, 3:5] = True
    test[11, 11, 3] = True
    test[12, 12, 4] = True       # diagonal neighbour of (11, 11, 3): the same component
    test[2:4, 15:17, 10:12] = True  # false positive
    m = segment_metrics(test, ref, SPACING, surface=False)
    assert (m.ref_lesions, m.test_lesions) == (3, 3)
    assert m.lesion_precision == pytest.approx(2 / 3)
    assert m.lesion_recall == pytest.approx(2 / 3)
    assert m.lesion_f1 == pytest.approx(2 / 3)


def test_label_metrics_per_segment_and_grid_mismatch():
    ref = np.zeros((10, 10, 10), dtype=np.uint8)
    ref[1:5, 1:5, 1:5] = 1
    ref[6:9, 6:9, 6:9] = 2
    test = ref.copy()
    test[6:9, 6:9, 6:9] = 0
    out = label_metrics(test, ref, SPACING, surface=False)
    assert sorted(out) == [1, 2]
    assert out[1].dice == 1.0 and out[2].dice == 0.0
    with pytest.raises(QualityInputError, match="differs from the reference"):
        label_metrics(test[1:], ref, SPACING)


def test_colin27_brain_mask_shifted_two_columns(colin_brain):
    # Real anatomy: the brain mask against itself moved by 2 columns (i, 1 mm in Colin27).
    brain = np.asarray(nib.load(colin_brain).dataobj)[::2, ::2, ::2] > 0  # nibabel (i, j, k)
    ref = np.ascontiguousarray(brain.transpose(2, 1, 0))                   # -> (k, j, i)
    spacing = tuple(2 * abs(float(z)) for z in nib.load(colin_brain).header.get_zooms()[:3])
    test = np.zeros_like(ref)
    test[:, :, 1:] = ref[:, :, :-1]  # 1 downsampled column = 2 mm along i
    m = segment_metrics(test, ref, spacing)
    assert 0.9 < m.dice < 1.0
    assert 0 < m.asd_mm < m.hd95_mm <= spacing[0] + 1e-6  # a translation moves no point further
    assert m.volume_diff_ml == pytest.approx(0.0, abs=spacing[0] ** 3 / 1000 * ref[:, :, -1].sum())


def test_bootstrap_ci_width_matches_normal_theory():
    rng = np.random.default_rng(1)
    x = rng.normal(0.8, 0.05, size=400)
    lo, hi = bootstrap_ci(x, seed=3)
    half = 1.96 * x.std(ddof=1) / math.sqrt(x.size)
    assert lo < x.mean() < hi
    assert (hi - lo) / 2 == pytest.approx(half, rel=0.15)
    assert bootstrap_ci(x, seed=3) == (lo, hi)  # reproducible


def test_summary_skips_undefined_values():
    s = summarize([0.5, None, float("nan"), 0.7])
    assert s.n == 2 and s.mean == pytest.approx(0.6)
    assert summarize([0.9]).ci_low is None
    assert summarize([None]).mean is None
