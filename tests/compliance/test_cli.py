"""The workspace commands through ``app.cli.main.main``: exit codes 0/1/2, one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys

import nibabel as nib
import numpy as np
import pytest
from cli_passwords import cli_runner, write_password_files

from app.cli.main import main

PW = {"admin": "correct horse battery", "ann": "first reader pw 1", "rev": "second reader pw",
      "aud": "privacy officer 9"}


@pytest.fixture
def cli(tmp_path, capsys):
    return cli_runner(write_password_files(tmp_path, PW), capsys)


@pytest.fixture
def populated(cli, tmp_path, colin_t1):
    ws = tmp_path / "ws"
    assert cli("workspace", "init", ws, "--admin", "admin", "--password-file",
               cli.files["admin"])[0] == 0
    for name, role in (("ann", "annotator"), ("rev", "reviewer"), ("aud", "auditor")):
        code, out, _ = cli("user", "add", ws, name, "--role", role, "--new-password-file",
                           cli.files[name], user="admin")
        assert code == 0 and out.startswith(f"added {name} ({role})")
    code, out, _ = cli("case", "import", ws, colin_t1, user="ann")
    assert code == 0
    return ws, out.strip()


def _mask(tmp_path, colin_t1, cut=False):
    img = nib.load(colin_t1)
    m = (np.asarray(img.dataobj) > 60).astype(np.uint8)
    path = tmp_path / ("cut.nii.gz" if cut else "mask.nii.gz")
    nib.save(nib.Nifti1Image(m[:-1] if cut else m, img.affine), path)
    return path, m


def test_full_workflow(cli, populated, tmp_path, colin_t1):
    ws, cid = populated
    assert len(cid) == 16 and not (ws / "cases" / cid / "ch2").exists()
    mask, m = _mask(tmp_path, colin_t1)
    code, out, _ = cli("label", "save", ws, cid, mask, user="ann")
    assert code == 0 and f"case {cid}: saved version 1 (parent None, 1 segments" in out
    code, out, _ = cli("case", "list", ws, "--json", user="rev")
    assert json.loads(out)["cases"] == [{"case_id": cid, "modality": "", "shape": [181, 217, 181],
                                         "imported": json.loads(out)["cases"][0]["imported"],
                                         "versions": 1, "state": "draft"}]
    assert cli("review", "submit", ws, cid, user="ann")[0] == 0
    code, out, _ = cli("review", "request-changes", ws, cid, "--meaning", "left edge", user="rev")
    assert code == 0 and "changes requested on version 1" in out
    assert cli("label", "save", ws, cid, mask, user="ann")[0] == 0
    assert cli("review", "submit", ws, cid, user="ann")[0] == 0
    code, out, _ = cli("review", "approve", ws, cid, "--meaning", "approved for training",
                       user="rev")
    assert code == 0 and "version 2 approved by rev" in out and "approved for training" in out
    code, out, _ = cli("review", "show", ws, cid, "--json", user="rev")
    state = json.loads(out)
    assert state["state"] == "approved" and state["events"][-1]["signature_valid"] is True
    out_path = tmp_path / "out.nii.gz"
    assert cli("label", "export", ws, cid, out_path, user="rev")[0] == 0
    back = nib.load(out_path)
    assert np.array_equal(np.asarray(back.dataobj), m)
    assert np.allclose(back.affine, nib.load(colin_t1).affine)
    code, out, _ = cli("audit", "verify", ws, "--deep", user="aud")
    assert code == 0 and out.startswith("audit trail verified: ")
    assert ("every recorded case, version and review event present and unchanged, user table "
            "at its recorded revision") in out
    code, out, _ = cli("audit", "show", ws, "--case", cid, "--json", user="aud")
    actions = [e["action"] for e in json.loads(out)["entries"]]
    assert actions == ["case.import", "label.save", "review.submit", "review.request_changes",
                       "label.save", "review.submit", "review.approve", "review.read",
                       "label.open"]
    code, out, _ = cli("audit", "show", ws, "--since", "2000-01-01T00:00+02:00", "--case", cid,
                       "--json", user="aud")
    assert [e["action"] for e in json.loads(out)["entries"]] == actions
    code, out, _ = cli("audit", "show", ws, "--since", "2999-01-01", "--json", user="aud")
    assert json.loads(out)["entries"] == []
    code, _, err = cli("audit", "show", ws, "--since", "yesterday", user="aud")
    assert code == 2 and "not an ISO 8601 time" in err
    code, out, _ = cli("audit", "show", ws, "--by", "admin", "--json", user="aud")
    by_admin = {e["action"] for e in json.loads(out)["entries"]}
    assert by_admin == {"workspace.init", "user.add", "login", "logout"}


@pytest.mark.parametrize("args,user,message", [
    (["label", "save", "{ws}", "{cid}", "{cut}"], "ann", "does not match case {cid} grid"),
    (["label", "save", "{ws}", "{cid}", "{mask}"], "rev", "may not label.save"),
    (["label", "save", "{ws}", "ffffffffffffffff", "{mask}"], "ann", "no case 'ffffffffffffffff'"),
    (["review", "approve", "{ws}", "{cid}"], "ann", "may not review.approve"),
    (["review", "approve", "{ws}", "{cid}"], "rev", "is new, not submitted"),
    (["case", "list", "{ws}"], "aud", "may not case.list"),
    (["audit", "verify", "{ws}"], "ann", "may not audit.verify"),
    (["user", "add", "{ws}", "eve", "--role", "admin", "--new-password-file", "{pwfile}"], "ann",
     "may not user.manage"),
    (["user", "add", "{ws}", "ann", "--role", "admin", "--new-password-file", "{pwfile}"],
     "admin", "already exists"),
    (["workspace", "init", "{ws}", "--admin", "x", "--password-file", "{pwfile}"], None,
     "not empty"),
    (["case", "import", "{ws}", "{missing}"], "ann", "no such file"),
])
def test_errors_are_one_line_with_exit_code_2(cli, populated, tmp_path, colin_t1, args, user,
                                               message):
    ws, cid = populated
    cut, _ = _mask(tmp_path, colin_t1, cut=True)
    mask, _ = _mask(tmp_path, colin_t1)
    values = {"ws": ws, "cid": cid, "cut": cut, "mask": mask, "pwfile": cli.files["ann"],
              "missing": tmp_path / "nope.nii.gz"}
    code, out, err = cli(*[a.format(**values) for a in args], user=user)
    assert code == 2
    assert err.count("\n") == 1 and err.startswith("annotrace: ")
    assert message.format(**values) in err


def test_wrong_password_and_missing_password_file(cli, populated, tmp_path):
    ws, _ = populated
    bad = tmp_path / "bad.pw"
    bad.write_text("not it at all\n")
    code, _, err = cli("case", "list", ws, "--user", "ann", "--password-file", bad)
    assert (code, err) == (2, f"annotrace: {ws}: wrong user name or password\n")
    code, _, err = cli("case", "list", ws, "--user", "ann", "--password-file", tmp_path / "x")
    assert code == 2 and "cannot read the password file" in err


@pytest.mark.parametrize("option", ["--password", "--pass", "--passwd", "--new-password"])
def test_a_password_on_the_command_line_is_refused_without_echo(tmp_path, capsys, option):
    for argv in (["workspace", "init", str(tmp_path / "w"), "--admin", "a"],
                 ["case", "list", str(tmp_path / "w"), "--user", "a"]):
        with pytest.raises(SystemExit) as info:
            main(argv + [option, "s3cret-value"])
        err = capsys.readouterr().err
        assert info.value.code == 2 and "s3cret-value" not in err
        assert "never taken on the command line" in err
    assert not (tmp_path / "w").exists()


def test_tampered_trail_exits_1_naming_the_entry(cli, populated):
    ws, _ = populated
    log = ws / "audit" / "log.jsonl"
    lines = log.read_text().splitlines(keepends=True)
    log.write_text("".join(lines[:4] + lines[5:]))
    code, _, err = cli("audit", "verify", ws, user="aud")
    assert code == 1 and err == ("annotrace: audit: entry 5 deleted: the log jumps from entry 4 "
                                 "to entry 6\n")


def test_deep_verify_exits_1_when_an_old_user_table_is_put_back(cli, populated):
    ws, _ = populated
    table = ws / "users" / "table.enc"
    before = table.read_bytes()
    assert cli("user", "disable", ws, "ann", user="admin")[0] == 0
    table.write_bytes(before)
    assert cli("audit", "verify", ws, user="aud")[0] == 0  # the trail alone is intact
    code, _, err = cli("audit", "verify", ws, "--deep", user="aud")
    assert code == 1 and err.count("\n") == 1
    assert err.startswith("annotrace: the user table is revision 4 but audit entry ")
    assert err.endswith("recorded revision 5 (an older copy was put back)\n")


def test_user_admin_commands(cli, populated):
    ws, _ = populated
    code, out, _ = cli("user", "list", ws, "--json", user="admin")
    assert [(u["name"], u["role"]) for u in json.loads(out)["users"]] == [
        ("admin", "admin"), ("ann", "annotator"), ("aud", "auditor"), ("rev", "reviewer")]
    assert cli("user", "disable", ws, "ann", user="admin")[0] == 0
    code, _, err = cli("case", "list", ws, user="ann")
    assert code == 2 and "disabled" in err
    assert cli("user", "reset-password", ws, "ann", "--new-password-file", cli.files["rev"],
               user="admin")[0] == 0
    code, _, _ = cli("case", "list", ws, "--user", "ann", "--password-file", cli.files["rev"])
    assert code == 0


def test_headless_workspace_commands_import_no_qt_or_torch(populated, cli):
    ws, _ = populated
    probe = ("import sys, json; from app.cli.main import main; code = main(sys.argv[1:]); "
             "print(json.dumps([code, sorted({m.split('.')[0] for m in sys.modules} & "
             "{'PySide6', 'torch', 'monai'})]))")
    result = subprocess.run([sys.executable, "-c", probe, "case", "list", str(ws), "--user", "ann",
                             "--password-file", str(cli.files["ann"])], capture_output=True,
                            text=True, timeout=120)
    assert json.loads(result.stdout.strip().splitlines()[-1]) == [0, []]


def test_password_prompt_on_a_terminal_is_not_echoed(tmp_path):
    """``workspace init`` without --password-file asks twice at a getpass prompt."""
    import os
    import pty
    import time

    secret = b"typed at the prompt 1"
    pid, fd = pty.fork()
    if pid == 0:  # pragma: no cover - the child process
        os.execv(sys.executable, [sys.executable, "-m", "app", "workspace", "init",
                                  str(tmp_path / "ws"), "--admin", "boss"])
    out = b""

    def read_until(token):
        nonlocal out
        deadline = time.monotonic() + 60
        while token not in out and time.monotonic() < deadline:
            try:
                out += os.read(fd, 1024)
            except OSError:
                break

    read_until(b"Password for boss: ")
    os.write(fd, secret + b"\n")
    read_until(b"Repeat: ")
    os.write(fd, secret + b"\n")
    read_until(b"created workspace")
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert b"created workspace" in out and secret not in out
    pwfile = tmp_path / "pw"
    pwfile.write_bytes(secret + b"\n")
    assert main(["user", "list", str(tmp_path / "ws"), "--user", "boss", "--password-file",
                 str(pwfile)]) == 0


def test_verify_prints_an_anchor_that_later_verifies(cli, populated):
    ws, _ = populated
    code, out, _ = cli("audit", "verify", ws, user="aud")
    anchor = out.splitlines()[1].split()[1]
    assert code == 0 and out.splitlines()[1].startswith("anchor: ")
    assert cli("audit", "verify", ws, "--anchor", anchor, user="aud")[0] == 0
    seq, h = anchor.split(":")
    code, _, err = cli("audit", "verify", ws, "--anchor", f"{seq}:{'0' * 64}", user="aud")
    assert code == 1 and f"entry {seq} modified: checkpoint differs from the external" in err
    code, _, err = cli("audit", "verify", ws, "--anchor", "12:abc", user="aud")
    assert code == 2 and "expected SEQ:HASH" in err


def test_dicom_import_and_label_save_leave_no_phi(cli, populated, tmp_path, pydicom_data_dir):
    """A real DICOM file with a real PatientName, imported and labelled through the CLI."""
    import pydicom

    from viewers.io import read_volume, write_volume

    ws, _ = populated
    src = pydicom_data_dir / "MR-SIEMENS-DICOM-WithOverlays.dcm"
    ds = pydicom.dcmread(src, stop_before_pixels=True)
    name, pid = str(ds.PatientName), str(ds.PatientID)
    code, out, _ = cli("case", "import", ws, src, user="ann")
    assert code == 0
    cid = out.strip()
    volume = read_volume(src)
    mask = (volume.array > volume.array.mean()).astype(np.uint8)
    write_volume(volume.with_array(mask), tmp_path / "mask.nii.gz")
    code, out, err = cli("label", "save", ws, cid, tmp_path / "mask.nii.gz", user="ann")
    assert code == 0, err
    code, out, _ = cli("case", "list", ws, "--json", user="ann")
    listed = {c["case_id"]: c for c in json.loads(out)["cases"]}
    assert listed[cid]["modality"] == "MR" and listed[cid]["shape"] == [1, 484, 484]
    assert name not in out and pid not in out
    edges = np.flatnonzero(np.diff(mask.reshape(-1)))
    at = int(edges[len(edges) // 2])
    needles = [name.encode(), name.split("^")[0].encode(), pid.encode(),
               mask.tobytes()[at - 24:at + 24]]
    assert needles[3].count(0) and needles[3].count(1)  # a window with both label values
    hits = [p for p in ws.rglob("*") if p.is_file() and any(n in p.read_bytes() for n in needles)]
    assert hits == []
