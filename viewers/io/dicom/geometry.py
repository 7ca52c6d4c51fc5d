"""Slice order, spacing and the index->LPS affine of one series, with what looks wrong.

Slices are ordered by their position along the normal row x column, as ITK/GDCM do, and
the slice spacing is the distance between the first and last positions over the number of
gaps (SliceThickness is not a spacing). Gaps, uneven spacing and gantry tilt are reported as
warnings and never silently resampled; mixed sizes or orientations are errors.
"""

from __future__ import annotations

from collections import Counter

import numpy as np

from viewers.io.errors import InputError

#: Direction cosines that differ by less than this are the same orientation.
ORIENTATION_TOL = 1e-4
#: Positions closer than this along the normal are the same slice (mm).
SAME_POSITION_MM = 1e-3


def _names(frames, limit=3) -> str:
    names = sorted({f.path.name for f in frames})
    more = f" and {len(names) - limit} more" if len(names) > limit else ""
    return ", ".join(names[:limit]) + more


def check_consistent(frames, where) -> None:
    """Raise InputError when the frames cannot form one volume (size, orientation, format)."""
    colour = [f for f in frames if f.samples != 1]
    if colour:
        raise InputError(colour[0].path, f"colour images ({colour[0].samples} samples per "
                                         "pixel, " + colour[0].photometric + ") are not "
                                         "supported; annotrace reads greyscale volumes")
    floats = [f for f in frames if f.pixel_tag != 0x7FE00010]
    if floats:
        raise InputError(floats[0].path, "Float Pixel Data (parametric maps) is not supported")
    palette = [f for f in frames if not f.photometric.startswith("MONOCHROME")]
    if palette:
        raise InputError(palette[0].path, f"colour images ({palette[0].photometric}) are not "
                                          "supported; annotrace reads greyscale volumes")
    empty = [f for f in frames if f.rows < 1 or f.cols < 1]
    if empty:
        raise InputError(empty[0].path, f"image of {empty[0].rows} x {empty[0].cols} pixels")
    sizes = Counter((f.rows, f.cols) for f in frames)
    if len(sizes) > 1:
        parts = "; ".join(f"{r}x{c}: {_names([f for f in frames if (f.rows, f.cols) == (r, c)])}"
                          for (r, c) in sizes)
        raise InputError(where, f"mixed image sizes in one series (rows x columns {parts})")
    formats = {(f.bits_allocated, f.signed) for f in frames}
    if len(formats) > 1:
        raise InputError(where, "mixed pixel formats in one series (bits allocated, sign): "
                         + ", ".join(str(x) for x in sorted(formats)))
    oriented = [f for f in frames if f.orientation is not None]
    if oriented:
        ref = np.asarray(oriented[0].orientation)
        odd = [f for f in oriented if np.max(np.abs(np.asarray(f.orientation) - ref))
               > ORIENTATION_TOL]
        if odd:
            raise InputError(where, "mixed slice orientations in one series: "
                             f"{_names(odd)} differ from {oriented[0].path.name}")


def _unit(v) -> np.ndarray:
    v = np.asarray(v, dtype=float)
    n = np.linalg.norm(v)
    return v / n if n > 0 else v


def layout(frames, where) -> tuple[list, np.ndarray, list[str]]:
    """Order ``frames`` and build the affine.

    Returns
    -------
    ordered : list of Frame
        Ascending along the slice normal (or by InstanceNumber when there is no geometry).
    affine : (4, 4) ndarray
        Index (i, j, k) -> LPS mm.
    warnings : list of str
    """
    warnings: list[str] = []
    first = frames[0]
    if first.pixel_spacing is not None and min(first.pixel_spacing) <= 0:
        row_mm = col_mm = 1.0  # a zero or negative spacing gives no usable affine
        warnings.append(f"invalid PixelSpacing {[float(x) for x in first.pixel_spacing]}: "
                        "1 mm pixels assumed")
    elif first.pixel_spacing is not None:
        # PixelSpacing = [between rows (j), between columns (i)]
        row_mm, col_mm = first.pixel_spacing
    elif first.imager_spacing is not None and min(first.imager_spacing) > 0:
        row_mm, col_mm = first.imager_spacing
        warnings.append("no PixelSpacing: ImagerPixelSpacing used (measured at the detector, "
                        "not in the patient)")
    else:
        row_mm = col_mm = 1.0
        warnings.append("no PixelSpacing: 1 mm pixels assumed")
    placed = all(f.position is not None and f.orientation is not None for f in frames)
    if not placed:
        ordered = sorted(frames, key=lambda f: (f.instance_number or 0, str(f.path), f.frame))
        thickness = first.slice_thickness or 1.0
        warnings.append("no patient position or orientation: slices in instance order, "
                        f"identity orientation and {thickness:g} mm slice spacing assumed")
        return ordered, np.diag([col_mm, row_mm, thickness, 1.0]), warnings
    row = _unit(first.orientation[:3])
    col = _unit(first.orientation[3:])
    normal = _unit(np.cross(row, col))
    distance = np.array([np.dot(f.position, normal) for f in frames])
    order = np.argsort(distance, kind="stable")
    ordered = [frames[k] for k in order]
    distance = distance[order]
    n = len(ordered)
    if n == 1:
        step = first.slice_thickness or 1.0
    else:
        gaps = np.diff(distance)
        same = int(np.sum(gaps < SAME_POSITION_MM))
        if same:
            raise InputError(where, f"slices share a position ({same} repeated): the series "
                             "holds several volumes (echoes, phases or time points), which "
                             "annotrace does not split")
        step = (distance[-1] - distance[0]) / (n - 1)
        warnings += _spacing_warnings(gaps, step)
        warnings += _tilt_warning(ordered, normal, step)
    affine = np.eye(4)
    affine[:3, 0] = row * col_mm
    affine[:3, 1] = col * row_mm
    affine[:3, 2] = normal * step
    affine[:3, 3] = ordered[0].position
    return ordered, affine, warnings


def _spacing_warnings(gaps: np.ndarray, step: float) -> list[str]:
    typical = float(np.median(gaps))
    tol = max(0.01, 0.01 * typical)
    if np.max(np.abs(gaps - typical)) <= tol:
        return []
    big = np.flatnonzero(gaps > 1.5 * typical)
    if big.size:
        where = ", ".join(f"after slice {k} ({gaps[k]:.3g} mm)" for k in big[:5])
        return [f"missing slices: {big.size} gap(s) wider than the typical {typical:.4g} mm "
                f"spacing, {where}; the volume uses the mean spacing {step:.4g} mm"]
    return [f"uneven slice spacing: gaps from {gaps.min():.4g} to {gaps.max():.4g} mm; the "
            f"volume uses the mean spacing {step:.4g} mm"]


def _tilt_warning(ordered, normal, step) -> list[str]:
    travel = np.asarray(ordered[-1].position) - np.asarray(ordered[0].position)
    length = np.linalg.norm(travel)
    if length == 0:
        return []
    angle = np.degrees(np.arccos(np.clip(abs(np.dot(travel / length, normal)), 0, 1)))
    if angle < 0.01:
        return []
    shear = float(np.linalg.norm(travel - np.dot(travel, normal) * normal))
    return [f"gantry tilt of {angle:.2f} degrees: slice positions are sheared up to {shear:.3g} "
            "mm off the slice normal; the volume is laid out along the normal, not resampled"]
