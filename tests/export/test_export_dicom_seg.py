"""DICOM SEG export, judged by dciodvfy, dcmqi's segimage2itkimage and highdicom's reader."""

from __future__ import annotations

import highdicom as hd
import numpy as np
import pydicom
import pytest
import SimpleITK as sitk
from export_common import CONTENT_TIME, LIVER, TUMOUR, dciodvfy_errors, overlapping_masks
from export_judges import check_with_dcmqi, series_reference

from compliance.export.dicom_seg import build_dicom_seg, write_dicom_seg
from compliance.export.errors import ExportError
from compliance.export.geometry import source_grid


def _write(tmp_path, datasets, masks, records, **kw):
    path = tmp_path / "seg.dcm"
    write_dicom_seg(path, datasets, masks, records, content_creator="Cuddy^Lisa",
                    content_datetime=CONTENT_TIME, **kw)
    return path


def test_axial_seg_passes_dciodvfy_dcmqi_and_highdicom(tmp_path, ct_files, ct_datasets, records):
    grid = source_grid(ct_datasets)
    masks = overlapping_masks(grid.shape)
    path = _write(tmp_path, ct_datasets, masks, records)
    assert dciodvfy_errors(path) == []
    reference = series_reference(ct_files)
    np.testing.assert_allclose(reference.GetOrigin(), grid.affine_lps[:3, 3], atol=1e-4)
    check_with_dcmqi(path, reference, masks, grid.affine_lps, [r["name"] for r in records],
                      tmp_path)
    # highdicom's reader: each segment, read by source instance, equals our mask.
    seg = hd.seg.segread(path)
    uids = [ct_datasets[d].SOPInstanceUID for d, _ in grid.frames]
    pixels = seg.get_pixels_by_source_instance(uids, segment_numbers=[1, 2, 3])
    np.testing.assert_array_equal(np.moveaxis(pixels, -1, 0).astype(bool), masks)


def test_seg_metadata_references_source_and_provenance(tmp_path, ct_datasets, records):
    path = _write(tmp_path, ct_datasets, overlapping_masks(source_grid(ct_datasets).shape),
                  records)
    ds = pydicom.dcmread(path)
    assert ds.SegmentationType == "BINARY"
    assert ds.ReferencedSeriesSequence[0].SeriesInstanceUID == ct_datasets[0].SeriesInstanceUID
    referenced = {i.ReferencedSOPInstanceUID
                  for i in ds.ReferencedSeriesSequence[0].ReferencedInstanceSequence}
    assert referenced == {d.SOPInstanceUID for d in ct_datasets}
    assert ds.FrameOfReferenceUID == ct_datasets[0].FrameOfReferenceUID
    assert str(ds.ContentCreatorName) == "Cuddy^Lisa"
    assert (ds.ContentDate, ds.ContentTime[:6]) == ("20261128", "093015")
    liver, tumour, vessel = ds.SegmentSequence
    assert liver.SegmentAlgorithmType == "MANUAL"
    assert "SegmentationAlgorithmIdentificationSequence" not in liver
    assert (tumour.SegmentAlgorithmType, tumour.SegmentAlgorithmName) == ("AUTOMATIC",
                                                                          "liver_tumour_unet")
    ident = tumour.SegmentationAlgorithmIdentificationSequence[0]
    assert (ident.AlgorithmName, ident.AlgorithmVersion) == ("liver_tumour_unet", "2.1.0")
    assert vessel.SegmentAlgorithmType == "SEMIAUTOMATIC"
    code = tumour.SegmentedPropertyTypeCodeSequence[0]
    assert (code.CodingSchemeDesignator, code.CodeValue) == ("SCT", "108369006")
    cat = liver.SegmentedPropertyCategoryCodeSequence[0]
    assert (cat.CodingSchemeDesignator, cat.CodeValue) == ("SCT", "123037004")


def test_oblique_seg_keeps_the_oblique_geometry(tmp_path, oblique_files, records):
    datasets = [pydicom.dcmread(p) for p in oblique_files]
    grid = source_grid(datasets)
    masks = overlapping_masks(grid.shape)
    path = _write(tmp_path, datasets, masks, records)
    assert dciodvfy_errors(path) == []
    reference = series_reference(oblique_files)
    assert abs(reference.GetDirection()[0] - 1.0) > 1e-3  # really oblique
    check_with_dcmqi(path, reference, masks, grid.affine_lps, [r["name"] for r in records],
                      tmp_path)
    seg = hd.seg.segread(path)
    for frame, item in enumerate(seg.PerFrameFunctionalGroupsSequence):
        # each SEG frame sits exactly at the position of the source slice it derives from
        src_uid = item.DerivationImageSequence[0].SourceImageSequence[0].ReferencedSOPInstanceUID
        src = next(d for d in datasets if d.SOPInstanceUID == src_uid)
        np.testing.assert_allclose(item.PlanePositionSequence[0].ImagePositionPatient,
                                   src.ImagePositionPatient, atol=1e-4)


def test_multiframe_seg_on_enhanced_ct(tmp_path, pydicom_data_dir, records):
    source = pydicom_data_dir / "eCT_Supplemental.dcm"
    ds = pydicom.dcmread(source)
    grid = source_grid([ds])
    # Frames are stored inferior-to-superior along a normal that points to -z: slice k=0 is
    # the second stored frame.
    assert grid.frames == [(0, 1), (0, 0)]
    masks = np.zeros((2,) + grid.shape, dtype=bool)
    masks[0, 0, 100:180, 40:90] = True
    masks[1, :, 150:160, 60:300] = True  # overlaps the first on slice 0
    path = _write(tmp_path, [ds], masks, records[:2])
    assert dciodvfy_errors(path) == []
    reference = sitk.ReadImage(str(source))
    check_with_dcmqi(path, reference, masks, grid.affine_lps, ["Liver", "Tumour"], tmp_path)
    seg = hd.seg.segread(path)
    by_frame = seg.get_pixels_by_source_frame(ds.SOPInstanceUID, [1, 2],
                                              segment_numbers=[1, 2])
    np.testing.assert_array_equal(by_frame[1, ..., 0].astype(bool), masks[0, 0])
    np.testing.assert_array_equal(by_frame[0, ..., 1].astype(bool), masks[1, 1])


def test_bad_inputs_raise_export_errors(ct_datasets, records):
    shape = source_grid(ct_datasets).shape
    with pytest.raises(ExportError, match="do not match the source grid"):
        build_dicom_seg(ct_datasets, np.zeros((1, 2, 3, 4), bool), [LIVER],
                        content_creator="A^B", content_datetime=CONTENT_TIME)
    with pytest.raises(ExportError, match="needs the algorithm"):
        build_dicom_seg(ct_datasets, np.zeros((1,) + shape, bool),
                        [dict(TUMOUR, model_version="")], content_creator="A^B",
                        content_datetime=CONTENT_TIME)
    with pytest.raises(ExportError, match="2 masks but 3"):
        build_dicom_seg(ct_datasets, np.zeros((2,) + shape, bool), records,
                        content_creator="A^B", content_datetime=CONTENT_TIME)
    with pytest.raises(ExportError, match="invalid DICOM value") as info:
        build_dicom_seg(ct_datasets, np.zeros((1,) + shape, bool), [dict(LIVER, name="x" * 80)],
                        content_creator="A^B", content_datetime=CONTENT_TIME)
    assert info.value.exit_code == 2


def test_sources_from_two_series_are_refused(tmp_path, ct_datasets, oblique_files):
    mixed = ct_datasets[:2] + [pydicom.dcmread(oblique_files[0])]
    with pytest.raises(ExportError, match="more than one series"):
        build_dicom_seg(mixed, np.zeros((1, 3, 12, 10), bool), [LIVER],
                        content_creator="A^B", content_datetime=CONTENT_TIME)


def test_multiframe_source_without_plane_geometry_is_refused(pydicom_data_dir):
    # emri_small.dcm is an Enhanced MR image stripped of its functional groups: no geometry.
    ds = pydicom.dcmread(pydicom_data_dir / "emri_small.dcm")
    with pytest.raises(ExportError, match="no plane position/orientation") as info:
        build_dicom_seg([ds], np.zeros((1, 10, 64, 64), bool), [LIVER],
                        content_creator="A^B", content_datetime=CONTENT_TIME)
    assert info.value.exit_code == 2
