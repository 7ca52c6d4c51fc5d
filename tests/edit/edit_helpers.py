"""Helpers of the editing tests: small synthetic grids and a reference for exact voxel sets."""

from __future__ import annotations

import numpy as np
from viewers.edit import Editor
from viewers.labels import Segmentation
from viewers.volume import Volume


def make_editor(shape=(12, 40, 40), spacing=(0.5, 0.5, 2.0), image=None, direction=np.eye(3), **kw):
    """An Editor on an int16 volume of ``shape`` (k, j, i) with ``spacing`` (i, j, k) mm."""
    if image is None:
        image = np.zeros(shape, dtype=np.int16)
    vol = Volume.from_geometry(image, (-10.0, 20.0, 5.0), spacing, direction)
    return Editor(vol, Segmentation.empty_like(vol), **kw)


def centres_within(volume, center_ijk, radius_mm, slice_axis=None):
    """Reference: voxels whose centre is within radius_mm (patient LPS distance) of the centre."""
    k, j, i = np.indices(volume.shape)
    ijk = np.stack([i, j, k], axis=-1).reshape(-1, 3).astype(float)
    d = np.linalg.norm(volume.index_to_lps(ijk) - volume.index_to_lps(center_ijk), axis=1)
    inside = (d <= radius_mm + 1e-9).reshape(volume.shape)
    if slice_axis is not None:
        pos = {0: 2, 1: 1, 2: 0}[slice_axis]
        s = int(np.floor(center_ijk[pos] + 0.5))
        plane = np.zeros(volume.shape, bool)
        idx = [slice(None)] * 3
        idx[slice_axis] = s
        plane[tuple(idx)] = True
        # in-plane distance: project the centre onto that slice first
        c = np.array(center_ijk, float)
        c[pos] = s
        d = np.linalg.norm(volume.index_to_lps(ijk) - volume.index_to_lps(c), axis=1)
        inside = (d <= radius_mm + 1e-9).reshape(volume.shape) & plane
    return inside


def state(seg):
    """A full copy of what undo must restore exactly: the layers and each segment's slot."""
    return ([layer.copy() for layer in seg.layers],
            {sid: (s.name, s.layer, s.value) for sid, s in seg.segments.items()})


def assert_state(seg, expected):
    layers, segs = expected
    assert len(seg.layers) == len(layers)
    for a, b in zip(seg.layers, layers):
        np.testing.assert_array_equal(a, b)
    assert {sid: (s.name, s.layer, s.value) for sid, s in seg.segments.items()} == segs
