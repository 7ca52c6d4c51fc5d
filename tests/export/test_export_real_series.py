"""SEG export on a real multi-file DICOM series written by another tool (plastimatch).

The series is a crop of the Colin27 T1 (demo data) written by Debian's plastimatch; the mask is
the real brain extraction of the same subject (ch2bet), resampled onto the series by SimpleITK.
"""

from __future__ import annotations

import shutil
import subprocess

import nibabel as nib
import numpy as np
import pydicom
import pytest
import SimpleITK as sitk
from export_common import CONTENT_TIME, dciodvfy_errors
from export_judges import check_with_dcmqi, series_reference

from compliance.export.deid import deidentify
from compliance.export.dicom_seg import save_dataset, write_dicom_seg
from compliance.export.geometry import source_grid
from viewers.io.seg import read_dicom_seg
from viewers.volume import Volume

BRAIN = {"name": "Brain", "color": (250, 250, 225),
         "category": {"scheme": "SCT", "value": "123037004", "meaning": "Anatomical Structure"},
         "type": {"scheme": "SCT", "value": "12738006", "meaning": "Brain"},
         "algorithm_type": "AUTOMATIC", "model_name": "deepbet", "model_version": "1.0.2"}
CROP = (slice(5, 55), slice(80, 130), slice(70, 86))  # nibabel (i, j, k) of ch2


@pytest.fixture(scope="module")
def colin_series(tmp_path_factory, colin_t1, colin_brain):
    plastimatch = shutil.which("plastimatch")
    if plastimatch is None:
        pytest.fail("plastimatch is not installed (scripts/bootstrap.sh installs it)")
    root = tmp_path_factory.mktemp("colin")
    for name, src in (("t1", colin_t1), ("bet", colin_brain)):
        img = nib.load(src).slicer[CROP]
        nib.save(nib.Nifti1Image(np.asarray(img.dataobj).astype(np.int16), img.affine),
                 root / f"{name}.nii.gz")
    subprocess.run([plastimatch, "convert", "--input", str(root / "t1.nii.gz"),
                    "--output-dicom", str(root / "dicom"), "--patient-name", "Quixote^Alonso",
                    "--patient-id", "PID-7734921"], check=True, capture_output=True, timeout=120)
    files = sorted((root / "dicom").glob("*.dcm"))
    reference = series_reference(files)
    bet = sitk.ReadImage(str(root / "bet.nii.gz"))
    brain = sitk.Resample(bet, reference, sitk.Transform(), sitk.sitkNearestNeighbor, 0)
    return files, reference, sitk.GetArrayFromImage(brain) > 0


def test_real_brain_mask_on_a_plastimatch_series(tmp_path, colin_series):
    files, reference, brain = colin_series
    datasets = [pydicom.dcmread(p) for p in files]
    grid = source_grid(datasets)
    np.testing.assert_allclose(grid.affine_lps[:3, 3], reference.GetOrigin(), atol=1e-3)
    assert grid.shape == brain.shape and 0 < brain.sum() < brain.size
    path = tmp_path / "brain.seg.dcm"
    write_dicom_seg(path, datasets, [brain], [BRAIN], content_creator="Cuddy^Lisa",
                    content_datetime=CONTENT_TIME)
    assert dciodvfy_errors(path) == []
    check_with_dcmqi(path, reference, brain[np.newaxis], grid.affine_lps, ["Brain"], tmp_path)
    volume = Volume.from_geometry(sitk.GetArrayFromImage(reference), reference.GetOrigin(),
                                  reference.GetSpacing(), reference.GetDirection())
    imported = read_dicom_seg(path, reference=volume)
    np.testing.assert_array_equal(imported.masks()[0], brain)
    assert imported.records[0]["algorithm_name"] == "deepbet"


def test_deidentified_plastimatch_series_keeps_no_identity(tmp_path, colin_series):
    files, _, _ = colin_series
    key = b"another-export-key-0123456789abc"
    for n, path in enumerate(files):
        original = pydicom.dcmread(path)
        out = save_dataset(deidentify(original, key), tmp_path / f"{n}.dcm")
        data = out.read_bytes()
        for value in ("Quixote", "PID-7734921", original.SOPInstanceUID,
                      original.StudyInstanceUID, original.SeriesInstanceUID):
            assert value.encode() not in data
        if original.get("StudyDate"):
            assert original.StudyDate.encode() not in data
