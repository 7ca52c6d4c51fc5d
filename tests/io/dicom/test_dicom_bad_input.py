"""Bad DICOM input gives one line naming the file and the reason (exit code 2); what looks
wrong but loads is reported in ``Volume.warnings``, never silently fixed."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pydicom
import pytest
from dicom_factory import base_dataset, write_series
from pydicom.uid import RLELossless

from viewers.io import dicom
from viewers.io.errors import InputError, MultipleSeriesError

PYDICOM_TEST_FILES = Path(pydicom.data.__file__).resolve().parent / "test_files"


def refused(path, **kwargs) -> InputError:
    with pytest.raises(InputError) as err:
        dicom.read(path, **kwargs)
    assert err.value.exit_code == 2
    assert "\n" not in str(err.value)
    return err.value


def truncate(path: Path, keep: int) -> None:
    data = path.read_bytes()
    path.write_bytes(data[:keep] if keep >= 0 else data[:len(data) + keep])


def test_empty_folder(tmp_path):
    err = refused(tmp_path)
    assert str(err) == f"{tmp_path}: empty folder: no files"


def test_missing_path(tmp_path):
    err = refused(tmp_path / "nope")
    assert str(err) == f"{tmp_path / 'nope'}: no such file or directory"


def test_non_dicom_files_mixed_in_are_ignored_with_a_warning(tmp_path):
    write_series(tmp_path, n_slices=4)
    (tmp_path / "README.txt").write_text("scanner export\n")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "thumbs.db").write_bytes(b"\x00" * 300)
    volume = dicom.read(tmp_path)
    assert volume.shape[0] == 4
    assert "ignored 2 non-DICOM file(s): README.txt, thumbs.db" in volume.warnings


def test_only_non_dicom_files(tmp_path):
    (tmp_path / "a.txt").write_text("x")
    (tmp_path / "b.png").write_bytes(b"\x89PNG" + b"\x00" * 200)
    assert str(refused(tmp_path)) == f"{tmp_path}: no DICOM images among 2 files"
    assert str(refused(tmp_path / "a.txt")) == f"{tmp_path / 'a.txt'}: not a DICOM file"


def test_truncated_pixel_data_single_file(tmp_path):
    path = write_series(tmp_path, n_slices=1)["paths"][0]
    truncate(path, -100)
    err = refused(path)
    assert str(err) == f"{path}: truncated file: pixel data has 2460 of 2560 bytes"


@pytest.mark.parametrize("keep", [140, 400])
def test_truncated_header(tmp_path, keep):
    path = write_series(tmp_path, n_slices=1)["paths"][0]
    truncate(path, keep)
    err = refused(path)
    assert err.path == str(path) and "truncated or corrupt DICOM file" in err.reason


def test_garbage_after_the_preamble(tmp_path):
    path = tmp_path / "garbage.dcm"
    path.write_bytes(b"\x00" * 128 + b"DICM" + bytes(range(256)) * 8)
    err = refused(path)
    assert err.path == str(path) and "corrupt" in err.reason


def test_dicom_without_pixel_data(tmp_path):
    ds = base_dataset()
    ds.SOPInstanceUID = pydicom.uid.generate_uid()
    path = tmp_path / "header_only.dcm"
    ds.save_as(path, implicit_vr=False, little_endian=True)
    assert str(refused(path)) == f"{path}: not an image: no pixel data"


def test_two_slices_of_different_sizes(tmp_path):
    uid = pydicom.uid.generate_uid()
    write_series(tmp_path, n_slices=1, rows=32, cols=40, series_uid=uid, name_prefix="a")
    write_series(tmp_path, n_slices=1, rows=20, cols=30, series_uid=uid, name_prefix="b",
                 origin=(-20.0, -15.0, 40.0))
    err = refused(tmp_path)
    assert str(err) == (f"{tmp_path}: mixed image sizes in one series "
                        "(rows x columns 32x40: aIM0000.dcm; 20x30: bIM0000.dcm)")


def test_mixed_orientations(tmp_path):
    uid = pydicom.uid.generate_uid()
    write_series(tmp_path, n_slices=3, series_uid=uid, name_prefix="ax")
    write_series(tmp_path, n_slices=1, series_uid=uid, orientation="coronal", name_prefix="cor")
    err = refused(tmp_path)
    assert "mixed slice orientations in one series: corIM0000.dcm differ from" in str(err)


def test_several_volumes_at_the_same_positions(tmp_path):
    uid = pydicom.uid.generate_uid()
    write_series(tmp_path, n_slices=3, series_uid=uid, name_prefix="echo1_")
    write_series(tmp_path, n_slices=3, series_uid=uid, name_prefix="echo2_")
    assert "slices share a position" in refused(tmp_path).reason


@pytest.mark.parametrize("syntax", [None, RLELossless], ids=["native", "rle"])
def test_one_corrupt_slice_is_named_and_skip_bad_loads_the_rest(tmp_path, syntax):
    kwargs = {"transfer_syntax": syntax} if syntax else {}
    written = write_series(tmp_path, n_slices=12, shuffle_names=False, **kwargs)
    bad = written["paths"][5]  # slice 5 in position order
    truncate(bad, -60)
    err = refused(tmp_path)
    assert err.path == str(bad)
    assert "truncated" in err.reason or "cannot decode" in err.reason
    volume = dicom.read(tmp_path, skip_bad=True)
    assert volume.shape == (11, 32, 40)
    expected = np.delete(written["stored"], 5, axis=0)
    np.testing.assert_array_equal(volume.array, expected)
    assert any(w.startswith(f"skipped 1 unreadable slice(s) (--skip-bad): {bad.name}")
               for w in volume.warnings)
    assert any(w.startswith("missing slices: 1 gap(s)") for w in volume.warnings)


def test_corrupt_header_among_good_slices(tmp_path):
    written = write_series(tmp_path, n_slices=5, shuffle_names=False)
    bad = written["paths"][2]
    bad.write_bytes(bad.read_bytes()[:300])
    err = refused(tmp_path)
    assert err.path == str(bad) and "truncated or corrupt DICOM file" in err.reason
    volume = dicom.read(tmp_path, skip_bad=True)
    assert volume.shape[0] == 4
    assert f"skipped 1 corrupt file(s) (--skip-bad): {bad.name}" in volume.warnings


def test_missing_slice_is_reported_not_filled(tmp_path):
    written = write_series(tmp_path, n_slices=10, shuffle_names=False, slice_step=3.0)
    written["paths"][4].unlink()
    volume = dicom.read(tmp_path)
    assert volume.shape[0] == 9
    assert volume.warnings == ("missing slices: 1 gap(s) wider than the typical 3 mm spacing, "
                               "after slice 3 (6 mm); the volume uses the mean spacing 3.375 mm",)


def test_uneven_spacing_is_reported(tmp_path):
    z = [0.0, 2.0, 4.0, 6.5, 8.5, 10.5]
    write_series(tmp_path, positions=[(0.0, 0.0, v) for v in z])
    (warning,) = dicom.read(tmp_path).warnings
    assert warning == ("uneven slice spacing: gaps from 2 to 2.5 mm; the volume uses the "
                       "mean spacing 2.1 mm")


def test_gantry_tilt_is_reported(tmp_path):
    tilt = np.radians(15.0)
    positions = [(0.0, -k * 2.0 * np.tan(tilt), 2.0 * k) for k in range(8)]
    write_series(tmp_path, positions=positions)
    volume = dicom.read(tmp_path)
    (warning,) = volume.warnings
    assert warning.startswith("gantry tilt of 15.00 degrees: slice positions are sheared up to "
                              "3.75 mm off the slice normal")
    np.testing.assert_allclose(volume.spacing_mm[2], 2.0)


def test_several_series_need_a_choice(tmp_path):
    a = write_series(tmp_path / "a", n_slices=3)
    b = write_series(tmp_path / "b", n_slices=4, modality="MR")
    with pytest.raises(MultipleSeriesError) as err:
        dicom.read(tmp_path)
    assert err.value.exit_code == 2 and "\n" not in str(err.value)
    assert {s.series_uid for s in err.value.series} == {a["series_uid"], b["series_uid"]}
    assert f"{b['series_uid']} (MR, test series, 4 images)" in str(err.value)
    assert dicom.read(tmp_path, series_uid=b["series_uid"]).shape == (4, 32, 40)
    err2 = refused(tmp_path, series_uid="1.2.3")
    assert err2.reason.startswith("no image series 1.2.3 here (it holds: ")


def test_seg_and_sr_in_a_folder_are_reported_as_non_image(tmp_path, pydicom_data_dir):
    written = write_series(tmp_path / "ct", n_slices=4)
    shutil.copy(pydicom_data_dir / "liver.dcm", tmp_path / "seg.dcm")
    shutil.copy(PYDICOM_TEST_FILES / "test-SR.dcm", tmp_path / "report.dcm")
    summaries = {s.series_uid: s for s in dicom.scan(tmp_path)}
    seg_uid = str(pydicom.dcmread(pydicom_data_dir / "liver.dcm").SeriesInstanceUID)
    sr_uid = str(pydicom.dcmread(PYDICOM_TEST_FILES / "test-SR.dcm").SeriesInstanceUID)
    assert summaries[seg_uid].modality == "SEG"
    assert summaries[seg_uid].warnings == ["not an image: SEG"]
    assert summaries[sr_uid].modality == "SR"
    assert summaries[sr_uid].warnings == ["not an image: SR"]
    ct = summaries[written["series_uid"]]
    assert (ct.modality, ct.num_images, ct.shape, ct.warnings) == ("CT", 4, (4, 32, 40), [])
    volume = dicom.read(tmp_path)
    assert volume.series_uid == written["series_uid"]
    assert "ignored non-image DICOM objects: 1 SEG, 1 SR" in volume.warnings
    shutil.rmtree(tmp_path / "ct")
    assert str(refused(tmp_path)) == (f"{tmp_path}: no images here, only non-image DICOM "
                                      "objects (SEG, SR)")


def test_is_dicom_file(tmp_path):
    written = write_series(tmp_path, n_slices=1)
    (tmp_path / "x.txt").write_text("hello")
    assert dicom.is_dicom_file(written["paths"][0])
    assert dicom.is_dicom_file(PYDICOM_TEST_FILES / "no_meta_group_length.dcm")  # no preamble
    assert not dicom.is_dicom_file(tmp_path / "x.txt")
    assert not dicom.is_dicom_file(tmp_path)


def test_scan_reads_no_pixels(tmp_path):
    """scan works from headers alone: a series whose pixel data is cut off still scans."""
    written = write_series(tmp_path, n_slices=3)
    for path in written["paths"]:
        truncate(path, -2000)
    (summary,) = dicom.scan(tmp_path)
    assert (summary.num_images, summary.shape) == (3, (3, 32, 40))


def test_dicomdir_is_passed_over_in_a_folder_and_explained_alone():
    folder = PYDICOM_TEST_FILES / "dicomdirtests"
    summaries = dicom.scan(folder)
    assert all("DICOMDIR" not in " ".join(s.warnings) for s in summaries)
    assert sum(s.modality == "CT" for s in summaries) >= 2
    err = refused(folder / "DICOMDIR")
    assert err.reason == "a DICOMDIR (an index of the files on a medium): read its folder instead"


def test_projection_image_uses_imager_pixel_spacing_and_says_so(tmp_path):
    """CR/DX images carry ImagerPixelSpacing (at the detector) and no PixelSpacing."""
    path = write_series(tmp_path, n_slices=1, spacing=(0.5, 0.5), modality="MR")["paths"][0]
    ds = pydicom.dcmread(path)
    del ds.PixelSpacing, ds.ImagePositionPatient, ds.ImageOrientationPatient
    ds.ImagerPixelSpacing = [0.139, 0.143]
    ds.save_as(path)
    volume = dicom.read(path)
    np.testing.assert_allclose(volume.spacing_mm[:2], [0.143, 0.139])
    assert "no PixelSpacing: ImagerPixelSpacing used (measured at the detector, not in the " \
           "patient)" in volume.warnings
