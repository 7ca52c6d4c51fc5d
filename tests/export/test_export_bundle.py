"""write_bundle: SEG/NIfTI bundles, de-identified, signed, verifiable, leaving nothing on failure."""

from __future__ import annotations

import json

import numpy as np
import pydicom
import pytest
from export_common import CONTENT_TIME, LIVER, TUMOUR, dciodvfy_errors, overlapping_masks
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from export_dicom_factory import PHI, make_series

from compliance.export.bundle import CaseExport, write_bundle
from compliance.export.errors import DeidentificationRefused, ExportError
from compliance.export.geometry import source_grid
from compliance.export.manifest import verify_bundle

SIGNING = Ed25519PrivateKey.from_private_bytes(bytes(range(1, 33)))
DEID_KEY = b"bundle-deid-key-0123456789abcdef"
REVIEWER = {"user": "u-lisa", "name": "Cuddy^Lisa", "meaning": "approved",
            "utc": "2026-11-28T09:30:15Z", "version_sha256": "ef" * 32}


def _case(tmp_path, name="case-001", burned_in="NO"):
    files = make_series(tmp_path / f"src-{name}", shape=(4, 10, 8), burned_in=burned_in)
    datasets = [pydicom.dcmread(p) for p in files]
    masks = overlapping_masks(source_grid(datasets).shape)[:2]
    return CaseExport(case=name, masks=masks, segments=[LIVER, TUMOUR], source_images=datasets,
                      annotators=["u-anna", "u-bob"], reviewer=REVIEWER,
                      content_datetime=CONTENT_TIME, quality_metrics={"dice": 0.93})


def test_deidentified_seg_bundle_verifies_and_holds_no_phi(tmp_path):
    case = _case(tmp_path)
    out = tmp_path / "bundle"
    result = write_bundle(out, [case], fmt="seg", signing_key=SIGNING, audit_head_hash="aa" * 32,
                          exported_by="u-admin", deidentify_key=DEID_KEY, include_images=True)
    assert result.files == ["case-001/images/0001.dcm", "case-001/images/0002.dcm",
                            "case-001/images/0003.dcm", "case-001/images/0004.dcm",
                            "case-001/segmentation.dcm"]
    assert verify_bundle(out, SIGNING.public_key()).ok
    needles = {PHI["PatientName"], PHI["PatientID"], PHI["PatientBirthDate"], PHI["StudyDate"],
               PHI["InstitutionName"], PHI["AccessionNumber"], "Cuddy", "Quixote"}
    for ds in case.source_images:
        needles |= {ds.SOPInstanceUID, ds.SeriesInstanceUID, ds.StudyInstanceUID}
    for path in out.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            assert [n for n in needles if n.encode() in data] == [], path.name
    seg = pydicom.dcmread(out / "case-001" / "segmentation.dcm")
    images = [pydicom.dcmread(p) for p in sorted((out / "case-001" / "images").iterdir())]
    referenced = {i.ReferencedSOPInstanceUID
                  for i in seg.ReferencedSeriesSequence[0].ReferencedInstanceSequence}
    assert referenced == {d.SOPInstanceUID for d in images}
    assert dciodvfy_errors(out / "case-001" / "segmentation.dcm") == []
    manifest = json.loads((out / "manifest.json").read_text())
    entry = manifest["cases"][0]
    assert manifest["deidentified"] is True
    assert entry["reviewer_signature"] == {k: v for k, v in REVIEWER.items() if k != "name"}
    assert entry["model_versions"] == ["liver_tumour_unet 2.1.0"]
    assert entry["annotators"] == ["u-anna", "u-bob"]
    assert [s["name"] for s in entry["segments"]] == ["Liver", "Tumour"]


def test_nifti_bundle_of_two_cases(tmp_path):
    cases = [_case(tmp_path, "case-001"), _case(tmp_path, "case-002")]
    out = tmp_path / "nifti-bundle"
    result = write_bundle(out, cases, fmt="nifti", signing_key=SIGNING, audit_head_hash="bb",
                          exported_by="u-admin")
    assert result.files == ["case-001/labels.json", "case-001/labels.nii.gz",
                            "case-001/labels_layer2.nii.gz", "case-002/labels.json",
                            "case-002/labels.nii.gz", "case-002/labels_layer2.nii.gz"]
    report = verify_bundle(out, SIGNING.public_key())
    assert report.ok and report.files_checked == 6
    (out / "case-002" / "labels.json").write_text("{}")
    assert [str(p) for p in verify_bundle(out, SIGNING.public_key()).problems] == [
        "changed: case-002/labels.json (SHA-256 differs)"]


def test_burned_in_images_are_refused_and_nothing_is_left(tmp_path):
    case = _case(tmp_path, burned_in="YES")
    out = tmp_path / "bundle"
    with pytest.raises(DeidentificationRefused, match="case-001/images/0001.dcm"):
        write_bundle(out, [case], fmt="seg", signing_key=SIGNING, audit_head_hash="cc",
                     exported_by="u-admin", deidentify_key=DEID_KEY, include_images=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["src-case-001"]
    result = write_bundle(out, [case], fmt="seg", signing_key=SIGNING, audit_head_hash="cc",
                          exported_by="u-admin", deidentify_key=DEID_KEY, include_images=True,
                          override_burned_in=True)
    assert result.burned_in_overrides == [f"case-001/images/{n:04d}.dcm" for n in (1, 2, 3, 4)]
    assert verify_bundle(out, SIGNING.public_key()).ok


def test_bad_bundle_requests(tmp_path):
    case = _case(tmp_path)
    kwargs = dict(signing_key=SIGNING, audit_head_hash="dd", exported_by="u-admin")
    with pytest.raises(ExportError, match="unknown export format"):
        write_bundle(tmp_path / "b", [case], fmt="png", **kwargs)
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("x")
    with pytest.raises(ExportError, match="not empty"):
        write_bundle(tmp_path / "full", [case], fmt="seg", **kwargs)
    case.case = "../escape"
    with pytest.raises(ExportError, match="case id"):
        write_bundle(tmp_path / "b", [case], fmt="seg", **kwargs)
    case.case, case.source_images = "case-001", None
    with pytest.raises(ExportError, match="needs the DICOM source images"):
        write_bundle(tmp_path / "b", [case], fmt="seg", **kwargs)
    assert not (tmp_path / "b").exists()
    case.affine_lps = np.eye(4)
    assert write_bundle(tmp_path / "b", [case], fmt="nifti", **kwargs).files[0] == \
        "case-001/labels.json"


def test_nifti_of_an_unevenly_spaced_series_is_refused_but_seg_works(tmp_path):
    case = _case(tmp_path)
    # push one slice 1 mm along the normal: the series is no longer evenly spaced
    ordered = sorted(case.source_images, key=lambda d: float(d.ImagePositionPatient[2]))
    moved = ordered[1]
    moved.ImagePositionPatient = [moved.ImagePositionPatient[0], moved.ImagePositionPatient[1],
                                  float(moved.ImagePositionPatient[2]) + 1.0]
    assert not source_grid(case.source_images).regular
    kwargs = dict(signing_key=SIGNING, audit_head_hash="ee", exported_by="u-admin")
    with pytest.raises(ExportError, match="not evenly spaced"):
        write_bundle(tmp_path / "n", [case], fmt="nifti", **kwargs)
    write_bundle(tmp_path / "s", [case], fmt="seg", **kwargs)
    seg = pydicom.dcmread(tmp_path / "s" / "case-001" / "segmentation.dcm")
    z = sorted(float(f.PlanePositionSequence[0].ImagePositionPatient[2])
               for f in seg.PerFrameFunctionalGroupsSequence)
    assert float(moved.ImagePositionPatient[2]) in z  # the SEG keeps the true position
