"""Overlap, overwrite, editable area, intensity range and locks."""

from __future__ import annotations

import numpy as np
import pytest

from edit_helpers import centres_within, make_editor
from viewers.edit import EditPolicy, SegmentLocked


def _paint(ed, sid, center, r=3.0, **kw):
    s = ed.begin_stroke(sid, r, **kw)
    s.add(center)
    return s.commit()


A_C, B_C = (18.0, 20.0, 6.0), (22.0, 20.0, 6.0)


def _two(policy=None):
    ed = make_editor(policy=policy)
    seg = ed.segmentation
    a, b = seg.add_segment("a").segment_id, seg.add_segment("b").segment_id
    assert seg.segments[a].layer == seg.segments[b].layer == 0  # packed in one layer
    _paint(ed, a, A_C)
    return ed, a, b


def test_overlap_allowed_keeps_both_segments_and_moves_the_painted_one_to_another_layer():
    ed, a, b = _two()
    seg = ed.segmentation
    cmd = _paint(ed, b, B_C)
    sa, sb = centres_within(ed.volume, A_C, 3.0), centres_within(ed.volume, B_C, 3.0)
    assert (sa & sb).any()
    np.testing.assert_array_equal(seg.mask(a), sa)
    np.testing.assert_array_equal(seg.mask(b), sb)
    assert seg.segments[b].layer != seg.segments[a].layer and len(seg.layers) == 2
    assert cmd.record("apply").segments_changed
    ed.undo()
    assert seg.segments[b].layer == 0 and len(seg.layers) == 1 and not seg.mask(b).any()
    np.testing.assert_array_equal(seg.mask(a), sa)
    ed.redo()
    np.testing.assert_array_equal(seg.mask(b), sb)
    np.testing.assert_array_equal(seg.mask(a), sa)


def test_relocation_reuses_a_layer_where_the_segment_conflicts_with_nobody():
    ed, a, b = _two()
    seg = ed.segmentation
    c = seg.add_segment("c").segment_id
    _paint(ed, b, B_C)  # b moves to layer 1
    _paint(ed, c, (5.0, 5.0, 6.0))  # c, in layer 0, far from everybody
    _paint(ed, c, (14.5, 20.0, 6.0), r=0.5)  # now c meets a in layer 0, not b (layer 1)
    assert (seg.mask(c) & seg.mask(a)).any() and not (seg.mask(c) & seg.mask(b)).any()
    assert seg.segments[c].layer == 1 and len(seg.layers) == 2
    assert seg.segments[c].value != seg.segments[b].value
    np.testing.assert_array_equal(seg.mask(c), centres_within(ed.volume, (5.0, 5.0, 6.0), 3.0)
                                  | centres_within(ed.volume, (14.5, 20.0, 6.0), 0.5))
    np.testing.assert_array_equal(seg.mask(b), centres_within(ed.volume, B_C, 3.0))


def test_overwrite_others_takes_the_voxels_from_the_other_segment():
    ed, a, b = _two(EditPolicy(overwrite="overwrite_others"))
    _paint(ed, b, B_C)
    sa, sb = centres_within(ed.volume, A_C, 3.0), centres_within(ed.volume, B_C, 3.0)
    np.testing.assert_array_equal(ed.segmentation.mask(b), sb)
    np.testing.assert_array_equal(ed.segmentation.mask(a), sa & ~sb)


def test_overwrite_takes_voxels_from_other_layers_too():
    ed, a, b = _two()
    seg = ed.segmentation
    _paint(ed, b, B_C)  # overlap: b now in layer 1
    ed.policy = EditPolicy(overwrite="overwrite_others")
    _paint(ed, a, B_C, r=1.0)
    sb, small = centres_within(ed.volume, B_C, 3.0), centres_within(ed.volume, B_C, 1.0)
    np.testing.assert_array_equal(seg.mask(b), sb & ~small)
    assert (seg.mask(a) & small).sum() == small.sum()


def test_overwrite_never_takes_voxels_from_a_locked_segment():
    ed, a, b = _two(EditPolicy(overwrite="overwrite_others"))
    ed.segmentation.update_segment(a, locked=True)
    _paint(ed, b, B_C)
    sa, sb = centres_within(ed.volume, A_C, 3.0), centres_within(ed.volume, B_C, 3.0)
    np.testing.assert_array_equal(ed.segmentation.mask(a), sa)
    np.testing.assert_array_equal(ed.segmentation.mask(b), sb & ~sa)


def test_a_locked_segment_cannot_be_painted_or_erased():
    ed, a, b = _two()
    ed.segmentation.update_segment(a, locked=True)
    with pytest.raises(SegmentLocked):
        ed.begin_stroke(a, 2.0)
    with pytest.raises(SegmentLocked):
        ed.threshold(a, -5, 5)
    assert not ed.history.can_redo and ed.history.undo_steps == 1


def test_never_over_other_segments():
    ed, a, b = _two(EditPolicy(area="outside_segments"))
    _paint(ed, b, B_C)
    sa, sb = centres_within(ed.volume, A_C, 3.0), centres_within(ed.volume, B_C, 3.0)
    np.testing.assert_array_equal(ed.segmentation.mask(b), sb & ~sa)
    np.testing.assert_array_equal(ed.segmentation.mask(a), sa)
    assert len(ed.segmentation.layers) == 1


def test_only_inside_segment_x():
    ed, a, b = _two()
    ed.policy = EditPolicy(area="inside_segment", area_segment_id=a)
    _paint(ed, b, B_C)
    sa, sb = centres_within(ed.volume, A_C, 3.0), centres_within(ed.volume, B_C, 3.0)
    np.testing.assert_array_equal(ed.segmentation.mask(b), sa & sb)
    np.testing.assert_array_equal(ed.segmentation.mask(a), sa)


def test_threshold_painting_paints_only_in_the_intensity_range():
    image = (np.arange(12 * 40 * 40) % 7).reshape(12, 40, 40).astype(np.int16)
    ed = make_editor(image=image, policy=EditPolicy(intensity_range=(2, 4)))
    sid = ed.segmentation.add_segment("s").segment_id
    _paint(ed, sid, A_C)
    expected = centres_within(ed.volume, A_C, 3.0) & (image >= 2) & (image <= 4)
    np.testing.assert_array_equal(ed.segmentation.mask(sid), expected)


def test_policy_validation():
    with pytest.raises(ValueError):
        EditPolicy(area="inside_segment")
    with pytest.raises(ValueError):
        EditPolicy(intensity_range=(5, 1))
    with pytest.raises(ValueError):
        EditPolicy(overwrite="sometimes")
