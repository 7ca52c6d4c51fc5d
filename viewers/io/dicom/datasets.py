"""One series from pydicom Datasets held in memory (e.g. received over DICOMweb).

The datasets never touch the disk: each gets a *name* (``instance 1``, ``instance 2``, ...)
that stands in for a file path in the frame records and in error messages, and the pixel
data is decoded from the dataset itself. Ordering, spacing and the affine come from the same
code as for files (:mod:`.geometry`, :mod:`.loader`), so a series read from a PACS and the
same series read from a folder give the same volume.
"""

from __future__ import annotations

from pathlib import PurePosixPath

from viewers.io.dicom import header as hdr
from viewers.io.dicom.loader import load_frames
from viewers.io.dicom.multiframe import frames_from_dataset
from viewers.io.dicom.pixels import decode_dataset
from viewers.io.dicom.records import non_image_kind
from viewers.io.errors import InputError
from viewers.volume import PatientInfo, Volume

__all__ = ["read_datasets"]

_PATIENT_KEYWORDS = {"name": "PatientName", "patient_id": "PatientID",
                     "birth_date": "PatientBirthDate", "sex": "PatientSex",
                     "accession_number": "AccessionNumber", "study_date": "StudyDate",
                     "institution": "InstitutionName"}


def patient_of(ds) -> PatientInfo:
    """The PHI of a dataset, kept apart from everything that is logged."""
    try:
        return PatientInfo(**{field: str(ds.get(keyword, "") or "")
                              for field, keyword in _PATIENT_KEYWORDS.items()})
    except Exception:  # noqa: BLE001 - identity is optional; a garbled value must not stop a read
        return PatientInfo()


def _pixel_tag(ds) -> int:
    for tag in hdr.PIXEL_DATA_TAGS:
        if tag in ds:
            return tag
    return hdr.PIXEL_DATA_TAGS[0]


def read_datasets(datasets, where: str = "datasets", progress=None) -> Volume:
    """Read one image series from in-memory datasets into a :class:`~viewers.volume.Volume`.

    Parameters
    ----------
    datasets : sequence of pydicom.Dataset
        The instances of one series, in any order, with their pixel data.
    where : str
        What the series is called in error messages (e.g. ``"PACS series 3"``); no PHI.
    progress : callable, optional
        ``progress(done, total, array)`` as slices land, as for :func:`viewers.io.dicom.read`.

    Raises
    ------
    InputError
        Not one image series, no pixel data, or geometry that cannot form one volume.
    """
    datasets = list(datasets)
    if not datasets:
        raise InputError(where, "no instances")
    series = {str(ds.get("SeriesInstanceUID", "")) for ds in datasets}
    if len(series) > 1:
        raise InputError(where, f"instances of {len(series)} different series")
    frames, by_name = [], {}
    for n, ds in enumerate(datasets, 1):
        # A path-like name stands in for the file in frame records and messages.
        name = PurePosixPath(f"instance {n}")
        meta = getattr(ds, "file_meta", None)
        sop_class = str(ds.get("SOPClassUID", "")
                        or (meta.get("MediaStorageSOPClassUID", "") if meta else ""))
        kind = non_image_kind(sop_class)
        if kind:
            raise InputError(f"{where} {name}", f"not an image: {kind}")
        if "Rows" not in ds or not any(t in ds for t in hdr.PIXEL_DATA_TAGS):
            raise InputError(f"{where} {name}", "no pixel data")
        try:
            frames += frames_from_dataset(name, ds, (0, None, _pixel_tag(ds)))
        except Exception as exc:  # noqa: BLE001 - any value pydicom cannot convert
            text = str(exc).strip().splitlines()
            raise InputError(f"{where} {name}", "corrupt image header ("
                             + (text[0] if text else type(exc).__name__) + ")") from None
        by_name[name] = ds

    def decoder(name, frames_wanted):
        return decode_dataset(by_name[name], frames_wanted)

    array, affine, warnings, ordered = load_frames(frames, where, False, progress, decoder)
    first = by_name[ordered[0].path]
    return Volume(array, affine, modality=str(first.get("Modality", "")),
                  series_uid=str(first.get("SeriesInstanceUID", "")),
                  study_uid=str(first.get("StudyInstanceUID", "")),
                  frame_of_reference_uid=str(first.get("FrameOfReferenceUID", "")),
                  description=str(first.get("SeriesDescription", "")), source_format="dicom",
                  patient=patient_of(first), warnings=tuple(warnings),
                  display_inverted=ordered[0].photometric == "MONOCHROME1")
