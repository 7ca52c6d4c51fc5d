"""Import of DICOM SEG and label maps (viewers.io.seg): round trips and a real SEG."""

from __future__ import annotations

import hypothesis.strategies as st
import nibabel as nib
import numpy as np
import pydicom
import pytest
import SimpleITK as sitk
from export_common import CONTENT_TIME, LIVER, overlapping_masks
from hypothesis import HealthCheck, given, settings

from compliance.export.dicom_seg import write_dicom_seg
from compliance.export.geometry import source_grid
from compliance.export.nifti import write_label_nifti
from compliance.export.segments import segment_records
from viewers.io.errors import InputError
from viewers.io.seg import read_dicom_seg, read_label_map
from viewers.volume import Volume


def _reference(files) -> Volume:
    """The series' grid as SimpleITK reads it (independent of compliance.export.geometry)."""
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(reader.GetGDCMSeriesFileNames(str(files[0].parent)))
    image = reader.Execute()
    return Volume.from_geometry(sitk.GetArrayFromImage(image), image.GetOrigin(),
                                image.GetSpacing(), image.GetDirection())


def _expected_records(records):
    return [r.as_json() for r in segment_records(records)]


def _plain(rec):
    out = dict(rec)
    out["color"] = list(out["color"])
    return out


@pytest.mark.parametrize("series", ["ct_files", "oblique_files"])
def test_seg_round_trip_gives_identical_masks_and_metadata(tmp_path, request, series, records):
    files = request.getfixturevalue(series)
    datasets = [pydicom.dcmread(p) for p in files]
    masks = overlapping_masks(source_grid(datasets).shape)
    path = tmp_path / "seg.dcm"
    write_dicom_seg(path, datasets, masks, records, content_creator="Cuddy^Lisa",
                    content_datetime=CONTENT_TIME)
    imported = read_dicom_seg(path, reference=_reference(files))
    np.testing.assert_array_equal(imported.masks(), masks)
    assert [_plain(r) for r in imported.records] == _expected_records(records)
    assert imported.referenced_series_uid == datasets[0].SeriesInstanceUID
    assert imported.content_creator == "Cuddy^Lisa"
    assert imported.content_date == "20261128"
    # overlapping segments are kept: the three overlap pairwise, so they need three layers
    seg = imported.segmentation
    assert sorted(s.layer for s in seg.segments.values()) == [0, 1, 2]
    # without the series, the masks come on the SEG's own (cropped) grid, same voxels
    alone = read_dicom_seg(path)
    assert alone.masks().sum() == masks.sum()


def test_real_liver_seg_imports(pydicom_data_dir):
    path = pydicom_data_dir / "liver.dcm"
    imported = read_dicom_seg(path)
    ds = pydicom.dcmread(path)
    # Independent decode: each frame of this single-segment SEG, placed by its position.
    frames = ds.pixel_array.astype(bool)
    z = [float(f.PlanePositionSequence[0].ImagePositionPatient[2])
         for f in ds.PerFrameFunctionalGroupsSequence]
    expected = frames[np.argsort(z)]  # normal of IOP (1,0,0,0,1,0) is +z: ascending z
    assert imported.records[0]["name"] == "Liver"
    assert imported.records[0]["algorithm_type"] == "SEMIAUTOMATIC"
    assert imported.records[0]["type"] == {"scheme": "SRT", "value": "T-62000",
                                           "meaning": "Liver"}
    np.testing.assert_array_equal(imported.masks()[0], expected)
    np.testing.assert_allclose(imported.segmentation.affine_lps[:3, 3],
                               ds.PerFrameFunctionalGroupsSequence[int(np.argmin(z))]
                               .PlanePositionSequence[0].ImagePositionPatient, atol=1e-4)
    assert imported.referenced_series_uid == ds.ReferencedSeriesSequence[0].SeriesInstanceUID


def test_seg_on_a_different_grid_is_refused(tmp_path, ct_files, ct_datasets, records):
    masks = overlapping_masks(source_grid(ct_datasets).shape)
    path = tmp_path / "seg.dcm"
    write_dicom_seg(path, ct_datasets, masks, records, content_creator="A^B",
                    content_datetime=CONTENT_TIME)
    ref = _reference(ct_files)
    shifted = ref.affine_lps.copy()
    shifted[0, 3] += 0.35  # half a voxel off along i
    with pytest.raises(InputError, match="between the slices"):
        read_dicom_seg(path, reference=Volume(ref.array, shifted))
    finer = ref.affine_lps.copy()
    finer[:3, 0] /= 2  # another sampling
    with pytest.raises(InputError, match="not on the voxel grid"):
        read_dicom_seg(path, reference=Volume(ref.array, finer))
    smaller = Volume(ref.array[:2], ref.affine_lps)
    with pytest.raises(InputError, match="extends beyond"):
        read_dicom_seg(path, reference=smaller)
    with pytest.raises(InputError, match="not a DICOM Segmentation"):
        read_dicom_seg(ct_files[0])


def test_nifti_label_map_round_trip_with_label_table(tmp_path, records):
    shape = (6, 9, 8)
    affine = np.array([[0.9, 0, 0, -20], [0, 1.1, 0, 15], [0, 0, 2.0, -3], [0, 0, 0, 1]])
    masks = overlapping_masks(shape)
    written = write_label_nifti(tmp_path / "case1.nii.gz", masks, affine, records)
    assert [p.name for p in written] == ["case1.nii.gz", "case1_layer2.nii.gz",
                                         "case1_layer3.nii.gz", "case1.json"]
    imported = read_label_map(tmp_path / "case1.nii.gz")
    np.testing.assert_array_equal(imported.masks(), masks)
    np.testing.assert_allclose(imported.segmentation.affine_lps, affine, atol=1e-5)
    got = [{k: v for k, v in _plain(r).items()} for r in imported.records]
    assert got == _expected_records(records)


def test_label_map_without_table_and_bad_table(tmp_path):
    labels = np.zeros((3, 4, 5), np.uint8)
    labels[1, 1:3, 1:4] = 4
    labels[2, 0, 0] = 9
    nib.save(nib.Nifti1Image(labels.T, np.eye(4)), tmp_path / "plain.nii.gz")
    imported = read_label_map(tmp_path / "plain.nii.gz")
    assert [r["name"] for r in imported.records] == ["Label 4", "Label 9"]
    np.testing.assert_array_equal(imported.masks()[0], labels == 4)
    (tmp_path / "plain.json").write_text("{not json")
    with pytest.raises(InputError, match="plain.json: not a label table"):
        read_label_map(tmp_path / "plain.nii.gz")


SLICER_HEADER = """NRRD0004
type: unsigned char
dimension: 3
space: left-posterior-superior
sizes: 5 4 3
space directions: (1.5,0,0) (0,1.25,0) (0,0,2.5)
kinds: domain domain domain
encoding: raw
space origin: (-10,20,30)
Segment0_Color:=0.866667 0.509804 0.396078
Segment0_ID:=Segment_1
Segment0_LabelValue:=1
Segment0_Layer:=0
Segment0_Name:=liver
Segment0_Tags:=TerminologyEntry:Segmentation category and type - 3D Slicer General Anatomy list~SCT^123037004^Anatomical Structure~SCT^10200004^Liver~^^~Anatomic codes - DICOM master list~^^~^^|
Segment1_Color:=0.2 0.4 0.6
Segment1_ID:=Segment_2
Segment1_LabelValue:=2
Segment1_Layer:=0
Segment1_Name:=lesion

"""


def test_slicer_seg_nrrd_segment_metadata(tmp_path):
    labels = np.zeros((3, 4, 5), np.uint8)  # (k, j, i)
    labels[0, 1:3, 1:4] = 1
    labels[2, 3, 4] = 2
    path = tmp_path / "case.seg.nrrd"
    path.write_bytes(SLICER_HEADER.encode() + labels.tobytes())
    imported = read_label_map(path)
    liver, lesion = imported.records
    assert liver["name"] == "liver" and lesion["name"] == "lesion"
    assert liver["type"] == {"scheme": "SCT", "value": "10200004", "meaning": "Liver"}
    assert liver["color"] == (221, 130, 101)
    np.testing.assert_array_equal(imported.masks()[0], labels == 1)
    np.testing.assert_array_equal(imported.masks()[1], labels == 2)
    np.testing.assert_allclose(imported.segmentation.affine_lps[:3, 3], (-10, 20, 30))
    np.testing.assert_allclose(np.diag(imported.segmentation.affine_lps)[:3], (1.5, 1.25, 2.5))


def test_fractional_seg_imports_thresholded_at_one_half(tmp_path, ct_files, ct_datasets):
    import highdicom as hd

    from compliance.export.dicom_seg import _description

    grid = source_grid(ct_datasets)
    probability = np.zeros(grid.shape, np.float32)
    probability[2, 3:6, 4:8] = 0.8
    probability[3, 3:6, 4:8] = 0.3  # below one half: not in the mask
    seg = hd.seg.Segmentation(
        source_images=[ct_datasets[d] for d, _ in grid.frames], pixel_array=probability,
        segmentation_type="FRACTIONAL", fractional_type="PROBABILITY",
        segment_descriptions=[_description(1, segment_records([LIVER])[0])],
        series_instance_uid=hd.UID(), series_number=5, sop_instance_uid=hd.UID(),
        instance_number=1, manufacturer="test", manufacturer_model_name="test",
        software_versions="1", device_serial_number="1")
    seg.save_as(tmp_path / "fractional.dcm")
    imported = read_dicom_seg(tmp_path / "fractional.dcm", reference=_reference(ct_files))
    np.testing.assert_array_equal(imported.masks()[0], probability >= 0.5)


def test_multiframe_seg_lands_on_a_grid_with_the_stored_frame_order(tmp_path, pydicom_data_dir,
                                                                    records):
    source = pydicom_data_dir / "eCT_Supplemental.dcm"
    ds = pydicom.dcmread(source)
    grid = source_grid([ds])
    masks = np.zeros((2,) + grid.shape, dtype=bool)
    masks[0, 0, 100:180, 40:90] = True
    masks[1, 1, 150:160, 60:300] = True
    path = tmp_path / "seg.dcm"
    write_dicom_seg(path, [ds], masks, records[:2], content_creator="A^B",
                    content_datetime=CONTENT_TIME)
    # SimpleITK keeps the stored frame order: its slice k is stored frame k, whereas our
    # slice 0 is stored frame 1 (see source_grid): the import must follow the given grid.
    image = sitk.ReadImage(str(source))
    reference = Volume.from_geometry(sitk.GetArrayFromImage(image), image.GetOrigin(),
                                     image.GetSpacing(), image.GetDirection())
    imported = read_dicom_seg(path, reference=reference)
    np.testing.assert_array_equal(imported.masks(), masks[:, ::-1])


def test_slicer_seg_nrrd_with_two_layers_keeps_the_overlap(tmp_path):
    header = SLICER_HEADER.replace("dimension: 3", "dimension: 4")
    header = header.replace("sizes: 5 4 3", "sizes: 2 5 4 3")
    header = header.replace("space directions: (", "space directions: none (")
    header = header.replace("kinds: domain", "kinds: list domain")
    header = header.replace("Segment1_LabelValue:=2\nSegment1_Layer:=0",
                            "Segment1_LabelValue:=1\nSegment1_Layer:=1")
    layers = np.zeros((3, 4, 5, 2), np.uint8)  # (k, j, i, layer): layer varies fastest
    layers[0, 1:3, 1:4, 0] = 1
    layers[0, 2:4, 2:5, 1] = 1  # overlaps the first segment at (0, 2, 2..3)
    path = tmp_path / "layers.seg.nrrd"
    path.write_bytes(header.encode() + layers.tobytes())
    imported = read_label_map(path)
    assert [r["name"] for r in imported.records] == ["liver", "lesion"]
    np.testing.assert_array_equal(imported.masks(), np.moveaxis(layers, -1, 0).astype(bool))


def test_unreadable_inputs_give_one_line_errors(tmp_path):
    (tmp_path / "bad.dcm").write_bytes(b"garbage")
    (tmp_path / "bad.seg.nrrd").write_bytes(b"NRRD0004\ntype: float\n")
    cases = [(read_dicom_seg, "missing.dcm", "no such file"),
             (read_dicom_seg, "bad.dcm", "not a readable DICOM file"),
             (read_label_map, "bad.seg.nrrd", "not a readable NRRD file"),
             (read_label_map, "missing.nii.gz", "no such file"),
             (read_label_map, "bad.dcm", "not a label map file")]
    for reader, name, reason in cases:
        with pytest.raises(InputError) as info:
            reader(tmp_path / name)
        assert str(info.value) == f"{tmp_path / name}: {reason}" or \
            str(info.value).startswith(f"{tmp_path / name}: {reason}")
        assert "\n" not in str(info.value) and info.value.exit_code == 2


@settings(max_examples=15, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_random_overlapping_masks_survive_seg_round_trip(tmp_path, ct_files, ct_datasets,
                                                        records, data):
    """Any masks, including empty or full segments, come back voxel for voxel."""
    shape = source_grid(ct_datasets).shape
    n = data.draw(st.integers(1, 3), label="segments")
    kind = data.draw(st.sampled_from(["random", "empty", "full", "one voxel"]), label="kind")
    seed = data.draw(st.integers(0, 2**16), label="seed")
    masks = np.random.default_rng(seed).random((n,) + shape) < 0.3
    if kind == "empty":
        masks[0] = False
    elif kind == "full":
        masks[0] = True
    elif kind == "one voxel":
        masks[:] = False
        masks[-1, shape[0] - 1, 0, shape[2] - 1] = True
    path = tmp_path / f"seg-{seed}-{kind}.dcm"
    write_dicom_seg(path, ct_datasets, masks, records[:n], content_creator="A^B",
                    content_datetime=CONTENT_TIME)
    imported = read_dicom_seg(path, reference=_reference(ct_files))
    np.testing.assert_array_equal(imported.masks(), masks)
