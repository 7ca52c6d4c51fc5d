"""DICOM reading: a file, a folder or a tree of series, into one :class:`~viewers.volume.Volume`.

>>> from viewers.io import dicom                       # doctest: +SKIP
>>> dicom.scan("study/")                               # headers only   # doctest: +SKIP
>>> vol = dicom.read("study/", series_uid="1.2.3")     # doctest: +SKIP

Headers are indexed without reading pixels (:mod:`.header`, :mod:`.records`), slices are
ordered and placed along the normal (:mod:`.geometry`), and pixel bytes go straight into the
preallocated volume (:mod:`.pixels`, :mod:`.loader`). Every failure is an
:class:`~viewers.io.errors.InputError` naming the file and the reason.
"""

from __future__ import annotations

import os
from collections import Counter, defaultdict
from pathlib import Path

from viewers.io.dicom.loader import load_frames
from viewers.io.dicom.records import FileEntry, index_file, looks_like_dicom
from viewers.io.errors import InputError, MultipleSeriesError
from viewers.io.summary import SeriesSummary
from viewers.volume import PatientInfo, Volume

__all__ = ["is_dicom_file", "scan", "read"]


def is_dicom_file(path) -> bool:
    """Cheap check: "DICM" at byte 128, or a dataset header without preamble."""
    return Path(path).is_file() and looks_like_dicom(path)


def _files(path: Path) -> list[Path]:
    if not path.exists():
        raise InputError(path, "no such file or directory")
    if not os.access(path, os.R_OK) or (path.is_dir() and not os.access(path, os.X_OK)):
        raise InputError(path, "permission denied")
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise InputError(path, "no such file or directory")
    found = []
    def refuse(err: OSError):
        raise InputError(err.filename, (err.strerror or str(err)).lower())

    for root, dirs, names in os.walk(path, onerror=refuse):
        dirs.sort()
        found += [Path(root) / n for n in sorted(names) if not n.startswith(".")]
    if not found:
        raise InputError(path, "empty folder: no files")
    return found


def _index(path, progress=None) -> list[FileEntry]:
    path = Path(path)
    files = _files(path)
    entries = []
    for n, file in enumerate(files, 1):
        entries.append(index_file(file))
        if progress is not None:
            progress(n, len(files))
    return entries


def _by_series(entries, kind) -> dict[str, list[FileEntry]]:
    groups = defaultdict(list)
    for e in entries:
        if e.kind == kind:
            groups[e.series_uid].append(e)
    return groups


def _summary(uid, group) -> SeriesSummary:
    frames = [f for e in group for f in e.frames]
    sizes = Counter((f.rows, f.cols) for f in frames)
    rows, cols = sizes.most_common(1)[0][0]
    s = SeriesSummary(series_uid=uid, modality=group[0].modality,
                      description=group[0].description, num_images=len(frames),
                      shape=(len(frames), rows, cols))
    from viewers.io.dicom.geometry import check_consistent, layout

    try:
        check_consistent(frames, group[0].path)
        s.warnings += layout(frames, group[0].path)[2]
    except InputError as exc:
        s.warnings.append(exc.reason)
    return s


def scan(path, progress=None) -> list[SeriesSummary]:
    """Describe every series under ``path`` from headers only.

    Parameters
    ----------
    path : str or Path
        A DICOM file, a folder or a tree (walked recursively).
    progress : callable, optional
        ``progress(done, total)`` as files are indexed.

    Returns
    -------
    list of SeriesSummary
        One per SeriesInstanceUID holding images, then one per series of non-image objects
        (SR, SEG, RTSTRUCT, PR, KO, ...) with ``shape`` (0, 0, 0) and a warning
        ``"not an image: <kind>"``.
    """
    entries = _index(path, progress)
    out = [_summary(uid, group) for uid, group in _by_series(entries, "image").items()]
    for uid, group in _by_series(entries, "non-image").items():
        kinds = sorted({e.reason for e in group})
        out.append(SeriesSummary(series_uid=uid, modality=group[0].modality,
                                 description=group[0].description, num_images=len(group),
                                 warnings=[f"not an image: {', '.join(kinds)}"]))
    if not out:
        _raise_nothing(Path(path), entries)
    return out


def _raise_nothing(path: Path, entries) -> None:
    corrupt = [e for e in entries if e.kind == "corrupt"]
    if corrupt:
        raise InputError(corrupt[0].path, corrupt[0].reason)
    if len(entries) == 1:
        raise InputError(entries[0].path, entries[0].reason or "not a DICOM image")
    raise InputError(path, f"no DICOM images among {len(entries)} files")


def read(path, series_uid=None, skip_bad=False, progress=None) -> Volume:
    """Read one series as a :class:`~viewers.volume.Volume`.

    Parameters
    ----------
    path : str or Path
        A DICOM file, a folder or a tree.
    series_uid : str, optional
        The SeriesInstanceUID to read when ``path`` holds several image series.
    skip_bad : bool
        Leave out slices (or files) that cannot be read, saying so in ``warnings``, instead of
        rejecting the series.
    progress : callable, optional
        ``progress(done, total, array)`` each time a slice has landed in ``array``, the
        preallocated ``(k, j, i)`` destination (so a viewer can show the first slice early).
        Rare series whose output dtype depends on the stored values (a 16-bit signed series
        whose rescale might overflow 16 bits) are rescaled at the end; the last call always
        passes the final array.

    Raises
    ------
    MultipleSeriesError
        Several image series and no ``series_uid``.
    InputError
        Anything unreadable: one line naming the file and the reason.
    """
    path = Path(path)
    entries = _index(path)
    images = _by_series(entries, "image")
    if series_uid is not None:
        if series_uid not in images:
            held = ", ".join(sorted(images)) or "no image series"
            raise InputError(path, f"no image series {series_uid} here (it holds: {held})")
        group = images[series_uid]
    elif len(images) > 1:
        raise MultipleSeriesError(path, [_summary(uid, g) for uid, g in images.items()])
    elif not images:
        non_image = [e for e in entries if e.kind == "non-image"]
        if non_image and not any(e.kind == "corrupt" for e in entries):
            kinds = ", ".join(sorted({e.reason for e in non_image}))
            if len(entries) == 1:
                raise InputError(non_image[0].path, f"not an image: {kinds}")
            raise InputError(path, f"no images here, only non-image DICOM objects ({kinds})")
        _raise_nothing(path, entries)
    else:
        group = next(iter(images.values()))
    warnings = _folder_warnings(entries, skip_bad)
    frames = [f for e in group for f in e.frames]
    array, affine, more, ordered = load_frames(frames, path if path.is_dir() else group[0].path,
                                               skip_bad, progress)
    first = group[0]
    return Volume(array, affine, modality=first.modality, series_uid=first.series_uid,
                  study_uid=first.study_uid, frame_of_reference_uid=first.frame_uid,
                  description=first.description, source_format="dicom",
                  patient=_patient(ordered[0].path), warnings=tuple(more + warnings),
                  display_inverted=ordered[0].photometric == "MONOCHROME1")


def _folder_warnings(entries, skip_bad) -> list[str]:
    out = []
    corrupt = [e for e in entries if e.kind == "corrupt"]
    if corrupt and not skip_bad:
        raise InputError(corrupt[0].path, corrupt[0].reason)
    if corrupt:
        out.append(f"skipped {len(corrupt)} corrupt file(s) (--skip-bad): "
                   + ", ".join(e.path.name for e in corrupt[:5]))
    foreign = [e for e in entries if e.kind == "not-dicom"]
    if foreign:
        out.append(f"ignored {len(foreign)} non-DICOM file(s): "
                   + ", ".join(e.path.name for e in foreign[:5]))
    non_image = [e for e in entries if e.kind == "non-image"]
    if non_image:
        kinds = Counter(e.reason for e in non_image)
        out.append("ignored non-image DICOM objects: "
                   + ", ".join(f"{n} {k}" for k, n in sorted(kinds.items())))
    return out


def _patient(path: Path) -> PatientInfo:
    """PHI of the series, kept apart from everything that is logged."""
    import pydicom

    keywords = {"name": "PatientName", "patient_id": "PatientID", "birth_date": "PatientBirthDate",
                "sex": "PatientSex", "accession_number": "AccessionNumber",
                "study_date": "StudyDate", "institution": "InstitutionName"}
    try:
        ds = pydicom.dcmread(path, stop_before_pixels=True, force=True,
                             specific_tags=list(keywords.values()))
        # Values convert lazily: a garbled one fails here, inside the try.
        values = {field: str(ds.get(keyword, "") or "") for field, keyword in keywords.items()}
    except Exception:  # noqa: BLE001 - the pixels loaded; identity is optional
        return PatientInfo()
    return PatientInfo(**values)
