"""Voxel sets of brush dabs and polygons, in patient millimetres.

A voxel belongs to a sphere (or disk) of radius ``r`` mm centred at a
continuous index ``c`` iff the patient-space distance between its centre and
``c`` is at most ``r``: ``|A (p - c)| <= r`` with ``A`` the 3x3 linear part of
the index->LPS affine, so anisotropic spacing and oblique directions are both
honoured.
"""

from __future__ import annotations

import numpy as np

#: relative tolerance on the radius: a centre at exactly ``r`` mm (up to rounding) is inside
_RADIUS_RTOL = 1e-9

#: array axis (0 = k, 1 = j, 2 = i) -> index axis position in (i, j, k)
_IJK_POS = {0: 2, 1: 1, 2: 0}


def _gram(affine) -> np.ndarray:
    """Metric of index space in mm: G = A^T A over (i, j, k)."""
    a = np.asarray(affine, dtype=float)[:3, :3]
    return a.T @ a


def ball(shape, affine, center_ijk, radius_mm: float, slice_axis: int | None = None):
    """Bounding box and mask of the voxels within ``radius_mm`` of ``center_ijk``.

    Parameters
    ----------
    shape : tuple (k, j, i)
        Grid shape; the result is clipped to it.
    affine : (4, 4) array
        Index->LPS affine.
    center_ijk : sequence of 3 float
        Continuous index ``(i, j, k)`` of the centre.
    radius_mm : float
    slice_axis : int, optional
        Array axis (0 = k, 1 = j, 2 = i) normal to the view: the result is the
        2D disk in the slice ``round(center)`` along that axis, distances measured
        in that slice's plane.

    Returns
    -------
    (bbox, mask) or (None, None)
        ``bbox`` a tuple of 3 slices (k, j, i); ``mask`` boolean of the box's shape.
    """
    return capsule(shape, affine, center_ijk, center_ijk, radius_mm, slice_axis)


def capsule(shape, affine, start_ijk, end_ijk, radius_mm: float, slice_axis: int | None = None):
    """Voxels within ``radius_mm`` of the segment ``start``-``end`` (a brush swept between
    two mouse events, so that a fast drag leaves no gaps). Same conventions as :func:`ball`.
    """
    g = _gram(affine)
    a = np.asarray(start_ijk, dtype=float).copy()
    b = np.asarray(end_ijk, dtype=float).copy()
    r2 = float(radius_mm) ** 2 * (1 + _RADIUS_RTOL)
    # Half extent of the ellipsoid {d : d^T G d <= r^2} along index axis x: r sqrt((G^-1)_xx).
    half = float(radius_mm) * np.sqrt(np.diag(np.linalg.inv(g)))
    lo = np.ceil(np.minimum(a, b) - half - 1e-9).astype(int)
    hi = np.floor(np.maximum(a, b) + half + 1e-9).astype(int) + 1
    if slice_axis is not None:
        p = _IJK_POS[slice_axis]
        lo[p] = int(np.floor(b[p] + 0.5))
        hi[p] = lo[p] + 1
        a[p] = b[p] = lo[p]  # in-plane distance: the slice's own offset does not count
    size_ijk = np.array(shape[::-1])
    lo = np.maximum(lo, 0)
    hi = np.minimum(hi, size_ijk)
    if np.any(hi <= lo):
        return None, None
    d = [(np.arange(lo[x], hi[x]) - a[x]).reshape([-1 if y == 2 - x else 1 for y in range(3)])
         for x in range(3)]  # d[x]: offsets along index axis x, broadcast on array axis 2 - x
    e = b - a
    ee = float(e @ g @ e)
    if ee > 0:
        ge = g @ e
        t = np.clip((d[0] * ge[0] + d[1] * ge[1] + d[2] * ge[2]) / ee, 0.0, 1.0)
        d = [d[x] - t * e[x] for x in range(3)]
    q = (g[0, 0] * d[0] * d[0] + g[1, 1] * d[1] * d[1] + g[2, 2] * d[2] * d[2]
         + 2 * (g[0, 1] * d[0] * d[1] + g[0, 2] * d[0] * d[2] + g[1, 2] * d[1] * d[2]))
    box_shape = (hi[2] - lo[2], hi[1] - lo[1], hi[0] - lo[0])
    mask = np.ascontiguousarray(np.broadcast_to(q <= r2, box_shape))
    bbox = tuple(slice(int(lo[x]), int(hi[x])) for x in (2, 1, 0))
    return bbox, mask


def polygon(shape, points_ijk, slice_axis: int):
    """Voxels of one slice whose centres lie inside a polygon (even-odd rule).

    Parameters
    ----------
    shape : tuple (k, j, i)
    points_ijk : (N, 3) array
        Vertices as continuous indices ``(i, j, k)``; their coordinate along
        ``slice_axis`` picks the slice (rounded, from the first vertex).
    slice_axis : int
        Array axis normal to the slice (0 = k, 1 = j, 2 = i).

    Returns
    -------
    (bbox, mask) or (None, None)
    """
    pts = np.asarray(points_ijk, dtype=float)
    if pts.ndim != 2 or pts.shape[0] < 3:
        return None, None
    p = _IJK_POS[slice_axis]
    plane = [a for a in (0, 1, 2) if a != p]  # two in-plane index axes, in (i, j, k) order
    size_ijk = np.array(shape[::-1])
    s = int(np.floor(pts[0, p] + 0.5))
    if not 0 <= s < size_ijk[p]:
        return None, None
    u, v = pts[:, plane[0]], pts[:, plane[1]]
    lo = np.maximum(np.ceil([u.min(), v.min()]).astype(int), 0)
    hi = np.minimum(np.floor([u.max(), v.max()]).astype(int) + 1, size_ijk[plane])
    if np.any(hi <= lo):
        return None, None
    gu = np.arange(lo[0], hi[0], dtype=float)[None, :]
    gv = np.arange(lo[1], hi[1], dtype=float)[:, None]
    inside = np.zeros((hi[1] - lo[1], hi[0] - lo[0]), dtype=bool)
    u2, v2 = np.roll(u, -1), np.roll(v, -1)
    for ua, va, ub, vb in zip(u, v, u2, v2):
        if va == vb:
            continue
        crosses = (va > gv) != (vb > gv)
        with np.errstate(over="ignore"):  # a nearly horizontal edge: x runs off to +-inf, fine
            x = ua + (gv - va) * (ub - ua) / (vb - va)
        inside ^= crosses & (gu < x)
    lo3 = np.zeros(3, int)
    hi3 = size_ijk.copy()
    lo3[plane], hi3[plane] = lo, hi
    lo3[p], hi3[p] = s, s + 1
    # inside has axes (plane[1], plane[0]); plane[1] is the slower array axis.
    box_shape = (hi3[2] - lo3[2], hi3[1] - lo3[1], hi3[0] - lo3[0])
    mask = inside.reshape(box_shape)
    bbox = tuple(slice(int(lo3[x]), int(hi3[x])) for x in (2, 1, 0))
    return bbox, mask
