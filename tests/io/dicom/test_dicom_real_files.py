"""Every file of pydicom-data and of pydicom's own test files: greyscale images load with
pydicom's pixel values after the modality transform; everything else is a clean InputError."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pydicom
import pytest
import SimpleITK as sitk
from pydicom.pixels import apply_modality_lut

from viewers.io import dicom
from viewers.io.errors import InputError


PYDICOM_TEST_FILES = Path(pydicom.data.__file__).resolve().parent / "test_files"


def _real_files() -> list[Path]:
    import data_store  # pydicom-data, the same folder as the pydicom_data_dir fixture

    # The folders get_testdata_files() searches, listed directly: that function also tries
    # to download missing files, and the tests run offline.
    store = Path(data_store.__file__).resolve().parent / "data"
    found = {p.resolve() for p in PYDICOM_TEST_FILES.rglob("*")}
    found |= {p.resolve() for p in store.rglob("*")}
    return sorted(p for p in found if p.is_file())


FILES = _real_files()

#: Files pydicom refuses that annotrace reads, and why that is right.
READ_DESPITE_PYDICOM = {
    # pydicom fails converting the IS value "1A" of an attribute the loader never uses.
    "badVR.dcm": "an invalid value in an attribute that is not needed to place the pixels",
}


SEG_CLASS = "1.2.840.10008.5.1.4.1.1.66.4"  # a segmentation holds pixels but is no image


def _is_colour(ds) -> bool:
    return int(ds.get("SamplesPerPixel", 1) or 1) != 1 or \
        not str(ds.get("PhotometricInterpretation", "MONOCHROME2")).startswith("MONOCHROME")


def _expected_frames(ds) -> np.ndarray:
    """pydicom's pixel_array after the modality transform, frame by frame, as float64.

    pydicom's apply_modality_lut reads the top-level Rescale attributes only; an enhanced
    multi-frame object keeps them in functional groups (PS3.3 C.7.6.16.2.9), so the per-frame
    (else shared) Pixel Value Transformation item is applied here.
    """
    arr = ds.pixel_array
    frames = arr.reshape((-1,) + arr.shape[-2:])
    shared = ds.get("SharedFunctionalGroupsSequence")
    per = ds.get("PerFrameFunctionalGroupsSequence")
    out = []
    for f, frame in enumerate(frames):
        pvt = None
        for group in ((per[f] if per else None), (shared[0] if shared else None)):
            if group is not None and group.get("PixelValueTransformationSequence"):
                pvt = group.PixelValueTransformationSequence[0]
                break
        if pvt is not None:
            out.append(frame * float(pvt.RescaleSlope) + float(pvt.RescaleIntercept))
        else:
            out.append(np.asarray(apply_modality_lut(frame, ds), dtype=np.float64))
    return np.stack(out)


def _match_frames(volume: np.ndarray, expected: np.ndarray) -> None:
    """Each slice equals a distinct frame (the loader orders frames by position)."""
    assert volume.shape == expected.shape
    unused = list(range(len(expected)))
    for k, slice_ in enumerate(volume.astype(np.float64)):
        hit = next((f for f in unused if np.allclose(slice_, expected[f], rtol=1e-6, atol=1e-6)),
                   None)
        assert hit is not None, f"slice {k} matches no frame of pydicom's pixel_array"
        unused.remove(hit)


@pytest.mark.parametrize("path", FILES, ids=[p.parent.name + "/" + p.name for p in FILES])
def test_real_file(path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            ds = pydicom.dcmread(path, force=True)
        except Exception:  # noqa: BLE001 - pydicom cannot parse it: we must refuse cleanly
            ds = None
        if ds is not None and str(ds.get("SOPClassUID", "")).startswith(SEG_CLASS):
            with pytest.raises(InputError, match="not an image: SEG") as err:
                dicom.read(path)
            assert err.value.exit_code == 2
            return
        if ds is not None and "PixelData" in ds and "Rows" in ds and _is_colour(ds):
            with pytest.raises(InputError, match="colour images .* not supported") as err:
                dicom.read(path)
            assert err.value.exit_code == 2 and str(path) in str(err.value)
            return
        try:
            expected = _expected_frames(ds) if ds is not None else None
        except Exception:  # noqa: BLE001 - pydicom cannot decode it
            expected = None
    if expected is None and path.name not in READ_DESPITE_PYDICOM:
        with pytest.raises(InputError) as err:
            dicom.read(path)
        message = str(err.value)
        assert err.value.exit_code == 2 and "\n" not in message and str(path) in message
        return
    volume = dicom.read(path)
    assert volume.array.ndim == 3 and volume.source_format == "dicom"
    if expected is not None:
        _match_frames(volume.array, expected)
        if volume.array.dtype.kind in "iu":
            np.testing.assert_array_equal(np.sort(volume.array, axis=None),
                                          np.sort(expected, axis=None))


def test_pydicom_refusals_are_the_known_broken_files():
    """The files pydicom cannot decode (so only a clean error is asked of us) are the ones
    that are not images or are deliberately broken; this pins the list so that a regression in
    the decoders cannot silently shrink the comparison above."""
    undecodable = set()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for path in FILES:
            if path.stat().st_size > 2_000_000:
                continue  # large files all decode (they are in the parametrised test)
            try:
                _expected_frames(pydicom.dcmread(path, force=True))
            except Exception:  # noqa: BLE001
                undecodable.add(path.name)
    broken = {"emri_small_jpeg_2k_lossless_too_short.dcm", "JPEG-lossy.dcm",
              "JPEG2000-embedded-sequence-delimiter.dcm", "MR_truncated.dcm", "badVR.dcm",
              "OT-PAL-8-face.dcm", "ExplVR_BigEndNoMeta.dcm", "ExplVR_LitEndNoMeta.dcm"}
    assert broken <= undecodable
    images_left_out = {n for n in undecodable - broken if n.endswith(".dcm")}
    for name in images_left_out:  # the rest hold no pixel data at all
        ds = pydicom.dcmread(next(p for p in FILES if p.name == name), force=True)
        assert "PixelData" not in ds or "Rows" not in ds, name


def test_enhanced_ct_frames_in_patient_space_agree_with_simpleitk(pydicom_data_dir):
    """eCT_Supplemental: two frames with per-frame positions and a shared rescale.

    SimpleITK keeps the frame order and a left-handed direction; annotrace orders slices
    along row x column. Both must put the same value at the same LPS point.
    """
    path = pydicom_data_dir / "eCT_Supplemental.dcm"
    volume = dicom.read(path)
    ref = sitk.ReadImage(str(path))
    assert np.linalg.det(volume.direction) == pytest.approx(1.0)
    ref_array = sitk.GetArrayFromImage(ref)
    for k in range(volume.shape[0]):
        for j, i in [(0, 0), (200, 311), (511, 7)]:
            lps = volume.index_to_lps([i, j, k])
            ri, rj, rk = ref.TransformPhysicalPointToIndex(tuple(lps))
            assert volume.array[k, j, i] == ref_array[rk, rj, ri]
    np.testing.assert_allclose(volume.spacing_mm, ref.GetSpacing(), atol=1e-4)
    assert volume.array.dtype == np.int16 and volume.modality == "CT"


def test_rt_dose_grid_frame_offsets_match_simpleitk():
    path = str(PYDICOM_TEST_FILES / "rtdose.dcm")
    volume, ref = dicom.read(path), sitk.ReadImage(path)
    assert volume.size_ijk == ref.GetSize()
    np.testing.assert_allclose(volume.spacing_mm, ref.GetSpacing(), atol=1e-4)
    np.testing.assert_allclose(volume.origin_lps, ref.GetOrigin(), atol=1e-4)
    np.testing.assert_allclose(volume.direction.ravel(), ref.GetDirection(), atol=1e-4)
    np.testing.assert_array_equal(volume.array, sitk.GetArrayFromImage(ref))


def test_modality_lut_sequence_is_applied(pydicom_data_dir):
    path = pydicom_data_dir / "mlut_18.dcm"
    ds = pydicom.dcmread(path)
    volume = dicom.read(path)
    np.testing.assert_array_equal(volume.array[0], apply_modality_lut(ds.pixel_array, ds))
    assert volume.array.dtype == apply_modality_lut(ds.pixel_array, ds).dtype


def test_monochrome1_real_file_keeps_values_and_flags_inversion(pydicom_data_dir):
    path = pydicom_data_dir / "RG1_UNCR.dcm"
    ds = pydicom.dcmread(path)
    assert ds.PhotometricInterpretation == "MONOCHROME1"
    volume = dicom.read(path)
    assert volume.display_inverted is True
    np.testing.assert_array_equal(volume.array[0], apply_modality_lut(ds.pixel_array, ds))
    other = dicom.read(PYDICOM_TEST_FILES / "CT_small.dcm")
    assert other.display_inverted is False
