"""Signed bundle manifests: verification names every file, manifest or signature that differs."""

from __future__ import annotations

import base64
import datetime as dt
import json

import pytest
from export_common import CONTENT_TIME, LIVER, TUMOUR, overlapping_masks
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from compliance.export.dicom_seg import write_dicom_seg
from compliance.export.errors import ExportError
from compliance.export.geometry import source_grid
from compliance.export.manifest import (build_manifest, sha256_file, verify_bundle,
                                        write_signed_manifest)
from compliance.export.nifti import write_label_nifti

KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))


@pytest.fixture
def bundle(tmp_path, ct_datasets):
    """A bundle with a SEG, a NIfTI label map + table in a subfolder, and its manifest."""
    root = tmp_path / "bundle"
    (root / "nifti").mkdir(parents=True)
    grid = source_grid(ct_datasets)
    masks = overlapping_masks(grid.shape)[:2]
    write_dicom_seg(root / "case-001.seg.dcm", ct_datasets, masks, [LIVER, TUMOUR],
                    content_creator="Cuddy^Lisa", content_datetime=CONTENT_TIME)
    nifti = write_label_nifti(root / "nifti" / "case-001.nii.gz", masks, grid.affine_lps,
                              [LIVER, TUMOUR])
    files = ["case-001.seg.dcm"] + [f"nifti/{p.name}" for p in nifti]
    case = {"case": "case-001", "files": files, "segments": [LIVER, TUMOUR],
            "annotators": ["u-anna"], "model_versions": ["liver_tumour_unet 2.1.0"],
            "reviewer_signature": {"user": "u-lisa", "meaning": "approved",
                                   "utc": "2026-11-28T09:30:15Z", "version_sha256": "ab" * 32},
            "quality_metrics": {"dice_vs_baseline": 0.91}}
    manifest = build_manifest(root, [case], audit_head_hash="cd" * 32, exported_by="u-admin",
                              created_utc=dt.datetime(2026, 11, 28, 10, tzinfo=dt.timezone.utc))
    write_signed_manifest(root, manifest, KEY)
    return root


def _kinds(report):
    return sorted((p.kind, p.path) for p in report.problems)


def test_untouched_bundle_verifies_and_manifest_lists_everything(bundle):
    report = verify_bundle(bundle, KEY.public_key())
    assert report.ok, str(report)
    assert report.files_checked == 4
    manifest = json.loads((bundle / "manifest.json").read_text())
    assert sorted(manifest["files"]) == ["case-001.seg.dcm", "nifti/case-001.json",
                                         "nifti/case-001.nii.gz", "nifti/case-001_layer2.nii.gz"]
    for rel, entry in manifest["files"].items():
        assert entry["sha256"] == sha256_file(bundle / rel)
    case = manifest["cases"][0]
    assert case["annotators"] == ["u-anna"]
    assert case["reviewer_signature"]["meaning"] == "approved"
    assert case["model_versions"] == ["liver_tumour_unet 2.1.0"]
    assert case["quality_metrics"] == {"dice_vs_baseline": 0.91}
    assert manifest["audit_head_hash"] == "cd" * 32


def test_every_changed_file_is_named(bundle):
    manifest = json.loads((bundle / "manifest.json").read_text())
    for rel in manifest["files"]:
        path = bundle / rel
        original = path.read_bytes()
        flipped = bytearray(original)
        flipped[len(flipped) // 2] ^= 0x01  # one bit, in the middle of the file
        path.write_bytes(bytes(flipped))
        assert _kinds(verify_bundle(bundle, KEY.public_key())) == [("changed", rel)]
        path.write_bytes(original)
    assert verify_bundle(bundle, KEY.public_key()).ok


def test_missing_and_extra_files_are_named(bundle):
    (bundle / "nifti" / "case-001.json").unlink()
    (bundle / "notes.txt").write_text("added later")
    assert _kinds(verify_bundle(bundle, KEY.public_key())) == [
        ("extra", "notes.txt"), ("missing", "nifti/case-001.json")]


def test_tampered_manifest_is_named(bundle):
    path = bundle / "manifest.json"
    manifest = json.loads(path.read_text())
    manifest["cases"][0]["annotators"] = ["u-mallory"]
    path.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    assert _kinds(verify_bundle(bundle, KEY.public_key())) == [("manifest", "manifest.json")]


def test_manifest_changed_to_match_a_changed_file_is_still_caught(bundle):
    seg = bundle / "case-001.seg.dcm"
    seg.write_bytes(seg.read_bytes() + b"\0\0")
    path = bundle / "manifest.json"
    manifest = json.loads(path.read_text())
    manifest["files"]["case-001.seg.dcm"]["sha256"] = sha256_file(seg)
    path.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    assert _kinds(verify_bundle(bundle, KEY.public_key())) == [("manifest", "manifest.json")]


def test_tampered_signature_and_wrong_key_are_named(bundle):
    sig_path = bundle / "manifest.sig"
    sig = json.loads(sig_path.read_text())
    raw = bytearray(base64.b64decode(sig["signature"]))
    raw[0] ^= 0x80
    sig["signature"] = base64.b64encode(bytes(raw)).decode()
    sig_path.write_text(json.dumps(sig))
    assert _kinds(verify_bundle(bundle, KEY.public_key())) == [("signature", "manifest.sig")]
    sig_path.write_text("garbage")
    assert _kinds(verify_bundle(bundle, KEY.public_key())) == [("signature", "manifest.sig")]
    sig_path.unlink()
    assert _kinds(verify_bundle(bundle, KEY.public_key())) == [("missing", "manifest.sig")]


def test_bundle_signed_by_another_key_fails(bundle):
    other = Ed25519PrivateKey.generate()
    assert _kinds(verify_bundle(bundle, other.public_key())) == [("key", "manifest.sig")]
    # re-signed by the other key: the workspace key no longer verifies it
    manifest = json.loads((bundle / "manifest.json").read_text())
    write_signed_manifest(bundle, manifest, other)
    assert _kinds(verify_bundle(bundle, KEY.public_key())) == [("key", "manifest.sig")]
    assert verify_bundle(bundle, other.public_key()).ok


def test_missing_manifest_and_bad_case_lists(bundle):
    (bundle / "manifest.json").unlink()
    assert _kinds(verify_bundle(bundle, KEY.public_key())) == [("missing", "manifest.json")]
    with pytest.raises(ExportError, match="listed file nope.dcm is not in the bundle"):
        build_manifest(bundle, [{"case": "c", "files": ["nope.dcm"]}], audit_head_hash="x")
