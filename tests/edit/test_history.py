"""History: bounded in bytes with a minimum of steps; change records with region hashes."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from edit_helpers import make_editor
from viewers.edit import History


def _stroke(ed, sid, center, r=2.0):
    s = ed.begin_stroke(sid, r)
    s.add(center)
    return s.commit()


def test_history_is_bounded_in_bytes_but_keeps_the_minimum_number_of_steps():
    ed = make_editor()
    sid = ed.segmentation.add_segment("s").segment_id
    ed.history = History(ed.segmentation, max_bytes=0, min_steps=3)
    for x in range(5, 35, 5):
        _stroke(ed, sid, (float(x), 20.0, 6.0))
    assert ed.history.undo_steps == 3
    ed.history.max_bytes = 10**9
    for x in range(5, 35, 5):
        _stroke(ed, sid, (float(x), 10.0, 6.0))
    assert ed.history.undo_steps == 3 + 6
    one = ed.history._undo[-1].nbytes
    ed.history.max_bytes = 5 * one + one // 2
    _stroke(ed, sid, (20.0, 30.0, 6.0))
    assert ed.history.nbytes <= ed.history.max_bytes
    assert ed.history.undo_steps >= 3


def test_undo_steps_dropped_by_the_budget_stay_applied():
    ed = make_editor()
    ed.history = History(ed.segmentation, max_bytes=0, min_steps=1)
    sid = ed.segmentation.add_segment("s").segment_id
    _stroke(ed, sid, (10.0, 20.0, 6.0))
    _stroke(ed, sid, (30.0, 20.0, 6.0))
    ed.undo()
    assert ed.undo() is None
    assert ed.segmentation.mask(sid)[6, 20, 10] and not ed.segmentation.mask(sid)[6, 20, 30]


def test_undo_memory_is_far_below_one_byte_per_changed_voxel_for_a_big_edit():
    ed = make_editor(shape=(20, 100, 100), spacing=(1.0, 1.0, 1.0))
    sid = ed.segmentation.add_segment("s").segment_id
    cmd = ed.threshold(sid, -1, 1)  # all 200 000 voxels
    assert cmd.voxels_changed == 200_000
    assert cmd.nbytes < 0.05 * cmd.voxels_changed


def test_new_edit_clears_redo():
    ed = make_editor()
    sid = ed.segmentation.add_segment("s").segment_id
    _stroke(ed, sid, (10.0, 20.0, 6.0))
    ed.undo()
    assert ed.history.can_redo
    _stroke(ed, sid, (30.0, 20.0, 6.0))
    assert not ed.history.can_redo and ed.redo() is None


def _region_hash(seg, cmd):
    h = hashlib.sha256()
    for d in cmd.diffs:
        h.update(f"{d.layer}:{d.bbox}".encode()
                 + np.ascontiguousarray(seg.layers[d.layer][d.slices]).tobytes())
    return h.hexdigest()


def test_change_records_name_the_tool_segment_voxels_box_and_region_hashes():
    ed = make_editor()
    sid = ed.segmentation.add_segment("liver").segment_id
    ed.segmentation.ensure_layer(0)  # so that the layer outlives the undo and can be hashed
    records = []
    ed.history.recorded.connect(records.append)
    _stroke(ed, sid, (10.0, 20.0, 6.0))
    cmd = ed.history._undo[-1]
    after = _region_hash(ed.segmentation, cmd)
    ed.undo()
    before = _region_hash(ed.segmentation, cmd)
    ed.redo()
    apply_, undo_, redo_ = records
    assert (apply_.tool, apply_.action, apply_.segment_id, apply_.segment_name) == ("paint", "apply", sid, "liver")
    m = ed.segmentation.mask(sid)
    assert apply_.voxels_changed == m.sum()
    nz = np.nonzero(m)
    assert apply_.bbox == tuple((int(c.min()), int(c.max()) + 1) for c in nz)
    assert (apply_.hash_before, apply_.hash_after) == (before, after) and before != after
    assert (undo_.hash_before, undo_.hash_after) == (after, before)
    assert (redo_.hash_before, redo_.hash_after) == (before, after)
    assert undo_.action == "undo" and redo_.action == "redo"
    assert set(apply_.as_dict()) >= {"tool", "segment_id", "voxels_changed", "bbox", "hash_before"}


def test_a_failing_tool_leaves_no_trace():
    ed = make_editor()
    sid = ed.segmentation.add_segment("s").segment_id
    _stroke(ed, sid, (10.0, 20.0, 6.0))
    snapshot = ed.segmentation.layers[0].copy()

    def boom(txn):
        txn.write_where(0, (slice(0, 12), slice(0, 40), slice(0, 40)), np.ones((12, 40, 40), bool), 1)
        raise RuntimeError("tool failed half-way")

    with pytest.raises(RuntimeError):
        ed.run("boom", sid, boom)
    np.testing.assert_array_equal(ed.segmentation.layers[0], snapshot)
    assert ed.history.undo_steps == 1


def test_bad_bounds_are_refused():
    ed = make_editor()
    with pytest.raises(ValueError):
        History(ed.segmentation, max_bytes=-1)


def test_undo_leaves_segments_added_or_renamed_outside_the_history_alone():
    ed = make_editor()
    seg = ed.segmentation
    a = seg.add_segment("a").segment_id
    _stroke(ed, a, (10.0, 20.0, 6.0))
    b = seg.add_segment("b").segment_id  # the segment panel adds one directly
    seg.update_segment(a, name="renamed")
    ed.undo()
    assert set(seg.segments) == {a, b} and seg.segments[a].name == "renamed"
    assert not seg.mask(a).any()
    ed.redo()
    assert set(seg.segments) == {a, b} and seg.mask(a).any()


def test_undo_during_a_drag_cancels_only_that_drag():
    ed = make_editor()
    sid = ed.segmentation.add_segment("s").segment_id
    _stroke(ed, sid, (10.0, 20.0, 6.0))
    first = ed.segmentation.mask(sid).copy()
    s = ed.begin_stroke(sid, 2.0)
    s.add((30.0, 20.0, 6.0))
    assert ed.undo() is None
    np.testing.assert_array_equal(ed.segmentation.mask(sid), first)
    assert ed.history.undo_steps == 1 and s.txn.closed
    with pytest.raises(RuntimeError):
        s.add((31.0, 20.0, 6.0))
    ed.undo()
    assert not ed.segmentation.mask(sid).any()


def test_removing_a_segment_through_the_segmentation_is_undoable_once_an_editor_is_attached():
    ed = make_editor()
    seg = ed.segmentation
    a = seg.add_segment("a").segment_id
    _stroke(ed, a, (10.0, 20.0, 6.0))
    painted = seg.mask(a).copy()
    seg.remove_segment(a)  # what the segment panel calls
    assert a not in seg.segments and not seg.layers[0].any()
    ed.undo()
    np.testing.assert_array_equal(seg.mask(a), painted)
    ed.undo()
    assert not seg.mask(a).any()


def test_a_locked_segment_can_still_be_deleted_and_undo_brings_it_back_locked():
    ed = make_editor()
    seg = ed.segmentation
    a = seg.add_segment("a").segment_id
    _stroke(ed, a, (10.0, 20.0, 6.0))
    seg.update_segment(a, locked=True)
    seg.remove_segment(a)
    assert a not in seg.segments
    ed.undo()
    assert seg.segments[a].locked and seg.mask(a).any()
