"""The loaded grid is the grid exports write on: slice k of ``dicom.read`` is the stored frame
``compliance.export.geometry.source_grid`` names for k, with the same affine. A label drawn on
a loaded volume must land on the same frame when exported as DICOM SEG."""

from __future__ import annotations

import numpy as np
import pydicom
import pytest
from dicom_factory import oblique_orientation, write_series
from pydicom.pixels import apply_modality_lut

from compliance.export.geometry import source_grid
from viewers.io import dicom


def assert_same_grid(volume, datasets):
    grid = source_grid(datasets)
    assert grid.shape == volume.shape
    np.testing.assert_allclose(volume.affine_lps, grid.affine_lps, atol=1e-5)
    for k, (d, f) in enumerate(grid.frames):
        ds = datasets[d]
        frame = ds.pixel_array if int(ds.get("NumberOfFrames", 1) or 1) == 1 \
            else ds.pixel_array[f]
        if "PerFrameFunctionalGroupsSequence" in ds:  # rescale in the functional groups
            pvt = ds.PerFrameFunctionalGroupsSequence[f].get("PixelValueTransformationSequence") \
                or ds.SharedFunctionalGroupsSequence[0].PixelValueTransformationSequence
            expected = frame * float(pvt[0].RescaleSlope) + float(pvt[0].RescaleIntercept)
        else:
            expected = apply_modality_lut(frame, ds)
        np.testing.assert_array_equal(volume.array[k], expected)


@pytest.mark.parametrize("orientation", ["axial", "sagittal", "oblique"])
def test_generated_series_grid(tmp_path, orientation):
    iop = oblique_orientation() if orientation == "oblique" else orientation
    written = write_series(tmp_path, orientation=iop, descending=True, slice_step=-1.5,
                           dtype=np.uint16, bits_stored=12, intercept=-1024)
    assert_same_grid(dicom.read(tmp_path), [pydicom.dcmread(p) for p in written["paths"]])


def test_enhanced_ct_grid(pydicom_data_dir):
    path = pydicom_data_dir / "eCT_Supplemental.dcm"
    assert_same_grid(dicom.read(path), [pydicom.dcmread(path)])
