"""Generated series read by annotrace and by SimpleITK agree (size, spacing, origin, direction,
voxel values), whatever the orientation, file order, slice order, sign, rescale or compression."""

from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk
from dicom_factory import oblique_orientation, write_series
from pydicom.uid import JPEG2000Lossless, JPEGLSLossless, RLELossless

from viewers.io import dicom


def sitk_series(folder) -> sitk.Image:
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(sitk.ImageSeriesReader.GetGDCMSeriesFileNames(str(folder)))
    return reader.Execute()


def assert_same_as_sitk(volume, folder, exact=True):
    ref = sitk_series(folder)
    assert volume.size_ijk == ref.GetSize()
    np.testing.assert_allclose(volume.spacing_mm, ref.GetSpacing(), atol=1e-4)
    np.testing.assert_allclose(volume.origin_lps, ref.GetOrigin(), atol=1e-4)
    np.testing.assert_allclose(volume.direction.ravel(), ref.GetDirection(), atol=1e-4)
    expected = sitk.GetArrayFromImage(ref)
    if exact:
        np.testing.assert_array_equal(volume.array, expected)
    else:
        np.testing.assert_allclose(volume.array, expected, rtol=1e-6, atol=1e-4)


ORIENTS = ["axial", "sagittal", "coronal", "oblique"]


@pytest.mark.parametrize("orientation", ORIENTS)
@pytest.mark.parametrize("descending", [False, True], ids=["ascending", "descending"])
def test_orientation_and_order_match_simpleitk(tmp_path, orientation, descending):
    iop = oblique_orientation() if orientation == "oblique" else orientation
    # Descending: InstanceNumber runs against the normal and the first file written is the
    # highest slice, as head-first axial CTs are often numbered.
    written = write_series(tmp_path, orientation=iop, descending=descending,
                           slice_step=-2.5 if descending else 2.5, seed=len(orientation))
    volume = dicom.read(tmp_path)
    assert_same_as_sitk(volume, tmp_path)
    assert volume.warnings == ()
    # Ascending along the normal: slice 0 is the lowest position.
    normal = written["normal"]
    lowest = min(written["positions"], key=lambda p: np.dot(p, normal))
    np.testing.assert_allclose(volume.origin_lps, lowest, atol=1e-5)
    np.testing.assert_allclose(volume.spacing_mm, [0.7, 0.8, 2.5], atol=1e-6)


def test_pixel_spacing_is_row_then_column(tmp_path):
    """PixelSpacing [row spacing, column spacing] = [j, i]; swapping them is a classic bug."""
    write_series(tmp_path, rows=20, cols=30, spacing=(0.5, 1.25))
    volume = dicom.read(tmp_path)
    np.testing.assert_allclose(volume.spacing_mm[:2], [1.25, 0.5])
    np.testing.assert_allclose(volume.index_to_lps([1, 0, 0]) - volume.origin_lps,
                               [1.25, 0, 0], atol=1e-9)


@pytest.mark.parametrize("dtype,bits,slope,intercept,expected_dtype", [
    (np.int16, 16, 1.0, 0.0, np.int16),           # signed CT, no rescale
    (np.uint16, 12, 1.0, -1024.0, np.int16),      # Siemens-style CT: stays 16-bit
    (np.int16, 16, 1.0, -1024.0, np.int16),       # signed 16-bit CT with intercept, values fit
    (np.uint16, 16, 1.0, 0.0, np.uint16),         # unsigned MR
    (np.uint16, 16, 1.0, -1024.0, np.int32),      # full 16-bit range shifted: needs 32 bits
    (np.uint8, 8, 2.0, 3.0, np.uint16),           # integer slope widens
    (np.uint16, 12, 0.25, -10.5, np.float32),     # non-integer: float32
    (np.int16, 12, -1.0, 100.0, np.int16),        # negative slope
], ids=["int16", "u12-1024", "s16-1024", "uint16", "u16-1024", "u8x2", "float", "negslope"])
def test_rescale_signed_unsigned_match_simpleitk(tmp_path, dtype, bits, slope, intercept,
                                                 expected_dtype):
    rng = np.random.default_rng(5)
    values = None
    if (dtype, bits, intercept) == (np.int16, 16, -1024.0):
        # A real CT range: rescaled values fit int16 although the headers allow overflow.
        values = rng.integers(-1000, 3000, (12, 32, 40)).astype(np.int16)
    write_series(tmp_path, dtype=dtype, bits_stored=bits, slope=slope, intercept=intercept,
                 values=values)
    volume = dicom.read(tmp_path)
    assert volume.array.dtype == expected_dtype
    assert_same_as_sitk(volume, tmp_path, exact=expected_dtype != np.float32)


def test_full_range_uint16_keeps_extremes(tmp_path):
    values = np.zeros((3, 4, 5), np.uint16)
    values[0, 0, 0], values[2, 3, 4] = 65535, 1
    write_series(tmp_path, n_slices=3, rows=4, cols=5, dtype=np.uint16, intercept=-1024,
                 values=values, shuffle_names=False)
    array = dicom.read(tmp_path).array
    assert array[0, 0, 0] == 65535 - 1024 and array[2, 3, 4] == 1 - 1024


def test_unused_high_bits_are_ignored(tmp_path):
    """Bits above BitsStored (old overlays) are not pixel value, as pydicom and GDCM agree."""
    values = np.full((4, 6, 7), 0x0ABC, np.uint16)
    values |= 0xF000  # junk in the 4 unused bits
    write_series(tmp_path, n_slices=4, rows=6, cols=7, dtype=np.uint16, bits_stored=12,
                 values=values, modality="MR")
    assert np.all(dicom.read(tmp_path).array == 0x0ABC)


def test_monochrome1_keeps_values_and_flags_inversion(tmp_path):
    written = write_series(tmp_path, photometric="MONOCHROME1", dtype=np.uint16, bits_stored=12,
                           modality="MR")
    volume = dicom.read(tmp_path)
    assert volume.display_inverted is True
    np.testing.assert_array_equal(volume.array, written["stored"])


@pytest.mark.parametrize("syntax", [RLELossless, JPEGLSLossless, JPEG2000Lossless],
                         ids=["rle", "jpegls", "j2k"])
def test_compressed_series_match_simpleitk(tmp_path, syntax):
    written = write_series(tmp_path, dtype=np.int16, bits_stored=16, intercept=-1024,
                           transfer_syntax=syntax,
                           values=np.random.default_rng(2).integers(-1000, 3000, (12, 32, 40))
                           .astype(np.int16))
    volume = dicom.read(tmp_path)
    assert_same_as_sitk(volume, tmp_path)
    normal = written["normal"]
    order = np.argsort([np.dot(p, normal) for p in written["positions"]])
    np.testing.assert_array_equal(volume.array, written["stored"][order] - 1024)


def test_progress_reports_each_slice_into_the_destination(tmp_path):
    written = write_series(tmp_path, dtype=np.uint16, bits_stored=12, intercept=-1024)
    calls = []

    def progress(done, total, array):
        calls.append((done, total, array.shape, int(array[0, 0, 0]) if done == 1 else None))

    volume = dicom.read(tmp_path, progress=progress)
    assert [c[0] for c in calls[:12]] == list(range(1, 13)) and calls[-1][:2] == (12, 12)
    assert all(c[2] == (12, 32, 40) for c in calls)
    assert calls[0][3] == int(written["stored"][0, 0, 0]) - 1024 == volume.array[0, 0, 0]


def test_one_file_reads_as_one_slice(tmp_path):
    written = write_series(tmp_path, n_slices=3, shuffle_names=False)
    volume = dicom.read(written["paths"][1])
    assert volume.shape == (1, 32, 40)
    np.testing.assert_array_equal(volume.array[0], written["stored"][1])
    np.testing.assert_allclose(volume.origin_lps, written["positions"][1])


def test_patient_info_kept_apart(tmp_path):
    write_series(tmp_path, n_slices=2)
    volume = dicom.read(tmp_path)
    assert volume.patient.name == "Doe^Jane" and volume.patient.patient_id == "PID-12345"
    assert "Doe" not in repr(volume) and "PID" not in repr(volume.patient)
    assert volume.modality == "CT" and volume.description == "test series"
    assert volume.series_uid and volume.study_uid and volume.frame_of_reference_uid
