"""``annotrace export WORKSPACE`` on a real workspace: approved versions only, roles, site
policy, provenance in the SEG, audited; the exported files judged by external tools."""

from __future__ import annotations

import json

import nibabel as nib
import numpy as np
import pytest
from export_common import dciodvfy_errors
from export_dicom_factory import make_series
from export_judges import check_with_dcmqi, series_reference
from export_ws_common import (MODEL, case_grid, import_dicom, label_and_approve, manifest)


@pytest.fixture
def approved(env, tmp_path):
    """(case id, masks, DICOM files) of a CT case imported, labelled, submitted, approved."""
    files = make_series(tmp_path / "ct", shape=(6, 16, 12))
    cid = import_dicom(env, tmp_path / "ct")
    masks = label_and_approve(env, cid)
    return cid, masks, files


def test_seg_export_is_valid_dicom_equal_in_dcmqi_and_audited(env, approved, tmp_path):
    cid, masks, files = approved
    out = tmp_path / "bundle"
    code, stdout, err = env.cli("export", env.path, "--cases", cid, "--format", "seg",
                                "--out", out, user="rev")
    assert code == 0, err
    assert "exported 1 case(s), 1 file(s)" in stdout
    seg = out / cid / "segmentation.dcm"
    assert dciodvfy_errors(seg) == []
    _, affine = case_grid(env, cid)
    check_with_dcmqi(seg, series_reference(files), masks, affine, ["Liver", "Tumour"], tmp_path)

    m = manifest(out)
    (case,) = m["cases"]
    assert case["case"] == cid and case["version"] == 1 and case["approved"] is True
    assert case["annotators"] == [env.user_ids["ann"]]
    assert case["reviewer_signature"]["signer_id"] == env.user_ids["rev"]
    assert case["reviewer_signature"]["signature_valid"] is True
    assert case["reviewer_signature"]["name"] == "rev"
    algos = {s["name"]: s for s in case["segments"]}
    assert algos["Liver"]["algorithm_type"] == "MANUAL"
    assert algos["Tumour"]["algorithm_type"] == "SEMIAUTOMATIC"
    assert algos["Tumour"]["algorithm_name"] == "liver-unet"
    assert algos["Tumour"]["algorithm_version"] == "sha256:" + "ab12" * 4
    assert case["model_versions"] == ["liver-unet sha256:" + "ab12" * 4]
    assert MODEL.startswith("model:liver-unet")
    assert case["emergency_access"] == []
    assert list(m["files"]) == [f"{cid}/segmentation.dcm"]

    (entry,) = env.audit("export")
    assert entry["objects"] == [cid] and entry["user_id"] == env.user_ids["rev"]
    details = entry["details"]
    assert details["format"] == "seg" and details["deidentify"] is False
    assert details["files"] == 1 and details["versions"] == {cid: 1}
    import hashlib
    assert details["manifest_sha256"] == hashlib.sha256(
        (out / "manifest.json").read_bytes()).hexdigest()

    code, stdout, _ = env.cli("export", "verify", out, "--workspace", env.path)
    assert code == 0 and stdout.startswith("1 files verified") and "pinned key" in stdout


def test_nifti_export_on_the_case_grid(env, approved, tmp_path):
    cid, masks, _ = approved
    out = tmp_path / "nifti"
    code, _, err = env.cli("export", env.path, "--all", "--format", "nifti", "--out", out,
                           user="rev")
    assert code == 0, err
    _, affine = case_grid(env, cid)
    img = nib.load(out / cid / "labels.nii.gz")
    np.testing.assert_allclose(img.affine, np.diag([-1.0, -1.0, 1.0, 1.0]) @ affine, atol=1e-4)
    assert set(manifest(out)["files"]) == {f"{cid}/labels.nii.gz", f"{cid}/labels.json",
                                           f"{cid}/labels_layer2.nii.gz"}
    # the tumour overlaps the liver, so it is in a second file (the label table says where)
    table = json.loads((out / cid / "labels.json").read_text())["segments"]
    assert [(t["name"], t["file"]) for t in table] == [("Liver", "labels.nii.gz"),
                                                       ("Tumour", "labels_layer2.nii.gz")]
    for mask, entry in zip(masks, table):
        data = np.asarray(nib.load(out / cid / entry["file"]).dataobj).transpose(2, 1, 0)
        assert np.array_equal(data == entry["label_value"], mask)   # (i,j,k) -> (k,j,i)


def test_annotators_cannot_export_and_the_refusal_is_audited(env, approved, tmp_path):
    cid, _, _ = approved
    code, _, err = env.cli("export", env.path, "--cases", cid, "--format", "seg", "--out",
                           tmp_path / "b", user="ann")
    assert code == 2 and "may not export" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "b").exists()
    denied = [e for e in env.audit("access.denied")
              if e["details"].get("attempted") == "export"]
    assert denied and denied[-1]["user_id"] == env.user_ids["ann"]
    assert env.audit("export") == []


def test_unapproved_cases_are_refused_skipped_or_marked(env, approved, tmp_path):
    cid, _, _ = approved
    make_series(tmp_path / "ct2", shape=(6, 16, 12))
    draft = import_dicom(env, tmp_path / "ct2")
    label_and_approve(env, draft, approve=False)
    code, _, err = env.cli("export", env.path, "--cases", f"{cid},{draft}", "--format", "seg",
                           "--out", tmp_path / "b1", user="rev")
    assert code == 2 and f"case {draft} is submitted, not approved" in err
    assert not (tmp_path / "b1").exists()

    code, _, err = env.cli("export", env.path, "--all", "--format", "seg", "--out",
                           tmp_path / "b2", user="rev")
    assert code == 0 and f"skipped case {draft} is submitted, not approved" in err
    assert [c["case"] for c in manifest(tmp_path / "b2")["cases"]] == [cid]

    code, _, err = env.cli("export", env.path, "--all", "--include-unapproved", "--format",
                           "seg", "--out", tmp_path / "b3", user="rev")
    assert code == 0, err
    cases = {c["case"]: c for c in manifest(tmp_path / "b3")["cases"]}
    assert cases[cid]["approved"] is True and cases[draft]["approved"] is False
    assert cases[draft]["reviewer_signature"] is None
    assert env.audit("export")[-1]["details"]["unapproved"] == [draft]


def test_a_format_the_site_does_not_allow_is_refused(env, approved, tmp_path):
    cid, _, _ = approved
    (tmp_path / "site.toml").write_text('locked = ["allowed_export_formats"]\n[settings]\n'
                                        'allowed_export_formats = ["nifti"]\n')
    code, out, err = env.cli("export", env.path, "--cases", cid, "--format", "seg", "--out",
                             tmp_path / "b", user="rev")
    assert code == 2 and out == ""
    assert err.strip() == ("annotrace: export format 'seg' is not allowed on this site "
                           "(allowed_export_formats: nifti)")
    assert not (tmp_path / "b").exists()


def test_seg_of_a_nifti_source_is_refused_nifti_works(env, tmp_path, colin_t1):
    from viewers.io import read_volume

    vol = read_volume(colin_t1)
    small = np.ascontiguousarray(vol.array[60:70, 80:96, 70:86])
    with env.login("ann") as s:
        cid = s.import_case(small, vol.affine_lps, source_format="nifti")
    label_and_approve(env, cid)
    code, _, err = env.cli("export", env.path, "--cases", cid, "--format", "seg", "--out",
                           tmp_path / "b", user="rev")
    assert code == 2
    assert f"case {cid} was imported from nifti, not DICOM: a DICOM SEG needs a DICOM " \
           "source series (export --format nifti)" in err
    code, _, err = env.cli("export", env.path, "--cases", cid, "--format", "nifti", "--out",
                           tmp_path / "n", user="rev")
    assert code == 0, err


def test_unknown_case_and_missing_arguments_are_one_line(env, approved, tmp_path):
    code, _, err = env.cli("export", env.path, "--cases", "0123456789abcdef", "--format", "seg",
                           "--out", tmp_path / "b", user="rev")
    assert code == 2 and "no case '0123456789abcdef' in this workspace" in err
    code, _, err = env.cli("export", env.path, "--format", "seg", "--out", tmp_path / "b",
                           user="rev")
    assert code == 2 and "--cases ID[,ID...] or --all" in err


def test_emergency_access_to_a_case_is_flagged_in_the_manifest(env, approved, tmp_path,
                                                               passwords):
    cid, _, _ = approved
    with env.login("admin") as admin:
        grant = admin.start_emergency("stroke team needs the prior scan", 15,
                                      passwords["admin"])
        admin.open_case(cid)
    out = tmp_path / "b"
    code, _, err = env.cli("export", env.path, "--cases", cid, "--format", "nifti", "--out", out,
                           user="rev")
    assert code == 0, err
    (flag,) = manifest(out)["cases"][0]["emergency_access"]
    assert flag["seq"] == grant.seq and flag["user_id"] == env.user_ids["admin"]
    assert flag["reason"] == "stroke team needs the prior scan" and flag["minutes"] == 15
    assert "case.open" in flag["actions"] and flag["ended"] is not None


def test_a_case_imported_by_the_command_line_exports_as_seg(env, tmp_path):
    """``annotrace case import`` keeps the series headers, so the SEG references the source."""
    files = make_series(tmp_path / "ct", shape=(6, 16, 12))
    code, stdout, err = env.cli("case", "import", env.path, tmp_path / "ct", user="ann")
    assert code == 0, err
    cid = stdout.strip()
    masks = label_and_approve(env, cid)
    out = tmp_path / "bundle"
    code, _, err = env.cli("export", env.path, "--cases", cid, "--format", "seg", "--out", out,
                           user="rev")
    assert code == 0, err
    seg = out / cid / "segmentation.dcm"
    assert dciodvfy_errors(seg) == []
    _, affine = case_grid(env, cid)
    check_with_dcmqi(seg, series_reference(files), masks, affine, ["Liver", "Tumour"], tmp_path)
