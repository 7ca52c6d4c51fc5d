"""Versions, reader lines, journal, concurrency, and the plaintext scan of a workspace."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

from compliance import fsio
from compliance.errors import (BusyError, IntegrityError, NotFoundError, PermissionDenied,
                               PolicyError)


def test_versions_are_immutable_with_parents_per_reader(ws, login, case, make_labels):
    ann, cid = case
    ann2 = login("ann2")
    v2 = ann2.save_labels(cid, make_labels(seed=5))        # second reader's own line
    v3 = ann.save_labels(cid, make_labels(seed=6))
    v4 = ann2.save_labels(cid, make_labels(seed=7))
    assert (v2["version"], v2["parent"]) == (2, 1)  # a new reader starts from the latest
    assert (v3["version"], v3["parent"]) == (3, 1)
    assert (v4["version"], v4["parent"]) == (4, 2)
    first = ann.load_labels(cid, 1)[1]
    assert np.array_equal(first.layers[0], make_labels(seed=0).layers[0])
    assert first.segments[2]["name"] == "lesion" and first.provenance_legend == {"1": "user:test"}
    assert [v["author"] for v in ann.versions(cid)] == ["ann", "ann2", "ann", "ann2"]


def test_labels_off_the_case_grid_are_refused(case, make_labels):
    ann, cid = case
    with pytest.raises(Exception, match=r"case grid needs uint8 \(4, 5, 6\)"):
        ann.save_labels(cid, make_labels(shape=(4, 5, 7)))


def test_rolled_back_or_swapped_version_files_fail(ws, case, make_labels):
    ann, cid = case
    ann.save_labels(cid, make_labels(seed=1))
    vdir = ws.root / "cases" / cid / "v"
    one, two = (vdir / "000001.enc").read_bytes(), (vdir / "000002.enc").read_bytes()
    (vdir / "000002.enc").write_bytes(one)  # replace version 2 by version 1
    with pytest.raises(IntegrityError, match="swapped or rolled back"):
        ann.load_labels(cid, 2)
    (vdir / "000002.enc").write_bytes(two)
    (vdir / "000002.enc").write_bytes(two[:-5])
    with pytest.raises(IntegrityError, match="v/000002.enc: integrity check failed"):
        ann.load_labels(cid, 2)


def test_journal_round_trip_and_discard(case, make_labels):
    ann, cid = case
    assert ann.journal_read(cid) is None
    edits = make_labels(seed=11)
    ann.journal_write(cid, edits, base_version=1)
    meta, restored = ann.journal_read(cid)
    assert meta["base_version"] == 1
    assert all(np.array_equal(a, b) for a, b in zip(restored.layers, edits.layers))
    ann.journal_discard(cid)
    assert ann.journal_read(cid) is None


def test_unknown_case_is_a_clear_error(case):
    ann, _ = case
    with pytest.raises(NotFoundError, match="no case 'ffffffffffffffff'"):
        ann.load_labels("ffffffffffffffff")


def test_edit_lock_refuses_a_second_holder_and_is_reentrant(login, case, make_labels):
    ann, cid = case
    other = login("ann2")
    with ann.edit_lock(cid):
        ann.save_labels(cid, make_labels(seed=4))  # the holder may save (re-entrant)
        with pytest.raises(BusyError, match=f"case {cid} is locked by another process"):
            with other.edit_lock(cid, timeout=0.1):
                pass
        with pytest.raises(BusyError):
            other.save_labels(cid, make_labels(seed=5), lock_timeout=0.1)
    assert other.save_labels(cid, make_labels(seed=5))["version"] == 3


def test_edit_lock_is_reentrant_per_thread_not_per_session(case, make_labels):
    """The viewer calls one session from its GUI thread and from worker threads: a worker
    must wait for the GUI thread's save of the same case instead of entering beside it."""
    import threading

    ann, cid = case
    inside, release, order = threading.Event(), threading.Event(), []

    def gui_save():
        with ann.edit_lock(cid):
            inside.set()
            release.wait(10)
            order.append("gui saved")
            ann.save_labels(cid, make_labels(seed=4))

    gui = threading.Thread(target=gui_save)
    gui.start()
    assert inside.wait(10)
    with pytest.raises(BusyError, match=f"case {cid} is locked"):
        with ann.edit_lock(cid, timeout=0.1):  # same session, another thread: waits, fails
            pass
    release.set()
    with ann.edit_lock(cid, timeout=10):  # ...and gets it once the save is done
        order.append("worker entered")
    gui.join(10)
    assert order == ["gui saved", "worker entered"]
    assert [v["version"] for v in ann.versions(cid)] == [1, 2]


def _write_lock(path, host, pid, age):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"host": host, "pid": pid, "time": time.time() - age}))


def test_stale_locks(ws, case, make_labels):
    ann, cid = case
    lock = ws.root / "locks" / f"{cid}.lock"
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    _write_lock(lock, socket.gethostname(), dead.pid, 0)  # a killed process of this host
    assert ann.save_labels(cid, make_labels(seed=1))["version"] == 2
    _write_lock(lock, "other-workstation", 1, 3600)  # another host: honoured, however old
    with pytest.raises(BusyError):
        with ann.edit_lock(cid, timeout=0.1):
            pass
    lock.unlink()
    # The audit lock is only ever held for moments: another host's, a minute old, is broken.
    _write_lock(ws.audit_log.lock_path, "other-workstation", 1, 61)
    ann.audit("export", [cid])
    _write_lock(ws.audit_log.lock_path, "other-workstation", 1, 5)
    with pytest.raises(BusyError):
        fsio.acquire(ws.audit_log.lock_path, "the audit log", timeout=0.1, max_age=60)


def test_pending_journals_lists_unsaved_work_per_user(login, case, make_labels):
    ann, cid = case
    assert ann.pending_journals() == []
    ann.journal_write(cid, make_labels(seed=3), base_version=1)
    assert ann.pending_journals() == [cid]
    assert login("ann2").pending_journals() == []


WRITER = textwrap.dedent("""
    import sys, numpy as np
    from compliance.workspace import Workspace
    from compliance.records import LabelSet
    ws = Workspace.open(sys.argv[1])
    s = ws.login(sys.argv[2], sys.argv[3])
    for i in range(5):
        layer = np.full((4, 5, 6), i + 1, np.uint8)
        s.save_labels(sys.argv[4], LabelSet([layer], [{"segment_id": 1}]))
""")


def test_two_processes_saving_one_case_never_collide(ws, case, pw):
    ann, cid = case
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, str(ws.root), name, pw[name], cid])
             for name in ("ann", "ann2")]
    assert [p.wait(timeout=120) for p in procs] == [0, 0]
    versions = ann.versions(cid)
    assert [v["version"] for v in versions] == list(range(1, 12))
    assert sorted(v["author"] for v in versions[1:]) == ["ann"] * 5 + ["ann2"] * 5
    aud = ws.login("aud", pw["aud"])
    n, entries = aud.verify_audit()
    assert sum(e["action"] == "label.save" for e in entries) == 11


def _scan(root, needles: dict[str, bytes]) -> list[str]:
    hits = []
    for path in root.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            rel = path.relative_to(root)
            hits += [f"{rel}: {what}" for what, n in needles.items() if n in data]
    return hits


def _label_needles(labels, array) -> dict[str, bytes]:
    """Distinctive windows of the raw label and image bytes (both values present)."""
    out = {}
    for name, a in (("label", labels.layers[0]), ("image", array)):
        raw = a.tobytes()
        flat = a.reshape(-1)
        edges = np.flatnonzero(np.diff(flat.astype(np.int64)) != 0)
        for j, e in enumerate(edges[len(edges) // 3::max(1, len(edges) // 4)][:3]):
            start = max(0, (int(e) - 16) * a.itemsize)
            out[f"{name} bytes #{j}"] = raw[start:start + 48]
    return out


def test_no_plaintext_phi_or_voxels_anywhere_colin(ws, login, colin_t1, colin_brain, tmp_path):
    import nibabel as nib

    t1 = np.asarray(nib.load(colin_t1).dataobj)
    brain = np.asarray(nib.load(colin_brain).dataobj)
    ann = login("ann")
    patient = {"name": "Quixote^Alonso", "patient_id": "MRN-58213377", "birth_date": "19470312"}
    cid = ann.import_case(t1, np.eye(4), modality="MR", patient=patient)
    from compliance.records import LabelSet

    labels = LabelSet([(brain > 0).astype(np.uint8)], [{"segment_id": 1, "name": "brain"}])
    ann.save_labels(cid, labels)
    ann.journal_write(cid, labels, 1)
    ann.open_case(cid)
    assert ann.open_case(cid).record["patient"]["name"] == "Quixote^Alonso"
    needles = {"name": b"Quixote", "name utf-16": "Quixote".encode("utf-16-le"),
               "id": b"58213377", "birth date": b"19470312", **_label_needles(labels, t1)}
    assert len(needles) >= 9
    assert _scan(ws.root, needles) == []
    # The scan can see: every voxel needle is found in an unencrypted dump of the arrays.
    plain = tmp_path / "plain"
    plain.mkdir()
    (plain / "dump.bin").write_bytes(labels.layers[0].tobytes() + t1.tobytes())
    voxel_needles = {k: v for k, v in needles.items() if "bytes" in k}
    assert len(_scan(plain, voxel_needles)) == len(voxel_needles) == 6


def test_no_plaintext_phi_anywhere_real_dicom(ws, login, pydicom_data_dir):
    import pydicom

    ds = pydicom.dcmread(pydicom_data_dir / "MR-SIEMENS-DICOM-WithOverlays.dcm")
    name, pid = str(ds.PatientName), str(ds.PatientID)
    assert name and pid
    array = ds.pixel_array[None]
    ann = login("ann")
    cid = ann.import_case(array, np.eye(4), modality=ds.Modality, series_uid=ds.SeriesInstanceUID,
                          patient={"name": name, "patient_id": pid})
    from compliance.records import LabelSet

    labels = LabelSet([(array > array.mean()).astype(np.uint8)], [{"segment_id": 1}])
    ann.save_labels(cid, labels)
    needles = {"name": name.encode(), "family name": name.split("^")[0].encode(),
               "id": pid.encode(), **_label_needles(labels, array)}
    assert _scan(ws.root, needles) == []
    plain = _scan(pydicom_data_dir, {"name": name.encode()})
    assert "MR-SIEMENS-DICOM-WithOverlays.dcm: name" in plain  # the needle is real


def test_plaintext_files_are_only_the_documented_ones(ws, case):
    allowed = {"workspace.json", "HEAD", "log.jsonl"}
    for path in ws.root.rglob("*"):
        if not path.is_file():
            continue
        rel = path.relative_to(ws.root)
        if path.suffix == ".enc":
            assert path.read_bytes()[:4] == b"ATRC", rel
        elif path.suffix == ".audited":  # empty marker: the version's save was audited
            assert path.stat().st_size == 0
        elif rel.parts[:2] in (("keys", "slots"), ("users", "state")):
            json.loads(path.read_text())
        else:
            assert path.name in allowed, rel


def test_blinded_double_reading(ws, login, case, make_labels):
    ann, cid = case  # ann saved version 1
    admin = login("admin")
    from compliance.roles import SWITCHES

    assert SWITCHES == {"blind_readers", "blind_spot_checks", "proposals_after_reading"}
    for key in SWITCHES:  # switches: 0 or 1 only
        with pytest.raises(PolicyError, match=r"bad value 2 \(0 or 1\)"):
            admin.change_setting(key, 2)
    admin.change_setting("blind_readers", 1)
    ann2 = login("ann2")
    assert ann2.versions(cid) == []
    with pytest.raises(NotFoundError, match="no label version yet"):
        ann2.load_labels(cid)
    with pytest.raises(PermissionDenied, match="another reader's"):
        ann2.load_labels(cid, 1)
    v = ann2.save_labels(cid, make_labels(seed=8))
    assert (v["version"], v["parent"]) == (2, None)  # not built on the other reader's work
    assert [m["version"] for m in ann2.versions(cid)] == [2]
    assert [m["version"] for m in ann.versions(cid)] == [1]
    assert [m["version"] for m in login("rev").versions(cid)] == [1, 2]  # reviewers see both


def test_an_annotator_submits_only_their_own_version(login, case, make_labels):
    ann, cid = case
    ann2 = login("ann2")
    with pytest.raises(Exception, match="no label version of yours"):
        ann2.submit(cid)
    with pytest.raises(PermissionDenied, match="not yours to submit"):
        ann2.submit(cid, 1)
    ann2.save_labels(cid, make_labels(seed=3))
    assert ann.submit(cid)["version"] == 1  # ann's own latest, not ann2's newer one
    assert ann2.submit(cid)["version"] == 2


def test_deep_verify_finds_a_deleted_or_rolled_back_version(ws, login, case, make_labels):
    ann, cid = case
    ann.save_labels(cid, make_labels(seed=1))
    aud = login("aud")
    aud.verify_audit(deep=True)
    vdir = ws.root / "cases" / cid / "v"
    two = (vdir / "000002.enc").read_bytes()
    (vdir / "000002.enc").unlink()  # someone removes the newest version: a silent rollback
    aud.verify_audit()  # the trail itself is intact...
    with pytest.raises(IntegrityError, match=f"case {cid} version 2 saved in audit entry"):
        aud.verify_audit(deep=True)  # ...but it names the version that disappeared
    (vdir / "000002.enc").write_bytes(two)
    (ws.root / "cases" / cid / "case.enc").rename(ws.root / "case.enc.bak")
    with pytest.raises(IntegrityError, match=f"case {cid} imported in audit entry"):
        aud.verify_audit(deep=True)


def test_deep_verify_finds_a_user_table_put_back(ws, login, pw):
    admin, aud = login("admin"), login("aud")
    table_path = ws.root / "users" / "table.enc"
    with_ann2 = table_path.read_bytes()
    slot = ws.slot_path("ann2").read_bytes()
    admin.disable_user("ann2")
    aud.verify_audit(deep=True)
    # Someone with write access to the share puts the table and slot from before back:
    # the disabled account would open the workspace again...
    table_path.write_bytes(with_ann2)
    ws.slot_path("ann2").write_bytes(slot)
    ws.update_state("ann2", disabled=False)
    ws.login("ann2", pw["ann2"]).logout()
    aud.verify_audit()  # ...and the trail itself is intact, but the deep check names it
    with pytest.raises(IntegrityError, match=r"user table is revision 5 but audit entry \d+ "
                                             r"recorded revision 6 \(an older copy was put back"):
        aud.verify_audit(deep=True)


def test_deep_verify_finds_a_user_table_changed_without_an_audit_entry(ws, login):
    from compliance.workspace import users_digest

    admin, aud = login("admin"), login("aud")
    table = ws.read_users(admin._keys)
    table["users"][admin.user_id]["role"] = "auditor"
    ws.write_users(admin._keys, admin.key_gen, table)  # same revision, different content
    with pytest.raises(IntegrityError, match=r"user table differs from audit entry \d+ "
                                             r"\(revision 5 replaced\)"):
        aud.verify_audit(deep=True)
    table["revision"] += 1
    assert ws.write_users(admin._keys, admin.key_gen, table) == users_digest(table)
    with pytest.raises(IntegrityError, match="revision 6, newer than the last one the audit "
                                             r"trail records \(5, entry \d+\)"):
        aud.verify_audit(deep=True)
    admin.set_role("ann2", "reviewer")  # the next recorded change is checked again
    aud.verify_audit(deep=True)


def test_deep_verify_finds_a_deleted_review_event(ws, login, case, pw):
    ann, cid = case
    rev, aud = login("rev"), login("aud")
    ann.submit(cid)
    rev.request_changes(cid, "edge of the lesion")
    ann.submit(cid)
    rev.approve(cid, pw["rev"])
    aud.verify_audit(deep=True)
    rdir = ws.root / "cases" / cid / "r"
    approval = (rdir / "000004.enc").read_bytes()
    (rdir / "000004.enc").unlink()  # the approval disappears: the case is "submitted" again
    assert ann.review_state(cid)["state"] == "submitted"
    with pytest.raises(IntegrityError, match=rf"case {cid}: the approve of version 1 recorded "
                                             r"in audit entry \d+ is missing"):
        aud.verify_audit(deep=True)
    (rdir / "000004.enc").write_bytes(approval)
    (rdir / "000003.enc").unlink()  # one of two identical submits: counted, not just looked up
    with pytest.raises(IntegrityError, match=rf"case {cid}: the submit of version 1"):
        aud.verify_audit(deep=True)
