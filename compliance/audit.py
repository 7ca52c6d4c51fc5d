"""Append-only, hash-chained, encrypted audit log with signed checkpoints.

One JSON line per entry in ``audit/log.jsonl``::

    {"seq": n, "prev": <hash of entry n-1>, "k": kind, "b": <base64 body>, "h": <hash>}

``h = SHA-256("seq|prev|k|b")``; the first entry's ``prev`` is a genesis hash of
the workspace id. Kinds:

``e``  an entry written by a logged-in session: AES-256-GCM under the audit key,
       associated data = workspace id, seq and prev (so a body cannot be moved);
``s``  an entry written without a login (failed login, locked-out user): sealed
       to the workspace's X25519 audit public key (ephemeral ECDH + HKDF + GCM);
``c``  a checkpoint: the (seq, hash) of every entry since the previous checkpoint,
       signed with the workspace Ed25519 key.

``audit/HEAD`` holds the last checkpoint (seq, hash), signed, so that cutting
entries off the end of the log is detected. Every append by a session ends with
a checkpoint and a new HEAD (under the audit lock), so the only entries allowed
after the last checkpoint are sealed ``s`` entries; anything else fails
verification as "not sealed" (systemd CVE-2023-31438/31439 lessons: fail
closed on gaps, on a wrong-key checkpoint and on a log that should be sealed).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from compliance import fsio
from compliance.errors import AuditError

_RAW = dict(encoding=serialization.Encoding.Raw, format=serialization.PublicFormat.Raw)


def utc_now() -> str:
    """The current UTC time, ISO 8601 with microseconds and a ``Z``."""
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _entry_hash(seq: int, prev: str, kind: str, body: str) -> str:
    return hashlib.sha256(f"{seq}|{prev}|{kind}|{body}".encode()).hexdigest()


def genesis(workspace_id: bytes) -> str:
    return hashlib.sha256(b"annotrace/audit/genesis/v1" + workspace_id).hexdigest()


def _ad(workspace_id: bytes, seq: int, prev: str) -> bytes:
    return b"annotrace/audit/v1" + workspace_id + seq.to_bytes(8, "big") + prev.encode()


@dataclass
class AuditKeys:
    """Keys of a logged-in session (all from the encrypted keyring)."""

    audit_key: bytes
    signing: Ed25519PrivateKey
    sealing: X25519PrivateKey

    @property
    def signing_public(self) -> bytes:
        return self.signing.public_key().public_bytes(**_RAW)


def _seal_key(shared: bytes, eph: bytes, recipient: bytes) -> bytes:
    return HKDF(hashes.SHA256(), 32, None, b"annotrace/audit/seal/v1" + eph + recipient
                ).derive(shared)


def seal(record: bytes, recipient_public: bytes, ad: bytes) -> bytes:
    """Encrypt ``record`` so that only the holder of the sealing private key reads it."""
    eph = X25519PrivateKey.generate()
    eph_pub = eph.public_key().public_bytes(**_RAW)
    key = _seal_key(eph.exchange(X25519PublicKey.from_public_bytes(recipient_public)), eph_pub,
                    recipient_public)
    nonce = os.urandom(12)
    return eph_pub + nonce + AESGCM(key).encrypt(nonce, record, ad)


def unseal(blob: bytes, private: X25519PrivateKey, ad: bytes) -> bytes:
    eph_pub, nonce, ct = blob[:32], blob[32:44], blob[44:]
    recipient = private.public_key().public_bytes(**_RAW)
    key = _seal_key(private.exchange(X25519PublicKey.from_public_bytes(eph_pub)), eph_pub,
                    recipient)
    return AESGCM(key).decrypt(nonce, ct, ad)


def _checkpoint_message(workspace_id: bytes, seq: int, covers: list) -> bytes:
    return b"annotrace/checkpoint/v1" + workspace_id + json.dumps(
        [seq, covers], separators=(",", ":")).encode()


def _head_message(workspace_id: bytes, seq: int, h: str) -> bytes:
    return b"annotrace/head/v1" + workspace_id + f"{seq}|{h}".encode()


class AuditLog:
    """The audit log of one workspace (folder ``audit/``)."""

    def __init__(self, folder: Path, workspace_id: bytes, seal_public: bytes):
        self.folder = Path(folder)
        self.path = self.folder / "log.jsonl"
        self.head_path = self.folder / "HEAD"
        self.lock_path = self.folder / "log.lock"
        self.workspace_id = workspace_id
        self.seal_public = seal_public
        #: True only while Workspace.create writes the first entries
        self.creating = False

    # -- writing --------------------------------------------------------------------------
    def append(self, records: list[dict], keys: AuditKeys | None,
               checkpoint_every: int | None = None) -> list[int]:
        """Append entries; with ``keys`` they are encrypted and sealed by a checkpoint.

        Without keys (no one is logged in: a failed login) they are sealed to the
        audit public key and wait for the next session's checkpoint. With
        ``checkpoint_every=k`` a bulk append also seals after every k entries (one
        fsync for the whole batch). Returns the sequence numbers given to ``records``.
        """
        # Held for milliseconds: a lock older than a minute belongs to a crashed host.
        with fsio.locked(self.lock_path, "the audit log", timeout=30, max_age=60):
            self.folder.mkdir(parents=True, exist_ok=True)
            n_requested = len(records)
            pending, seq, prev, torn = self._tail_state()
            if torn:
                # An entry torn by a crash mid-write was never acknowledged; cut it and say so.
                with open(self.path, "r+b") as f:
                    f.truncate(torn)
                records = [{"time": utc_now(), "user": "", "user_id": "", "role": "",
                            "action": "audit.torn_tail_removed", "objects": [],
                            "details": {"offset": torn}}] + records
            lines, seqs = [], []

            def checkpoint(seq, prev, pending):
                seq += 1
                sig = keys.signing.sign(_checkpoint_message(self.workspace_id, seq, pending))
                body = json.dumps({"covers": pending, "time": utc_now(),
                                   "sig": base64.b64encode(sig).decode()}).encode()
                line, prev = self._line(seq, prev, "c", body)
                lines.append(line)
                return seq, prev

            for rec in records:
                seq += 1
                plain = json.dumps(rec, sort_keys=True, separators=(",", ":")).encode()
                if keys is None:
                    ad = _ad(self.workspace_id, seq, prev)
                    kind, body = "s", seal(plain, self.seal_public, ad)
                else:
                    nonce = os.urandom(12)
                    kind = "e"
                    body = nonce + AESGCM(keys.audit_key).encrypt(
                        nonce, plain, _ad(self.workspace_id, seq, prev))
                line, prev = self._line(seq, prev, kind, body)
                lines.append(line)
                pending.append([seq, prev])
                seqs.append(seq)
                if keys is not None and checkpoint_every and len(pending) >= checkpoint_every:
                    seq, prev = checkpoint(seq, prev, pending)
                    pending = []
            if keys is not None and (pending or not lines):
                seq, prev = checkpoint(seq, prev, pending)
            with open(self.path, "ab") as f:
                f.write("".join(lines).encode())
                f.flush()
                os.fsync(f.fileno())
            if keys is not None:
                head_sig = keys.signing.sign(_head_message(self.workspace_id, seq, prev))
                fsio.atomic_replace(self.head_path, json.dumps(
                    {"seq": seq, "hash": prev, "sig": base64.b64encode(head_sig).decode()}
                ).encode())
        return seqs[len(seqs) - n_requested:]

    @staticmethod
    def _line(seq: int, prev: str, kind: str, body: bytes) -> tuple[str, str]:
        b = base64.b64encode(body).decode()
        h = _entry_hash(seq, prev, kind, b)
        return json.dumps({"seq": seq, "prev": prev, "k": kind, "b": b, "h": h},
                          separators=(",", ":")) + "\n", h

    def _tail_state(self):
        """Entries since the last checkpoint, last seq and hash, and a torn-tail offset."""
        if not self.path.exists():
            if not self.creating:
                # Only Workspace.create starts a log; a missing one was deleted.
                raise AuditError("audit: entry 1 deleted: audit/log.jsonl is missing; nothing "
                                 "more is written until an administrator restores it",
                                 seq=1, kind="deleted")
            return [], 0, genesis(self.workspace_id), 0
        size = self.path.stat().st_size
        block, data, torn = 1 << 16, b"", 0
        with open(self.path, "rb") as f:
            pos = size
            while pos > 0:
                step = min(block, pos)
                pos -= step
                f.seek(pos)
                data = f.read(step) + data
                complete = data[data.find(b"\n") + 1:] if pos > 0 else data
                if b'"k":"c"' in complete or pos == 0:
                    break
        if data and not data.endswith(b"\n"):
            cut = data.rfind(b"\n") + 1
            torn = size - len(data) + cut
            data = data[:cut]
        lines = data.split(b"\n")
        if pos > 0:
            lines = lines[1:]  # the first piece may be a partial line
        pending, seq, prev = [], 0, genesis(self.workspace_id)
        last_cp = (0, "")
        for raw in lines:
            if not raw:
                continue
            rec = json.loads(raw)
            seq, prev = rec["seq"], rec["h"]
            if rec["k"] == "c":
                pending, last_cp = [], (seq, prev)
            else:
                pending.append([seq, prev])
        self._check_head(last_cp, seq, size > 0)
        return pending, seq, prev, torn

    def _check_head(self, last_cp: tuple[int, str], last_seq: int, log_exists: bool) -> None:
        """Refuse to write after a truncation, so that the evidence (HEAD) is never lost.

        HEAD is written after the log is synced, so it may lag one checkpoint behind
        after a crash, but it never legitimately names a checkpoint the log lacks.
        """
        try:
            head = json.loads(self.head_path.read_bytes())
            hseq, hhash = int(head["seq"]), str(head["hash"])
        except FileNotFoundError:
            if log_exists:
                raise AuditError("audit: audit/HEAD is missing; the log cannot be extended "
                                 "until an administrator restores it (run audit verify)") from None
            return
        except (ValueError, KeyError, TypeError):
            raise AuditError("audit: audit/HEAD is damaged; the log cannot be extended") from None
        if hseq > last_cp[0] or (hseq == last_cp[0] and hhash != last_cp[1]):
            raise AuditError(f"audit: entry {last_seq + 1} truncated: the log ends before "
                             f"checkpoint {hseq} named by audit/HEAD; nothing more is written "
                             "until an administrator restores it (run audit verify)",
                             seq=last_seq + 1, kind="truncated")

    # -- reading and verifying ------------------------------------------------------------
    def verify(self, keys: AuditKeys, expected_signing_public: bytes | None = None,
               anchor: tuple[int, str] | None = None) -> tuple[int, list[dict]]:
        """Check the whole log; return (entries verified, decrypted entries).

        Raises :class:`AuditError` naming the first entry that was modified,
        inserted, deleted, reordered or truncated.
        """
        from compliance.audit_verify import verify_log

        return verify_log(self, keys, expected_signing_public, anchor)

    def find_recent(self, keys: AuditKeys, since: str, predicate) -> dict | None:
        """The newest session entry written at or after UTC time ``since`` that satisfies
        ``predicate`` (scanning back from the end; for crash recovery, not verification)."""
        if not self.path.exists():
            return None
        aead = AESGCM(keys.audit_key)
        for raw in reversed(self.path.read_bytes().split(b"\n")):
            try:
                rec = json.loads(raw)
                if rec["k"] != "e":
                    continue
                body = base64.b64decode(rec["b"])
                entry = json.loads(aead.decrypt(body[:12], body[12:],
                                                _ad(self.workspace_id, rec["seq"], rec["prev"])))
            except (ValueError, KeyError, TypeError, InvalidTag):
                continue  # a torn or foreign line: verification reports it, not this
            if entry.get("time", "") < since:
                return None
            if predicate(entry):
                return entry
        return None

    def head(self) -> tuple[int, str]:
        """(seq, hash) of the checkpoint audit/HEAD names: the anchor to keep elsewhere."""
        head = json.loads(self.head_path.read_bytes())
        return int(head["seq"]), str(head["hash"])


def load_keys(audit_key: bytes, signing_raw: bytes, sealing_raw: bytes) -> AuditKeys:
    return AuditKeys(audit_key, Ed25519PrivateKey.from_private_bytes(signing_raw),
                     X25519PrivateKey.from_private_bytes(sealing_raw))


def public_bytes(key) -> bytes:
    return key.public_key().public_bytes(**_RAW)

