"""How a volume is laid out on screen in each view (radiological convention).

The three views are defined in patient terms (LPS):

========  ===============  =================  =============
view      screen right     screen down        slices along
========  ===============  =================  =============
axial     patient left     posterior          S-I
coronal   patient left     inferior           A-P
sagittal  posterior        inferior           R-L
========  ===============  =================  =============

so axial and coronal show the patient's right on the screen's left (as a
radiologist facing the patient sees them), anterior is up in axial, superior is
up in coronal and sagittal, and sagittal shows the face to the left (as 3D
Slicer and ITK-SNAP do). Which voxel axis goes where is decided from the
direction cosines; an oblique volume is shown in its own voxel grid, each
screen axis following the voxel axis closest to the wanted patient axis, and
:attr:`SliceGeometry.oblique` tells the view to say so.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import permutations

import numpy as np

from viewers.geometry import axis_letters, is_oblique

ORIENTATIONS = ("axial", "coronal", "sagittal")

# view -> ((patient axis, sign) of screen right, (patient axis, sign) of screen down, normal axis)
_VIEWS = {
    "axial": ((0, 1), (1, 1), 2),
    "coronal": ((0, 1), (2, -1), 1),
    "sagittal": ((1, 1), (2, -1), 0),
}


def closest_axes(direction) -> tuple[int, int, int]:
    """For each patient axis (x=L, y=P, z=S) the voxel axis (0=i, 1=j, 2=k) closest to it.

    The assignment is a permutation maximising the summed absolute cosines, so even
    a strongly oblique volume gets each voxel axis used exactly once.
    """
    d = np.abs(np.asarray(direction, dtype=float).reshape(3, 3))
    best = max(permutations(range(3)), key=lambda p: sum(d[axis, p[axis]] for axis in range(3)))
    return tuple(int(v) for v in best)  # type: ignore[return-value]


@dataclass(frozen=True)
class SliceGeometry:
    """Where the voxels of one view go on screen.

    Display coordinates ``(x, y)`` are continuous pixel units of the displayed slice
    image: pixel ``(col, row)`` covers ``[col, col+1) x [row, row+1)``, so its centre is
    at ``(col + 0.5, row + 0.5)``. Voxel indices ``(i, j, k)`` are continuous with
    integer values at voxel centres.

    Attributes
    ----------
    orientation : str
        "axial", "coronal" or "sagittal".
    col_axis, row_axis, normal_axis : int
        Voxel axis (0=i, 1=j, 2=k) along screen x, screen y and through the slices.
    col_flip, row_flip : bool
        True when the index decreases towards the screen's right / bottom.
    size : tuple of int
        ``(rows, cols)`` of the displayed slice.
    num_slices : int
    pixel_mm : tuple of float
        ``(width, height)`` of a displayed pixel in mm: draw with this aspect.
    letters : dict
        Orientation letters for the "left", "right", "top" and "bottom" edges.
    oblique : bool
        The volume is not aligned with the patient axes (shown in its voxel grid).
    """

    orientation: str
    col_axis: int
    row_axis: int
    normal_axis: int
    col_flip: bool
    row_flip: bool
    size: tuple[int, int]
    num_slices: int
    pixel_mm: tuple[float, float]
    letters: dict
    oblique: bool

    @classmethod
    def of(cls, volume, orientation: str) -> "SliceGeometry":
        """The layout of ``orientation`` for a :class:`~viewers.volume.Volume`."""
        if orientation not in _VIEWS:
            raise ValueError(f"orientation must be one of {ORIENTATIONS}, not {orientation!r}")
        direction = volume.direction
        spacing = volume.spacing_mm
        perm = closest_axes(direction)
        (rp, rs), (dp, ds), npat = _VIEWS[orientation]
        col, row, normal = perm[rp], perm[dp], perm[npat]
        col_flip = bool(np.sign(direction[rp, col]) != rs)
        row_flip = bool(np.sign(direction[dp, row]) != ds)
        ni, nj, nk = volume.size_ijk
        n = (ni, nj, nk)
        right = direction[:, col] * (-1 if col_flip else 1)
        down = direction[:, row] * (-1 if row_flip else 1)
        left_l, right_l = axis_letters(right)
        top_l, bottom_l = axis_letters(down)
        return cls(orientation, col, row, normal, col_flip, row_flip, (n[row], n[col]),
                   n[normal], (float(spacing[col]), float(spacing[row])),
                   {"left": left_l, "right": right_l, "top": top_l, "bottom": bottom_l},
                   is_oblique(direction))

    def extract(self, array: np.ndarray, index: int) -> np.ndarray:
        """The slice ``index`` of a ``(k, j, i)`` array in display order (a view, no copy)."""
        index = int(np.clip(index, 0, self.num_slices - 1))
        key: list = [slice(None)] * 3
        key[2 - self.normal_axis] = index
        plane = array[tuple(key)]
        # The two remaining array axes, in array order, are voxel axes in decreasing order.
        first_voxel_axis = max(a for a in range(3) if a != self.normal_axis)
        if first_voxel_axis != self.row_axis:
            plane = plane.T
        return plane[::-1 if self.row_flip else 1, ::-1 if self.col_flip else 1]

    def to_index(self, x: float, y: float, slice_index: float) -> np.ndarray:
        """Continuous voxel index ``(i, j, k)`` of display point ``(x, y)`` on a slice."""
        rows, cols = self.size
        ijk = np.empty(3)
        ijk[self.col_axis] = (cols - 0.5 - x) if self.col_flip else (x - 0.5)
        ijk[self.row_axis] = (rows - 0.5 - y) if self.row_flip else (y - 0.5)
        ijk[self.normal_axis] = slice_index
        return ijk

    def to_display(self, ijk) -> tuple[float, float, float]:
        """Display ``(x, y)`` and slice coordinate of a continuous voxel index."""
        rows, cols = self.size
        c, r = float(ijk[self.col_axis]), float(ijk[self.row_axis])
        x = (cols - 0.5 - c) if self.col_flip else (c + 0.5)
        y = (rows - 0.5 - r) if self.row_flip else (r + 0.5)
        return x, y, float(ijk[self.normal_axis])

    def slice_of(self, ijk) -> int:
        """The slice index holding voxel index ``ijk`` (rounded and clipped)."""
        return int(np.clip(np.rint(ijk[self.normal_axis]), 0, self.num_slices - 1))
