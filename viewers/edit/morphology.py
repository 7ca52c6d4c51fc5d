"""Islands, smoothing, margins and holes, all sized in millimetres.

Distances use scipy's exact Euclidean distance transform sampled with the voxel
spacing, which equals the patient-space distance between voxel centres
whenever the grid's axes are orthogonal (every image from a scanner with no
gantry shear; a sheared grid gets the spacing-only approximation).
"""

from __future__ import annotations

import numpy as np

from viewers.edit import painter
from viewers.geometry import geometry_from_affine

_RTOL = 1e-9


def segment_bbox(segmentation, segment_id: int, pad=(0, 0, 0)):
    """Tight box (3 slices, k j i) of a segment, grown by ``pad`` voxels and clipped; None if empty."""
    seg = segmentation.segments[segment_id]
    if seg.layer >= len(segmentation.layers):
        return None
    m = segmentation.layers[seg.layer] == seg.value
    box = []
    for axis, p in enumerate(pad):
        other = tuple(a for a in range(3) if a != axis)
        hit = np.flatnonzero(m.any(axis=other))
        if hit.size == 0:
            return None
        box.append(slice(max(0, int(hit[0]) - p), min(m.shape[axis], int(hit[-1]) + 1 + p)))
    return tuple(box)


def spacing_kji(editor) -> np.ndarray:
    return geometry_from_affine(editor.affine)[1][::-1].copy()


def _pad_for(editor, mm: float):
    return tuple(int(np.ceil(mm / s)) + 1 for s in spacing_kji(editor))


def _structure(fully_connected: bool):
    from scipy import ndimage  # here, not at the top: it costs the GUI ~0.5 s at start-up

    return ndimage.generate_binary_structure(3, 3 if fully_connected else 1)


def _components(mask, fully_connected):
    from scipy import ndimage

    labels, n = ndimage.label(mask, structure=_structure(fully_connected))
    sizes = np.bincount(labels.ravel(), minlength=n + 1)
    sizes[0] = 0
    return labels, n, sizes


def voxel_volume_mm3(editor) -> float:
    return float(abs(np.linalg.det(np.asarray(editor.affine)[:3, :3])))


def keep_largest_island(editor, segment_id: int, fully_connected: bool = False):
    """Keep only the largest connected component (6-connected unless ``fully_connected``)."""
    bbox = segment_bbox(editor.segmentation, segment_id)
    if bbox is None:
        return None
    labels, n, sizes = _components(editor.segmentation.mask(segment_id, bbox), fully_connected)
    keep = labels == int(np.argmax(sizes))  # argmax returns the first (lowest label) of ties
    return editor.set_mask("keep_largest_island", segment_id, bbox, keep)


def remove_small_islands(editor, segment_id: int, min_mm3: float, fully_connected: bool = False):
    """Remove the connected components smaller than ``min_mm3`` cubic millimetres."""
    bbox = segment_bbox(editor.segmentation, segment_id)
    if bbox is None:
        return None
    labels, n, sizes = _components(editor.segmentation.mask(segment_id, bbox), fully_connected)
    big = sizes * voxel_volume_mm3(editor) >= min_mm3
    big[0] = False
    return editor.set_mask("remove_small_islands", segment_id, bbox, big[labels])


def split_islands(editor, segment_id: int, min_mm3: float = 0.0, fully_connected: bool = False):
    """Keep the largest island in the segment and move every other island (of at least
    ``min_mm3``) to a new segment of its own, named "<name> 2", "<name> 3", ... by size."""
    bbox = segment_bbox(editor.segmentation, segment_id)
    if bbox is None:
        return None
    labels, n, sizes = _components(editor.segmentation.mask(segment_id, bbox), fully_connected)
    order = [int(x) for x in np.argsort(-sizes, kind="stable") if sizes[x] > 0]
    min_vox = min_mm3 / voxel_volume_mm3(editor)

    def fn(txn):
        seg_model = txn.segmentation
        src = seg_model.segments[segment_id]
        for rank, lab in enumerate(order[1:], start=2):
            if sizes[lab] < min_vox:
                continue
            new = txn.add_segment(f"{src.name} {rank}", like=src)
            used = {s.value for s in seg_model.segments_in_layer(src.layer) if s is not new}
            free = [v for v in range(1, 256) if v not in used]
            if free:  # the island's voxels are the source's: no conflict in the source's layer
                new.layer, new.value = src.layer, free[0]
                txn.write_where(src.layer, bbox, labels == lab, new.value, mark=False)  # same voxels
            else:
                painter.erase(txn, segment_id, bbox, labels == lab, editor.policy)
                painter.add(txn, new.segment_id, bbox, labels == lab, editor.policy)

    return editor.run("split_islands", segment_id, fn)


def grow_mask(mask: np.ndarray, spacing, mm: float) -> np.ndarray:
    """Voxels within ``mm`` of a mask voxel (centre to centre)."""
    from scipy import ndimage

    if not mask.any():
        return mask.copy()
    return ndimage.distance_transform_edt(~mask, sampling=spacing) <= mm * (1 + _RTOL)


def shrink_mask(mask: np.ndarray, spacing, mm: float) -> np.ndarray:
    """Mask voxels farther than ``mm`` from every non-mask voxel of the array."""
    from scipy import ndimage

    return ndimage.distance_transform_edt(mask, sampling=spacing) > mm * (1 + _RTOL)


def margin(editor, segment_id: int, mm: float):
    """Grow (``mm`` > 0) or shrink (``mm`` < 0) the segment by a margin in millimetres.

    Growing adds every voxel whose centre lies within ``mm`` of a segment voxel's
    centre; shrinking removes every voxel within ``|mm|`` of a non-segment voxel.
    """
    sp = spacing_kji(editor)
    bbox = segment_bbox(editor.segmentation, segment_id, _pad_for(editor, abs(mm)))
    if bbox is None or mm == 0:
        return None
    m = editor.segmentation.mask(segment_id, bbox)
    new = grow_mask(m, sp, mm) if mm > 0 else shrink_mask(m, sp, -mm)
    return editor.set_mask("margin", segment_id, bbox, new)


def closing(editor, segment_id: int, mm: float):
    """Morphological closing by a ball of radius ``mm``: fills gaps and dents narrower than it."""
    sp = spacing_kji(editor)
    bbox = segment_bbox(editor.segmentation, segment_id, _pad_for(editor, 2 * mm))
    if bbox is None:
        return None
    m = editor.segmentation.mask(segment_id, bbox)
    # Pad with background so the erosion does not see the box edge as background.
    pad = _pad_for(editor, mm)
    grown = grow_mask(np.pad(m, [(p, p) for p in pad]), sp, mm)
    closed = shrink_mask(grown, sp, mm)[tuple(slice(p, -p) for p in pad)]
    return editor.set_mask("closing", segment_id, bbox, closed | m)


def median(editor, segment_id: int, kernel_mm: float):
    """Median smoothing with a box kernel about ``kernel_mm`` wide (odd number of voxels per axis)."""
    from scipy import ndimage

    sp = spacing_kji(editor)
    radius = tuple(int(np.floor(kernel_mm / 2 / s)) for s in sp)
    bbox = segment_bbox(editor.segmentation, segment_id, tuple(r + 1 for r in radius))
    if bbox is None:
        return None
    m = editor.segmentation.mask(segment_id, bbox).astype(np.uint8)
    size = tuple(2 * r + 1 for r in radius)
    smooth = ndimage.median_filter(m, size=size, mode="constant", cval=0).astype(bool)
    return editor.set_mask("median", segment_id, bbox, smooth)


def fill_holes(editor, segment_id: int, slice_axis: int | None = None):
    """Fill background regions enclosed by the segment (in 3D, or slice by slice along
    ``slice_axis``, where a hole open to the next slice is still a hole)."""
    from scipy import ndimage

    bbox = segment_bbox(editor.segmentation, segment_id)
    if bbox is None:
        return None
    m = editor.segmentation.mask(segment_id, bbox)
    if slice_axis is None:
        filled = ndimage.binary_fill_holes(m)
    else:
        filled = np.stack([ndimage.binary_fill_holes(s) for s in np.moveaxis(m, slice_axis, 0)])
        filled = np.moveaxis(filled, 0, slice_axis)
    return editor.set_mask("fill_holes", segment_id, bbox, filled)
