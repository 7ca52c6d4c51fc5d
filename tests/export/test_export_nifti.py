"""NIfTI label-map export: geometry (LPS -> RAS once), label table, anonymous header."""

from __future__ import annotations

import json

import nibabel as nib
import numpy as np
import pytest
import SimpleITK as sitk
from export_common import LIVER, TUMOUR

from compliance.export.errors import ExportError
from compliance.export.nifti import write_label_nifti


def _sitk_affine(image) -> np.ndarray:
    """index->LPS affine of a SimpleITK image (SimpleITK reads NIfTI into LPS itself)."""
    d = np.array(image.GetDirection()).reshape(3, 3) * np.array(image.GetSpacing())
    affine = np.eye(4)
    affine[:3, :3], affine[:3, 3] = d, image.GetOrigin()
    return affine


def test_brain_mask_export_keeps_the_geometry_of_the_real_source(tmp_path, colin_brain):
    source = sitk.ReadImage(str(colin_brain))
    brain = sitk.GetArrayFromImage(source) > 0  # (k, j, i)
    affine = _sitk_affine(source)
    out = tmp_path / "brain.nii.gz"
    write_label_nifti(out, [brain], affine, [dict(LIVER, name="Brain")])
    written = sitk.ReadImage(str(out))
    np.testing.assert_allclose(_sitk_affine(written), affine, atol=1e-4)
    np.testing.assert_array_equal(sitk.GetArrayFromImage(written), brain.astype(np.uint8))
    # nibabel sees RAS: the same voxel (0, 0, 0) lands at the RAS mirror of the LPS origin.
    img = nib.load(out)
    np.testing.assert_allclose(img.affine[:3, 3], affine[:3, 3] * [-1, -1, 1], atol=1e-4)
    assert img.get_data_dtype() == np.uint8


def test_header_has_no_identifying_text_and_table_describes_segments(tmp_path):
    masks = np.zeros((2, 3, 4, 5), bool)
    masks[0, 0, 1:3, 1:3] = True
    masks[1, 2, 0, 0] = True  # no overlap: one file, values 1 and 2
    paths = write_label_nifti(tmp_path / "case7.nii.gz", masks, np.eye(4),
                              [LIVER, TUMOUR])
    assert [p.name for p in paths] == ["case7.nii.gz", "case7.json"]
    header = nib.load(paths[0]).header
    for key in ("descrip", "aux_file", "intent_name", "db_name"):
        assert bytes(header[key]).strip(b"\0") == b""
    raw = nib.load(paths[0]).get_fdata()
    assert set(np.unique(raw)) == {0, 1, 2}
    table = json.loads(paths[1].read_text())
    assert [(s["file"], s["label_value"], s["name"]) for s in table["segments"]] == [
        ("case7.nii.gz", 1, "Liver"), ("case7.nii.gz", 2, "Tumour")]
    assert table["segments"][1]["algorithm_name"] == "liver_tumour_unet"
    assert table["segments"][1]["algorithm_version"] == "2.1.0"


def test_bad_nifti_exports_raise(tmp_path):
    with pytest.raises(ExportError, match="must end in .nii"):
        write_label_nifti(tmp_path / "x.nrrd", np.zeros((1, 2, 2, 2), bool), np.eye(4), [LIVER])
    with pytest.raises(ExportError, match="output folder does not exist"):
        write_label_nifti(tmp_path / "no" / "x.nii", np.zeros((1, 2, 2, 2), bool), np.eye(4),
                          [LIVER])
    with pytest.raises(ExportError, match="1 masks but 2"):
        write_label_nifti(tmp_path / "x.nii", np.zeros((1, 2, 2, 2), bool), np.eye(4),
                          [LIVER, TUMOUR])
