"""Fill the slices between annotated slices (shape-based interpolation).

SimpleITK's pip wheel does not ship ITK's MorphologicalContourInterpolator (a
remote module), so this uses the classic shape-based method (Raya and Udupa
1990, 3D Slicer's "Fill between slices" alternative): each annotated slice is
turned into an in-plane signed distance map in millimetres; an empty slice
between two annotated ones at fraction ``t`` gets the voxels where
``(1 - t) d0 + t d1 < 0``. Identical neighbours give the identical shape back;
a disk of radius r0 and one of r1 give disks of radius about ``(1 - t) r0 + t r1``.
"""

from __future__ import annotations

import numpy as np

from viewers.edit.morphology import segment_bbox, spacing_kji


def _signed_distance(plane: np.ndarray, sampling) -> np.ndarray:
    from scipy import ndimage  # here, not at the top: it costs the GUI ~0.5 s at start-up

    outside = ndimage.distance_transform_edt(~plane, sampling=sampling)
    inside = ndimage.distance_transform_edt(plane, sampling=sampling)
    return np.where(plane, -inside, outside)


def interpolate_slices(editor, segment_id: int, slice_axis: int = 0):
    """Fill every empty slice (along array axis ``slice_axis``) lying between two annotated ones.

    Annotated slices are left exactly as they are.
    """
    bbox = segment_bbox(editor.segmentation, segment_id)
    if bbox is None:
        return None
    m = np.moveaxis(editor.segmentation.mask(segment_id, bbox), slice_axis, 0)
    sampling = [s for a, s in enumerate(spacing_kji(editor)) if a != slice_axis]
    annotated = np.flatnonzero(m.reshape(m.shape[0], -1).any(axis=1))
    out = m.copy()
    for s0, s1 in zip(annotated[:-1], annotated[1:]):
        if s1 - s0 < 2:
            continue
        d0, d1 = _signed_distance(m[s0], sampling), _signed_distance(m[s1], sampling)
        for s in range(s0 + 1, s1):
            t = (s - s0) / (s1 - s0)
            out[s] = (1 - t) * d0 + t * d1 < 0
    return editor.set_mask("interpolate", segment_id, bbox, np.moveaxis(out, 0, slice_axis))
