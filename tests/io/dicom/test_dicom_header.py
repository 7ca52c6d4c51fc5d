"""The fast header parser agrees with pydicom wherever it answers, and hands the rest over."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pydicom
import pytest
from dicom_factory import write_series
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from viewers.io import dicom
from viewers.io.dicom import header

PYDICOM_TEST_FILES = Path(pydicom.data.__file__).resolve().parent / "test_files"


def _files():
    import data_store

    store = Path(data_store.__file__).resolve().parent / "data"
    return sorted({p for p in [*PYDICOM_TEST_FILES.glob("*.dcm"), *store.glob("*.dcm")]})


def _pydicom_view(path):
    """pydicom's Pixel Data tag and value offset (it stops just before the Pixel Data tag)."""
    with warnings.catch_warnings(), open(path, "rb") as handle:
        warnings.simplefilter("ignore")
        ds = pydicom.dcmread(handle, stop_before_pixels=True)
        start = handle.tell()
        head = handle.read(4)
    tag = int.from_bytes(head[:2], "little") << 16 | int.from_bytes(head[2:4], "little")
    if tag not in header.PIXEL_DATA_TAGS:
        return ds, None, None
    implicit = ds.original_encoding[0]
    return ds, tag, start + (8 if implicit else 12)  # explicit: tag, OB/OW, 2 reserved, length


@pytest.mark.filterwarnings("ignore::UserWarning")  # pydicom on odd values in real files
def test_fast_parser_matches_pydicom_on_every_file_it_accepts():
    accepted = 0
    for path in _files():
        info = header.parse_fast(path)
        if info is None or info.get("_truncated"):
            continue
        ds, tag, offset = _pydicom_view(path)
        assert info.get("_pixel_tag") == tag, path.name
        assert info.get("_pixel_offset") == offset, path.name
        for keyword in ("SeriesInstanceUID", "Modality", "Rows", "Columns", "BitsAllocated",
                        "PixelRepresentation", "SOPClassUID"):
            if keyword in ds:
                assert str(info.get(keyword)) == str(ds[keyword].value), (path.name, keyword)
        if "ImagePositionPatient" in ds:
            got = [float(x) for x in info["ImagePositionPatient"].split("\\")]
            np.testing.assert_allclose(got, [float(x) for x in ds.ImagePositionPatient])
        accepted += 1
    assert accepted >= 60  # most real files take the fast path


def _nested_sequences(ds):
    inner = Dataset()
    inner.CodeValue, inner.CodingSchemeDesignator, inner.CodeMeaning = "T-D0050", "SRT", "x"
    item = Dataset()
    item.ReferencedSOPClassUID = ds.SOPClassUID
    item.ReferencedSOPInstanceUID = pydicom.uid.generate_uid()
    item.PurposeOfReferenceCodeSequence = Sequence([inner])
    ds.ReferencedImageSequence = Sequence([item, item])
    block = ds.private_block(0x0011, "ANNOTRACE TEST", create=True)
    block.add_new(0x10, "SQ", Sequence([inner]))
    return ds


@pytest.mark.parametrize("implicit", [False, True], ids=["explicit", "implicit"])
def test_nested_undefined_length_sequences(tmp_path, implicit):
    written = write_series(tmp_path, n_slices=3, shuffle_names=False)
    for path in written["paths"]:
        ds = _nested_sequences(pydicom.dcmread(path))
        if implicit:
            ds.file_meta.TransferSyntaxUID = pydicom.uid.ImplicitVRLittleEndian
        ds.save_as(path, implicit_vr=implicit, little_endian=True)
    info = header.parse_fast(written["paths"][0])
    _, tag, offset = _pydicom_view(written["paths"][0])
    assert info is not None and info["_pixel_offset"] == offset and info["_pixel_tag"] == tag
    np.testing.assert_array_equal(dicom.read(tmp_path).array, written["stored"])


def test_un_sequence_of_undefined_length(tmp_path):
    """A sequence stored as UN with undefined length: its items are implicit VR (PS3.5 6.2.2)."""
    written = write_series(tmp_path, n_slices=1)
    path = written["paths"][0]
    ds = pydicom.dcmread(path)
    implicit_item = (b"\xfe\xff\x00\xe0\xff\xff\xff\xff"                     # item, undefined
                     b"\x08\x00\x00\x01" + (6).to_bytes(4, "little") + b"CODE1 "
                     b"\x08\x00\x02\x01" + (4).to_bytes(4, "little") + b"SRT "
                     b"\xfe\xff\x0d\xe0\x00\x00\x00\x00")                     # item end
    block = ds.private_block(0x0011, "ANNOTRACE TEST", create=True)
    block.add_new(0x10, "UN", implicit_item)
    ds[0x00111010].is_undefined_length = True  # pydicom then ends it with a delimiter
    ds.save_as(path)
    raw = path.read_bytes()
    assert b"\x11\x00\x10\x10UN\x00\x00\xff\xff\xff\xff" in raw
    info = header.parse_fast(path)
    _, _, offset = _pydicom_view(path)
    assert info is not None and info["_pixel_offset"] == offset
    np.testing.assert_array_equal(dicom.read(path).array[0], written["stored"][0])
