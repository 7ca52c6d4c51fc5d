"""The voxel grid of a DICOM source: which stored frame is slice ``k``, and the index->LPS affine.

annotrace orders slices ascending along the normal ``row x column`` (as ITK/GDCM do), so the
masks it exports are ``(k, j, i)`` in that order. A source may store its frames in any order:
single-frame series are files in no particular order, and an enhanced multi-frame image lists
its frames as the scanner wrote them. :func:`source_grid` says which frame each ``k`` is.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from compliance.export.errors import ExportError


@dataclass(frozen=True)
class SourceGrid:
    """Where each slice of the annotrace grid lives in the source datasets.

    Attributes
    ----------
    frames : list of (int, int)
        For slice ``k``: (index of the dataset in the list given, 0-based frame number in it).
    affine_lps : ndarray
        4x4 map from ``(i, j, k, 1)`` to LPS mm.
    shape : tuple of 3 int
        ``(slices, rows, columns)``.
    multiframe : bool
        True when the source is one enhanced multi-frame image.
    regular : bool
        False when the slice steps differ (by more than 1 %) or the slices do not lie on one
        line: the affine then describes an average grid only (fine for a SEG, whose frames
        carry their own positions; not for a NIfTI export).
    """

    frames: list
    affine_lps: np.ndarray
    shape: tuple
    multiframe: bool
    regular: bool = True


def _frame_geometry(ds):
    """Yield (orientation 6, position 3, pixel spacing 2) per frame of ``ds``."""
    n_frames = int(ds.get("NumberOfFrames", 1) or 1)
    if "PerFrameFunctionalGroupsSequence" in ds:
        shared = ds.SharedFunctionalGroupsSequence[0] if "SharedFunctionalGroupsSequence" in ds \
            else None
        for item in ds.PerFrameFunctionalGroupsSequence:
            def group(keyword, item=item):
                if keyword in item:
                    return item[keyword].value[0]
                if shared is not None and keyword in shared:
                    return shared[keyword].value[0]
                return None
            orient, pos, meas = (group("PlaneOrientationSequence"),
                                 group("PlanePositionSequence"), group("PixelMeasuresSequence"))
            if orient is None or pos is None or meas is None:
                raise ExportError("a frame of the multi-frame source has no plane geometry")
            yield (orient.ImageOrientationPatient, pos.ImagePositionPatient, meas.PixelSpacing)
        return
    if n_frames != 1 or "ImagePositionPatient" not in ds or "ImageOrientationPatient" not in ds:
        raise ExportError("the source image has no plane position/orientation")
    yield ds.ImageOrientationPatient, ds.ImagePositionPatient, ds.PixelSpacing


def source_grid(datasets) -> SourceGrid:
    """Order the frames of ``datasets`` along the slice normal and build the affine.

    Parameters
    ----------
    datasets : list of pydicom.Dataset
        The single-frame images of one series, or one enhanced multi-frame image.

    Raises
    ------
    ExportError
        Mixed orientations or pixel spacings, several multi-frame images, repeated positions.
    """
    if not datasets:
        raise ExportError("no source images")
    multiframe = "PerFrameFunctionalGroupsSequence" in datasets[0]
    if multiframe and len(datasets) > 1:
        raise ExportError("a SEG references one multi-frame source image, got several")
    entries = []
    for d_index, ds in enumerate(datasets):
        for f_index, (orient, pos, spacing) in enumerate(_frame_geometry(ds)):
            entries.append((d_index, f_index, np.array(orient, float), np.array(pos, float),
                            np.array(spacing, float)))
    orient0, spacing0 = entries[0][2], entries[0][4]
    for e in entries:
        if not np.allclose(e[2], orient0, atol=1e-4) or not np.allclose(e[4], spacing0, atol=1e-4):
            raise ExportError("source frames differ in orientation or pixel spacing")
    row_dir, col_dir = orient0[:3], orient0[3:]
    normal = np.cross(row_dir, col_dir)
    entries.sort(key=lambda e: float(e[3] @ normal))
    distances = np.array([e[3] @ normal for e in entries])
    if len(entries) > 1:
        steps = np.diff(distances)
        if np.any(steps < 1e-3):
            raise ExportError("two source frames share one position")
        slice_vec = (entries[-1][3] - entries[0][3]) / (len(entries) - 1)
    else:
        ds = datasets[0]
        step = float(ds.get("SpacingBetweenSlices") or ds.get("SliceThickness") or 1.0)
        slice_vec = normal * step
    regular = True
    if len(entries) > 2:
        positions = np.array([e[3] for e in entries])
        expected = entries[0][3] + np.outer(np.arange(len(entries)), slice_vec)
        regular = bool(np.abs(positions - expected).max() <= 0.01 * np.linalg.norm(slice_vec))
    affine = np.eye(4)
    # PixelSpacing is (row spacing, column spacing): i (columns) moves along the row direction.
    affine[:3, 0] = row_dir * spacing0[1]
    affine[:3, 1] = col_dir * spacing0[0]
    affine[:3, 2] = slice_vec
    affine[:3, 3] = entries[0][3]
    first = datasets[0]
    shape = (len(entries), int(first.Rows), int(first.Columns))
    return SourceGrid([(e[0], e[1]) for e in entries], affine, shape, multiframe, regular)
