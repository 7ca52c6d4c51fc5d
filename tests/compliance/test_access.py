"""Authentication, lockout, disabled accounts, roles, idle lock, key rotation."""

from __future__ import annotations

import json

import numpy as np
import pytest

from compliance import roles
from compliance.errors import (AuthenticationError, DisabledError, LockedOutError,
                               PermissionDenied, PolicyError, SessionLocked)


def _audit(ws, pw):
    admin = ws.login("admin", pw["admin"])
    return admin.read_audit()


def test_wrong_password_is_refused_and_audited_without_saying_why(ws, pw):
    with pytest.raises(AuthenticationError) as info:
        ws.login("ann", "wrong password!")
    assert str(info.value) == "wrong user name or password"
    with pytest.raises(AuthenticationError) as info2:
        ws.login("nobody", "wrong password!")
    assert str(info2.value) == str(info.value)  # an unknown name looks the same
    entries = _audit(ws, pw)
    failed = [e for e in entries if e["action"] == "login.failed"]
    assert [(e["user"], e["details"]["reason"]) for e in failed] == [
        ("ann", "wrong password"), ("", "unknown user")]
    assert all(e["sealed_without_login"] for e in failed)


def test_lockout_after_five_failures_then_expiry(ws, pw):
    for i in range(4):
        with pytest.raises(AuthenticationError) as info:
            ws.login("ann", f"wrong password {i}")
        assert not isinstance(info.value, LockedOutError)
    with pytest.raises(LockedOutError, match="locked for 15 min after 5 failed"):
        ws.login("ann", "wrong password 5")
    with pytest.raises(LockedOutError, match="try again in 15 min"):
        ws.login("ann", pw["ann"])  # even the right password
    # Fifteen minutes pass (the lockout time is stored as a UTC timestamp).
    path = ws.state_path("ann")
    state = json.loads(path.read_text())
    state["locked_until"] -= 15 * 60 + 1
    path.write_text(json.dumps(state))
    ws.login("ann", pw["ann"])
    actions = [(e["action"], e["user"]) for e in _audit(ws, pw)]
    assert actions.count(("login.failed", "ann")) == 5
    assert ("user.locked_out", "ann") in actions and ("login.refused", "ann") in actions
    assert actions.count(("login", "ann")) == 1


def test_disabled_user_cannot_log_in_until_reset(ws, login, pw):
    admin = login("admin")
    admin.disable_user("ann")
    assert not ws.slot_path("ann").exists()  # the key slot is destroyed
    with pytest.raises(DisabledError, match="disabled"):
        ws.login("ann", pw["ann"])
    admin.reset_password("ann", "brand new secret 7")
    with pytest.raises(AuthenticationError):
        ws.login("ann", pw["ann"])
    assert ws.login("ann", "brand new secret 7").role == "annotator"
    actions = [(e["action"], e["user"]) for e in admin.read_audit()]
    assert ("login.refused", "ann") in actions
    assert ("user.disable", "admin") in actions and ("user.reset_password", "admin") in actions


def _attempts(session, cid, labels, password):
    return {
        "case.import": lambda: session.import_case(np.zeros((2, 2, 2), np.int16), np.eye(4)),
        "case.list": lambda: session.list_cases(),
        "case.open": lambda: session.open_case(cid),
        "label.read": lambda: session.load_labels(cid),
        "label.save": lambda: session.save_labels(cid, labels),
        "journal": lambda: session.journal_write(cid, labels, 1),
        "review.submit": lambda: session.submit(cid),
        "review.approve": lambda: session.approve(cid, password),
        "review.request_changes": lambda: session.request_changes(cid),
        "user.manage": lambda: session.add_user("eve", "admin", "a long enough pw"),
        "settings.change": lambda: session.change_setting("lockout_failures", 100),
        "keys.rotate": lambda: session.rotate_keys(password),
        "export": lambda: session.export_keys(),
        "audit.read": lambda: session.read_audit(),
        "audit.verify": lambda: session.verify_audit(),
        "emergency.start": lambda: session.start_emergency("patient deteriorating, need images",
                                                           10, password),
        # Actions whose operations live outside Session (app layer) check through require();
        # the tests of those operations check that they call it.
        **{a: (lambda a=a: session.require(a)) for a in (
            "pacs.query", "pacs.retrieve", "pacs.store", "proposal.generate", "proposal.accept",
            "model.register", "model.train", "model.list", "quality.read", "quality.reference",
            "autolabel.calibrate", "autolabel.apply", "drift.record")},
    }


@pytest.mark.parametrize("role_user", ["ann", "rev", "admin", "aud"])
def test_each_role_is_refused_each_forbidden_action(ws, login, case, pw, make_labels, role_user):
    _, cid = case
    session = login(role_user)
    attempts = _attempts(session, cid, make_labels(), pw[role_user])
    assert set(attempts) | {"audit.write"} == set(roles.PERMISSIONS)  # every action is tried
    forbidden = [a for a in attempts if not roles.allowed(session.role, a)]
    assert forbidden  # every role lacks something
    files_before = sorted(p.relative_to(ws.root) for p in ws.root.rglob("*.enc"))
    for action in forbidden:
        with pytest.raises(PermissionDenied) as info:
            attempts[action]()
        assert action in str(info.value) and "Test^Patient" not in str(info.value)
    assert sorted(p.relative_to(ws.root) for p in ws.root.rglob("*.enc")) == files_before
    denied = [e["details"]["attempted"] for e in _audit(ws, pw)
              if e["action"] == "access.denied" and e["user"] == role_user]
    assert denied == forbidden


def test_auditor_reads_the_trail_but_no_image(login, case):
    _, cid = case
    aud = login("aud")
    entries = aud.read_audit(case=cid)
    assert {"case.import", "label.save"} <= {e["action"] for e in entries}
    with pytest.raises(PermissionDenied):
        aud.open_case(cid)


def test_author_cannot_approve_own_work_even_as_reviewer(ws, login, case, pw):
    ann, cid = case
    ann.submit(cid)
    login("admin").set_role("ann", "reviewer")
    promoted = login("ann")
    with pytest.raises(PermissionDenied, match="authored or submitted"):
        promoted.approve(cid, pw["ann"])
    assert promoted.review_state(cid)["state"] == "submitted"


def test_password_policy(login):
    admin = login("admin")
    for name, role, password, message in [
        ("bob", "annotator", "short", "too short"),
        ("robert", "annotator", "robert is my password", "user name"),
        ("bob", "annotator", "aaaaaaaaaaaaaaaa", "repetitive"),
        ("Bob Smith", "annotator", "a long enough pw", "user name"),
        ("bob", "superuser", "a long enough pw", "unknown role"),
        ("ann", "annotator", "a long enough pw", "already exists"),
    ]:
        with pytest.raises(PolicyError, match=message):
            admin.add_user(name, role, password)


class Clock:
    def __init__(self):
        self.t = 1000.0

    def __call__(self):
        return self.t


def test_idle_lock_keeps_unsaved_work_and_asks_for_the_password(ws, case, pw, make_labels):
    _, cid = case
    clock = Clock()
    s = ws.login("ann", pw["ann"], clock=clock)
    unsaved = make_labels(seed=9)
    s.journal_write(cid, unsaved, base_version=1)
    clock.t += 9 * 60
    assert not s.check_idle()
    s.list_cases()  # activity
    clock.t += 10 * 60 + 1
    with pytest.raises(SessionLocked):
        s.list_cases()
    assert s.locked and s._keys is None  # keys dropped from memory
    with pytest.raises(AuthenticationError):
        s.unlock("not my password")
    s.unlock(pw["ann"])
    meta, labels = s.journal_read(cid)
    assert meta["base_version"] == 1 and np.array_equal(labels.layers[1], unsaved.layers[1])
    actions = [(e["action"], e["details"].get("reason")) for e in _audit(ws, pw)
               if e["user"] == "ann"]
    assert ("session.lock", "idle") in actions and ("session.unlock", None) in actions
    assert ("login.failed", "wrong password") in actions


def test_rotation_rewraps_every_object_and_old_slots_follow_the_chain(ws, login, case, pw):
    ann, cid = case
    before = ann.load_labels(cid)[1]
    admin = login("admin")
    n = admin.rotate_keys(pw["admin"])
    from compliance import crypto

    objects = [p for p in ws.root.rglob("*.enc") if p.parent.name != "chain"]
    gens = {crypto.read_header(p.read_bytes())[0] for p in objects}
    # keyring, user table, case record, image, label version
    assert n == len(objects) == 5 and gens == {2}
    assert json.loads(ws.slot_path("rev").read_text())["key_gen"] == 1
    again = ws.login("ann", pw["ann"])
    assert np.array_equal(again.load_labels(cid)[1].layers[0], before.layers[0])
    assert json.loads(ws.slot_path("ann").read_text())["key_gen"] == 2  # re-wrapped at login
    admin.rotate_keys(pw["admin"], revoke_old_slots=True)
    with pytest.raises(AuthenticationError):
        ws.login("rev", pw["rev"])
    admin.reset_password("rev", "fresh start phrase 3")
    assert ws.login("rev", "fresh start phrase 3").role == "reviewer"
    aud = ws.login("aud", pw["aud"]) if ws.slot_path("aud").exists() else None
    assert aud is None  # revoked as well


def test_password_change_keeps_signatures_valid(ws, login, case, pw):
    ann, cid = case
    ann.submit(cid)
    rev = login("rev")
    event = rev.approve(cid, pw["rev"], "approved as reference standard")
    rev.change_password(pw["rev"], "a different phrase 4")
    with pytest.raises(AuthenticationError):
        ws.login("rev", pw["rev"])
    rev2 = ws.login("rev", "a different phrase 4")
    assert rev2.verify_approval(event)
    forged = {**event, "version": event["version"] + 1}
    assert not rev2.verify_approval(forged)


def test_rotation_interrupted_half_way_loses_nothing(ws, login, case, pw, monkeypatch):
    """A crash in the middle of re-wrapping: everyone still logs in and reads everything."""
    ann, cid = case
    admin = login("admin")
    from compliance import fsio as fsio_module

    real, calls = fsio_module.atomic_replace, []

    def crash_after_two(path, data):
        if path.suffix == ".enc" and len(calls) >= 2:
            raise KeyboardInterrupt("power cut")
        calls.append(path)
        real(path, data)

    monkeypatch.setattr("compliance.admin.fsio.atomic_replace", crash_after_two)
    with pytest.raises(KeyboardInterrupt):
        admin.rotate_keys(pw["admin"])
    monkeypatch.setattr("compliance.admin.fsio.atomic_replace", real)
    assert len(calls) == 2
    for name in ("admin", "ann", "rev"):
        ws.login(name, pw[name])
    again = ws.login("ann", pw["ann"])
    assert again.load_labels(cid)[0]["version"] == 1 and again.open_case(cid).array.shape
    fresh = ws.login("admin", pw["admin"])
    fresh.rotate_keys(pw["admin"])  # finishes the job
    from compliance import crypto

    assert {crypto.read_header(p.read_bytes())[0] for p in ws.root.rglob("*.enc")
            if p.parent.name != "chain"} == {3}
    assert ws.login("rev", pw["rev"]).role == "reviewer"


def test_default_kdf_is_owasp_argon2id(tmp_path):
    from compliance.keys import KdfParams
    from compliance.workspace import Workspace

    assert KdfParams() == KdfParams(memory_kib=19456, iterations=2, lanes=1, alg="argon2id")
    ws = Workspace.create(tmp_path / "ws", "admin", "correct horse battery")
    slot = json.loads(ws.slot_path("admin").read_text())
    assert slot["kdf"] == ws.meta["kdf"] == {"memory_kib": 19456, "iterations": 2, "lanes": 1,
                                             "alg": "argon2id"}
    assert ws.login("admin", "correct horse battery").role == "admin"


def test_export_keys_for_reviewers_and_admins_only(ws, login, case):
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    ann, cid = case
    with pytest.raises(PermissionDenied, match="may not export"):
        ann.export_keys()
    a, b = login("rev").export_keys(), login("admin").export_keys()
    assert a.deidentify_key == b.deidentify_key and len(a.deidentify_key) == 32
    assert a.signing_public == b.signing_public
    assert "withheld" in repr(a)
    Ed25519PublicKey.from_public_bytes(a.signing_public).verify(
        a.signing_key.sign(b"manifest"), b"manifest")
    assert b.audit_head_seq > a.audit_head_seq  # the head moves on with each audited action


def test_editor_change_records_are_audited_in_one_append(ws, login, case, pw):
    from viewers.edit.history import ChangeRecord
    import dataclasses

    ann, cid = case
    fields = {f.name for f in dataclasses.fields(ChangeRecord)}
    values = {"tool": "paint", "action": "apply", "segment_id": 2, "segment_name": "Tumour X",
              "voxels_changed": 123, "bbox": ((1, 3), (0, 4), (2, 6)), "hash_before": "a" * 64,
              "hash_after": "b" * 64, "segments_changed": False}
    rec = ChangeRecord(**{k: v for k, v in values.items() if k in fields})
    undo = dataclasses.replace(rec, action="undo", hash_before="b" * 64, hash_after="a" * 64)
    seqs = ann.audit_edits(cid, [rec, undo])
    assert seqs[1] == seqs[0] + 1
    edits = [e for e in login("aud").read_audit(case=cid) if e["action"] == "label.edit"]
    assert [(e["details"]["step"], e["before"][:1], e["details"]["bbox"]) for e in edits] == [
        ("apply", "a", [[1, 3], [0, 4], [2, 6]]), ("undo", "b", [[1, 3], [0, 4], [2, 6]])]
    assert "Tumour X" not in json.dumps(edits)
    with pytest.raises(PermissionDenied):
        login("rev").audit_edits(cid, [rec])


def test_failures_from_two_processes_are_all_counted(ws, pw):
    import subprocess
    import sys

    code = ("import sys\nfrom compliance.workspace import Workspace\n"
            "ws = Workspace.open(sys.argv[1])\n"
            "for i in range(2):\n"
            "    try:\n        ws.login('ann', 'wrong password %d' % i)\n"
            "    except Exception as e:\n        print(type(e).__name__)\n")
    procs = [subprocess.Popen([sys.executable, "-c", code, str(ws.root)], stdout=subprocess.PIPE,
                              text=True) for _ in range(2)]
    outs = [p.communicate(timeout=120)[0].split() for p in procs]
    assert sorted(sum(outs, [])) == ["AuthenticationError"] * 4
    assert json.loads(ws.state_path("ann").read_text())["failures"] == 4
    with pytest.raises(LockedOutError):
        ws.login("ANN", "wrong again, fifth")  # names are case-insensitive


def test_a_settings_change_reaches_sessions_already_open_in_other_processes(ws, case, pw):
    """An administrator tightens the idle lock from another workstation (another Workspace
    object on the same folder, as another process would hold): a session opened before
    locks after the new limit, not at its next login."""
    from compliance.workspace import Workspace

    clock = Clock()
    other = Workspace.open(ws.root)  # the annotator's workstation, opened before the change
    s = other.login("ann", pw["ann"], clock=clock)
    assert other.settings["idle_lock_minutes"] == 10
    with Workspace.open(ws.root).login("admin", pw["admin"]) as admin:
        admin.change_setting("idle_lock_minutes", 2)
    assert other.settings["idle_lock_minutes"] == 2
    clock.t += 2 * 60 + 1
    with pytest.raises(SessionLocked):
        s.list_cases()
    # a broken workspace.json while sessions are open: they keep the last good settings
    # (a new login refuses the file)
    text = (ws.root / "workspace.json").read_text()
    (ws.root / "workspace.json").write_text(text[:-20])
    assert other.settings["idle_lock_minutes"] == 2
    with pytest.raises(Exception, match="not valid JSON"):
        Workspace.open(ws.root)
    (ws.root / "workspace.json").write_text(text)
    assert other.settings["idle_lock_minutes"] == 2


def test_two_administrators_changes_to_workspace_json_are_both_kept(ws, pw):
    """Two workstations opened before either change: settings changed on each, and a key
    rotation on one, all survive (each change is made to the file as it is on disk, not to
    the copy a workstation read when it opened the workspace)."""
    from compliance.workspace import Workspace

    a, b = Workspace.open(ws.root), Workspace.open(ws.root)
    admin_a, admin_b = a.login("admin", pw["admin"]), b.login("admin", pw["admin"])
    admin_a.change_setting("lockout_failures", 7)
    admin_a.rotate_keys(pw["admin"])
    admin_b.change_setting("idle_lock_minutes", 5)
    on_disk = json.loads((ws.root / "workspace.json").read_text())
    assert on_disk["settings"]["lockout_failures"] == 7
    assert on_disk["settings"]["idle_lock_minutes"] == 5
    assert on_disk["key_gen"] == 2
    assert b.settings["lockout_failures"] == 7 and a.settings["idle_lock_minutes"] == 5
    changes = [e["details"] for e in admin_b.read_audit() if e["action"] == "settings.change"]
    assert changes == [{"key": "lockout_failures", "before": 5, "after": 7},
                       {"key": "idle_lock_minutes", "before": 10, "after": 5}]
    admin_a.logout()
    admin_b.logout()
    with Workspace.open(ws.root).login("ann", pw["ann"]) as ann:  # the chain still opens
        assert ann.ws.settings["idle_lock_minutes"] == 5
