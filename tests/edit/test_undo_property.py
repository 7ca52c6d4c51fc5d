"""Property: any sequence of edits, undos and redos leaves the label map exactly where a
reference model that keeps full copies says it must be, within the history's bounds."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edit_helpers import assert_state, make_editor, state
from viewers.edit import EditPolicy, History, SegmentLocked, interpolate, logical, morphology

SHAPE = (6, 14, 14)
coord = st.tuples(st.floats(-1, 15), st.floats(-1, 15), st.floats(-1, 6))
overwrite = st.sampled_from(["allow_overlap", "overwrite_others"])
area = st.sampled_from(["everywhere", "outside_segments", "inside_segment"])
seg_ix = st.integers(0, 2)

ops = st.one_of(
    st.tuples(st.just("stroke"), seg_ix, st.lists(coord, min_size=1, max_size=3), st.booleans(),
              overwrite, area),
    st.tuples(st.just("threshold"), seg_ix, st.integers(0, 9), st.integers(0, 9), overwrite),
    st.tuples(st.just("logical"), st.sampled_from(logical.OPERATIONS), seg_ix, seg_ix, overwrite),
    st.tuples(st.just("margin"), seg_ix, st.sampled_from([-1.0, 0.7, 1.2])),
    st.tuples(st.just("polygon"), seg_ix, st.lists(coord, min_size=3, max_size=5), st.booleans()),
    st.tuples(st.just("lock"), seg_ix, st.booleans()),
    st.tuples(st.just("islands"), seg_ix, st.sampled_from(["split", "keep_largest", "fill_holes",
                                                           "interpolate", "remove"])),
    st.tuples(st.just("undo")), st.tuples(st.just("undo")),
    st.tuples(st.just("redo")),
)


class Reference:
    """Full copies of every state, and the window of them the history may still reach."""

    def __init__(self, first, min_steps, zero_budget):
        self.states, self.p, self.low, self.high = [first], 0, 0, 0
        self.min_steps, self.zero_budget = min_steps, zero_budget

    def applied(self, new_state):
        del self.states[self.p + 1:]
        self.states.append(new_state)
        self.p = self.high = self.p + 1
        self._trim()

    def undo(self):
        if self.p > self.low:
            self.p -= 1
        self._trim()

    def redo(self):
        if self.p < self.high:
            self.p += 1
        self._trim()

    def _trim(self):
        if not self.zero_budget:
            return
        while self.high > self.p and self.high - self.low > self.min_steps:
            self.high -= 1
        while self.p - self.low > self.min_steps:
            self.low += 1


def _run(ed, op, ids, radius, slice_axis):
    seg = ed.segmentation
    kind = op[0]
    if any(ids[s] not in seg.segments for s in op[1:] if isinstance(s, int) and not isinstance(s, bool)
           and 0 <= s < 3 and kind in ("stroke", "threshold", "margin", "polygon", "lock", "islands")):
        return None  # that segment was removed by an earlier step
    if kind == "logical" and (ids[op[2]] not in seg.segments or ids[op[3]] not in seg.segments):
        return None
    if kind == "stroke":
        _, s, centres, erase, ow, ar = op
        other = ids[(s + 1) % 3]
        ed.policy = EditPolicy(area=ar, area_segment_id=other, overwrite=ow)
        stroke = ed.begin_stroke(ids[s], radius, erase=erase, slice_axis=slice_axis)
        try:
            for c in centres:
                stroke.add(c)
        except ValueError:  # the editable area's segment was removed
            stroke.abort()
            return None
        return stroke.commit()
    if kind == "threshold":
        _, s, lo, hi, ow = op
        ed.policy = EditPolicy(overwrite=ow)
        return ed.threshold(ids[s], min(lo, hi), max(lo, hi))
    if kind == "logical":
        _, name, a, b, ow = op
        if a == b:
            return None
        ed.policy = EditPolicy(overwrite=ow)
        return logical.logical(ed, name, ids[a], ids[b])
    if kind == "margin":
        ed.policy = EditPolicy()
        return morphology.margin(ed, ids[op[1]], op[2])
    if kind == "polygon":
        ed.policy = EditPolicy()
        pts = [(c[0], c[1], op[2][0][2]) for c in op[2]]
        return ed.fill_polygon(ids[op[1]], pts, slice_axis=0, erase=op[3])
    if kind == "islands":
        ed.policy = EditPolicy()
        sid = ids[op[1]]
        if op[2] == "remove":
            return logical.remove_segment(ed, sid)
        if op[2] == "interpolate":
            return interpolate.interpolate_slices(ed, sid)
        return {"split": morphology.split_islands, "keep_largest": morphology.keep_largest_island,
                "fill_holes": morphology.fill_holes}[op[2]](ed, sid)
    if kind == "lock":
        seg.update_segment(ids[op[1]], locked=op[2])
        return None
    raise AssertionError(kind)


@pytest.mark.parametrize("radius", [0.6, 2.5])
@pytest.mark.parametrize("mode", ["sphere", "disk"])
@pytest.mark.parametrize("bounds", [(None, 10), (0, 3)], ids=["512MB", "zero-bytes-min3"])
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(sequence=st.lists(ops, min_size=1, max_size=18), seed=st.integers(0, 2**16))
def test_undo_redo_always_match_full_copies(radius, mode, bounds, sequence, seed):
    image = np.random.default_rng(seed).integers(0, 10, SHAPE).astype(np.int16)
    ed = make_editor(shape=SHAPE, spacing=(0.8, 1.0, 1.5), image=image)
    max_bytes, min_steps = bounds
    ed.history = History(ed.segmentation, **({} if max_bytes is None else {"max_bytes": max_bytes}),
                         min_steps=min_steps)
    seg = ed.segmentation
    ids = [seg.add_segment(n).segment_id for n in "abc"]
    ref = Reference(state(seg), min_steps, max_bytes == 0)
    slice_axis = None if mode == "sphere" else 0
    for op in sequence:
        before = state(seg)
        if op[0] == "undo":
            ed.undo()
            ref.undo()
        elif op[0] == "redo":
            ed.redo()
            ref.redo()
        else:
            try:
                cmd = _run(ed, op, ids, radius, slice_axis)
            except SegmentLocked:
                cmd = None
            if cmd is None:
                assert_state(seg, before)
            else:
                ref.applied(state(seg))
        assert_state(seg, ref.states[ref.p])
        assert (ed.history.undo_steps, ed.history.redo_steps) == (ref.p - ref.low, ref.high - ref.p)
        if max_bytes is not None:
            assert ed.history.undo_steps <= min_steps or ed.history.nbytes <= max_bytes
        # packing invariant: a segment's value is unique within its layer
        slots = [(s.layer, s.value) for s in seg.segments.values()]
        assert len(slots) == len(set(slots))
    while ed.history.can_undo:
        ed.undo()
    assert_state(seg, ref.states[ref.low])
