"""De-identification (PS3.15 Annex E Basic Profile): no PHI in any exported byte, UIDs linked."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pydicom
import pytest
import SimpleITK as sitk
from export_common import CONTENT_TIME, dciodvfy_errors, overlapping_masks
from export_dicom_factory import PHI, make_series
from export_judges import check_with_dcmqi
from pydicom.datadict import dictionary_description, dictionary_VR
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from compliance.export.basic_profile import BASIC_PROFILE
from compliance.export.deid import date_offset_days, deidentify, remap_uid
from compliance.export.dicom_seg import build_dicom_seg, save_dataset
from compliance.export.errors import DeidentificationRefused
from compliance.export.geometry import source_grid
from viewers.io.seg import read_dicom_seg
from viewers.volume import Volume

KEY = b"export-key-for-tests-0123456789ab"


def _phi_strings(originals, seg) -> list[bytes]:
    """Every identifying value of the sources and the SEG, as it would appear in bytes."""
    values = set(PHI.values()) | {part for v in PHI.values() for part in v.split("^")}
    values |= {"Sancho", "Panza", "Memorial", str(seg.ContentCreatorName)}
    for ds in originals + [seg]:
        values |= {ds.SOPInstanceUID, ds.SeriesInstanceUID, ds.StudyInstanceUID,
                   ds.FrameOfReferenceUID}
    return sorted(v.encode() for v in values if len(v) >= 4)


@pytest.fixture
def exported(tmp_path, records):
    """Source series with PHI, a SEG made from it, both de-identified and written."""
    files = make_series(tmp_path / "src", shape=(5, 12, 10))
    originals = [pydicom.dcmread(p) for p in files]
    grid = source_grid(originals)
    masks = overlapping_masks(grid.shape)
    seg = build_dicom_seg(originals, masks, records, content_creator="Cuddy^Lisa",
                          content_datetime=CONTENT_TIME)
    out = tmp_path / "out"
    (out / "images").mkdir(parents=True)
    images = []
    for n, ds in enumerate(originals):
        images.append(save_dataset(deidentify(ds, KEY, name=f"image {n}"),
                                   out / "images" / f"img{n:03d}.dcm"))
    seg_path = save_dataset(deidentify(seg, KEY, name="seg"), out / "seg.dcm")
    return {"originals": originals, "seg": seg, "masks": masks, "images": images,
            "seg_path": seg_path, "out": out, "files": files}


def test_no_phi_value_appears_in_any_exported_byte(exported):
    needles = _phi_strings(exported["originals"], exported["seg"])
    # the scan finds what is there: every source file holds its name, ID and UIDs
    source = exported["files"][0].read_bytes()
    assert b"Quixote^Alonso" in source and b"PID-7734921" in source and b"19470312" in source
    assert pydicom.dcmread(exported["files"][0]).SOPInstanceUID.encode() in source
    assert dciodvfy_errors(exported["images"][0]) == []
    for path in exported["images"] + [exported["seg_path"]]:
        data = path.read_bytes()
        leaked = [n.decode() for n in needles if n in data]
        assert leaked == [], f"{path.name} leaks {len(leaked)} values"
        ds = pydicom.dcmread(path)
        assert ds.PatientIdentityRemoved == "YES"
        assert not any(elem.tag.is_private for elem in ds.iterall())
        codes = [c.CodeValue for c in ds.DeidentificationMethodCodeSequence]
        assert codes == ["113100", "113107"]
        assert ds.LongitudinalTemporalInformationModified == "MODIFIED"


def test_seg_still_references_its_deidentified_images(exported):
    images = [pydicom.dcmread(p) for p in exported["images"]]
    seg = pydicom.dcmread(exported["seg_path"])
    assert dciodvfy_errors(exported["seg_path"]) == []
    sop_uids = {d.SOPInstanceUID for d in images}
    assert all(uid.startswith("2.25.") and len(uid) <= 64 for uid in sop_uids)
    ref = seg.ReferencedSeriesSequence[0]
    assert ref.SeriesInstanceUID == images[0].SeriesInstanceUID
    assert {i.ReferencedSOPInstanceUID for i in ref.ReferencedInstanceSequence} == sop_uids
    for item in seg.PerFrameFunctionalGroupsSequence:
        source = item.DerivationImageSequence[0].SourceImageSequence[0]
        assert source.ReferencedSOPInstanceUID in sop_uids
    assert seg.StudyInstanceUID == images[0].StudyInstanceUID
    assert seg.FrameOfReferenceUID == images[0].FrameOfReferenceUID
    assert seg.PatientID == images[0].PatientID  # one pseudonym per patient
    # and the de-identified SEG lands voxel for voxel on the de-identified series
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(reader.GetGDCMSeriesFileNames(str(exported["out"] / "images")))
    image = reader.Execute()
    volume = Volume.from_geometry(sitk.GetArrayFromImage(image), image.GetOrigin(),
                                  image.GetSpacing(), image.GetDirection())
    imported = read_dicom_seg(exported["seg_path"], reference=volume)
    np.testing.assert_array_equal(imported.masks(), exported["masks"])
    # dcmqi still reads it and puts every segment on the de-identified series' grid
    check_with_dcmqi(exported["seg_path"], image, exported["masks"],
                     source_grid(images).affine_lps, ["Liver", "Tumour", "Vessel"],
                     exported["out"])


def test_dates_shift_by_one_offset_per_patient(exported):
    original = exported["originals"][0]
    out = pydicom.dcmread(exported["images"][0])
    seg = pydicom.dcmread(exported["seg_path"])
    offset = date_offset_days(PHI["PatientID"], KEY)
    assert -3650 <= offset <= -1

    def day(value):
        return dt.datetime.strptime(value, "%Y%m%d")

    assert day(out.StudyDate) - day(original.StudyDate) == dt.timedelta(days=offset)
    assert day(seg.ContentDate) - day("20261128") == dt.timedelta(days=offset)
    assert out.StudyTime == original.StudyTime  # times are kept
    assert out.PatientBirthDate == ""  # Basic Profile Z; no option keeps it


def test_retain_longitudinal_dates_keeps_dates(ct_datasets):
    out = deidentify(ct_datasets[0], KEY, retain_longitudinal_dates=True)
    assert out.StudyDate == ct_datasets[0].StudyDate
    assert out.LongitudinalTemporalInformationModified == "UNMODIFIED"
    assert [c.CodeValue for c in out.DeidentificationMethodCodeSequence] == ["113100", "113106"]
    assert out.PatientBirthDate == ""
    assert ct_datasets[0].PatientName == PHI["PatientName"]  # the input is not changed


def test_burned_in_annotation_is_refused_unless_overridden(tmp_path):
    ds = pydicom.dcmread(make_series(tmp_path, shape=(1, 4, 4), burned_in="YES")[0])
    with pytest.raises(DeidentificationRefused) as info:
        deidentify(ds, KEY, name="img000.dcm")
    assert info.value.exit_code == 2
    assert "img000.dcm" in str(info.value) and "Quixote" not in str(info.value)
    assert deidentify(ds, KEY, override_burned_in=True).PatientIdentityRemoved == "YES"


def test_uids_are_keyed_and_consistent():
    uid = "1.2.826.0.1.3680043.8.498.123"
    assert remap_uid(uid, KEY) == remap_uid(uid, KEY)
    assert remap_uid(uid, KEY) != remap_uid(uid, b"another-key-0123456789abcdef")
    assert remap_uid(uid, KEY).startswith("2.25.") and len(remap_uid(uid, KEY)) <= 64


# -- the Basic Profile attribute list ------------------------------------------------------
_SIMPLE = {"PN": "Secret^Person", "LO": "SECRET TEXT", "SH": "SECRET", "LT": "SECRET TEXT",
           "ST": "SECRET TEXT", "UT": "SECRET TEXT", "UC": "SECRET TEXT", "CS": "SECRET",
           "AE": "SECRETAE", "IS": "7", "DS": "7.5", "DA": "20190517", "TM": "101112",
           "DT": "20190517101112", "US": 7, "UL": 7, "SS": 7, "SL": 7, "FL": 7.0, "FD": 7.0,
           "OB": b"SECRET!!", "UN": b"SECRET!!"}


def _profile_dataset():
    """A dataset holding every Basic Profile attribute (simple VRs) with a known value."""
    ds = Dataset()
    ds.PatientID = "PID-7734921"
    ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.2"
    for n, tag in enumerate(sorted(BASIC_PROFILE)):
        group = tag >> 16
        if group in (0x0000, 0x0002, 0xFFFA, 0xFFFC) or tag in (0x00100010, 0x00100020):
            continue  # command/meta groups and the trailing items are not dataset attributes
        vr = dictionary_VR(tag).split(" or ")[0]
        if vr == "SQ":
            item = Dataset()
            item.CodeMeaning = "SECRET"
            item.ReferencedSOPInstanceUID = f"1.2.3.4.{n}"
            ds.add_new(tag, "SQ", Sequence([item]))
        elif vr == "UI":
            ds.add_new(tag, "UI", f"1.2.3.{n}")
        elif vr in _SIMPLE:
            ds.add_new(tag, vr, _SIMPLE[vr])
    return ds


def test_every_basic_profile_attribute_gets_its_action():
    source = _profile_dataset()
    out = deidentify(source, KEY)
    offset = date_offset_days("PID-7734921", KEY)
    checked = 0
    for tag, (action, is_date, _) in BASIC_PROFILE.items():
        if tag not in source or tag in (0x00100010, 0x00100020):
            continue
        checked += 1
        elem = source[tag]
        if is_date:
            if elem.VR in ("DA", "DT"):
                shifted = dt.datetime(2019, 5, 17) + dt.timedelta(days=offset)
                assert out[tag].value.startswith(shifted.strftime("%Y%m%d")), hex(tag)
            else:
                assert out[tag].value == elem.value, hex(tag)
            continue
        resolved = {"X/Z": "Z", "Z/D": "D", "X/Z/D": "D", "X/D": "D"}.get(action, action)
        if resolved == "X":
            assert tag not in out, f"{hex(tag)} {action} should be removed"
        elif resolved == "Z":
            assert tag in out and len(out[tag].value) == 0, f"{hex(tag)} {action} not emptied"
        elif resolved == "U":
            assert out[tag].value == remap_uid(elem.value, KEY), hex(tag)
        elif resolved == "X/Z/U*":
            item = out[tag].value[0]
            assert item.ReferencedSOPInstanceUID == remap_uid(elem.value[0]
                                                              .ReferencedSOPInstanceUID, KEY)
        elif resolved == "D":
            if elem.VR == "SQ":
                assert out[tag].value[0].ReferencedSOPInstanceUID.startswith("2.25.")
            else:
                assert out[tag].value != elem.value, f"{hex(tag)} {action} kept its value"
    assert checked > 400
    assert out.PatientName == "ANON^" + out.PatientID and "7734921" not in out.PatientID


def test_basic_profile_table_matches_the_dicom_dictionary():
    """The transcribed tags name the attributes the standard lists (pydicom's dictionary)."""
    def norm(text):
        return text.lower().replace("’", "'").replace(" ", "")

    for tag, (_, _, name) in BASIC_PROFILE.items():
        assert norm(dictionary_description(tag)) == norm(name), hex(tag)
    assert BASIC_PROFILE[0x00100010][0] == "Z"        # Patient's Name
    assert BASIC_PROFILE[0x0020000D][0] == "U"        # Study Instance UID
    assert BASIC_PROFILE[0x00101000][0] == "X"        # Other Patient IDs
    assert BASIC_PROFILE[0x00080020] == ("Z", True, "Study Date")


def test_person_names_outside_the_table_are_replaced_too(ct_datasets):
    from pydicom.datadict import DicomDictionary

    untabled = [tag for tag, entry in DicomDictionary.items()
                if entry[0] == "PN" and tag not in BASIC_PROFILE and entry[3] != "Retired"]
    ds = ct_datasets[0].copy()
    assert untabled  # Secondary Reviewer Name, Evaluator Name, Selector PN Value
    for tag in untabled:
        ds.add_new(tag, "PN", "Quixote^Alonso")
    out = deidentify(ds, KEY)
    for tag in untabled:
        assert out[tag].value == "ANONYMIZED^", hex(tag)


@pytest.mark.parametrize("name", ["eCT_Supplemental.dcm", "MR-SIEMENS-DICOM-WithOverlays.dcm",
                                  "liver.dcm"])
def test_real_files_lose_identity_private_tags_and_overlays(tmp_path, pydicom_data_dir, name):
    source = pydicom_data_dir / name
    original = pydicom.dcmread(source)
    needles = {str(original.PatientName), str(original.StudyDate)}
    needles |= {str(original.PatientID)} if len(str(original.PatientID)) >= 6 else set()
    needles |= {str(original.InstitutionName)} if original.get("InstitutionName") else set()
    needles |= {str(e.value) for e in original.iterall()
                if e.VR == "UI" and e.VM == 1 and e.value
                and not str(e.value).startswith("1.2.840.10008.")}
    assert all(n.encode() in source.read_bytes() for n in needles)  # the scan can find them
    out = save_dataset(deidentify(original, KEY), tmp_path / name)
    data = out.read_bytes()
    assert sorted(n for n in needles if n.encode() in data) == []
    result = pydicom.dcmread(out)
    assert not any(e.tag.is_private for e in result.iterall())
    assert not any(0x6000 <= e.tag.group <= 0x60FF for e in result)
    # de-identification adds no DICOM error to those the source already has
    assert set(dciodvfy_errors(out)) <= set(dciodvfy_errors(source))
