"""Index one DICOM file's header without reading its pixels.

Loading a 300-file series is dominated by header parsing when pydicom parses every header
(about 0.4 ms each), so the common case, an uncompressed or encapsulated little-endian file,
goes through :func:`parse_fast`, a small parser that walks the element headers of the first
bytes of the file, keeps the few attributes the loader needs and records where the Pixel Data
value starts. Anything it does not understand (big endian, deflate, a header longer than the
chunk it reads, an enhanced multi-frame object) returns ``None`` and the caller uses pydicom.
"""

from __future__ import annotations

import struct

#: Bytes read for the fast path; scanners' headers (with private tags) are a few kB.
CHUNK = 64 * 1024

IMPLICIT_LE = "1.2.840.10008.1.2"
EXPLICIT_LE = "1.2.840.10008.1.2.1"
NATIVE_LE = (IMPLICIT_LE, EXPLICIT_LE)
#: Transfer syntaxes whose dataset is explicit VR little endian (all encapsulated ones too).
DEFLATED = "1.2.840.10008.1.2.1.99"
_NOT_FAST = ("1.2.840.10008.1.2.2", DEFLATED)  # big endian, deflated

PIXEL_DATA_TAGS = (0x7FE00010, 0x7FE00008, 0x7FE00009)  # Pixel, Float, Double Float Pixel Data

_US = "US"
_STR = "STR"
#: tag -> (keyword, how to decode); the top-level attributes the loader uses.
WANTED = {
    0x00080016: ("SOPClassUID", _STR),
    0x00080018: ("SOPInstanceUID", _STR),
    0x00080060: ("Modality", _STR),
    0x0008103E: ("SeriesDescription", _STR),
    0x00180050: ("SliceThickness", _STR),
    0x00181164: ("ImagerPixelSpacing", _STR),
    0x0020000D: ("StudyInstanceUID", _STR),
    0x0020000E: ("SeriesInstanceUID", _STR),
    0x00200013: ("InstanceNumber", _STR),
    0x00200032: ("ImagePositionPatient", _STR),
    0x00200037: ("ImageOrientationPatient", _STR),
    0x00200052: ("FrameOfReferenceUID", _STR),
    0x00280002: ("SamplesPerPixel", _US),
    0x00280004: ("PhotometricInterpretation", _STR),
    0x00280008: ("NumberOfFrames", _STR),
    0x00280010: ("Rows", _US),
    0x00280011: ("Columns", _US),
    0x00280030: ("PixelSpacing", _STR),
    0x00280100: ("BitsAllocated", _US),
    0x00280101: ("BitsStored", _US),
    0x00280103: ("PixelRepresentation", _US),
    0x00281052: ("RescaleIntercept", _STR),
    0x00281053: ("RescaleSlope", _STR),
    0x00283000: ("ModalityLUTSequence", None),
    0x52009229: ("SharedFunctionalGroupsSequence", None),
    0x52009230: ("PerFrameFunctionalGroupsSequence", None),
}
_LONG_VRS = {b"OB", b"OW", b"OF", b"SQ", b"UT", b"UN", b"OD", b"OL", b"OV", b"SV", b"UV",
             b"UC", b"UR"}
_UNDEFINED = 0xFFFFFFFF
_ITEM, _ITEM_END, _SEQ_END = 0xFFFEE000, 0xFFFEE00D, 0xFFFEE0DD


class _Unsupported(Exception):
    """The fast parser cannot index this file; pydicom will."""


class _Truncated(Exception):
    """The whole file was read and it ends inside an element."""


class _OffEnd(Exception):
    """The parser ran past the bytes it read: a cut-off file, or a header over the chunk."""


def has_preamble(head: bytes) -> bool:
    """True when ``head`` (the first 132 bytes or more) carries the DICOM Part 10 magic."""
    return len(head) >= 132 and head[128:132] == b"DICM"


def parse_fast(path) -> dict | None:
    """The attributes in :data:`WANTED` and the Pixel Data position, or None.

    Returns
    -------
    dict or None
        Keyword -> value (strings as stored, US as int), plus ``TransferSyntaxUID``,
        ``_pixel_offset`` (file offset of the Pixel Data value), ``_pixel_length`` (its
        length, ``None`` when encapsulated) and ``_pixel_tag``. ``None`` when the file
        needs pydicom (including when it is not Part 10 DICOM at all).
    """
    with open(path, "rb") as handle:
        buf = handle.read(CHUNK)
    if not has_preamble(buf):
        return None
    whole = len(buf) < CHUNK
    try:
        return _parse(buf, whole)
    except _Truncated:
        return {"_truncated": True}
    except _OffEnd:
        # Running off the end of a file read whole means the file is cut short.
        return {"_truncated": True} if whole else None
    except (_Unsupported, struct.error, IndexError, UnicodeDecodeError):
        return None


def _parse(buf: bytes, whole: bool) -> dict:
    out: dict = {}
    pos = 132
    # File meta information: always explicit VR little endian, group 0002.
    while pos + 8 <= len(buf) and buf[pos:pos + 2] == b"\x02\x00":
        tag, vr, length, pos = _element_header(buf, pos, explicit=True)
        if tag == 0x00020010:
            out["TransferSyntaxUID"] = _text(buf[pos:pos + length])
        elif tag == 0x00020002:
            out["MediaStorageSOPClassUID"] = _text(buf[pos:pos + length])
        pos += length
    if whole and pos + 8 > len(buf):
        raise _Truncated()
    ts = out.get("TransferSyntaxUID")
    if not ts or ts in _NOT_FAST:
        raise _Unsupported(ts)
    explicit = ts != IMPLICIT_LE
    n = len(buf)
    while True:
        if whole and pos == n:
            return out  # a complete file without pixel data
        if pos + 8 > n:
            if whole:
                raise _Truncated()
            raise _Unsupported("header longer than the chunk read")
        tag, vr, length, pos = _element_header(buf, pos, explicit)
        if tag in PIXEL_DATA_TAGS:
            out["_pixel_tag"] = tag
            out["_pixel_offset"] = pos
            out["_pixel_length"] = None if length == _UNDEFINED else length
            return out
        entry = WANTED.get(tag)
        if entry is not None and entry[1] is None:
            raise _Unsupported("functional groups or a modality LUT: pydicom reads those")
        if length == _UNDEFINED:
            # An undefined-length UN is a sequence encoded implicit VR (PS3.5 6.2.2).
            pos = _skip_undefined_sequence(buf, pos, explicit and vr != b"UN")
            continue
        if pos + length > n:
            if whole and tag not in PIXEL_DATA_TAGS:
                raise _Truncated()
            raise _Unsupported("element runs past the chunk")
        if entry is not None:
            raw = buf[pos:pos + length]
            if entry[1] is _US:
                if length < 2:
                    raise _Unsupported("short US")
                out[entry[0]] = struct.unpack_from("<H", raw)[0]
            else:
                out[entry[0]] = _text(raw)
        pos += length


def _element_header(buf: bytes, pos: int, explicit: bool):
    if pos + 8 > len(buf):
        raise _OffEnd()
    group, elem = struct.unpack_from("<HH", buf, pos)
    tag = (group << 16) | elem
    if group == 0xFFFE or not explicit:  # item tags never carry a VR
        (length,) = struct.unpack_from("<I", buf, pos + 4)
        return tag, None, length, pos + 8
    vr = buf[pos + 4:pos + 6]
    if vr in _LONG_VRS:
        if pos + 12 > len(buf):
            raise _OffEnd()
        (length,) = struct.unpack_from("<I", buf, pos + 8)
        return tag, vr, length, pos + 12
    if not (65 <= vr[0] <= 90 and 65 <= vr[1] <= 90):
        raise _Unsupported("not a VR")
    (length,) = struct.unpack_from("<H", buf, pos + 6)
    return tag, vr, length, pos + 8


def _skip_undefined_sequence(buf: bytes, pos: int, explicit: bool) -> int:
    """Position just after a sequence of undefined length that starts at ``pos``."""
    while True:
        tag, _, length, pos = _element_header(buf, pos, explicit)
        if tag == _SEQ_END:
            return pos
        if tag != _ITEM:
            raise _Unsupported("malformed sequence")
        if length != _UNDEFINED:
            pos += length
            continue
        while True:  # elements of an item of undefined length, up to the item delimiter
            tag, vr, length, pos = _element_header(buf, pos, explicit)
            if tag == _ITEM_END:
                break
            pos = (_skip_undefined_sequence(buf, pos, explicit and vr != b"UN")
                   if length == _UNDEFINED else pos + length)
        if pos > len(buf):
            raise _OffEnd()


def _text(raw: bytes) -> str:
    return raw.decode("latin-1").strip("\x00 ")


def pixel_position_after(handle, explicit: bool) -> tuple[int, int | None, int] | None:
    """Pixel Data ``(offset, length or None, tag)`` at ``handle``'s position, or None.

    pydicom's ``dcmread(..., stop_before_pixels=True)`` leaves a file object just before
    the Pixel Data element; this reads that element's header.
    """
    start = handle.tell()
    head = handle.read(12)
    if len(head) < 8:
        return None
    group, elem = struct.unpack_from("<HH", head)
    tag = (group << 16) | elem
    if tag not in PIXEL_DATA_TAGS:
        return None
    if explicit:
        if head[4:6] in _LONG_VRS and len(head) == 12:
            length, value = struct.unpack_from("<I", head, 8)[0], start + 12
        else:
            length, value = struct.unpack_from("<H", head, 6)[0], start + 8
    else:
        length, value = struct.unpack_from("<I", head, 4)[0], start + 8
    return value, (None if length == _UNDEFINED else length), tag
