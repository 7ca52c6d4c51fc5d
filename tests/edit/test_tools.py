"""Polygon, threshold, region growing, islands, margins, smoothing, holes, interpolation,
logical operations: each on a synthetic grid whose expected voxels are known exactly."""

from __future__ import annotations

import numpy as np
import pytest

from edit_helpers import assert_state, make_editor, state
from viewers.edit import grow, interpolate, logical, morphology


def _with_mask(mask, spacing=(1.0, 1.0, 1.0), image=None):
    """Editor whose segment "s" holds ``mask`` (set through a threshold on a marker image)."""
    ed = make_editor(shape=mask.shape, spacing=spacing, image=image)
    sid = ed.segmentation.add_segment("s").segment_id
    ed.set_mask("setup", sid, tuple(slice(0, n) for n in mask.shape), mask)
    np.testing.assert_array_equal(ed.segmentation.mask(sid), mask)
    return ed, sid


# -- polygon -------------------------------------------------------------------------------
def test_polygon_fills_the_centres_inside_half_open():
    ed = make_editor(shape=(8, 30, 30))
    sid = ed.segmentation.add_segment("s").segment_id
    # an L shape on axial slice k=3, vertices at voxel centres (i, j)
    pts = [(4, 4, 3), (14, 4, 3), (14, 8, 3), (8, 8, 3), (8, 16, 3), (4, 16, 3)]
    ed.fill_polygon(sid, pts, slice_axis=0)
    expected = np.zeros((8, 30, 30), bool)
    expected[3, 4:8, 4:14] = True  # j in [4, 8), i in [4, 14)
    expected[3, 8:16, 4:8] = True
    np.testing.assert_array_equal(ed.segmentation.mask(sid), expected)


def test_polygon_on_a_sagittal_slice_and_polygon_erase():
    ed = make_editor(shape=(8, 30, 30))
    sid = ed.segmentation.add_segment("s").segment_id
    ed.fill_polygon(sid, [(5, 2, 1), (5, 12, 1), (5, 12, 6), (5, 2, 6)], slice_axis=2)
    expected = np.zeros((8, 30, 30), bool)
    expected[1:6, 2:12, 5] = True
    np.testing.assert_array_equal(ed.segmentation.mask(sid), expected)
    ed.fill_polygon(sid, [(5, 2, 1), (5, 12, 1), (5, 12, 3), (5, 2, 3)], slice_axis=2, erase=True)
    expected[1:3] = False
    np.testing.assert_array_equal(ed.segmentation.mask(sid), expected)
    assert ed.fill_polygon(sid, [(1, 1, 1), (2, 2, 1)], slice_axis=0) is None


# -- threshold ----------------------------------------------------------------------------
def test_threshold_fill_histogram_and_value_under_cursor():
    image = (np.arange(6 * 10 * 12) % 11).reshape(6, 10, 12).astype(np.int16)
    ed = make_editor(shape=image.shape, image=image)
    sid = ed.segmentation.add_segment("s").segment_id
    box = (slice(1, 4), slice(0, 10), slice(2, 9))
    ed.threshold(sid, 3, 5, bbox=box)
    expected = np.zeros(image.shape, bool)
    expected[box] = (image[box] >= 3) & (image[box] <= 5)
    np.testing.assert_array_equal(ed.segmentation.mask(sid), expected)
    assert ed.value_at((4.4, 2.6, 1.2)) == image[1, 3, 4]
    counts, edges = ed.histogram(bins=11)
    assert counts.sum() == image.size and edges[0] == 0 and edges[-1] == 10
    np.testing.assert_array_equal(counts, np.bincount(image.ravel(), minlength=11))
    with pytest.raises(ValueError):
        ed.threshold(sid, 5, 3)


# -- region growing -----------------------------------------------------------------------
def _blobs():
    image = np.zeros((10, 20, 20), np.int16)
    image[2:6, 2:8, 2:8] = 100       # blob A
    image[2:6, 10:15, 10:15] = 110   # blob B, separate
    image[6, 8, 8] = 100             # touches A only by a corner (26-connected)
    return image


def test_connected_threshold_grows_exactly_the_seeded_blob_within_the_roi():
    image = _blobs()
    ed = make_editor(shape=image.shape, image=image)
    sid = ed.segmentation.add_segment("s").segment_id
    grow.connected_threshold(ed, sid, (4, 4, 3), 90, 120)
    expected = np.zeros(image.shape, bool)
    expected[2:6, 2:8, 2:8] = True
    np.testing.assert_array_equal(ed.segmentation.mask(sid), expected)
    ed.undo()
    grow.connected_threshold(ed, sid, (4, 4, 3), 90, 120, fully_connected=True)
    expected[6, 8, 8] = True
    np.testing.assert_array_equal(ed.segmentation.mask(sid), expected)
    ed.undo()
    roi = (slice(0, 10), slice(0, 5), slice(0, 20))
    grow.connected_threshold(ed, sid, (4, 4, 3), 90, 120, roi=roi)
    expected[:] = False
    expected[2:6, 2:5, 2:8] = True
    np.testing.assert_array_equal(ed.segmentation.mask(sid), expected)
    with pytest.raises(ValueError):
        grow.connected_threshold(ed, sid, (12, 12, 3), 90, 120, roi=roi)


def test_confidence_connected_grows_a_noisy_block():
    rng = np.random.default_rng(1)
    image = np.zeros((10, 20, 20), np.int16)
    image[2:7, 3:12, 4:15] = 100 + rng.integers(-1, 2, (5, 9, 11))
    ed = make_editor(shape=image.shape, image=image)
    sid = ed.segmentation.add_segment("s").segment_id
    grow.confidence_connected(ed, sid, (8, 7, 4), multiplier=3.0, iterations=2)
    np.testing.assert_array_equal(ed.segmentation.mask(sid), image > 50)


def test_region_growing_on_the_real_colin_brain_matches_connected_components(colin_brain):
    from scipy import ndimage

    from viewers.edit import Editor
    from viewers.io import read_volume
    from viewers.labels import Segmentation

    vol = read_volume(colin_brain)
    ed = Editor(vol, Segmentation.empty_like(vol))
    sid = ed.segmentation.add_segment("brain").segment_id
    seed = (90, 108, 90)  # (i, j, k): the middle of the brain
    assert vol.array[90, 108, 90] > 0
    grow.connected_threshold(ed, sid, seed, 1, 255)
    labels, _ = ndimage.label(vol.array >= 1)
    expected = labels == labels[90, 108, 90]
    np.testing.assert_array_equal(ed.segmentation.mask(sid), expected)
    ed.undo()
    assert ed.segmentation.layers == []


# -- islands ------------------------------------------------------------------------------
def _islands():
    m = np.zeros((10, 20, 20), bool)
    m[1:4, 1:4, 1:4] = True     # 27 voxels
    m[6:8, 10:12, 10:12] = True  # 8 voxels
    m[8, 17, 17] = True         # 1 voxel
    return m


def test_keep_largest_and_remove_small_islands_in_mm3():
    m = _islands()
    ed, sid = _with_mask(m, spacing=(0.5, 0.5, 2.0))  # 0.5 mm^3 voxels
    morphology.remove_small_islands(ed, sid, min_mm3=4.0)  # keeps 27 (13.5) and 8 (4.0) voxels
    expected = m.copy()
    expected[8, 17, 17] = False
    np.testing.assert_array_equal(ed.segmentation.mask(sid), expected)
    morphology.remove_small_islands(ed, sid, min_mm3=4.1)
    expected[6:8, 10:12, 10:12] = False
    np.testing.assert_array_equal(ed.segmentation.mask(sid), expected)
    ed.undo()
    ed.undo()
    morphology.keep_largest_island(ed, sid)
    np.testing.assert_array_equal(ed.segmentation.mask(sid), expected)


def test_split_islands_into_segments_and_undo():
    m = _islands()
    ed, sid = _with_mask(m)
    before = state(ed.segmentation)
    morphology.split_islands(ed, sid)
    seg = ed.segmentation
    names = {s.name: s.segment_id for s in seg.segments.values()}
    assert set(names) == {"s", "s 2", "s 3"}
    big, mid, one = np.zeros_like(m), np.zeros_like(m), np.zeros_like(m)
    big[1:4, 1:4, 1:4] = mid[6:8, 10:12, 10:12] = one[8, 17, 17] = True
    np.testing.assert_array_equal(seg.mask(sid), big)
    np.testing.assert_array_equal(seg.mask(names["s 2"]), mid)
    np.testing.assert_array_equal(seg.mask(names["s 3"]), one)
    ed.undo()
    assert_state(seg, before)


# -- margins, closing, median, holes --------------------------------------------------------
def _brute_grow(mask, spacing_kji, r):
    pts = np.argwhere(mask) * spacing_kji
    allp = np.indices(mask.shape).reshape(3, -1).T * spacing_kji
    from scipy.spatial.distance import cdist  # brute force: every pair of voxel centres

    d = cdist(allp, pts).min(1) if len(pts) else np.full(len(allp), np.inf)
    return (d <= r + 1e-9).reshape(mask.shape)


def test_margin_grow_and_shrink_are_exact_in_mm_on_anisotropic_voxels():
    m = np.zeros((8, 16, 16), bool)
    m[3:5, 5:10, 6:9] = True
    m[4, 10, 7] = True
    spacing = (0.7, 0.5, 1.5)  # (i, j, k) mm
    ed, sid = _with_mask(m, spacing=spacing)
    sp_kji = np.array(spacing[::-1])
    morphology.margin(ed, sid, 1.6)
    grown = _brute_grow(m, sp_kji, 1.6)
    np.testing.assert_array_equal(ed.segmentation.mask(sid), grown)
    morphology.margin(ed, sid, -1.0)
    shrunk = ~_brute_grow(~grown, sp_kji, 1.0)
    np.testing.assert_array_equal(ed.segmentation.mask(sid), shrunk)


def test_closing_fills_a_gap_narrower_than_the_radius():
    m = np.zeros((7, 12, 20), bool)
    m[2:5, 3:8, 3:9] = True
    m[2:5, 3:8, 10:16] = True  # a one-voxel (1 mm) slit at i = 9
    ed, sid = _with_mask(m)
    morphology.closing(ed, sid, 1.5)
    pad = np.pad(m, 3)
    closed = ~_brute_grow(~_brute_grow(pad, np.ones(3), 1.5), np.ones(3), 1.5)
    expected = closed[3:-3, 3:-3, 3:-3] | m
    assert expected[3, 3:8, 9].all() and expected[2:5, 4:7, 9].all()  # the slit is closed ...
    assert not expected[:, :, 17:].any() and not expected[:, 9:].any()  # ... and nothing grows
    np.testing.assert_array_equal(ed.segmentation.mask(sid), expected)


def test_median_removes_corners_edges_and_specks():
    m = np.zeros((9, 9, 9), bool)
    m[2:7, 2:7, 2:7] = True
    m[0, 0, 8] = True
    ed, sid = _with_mask(m)
    morphology.median(ed, sid, kernel_mm=3.0)  # 3x3x3 voxels
    expected = np.zeros_like(m)
    core = np.zeros((5, 5, 5), int)
    for axis in range(3):  # count how many axes a voxel is on the cube's boundary
        core += np.isin(np.indices((5, 5, 5))[axis], (0, 4))
    expected[2:7, 2:7, 2:7] = core <= 1  # inside or on a face; edges (2) and corners (3) go
    np.testing.assert_array_equal(ed.segmentation.mask(sid), expected)


def test_fill_holes_3d_and_per_slice():
    cube = np.zeros((8, 10, 10), bool)
    cube[1:7, 2:8, 2:8] = True
    tube = cube.copy()
    tube[:, 4:6, 4:6] = False  # a channel open at both ends: not a 3D hole
    ed, sid = _with_mask(tube)
    assert morphology.fill_holes(ed, sid) is None
    morphology.fill_holes(ed, sid, slice_axis=0)
    np.testing.assert_array_equal(ed.segmentation.mask(sid), cube)
    cavity = cube.copy()
    cavity[3:5, 4:6, 4:6] = False
    ed.set_mask("setup", sid, tuple(slice(0, n) for n in cube.shape), cavity)
    morphology.fill_holes(ed, sid)
    np.testing.assert_array_equal(ed.segmentation.mask(sid), cube)


# -- interpolation ------------------------------------------------------------------------
def test_interpolation_between_identical_slices_copies_the_shape():
    m = np.zeros((10, 16, 16), bool)
    m[2, 4:9, 3:12] = True
    m[6, 4:9, 3:12] = True
    ed, sid = _with_mask(m, spacing=(0.8, 0.8, 2.5))
    interpolate.interpolate_slices(ed, sid, slice_axis=0)
    expected = np.zeros_like(m)
    expected[2:7, 4:9, 3:12] = True
    np.testing.assert_array_equal(ed.segmentation.mask(sid), expected)


def test_interpolation_between_disks_gives_intermediate_disks():
    k, j, i = np.indices((5, 31, 31))
    r = np.hypot(j - 15, i - 15)
    m = ((k == 0) & (r <= 4)) | ((k == 4) & (r <= 12))
    ed, sid = _with_mask(m)
    interpolate.interpolate_slices(ed, sid)
    got = ed.segmentation.mask(sid)
    np.testing.assert_array_equal(got[[0, 4]], m[[0, 4]])  # annotated slices untouched
    for s, radius in ((1, 6), (2, 8), (3, 10)):
        assert ((r <= radius - 1)[0] <= got[s]).all() and (got[s] <= (r <= radius + 1)[0]).all()


# -- logical operations -------------------------------------------------------------------
@pytest.mark.parametrize("op", ["copy", "union", "subtract", "intersect"])
def test_logical_operations(op):
    ed = make_editor(shape=(6, 12, 12), spacing=(1.0, 1.0, 1.0))
    seg = ed.segmentation
    a, b = seg.add_segment("a").segment_id, seg.add_segment("b").segment_id
    ma, mb = np.zeros((6, 12, 12), bool), np.zeros((6, 12, 12), bool)
    ma[1:4, 2:8, 2:8] = True
    mb[2:5, 5:11, 0:6] = True
    full = tuple(slice(0, n) for n in ma.shape)
    ed.set_mask("setup", a, full, ma)
    ed.set_mask("setup", b, full, mb)
    logical.logical(ed, op, a, b)
    expected = {"copy": mb, "union": ma | mb, "subtract": ma & ~mb, "intersect": ma & mb}[op]
    np.testing.assert_array_equal(seg.mask(a), expected)
    np.testing.assert_array_equal(seg.mask(b), mb)
    ed.undo()
    np.testing.assert_array_equal(seg.mask(a), ma)
    with pytest.raises(ValueError):
        logical.logical(ed, "xor", a, b)


def test_add_and_remove_segment_are_undoable():
    ed = make_editor()
    seg = ed.segmentation
    sid = logical.add_segment(ed, "tumour").segment_id
    s = ed.begin_stroke(sid, 2.0)
    s.add((20.0, 20.0, 6.0))
    s.commit()
    snap = state(seg)
    logical.remove_segment(ed, sid)
    assert sid not in seg.segments and not seg.layers[0].any()
    ed.undo()
    assert_state(seg, snap)
    ed.undo()
    ed.undo()
    assert sid not in seg.segments
    ed.redo()
    assert seg.segments[sid].name == "tumour"


def test_add_segment_record_names_the_new_segment():
    ed = make_editor()
    records = []
    ed.history.recorded.connect(records.append)
    sid = logical.add_segment(ed, "tumour").segment_id
    assert (records[0].tool, records[0].segment_id, records[0].segment_name) == ("add_segment", sid, "tumour")
    assert records[0].voxels_changed == 0 and records[0].segments_changed


def test_accepting_a_proposal_is_one_command_that_undo_removes_whole():
    ed = make_editor(shape=(6, 12, 12), spacing=(1.0, 1.0, 1.0))
    seg = ed.segmentation
    organ = seg.add_segment("organ").segment_id
    full = tuple(slice(0, n) for n in seg.shape)
    om = np.zeros(seg.shape, bool)
    om[1:5, 1:10, 1:10] = True
    ed.set_mask("setup", organ, full, om)
    before = state(seg)
    proposal = np.zeros(seg.shape, bool)
    proposal[2:4, 5:12, 5:12] = True  # overlaps the organ
    s, cmd = logical.new_segment_from_mask(ed, "tumour (proposal)", proposal)
    np.testing.assert_array_equal(seg.mask(s.segment_id), proposal)
    np.testing.assert_array_equal(seg.mask(organ), om)
    assert cmd.record("apply").segment_name == "tumour (proposal)"
    assert ed.history.undo_steps == 2
    ed.undo()
    assert_state(seg, before)
    with pytest.raises(ValueError):
        logical.new_segment_from_mask(ed, "bad", np.zeros((2, 2, 2), bool))


def test_removing_a_never_painted_segment_without_an_editor():
    from viewers.labels import Segmentation

    seg = Segmentation((2, 3, 4), np.eye(4))
    sid = seg.add_segment("empty").segment_id
    seg.remove_segment(sid)  # its layer was never allocated
    assert seg.segments == {} and seg.layers == []
