"""Enhanced multi-frame objects: per-frame functional groups place and rescale each frame;
shared groups fill in what frames do not say. Classic series with per-slice rescale too."""

from __future__ import annotations

import numpy as np
import pydicom
import pytest
from dicom_factory import oblique_orientation, write_series
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import (EnhancedMRImageStorage, ExplicitVRLittleEndian, RLELossless,
                         generate_uid)

from viewers.io import dicom
from viewers.io.errors import InputError


def _item(**attrs) -> Sequence:
    ds = Dataset()
    for key, value in attrs.items():
        setattr(ds, key, value)
    return Sequence([ds])


def write_enhanced_mr(path, n=7, rows=12, cols=10, compress=None, seed=3):
    """An Enhanced MR object whose frames are stored out of position order, each with its own
    rescale intercept; orientation and pixel spacing only in the shared groups."""
    rng = np.random.default_rng(seed)
    iop = oblique_orientation(11.0, 4.0)
    normal = np.cross(iop[:3], iop[3:])
    origin = np.array([-30.0, 12.5, 7.0])
    order = rng.permutation(n)                  # frame f lies at position order[f]
    positions = [origin + 3.0 * order[f] * normal for f in range(n)]
    intercepts = [-1024 + 10 * f for f in range(n)]
    stored = rng.integers(0, 4096, size=(n, rows, cols)).astype(np.uint16)

    ds = Dataset()
    ds.SOPClassUID, ds.SOPInstanceUID = EnhancedMRImageStorage, generate_uid()
    ds.Modality, ds.SeriesInstanceUID, ds.StudyInstanceUID = "MR", generate_uid(), generate_uid()
    ds.FrameOfReferenceUID, ds.SeriesDescription = generate_uid(), "enhanced"
    ds.PatientName, ds.PatientID = "Roe^Rick", "PID-2"
    ds.NumberOfFrames, ds.Rows, ds.Columns = n, rows, cols
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
    shared = Dataset()
    shared.PixelMeasuresSequence = _item(PixelSpacing=[0.9, 1.1], SliceThickness=3.0)
    shared.PlaneOrientationSequence = _item(ImageOrientationPatient=[round(x, 8) for x in iop])
    ds.SharedFunctionalGroupsSequence = Sequence([shared])
    per = []
    for f in range(n):
        item = Dataset()
        item.PlanePositionSequence = _item(
            ImagePositionPatient=[round(float(x), 6) for x in positions[f]])
        item.PixelValueTransformationSequence = _item(
            RescaleIntercept=intercepts[f], RescaleSlope=1, RescaleType="US")
        per.append(item)
    ds.PerFrameFunctionalGroupsSequence = Sequence(per)
    ds.PixelData = stored.tobytes()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    if compress:
        ds.compress(compress, encoding_plugin="pydicom")
    ds.save_as(path, enforce_file_format=True)
    by_position = np.argsort(order)             # frame at position 0, 1, ...
    expected = (stored.astype(np.int32) + np.array(intercepts)[:, None, None])[by_position]
    return {"expected": expected, "origin": origin, "iop": iop, "normal": normal}


@pytest.mark.parametrize("compress", [None, RLELossless], ids=["native", "rle"])
def test_enhanced_mr_per_frame_position_and_rescale(tmp_path, compress):
    made = write_enhanced_mr(tmp_path / "emr.dcm", compress=compress)
    volume = dicom.read(tmp_path / "emr.dcm")
    assert volume.array.dtype == np.int16
    np.testing.assert_array_equal(volume.array, made["expected"])
    np.testing.assert_allclose(volume.origin_lps, made["origin"], atol=1e-5)
    np.testing.assert_allclose(volume.spacing_mm, [1.1, 0.9, 3.0], atol=1e-6)
    np.testing.assert_allclose(volume.direction[:, 0], made["iop"][:3], atol=1e-6)
    np.testing.assert_allclose(volume.direction[:, 2], made["normal"], atol=1e-6)
    assert volume.warnings == () and volume.modality == "MR"
    assert volume.patient.patient_id == "PID-2"
    (summary,) = dicom.scan(tmp_path)
    assert summary.num_images == 7 and summary.shape == (7, 12, 10)


def test_classic_series_with_per_slice_rescale(tmp_path):
    """Each slice's own slope/intercept applies (PET-style series rescale slice by slice)."""
    uid, study = generate_uid(), generate_uid()
    parts = []
    for k, (slope, intercept) in enumerate([(1, -1024), (2, 0), (1, 5), (3, -7)]):
        parts.append(write_series(tmp_path, n_slices=1, rows=6, cols=5, dtype=np.uint16,
                                  bits_stored=12, slope=slope, intercept=intercept,
                                  series_uid=uid, study_uid=study, name_prefix=f"s{k}",
                                  origin=(0.0, 0.0, 2.0 * k), seed=k))
    volume = dicom.read(tmp_path)
    expected = np.stack([p["stored"][0].astype(np.int64) * s + b for p, (s, b) in
                         zip(parts, [(1, -1024), (2, 0), (1, 5), (3, -7)])])
    np.testing.assert_array_equal(volume.array, expected)
    assert volume.array.dtype == np.int16   # 4095 * 3 - 7 and -1024 both fit


def test_non_integer_rescale_gives_float32(tmp_path):
    written = write_series(tmp_path, n_slices=3, dtype=np.uint16, bits_stored=12, slope=0.5,
                           intercept=-0.25, modality="MR", shuffle_names=False)
    volume = dicom.read(tmp_path)
    assert volume.array.dtype == np.float32
    np.testing.assert_array_equal(volume.array, written["stored"] * 0.5 - 0.25)


def test_multiframe_file_of_shared_positions_is_refused(tmp_path):
    """Two frames at one position (e.g. two echoes): not silently stacked."""
    path = tmp_path / "emr.dcm"
    write_enhanced_mr(path, n=3)
    ds = pydicom.dcmread(path)
    first = ds.PerFrameFunctionalGroupsSequence[0].PlanePositionSequence[0]
    ds.PerFrameFunctionalGroupsSequence[1].PlanePositionSequence[0].ImagePositionPatient = \
        first.ImagePositionPatient
    ds.save_as(path)
    with pytest.raises(InputError, match="slices share a position"):
        dicom.read(path)


def test_rescale_beyond_int64_gives_float32(tmp_path):
    written = write_series(tmp_path, n_slices=2, dtype=np.uint16, bits_stored=12, slope=1.0,
                           intercept=1e20, modality="MR", shuffle_names=False)
    volume = dicom.read(tmp_path)
    assert volume.array.dtype == np.float32
    np.testing.assert_array_equal(volume.array,
                                  (written["stored"] + 1e20).astype(np.float32))
