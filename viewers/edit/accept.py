"""Accepting or rejecting a proposal, each as ONE undoable command (Qt-free).

:func:`accept` writes the proposal's voxels (all, one segment, or one slice) into the
segmentation -- into the segment of the model's label name, created with the model's
SNOMED CT code when missing -- attributes them to the model in the provenance map
(``model:<model_id>@sha256:<weights hash>``) and takes them out of the proposal layer. Undo
puts back the labels, the provenance, the segments it created and the proposal voxels; all
of it is held as sparse diffs, proportional to the voxels accepted.

:func:`reject` marks the layer rejected (hidden, nothing left to accept); undo brings it back.

Editing a proposal with the brush: accept it (or a segment, or a slice), then edit with the
tools. Every voxel the user changes is attributed to the user in the provenance map, so the
saved annotation says which voxels the model proposed and which a person drew; one undo
takes the accept back entirely. (Click refinement, :func:`refine_proposal`, changes the
proposal itself before accepting.)

The caller audits the result (see app/gui/proposals.py): :class:`AcceptResult` holds the
details an audit record names.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from viewers.edit import painter
from viewers.edit.diff import LayerDiff
from viewers.labels import CATEGORY_ANATOMY, CATEGORY_TISSUE, TYPE_TISSUE, Code
from viewers.proposal import ProposalLayer

SCOPES = ("all", "segment", "slice")


class ProposalPatch:
    """Voxels of a proposal layer changed by a command (undone and redone with it).

    Kept as a sparse uint8 diff of the layer's labels, so its memory is proportional to the
    voxels changed.
    """

    def __init__(self, layer: ProposalLayer, diff: LayerDiff | None):
        self.layer, self.diff = layer, diff

    @classmethod
    def write(cls, layer: ProposalLayer, flat_index: np.ndarray, new) -> "ProposalPatch":
        """Set ``labels.flat[flat_index] = new`` now and remember the old values."""
        flat = layer.labels.reshape(-1)
        flat_index = np.asarray(flat_index, dtype=np.int64)
        old = flat[flat_index]
        new = np.broadcast_to(np.asarray(new, dtype=np.uint8), old.shape)
        diff = LayerDiff.from_changes(-2, layer.shape, flat_index, old, new)
        flat[flat_index] = new
        layer.labels_changed()
        return cls(layer, diff)

    @property
    def voxels(self) -> int:
        return 0 if self.diff is None else self.diff.count

    @property
    def nbytes(self) -> int:
        return 0 if self.diff is None else self.diff.nbytes

    def undo(self) -> None:
        if self.diff is not None:
            self.diff.apply(self.layer.labels, "old")
        self.layer.labels_changed()

    def redo(self) -> None:
        if self.diff is not None:
            self.diff.apply(self.layer.labels, "new")
        self.layer.labels_changed()


class _Rejection:
    """The side effect of :func:`reject`: the layer's ``rejected`` flag."""

    nbytes = 64

    def __init__(self, layer: ProposalLayer):
        self.layer = layer

    def redo(self) -> None:
        self.layer.rejected = True
        self.layer.changed.emit()

    def undo(self) -> None:
        self.layer.rejected = False
        self.layer.changed.emit()


@dataclass(frozen=True)
class AcceptResult:
    """What one accept did (plain data for the audit record and the status bar).

    Attributes
    ----------
    command : Command or None
        The history command (None when there was nothing to accept).
    scope : str
        "all", "segment" or "slice".
    segments : dict
        ``{label name: proposal voxels accepted}``.
    voxels : int
        Proposal voxels accepted in all.
    created : tuple of int
        Segment ids created for labels the segmentation did not have.
    source : str
        The provenance source written.
    """

    command: object
    scope: str
    segments: dict
    voxels: int
    created: tuple
    source: str

    def audit_details(self, layer: ProposalLayer, segment: str | None = None,
                      slice_axis: int | None = None, slice_index: int | None = None) -> dict:
        """Details of the ``proposal.accepted`` audit record (no PHI: ids, counts, names)."""
        details = {"model_id": layer.model_id, "weights_sha256": layer.weights_sha256,
                   "scope": self.scope, "segment": segment, "voxels": self.voxels,
                   "segments": dict(self.segments)}
        if self.scope == "slice":
            details["slice"] = {"axis": "kji"[slice_axis], "index": int(slice_index)}
        return details


def selection(layer: ProposalLayer, scope: str = "all", segment=None,
              slice_axis: int | None = None, slice_index: int | None = None):
    """``(bbox, mask)`` of the proposal voxels a scope covers (bbox: slices, mask in it)."""
    if scope not in SCOPES:
        raise ValueError(f"unknown accept scope {scope!r} (one of {', '.join(SCOPES)})")
    box = [slice(0, n) for n in layer.shape]
    if scope == "slice":
        if slice_axis not in (0, 1, 2) or slice_index is None:
            raise ValueError("accepting a slice needs slice_axis (0=k, 1=j, 2=i) and slice_index")
        if not 0 <= int(slice_index) < layer.shape[slice_axis]:
            raise ValueError(f"slice {slice_index} is outside 0..{layer.shape[slice_axis] - 1}")
        box[slice_axis] = slice(int(slice_index), int(slice_index) + 1)
    box = tuple(box)
    labels = layer.labels[box]
    if scope == "segment":
        mask = labels == layer.segment(segment).value
    else:
        mask = labels != 0
    return box, mask


def _codes(seg_info) -> dict:
    if seg_info.code:
        return {"category": CATEGORY_ANATOMY, "type": Code("SCT", str(seg_info.code), seg_info.name)}
    return {"category": CATEGORY_TISSUE, "type": TYPE_TISSUE}


def _target_segment(txn, seg_info, created: list):
    """The segment the label's voxels go to: same name (first one), else a new one."""
    for s in txn.segmentation.segments.values():
        if s.name == seg_info.name:
            return s
    with txn.segmentation.segments_changed.blocked():
        s = txn.segmentation.add_segment(seg_info.name, seg_info.color, **_codes(seg_info))
    created.append(s.segment_id)
    return s


def accept(editor, layer: ProposalLayer, scope: str = "all", segment=None,
           slice_axis: int | None = None, slice_index: int | None = None) -> AcceptResult:
    """Accept proposal voxels into the editor's segmentation as one undoable command.

    Parameters
    ----------
    editor : viewers.edit.Editor
        Its policy applies (e.g. locked segments are never changed: accepting into a locked
        segment raises SegmentLocked and changes nothing).
    layer : ProposalLayer
        Must be on the segmentation's grid and not rejected.
    scope : {"all", "segment", "slice"}
    segment : int or str
        The proposal segment (value or name) for ``scope="segment"``.
    slice_axis, slice_index : int
        Array axis (0=k, 1=j, 2=i) and index for ``scope="slice"`` (a view's slice is
        ``slice_axis = 2 - geometry.normal_axis``).
    """
    if tuple(layer.shape) != tuple(editor.segmentation.shape):
        raise ValueError(f"proposal grid {layer.shape} is not the image grid "
                         f"{editor.segmentation.shape}")
    if layer.rejected:
        raise ValueError("the proposal was rejected; undo the rejection to accept it")
    box, mask = selection(layer, scope, segment, slice_axis, slice_index)
    if not mask.any():
        return AcceptResult(None, scope, {}, 0, (), layer.source)
    labels = layer.labels[box]
    counts, created = {}, []
    source = layer.source
    first_sid = []

    def fn(txn):
        txn.source = source
        for info in layer.segments:
            m = mask & (labels == info.value)
            n = int(np.count_nonzero(m))
            if n == 0:
                continue
            target = _target_segment(txn, info, created)
            first_sid.append(target.segment_id)
            sub, local = _crop(box, m)
            painter.add(txn, target.segment_id, sub, local, editor.policy, editor.image)
            counts[info.name] = n
        # the accepted voxels leave the proposal (undo brings them back)
        full = np.zeros(layer.shape, dtype=bool)
        full[box] = mask
        txn.side_effects.append(ProposalPatch.write(layer, np.flatnonzero(full), 0))
        if len(first_sid) == 1:  # the change record names the segment when there is one
            txn.segment_id = first_sid[0]
            txn.segment_name = txn.segmentation.segments[first_sid[0]].name

    cmd = editor.run(f"accept_proposal_{scope}", None, fn)
    return AcceptResult(cmd, scope, counts, int(sum(counts.values())), tuple(created), source)


def reject(editor, layer: ProposalLayer):
    """Reject the proposal as one undoable command (labels untouched); returns the command."""
    if layer.rejected:
        return None

    def fn(txn):
        effect = _Rejection(layer)
        effect.redo()
        txn.side_effects.append(effect)

    return editor.run("reject_proposal", None, fn)


def refine_proposal(editor, layer: ProposalLayer, box, changed: np.ndarray, value: int):
    """Set proposal voxels ``changed`` (a mask inside ``box``) to ``value`` as one command.

    This is how a click refinement (models.refine, run by the application) changes the
    proposal before it is accepted; undo restores the proposal.
    """
    full = np.zeros(layer.shape, dtype=bool)
    full[box] = changed
    flat = np.flatnonzero(full)
    if flat.size == 0:
        return None

    def fn(txn):
        txn.side_effects.append(ProposalPatch.write(layer, flat, value))

    return editor.run("refine_proposal", None, fn)


def _crop(box, mask):
    """The tight bounding box (global slices) of ``mask`` (given inside ``box``) and its crop."""
    nz = [np.flatnonzero(mask.any(axis=tuple(a for a in range(3) if a != ax))) for ax in range(3)]
    local = tuple(slice(int(n[0]), int(n[-1]) + 1) for n in nz)
    glob = tuple(slice(b.start + s.start, b.start + s.stop) for b, s in zip(box, local))
    return glob, mask[local]
