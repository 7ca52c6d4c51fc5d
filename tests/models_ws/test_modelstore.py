"""Model versions kept in a workspace: encrypted, bound to their id, permission-checked."""

from __future__ import annotations

import hashlib
import zlib

import numpy as np
import pytest

from compliance import modelstore
from compliance.crypto import read_header
from compliance.errors import IntegrityError, PermissionDenied
from modelws_common import PASSWORDS, audit_entries
from models.registry import WEIGHTS_DIR

WEIGHTS = (WEIGHTS_DIR / "brainmask_unet.pt").read_bytes()


def _record(name="site-brain-xyz", cases=("0123456789abcdef",)):
    return {"name": name, "parent": {"model_id": "brainmask-unet@1",
                                     "weights_sha256": hashlib.sha256(WEIGHTS).hexdigest()},
            "base_model": "brainmask-unet@1", "task": "brain mask", "modality": "MR",
            "labels": [{"value": 1, "name": "brain", "snomed": "12738006"}],
            "training_cases": list(cases), "validation_cases": ["fedcba9876543210"],
            "validation_dice": {"fedcba9876543210": 0.9512}}


def test_a_version_round_trips_and_no_file_holds_its_name_or_weights_in_plaintext(ws):
    with ws.login("ann", PASSWORDS["ann"]) as ann:
        first = modelstore.register_version(ann, _record(), WEIGHTS)
        second = modelstore.register_version(ann, _record(), WEIGHTS[:-1] + b"\0")
        assert (first["version"], second["version"]) == ("1", "2")
        assert first["weights_sha256"] == hashlib.sha256(WEIGHTS).hexdigest()
        assert first["mean_validation_dice"] == 0.9512 and first["created_by"] == "ann"
        meta, weights = modelstore.read_weights(ann, "site-brain-xyz@1")
        assert weights == WEIGHTS and meta["model_version_id"] == first["model_version_id"]
        assert modelstore.find_version(ann, "site-brain-xyz")["version"] == "2"
        assert modelstore.find_version(ann, first["model_version_id"])["version"] == "1"
        assert modelstore.find_version(ann, "site-brain-xyz@3") is None
        listed = modelstore.list_versions(ann)
        assert [(r["name"], r["version"]) for r in listed] == [("site-brain-xyz", "1"),
                                                               ("site-brain-xyz", "2")]
    # torch's own loader, from memory: the weights are the parent's tensors
    from models.finetune import load_state

    state = load_state(weights)
    import torch

    reference = torch.load(WEIGHTS_DIR / "brainmask_unet.pt", weights_only=True)
    assert all(torch.equal(state[k], reference[k]) for k in reference)
    piece = WEIGHTS[len(WEIGHTS) // 2:len(WEIGHTS) // 2 + 64]  # tensor bytes, not zip header
    packed = zlib.compress(WEIGHTS, 1)
    packed_piece = packed[len(packed) // 2:len(packed) // 2 + 64]  # as records.pack stores it
    for path in ws.root.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            assert b"site-brain-xyz" not in data and piece not in data, path
            assert packed_piece not in data, path
            assert "site-brain" not in path.name
    for path in (ws.root / "models" / "v").glob("*.enc"):  # AEAD objects bound to their id
        assert read_header(path.read_bytes())[2] == f"model/{path.stem}"
    trained = audit_entries(ws, "model.train")
    assert [e["details"]["model"] for e in trained] == ["site-brain-xyz@1", "site-brain-xyz@2"]
    assert trained[0]["details"]["weights_sha256"] == first["weights_sha256"]
    assert trained[0]["details"]["parent"]["model_id"] == "brainmask-unet@1"
    assert trained[0]["details"]["training_cases"] == ["0123456789abcdef"]
    assert trained[0]["details"]["validation_dice"] == {"fedcba9876543210": 0.9512}


def test_a_tampered_or_swapped_version_is_refused(ws):
    with ws.login("ann", PASSWORDS["ann"]) as ann:
        a = modelstore.register_version(ann, _record("model-a"), WEIGHTS)
        b = modelstore.register_version(ann, _record("model-b"), WEIGHTS)
    folder = ws.root / "models" / "v"
    path_a = folder / f"{a['model_version_id']}.enc"
    path_b = folder / f"{b['model_version_id']}.enc"
    original = path_a.read_bytes()
    damaged = bytearray(original)
    damaged[len(damaged) // 2] ^= 1  # one bit inside the weights
    path_a.write_bytes(bytes(damaged))
    with ws.login("ann", PASSWORDS["ann"]) as ann:
        with pytest.raises(IntegrityError):
            modelstore.read_weights(ann, "model-a@1")
        # b's file under a's id: the associated data names the object, so it does not open
        path_a.write_bytes(path_b.read_bytes())
        with pytest.raises(IntegrityError):
            modelstore.list_versions(ann)


def test_registering_and_reading_need_their_permissions(ws):
    with ws.login("admin", PASSWORDS["admin"]) as admin:
        with pytest.raises(PermissionDenied, match="model.train"):
            modelstore.register_version(admin, _record(), WEIGHTS)
    with ws.login("ann", PASSWORDS["ann"]) as ann:
        with pytest.raises(Exception, match="model name"):
            modelstore.register_version(ann, _record("bad name/../x"), WEIGHTS)
        with pytest.raises(IntegrityError, match="SHA-256"):
            modelstore.register_version(ann, {**_record(), "weights_sha256": "0" * 64}, WEIGHTS)
    assert not list((ws.root / "models" / "v").glob("*.enc"))
    denied = [e["details"]["attempted"] for e in audit_entries(ws, "access.denied")]
    assert denied == ["model.train"]


def test_a_workspace_version_proposes_from_memory_with_its_recorded_hash(ws, colin_t1):
    import nibabel as nib

    from app.workspace_models import load_model
    from models.run import propose

    with ws.login("ann", PASSWORDS["ann"]) as ann:
        modelstore.register_version(ann, _record(), WEIGHTS)
        spec, runnable, weights = load_model(ann, "site-brain-xyz@1", device="cpu")
    assert weights == WEIGHTS and spec.kind == "workspace" and spec.weights == ()
    img = nib.load(str(colin_t1))
    image = np.asarray(img.dataobj).T[::3, ::3, ::3]
    affine = np.diag([-1.0, -1.0, 1.0, 1.0]) @ img.affine @ np.diag([3.0, 3.0, 3.0, 1.0])
    proposal = propose(runnable, image, affine)
    builtin = propose("brainmask-unet", image, affine, device="cpu")
    assert proposal.model_id == "site-brain-xyz@1"
    assert proposal.weights_sha256 == builtin.weights_sha256 == spec.weights_sha256
    assert np.array_equal(proposal.labels, builtin.labels)  # same weights, same output
