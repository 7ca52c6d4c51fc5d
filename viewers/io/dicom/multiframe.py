"""Frames of a file that pydicom indexed: enhanced multi-frame CT/MR and everything unusual.

An enhanced multi-frame object keeps each frame's geometry and rescale in functional groups
(PS3.3 C.7.6.16): a Per-frame Functional Groups item per frame, falling back to the Shared
Functional Groups item, falling back to the top-level attributes older objects use. RT Dose
places its frames with Grid Frame Offset Vector instead.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from viewers.io.dicom import header as hdr
from viewers.io.dicom.records import Frame

_GROUPS = {
    "ImagePositionPatient": "PlanePositionSequence",
    "ImageOrientationPatient": "PlaneOrientationSequence",
    "PixelSpacing": "PixelMeasuresSequence",
    "SliceThickness": "PixelMeasuresSequence",
    "RescaleSlope": "PixelValueTransformationSequence",
    "RescaleIntercept": "PixelValueTransformationSequence",
}


def _grouped(attr: str, groups):
    """``attr`` from the first functional group item (per-frame, then shared) that has it."""
    seq = _GROUPS[attr]
    for item in groups:
        items = item.get(seq) if item is not None else None
        if items and attr in items[0]:
            value = items[0][attr].value
            if value not in (None, ""):
                return value
    return None


def _floats(value, n=None):
    if value in (None, ""):
        return None
    values = tuple(float(v) for v in (value if isinstance(value, (list, tuple)) or
                                      hasattr(value, "__iter__") and not isinstance(value, str)
                                      else [value]))
    return values if n is None or len(values) == n else None


def transfer_syntax_of(ds) -> str:
    """The dataset's transfer syntax UID, inferred from its encoding when there is no meta."""
    meta = getattr(ds, "file_meta", None)
    ts = str(meta.get("TransferSyntaxUID", "")) if meta is not None else ""
    if ts:
        return ts
    implicit, little = ds.original_encoding
    if not little:
        return "1.2.840.10008.1.2.2"
    return hdr.IMPLICIT_LE if implicit else hdr.EXPLICIT_LE


def frames_from_dataset(path: Path, ds, where) -> list[Frame]:
    """One :class:`Frame` per frame of ``ds`` (read with ``stop_before_pixels``).

    ``where`` is the Pixel Data ``(offset, length, tag)`` when known, else None.
    """
    ts = transfer_syntax_of(ds)
    n = int(ds.get("NumberOfFrames", 1) or 1)
    rows, cols = int(ds.Rows), int(ds.Columns)
    samples = int(ds.get("SamplesPerPixel", 1) or 1)
    bits = int(ds.BitsAllocated)
    native = (where is not None and ts in hdr.NATIVE_LE and where[1] is not None
              and where[2] == hdr.PIXEL_DATA_TAGS[0] and bits % 8 == 0)
    frame_bytes = rows * cols * samples * bits // 8
    shared_seq = ds.get("SharedFunctionalGroupsSequence")
    shared = shared_seq[0] if shared_seq else None
    per = ds.get("PerFrameFunctionalGroupsSequence") or []
    top_pos = _floats(ds.get("ImagePositionPatient"), 3)
    top_ori = _floats(ds.get("ImageOrientationPatient"), 6)
    grid = _floats(ds.get("GridFrameOffsetVector")) if n > 1 else None
    normal = None
    if grid and top_pos and top_ori and len(grid) == n:
        normal = np.cross(top_ori[:3], top_ori[3:])
    modality_lut = _modality_lut(ds)
    frames = []
    for f in range(n):
        groups = (per[f] if f < len(per) else None, shared)
        position = _floats(_grouped("ImagePositionPatient", groups), 3)
        if position is None and n == 1:
            position = top_pos
        elif position is None and normal is not None:
            position = tuple(float(x) for x in np.asarray(top_pos) + grid[f] * normal)
        slope = _grouped("RescaleSlope", groups)
        intercept = _grouped("RescaleIntercept", groups)
        thickness = _grouped("SliceThickness", groups) or ds.get("SliceThickness")
        frames.append(Frame(
            path=path, frame=f, rows=rows, cols=cols, samples=samples,
            photometric=str(ds.get("PhotometricInterpretation") or "MONOCHROME2"),
            bits_allocated=bits, bits_stored=int(ds.get("BitsStored", bits) or bits),
            signed=int(ds.get("PixelRepresentation", 0) or 0) == 1,
            slope=float(slope if slope is not None else ds.get("RescaleSlope", 1.0) or 1.0),
            intercept=float(intercept if intercept is not None
                            else ds.get("RescaleIntercept", 0.0) or 0.0),
            position=position,
            orientation=_floats(_grouped("ImageOrientationPatient", groups), 6) or top_ori,
            pixel_spacing=_floats(_grouped("PixelSpacing", groups), 2)
            or _floats(ds.get("PixelSpacing"), 2),
            instance_number=int(ds.InstanceNumber) if ds.get("InstanceNumber") not in
            (None, "") else None,
            transfer_syntax=ts,
            pixel_offset=where[0] + f * frame_bytes if native else None,
            pixel_length=where[1] if where else None,
            slice_thickness=float(thickness) if thickness not in (None, "") else None,
            modality_lut=modality_lut,
            imager_spacing=_floats(ds.get("ImagerPixelSpacing"), 2),
            pixel_tag=where[2] if where else hdr.PIXEL_DATA_TAGS[0]))
    return frames


def _modality_lut(ds):
    """A small dataset holding the Modality LUT Sequence (PS3.3 C.11.1), or None.

    It keeps the file meta so that pydicom's ``apply_modality_lut`` knows the byte order
    of an OW LUT Data.
    """
    if not ds.get("ModalityLUTSequence"):
        return None
    from pydicom.dataset import Dataset

    lut = Dataset()
    lut.ModalityLUTSequence = ds.ModalityLUTSequence
    lut.file_meta = ds.file_meta
    lut.set_original_encoding(*ds.original_encoding, ds.original_character_set)
    return lut
