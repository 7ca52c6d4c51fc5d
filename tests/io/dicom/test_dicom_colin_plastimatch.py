"""Colin27 written as a real multi-file DICOM series by plastimatch (Debian) loads with the
geometry and values SimpleITK reads from that series, and with ch2.nii.gz's geometry."""

from __future__ import annotations

import shutil
import subprocess

import numpy as np
import pytest
import SimpleITK as sitk

from viewers.io import dicom


@pytest.fixture(scope="session")
def colin_dicom(tmp_path_factory, colin_t1):
    assert shutil.which("plastimatch"), "plastimatch (Debian package) is part of the test setup"
    out = tmp_path_factory.mktemp("colin_dicom")
    subprocess.run(["plastimatch", "convert", "--input", str(colin_t1), "--output-dicom",
                    str(out)], check=True, capture_output=True, timeout=120)
    return out


def test_plastimatch_series_matches_simpleitk_series(colin_dicom):
    volume = dicom.read(colin_dicom)
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(sitk.ImageSeriesReader.GetGDCMSeriesFileNames(str(colin_dicom)))
    ref = reader.Execute()
    assert volume.size_ijk == ref.GetSize() == (181, 217, 181)
    np.testing.assert_allclose(volume.spacing_mm, ref.GetSpacing(), atol=1e-4)
    np.testing.assert_allclose(volume.origin_lps, ref.GetOrigin(), atol=1e-4)
    np.testing.assert_allclose(volume.direction.ravel(), ref.GetDirection(), atol=1e-4)
    np.testing.assert_array_equal(volume.array, sitk.GetArrayFromImage(ref))
    assert volume.warnings == ()


def test_plastimatch_series_matches_the_nifti(colin_dicom, colin_t1):
    volume = dicom.read(colin_dicom)
    nifti = sitk.ReadImage(str(colin_t1))
    assert volume.size_ijk == nifti.GetSize()
    np.testing.assert_allclose(volume.spacing_mm, nifti.GetSpacing(), atol=1e-4)
    np.testing.assert_allclose(volume.origin_lps, nifti.GetOrigin(), atol=1e-4)
    np.testing.assert_allclose(volume.direction.ravel(), nifti.GetDirection(), atol=1e-4)
    np.testing.assert_array_equal(volume.array, sitk.GetArrayFromImage(nifti))


def test_plastimatch_series_scans_as_one_series(colin_dicom):
    (summary,) = dicom.scan(colin_dicom)
    assert summary.num_images == 181 and summary.shape == (181, 217, 181)
    assert summary.warnings == []
