"""Index-to-patient geometry: affines, LPS/RAS conversion, orientation letters.

Conventions (DESIGN.md, "Geometry: one convention, everywhere"):

* voxel arrays have axes ``(k, j, i)`` = (slice, row, column);
* the 4x4 affine maps a column vector ``(i, j, k, 1)`` to patient **LPS** millimetres;
* ``spacing_mm`` is ``(i, j, k)``; ``direction`` is the 3x3 matrix whose *columns* are the
  LPS unit vectors of the i, j, k axes, flattened row-major exactly as SimpleITK's
  ``GetDirection()`` returns it.
"""

from __future__ import annotations

import numpy as np

#: diag(-1, -1, 1, 1): converts RAS millimetres to LPS and back (it is its own inverse).
RAS_TO_LPS = np.diag([-1.0, -1.0, 1.0, 1.0])


def affine_from_geometry(origin_lps, spacing_mm, direction) -> np.ndarray:
    """Build the index->LPS affine from ITK-style origin, spacing and direction.

    Parameters
    ----------
    origin_lps : sequence of 3 float
        LPS position (mm) of the centre of voxel (0, 0, 0).
    spacing_mm : sequence of 3 float
        Voxel size along i, j, k in millimetres.
    direction : sequence of 9 float or (3, 3) array
        Direction cosines in SimpleITK's row-major order (columns are axis vectors).
    """
    d = np.asarray(direction, dtype=float).reshape(3, 3)
    affine = np.eye(4)
    affine[:3, :3] = d * np.asarray(spacing_mm, dtype=float)[np.newaxis, :]
    affine[:3, 3] = np.asarray(origin_lps, dtype=float)
    return affine


def geometry_from_affine(affine) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Split an index->LPS affine into ``(origin_lps, spacing_mm, direction 3x3)``."""
    a = np.asarray(affine, dtype=float)
    m = a[:3, :3]
    spacing = np.linalg.norm(m, axis=0)
    if np.any(spacing <= 0):
        raise ValueError("affine has a zero-length axis")
    return a[:3, 3].copy(), spacing, m / spacing[np.newaxis, :]


def ras_affine_to_lps(affine_ras) -> np.ndarray:
    """Convert an index->RAS affine (NIfTI, nibabel) into an index->LPS affine."""
    return RAS_TO_LPS @ np.asarray(affine_ras, dtype=float)


def lps_affine_to_ras(affine_lps) -> np.ndarray:
    """Convert an index->LPS affine into the index->RAS affine NIfTI stores."""
    return RAS_TO_LPS @ np.asarray(affine_lps, dtype=float)


_LPS_LETTERS = (("R", "L"), ("A", "P"), ("I", "S"))  # (negative, positive) end per LPS axis


def axis_letters(direction_vector) -> tuple[str, str]:
    """Orientation letters ``(toward decreasing index, toward increasing index)``.

    For a vector that is not aligned with one patient axis (an oblique
    acquisition), the dominant component decides, with up to two more
    letters for significant secondary components, as radiology viewers do.

    Examples
    --------
    >>> axis_letters([1.0, 0.0, 0.0])
    ('R', 'L')
    >>> axis_letters([0.0, 0.0, -1.0])
    ('S', 'I')
    """
    v = np.asarray(direction_vector, dtype=float)
    order = np.argsort(-np.abs(v))
    plus, minus = "", ""
    for axis in order:
        if abs(v[axis]) < 0.25 and plus:
            break
        neg, pos = _LPS_LETTERS[axis]
        plus += pos if v[axis] > 0 else neg
        minus += neg if v[axis] > 0 else pos
    return minus, plus


def is_oblique(direction, tolerance: float = 1e-3) -> bool:
    """True when an axis of ``direction`` is not parallel to a patient axis."""
    d = np.abs(np.asarray(direction, dtype=float).reshape(3, 3))
    return bool(np.any(np.abs(d.max(axis=0) - 1.0) > tolerance))
