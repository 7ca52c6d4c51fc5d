"""Golden files of on-disk format version 1 must keep decrypting with the current code."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest

from compliance import crypto
from compliance.errors import IntegrityError
from compliance.workspace import Workspace

GOLDEN = Path(__file__).resolve().parent / "golden"


def test_object_v1_decrypts():
    spec = json.loads((GOLDEN / "object_v1.json").read_text())
    blob = (GOLDEN / "object_v1.bin").read_bytes()
    keys = {spec["key_gen"]: bytes.fromhex(spec["key"])}
    wid = bytes.fromhex(spec["workspace_id"])
    assert crypto.read_header(blob)[:3] == (spec["key_gen"], spec["version"], spec["object_id"])
    plain = crypto.decrypt_object(keys, wid, spec["object_id"], spec["version"], blob)
    assert plain == bytes.fromhex(spec["plaintext_hex"])
    with pytest.raises(IntegrityError):
        crypto.decrypt_object(keys, wid, spec["object_id"], spec["version"] + 1, blob)


@pytest.fixture
def golden_ws(tmp_path):
    root = tmp_path / "ws"
    shutil.copytree(GOLDEN / "workspace_v1", root)
    return Workspace.open(root), json.loads((GOLDEN / "workspace_v1.json").read_text())


def test_workspace_v1_opens_and_everything_decrypts(golden_ws):
    ws, spec = golden_ws
    pw, cid = spec["passwords"], spec["case_id"]
    ann = ws.login("ann", pw["ann"])
    case = ann.open_case(cid)
    assert hashlib.sha256(case.array.tobytes()).hexdigest() == spec["image_sha256"]
    assert case.record["patient"]["name"] == "Golden^Test" and case.record["modality"] == "CT"
    assert [m["content_sha256"] for m in ann.versions(cid)] == spec["versions"]
    meta, labels = ann.load_labels(cid, 1)
    assert [s["name"] for s in labels.segments] == ["a", "b", "c"]
    assert int(labels.layers[0].sum()) == 60 and labels.provenance_legend == {"1": "user:golden"}
    rev = ws.login("rev", pw["rev"])
    state = rev.review_state(cid)
    assert state["state"] == "approved" and state["version"] == 2
    assert rev.verify_approval(state["events"][-1])
    aud = ws.login("aud", pw["aud"])
    n, entries = aud.verify_audit(deep=True)  # a format-1 trail and its objects still agree
    assert [e["action"] for e in entries][:8] == [
        "workspace.init", "user.add", "login", "user.add", "user.add", "user.add", "login",
        "case.import"]
    assert n > 20
