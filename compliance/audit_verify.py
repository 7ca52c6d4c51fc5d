"""Verification of the audit log (see :mod:`compliance.audit` for the format).

The verifier reads every line once and fails closed, naming the first bad entry:

* a line that is not a complete entry: *truncated* (torn) or *modified*;
* a sequence number that jumps: the missing entry was *deleted*; one that goes
  back: *inserted or reordered*;
* a ``prev`` that is not the hash of the previous line: the previous entry was
  *modified* (and its hash recomputed) or this one was *inserted/reordered*;
* a hash that does not match the line: *modified*;
* a body that does not authenticate under its (seq, prev): *modified*, also when
  an attacker re-chained every hash after the change;
* a checkpoint whose signature fails under the workspace key, or whose list of
  covered hashes differs from the entries it follows: the first covered entry
  that differs is named (a re-chained log cannot reproduce the signed hashes);
* a HEAD that is missing, badly signed, or names a checkpoint past the end of
  the log: *truncated*; entries by a session after the last checkpoint: *not sealed*.
"""

from __future__ import annotations

import base64
import json

from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from compliance.audit import (_ad, _checkpoint_message, _entry_hash, _head_message, genesis,
                              unseal)
from compliance.errors import AuditError


def _fail(seq, kind, message):
    raise AuditError(f"audit: entry {seq} {kind}: {message}", seq=seq, kind=kind)


def verify_log(log, keys, expected_signing_public: bytes | None = None,
               anchor: tuple[int, str] | None = None):
    """Verify ``log`` (an :class:`~compliance.audit.AuditLog`); see the module docstring.

    ``anchor`` = (seq, hash) of a checkpoint recorded outside the workspace earlier (what
    ``audit verify`` prints): the log must still hold exactly that checkpoint, which catches
    a rewrite by someone holding the keys and a rollback of the whole workspace.
    """
    public = keys.signing_public
    if expected_signing_public is not None and expected_signing_public != public:
        raise AuditError("audit: the workspace's published signing key differs from the key "
                         "in the encrypted keyring (checkpoints would be signed with the wrong "
                         "key)")
    verifier = Ed25519PublicKey.from_public_bytes(public)
    ws = log.workspace_id
    aead = AESGCM(keys.audit_key)
    data = log.path.read_bytes() if log.path.exists() else b""
    prev, expect, entries = genesis(ws), 1, []
    pending: list[list] = []  # [seq, hash] since the last checkpoint
    cps: list[tuple] = []  # (seq, covers, signature, first covered seq)
    last_cp = None  # (seq, hash)
    lines = data.split(b"\n")[:-1] if data else []
    parsed = []
    for raw in lines:
        try:
            rec = json.loads(raw)
            parsed.append((int(rec["seq"]), rec))
        except (ValueError, KeyError, TypeError):
            parsed.append((None, None))
    hashes_seen: set[str] = set()
    for pos, (seq, rec) in enumerate(parsed):
        try:
            kind, body_b64, h, rec_prev = rec["k"], rec["b"], rec["h"], rec["prev"]
            body = base64.b64decode(body_b64, validate=True)
        except (ValueError, KeyError, TypeError):
            _fail(expect, "modified", f"line {pos + 1} is not a valid entry")
        if seq > expect:
            if any(s == expect for s, _ in parsed[pos + 1:]):
                _fail(expect, "reordered", f"entry {seq} comes before it")
            _fail(expect, "deleted", f"the log jumps from entry {expect - 1} to entry {seq}")
        if seq < expect:
            _fail(expect, "inserted or reordered", f"a copy of entry {seq} stands in its place")
        if rec_prev != prev:
            if rec_prev in hashes_seen:
                _fail(expect, "inserted or reordered", "it chains to an earlier entry")
            _fail(seq - 1, "modified", f"entry {seq} does not chain to it")
        hashes_seen.add(h)
        if _entry_hash(seq, rec_prev, kind, body_b64) != h:
            _fail(seq, "modified", "its hash does not match its content")
        if kind == "c":
            try:
                cp = json.loads(body)
                covers, sig = cp["covers"], base64.b64decode(cp["sig"])
            except (ValueError, KeyError, TypeError):
                _fail(seq, "modified", "not a valid checkpoint")
            first = pending[0][0] if pending else seq
            cps.append((seq, covers, sig, first))
            # The covered hashes must be the entries' own. Its signature is checked here
            # only when they differ (to tell a rewritten entry from a forged checkpoint);
            # otherwise the signed HEAD authenticates the whole chain at once, below.
            actual = {s: hh for s, hh in pending}
            differs = next((s for s, hh in covers if actual.get(s) != hh), None)
            if differs is None and [s for s, _ in covers] != [s for s, _ in pending]:
                differs = first
            if differs is not None:
                _check_signature(verifier, ws, cps[-1])
                _fail(differs, "modified", f"checkpoint {seq} signed another hash for it "
                                           "(the chain was rewritten)")
            pending, last_cp = [], (seq, h)
            entries.append({"seq": seq, "checkpoint": True, "hash": h, "_hash_ok": True})
        elif kind in ("e", "s"):
            try:
                if kind == "e":
                    plain = aead.decrypt(body[:12], body[12:], _ad(ws, seq, rec_prev))
                else:
                    plain = unseal(body, keys.sealing, _ad(ws, seq, rec_prev))
                entry = json.loads(plain)
            except (InvalidTag, ValueError, IndexError):
                _fail(seq, "modified", "its content does not authenticate")
            entry.update(seq=seq, sealed_without_login=kind == "s", _hash_ok=True)
            entries.append(entry)
            pending.append([seq, h])
        else:
            _fail(seq, "modified", f"unknown kind {kind!r}")
        prev, expect = h, seq + 1
    if data and not data.endswith(b"\n"):
        _fail(expect, "truncated", "the last line is incomplete")
    _check_head(log, verifier, last_cp, expect, entries, cps)
    for e in entries:
        if last_cp and e["seq"] > last_cp[0] and not e.get("sealed_without_login"):
            _fail(e["seq"], "not sealed", "written by a session after the last checkpoint")
    if anchor is not None:
        _check_anchor(anchor, entries, expect)
    out = [{k: v for k, v in e.items() if k != "_hash_ok"} for e in entries
           if not e.get("checkpoint")]
    return expect - 1, out


def _check_anchor(anchor, entries, expect):
    aseq, ahash = anchor
    if aseq >= expect:
        _fail(expect, "truncated", f"the log ends before checkpoint {aseq} of the external "
                                   "anchor (truncated or rolled back)")
    found = next((e for e in entries if e["seq"] == aseq), None)
    if found is None or not found.get("checkpoint"):
        _fail(aseq, "modified", "the external anchor names a checkpoint here")
    if found["hash"] != ahash:
        _fail(aseq, "modified", "checkpoint differs from the external anchor: the log up to "
                                "it was rewritten")


def _check_signature(verifier, ws, cp) -> None:
    seq, covers, sig, first = cp
    try:
        verifier.verify(sig, _checkpoint_message(ws, seq, covers))
    except InvalidSignature:
        _fail(first, "modified", f"checkpoint {seq} (covering entries {first}..{seq - 1}) is not "
                                 "signed by the workspace key (wrong key, or the chain was "
                                 "rewritten)")


def _check_head(log, verifier, last_cp, expect, entries, cps):
    """HEAD's signature authenticates the chain up to the checkpoint it names; any
    checkpoint written after it (HEAD lags after a crash) is checked on its own. On a
    mismatch every checkpoint signature is checked to name the first bad window."""
    ws = log.workspace_id
    if not log.head_path.exists():
        _fail(expect, "truncated", "audit/HEAD is missing, so the log's end cannot be proven "
                                   "(the log should be sealed)")
    try:
        head = json.loads(log.head_path.read_bytes())
        hseq, hhash = int(head["seq"]), head["hash"]
        sig = base64.b64decode(head["sig"])
    except (ValueError, KeyError, TypeError):
        _fail(expect, "truncated", "audit/HEAD is damaged")
    try:
        verifier.verify(sig, _head_message(ws, hseq, hhash))
    except InvalidSignature:
        for cp in cps:
            _check_signature(verifier, ws, cp)
        _fail(expect, "truncated", "audit/HEAD is not signed by the workspace key")
    if hseq >= expect:
        _fail(expect, "truncated", f"the log ends before checkpoint {hseq} that audit/HEAD names")
    if last_cp is None:
        _fail(expect, "truncated", "the log holds no checkpoint")
    seen = {e["seq"]: e["hash"] for e in entries if e.get("checkpoint")}
    if seen.get(hseq) != hhash:
        for cp in cps:
            _check_signature(verifier, ws, cp)
        _fail(hseq, "modified", "audit/HEAD names another checkpoint here")
    for cp in cps:
        if cp[0] > hseq:
            _check_signature(verifier, ws, cp)
