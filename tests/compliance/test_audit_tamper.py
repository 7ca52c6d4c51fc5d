"""Audit tamper suite: every kind of tampering is detected and the first bad entry named."""

from __future__ import annotations

import base64
import json
import os
import random

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from compliance import audit
from compliance.errors import AuditError, AuthenticationError, PermissionDenied



@pytest.fixture
def busy(ws, login, case, make_labels):
    """A workspace whose log holds a realistic mix of entries; returns (ws, auditor session)."""
    ann, cid = case
    for _ in range(2):
        with pytest.raises(AuthenticationError):
            ws.login("rev", "not the password")  # sealed entries without a login
    ann.save_labels(cid, make_labels(seed=1))
    ann.submit(cid)
    rev = login("rev")
    with pytest.raises(PermissionDenied):
        rev.save_labels(cid, make_labels(seed=2))
    rev.request_changes(cid, "edges")
    ann.save_labels(cid, make_labels(seed=3))
    aud = login("aud")
    n, _ = aud.verify_audit()
    assert n == len(_lines(ws)) - 2  # verify_audit records itself after verifying
    return ws, aud


def _lines(ws):
    return ws.audit_log.path.read_bytes().decode().splitlines(keepends=True)


def _write(ws, lines):
    ws.audit_log.path.write_text("".join(lines))


def _first_bad(aud):
    with pytest.raises(AuditError) as info:
        aud.verify_audit()
    return info.value


def _recs(lines):
    return [json.loads(x) for x in lines]


def _rechain(ws, keys, recs, start, keep_covers=True, signer=None):
    """Re-chain entries from index ``start`` on as an attacker holding the audit key would."""
    wid = ws.workspace_id
    prev = recs[start - 1]["h"] if start else audit.genesis(wid)
    hashes = {}
    for rec in recs[start:]:
        seq = rec["seq"]
        body = base64.b64decode(rec["b"])
        if rec["k"] == "e":
            plain = json.loads(AESGCM(keys.audit_key).decrypt(body[:12], body[12:],
                                                             audit._ad(wid, seq, rec["prev"])))
            if rec.get("_new") is not None:
                plain = rec.pop("_new")
            nonce = os.urandom(12)
            body = nonce + AESGCM(keys.audit_key).encrypt(
                nonce, json.dumps(plain).encode(), audit._ad(wid, seq, prev))
        elif rec["k"] == "s":
            plain = audit.unseal(body, keys.sealing, audit._ad(wid, seq, rec["prev"]))
            body = audit.seal(plain, ws.audit_log.seal_public, audit._ad(wid, seq, prev))
        else:
            cp = json.loads(body)
            if not keep_covers:
                cp["covers"] = [[s, hashes.get(s, h)] for s, h in cp["covers"]]
            if signer is not None or not keep_covers:
                key = signer or Ed25519PrivateKey.generate()
                cp["sig"] = base64.b64encode(key.sign(audit._checkpoint_message(
                    wid, seq, cp["covers"]))).decode()
            body = json.dumps(cp).encode()
        rec["prev"], rec["b"] = prev, base64.b64encode(body).decode()
        rec["h"] = audit._entry_hash(seq, prev, rec["k"], rec["b"])
        hashes[seq] = prev = rec["h"]
    return [json.dumps(r, separators=(",", ":")) + "\n" for r in recs]


def _positions(lines, kinds="es", last_ok=False):
    recs = _recs(lines)
    n = len(recs) if last_ok else len(recs) - 1
    return [i for i in range(n) if recs[i]["k"] in kinds]


def test_modified_body_is_named(busy):
    ws, aud = busy
    lines = _lines(ws)
    named = 0
    positions = _positions(lines, "esc", last_ok=True)
    for i in positions:
        recs = _recs(lines)
        b = bytearray(base64.b64decode(recs[i]["b"]))
        b[len(b) // 2] ^= 1
        recs[i]["b"] = base64.b64encode(bytes(b)).decode()
        _write(ws, [json.dumps(r, separators=(",", ":")) + "\n" for r in recs])
        err = _first_bad(aud)
        named += err.seq == i + 1 and err.kind == "modified"
    _write(ws, lines)
    print(f"modified: {named}/{len(positions)} named")
    assert named == len(positions)


def test_modified_with_hash_recomputed_is_named(busy):
    ws, aud = busy
    lines = _lines(ws)
    positions = _positions(lines, "esc", last_ok=True)
    named = 0
    for i in positions:
        recs = _recs(lines)
        b = bytearray(base64.b64decode(recs[i]["b"]))
        b[-1] ^= 1
        recs[i]["b"] = base64.b64encode(bytes(b)).decode()
        recs[i]["h"] = audit._entry_hash(recs[i]["seq"], recs[i]["prev"], recs[i]["k"],
                                         recs[i]["b"])
        _write(ws, [json.dumps(r, separators=(",", ":")) + "\n" for r in recs])
        err = _first_bad(aud)
        named += err.seq == i + 1
    _write(ws, lines)
    print(f"modified, hash recomputed: {named}/{len(positions)} named")
    assert named == len(positions)


@pytest.mark.parametrize("keep_covers", [True, False])
def test_modified_and_rechained_with_the_audit_key_is_caught_by_checkpoints(busy, keep_covers):
    """An insider with the audit key rewrites an entry and re-chains every hash after it.

    With the signed covers left alone, the checkpoint names the exact entry; an attacker who
    also rewrites the covers cannot re-sign them, and the named entry is the first one the
    broken checkpoint covers (the exact entry here, where each session append is its own
    checkpoint window, unless sealed failed-login entries precede it in that window).
    """
    ws, aud = busy
    keys = aud._audit_keys
    lines = _lines(ws)
    recs0 = _recs(lines)
    positions = [i for i in _positions(lines, "e") if i > 0]
    exact = 0
    for i in positions:
        recs = _recs(lines)
        entry = json.loads(AESGCM(keys.audit_key).decrypt(
            base64.b64decode(recs[i]["b"])[:12], base64.b64decode(recs[i]["b"])[12:],
            audit._ad(ws.workspace_id, recs[i]["seq"], recs[i]["prev"])))
        entry["user"] = "mallory"
        recs[i]["_new"] = entry
        _write(ws, _rechain(ws, keys, recs, i, keep_covers=keep_covers))
        err = _first_bad(aud)
        window_start = i + 1
        while window_start > 1 and recs0[window_start - 2]["k"] != "c":
            window_start -= 1
        expected = i + 1 if keep_covers else window_start
        assert err.seq == expected, (i, str(err))
        exact += err.seq == i + 1
    _write(ws, lines)
    print(f"re-chained (covers {'kept' if keep_covers else 'rewritten'}): {len(positions)} cases, "
          f"{exact} named exactly")
    if keep_covers:
        assert exact == len(positions)


def test_inserted_entries_are_named(busy):
    ws, aud = busy
    lines = _lines(ws)
    rng = random.Random(5)
    for i in range(1, len(lines)):
        # replay an earlier line, or forge a well-chained line whose body does not authenticate
        if rng.random() < 0.5:
            bad = lines[:i] + [lines[rng.randrange(i)]] + lines[i:]
        else:
            prev = _recs(lines)[i - 1]["h"]
            body = base64.b64encode(os.urandom(60)).decode()
            forged = {"seq": i + 1, "prev": prev, "k": "e", "b": body,
                      "h": audit._entry_hash(i + 1, prev, "e", body)}
            bad = lines[:i] + [json.dumps(forged, separators=(",", ":")) + "\n"] + lines[i:]
        _write(ws, bad)
        err = _first_bad(aud)
        assert err.seq == i + 1, (i, str(err))
    _write(ws, lines)
    print(f"inserted: {len(lines) - 1}/{len(lines) - 1} named")


def test_deleted_entries_are_named(busy):
    ws, aud = busy
    lines = _lines(ws)
    for i in range(len(lines)):
        _write(ws, lines[:i] + lines[i + 1:])
        err = _first_bad(aud)
        assert err.seq == i + 1, (i, str(err))
        assert err.kind == ("deleted" if i < len(lines) - 1 else "truncated")
    _write(ws, lines)
    print(f"deleted: {len(lines)}/{len(lines)} named")


def test_reordered_entries_are_named(busy):
    ws, aud = busy
    lines = _lines(ws)
    for i in range(len(lines) - 1):
        _write(ws, lines[:i] + [lines[i + 1], lines[i]] + lines[i + 2:])
        err = _first_bad(aud)
        assert err.seq == i + 1 and err.kind == "reordered", (i, str(err))
    _write(ws, lines)
    print(f"reordered: {len(lines) - 1}/{len(lines) - 1} named")


def test_truncation_at_any_byte_is_named(busy):
    ws, aud = busy
    data = ws.audit_log.path.read_bytes()
    rng = random.Random(7)
    cuts = sorted(rng.sample(range(len(data)), 60)) + [len(data) - 1]
    for cut in cuts:
        ws.audit_log.path.write_bytes(data[:cut])
        complete = data[:cut].count(b"\n")
        err = _first_bad(aud)
        assert err.seq == complete + 1 and err.kind == "truncated", (cut, str(err))
    ws.audit_log.path.write_bytes(data)
    print(f"truncated: {len(cuts)}/{len(cuts)} named")


def test_missing_head_fails_closed(busy):
    ws, aud = busy
    head = ws.audit_log.head_path.read_bytes()
    ws.audit_log.head_path.unlink()
    assert "should be sealed" in str(_first_bad(aud))
    ws.audit_log.head_path.write_bytes(head)


def test_checkpoints_signed_with_another_key_fail(busy):
    ws, aud = busy
    lines = _lines(ws)
    _write(ws, _rechain(ws, aud._audit_keys, _recs(lines), 0, signer=Ed25519PrivateKey.generate()))
    err = _first_bad(aud)
    assert err.seq == 1 and "not signed by the workspace key" in str(err)
    _write(ws, lines)


def test_published_key_swap_fails(busy):
    ws, aud = busy
    ws.meta["signing_public"] = base64.b64encode(
        audit.public_bytes(Ed25519PrivateKey.generate())).decode()
    with pytest.raises(AuditError, match="wrong key"):
        aud.verify_audit()


def test_unsealed_session_entry_fails_and_next_login_seals_it(busy, pw):
    ws, aud = busy
    # A session entry written without its checkpoint (a crash between the two writes).
    keys = aud._audit_keys
    lines = _lines(ws)
    last = _recs(lines)[-1]
    seq, prev = last["seq"] + 1, last["h"]
    nonce = os.urandom(12)
    body = base64.b64encode(nonce + AESGCM(keys.audit_key).encrypt(
        nonce, b'{"action":"label.save"}', audit._ad(ws.workspace_id, seq, prev))).decode()
    rec = {"seq": seq, "prev": prev, "k": "e", "b": body,
           "h": audit._entry_hash(seq, prev, "e", body)}
    _write(ws, lines + [json.dumps(rec, separators=(",", ":")) + "\n"])
    err = _first_bad(aud)
    assert err.seq == seq and err.kind == "not sealed"
    ws.login("ann", pw["ann"])
    n, _ = aud.verify_audit()
    assert n == seq + 2  # the orphan, the login, and the checkpoint sealing both


def test_the_attackers_rechain_tool_is_faithful(busy):
    """With the workspace signing key the same re-chain verifies: detections above are real."""
    ws, aud = busy
    keys = aud._audit_keys
    lines = _lines(ws)
    recs = _recs(lines)
    target = next(i for i in range(3, len(recs)) if recs[i]["k"] == "e")
    recs[target]["_new"] = {"action": "forged"}
    rechained = _rechain(ws, keys, recs, 0, keep_covers=False, signer=keys.signing)
    last = json.loads(rechained[-1])
    sig = keys.signing.sign(audit._head_message(ws.workspace_id, last["seq"], last["h"]))
    ws.audit_log.head_path.write_text(json.dumps({"seq": last["seq"], "hash": last["h"],
                                                  "sig": base64.b64encode(sig).decode()}))
    _write(ws, rechained)
    n, entries = aud.verify_audit()
    assert n == len(lines)
    assert next(e for e in entries if e["seq"] == target + 1)["action"] == "forged"


def test_after_a_truncation_nothing_more_is_written_but_auditors_can_verify(busy, pw):
    """A later login must not paper over a cut tail by writing a fresh HEAD."""
    ws, aud = busy
    lines = _lines(ws)
    head = ws.audit_log.head_path.read_bytes()
    _write(ws, lines[:-3])
    with pytest.raises(AuditError, match=f"entry {len(lines) - 2} truncated"):
        ws.login("ann", pw["ann"])
    with pytest.raises(AuditError, match="truncated"):
        ws.login("ann", "a wrong password")  # not even a failed login is appended
    assert _lines(ws) == lines[:-3] and ws.audit_log.head_path.read_bytes() == head
    auditor = ws.login("aud", pw["aud"])  # allowed in, read-only, to investigate
    err = _first_bad(auditor)
    assert err.seq == len(lines) - 2 and err.kind == "truncated"
    with pytest.raises(AuditError):
        auditor.audit("export")
    _write(ws, lines)


def test_bulk_append_with_periodic_checkpoints(busy):
    ws, aud = busy
    before = len(_lines(ws))
    recs = [{"time": audit.utc_now(), "user": "bulk", "user_id": "", "role": "", "action": "x",
             "objects": [], "details": {"i": i}} for i in range(250)]
    seqs = ws.audit_log.append(recs, aud._audit_keys, checkpoint_every=100)
    assert len(seqs) == 250 and len(_lines(ws)) == before + 250 + 3
    n, entries = aud.verify_audit()
    assert [e["details"]["i"] for e in entries if e["user"] == "bulk"] == list(range(250))
    lines = _lines(ws)
    _write(ws, lines[:before + 120] + lines[before + 121:])
    err = _first_bad(aud)
    assert err.seq == before + 121 and err.kind == "deleted"
    _write(ws, lines)


def test_external_anchor_catches_a_key_holders_rewrite_and_a_rollback(busy, tmp_path):
    ws, aud = busy
    keys = aud._audit_keys
    anchor = ws.audit_log.head()
    snapshot = {p: p.read_bytes() for p in (ws.audit_log.path, ws.audit_log.head_path)}
    aud.verify_audit(anchor)  # later: the log still holds the anchored checkpoint
    assert aud.verify_audit(anchor)[0] > anchor[0]
    # A key holder rewrites entry 4 and re-signs everything: only the anchor notices.
    lines = _lines(ws)
    recs = _recs(lines)
    recs[3]["_new"] = {"action": "forged"}
    rechained = _rechain(ws, keys, recs, 0, keep_covers=False, signer=keys.signing)
    last = json.loads(rechained[-1])
    sig = keys.signing.sign(audit._head_message(ws.workspace_id, last["seq"], last["h"]))
    ws.audit_log.head_path.write_text(json.dumps({"seq": last["seq"], "hash": last["h"],
                                                  "sig": base64.b64encode(sig).decode()}))
    _write(ws, rechained)
    aud.verify_audit()  # consistent without the anchor
    with pytest.raises(AuditError, match="differs from the external anchor") as info:
        aud.verify_audit(anchor)
    assert info.value.seq == anchor[0]
    # A rollback of the log and HEAD to a state before the anchor.
    for p, data in snapshot.items():
        p.write_bytes(data)
    lines = _lines(ws)
    early = next(i for i in range(len(lines) // 2, 0, -1) if _recs(lines)[i]["k"] == "c")
    rec = _recs(lines)[early]
    sig = keys.signing.sign(audit._head_message(ws.workspace_id, rec["seq"], rec["h"]))
    _write(ws, lines[:early + 1])
    ws.audit_log.head_path.write_text(json.dumps({"seq": rec["seq"], "hash": rec["h"],
                                                  "sig": base64.b64encode(sig).decode()}))
    aud.verify_audit()
    with pytest.raises(AuditError, match="ends before checkpoint") as info:
        aud.verify_audit(anchor)
    assert info.value.seq == len(_lines(ws)) + 1  # the first entry missing


def test_head_signed_with_another_key_fails(busy):
    ws, aud = busy
    head = json.loads(ws.audit_log.head_path.read_text())
    other = Ed25519PrivateKey.generate()
    head["sig"] = base64.b64encode(other.sign(audit._head_message(
        ws.workspace_id, head["seq"], head["hash"]))).decode()
    ws.audit_log.head_path.write_text(json.dumps(head))
    assert "HEAD is not signed by the workspace key" in str(_first_bad(aud))


def test_checkpoint_after_a_lagging_head_is_checked_on_its_own(busy):
    """HEAD lags one checkpoint after a crash; that newer checkpoint still needs its signature."""
    ws, aud = busy
    head = ws.audit_log.head_path.read_bytes()
    aud.audit("export")  # appends an entry and a checkpoint, then a new HEAD
    ws.audit_log.head_path.write_bytes(head)  # as if the process died before the HEAD write
    n, _ = aud.verify_audit()
    ws.audit_log.head_path.write_bytes(head)
    lines = _lines(ws)
    last = len(lines) - 3  # the "export" checkpoint, written after HEAD's
    recs = _recs(lines)
    assert recs[last]["k"] == "c"
    _write(ws, _rechain(ws, aud._audit_keys, recs, last, keep_covers=False,
                        signer=Ed25519PrivateKey.generate()))
    err = _first_bad(aud)
    assert err.seq == last and "not signed by the workspace key" in str(err)


def test_a_deleted_log_is_not_restarted_by_the_next_login(busy, pw):
    ws, aud = busy
    ws.audit_log.path.unlink()
    with pytest.raises(AuditError, match="entry 1 deleted"):
        ws.login("ann", pw["ann"])
    assert not ws.audit_log.path.exists()
    err = _first_bad(aud)
    assert err.kind == "truncated" and err.seq == 1
    ws.audit_log.head_path.unlink()  # both gone: still fails closed
    assert "should be sealed" in str(_first_bad(aud))
    with pytest.raises(AuditError):
        ws.login("ann", "wrong password")
