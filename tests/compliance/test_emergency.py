"""Emergency (break-glass) access: typed reason, time limit, every action flagged."""

from __future__ import annotations

import numpy as np
import pytest

from compliance.emergency import EMERGENCY_ACTIONS, emergency_entries
from compliance.errors import AuthenticationError, PermissionDenied, PolicyError

REASON = "stroke alert, on-call reader unreachable"


class Clock:
    """A session clock the test moves by hand (seconds)."""

    def __init__(self):
        self.t = 5000.0

    def __call__(self):
        return self.t


def _entries(ws, pw):
    with ws.login("aud", pw["aud"]) as aud:
        n, entries = aud.verify_audit()
    assert n >= len(entries)
    return entries


def test_admin_reads_a_case_only_during_the_grant_and_every_entry_is_flagged(ws, case, pw):
    ann, cid = case
    admin = ws.login("admin", pw["admin"])
    with pytest.raises(PermissionDenied, match="may not case.open"):
        admin.open_case(cid)
    grant = admin.start_emergency("  " + REASON + "\n", 20, pw["admin"])
    assert admin.emergency == grant and grant.reason == REASON and grant.minutes == 20
    data = admin.open_case(cid)
    assert np.array_equal(data.array, ann.open_case(cid).array)
    meta, _ = admin.load_labels(cid)
    assert meta["version"] == 1
    admin.list_users()  # its own actions are flagged too
    assert admin.end_emergency() == grant and admin.emergency is None
    with pytest.raises(PermissionDenied):
        admin.open_case(cid)
    entries = _entries(ws, pw)
    start = next(e for e in entries if e["action"] == "emergency.start")
    assert start["seq"] == grant.seq and start["user"] == "admin"
    assert start["details"] == {"reason": REASON, "minutes": 20, "until": grant.until_utc}
    assert "emergency" not in start["details"]
    end = next(e for e in entries if e["action"] == "emergency.end")
    assert end["details"]["ended"] == "user"
    during = [e for e in entries if start["seq"] < e["seq"] <= end["seq"] and e["user"] == "admin"]
    assert [e["action"] for e in during] == ["case.open", "label.open", "user.list",
                                             "emergency.end"]
    assert all(e["details"]["emergency"] == grant.seq for e in during)
    # Before and after the grant nothing is flagged (the refusals included).
    others = [e for e in entries if e not in during]
    assert not any("emergency" in e["details"] for e in others)
    denied = [e for e in others if e["action"] == "access.denied" and e["user"] == "admin"]
    assert [e["details"]["attempted"] for e in denied] == ["case.open", "case.open"]


def test_an_emergency_grants_reading_and_nothing_else(ws, login, case, pw, make_labels):
    ann, cid = case
    ann.submit(cid)
    admin = login("admin")
    admin.start_emergency(REASON, 10, pw["admin"])
    with pytest.raises(PermissionDenied, match="review.approve"):
        admin.approve(cid, pw["admin"])
    with pytest.raises(PermissionDenied, match="label.save"):
        admin.save_labels(cid, make_labels(seed=4))
    other = login("ann2")
    other.start_emergency(REASON, 10, pw["ann2"])
    for attempt, action in [
        (lambda: other.add_user("eve", "admin", "a long enough pw"), "user.manage"),
        (lambda: other.set_role("ann2", "admin"), "user.manage"),
        (lambda: other.change_setting("emergency_max_minutes", 600), "settings.change"),
        (lambda: other.read_audit(), "audit.read"),
        (lambda: other.verify_audit(), "audit.verify"),
        (lambda: other.approve(cid, pw["ann2"]), "review.approve"),
        (lambda: other.export_keys(), "export"),
    ]:
        with pytest.raises(PermissionDenied, match=action):
            attempt()
    assert EMERGENCY_ACTIONS == {"case.open", "label.read"}
    assert ann.review_state(cid)["state"] == "submitted"
    entries = _entries(ws, pw)
    flagged_denials = [e for e in entries if e["action"] == "access.denied"
                       and "emergency" in e["details"]]
    assert len(flagged_denials) == 9  # refused attempts during a grant are flagged as well


def test_grant_expires_by_the_session_clock_and_the_end_is_audited(ws, case, pw):
    _, cid = case
    clock = Clock()
    admin = ws.login("admin", pw["admin"], clock=clock)
    grant = admin.start_emergency(REASON, 5, pw["admin"])
    clock.t += 4 * 60
    admin.open_case(cid)
    clock.t += 60  # exactly the limit: over
    assert admin.emergency is None  # nothing recorded yet...
    with pytest.raises(PermissionDenied):
        admin.open_case(cid)  # ...the next operation records the expiry first
    assert admin.end_emergency() is None
    entries = [e for e in _entries(ws, pw) if e["user"] == "admin" and e["seq"] > grant.seq]
    assert [(e["action"], e["details"].get("emergency")) for e in entries[:3]] == [
        ("case.open", grant.seq), ("emergency.end", grant.seq), ("access.denied", None)]
    assert entries[1]["details"]["ended"] == "expired"


def test_check_emergency_records_expiry_without_an_operation(ws, pw):
    clock = Clock()
    rev = ws.login("rev", pw["rev"], clock=clock)
    grant = rev.start_emergency(REASON, 2, pw["rev"])
    assert rev.check_emergency() == grant
    clock.t += 121
    assert rev.check_emergency() is None
    ends = [e for e in _entries(ws, pw) if e["action"] == "emergency.end"]
    assert [(e["user"], e["details"]["ended"]) for e in ends] == [("rev", "expired")]


def test_requests_that_are_refused(ws, login, pw):
    admin = login("admin")
    for reason, minutes, message in [
        ("urgent", 10, "at least 10 characters"),
        ("   a   b   c   ", 10, "at least 10"),
        (REASON, 0, "1 to 60 minutes"),
        (REASON, 61, "1 to 60 minutes"),
        (REASON, 12.5, "whole minutes"),
        (REASON, True, "whole minutes"),
    ]:
        with pytest.raises(PolicyError, match=message):
            admin.start_emergency(reason, minutes, pw["admin"])
        assert admin.emergency is None
    with pytest.raises(AuthenticationError):
        admin.start_emergency(REASON, 10, "not my password")
    assert admin.emergency is None
    with pytest.raises(PermissionDenied, match="emergency.start"):
        login("aud").start_emergency(REASON, 10, pw["aud"])
    admin.change_setting("emergency_max_minutes", 120)
    grant = admin.start_emergency(REASON, 90, pw["admin"])
    with pytest.raises(PolicyError, match="already active"):
        admin.start_emergency(REASON, 10, pw["admin"])
    assert admin.emergency == grant
    entries = _entries(ws, pw)
    actions = [(e["action"], e["user"]) for e in entries]
    assert actions.count(("emergency.start", "admin")) == 1
    assert ("login.failed", "admin") in actions  # the wrong password counts towards lockout
    assert ("access.denied", "aud") in actions


def test_logout_ends_the_grant(ws, login, case, pw):
    _, cid = case
    with ws.login("admin", pw["admin"]) as admin:
        grant = admin.start_emergency(REASON, 10, pw["admin"])
        admin.open_case(cid)
    entries = [e for e in _entries(ws, pw) if e["user"] == "admin" and e["seq"] > grant.seq]
    assert [(e["action"], e["details"].get("ended")) for e in entries[:3]] == [
        ("case.open", None), ("emergency.end", "logout"), ("logout", None)]
    assert "emergency" not in entries[2]["details"]


def test_emergency_entries_lists_the_grants_that_touched_a_case(ws, login, case, pw):
    ann, cid = case
    img = np.zeros((3, 4, 5), np.int16)
    other_case = ann.import_case(img, np.eye(4), modality="CT")
    admin = login("admin")
    g1 = admin.start_emergency(REASON, 10, pw["admin"])
    admin.open_case(cid)
    admin.load_labels(cid)
    admin.end_emergency()
    g2 = admin.start_emergency("second look, surgeon asking", 5, pw["admin"])
    admin.list_cases()  # touches no case
    admin.end_emergency()
    rev = login("rev")
    g3 = rev.start_emergency("night shift, ward call about bleed", 15, pw["rev"])
    rev.open_case(cid)
    rev.open_case(other_case)
    rev.end_emergency()
    ann.open_case(cid)  # ordinary access: not flagged
    entries = _entries(ws, pw)
    found = emergency_entries(entries, cid)
    assert [g["seq"] for g in found] == [g1.seq, g3.seq]
    first = found[0]
    assert (first["user"], first["role"], first["reason"], first["minutes"], first["until"]) == (
        "admin", "admin", REASON, 10, g1.until_utc)
    assert [e["action"] for e in first["entries"]] == ["case.open", "label.open"]
    assert first["ended"] is not None and first["ended"] > first["entries"][-1]["seq"]
    assert [g["seq"] for g in emergency_entries(entries, other_case)] == [g3.seq]
    assert g2.seq not in [g["seq"] for g in found]
    assert emergency_entries(entries, "0" * 16) == []
