"""The external judges of exported SEGs: SimpleITK's series reader and dcmqi's converter."""

from __future__ import annotations

import json
import subprocess

import numpy as np
import SimpleITK as sitk
from export_common import tool


def series_reference(files) -> sitk.Image:
    """The source grid as SimpleITK/GDCM reads the series (independent of our geometry code)."""
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(reader.GetGDCMSeriesFileNames(str(files[0].parent)))
    return reader.Execute()


def mask_image(mask, affine) -> sitk.Image:
    """Our (k, j, i) mask as a SimpleITK image on our index->LPS affine."""
    img = sitk.GetImageFromArray(mask.astype(np.uint8))
    spacing = np.linalg.norm(affine[:3, :3], axis=0)
    img.SetSpacing(spacing.tolist())
    img.SetOrigin(affine[:3, 3].tolist())
    img.SetDirection((affine[:3, :3] / spacing).ravel().tolist())
    return img


def on(reference: sitk.Image, image: sitk.Image) -> np.ndarray:
    """``image`` sampled at the voxel centres of ``reference`` (nearest neighbour)."""
    return sitk.GetArrayFromImage(sitk.Resample(image, reference, sitk.Transform(),
                                                sitk.sitkNearestNeighbor, 0))


def dcmqi_segments(seg_path, out_dir) -> dict[str, sitk.Image]:
    """Run segimage2itkimage; return {segment label: binary image} as dcmqi wrote them."""
    out_dir.mkdir()
    result = subprocess.run([tool("segimage2itkimage"), "--inputDICOM", str(seg_path),
                             "--outputDirectory", str(out_dir), "--outputType", "nrrd"],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    meta = json.loads((out_dir / "meta.json").read_text())
    segments = {}
    for n, group in enumerate(meta["segmentAttributes"], start=1):
        image = sitk.ReadImage(str(out_dir / f"{n}.nrrd"))
        for attrs in group:
            segments[attrs["SegmentLabel"]] = sitk.Cast(image == attrs["labelID"], sitk.sitkUInt8)
    return segments


def assert_geometry_matches(image: sitk.Image, reference: sitk.Image) -> None:
    """Same axes and spacing, and the origin on a voxel centre of the reference grid."""
    np.testing.assert_allclose(image.GetDirection(), reference.GetDirection(), atol=1e-5)
    np.testing.assert_allclose(np.abs(image.GetSpacing()), reference.GetSpacing(), rtol=1e-5)
    index = reference.TransformPhysicalPointToContinuousIndex(image.GetOrigin())
    np.testing.assert_allclose(index, np.round(index), atol=1e-3)


def check_with_dcmqi(seg_path, reference, masks, affine, names, tmp_path):
    """dcmqi's label maps equal our masks voxel for voxel on the reference grid."""
    segments = dcmqi_segments(seg_path, tmp_path / "dcmqi")
    assert sorted(segments) == sorted(names)
    for name, mask in zip(names, masks):
        if reference.GetDirection() == segments[name].GetDirection():
            assert_geometry_matches(segments[name], reference)
        expected = on(reference, mask_image(mask, affine))
        assert expected.sum() == mask.sum()  # our mask lies wholly on the reference grid
        np.testing.assert_array_equal(on(reference, segments[name]), expected)
