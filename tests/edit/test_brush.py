"""Brush and eraser: exactly the voxels whose centres lie within the radius in patient mm."""

from __future__ import annotations

import numpy as np
import pytest

from edit_helpers import assert_state, centres_within, make_editor, state


@pytest.mark.parametrize("center", [(20.0, 20.0, 6.0), (20.3, 19.6, 5.4), (1.0, 38.0, 0.0)])
def test_sphere_5mm_on_anisotropic_voxels_paints_exactly_the_centres_within_5mm(center):
    ed = make_editor(shape=(12, 40, 40), spacing=(0.5, 0.5, 2.0))
    sid = ed.segmentation.add_segment("s").segment_id
    stroke = ed.begin_stroke(sid, radius_mm=5.0)
    stroke.add(center)
    stroke.commit()
    expected = centres_within(ed.volume, center, 5.0)
    got = ed.segmentation.mask(sid)
    np.testing.assert_array_equal(got, expected)
    # a 5 mm sphere on 0.5x0.5x2 mm voxels spans 5 slices, not 21: spacing is honoured
    if center == (20.0, 20.0, 6.0):
        assert np.flatnonzero(got.any(axis=(1, 2))).tolist() == [4, 5, 6, 7, 8]
        assert got[6].sum() == np.sum(centres_within(ed.volume, center, 5.0)[6])


def test_sphere_on_oblique_volume_uses_the_affine():
    c, s = np.cos(0.4), np.sin(0.4)
    direction = np.array([[c, -s, 0], [s, c, 0], [0, 0, 1.0]]) @ np.array(
        [[1, 0, 0], [0, np.cos(0.3), -np.sin(0.3)], [0, np.sin(0.3), np.cos(0.3)]])
    ed = make_editor(shape=(14, 30, 30), spacing=(0.7, 0.9, 1.6), direction=direction)
    sid = ed.segmentation.add_segment("s").segment_id
    stroke = ed.begin_stroke(sid, radius_mm=4.2)
    stroke.add((15.2, 14.7, 7.3))
    stroke.commit()
    np.testing.assert_array_equal(ed.segmentation.mask(sid),
                                  centres_within(ed.volume, (15.2, 14.7, 7.3), 4.2))


@pytest.mark.parametrize("slice_axis", [0, 1, 2])
def test_disk_paints_only_the_view_plane(slice_axis):
    ed = make_editor(shape=(12, 30, 30), spacing=(0.5, 0.8, 2.0))
    sid = ed.segmentation.add_segment("s").segment_id
    stroke = ed.begin_stroke(sid, radius_mm=3.0, slice_axis=slice_axis)
    stroke.add((14.6, 15.2, 5.8))
    stroke.commit()
    expected = centres_within(ed.volume, (14.6, 15.2, 5.8), 3.0, slice_axis=slice_axis)
    np.testing.assert_array_equal(ed.segmentation.mask(sid), expected)
    assert expected.any()


def test_a_drag_is_one_command_and_its_sweep_leaves_no_gap():
    ed = make_editor(shape=(4, 20, 60), spacing=(1.0, 1.0, 1.0))
    sid = ed.segmentation.add_segment("s").segment_id
    stroke = ed.begin_stroke(sid, radius_mm=1.0, slice_axis=0)
    for x in (5.0, 30.0, 50.0):  # a fast drag: 25 voxels between two mouse events
        stroke.add((x, 10.0, 2.0))
    cmd = stroke.commit()
    m = ed.segmentation.mask(sid)
    # Capsule of radius 1 on the line j=10 from i=5 to 50: rows 9..11 full length, plus end caps.
    expected = np.zeros_like(m)
    expected[2, 10, 4:52] = True
    expected[2, 9, 5:51] = True
    expected[2, 11, 5:51] = True
    np.testing.assert_array_equal(m, expected)
    assert ed.history.undo_steps == 1 and cmd.voxels_changed == expected.sum()
    ed.undo()
    assert not ed.segmentation.mask(sid).any()


def test_eraser_removes_only_its_segment_and_abort_restores_everything():
    ed = make_editor()
    seg = ed.segmentation
    a, b = seg.add_segment("a").segment_id, seg.add_segment("b").segment_id
    for sid, c in ((a, (18.0, 20.0, 6.0)), (b, (22.0, 20.0, 6.0))):
        s = ed.begin_stroke(sid, 3.0)
        s.add(c)
        s.commit()
    before_b = seg.mask(b).copy()
    snap = state(seg)
    s = ed.begin_stroke(a, 2.0, erase=True)
    s.add((20.0, 20.0, 6.0))
    s.add((21.0, 21.0, 6.0))
    s.abort()
    assert_state(seg, snap)
    s = ed.begin_stroke(a, 2.0, erase=True)
    s.add((20.0, 20.0, 6.0))
    s.commit()
    erased = centres_within(ed.volume, (20.0, 20.0, 6.0), 2.0)
    np.testing.assert_array_equal(seg.mask(b), before_b)
    assert not (seg.mask(a) & erased).any()
    np.testing.assert_array_equal(seg.mask(a), snap_mask(snap, seg, a) & ~erased)


def snap_mask(snap, seg, sid):
    layers, segs = snap
    _, layer, value = segs[sid]
    return layers[layer] == value


def test_stroke_outside_the_volume_changes_nothing_and_records_nothing():
    ed = make_editor()
    sid = ed.segmentation.add_segment("s").segment_id
    s = ed.begin_stroke(sid, 2.0)
    assert s.add((-50.0, -50.0, -50.0)) == 0
    assert s.commit() is None and not ed.history.can_undo


def test_zero_radius_is_refused():
    ed = make_editor()
    sid = ed.segmentation.add_segment("s").segment_id
    with pytest.raises(ValueError):
        ed.begin_stroke(sid, 0.0)
