"""The DICOM headers of a case's source series, kept so that a SEG can reference them later.

A DICOM SEG names its source images (SOP instance UIDs) and copies their patient, study and
frame-of-reference attributes, so ``annotrace export --format seg`` needs the source headers
long after the import. They are stored encrypted with the case (``dicom.enc``, see
:meth:`compliance.casestore.CaseStore.import_case`) without pixel data: the voxels are
already in ``image.enc`` and a SEG needs only the geometry and identifiers.

Headers are kept as DICOM Part 10 bytes (one per file), read here with
``stop_before_pixels=True``, so the stored bytes are what the scanner wrote up to the pixel
data, nothing re-encoded.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

from compliance.export.errors import ExportError

#: Storage classes that are not images of a series (a SEG, RT structure, SR, presentation...).
_NOT_IMAGES = ("1.2.840.10008.5.1.4.1.1.66", "1.2.840.10008.5.1.4.1.1.481",
               "1.2.840.10008.5.1.4.1.1.88", "1.2.840.10008.5.1.4.1.1.11",
               "1.2.840.10008.5.1.4.1.1.104")


def _files(src: Path) -> list[Path]:
    if src.is_file():
        return [src]
    out = []
    for root, dirs, files in os.walk(src):
        dirs.sort()
        out.extend(Path(root) / f for f in sorted(files) if not f.startswith("."))
    return out


def header_bytes(ds) -> bytes:
    """One dataset as Part 10 bytes without its pixel data."""
    import pydicom

    ds = ds.copy()
    for keyword in ("PixelData", "FloatPixelData", "DoubleFloatPixelData"):
        if keyword in ds:
            del ds[keyword]
    buf = io.BytesIO()
    pydicom.dcmwrite(buf, ds, enforce_file_format=False)
    return buf.getvalue()


def series_header_bytes(src, series_uid: str = "") -> list[bytes]:
    """The headers (no pixel data) of the image files of one series under ``src``.

    Parameters
    ----------
    src : path
        A DICOM file or a folder (searched recursively), as given to ``case import``.
    series_uid : str
        Keep only this series ("" keeps every image file: a single-series source).

    Returns
    -------
    list of bytes
        Part 10 bytes per file, in file-name order; empty when no DICOM image file matches.
    """
    import pydicom
    from pydicom.errors import InvalidDicomError

    out = []
    for path in _files(Path(src)):
        try:
            ds = pydicom.dcmread(path, stop_before_pixels=True)
        except (InvalidDicomError, OSError, ValueError, EOFError):
            continue  # not DICOM (a README, DICOMDIR's neighbours) or unreadable: skipped
        sop_class = str(ds.get("SOPClassUID", ""))
        if sop_class.startswith(_NOT_IMAGES) or "Rows" not in ds:
            continue
        if series_uid and str(ds.get("SeriesInstanceUID", "")) != series_uid:
            continue
        buf = io.BytesIO()
        pydicom.dcmwrite(buf, ds, enforce_file_format=False)
        out.append(buf.getvalue())
    return out


def datasets_from_bytes(headers, case: str = "") -> list:
    """Parse stored header bytes back into pydicom datasets."""
    import pydicom

    out = []
    for n, raw in enumerate(headers):
        try:
            out.append(pydicom.dcmread(io.BytesIO(raw), force=True))
        except Exception as exc:  # noqa: BLE001 - any parse failure is a damaged object
            raise ExportError(f"case {case}: stored DICOM header {n + 1} cannot be read "
                              f"({type(exc).__name__})") from None
    return out
