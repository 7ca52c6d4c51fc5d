"""Reading and writing images: one entry point for every format.

>>> from viewers.io import read_volume            # doctest: +SKIP
>>> vol = read_volume("series_folder/")           # doctest: +SKIP

Formats: DICOM (a file, a folder or a tree), NIfTI-1/2 (.nii, .nii.gz), NRRD
(.nrrd, .nhdr) and MetaImage (.mha, .mhd). Every failure is an
:class:`~viewers.io.errors.InputError` with a one-line message naming the file.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from viewers.io.errors import InputError, MultipleSeriesError
from viewers.io.summary import SeriesSummary
from viewers.volume import Volume

__all__ = ["InputError", "MultipleSeriesError", "SeriesSummary", "read_volume", "scan_series",
           "write_volume", "WRITABLE_SUFFIXES"]

WRITABLE_SUFFIXES = (".nii", ".nii.gz", ".nrrd", ".mha")


def _check_exists(path: Path) -> None:
    if not path.exists():
        raise InputError(path, "no such file or directory")
    if not os.access(path, os.R_OK):
        raise InputError(path, "permission denied")
    if path.is_dir() and not os.access(path, os.X_OK):
        raise InputError(path, "permission denied")


def _kind(path: Path) -> str:
    from viewers.io.itk import is_itk_path
    from viewers.io.nifti import is_nifti_path

    if path.is_dir():
        return "dicom"
    if is_nifti_path(path):
        return "nifti"
    if is_itk_path(path):
        return "itk"
    return "dicom"


def _dicom():
    try:
        from viewers.io import dicom
    except ModuleNotFoundError as exc:  # pragma: no cover - only while the reader is built
        if exc.name == "viewers.io.dicom":
            raise InputError(None, "DICOM reading is not available in this build") from None
        raise
    return dicom


def read_volume(path, series_uid: str | None = None, skip_bad: bool = False,
                progress=None) -> Volume:
    """Read one image volume.

    Parameters
    ----------
    path : str or Path
        A NIfTI/NRRD/MHA file, a DICOM file, or a folder (tree) of DICOM files.
    series_uid : str, optional
        Which series to read when a DICOM folder holds several.
    skip_bad : bool
        Load a DICOM series without its unreadable slices (and say so in ``warnings``)
        instead of rejecting it.
    progress : callable, optional
        ``progress(done, total, array)``, called as slices arrive; ``array`` is the
        (partially filled) destination, so a viewer can show the first slices early.

    Raises
    ------
    InputError
        For any unreadable or invalid input; MultipleSeriesError when a folder holds
        several series and ``series_uid`` is not given.
    """
    path = Path(path)
    _check_exists(path)
    kind = _kind(path)
    if kind == "nifti":
        from viewers.io.nifti import read_nifti

        volume = read_nifti(path)
    elif kind == "itk":
        from viewers.io.itk import read_itk

        volume = read_itk(path)
    else:
        return _dicom().read(path, series_uid=series_uid, skip_bad=skip_bad, progress=progress)
    if progress is not None:
        n = volume.array.shape[0]
        progress(n, n, volume.array)
    return volume


def scan_series(path) -> list[SeriesSummary]:
    """Describe the series at ``path`` from headers only (no pixel data read)."""
    path = Path(path)
    _check_exists(path)
    if _kind(path) == "dicom":
        return _dicom().scan(path)
    volume = read_volume(path)
    return [SeriesSummary(series_uid="", modality=volume.modality, description=path.name,
                          num_images=volume.shape[0], shape=volume.shape,
                          format=volume.source_format, warnings=list(volume.warnings))]


def write_volume(volume: Volume, path) -> None:
    """Write ``volume`` to .nii, .nii.gz, .nrrd or .mha, atomically.

    The file is written next to its destination under a temporary name and renamed
    into place, so an existing file is never left half-overwritten.
    """
    path = Path(path)
    name = path.name.lower()
    suffix = next((s for s in WRITABLE_SUFFIXES if name.endswith(s)), None)
    if suffix is None:
        raise InputError(path, "unsupported output format; use one of "
                               + ", ".join(WRITABLE_SUFFIXES))
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise InputError(path, "output folder does not exist")
    fd, tmp = tempfile.mkstemp(prefix=".annotrace-", suffix=suffix, dir=parent)
    os.close(fd)
    try:
        if suffix in (".nii", ".nii.gz"):
            from viewers.io.nifti import write_nifti

            write_nifti(volume, tmp)
        else:
            from viewers.io.itk import write_itk

            write_itk(volume, tmp)
        with open(tmp, "rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        raise InputError(path, f"cannot write: {exc.strerror or exc}") from None
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
