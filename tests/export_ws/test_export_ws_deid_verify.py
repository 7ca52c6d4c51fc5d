"""De-identified workspace exports carry no PHI; burned-in images need an admin; ``export
verify`` names every file that differs from the signed manifest."""

from __future__ import annotations

import json

import pydicom
import pytest
from export_common import dciodvfy_errors
from export_dicom_factory import PHI, make_series
from export_ws_common import import_dicom, label_and_approve, manifest


@pytest.fixture
def approved(env, tmp_path):
    files = make_series(tmp_path / "ct", shape=(6, 16, 12))
    cid = import_dicom(env, tmp_path / "ct")
    label_and_approve(env, cid)
    return cid, files


def _phi_values(files) -> list[bytes]:
    """Every identifying value of the source: the factory's PHI and the source's UIDs."""
    values = {v.encode() for v in PHI.values()}
    values |= {v.split("^")[0].encode() for v in PHI.values() if "^" in v}
    for path in files:
        ds = pydicom.dcmread(path, stop_before_pixels=True)
        for keyword in ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID",
                        "FrameOfReferenceUID"):
            values.add(str(ds[keyword].value).encode())
    return sorted(values)


def test_deidentified_export_carries_no_phi_in_any_file(env, approved, tmp_path):
    cid, files = approved
    out = tmp_path / "deid"
    out.mkdir()
    for fmt in ("seg", "nifti"):
        code, _, err = env.cli("export", env.path, "--cases", cid, "--format", fmt, "--out",
                               out / fmt, "--deidentify", user="rev")
        assert code == 0, err
    leaks = []
    written = [p for p in out.rglob("*") if p.is_file()]
    assert len(written) == 2 + 2 + 4   # seg + manifest pair; 2 NIfTI + table + manifest pair
    for path in written:
        data = path.read_bytes()
        if path.suffix == ".gz":
            import gzip

            data = gzip.decompress(data)
        leaks += [(path.name, v) for v in _phi_values(files) if v in data]
    assert leaks == []
    seg = pydicom.dcmread(out / "seg" / cid / "segmentation.dcm")
    assert seg.PatientIdentityRemoved == "YES"
    assert dciodvfy_errors(out / "seg" / cid / "segmentation.dcm") == []
    m = manifest(out / "seg")
    assert m["deidentified"] is True and "name" not in m["cases"][0]["reviewer_signature"]
    assert [e["details"]["deidentify"] for e in env.audit("export")] == [True, True]


def test_burned_in_annotation_needs_an_admin_override(env, tmp_path):
    make_series(tmp_path / "burned", shape=(4, 10, 8), burned_in="YES")
    cid = import_dicom(env, tmp_path / "burned")
    label_and_approve(env, cid)
    args = ("export", env.path, "--cases", cid, "--format", "seg", "--deidentify")
    code, _, err = env.cli(*args, "--out", tmp_path / "b1", user="rev")
    assert code == 2 and "Burned In Annotation = YES" in err and "--allow-burned-in" in err
    code, _, err = env.cli(*args, "--out", tmp_path / "b2", "--allow-burned-in", user="rev")
    assert code == 2 and "may not override the burned-in annotation check" in err
    assert env.audit("export") == [] and not (tmp_path / "b1").exists()
    code, _, err = env.cli(*args, "--out", tmp_path / "b3", "--allow-burned-in", user="admin")
    assert code == 0, err
    (override,) = env.audit("export.override")
    assert override["objects"] == [cid] and override["details"]["burned_in_images"] == 4
    assert override["user_id"] == env.user_ids["admin"]
    # without --deidentify the images stay inside the hospital: no override needed
    code, _, err = env.cli(*args[:-1], "--out", tmp_path / "b4", user="rev")
    assert code == 0, err


def _verify(env, bundle, *pin):
    code, out, err = env.cli("export", "verify", bundle, *pin)
    return code, out + err


def test_verify_names_each_changed_missing_or_extra_file(env, approved, tmp_path):
    cid, _ = approved
    out = tmp_path / "bundle"
    assert env.cli("export", env.path, "--cases", cid, "--format", "nifti", "--out", out,
                   user="rev")[0] == 0
    code, text = _verify(env, out)
    assert code == 0 and text.startswith("3 files verified") and "not pinned" in text

    label_map = out / cid / "labels.nii.gz"
    original = label_map.read_bytes()
    label_map.write_bytes(original[:-1] + bytes([original[-1] ^ 1]))
    (out / cid / "labels.json").unlink()
    (out / cid / "notes.txt").write_text("added later")
    code, text = _verify(env, out)
    assert code == 1
    assert f"changed: {cid}/labels.nii.gz (SHA-256 differs)" in text
    assert f"missing: {cid}/labels.json" in text
    assert f"extra: {cid}/notes.txt (not in the manifest)" in text
    assert "bundle does NOT verify (3 difference(s))" in text


def test_verify_names_a_tampered_manifest_and_a_foreign_signer(env, approved, tmp_path):
    from compliance.keys import KdfParams
    from compliance.workspace import Workspace

    cid, _ = approved
    out = tmp_path / "bundle"
    assert env.cli("export", env.path, "--cases", cid, "--format", "seg", "--out", out,
                   user="rev")[0] == 0
    other = Workspace.create(tmp_path / "other", "admin", "a different site pw 7",
                             kdf=KdfParams.testing())
    code, text = _verify(env, out, "--workspace", other.root)
    assert code == 1 and "key: manifest.sig (signed with another key, or altered)" in text
    assert _verify(env, out, "--workspace", env.path)[0] == 0

    path = out / "manifest.json"
    m = json.loads(path.read_text())
    m["cases"][0]["approved"] = True
    m["cases"][0]["annotators"] = ["someone else"]
    path.write_text(json.dumps(m, indent=2, sort_keys=True) + "\n")
    code, text = _verify(env, out, "--workspace", env.path)
    assert code == 1 and "manifest: manifest.json (does not match its signature)" in text
