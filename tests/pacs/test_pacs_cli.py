"""``annotrace pacs query|retrieve|store`` against a real Orthanc, into real encrypted workspaces.

Query, retrieve into the workspace (nothing readable on disk), annotate, approve, store the
SEG back and find it with QIDO; audit entries; refusals by role; TLS; failures mid-retrieve.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pydicom
import pytest
from cli_passwords import cli_runner, write_password_files
from pacs_common import PASSWORDS
from pacs_orthanc_server import upload_files

from app.pacs import PacsClient, PacsConfig
from compliance.records import LabelSet
from viewers.io.dicom import read as read_dicom


ACCESSION = "ACC-4711"


@pytest.fixture(scope="module")
def stored(orthanc, colin_dicom_series, tmp_path_factory):
    """The plastimatch series with an accession number (plastimatch writes none)."""
    out = tmp_path_factory.mktemp("with-accession")
    files = []
    for path in sorted(colin_dicom_series.glob("*.dcm")):
        ds = pydicom.dcmread(path)
        ds.AccessionNumber = ACCESSION
        ds.save_as(out / path.name)
        files.append(out / path.name)
    upload_files(orthanc, files)
    return [pydicom.dcmread(p, stop_before_pixels=True) for p in files]


@pytest.fixture
def cli(tmp_path, capsys, orthanc, monkeypatch):
    """Run the command line with the PACS in the user's settings and a password file."""
    settings = tmp_path / "settings.toml"
    settings.write_text(f'pacs_url = "{orthanc.url}"\n')
    monkeypatch.setenv("ANNOTRACE_USER_CONFIG", str(settings))
    monkeypatch.setenv("ANNOTRACE_SITE_CONFIG", str(tmp_path / "no-site.toml"))
    return cli_runner(write_password_files(tmp_path, PASSWORDS), capsys)


def _audit(workspace, action):
    with workspace.login("admin", PASSWORDS["admin"]) as admin:
        return [e for e in admin.read_audit() if e["action"] == action]


def _workspace_bytes(root: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file())


def _files(root: Path) -> set:
    return {p.relative_to(root) for p in root.rglob("*") if p.is_file()
            and p.parts[len(root.parts)] not in ("audit", "locks")}


def test_query_by_patient_id_accession_date_and_modality(cli, workspace, stored):
    first = stored[0]
    code, out, err = cli("pacs", "query", workspace.root, "--patient-id", "ANNOTRACE-TEST-7",
                         "--series", "--json", user="ann")
    assert code == 0, err
    studies = json.loads(out)["studies"]
    assert [s["StudyInstanceUID"] for s in studies] == [first.StudyInstanceUID]
    assert studies[0]["series"][0]["SeriesInstanceUID"] == first.SeriesInstanceUID
    assert int(studies[0]["series"][0]["NumberOfSeriesRelatedInstances"]) == len(stored)
    code, out, _ = cli("pacs", "query", workspace.root, "--accession", ACCESSION, "--json",
                       user="ann")
    assert [s["StudyInstanceUID"] for s in json.loads(out)["studies"]] == [first.StudyInstanceUID]
    code, out, _ = cli("pacs", "query", workspace.root, "--accession", "ACC-0000", "--json",
                       user="ann")
    assert json.loads(out)["studies"] == []
    date = str(first.StudyDate)
    code, out, _ = cli("pacs", "query", workspace.root, "--date-from", date, "--date-to", date,
                       "--modality", "MR", "--json", user="ann")
    assert first.StudyInstanceUID in [s["StudyInstanceUID"] for s in json.loads(out)["studies"]]
    code, out, _ = cli("pacs", "query", workspace.root, "--date-to", "19991231", "--json",
                       user="ann")
    assert json.loads(out)["studies"] == []
    code, out, _ = cli("pacs", "query", workspace.root, "--patient-id", "ANNOTRACE-TEST-7",
                       "--modality", "CT", user="ann")
    assert code == 0 and out.strip() == "no studies found"
    code, _, err = cli("pacs", "query", workspace.root, "--date-from", "2024-01-01", user="ann")
    assert code == 3 and "YYYYMMDD" in err
    entries = _audit(workspace, "pacs.query")
    study_level = [e for e in entries if e["details"]["level"] == "study"]
    assert study_level[0]["details"]["filters"] == ["patient_id"]
    assert study_level[0]["details"]["results"] == 1
    assert ["date_from", "date_to", "modality"] in [e["details"]["filters"] for e in entries]
    # Names of the filters, never their values
    assert b"ANNOTRACE-TEST-7" not in json.dumps(entries).encode()


def test_retrieve_imports_an_encrypted_case_identical_to_the_folder(cli, workspace, stored,
                                                                    colin_dicom_series):
    first = stored[0]
    code, out, err = cli("pacs", "retrieve", workspace.root, first.StudyInstanceUID,
                         first.SeriesInstanceUID, user="ann")
    assert code == 0, err
    case_id = out.strip()
    assert f"retrieving: {len(stored)}/{len(stored)} instances (100 %)" in err
    reference = read_dicom(colin_dicom_series)
    with workspace.login("ann", PASSWORDS["ann"]) as s:
        case = s.open_case(case_id)
    np.testing.assert_array_equal(case.array, reference.array)
    np.testing.assert_allclose(case.affine_lps, reference.affine_lps, atol=1e-6)
    assert case.record["patient"]["patient_id"] == "ANNOTRACE-TEST-7"
    # Nothing readable on disk: no name, no ID, no run of the voxels' bytes
    data = _workspace_bytes(workspace.root)
    for secret in (b"COLINTEST", b"ANNOTRACE-TEST-7", ACCESSION.encode(), reference.array[20, 30:34].tobytes() * 2,
                   reference.array[20].tobytes()[4000:4064]):
        assert secret not in data
    entry = _audit(workspace, "pacs.retrieve")[-1]
    assert entry["objects"] == [case_id] and entry["details"]["instances"] == len(stored)
    assert first.SeriesInstanceUID not in json.dumps(entry)


def test_cancelled_retrieve_leaves_no_case_and_no_file(workspace, orthanc, stored):
    from app.pacs import RetrieveCancelled
    from app.pacs.workflow import retrieve_case

    first = stored[0]
    before = _files(workspace.root)
    seen = []
    with workspace.login("ann", PASSWORDS["ann"]) as s:
        with pytest.raises(RetrieveCancelled, match="nothing was kept"):
            retrieve_case(s, PacsClient(PacsConfig(orthanc.url)), first.StudyInstanceUID,
                          first.SeriesInstanceUID, progress=lambda d, t: seen.append(d),
                          cancelled=lambda: len(seen) >= 7)
        assert s.list_cases() == []
    assert _files(workspace.root) == before
    entry = _audit(workspace, "pacs.retrieve")[-1]
    assert entry["details"]["outcome"] == "cancelled" and entry["objects"] == []


def test_server_killed_mid_retrieve_leaves_no_case(tmp_path, workspace, cli, colin_t1):
    """A dedicated Orthanc with the full 181-slice Colin27 series, killed after 5 instances."""
    from pacs_orthanc_server import OrthancServer, plastimatch_series

    from app.pacs import PacsError
    from app.pacs.workflow import retrieve_case

    series = plastimatch_series(colin_t1, tmp_path / "full", "KILLTEST", "KILL-1")
    server = OrthancServer(tmp_path / "orthanc-kill")
    try:
        files = sorted(series.glob("*.dcm"))
        upload_files(server, files)
        head = pydicom.dcmread(files[0], stop_before_pixels=True)
        before = _files(workspace.root)

        def progress(done, total):
            if done == 5:
                server.process.kill()
                server.process.wait()

        with workspace.login("ann", PASSWORDS["ann"]) as s:
            with pytest.raises(PacsError, match="nothing was kept|connection lost|cannot "
                                                "connect") as err:
                retrieve_case(s, PacsClient(PacsConfig(server.url, timeout_s=5)),
                              head.StudyInstanceUID, head.SeriesInstanceUID, progress=progress)
            assert "\n" not in str(err.value)
            assert s.list_cases() == []
        assert _files(workspace.root) == before
        assert _audit(workspace, "pacs.retrieve")[-1]["details"]["outcome"] == "failed"
    finally:
        server.stop()


def test_store_approved_seg_back_then_qido_finds_it(cli, workspace, orthanc, stored,
                                                   colin_dicom_series, tmp_path):
    first = stored[0]
    code, out, err = cli("pacs", "retrieve", workspace.root, first.StudyInstanceUID,
                         first.SeriesInstanceUID, "--quiet", user="ann")
    assert code == 0 and err == ""
    case_id = out.strip()
    code, _, err = cli("pacs", "store", workspace.root, case_id, user="rev")
    assert code == 2 and "not approved" in err
    with workspace.login("ann", PASSWORDS["ann"]) as s:
        array = s.open_case(case_id).array
        brain = (array > np.percentile(array, 60)).astype(np.uint8)
        s.save_labels(case_id, LabelSet([brain], [{"segment_id": 1, "name": "Brain", "layer": 0,
                                                   "value": 1}],
                                        brain.copy(), {"1": "user:ann"}))
        s.submit(case_id)
    with workspace.login("rev", PASSWORDS["rev"]) as s:
        s.approve(case_id, PASSWORDS["rev"])
    code, out, err = cli("pacs", "store", workspace.root, case_id, user="ann")
    assert code == 2 and "may not pacs.store" in err
    site = tmp_path / "site.toml"
    site.write_text('locked = ["allowed_export_formats"]\n[settings]\n'
                    'allowed_export_formats = ["nifti"]\n')
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ANNOTRACE_SITE_CONFIG", str(site))
        code, out, err = cli("pacs", "store", workspace.root, case_id, user="rev")
    assert code == 2 and "allowed_export_formats" in err
    code, out, err = cli("pacs", "store", workspace.root, case_id, user="rev")
    assert code == 0, err
    sop_uid = out.split()[3]
    series = PacsClient(PacsConfig(orthanc.url)).query_series(first.StudyInstanceUID)
    segs = [s for s in series if s["Modality"] == "SEG"]
    assert len(segs) == 1
    client = PacsClient(PacsConfig(orthanc.url))
    got = []
    client.retrieve_series(first.StudyInstanceUID, segs[0]["SeriesInstanceUID"], got.append)
    assert [ds.SOPInstanceUID for ds in got] == [sop_uid]
    import highdicom as hd

    seg = hd.seg.Segmentation.from_dataset(got[0])
    assert seg.PatientID == "ANNOTRACE-TEST-7"
    assert int(seg.NumberOfFrames) == int(np.count_nonzero(brain.any(axis=(1, 2))))
    # What came back from the PACS is a valid SEG whose mask lands on the case's voxels
    import subprocess

    from viewers.io.seg import read_dicom_seg
    from viewers.volume import Volume

    path = tmp_path / "back.seg.dcm"
    got[0].save_as(path, enforce_file_format=True)
    report = subprocess.run(["dciodvfy", str(path)], capture_output=True, text=True, timeout=120)
    assert [ln for ln in (report.stdout + report.stderr).splitlines()
            if ln.startswith("Error")] == []
    reference = read_dicom(colin_dicom_series)
    imported = read_dicom_seg(path, reference=Volume(reference.array, reference.affine_lps))
    np.testing.assert_array_equal(imported.masks()[0], brain.astype(bool))
    entry = _audit(workspace, "pacs.store")[-1]
    assert entry["objects"] == [case_id]
    assert entry["details"]["sop_instance_uid"] == sop_uid
    # Sending the same approved version again does not make a second SEG on the PACS
    code, out, err = cli("pacs", "store", workspace.root, case_id, user="rev")
    assert code == 0 and out.split()[3] == sop_uid, err
    series = client.query_series(first.StudyInstanceUID)
    assert [s["NumberOfSeriesRelatedInstances"] for s in series if s["Modality"] == "SEG"] == [1]


def test_roles_are_refused_and_audited(cli, workspace, stored):
    first = stored[0]
    code, _, err = cli("pacs", "query", workspace.root, "--patient-id", "X", user="aud")
    assert code == 2 and "may not pacs.query" in err
    code, _, err = cli("pacs", "retrieve", workspace.root, first.StudyInstanceUID,
                       first.SeriesInstanceUID, user="rev")
    assert code == 2 and "may not pacs.retrieve" in err
    denied = _audit(workspace, "access.denied")
    assert {e["details"]["attempted"] for e in denied} >= {"pacs.query", "pacs.retrieve"}


def test_usage_errors_exit_2(cli, workspace, monkeypatch, tmp_path):
    monkeypatch.setenv("ANNOTRACE_USER_CONFIG", str(tmp_path / "empty.toml"))
    code, _, err = cli("pacs", "query", workspace.root, user="ann")
    assert code == 2 and "no PACS configured" in err
    code, _, err = cli("pacs", "query", workspace.root, "--url", "http://127.0.0.1:9/x",
                       "--ca-bundle", tmp_path / "missing.pem", user="ann")
    assert code == 2 and "CA bundle not found" in err
    code, _, err = cli("pacs", "retrieve", workspace.root, "1.2.3", "4.5.6", "--url",
                       "http://127.0.0.1:9/dicom-web", "--timeout", "3", user="ann")
    assert code == 3 and "cannot connect" in err and err.count("\n") == 1


def test_wrong_certificate_is_one_line_and_the_ca_bundle_fixes_it(cli, workspace, orthanc_tls,
                                                                  tmp_path):
    code, _, err = cli("pacs", "query", workspace.root, "--url", orthanc_tls.url,
                       "--patient-id", "X", user="ann")
    assert code == 3
    assert err.count("\n") == 1 and "certificate verify failed" in err
    code, out, err = cli("pacs", "query", workspace.root, "--url", orthanc_tls.url,
                         "--ca-bundle", orthanc_tls.ca_pem, "--patient-id", "X", user="ann")
    assert code == 0 and out.strip() == "no studies found", err
    # The same from the settings alone (what IT configures)
    (tmp_path / "settings.toml").write_text(f'pacs_url = "{orthanc_tls.url}"\n'
                                            f'pacs_ca_bundle = "{orthanc_tls.ca_pem}"\n')
    code, out, err = cli("pacs", "query", workspace.root, "--patient-id", "X", user="ann")
    assert code == 0 and out.strip() == "no studies found", err


def test_series_with_a_missing_slice_is_refused_unless_gaps_are_accepted(tmp_path, workspace,
                                                                        orthanc, stored,
                                                                        colin_dicom_series):
    """The PACS holds (and announces) 39 of 40 slices: the counts agree, the geometry does not."""
    from pydicom.uid import generate_uid

    from app.pacs import PacsError
    from app.pacs.workflow import retrieve_case

    series_uid = generate_uid()
    files = []
    for n, path in enumerate(sorted(colin_dicom_series.glob("*.dcm"))):
        ds = pydicom.dcmread(path)
        if float(ds.ImagePositionPatient[2]) == sorted(
                float(d.ImagePositionPatient[2]) for d in stored)[17]:
            continue  # the slice that never reached the PACS
        ds.SeriesInstanceUID, ds.SOPInstanceUID = series_uid, generate_uid()
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        ds.save_as(tmp_path / f"{n}.dcm")
        files.append(tmp_path / f"{n}.dcm")
    assert len(files) == len(stored) - 1
    upload_files(orthanc, files)
    client = PacsClient(PacsConfig(orthanc.url))
    with workspace.login("ann", PASSWORDS["ann"]) as s:
        with pytest.raises(PacsError, match="incomplete: missing slices.*nothing was kept"):
            retrieve_case(s, client, stored[0].StudyInstanceUID, series_uid)
        assert s.list_cases() == []
        case_id = retrieve_case(s, client, stored[0].StudyInstanceUID, series_uid,
                                accept_gaps=True)
        assert s.open_case(case_id).array.shape[0] == len(stored) - 1
