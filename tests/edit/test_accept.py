"""Accepting / rejecting a proposal as one undoable command, and the provenance map."""

from __future__ import annotations

import numpy as np
import pytest

from edit_helpers import make_editor
from viewers.edit import SegmentLocked, accept, refine_proposal, reject
from viewers.proposal import ProposalLayer

MODEL_ID, SHA = "brainmask-unet@1", "ab" * 32
SOURCE = f"model:{MODEL_ID}@sha256:{SHA}"


def _proposal(shape, two_labels=False):
    labels = np.zeros(shape, np.uint8)
    labels[2:6, 10:20, 10:20] = 1
    if two_labels:
        labels[7:9, 25:30, 25:30] = 2
    conf = np.full(shape, 250, np.uint8)
    conf[2, 10:20, 10:20] = 100  # one uncertain slice of the brain
    defs = [(1, "brain", "12738006")] + ([(2, "lesion", None)] if two_labels else [])
    return ProposalLayer.from_arrays(labels, conf, defs, MODEL_ID, SHA)


def _snapshot(ed, layer):
    seg = ed.segmentation
    prov = None if seg.provenance is None else seg.provenance.copy()
    return ([a.copy() for a in seg.layers], {s: (v.name, v.layer, v.value) for s, v in seg.segments.items()},
            prov, layer.labels.copy(), layer.rejected)


def _assert_same(a, b):
    assert len(a[0]) == len(b[0])
    for x, y in zip(a[0], b[0]):
        np.testing.assert_array_equal(x, y)
    assert a[1] == b[1]
    # provenance: equal, where "never allocated" equals an all-zero (unknown) map
    shape = a[3].shape
    pa = np.zeros(shape, np.uint16) if a[2] is None else a[2]
    pb = np.zeros(shape, np.uint16) if b[2] is None else b[2]
    np.testing.assert_array_equal(pa, pb)
    np.testing.assert_array_equal(a[3], b[3])
    assert a[4] == b[4]


def test_accept_all_writes_segment_provenance_and_undoes_exactly():
    ed = make_editor()
    layer = _proposal(ed.segmentation.shape)
    proposed = layer.labels == 1
    before = _snapshot(ed, layer)
    result = accept(ed, layer)
    seg = ed.segmentation
    (sid,) = result.created
    s = seg.segments[sid]
    assert s.name == "brain" and s.type.value == "12738006" and s.type.scheme == "SCT"
    np.testing.assert_array_equal(seg.mask(sid), proposed)
    code = seg.provenance_code(SOURCE)
    assert seg.provenance_legend[str(code)] == SOURCE
    np.testing.assert_array_equal(seg.provenance == code, proposed)
    assert result.voxels == int(proposed.sum()) == result.segments["brain"]
    assert layer.pending_voxels() == 0  # accepted voxels leave the proposal
    after = _snapshot(ed, layer)

    assert ed.history.undo_steps == 1  # ONE command
    ed.undo()
    _assert_same(_snapshot(ed, layer), before)
    assert sid not in seg.segments and layer.pending_voxels() == int(proposed.sum())
    ed.redo()
    _assert_same(_snapshot(ed, layer), after)


def test_accept_segment_and_slice_scopes():
    ed = make_editor()
    layer = _proposal(ed.segmentation.shape, two_labels=True)
    lesion = layer.labels == 2
    brain = layer.labels == 1
    r = accept(ed, layer, "segment", segment="lesion")
    seg = ed.segmentation
    (lid,) = r.created
    np.testing.assert_array_equal(seg.mask(lid), lesion)
    assert seg.segments[lid].type.meaning == "Tissue"  # no code declared: generic tissue
    assert layer.pending_voxels() == int(brain.sum())
    r2 = accept(ed, layer, "slice", slice_axis=0, slice_index=3)
    (bid,) = r2.created
    want = np.zeros_like(brain)
    want[3] = brain[3]
    np.testing.assert_array_equal(seg.mask(bid), want)
    assert r2.voxels == int(want.sum()) and r2.audit_details(layer, slice_axis=0, slice_index=3)[
        "slice"] == {"axis": "k", "index": 3}
    # a second slice goes into the SAME segment (same name), not a new one
    r3 = accept(ed, layer, "slice", slice_axis=0, slice_index=4)
    assert r3.created == () and int(seg.mask(bid).sum()) == int(brain[3:5].sum())
    with pytest.raises(ValueError, match="slice 40"):
        accept(ed, layer, "slice", slice_axis=0, slice_index=40)
    with pytest.raises(KeyError):
        accept(ed, layer, "segment", segment="liver")


def test_user_edits_after_accept_are_attributed_to_the_user():
    ed = make_editor()
    seg = ed.segmentation
    seg.current_source = "user:u-42"
    layer = _proposal(seg.shape)
    sid = accept(ed, layer).created[0]
    model = seg.provenance_code(SOURCE)
    prov_after_accept = seg.provenance.copy()
    # paint outside the proposal: user voxels; erase inside: unlabelled -> code 0
    stroke = ed.begin_stroke(sid, radius_mm=1.0, slice_axis=0)
    stroke.add((30, 30, 4))
    stroke.commit()
    user = seg.provenance_code("user:u-42")
    painted = seg.mask(sid) & (layer.labels == 0) & ~(prov_after_accept == model)
    assert painted.any() and (seg.provenance[painted] == user).all()
    assert (seg.provenance[prov_after_accept == model] == model).all()  # untouched model voxels
    erase = ed.begin_stroke(sid, radius_mm=1.0, erase=True, slice_axis=0)
    erase.add((15, 15, 4))
    erase.commit()
    erased = (prov_after_accept == model) & ~seg.mask(sid)
    assert erased.any() and (seg.provenance[erased] == 0).all()
    ed.undo()
    ed.undo()
    np.testing.assert_array_equal(seg.provenance, prov_after_accept)


def test_erasing_a_voxel_still_labelled_elsewhere_keeps_its_source():
    ed = make_editor()
    seg = ed.segmentation
    a = seg.add_segment("a").segment_id
    b = seg.add_segment("b").segment_id
    box = (slice(4, 5), slice(10, 14), slice(10, 14))
    ed.set_mask("x", a, box, np.ones((1, 4, 4), bool))
    ed.set_mask("x", b, box, np.ones((1, 4, 4), bool))  # overlap: b moves to another layer
    assert len(seg.layers) == 2
    code = seg.provenance_code("user:local")
    ed.set_mask("x", a, box, np.zeros((1, 4, 4), bool))
    assert (seg.provenance[box] == code).all()  # still labelled by b


def test_reject_is_one_undoable_command_and_blocks_accept():
    ed = make_editor()
    layer = _proposal(ed.segmentation.shape)
    cmd = reject(ed, layer)
    assert cmd is not None and layer.rejected and not layer.active
    assert layer.pending_voxels() == 0
    with pytest.raises(ValueError, match="rejected"):
        accept(ed, layer)
    ed.undo()
    assert not layer.rejected and layer.pending_voxels() > 0
    assert accept(ed, layer).voxels > 0


def test_accept_into_locked_segment_changes_nothing():
    ed = make_editor()
    seg = ed.segmentation
    brain = seg.add_segment("brain")
    seg.update_segment(brain.segment_id, locked=True)
    layer = _proposal(seg.shape)
    before = _snapshot(ed, layer)
    with pytest.raises(SegmentLocked):
        accept(ed, layer)
    _assert_same(_snapshot(ed, layer), before)
    assert ed.history.undo_steps == 0


def test_user_voxels_already_in_the_segment_keep_user_provenance():
    ed = make_editor()
    seg = ed.segmentation
    brain = seg.add_segment("brain").segment_id
    box = (slice(3, 4), slice(10, 12), slice(10, 12))
    ed.set_mask("paint", brain, box, np.ones((1, 2, 2), bool))
    layer = _proposal(seg.shape)
    accept(ed, layer)
    user, model = seg.provenance_code("user:local"), seg.provenance_code(SOURCE)
    assert (seg.provenance[box] == user).all()
    assert int((seg.provenance == model).sum()) == 400 - 4  # the proposal's brain less the user's 4


def test_accept_undo_memory_is_proportional_to_the_voxels():
    ed = make_editor(shape=(64, 128, 128))
    layer = _proposal(ed.segmentation.shape)
    cmd = accept(ed, layer).command
    volume_bytes = int(np.prod(ed.segmentation.shape))
    assert cmd.nbytes < volume_bytes / 50
    assert cmd.provenance is not None and cmd.provenance.count == 400


def test_refine_proposal_is_undoable():
    ed = make_editor()
    layer = _proposal(ed.segmentation.shape)
    before = layer.labels.copy()
    box = (slice(2, 3), slice(0, 40), slice(0, 40))
    changed = np.zeros((1, 40, 40), bool)
    changed[0, 0:5, 0:5] = True
    refine_proposal(ed, layer, box, changed, 1)
    assert (layer.labels[2, 0:5, 0:5] == 1).all()
    ed.undo()
    np.testing.assert_array_equal(layer.labels, before)


def test_summary_per_segment_and_case():
    layer = _proposal((12, 40, 40), two_labels=True)
    s = layer.summary()
    brain = s["segments"]["brain"]
    assert brain["voxels"] == 400 and brain["low_confidence_fraction"] == 0.25
    assert s["case"]["voxels"] == 450 and s["model_id"] == MODEL_ID
    assert s["segments"]["lesion"]["mean_confidence"] == round(250 / 255, 4)
