"""NIfTI, NRRD and MHA read with the same geometry and voxels as SimpleITK."""

from __future__ import annotations

import gzip

import nibabel as nib
import numpy as np
import pytest
import SimpleITK as sitk

from viewers.io import InputError, read_volume, write_volume
from viewers.io.itk import to_sitk


def assert_same_as_sitk(volume, path, atol=1e-4):
    ref = sitk.ReadImage(str(path))
    assert volume.size_ijk == ref.GetSize()
    np.testing.assert_allclose(volume.spacing_mm, ref.GetSpacing(), atol=atol)
    np.testing.assert_allclose(volume.origin_lps, ref.GetOrigin(), atol=atol)
    np.testing.assert_allclose(volume.direction.ravel(), ref.GetDirection(), atol=atol)
    np.testing.assert_array_equal(volume.array, sitk.GetArrayFromImage(ref))


def oblique_ras_affine(spacing=(0.8, 1.1, 2.5)):
    a, b = np.deg2rad(17.0), np.deg2rad(-9.0)
    rz = np.array([[np.cos(a), -np.sin(a), 0], [np.sin(a), np.cos(a), 0], [0, 0, 1]])
    rx = np.array([[1, 0, 0], [0, np.cos(b), -np.sin(b)], [0, np.sin(b), np.cos(b)]])
    affine = np.eye(4)
    affine[:3, :3] = rz @ rx @ np.diag(spacing)
    affine[:3, 3] = [-31.5, 12.25, -70.0]
    return affine


def make_nifti(path, affine, qform: bool, sform: bool, dtype=np.int16):
    rng = np.random.default_rng(0)
    data = rng.integers(-1000, 3000, size=(9, 7, 5)).astype(dtype)  # (i, j, k)
    img = nib.Nifti1Image(data, affine)
    img.set_qform(affine if qform else None, code=1 if qform else 0)
    img.set_sform(affine if sform else None, code=1 if sform else 0)
    nib.save(img, str(path))
    return data


@pytest.mark.parametrize("qform,sform", [(True, False), (False, True), (True, True)],
                         ids=["qform-only", "sform-only", "both"])
@pytest.mark.parametrize("oblique", [False, True], ids=["axial", "oblique"])
def test_nifti_geometry_matches_simpleitk(tmp_path, qform, sform, oblique):
    affine = oblique_ras_affine() if oblique else np.diag([0.8, 1.1, 2.5, 1.0])
    if not oblique:
        affine[:3, 3] = [10, -20, 30]
    path = tmp_path / "img.nii.gz"
    data = make_nifti(path, affine, qform, sform)
    volume = read_volume(path)
    assert volume.array.dtype == np.int16, "int16 stays int16 (no float copy)"
    assert volume.array.shape == data.T.shape
    assert_same_as_sitk(volume, path)
    # The LPS affine is the RAS affine with x and y negated, once, at the reader.
    np.testing.assert_allclose(volume.affine_lps, np.diag([-1, -1, 1, 1]) @ affine, atol=1e-5)


def test_colin27_reads_like_simpleitk(colin_t1):
    volume = read_volume(colin_t1)
    assert volume.shape == (181, 217, 181)
    assert_same_as_sitk(volume, colin_t1)


@pytest.mark.parametrize("suffix", [".nii", ".nii.gz", ".nrrd", ".mha"])
def test_write_then_read_roundtrip_keeps_geometry(tmp_path, suffix):
    affine = np.diag([-1.0, -1.0, 1.0, 1.0]) @ oblique_ras_affine()
    from viewers.volume import Volume

    array = np.arange(5 * 7 * 9, dtype=np.int16).reshape(5, 7, 9) - 100
    volume = Volume(array, affine)
    out = tmp_path / f"out{suffix}"
    write_volume(volume, out)
    back = read_volume(out)
    np.testing.assert_array_equal(back.array, array)
    np.testing.assert_allclose(back.affine_lps, affine, atol=1e-5)
    assert_same_as_sitk(back, out)
    ref = to_sitk(volume)
    assert sitk.ReadImage(str(out)).GetSize() == ref.GetSize()


def test_truncated_gzip_is_a_clean_error(tmp_path, colin_t1):
    broken = tmp_path / "broken.nii.gz"
    broken.write_bytes(colin_t1.read_bytes()[:200_000])
    with pytest.raises(InputError) as err:
        read_volume(broken)
    assert str(broken) in str(err.value)
    assert "corrupt or truncated" in str(err.value) or "not a readable" in str(err.value)
    assert "\n" not in str(err.value)


def test_corrupt_gzip_stream_is_a_clean_error(tmp_path):
    bad = tmp_path / "bad.nii.gz"
    bad.write_bytes(gzip.compress(b"\x00" * 400)[:-12] + b"garbage!")
    with pytest.raises(InputError) as err:
        read_volume(bad)
    assert err.value.exit_code == 2
    assert str(bad) in str(err.value)


def test_4d_nifti_is_refused_with_reason(tmp_path):
    path = tmp_path / "fmri.nii.gz"
    nib.save(nib.Nifti1Image(np.zeros((4, 4, 4, 3), np.float32), np.eye(4)), str(path))
    with pytest.raises(InputError, match="4-D image"):
        read_volume(path)


def test_corrupt_mha_is_a_clean_error(tmp_path):
    bad = tmp_path / "bad.mha"
    bad.write_text("ObjectType = Image\nNDims = 3\nDimSize = 4 4 4\nElementType = MET_SHORT\n"
                   "ElementDataFile = LOCAL\n")
    with pytest.raises(InputError) as err:
        read_volume(bad)
    assert str(bad) in str(err.value) and "\n" not in str(err.value)


def test_unwritable_format_is_refused(tmp_path, colin_t1):
    with pytest.raises(InputError, match="unsupported output format"):
        write_volume(read_volume(colin_t1), tmp_path / "x.png")
