"""The one place where tools change segment masks: add, erase, replace.

Every tool computes a boolean mask inside a bounding box and calls :func:`add`,
:func:`erase` or :func:`set_mask`; these apply the :class:`EditPolicy` and
keep the layer packing valid (within a layer a voxel holds at most one
segment's value). When overlap is allowed and the painted segment would land
on another segment of its own layer, the painted segment moves to a layer
where it conflicts with nobody (a new layer when none fits), as 3D Slicer does.
"""

from __future__ import annotations

import numpy as np

from viewers.edit.policy import EditPolicy, Overwrite, editable_mask
from viewers.edit.transaction import SegmentLocked, Transaction


def full_box(shape):
    return tuple(slice(0, n) for n in shape)


def _check_unlocked(txn: Transaction, segment_id: int):
    seg = txn.segmentation.segments[segment_id]
    if seg.locked:
        raise SegmentLocked(f"segment '{seg.name}' is locked")
    return seg


def add(txn: Transaction, segment_id: int, bbox, mask: np.ndarray, policy: EditPolicy,
        image: np.ndarray | None = None) -> int:
    """Add the voxels ``mask`` (inside ``bbox``) to a segment; return voxels written."""
    seg_model = txn.segmentation
    seg = _check_unlocked(txn, segment_id)
    allowed = editable_mask(seg_model, image, segment_id, bbox, policy, adding=True)
    m = mask if allowed is None else (mask & allowed)
    if not m.any():
        return 0
    written = 0
    if policy.overwrite is Overwrite.OVERWRITE_OTHERS:
        # Take the voxels from other segments in other layers (locked ones are masked out).
        for layer_index in range(len(seg_model.layers)):
            if layer_index != seg.layer:
                region = seg_model.layers[layer_index][bbox]
                written += txn.write_where(layer_index, bbox, m & (region != 0), 0)
    else:
        arr = txn.ensure_layer(seg.layer)
        region = arr[bbox]
        if (m & (region != 0) & (region != seg.value)).any():
            written += relocate(txn, segment_id, bbox, m)
    written += txn.write_where(seg.layer, bbox, m, seg.value)
    return written


def erase(txn: Transaction, segment_id: int, bbox, mask: np.ndarray, policy: EditPolicy,
          image: np.ndarray | None = None) -> int:
    """Remove the voxels ``mask`` (inside ``bbox``) from a segment; return voxels written."""
    seg = _check_unlocked(txn, segment_id)
    if seg.layer >= len(txn.segmentation.layers):
        return 0
    allowed = editable_mask(txn.segmentation, image, segment_id, bbox, policy, adding=False)
    m = mask if allowed is None else (mask & allowed)
    region = txn.segmentation.layers[seg.layer][bbox]
    return txn.write_where(seg.layer, bbox, m & (region == seg.value), 0)


def set_mask(txn: Transaction, segment_id: int, bbox, new_mask: np.ndarray, policy: EditPolicy,
             image: np.ndarray | None = None) -> int:
    """Make the segment equal ``new_mask`` inside ``bbox`` (where the policy allows)."""
    current = txn.segmentation.mask(segment_id, bbox)
    n = erase(txn, segment_id, bbox, current & ~new_mask, policy, image)
    return n + add(txn, segment_id, bbox, new_mask & ~current, policy, image)


def relocate(txn: Transaction, segment_id: int, bbox=None, extra: np.ndarray | None = None) -> int:
    """Move a segment to a layer where neither it nor ``extra`` (in ``bbox``) meets another.

    Returns the number of layer voxels written.
    """
    seg_model = txn.segmentation
    seg = seg_model.segments[segment_id]
    src = seg_model.layers[seg.layer]
    flat = np.flatnonzero(src == seg.value)
    for target in range(len(seg_model.layers) + 1):
        if target == seg.layer:
            continue
        if target < len(seg_model.layers):
            used = {s.value for s in seg_model.segments_in_layer(target)}
            if len(used) >= 255:
                continue
            layer = seg_model.layers[target]
            if layer.reshape(-1)[flat].any():
                continue
            if extra is not None and (layer[bbox][extra] != 0).any():
                continue
            value = next(v for v in range(1, 256) if v not in used)
        else:
            value = 1
        written = txn.write_flat(seg.layer, flat, 0, mark=False)  # a move keeps provenance
        seg.layer, seg.value = target, value
        written += txn.write_flat(target, flat, value, mark=False)
        return written
    raise AssertionError("unreachable: a new layer always fits")
