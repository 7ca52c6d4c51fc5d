"""What the loader knows about each file and each frame before it reads any pixel.

:func:`index_file` turns one path into a :class:`FileEntry`: an image with one :class:`Frame`
per slice it contributes (one for a classic single-frame image, one per frame for a
multi-frame object), a non-image object (SR, SEG, RTSTRUCT, PR, KO, ...), a file that is not
DICOM at all, or a DICOM file that cannot be parsed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from viewers.io.dicom import header as hdr

#: SOP classes that hold no image volume, by UID prefix -> short name.
NON_IMAGE_CLASSES = {
    "1.2.840.10008.5.1.4.1.1.88.59": "KO",
    "1.2.840.10008.5.1.4.1.1.88.": "SR",
    "1.2.840.10008.5.1.4.1.1.66.4": "SEG",
    "1.2.840.10008.5.1.4.1.1.66.5": "surface SEG",
    "1.2.840.10008.5.1.4.1.1.66": "raw data / registration",
    "1.2.840.10008.5.1.4.1.1.481.3": "RTSTRUCT",
    "1.2.840.10008.5.1.4.1.1.481.5": "RTPLAN",
    "1.2.840.10008.5.1.4.1.1.481.": "RT plan or record",
    "1.2.840.10008.5.1.4.1.1.11.": "PR",
    "1.2.840.10008.5.1.4.1.1.104.": "encapsulated document",
    "1.2.840.10008.5.1.4.1.1.9.": "waveform",
    "1.2.840.10008.1.3.10": "DICOMDIR",
}
#: A DICOMDIR only indexes the files next to it: read silently past, or explained when given.
DICOMDIR_REASON = "a DICOMDIR (an index of the files on a medium): read its folder instead"
#: RT Dose is a 481.x class that does hold a volume.
_RT_DOSE = "1.2.840.10008.5.1.4.1.1.481.2"


def non_image_kind(sop_class: str) -> str | None:
    """Short name of a non-image SOP class, or None for image classes."""
    if sop_class == _RT_DOSE:
        return None
    for prefix, name in NON_IMAGE_CLASSES.items():
        if sop_class == prefix or (prefix.endswith(".") and sop_class.startswith(prefix)) \
                or sop_class.startswith(prefix + "."):
            return name
    return None


@dataclass
class Frame:
    """One 2D image of a series: a single-frame file, or one frame of a multi-frame file."""

    path: Path
    frame: int
    rows: int
    cols: int
    samples: int
    photometric: str
    bits_allocated: int
    bits_stored: int
    signed: bool
    slope: float
    intercept: float
    position: tuple | None
    orientation: tuple | None
    pixel_spacing: tuple | None
    instance_number: int | None
    transfer_syntax: str
    pixel_offset: int | None   # file offset of the frame's bytes (native little endian only)
    pixel_length: int | None   # bytes of the whole Pixel Data value, None when encapsulated
    slice_thickness: float | None = None
    modality_lut: object = None  # a Dataset with ModalityLUTSequence, when there is one
    pixel_tag: int = 0x7FE00010   # Float / Double Float Pixel Data are refused
    imager_spacing: tuple | None = None  # ImagerPixelSpacing (at the detector; CR, DX, MG)


@dataclass
class FileEntry:
    """One file found under the path being read."""

    path: Path
    kind: str                  # "image", "non-image", "index", "not-dicom", "corrupt"
    reason: str = ""           # why a file is non-image, not DICOM, or corrupt
    series_uid: str = ""
    study_uid: str = ""
    frame_uid: str = ""
    modality: str = ""
    description: str = ""
    frames: list[Frame] = field(default_factory=list)
    multiframe: bool = False


def looks_like_dicom(path) -> bool:
    """Cheap test: the Part 10 magic, or a dataset that starts with a group 0002/0008 tag."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(140)
    except OSError:
        return False
    if hdr.has_preamble(head):
        return True
    # Files written without preamble and file meta (allowed before Part 10): the first
    # element is (0008,xxxx) or (0002,xxxx), in either byte order, usually explicit VR.
    if len(head) < 8:
        return False
    return head[0:2] in (b"\x08\x00", b"\x02\x00", b"\x00\x08", b"\x00\x02") and \
        (head[4:6].isalpha() or int.from_bytes(head[4:8], "little") < 1 << 16)


def index_file(path: Path) -> FileEntry:
    """Index ``path`` from its header alone."""
    try:
        info = hdr.parse_fast(path)
    except OSError as exc:
        return FileEntry(path, "corrupt", f"cannot read: {(exc.strerror or str(exc)).lower()}")
    if info is not None and info.get("_truncated"):
        return FileEntry(path, "corrupt", "truncated or corrupt DICOM file (it ends inside "
                                          "the header)")
    if info is not None and (_num(info.get("NumberOfFrames"), 1, int) or 1) == 1:
        return _entry_from_fast(path, info)
    if not looks_like_dicom(path):
        return FileEntry(path, "not-dicom", "not a DICOM file")
    return _entry_from_pydicom(path)


def _num(text, default=None, cast=float):
    if text in (None, ""):
        return default
    try:
        return cast(float(str(text).split("\\")[0]))
    except (ValueError, OverflowError):  # garbage, or int() of inf/nan
        return default


def _vec(text, n):
    if text in (None, ""):
        return None
    parts = text.split("\\") if isinstance(text, str) else list(text)
    try:
        values = tuple(float(p) for p in parts)
    except (TypeError, ValueError):
        return None
    return values if len(values) == n else None


def _entry_from_fast(path: Path, d: dict) -> FileEntry:
    entry = FileEntry(path, "image", series_uid=d.get("SeriesInstanceUID", ""),
                      study_uid=d.get("StudyInstanceUID", ""),
                      frame_uid=d.get("FrameOfReferenceUID", ""),
                      modality=d.get("Modality", ""),
                      description=d.get("SeriesDescription", ""))
    kind = non_image_kind(d.get("SOPClassUID") or d.get("MediaStorageSOPClassUID", ""))
    if kind or "Rows" not in d or d.get("_pixel_tag") is None:
        entry.kind = "non-image"
        entry.reason = kind or ("no pixel data" if d.get("_pixel_tag") is None
                                else "no image attributes")
        if kind == "DICOMDIR":
            entry.kind, entry.reason = "index", DICOMDIR_REASON
        return entry
    ts = d["TransferSyntaxUID"]
    native = ts in hdr.NATIVE_LE and d["_pixel_length"] is not None \
        and d["_pixel_tag"] == hdr.PIXEL_DATA_TAGS[0]
    rows, cols = d["Rows"], d.get("Columns", 0)
    samples, bits = d.get("SamplesPerPixel", 1), d.get("BitsAllocated", 0)
    common = dict(
        rows=rows, cols=cols, samples=samples,
        photometric=d.get("PhotometricInterpretation") or "MONOCHROME2",
        bits_allocated=bits, bits_stored=d.get("BitsStored", bits),
        signed=d.get("PixelRepresentation", 0) == 1,
        slope=_num(d.get("RescaleSlope"), 1.0), intercept=_num(d.get("RescaleIntercept"), 0.0),
        orientation=_vec(d.get("ImageOrientationPatient"), 6),
        pixel_spacing=_vec(d.get("PixelSpacing"), 2),
        imager_spacing=_vec(d.get("ImagerPixelSpacing"), 2),
        instance_number=_num(d.get("InstanceNumber"), None, int),
        transfer_syntax=ts, pixel_length=d["_pixel_length"],
        slice_thickness=_num(d.get("SliceThickness")))
    entry.frames.append(Frame(path, 0, position=_vec(d.get("ImagePositionPatient"), 3),
                              pixel_offset=d["_pixel_offset"] if native else None,
                              pixel_tag=d["_pixel_tag"], **common))
    return entry


def _entry_from_pydicom(path: Path) -> FileEntry:
    import pydicom

    from viewers.io.dicom.multiframe import frames_from_dataset

    try:
        with open(path, "rb") as handle:
            ds = pydicom.dcmread(handle, stop_before_pixels=True, force=True)
            implicit, little = ds.original_encoding
            deflated = str(ds.file_meta.get("TransferSyntaxUID", "")) == hdr.DEFLATED
            where = (hdr.pixel_position_after(handle, explicit=not implicit)
                     if little and not deflated else None)
            if where is None:
                handle.seek(0)
                full = pydicom.dcmread(handle, force=True, defer_size=256)
                has_pixels = any(t in full for t in hdr.PIXEL_DATA_TAGS)
            else:
                has_pixels = True
        if "SOPClassUID" not in ds and "Rows" not in ds and "Modality" not in ds \
                and "DirectoryRecordSequence" not in ds:
            if hdr.has_preamble(_head(path)):
                return FileEntry(path, "corrupt", "truncated or corrupt DICOM file (no "
                                                  "readable header after the preamble)")
            return FileEntry(path, "not-dicom", "not a DICOM file")
        # Converting the values here makes a garbled header fail here, as "corrupt".
        entry = FileEntry(path, "image", series_uid=str(ds.get("SeriesInstanceUID", "")),
                          study_uid=str(ds.get("StudyInstanceUID", "")),
                          frame_uid=str(ds.get("FrameOfReferenceUID", "")),
                          modality=str(ds.get("Modality", "")),
                          description=str(ds.get("SeriesDescription", "")))
        meta = getattr(ds, "file_meta", None)
        sop_class = str(ds.get("SOPClassUID", "")
                        or (meta.get("MediaStorageSOPClassUID", "") if meta else ""))
    except Exception as exc:  # noqa: BLE001 - pydicom (force=True) fails on garbage in many ways
        return FileEntry(path, "corrupt", f"truncated or corrupt DICOM file ({_first_line(exc)})")
    kind = non_image_kind(sop_class)
    if kind or not has_pixels or "Rows" not in ds:
        entry.kind = "non-image"
        entry.reason = kind or ("no pixel data" if not has_pixels else "no image attributes")
        if kind == "DICOMDIR":
            entry.kind, entry.reason = "index", DICOMDIR_REASON
        return entry
    try:
        entry.frames = frames_from_dataset(path, ds, where)
    except Exception as exc:  # noqa: BLE001 - any value pydicom cannot convert
        return FileEntry(path, "corrupt", f"corrupt image header ({_first_line(exc)})")
    entry.multiframe = len(entry.frames) > 1
    return entry


def _head(path) -> bytes:
    with open(path, "rb") as handle:
        return handle.read(132)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
