"""Bundles registered in a workspace: admins only, pinned by SHA-256, refused once changed."""

from __future__ import annotations

import json

import pytest

from app.cli.main import main
from app.workspace_models import WorkspaceBundleRegistry, load_model
from compliance.errors import PermissionDenied
from models.errors import BundleRefused, ModelError
from modelws_common import PASSWORDS, audit_entries, make_bundle, password_file


@pytest.fixture
def bundle(tmp_path):
    return make_bundle(tmp_path / "bundles")


def test_only_an_admin_registers_a_bundle_and_the_refusal_is_audited(ws, bundle, tmp_path,
                                                                     capsys):
    for user in ("ann", "rev"):
        with ws.login(user, PASSWORDS[user]) as s, pytest.raises(PermissionDenied,
                                                                 match="model.register"):
            WorkspaceBundleRegistry(s).register("spleen", bundle)
    assert not (ws.root / "models" / "bundles.enc").exists()
    denied = [(e["user"], e["details"]["attempted"]) for e in audit_entries(ws, "access.denied")]
    assert denied == [("ann", "model.register"), ("rev", "model.register")]
    # the command line form: models register WS BUNDLE_DIR --user admin --password-file F
    code = main(["models", "register", str(ws.root), str(bundle), "--user", "admin",
                 "--password-file", password_file(tmp_path, "admin")])
    assert code == 0
    assert "registered spleen_ct_segmentation in" in capsys.readouterr().out
    registered = audit_entries(ws, "model.register")
    assert [e["details"]["bundle"] for e in registered] == ["spleen_ct_segmentation"]
    assert registered[0]["details"]["files"] >= 3
    # pins are encrypted: no bundle name or file path in any workspace file
    for path in ws.root.rglob("*"):
        if path.is_file():
            assert b"spleen" not in path.read_bytes() and b"inference.json" not in \
                path.read_bytes(), path
    code = main(["models", "register", str(ws.root), str(bundle), "--name", "again", "--user",
                 "ann", "--password-file", password_file(tmp_path, "ann")])
    assert code == 2 and "may not model.register" in capsys.readouterr().err


def test_a_registered_bundle_whose_files_changed_is_refused_naming_the_file(ws, bundle,
                                                                            tmp_path, capsys):
    with ws.login("admin", PASSWORDS["admin"]) as admin:
        WorkspaceBundleRegistry(admin).register("spleen", bundle)
    with ws.login("ann", PASSWORDS["ann"]) as ann:
        spec, runnable, _ = load_model(ann, "spleen", device="cpu")
        assert spec.kind == "bundle" and runnable is not None
    config = bundle / "configs" / "inference.json"
    original = config.read_text()
    data = json.loads(original)
    data["hacked"] = "$__import__('os').system('true')"
    config.write_text(json.dumps(data))
    with ws.login("ann", PASSWORDS["ann"]) as ann:
        with pytest.raises(BundleRefused,
                           match="changed since registration: configs/inference.json was "
                                 "modified"):
            load_model(ann, "spleen")
    code = main(["models", "list", "--workspace", str(ws.root), "--user", "ann",
                 "--password-file", password_file(tmp_path, "ann")])
    out = capsys.readouterr().out
    assert code == 0 and "REFUSED: changed since registration: configs/inference.json" in out
    (bundle / "scripts").mkdir(exist_ok=True)
    (bundle / "scripts" / "evil.py").write_text("print('hi')\n")
    config.write_text(original)
    with ws.login("ann", PASSWORDS["ann"]) as ann:
        with pytest.raises(BundleRefused, match="scripts/evil.py was added"):
            load_model(ann, "spleen")
    refused = [e["details"]["reason"] for e in audit_entries(ws, "model.refused")]
    assert any("configs/inference.json" in r for r in refused)
    assert any("scripts/evil.py" in r for r in refused)


def test_inside_a_workspace_an_unregistered_bundle_folder_is_refused(ws, bundle):
    with ws.login("ann", PASSWORDS["ann"]) as ann, pytest.raises(
            ModelError, match="must be registered by an admin"):
        load_model(ann, str(bundle))
