"""Logical operations between segments, and segment creation/removal as commands
(including accepting a proposal as one command)."""

from __future__ import annotations

import numpy as np

from viewers.edit import painter
from viewers.edit.morphology import segment_bbox

OPERATIONS = ("copy", "union", "subtract", "intersect")


def _union_box(a, b):
    if a is None:
        return b
    if b is None:
        return a
    return tuple(slice(min(x.start, y.start), max(x.stop, y.stop)) for x, y in zip(a, b))


def logical(editor, operation: str, target_id: int, source_id: int):
    """Change the target segment with the source segment's mask.

    ``copy``: target := source; ``union``: target |= source; ``subtract``:
    target &= ~source; ``intersect``: target &= source. The source is not changed
    (unless the overwrite policy takes voxels from it).
    """
    if operation not in OPERATIONS:
        raise ValueError(f"unknown operation {operation!r} (one of {', '.join(OPERATIONS)})")
    seg = editor.segmentation
    box = _union_box(segment_bbox(seg, target_id), segment_bbox(seg, source_id))
    if box is None:
        return None
    t, s = seg.mask(target_id, box), seg.mask(source_id, box)
    new = {"copy": s, "union": t | s, "subtract": t & ~s, "intersect": t & s}[operation]
    return editor.set_mask(operation, target_id, box, new)


def add_segment(editor, name: str, color=None, **codes):
    """Create an empty segment as an undoable command; returns the new segment."""
    created = []

    def fn(txn):
        with txn.segmentation.segments_changed.blocked():
            created.append(txn.segmentation.add_segment(name, color, **codes))
        txn.segment_id, txn.segment_name = created[0].segment_id, created[0].name  # for the record

    editor.run("add_segment", None, fn)
    return created[0]


def new_segment_from_mask(editor, name: str, mask, tool: str = "accept_proposal", color=None, **codes):
    """Create a segment holding ``mask`` (a boolean array on the image grid) as ONE command.

    This is how a proposal is accepted: undo removes both the voxels and the segment.
    The editor's policy applies (e.g. ``overwrite_others`` takes the voxels from other
    segments; the default lets the new segment overlap them).

    Returns
    -------
    (Segment, Command or None)
    """
    mask = np.asarray(mask, dtype=bool)
    if mask.shape != tuple(editor.segmentation.shape):
        raise ValueError(f"mask shape {mask.shape} is not the image grid {editor.segmentation.shape}")
    created = []

    def fn(txn):
        with txn.segmentation.segments_changed.blocked():
            seg = txn.segmentation.add_segment(name, color, **codes)
        created.append(seg)
        txn.segment_id, txn.segment_name = seg.segment_id, seg.name
        painter.add(txn, seg.segment_id, painter.full_box(mask.shape), mask, editor.policy, editor.image)

    cmd = editor.run(tool, None, fn)
    return created[0], cmd


def remove_segment(editor, segment_id: int):
    """Delete a segment and its voxels as an undoable command.

    A lock protects a segment's voxels from the tools, not from an explicit deletion
    (as in 3D Slicer); undo brings the segment back.
    """
    def fn(txn):
        s = txn.segmentation.segments[segment_id]
        if s.layer < len(txn.segmentation.layers):
            flat = (txn.segmentation.layers[s.layer] == s.value).reshape(-1).nonzero()[0]
            txn.write_flat(s.layer, flat, 0)
        del txn.segmentation.segments[segment_id]

    return editor.run("remove_segment", segment_id, fn)
