"""``annotrace train`` end to end on approved Colin27 cases in a real workspace."""

from __future__ import annotations

import json

import nibabel as nib
import numpy as np
import pytest

from app.cli.main import main
from app.workspace_models import train
from compliance import modelstore
from models.errors import Cancelled
from modelws_common import (PASSWORDS, add_approved_cases, audit_entries, colin_variants,
                            password_file)


def _auth(tmp_path, user):
    return ["--user", user, "--password-file", password_file(tmp_path, user)]


def test_train_registers_a_version_that_lists_and_proposes(approved_ws, tmp_path, capsys,
                                                           colin_t1):
    ws, ids = approved_ws
    code = main(["train", str(ws.root), "--from-model", "brainmask-unet", "--steps", "4",
                 "--holdout", "0.34", "--seed", "1", "--json", *_auth(tmp_path, "rev")])
    out, err = capsys.readouterr()
    assert code == 0, err
    record = json.loads(out)
    assert (record["name"], record["version"]) == ("brainmask-unet-local", "1")
    assert record["parent"]["model_id"] == "brainmask-unet@1"
    assert sorted(record["training_cases"] + record["validation_cases"]) == sorted(ids)
    assert len(record["validation_cases"]) == 1
    assert set(record["validation_dice"]) == set(record["validation_cases"])
    assert record["mean_validation_dice"] > 0.8  # a few steps from a good parent
    assert set(record["parent_validation_dice"]) == set(record["validation_cases"])
    assert record["lr"] == 1e-4 and record["freeze_norm"] is True  # the recorded defaults
    assert record["mean_parent_validation_dice"] == pytest.approx(
        np.mean(list(record["parent_validation_dice"].values())), abs=1e-4)
    assert "training: 4/4" in err
    entry = audit_entries(ws, "model.train")[-1]
    assert entry["details"]["weights_sha256"] == record["weights_sha256"]
    assert entry["details"]["training_cases"] == record["training_cases"]
    assert entry["details"]["parent"]["model_id"] == "brainmask-unet@1"
    assert entry["details"]["mean_parent_validation_dice"] == \
        record["mean_parent_validation_dice"]

    code = main(["models", "list", "--workspace", str(ws.root), *_auth(tmp_path, "ann")])
    out = capsys.readouterr().out
    assert code == 0 and "brainmask-unet-local@1 workspace" in out
    assert f"parent brainmask-unet@1, 2 training case(s), validation Dice " \
           f"{record['mean_validation_dice']:.4f}" in out

    # the new version proposes from memory; the output records its weights hash
    small = tmp_path / "small.nii.gz"
    img = nib.load(str(colin_t1))
    nib.save(nib.Nifti1Image(np.asarray(img.dataobj)[::3, ::3, ::3],
                             img.affine @ np.diag([3.0, 3.0, 3.0, 1.0])), str(small))
    code = main(["propose", str(small), "--workspace", str(ws.root), "--model",
                 "brainmask-unet-local@1", "--out", str(tmp_path / "p.nii.gz"), "--quiet",
                 "--json", *_auth(tmp_path, "ann")])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert json.loads(captured.out)["segments"]["brain"]["voxels"] > 0
    assert nib.load(str(tmp_path / "p.nii.gz")).shape == nib.load(str(small)).shape
    generated = audit_entries(ws, "proposal.generate")[-1]["details"]
    assert generated["model"] == "brainmask-unet-local@1"
    assert generated["weights_sha256"] == record["weights_sha256"]

    # fine-tuning the workspace version again: same name, next version, parent recorded
    code = main(["train", str(ws.root), "--from-model", "brainmask-unet-local@1", "--steps",
                 "1", "--holdout", "0", "--quiet", "--json", *_auth(tmp_path, "ann")])
    second = json.loads(capsys.readouterr().out)
    assert code == 0
    assert (second["name"], second["version"]) == ("brainmask-unet-local", "2")
    assert second["parent"] == {"model_id": "brainmask-unet-local@1",
                                "weights_sha256": record["weights_sha256"],
                                "kind": "workspace"}
    assert second["base_model"] == "brainmask-unet@1" and second["validation_dice"] == {}


def test_cancelling_registers_nothing(approved_ws):
    ws, _ = approved_ws
    with ws.login("rev", PASSWORDS["rev"]) as rev:
        before = len(modelstore.list_versions(rev))

        def progress(done, total, stage):
            if done == 2:
                raise Cancelled("user pressed Cancel")

        with pytest.raises(Cancelled):
            train(rev, "brainmask-unet", steps=50, progress=progress)
        assert len(modelstore.list_versions(rev)) == before


def test_fewer_than_two_approved_cases_is_one_line_and_exit_2(ws, tmp_path, capsys, colin_t1,
                                                              colin_brain):
    variants = colin_variants(colin_t1, colin_brain, 2, step=4)
    add_approved_cases(ws, variants[:1])
    add_approved_cases(ws, variants[1:], approve=False)  # submitted, not approved
    code = main(["train", str(ws.root), "--from-model", "brainmask-unet",
                 *_auth(tmp_path, "rev")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and "\n" not in err
    assert "1 approved case(s)" in err and "at least 2" in err
    assert main(["train", str(ws.root), "--from-model", "brainmask-unet", "--holdout", "1.5",
                 *_auth(tmp_path, "rev")]) == 2
    assert main(["train", str(ws.root), "--from-model", "brainmask-unet",
                 *_auth(tmp_path, "admin")]) == 2
    assert "may not model.train" in capsys.readouterr().err
    assert not (ws.root / "models" / "v").exists()


def test_ctrl_c_stops_annotrace_train_and_registers_nothing(approved_ws, tmp_path):
    import signal
    import subprocess
    import sys

    ws, _ = approved_ws
    with ws.login("rev", PASSWORDS["rev"]) as rev:
        before = len(modelstore.list_versions(rev))
    proc = subprocess.Popen(
        [sys.executable, "-m", "app.cli.main", "train", str(ws.root), "--from-model",
         "brainmask-unet", "--steps", "5000", *_auth(tmp_path, "rev")],
        stderr=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        # a shell's background job would ignore SIGINT; a terminal's Ctrl-C does not
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    err = []
    while not any("training: 1/5000" in line for line in err):
        line = proc.stderr.readline()
        assert line, "".join(err)
        err.append(line)
    proc.send_signal(signal.SIGINT)
    out, rest = proc.communicate(timeout=120)
    assert proc.returncode == 130, "".join(err) + rest
    assert "training cancelled; nothing registered" in rest and out == ""
    with ws.login("rev", PASSWORDS["rev"]) as rev:
        assert len(modelstore.list_versions(rev)) == before
    assert audit_entries(ws, "model.train_cancelled")


def test_a_session_that_locked_during_training_re_authenticates_and_registers(
        approved_ws, tmp_path, capsys, monkeypatch):
    import app.workspace_models as wm

    ws, _ = approved_ws
    sessions = []
    real_prepare, real_fine_tune = wm.prepare, wm.fine_tune_plan

    def prepare(session, *args, **kwargs):
        sessions.append(session)
        return real_prepare(session, *args, **kwargs)

    def fine_tune_plan(*args, **kwargs):
        result = real_fine_tune(*args, **kwargs)
        sessions[0].lock(reason="idle")  # as a run longer than idle_lock_minutes does
        return result

    monkeypatch.setattr(wm, "prepare", prepare)
    monkeypatch.setattr(wm, "fine_tune_plan", fine_tune_plan)
    code = main(["train", str(ws.root), "--from-model", "brainmask-unet", "--steps", "1",
                 "--holdout", "0", "--quiet", "--json", "--name", "after-lock",
                 *_auth(tmp_path, "rev")])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert json.loads(captured.out)["name"] == "after-lock"
    actions = [e["action"] for e in audit_entries(ws, "session.unlock")]
    assert actions and audit_entries(ws, "model.train")[-1]["details"]["model"] == \
        "after-lock@1"


def test_the_comparison_with_the_parent_says_better_or_worse():
    from app.workspace_models import parent_comparison

    record = {"validation_dice": {"a": 0.9, "b": 0.92}, "mean_validation_dice": 0.91,
              "mean_parent_validation_dice": 0.95}
    line = parent_comparison(record)
    assert line.startswith("parent on the same 2 held-out case(s): 0.9500 (new 0.9100)")
    assert "WORSE than its parent by 0.0400" in line
    assert "better than its parent by 0.0200" in parent_comparison(
        {**record, "mean_parent_validation_dice": 0.89})
    assert parent_comparison({**record, "mean_parent_validation_dice": None}) is None
    assert parent_comparison({"validation_dice": {}, "mean_validation_dice": None,
                              "mean_parent_validation_dice": None}) is None
