"""A logged-in session: role checks, auditing, idle lock.

Every operation a user performs goes through a :class:`Session`; each checks
the role (:mod:`compliance.roles`), records a refusal as ``access.denied``, and
audits what it did. The case, label, journal and review operations live in
:mod:`compliance.casestore` and :mod:`compliance.review`, user administration
in :mod:`compliance.admin`.

Idle lock: after ``idle_lock_minutes`` without activity (or on :meth:`lock`),
the session drops its keys from memory and refuses every operation with
:class:`SessionLocked` until :meth:`unlock` is given the password. The caller's
unsaved work stays in its own memory (and in the autosave journal written
before the lock), so nothing is lost.

Emergency ("break-glass") access: :meth:`Session.start_emergency` re-authenticates and,
for a typed reason and a limited time, lets the session also open cases and read labels
(:data:`compliance.emergency.EMERGENCY_ACTIONS`); every entry audited meanwhile carries
``details["emergency"]`` (see :mod:`compliance.emergency`).
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from compliance import roles
from compliance.admin import AdminOps
from compliance.audit import load_keys, utc_now
from compliance.casestore import CaseStore
from compliance.emergency import EMERGENCY_ACTIONS, EmergencyGrant, check_request
from compliance.errors import (AuthenticationError, IntegrityError, NotFoundError,
                               PermissionDenied, PolicyError, RecordMismatchError,
                               SessionLocked)
from compliance.keys import b64d
from compliance.qualitystore import QualityStore
from compliance.review import ReviewOps
from compliance.workspace import users_digest


# Review audit actions and the event each records (``compliance.review``).
_REVIEW_ACTIONS = {"review.submit": "submit", "review.approve": "approve",
                   "review.request_changes": "request_changes"}


@dataclass(frozen=True)
class ExportKeys:
    """Workspace signing key (Ed25519), its public bytes, the de-identification HMAC key,
    and the audit head (hash, seq) to record in an export manifest."""

    signing_key: object
    signing_public: bytes
    deidentify_key: bytes
    audit_head_hash: str
    audit_head_seq: int

    def __repr__(self) -> str:
        return f"ExportKeys(<withheld>, audit_head_seq={self.audit_head_seq})"


class Session(CaseStore, ReviewOps, AdminOps, QualityStore):
    """What :meth:`Workspace.login` returns.

    Attributes
    ----------
    user_id, name, role : str
    """

    def __init__(self, workspace, user_id, user, keys, key_gen, audit_keys, clock):
        self.ws = workspace
        self.user_id = user_id
        self.name = user["name"]
        self.role = user["role"]
        self._keys = keys
        self.key_gen = key_gen
        self._audit_keys = audit_keys
        self._clock = clock
        self._last_activity = clock()
        self.locked = False
        self.closed = False
        #: set when the audit trail cannot be extended: only verify/read work (nothing else
        #: may happen unaudited)
        self.frozen = None
        #: the active emergency grant (see start_emergency), or None
        self._emergency: EmergencyGrant | None = None

    # -- auditing ------------------------------------------------------------------------
    def audit(self, action: str, objects=(), before: str | None = None, after: str | None = None,
              details: dict | None = None) -> int:
        """Append one entry to the audit trail and seal it; return its sequence number.

        Other layers record their own events through this (``proposal.generated`` with
        the model id and weights hash, ``proposal.accepted``, ``export``, editor change
        records...). ``details`` must not hold PHI.
        """
        if self._audit_keys is None:
            raise SessionLocked("the session is locked; unlock it with your password")
        if self.frozen is not None:
            raise self.frozen
        self._expire_emergency()
        return self.ws.audit_log.append([self._record(action, objects, before, after, details)],
                                        self._audit_keys)[0]

    def audit_edits(self, case_id: str, records) -> list[int]:
        """Append the editor's change records (``viewers.edit.ChangeRecord`` or any object
        with the same attributes) as ``label.edit`` entries, in one append and checkpoint.

        Segment names are left out (free text); the segment id, tool, undo/redo, voxel
        count, bounding box and the region hashes before/after are kept.
        """
        self.require("label.save", [case_id])
        out = []
        for r in records:
            bbox = getattr(r, "bbox", None)
            out.append(self._record("label.edit", [case_id], getattr(r, "hash_before", None),
                                    getattr(r, "hash_after", None), {
                "tool": str(r.tool), "step": str(getattr(r, "action", "apply")),
                "segment_id": getattr(r, "segment_id", None),
                "voxels_changed": int(getattr(r, "voxels_changed", 0)),
                "bbox": [list(map(int, b)) for b in bbox] if bbox else None,
                "segments_changed": bool(getattr(r, "segments_changed", False))}))
        if not out:
            return []
        return self.ws.audit_log.append(out, self._audit_keys)

    def _record(self, action, objects, before, after, details) -> dict:
        details = dict(details or {})
        if self._emergency is not None:
            # Break-glass: every entry of the grant points at its emergency.start entry.
            details["emergency"] = self._emergency.seq
        return {"time": utc_now(), "user": self.name, "user_id": self.user_id, "role": self.role,
                "action": action, "objects": [str(o) for o in objects], "before": before,
                "after": after, "details": details}

    def require(self, action: str, objects=()) -> None:
        """Refuse (and audit the refusal) unless the role may perform ``action``."""
        self._check_open()
        self._expire_emergency()
        if not (roles.allowed(self.role, action)
                or (self._emergency is not None and action in EMERGENCY_ACTIONS)):
            self.audit("access.denied", objects, details={"attempted": action})
            raise PermissionDenied(f"user {self.name!r} (role {self.role}) may not {action}")
        self._last_activity = self._clock()

    def _check_open(self) -> None:
        if self.closed:
            raise SessionLocked("the session has ended; log in again")
        if not self.locked and self.idle_seconds() > 60 * self.ws.settings["idle_lock_minutes"]:
            self.lock(reason="idle")
        if self.locked:
            raise SessionLocked("the session is locked; unlock it with your password")

    # -- idle lock -----------------------------------------------------------------------
    def idle_seconds(self) -> float:
        return self._clock() - self._last_activity

    def touch(self) -> None:
        """Note user activity (the GUI calls this on input events)."""
        if not self.locked:
            self._last_activity = self._clock()

    def check_idle(self) -> bool:
        """Lock if idle too long (the GUI calls this from a timer); True when locked."""
        if not self.locked and not self.closed and \
                self.idle_seconds() > 60 * self.ws.settings["idle_lock_minutes"]:
            self.lock(reason="idle")
        return self.locked

    def lock(self, reason: str = "user") -> None:
        """Lock now: audit, then drop the keys from memory."""
        if self.locked:
            return
        self.audit("session.lock", details={"reason": reason})
        self._keys, self._audit_keys, self.locked = None, None, True

    def unlock(self, password: str) -> None:
        """Re-authenticate; failures count towards the lockout like failed logins."""
        if self.closed:
            raise SessionLocked("the session has ended; log in again")
        opened = self.ws.check_password(self.name, password)
        if opened.user_id != self.user_id:
            raise AuthenticationError("wrong user name or password")
        keys = self.ws.unlock_keys(opened)
        user = self.ws.read_users(keys)["users"].get(self.user_id)
        if user is None or user["disabled"]:
            self.closed = True
            raise AuthenticationError(f"account {self.name!r} is disabled")
        self.role = user["role"]  # an administrator may have changed it meanwhile
        keyring = json.loads(self.ws.read_object(keys, "keyring", 1,
                                                 self.ws.root / "keys" / "keyring.enc"))
        self._keys, self.key_gen = keys, max(keys)
        self._audit_keys = load_keys(b64d(keyring["audit_key"]), b64d(keyring["signing"]),
                                     b64d(keyring["sealing"]))
        self.locked = False
        self._last_activity = self._clock()
        self.audit("session.unlock")

    def logout(self) -> None:
        if not self.closed and not self.locked and self.frozen is None:
            if self._emergency is not None and not self._emergency.expired(self._clock()):
                self._end_emergency("logout")
            self.audit("logout")
        self._emergency = None
        self._keys, self._audit_keys, self.closed = None, None, True

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.logout()

    # -- emergency (break-glass) access --------------------------------------------------
    def start_emergency(self, reason: str, minutes: int, password: str) -> EmergencyGrant:
        """Declare an emergency: for ``minutes`` this session may also open cases and read
        labels, and every entry it audits is flagged.

        Parameters
        ----------
        reason : str
            Typed by the user, at least ``MIN_REASON_CHARS`` characters; recorded in the
            audit trail (say why, not who the patient is).
        minutes : int
            Time limit, 1 to the setting ``emergency_max_minutes`` (default 60).
        password : str
            The user's password again (a failure counts towards the lockout).

        Returns
        -------
        EmergencyGrant
            Its ``seq`` is the ``emergency.start`` entry every flagged entry names.

        Raises
        ------
        PermissionDenied
            For roles without ``emergency.start`` (auditors), audited.
        PolicyError
            Reason too short, time limit out of range, or a grant already active.
        AuthenticationError
            Wrong password (audited as ``login.failed``).
        """
        self.require("emergency.start")
        if self._emergency is not None:
            raise PolicyError(f"emergency access is already active until "
                              f"{self._emergency.until_utc}; end it before starting another")
        text, minutes = check_request(reason, minutes, int(self.ws.settings.get(
            "emergency_max_minutes", 60)))
        opened = self.ws.check_password(self.name, password)
        if opened.user_id != self.user_id:
            raise AuthenticationError("wrong user name or password")
        until = (datetime.now(timezone.utc) + timedelta(minutes=minutes)).strftime(
            "%Y-%m-%dT%H:%M:%SZ")
        expires = self._clock() + 60.0 * minutes
        seq = self.audit("emergency.start", details={"reason": text, "minutes": minutes,
                                                     "until": until})
        self._emergency = EmergencyGrant(seq, text, minutes, until, expires)
        return self._emergency

    def end_emergency(self) -> EmergencyGrant | None:
        """End the active grant now (audited ``emergency.end``); return it, or None if
        none was active (an expired one is recorded as expired)."""
        self._check_open()
        grant = self._emergency
        self._expire_emergency()
        if self._emergency is not None:
            self._end_emergency("user")
        return grant

    @property
    def emergency(self) -> EmergencyGrant | None:
        """The active grant, or None (also once its time is up, even before the expiry
        has been recorded at the next operation or :meth:`check_emergency`)."""
        g = self._emergency
        return g if g is not None and not g.expired(self._clock()) else None

    def check_emergency(self) -> EmergencyGrant | None:
        """Record the end of a grant whose time is up (the GUI calls this from a timer);
        return the grant still active, or None."""
        if not self.locked and not self.closed and self.frozen is None:
            self._expire_emergency()
        return self.emergency

    def _expire_emergency(self) -> None:
        g = self._emergency
        if g is not None and g.expired(self._clock()):
            self._end_emergency("expired")

    def _end_emergency(self, how: str) -> None:
        rec = self._record("emergency.end", [], None, None,
                           {"ended": how, "until": self._emergency.until_utc})
        # Dropped before the append: if the trail cannot take the entry, the privilege is
        # gone anyway (fail closed).
        self._emergency = None
        if self._audit_keys is not None and self.frozen is None:
            self.ws.audit_log.append([rec], self._audit_keys)

    # -- encrypted objects of other layers -------------------------------------------------
    def write_private(self, oid: str, version: int, path, plaintext: bytes,
                      create_only: bool = False) -> bool:
        """Encrypt ``plaintext`` as workspace object ``oid``/``version`` at ``path``.

        For the records other layers keep in the workspace (PACS headers and credentials,
        model versions); the caller checks the permission of what it stores. Keys never
        leave the session.
        """
        self._check_open()
        return self.ws.write_object(self._keys, self.key_gen, oid, version, path, plaintext,
                                    create_only=create_only)

    def read_private(self, oid: str, version: int | None, path) -> bytes:
        """Decrypt an object written by :meth:`write_private` (``version`` None: mutable)."""
        self._check_open()
        return self.ws.read_object(self._keys, oid, version, path)

    # -- keys for the export layer --------------------------------------------------------
    def export_keys(self) -> "ExportKeys":
        """What :mod:`compliance.export` needs to sign and de-identify a bundle.

        Refused (and audited) for roles without ``export``. The caller audits the export
        itself with ``session.audit("export", case_ids, details={...})``.
        """
        self.require("export")
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.kdf.hkdf import HKDF

        # Derived from the audit key (stable across key rotations, never stored apart):
        # the same original UID maps to the same new UID in every export of this workspace.
        deid = HKDF(hashes.SHA256(), 32, None, b"annotrace/deid-uid-hmac/v1"
                    ).derive(self._audit_keys.audit_key)
        seq, head = self.ws.audit_log.head()
        return ExportKeys(self._audit_keys.signing, self._audit_keys.signing_public, deid,
                          head, seq)

    # -- audit trail (auditors) ----------------------------------------------------------
    def verify_audit(self, anchor: tuple[int, str] | None = None,
                     deep: bool = False) -> tuple[int, list[dict]]:
        """Verify the whole audit trail; return (entries verified, entries).

        ``anchor``: a (seq, hash) printed by an earlier verification and kept outside the
        workspace; the log must still contain that exact checkpoint. ``deep``: also check
        that every imported case, every saved version and every review event the trail
        records is still in the workspace with the recorded content hash, and that the user
        table is the revision last recorded (a deleted or rolled-back object fails with
        :class:`~compliance.errors.RecordMismatchError`, naming the audit entry).
        """
        self.require("audit.verify")
        n, entries = self.ws.audit_log.verify(self._audit_keys,
                                              b64d(self.ws.meta["signing_public"]), anchor)
        if deep:
            try:
                self._check_objects(entries)
            except IntegrityError as exc:
                raise RecordMismatchError(str(exc)) from None
        self.audit("audit.verify", details={"entries": n})
        return n, entries

    def _check_objects(self, entries: list[dict]) -> None:
        """Every case, label version, review event and user-table revision the trail records
        must still be in the workspace, unchanged."""
        reviews: dict[str, list[dict]] = {}
        table_entry = None
        for e in entries:
            action, objs = e.get("action"), e.get("objects") or []
            if action == "case.import" and not (self.ws.root / "cases" / objs[0] /
                                                "case.enc").exists():
                raise IntegrityError(f"case {objs[0]} imported in audit entry {e['seq']} is "
                                     "missing from the workspace (deleted)")
            if action == "label.save":
                cid, n = objs[0], e["details"]["version"]
                try:
                    meta = self._version_meta(cid, n)
                except (NotFoundError, IntegrityError) as exc:
                    raise IntegrityError(f"case {cid} version {n} saved in audit entry "
                                         f"{e['seq']} is missing or damaged ({exc})") from None
                if meta["content_sha256"] != e.get("after"):
                    raise IntegrityError(f"case {cid} version {n} differs from audit entry "
                                         f"{e['seq']} (replaced or rolled back)")
            if action in _REVIEW_ACTIONS:
                reviews.setdefault(objs[0], []).append(e)
            revision = (e.get("details") or {}).get("table_revision")
            if revision is not None and (table_entry is None or
                                         revision > table_entry["details"]["table_revision"]):
                table_entry = e
        for cid, recorded in reviews.items():
            self._check_review_events(cid, recorded)
        if table_entry is not None:
            self._check_user_table(table_entry)

    def _check_review_events(self, case_id: str, recorded: list[dict]) -> None:
        """Each recorded submit, approval or request for changes has its own event.

        Matched as a multiset of (event, version, content hash) rather than by position:
        two processes may append their audit entries in the other order than their events.
        """
        try:
            events = self._events(case_id)
        except (NotFoundError, IntegrityError) as exc:
            raise IntegrityError(f"case {case_id}: review events damaged ({exc})") from None
        present = Counter((ev["event"], ev["version"], ev["content_sha256"]) for ev in events)
        for e in recorded:
            key = (_REVIEW_ACTIONS[e["action"]], e["details"]["version"], e.get("after"))
            if present[key] == 0:
                raise IntegrityError(
                    f"case {case_id}: the {key[0]} of version {key[1]} recorded in audit "
                    f"entry {e['seq']} is missing from the workspace (review rolled back)")
            present[key] -= 1

    def _check_user_table(self, entry: dict) -> None:
        """The user table must be the revision the trail last records, with its digest."""
        table = self.ws.read_users(self._keys)
        want = entry["details"]["table_revision"]
        if table["revision"] < want:
            raise IntegrityError(
                f"the user table is revision {table['revision']} but audit entry {entry['seq']} "
                f"recorded revision {want} (an older copy was put back)")
        if table["revision"] > want:
            raise IntegrityError(
                f"the user table is revision {table['revision']}, newer than the last one the "
                f"audit trail records ({want}, entry {entry['seq']}): changed without an audit "
                "entry")
        if users_digest(table) != entry.get("after"):
            raise IntegrityError(f"the user table differs from audit entry {entry['seq']} "
                                 f"(revision {want} replaced)")

    def read_audit(self, user: str | None = None, since: str | None = None,
                   case: str | None = None) -> list[dict]:
        """Verified entries, filtered by user name, UTC time (ISO prefix order) and case id."""
        self.require("audit.read")
        _, entries = self.ws.audit_log.verify(self._audit_keys,
                                              b64d(self.ws.meta["signing_public"]))
        out = [e for e in entries
               if (user is None or e.get("user") == user)
               and (since is None or e.get("time", "") >= since)
               and (case is None or case in e.get("objects", []))]
        self.audit("audit.read", details={"filters": {"user": user, "since": since,
                                                      "case": case}, "entries": len(out)})
        return out
