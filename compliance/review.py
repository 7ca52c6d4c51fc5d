"""Review workflow with electronic signatures (a Session mixin).

States of a case: ``new`` (no version), ``draft``, ``submitted``,
``changes_requested``, ``approved``. Review events are immutable encrypted
objects ``r/<n>.enc``; the state is the last event, or ``draft`` when a version
newer than the one it concerns was saved.

An approval is an electronic signature (21 CFR 11.50/11.70 style): the reviewer
re-enters the password, which unlocks their own Ed25519 signing key, and signs
the workspace id, case id, version number, the version's content SHA-256, the
meaning of the signature, the signer's id and name and the UTC time. The author
(or submitter) of a version can never approve it.
"""

from __future__ import annotations

import base64
import json

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from compliance.audit import utc_now
from compliance.errors import AuthenticationError, ComplianceError, PermissionDenied

DEFAULT_MEANING = "approved as reference standard"


def signed_message(event: dict) -> bytes:
    """The exact bytes an approval signature covers."""
    fields = {k: event[k] for k in ("workspace_id", "case_id", "version", "content_sha256",
                                    "meaning", "signer_id", "signer", "time")}
    return b"annotrace/approval/v1" + json.dumps(fields, sort_keys=True,
                                                 separators=(",", ":")).encode()


class ReviewOps:
    """Mixed into :class:`~compliance.session.Session`."""

    def _events(self, case_id: str) -> list[dict]:
        rdir = self._case_dir(case_id) / "r"
        out = []
        for n in sorted(int(p.stem) for p in rdir.glob("*.enc")) if rdir.is_dir() else []:
            out.append(json.loads(self.ws.read_object(self._keys, f"case/{case_id}/review", n,
                                                      rdir / f"{n:06d}.enc")))
        return out

    def review_state(self, case_id: str, _checked: bool = False) -> dict:
        """``{"state", "version", "events"}`` of a case."""
        if not _checked:
            self.require("case.list", [case_id])
        events = self._events(case_id)
        nums = self._version_numbers(case_id)
        if not nums:
            out = {"state": "new", "version": None, "events": events}
        elif not events or events[-1]["version"] < nums[-1]:
            out = {"state": "draft", "version": nums[-1], "events": events}
        else:
            last = events[-1]
            state = {"submit": "submitted", "approve": "approved",
                     "request_changes": "changes_requested"}[last["event"]]
            out = {"state": state, "version": last["version"], "events": events}
        if not _checked:
            self.audit("review.read", [case_id], details={"state": out["state"]})
        return out

    def _append_event(self, case_id: str, event: dict) -> None:
        rdir = self._case_dir(case_id) / "r"
        n = len(list(rdir.glob("*.enc"))) + 1 if rdir.is_dir() else 1
        with self.edit_lock(case_id):
            while not self.ws.write_object(self._keys, self.key_gen, f"case/{case_id}/review", n,
                                           rdir / f"{n:06d}.enc", json.dumps(event).encode(),
                                           create_only=True):
                n += 1

    def submit(self, case_id: str, version: int | None = None) -> dict:
        """Submit a version (default: the latest) for review."""
        self.require("review.submit", [case_id])
        with self.edit_lock(case_id):  # the state cannot change between check and event
            st = self.review_state(case_id, _checked=True)
            mine = self._visible_numbers(case_id)
            mine = [n for n in mine if self._version_meta(case_id, n)["author_id"] == self.user_id]
            if version is None:
                if not mine:
                    raise ComplianceError(f"case {case_id} has no label version of yours to "
                                          "submit")
                version = mine[-1]
            elif version not in mine:
                self.audit("access.denied", [case_id], details={"attempted": "review.submit",
                                                                "version": version})
                raise PermissionDenied(f"version {version} of case {case_id} is not yours to "
                                       "submit")
            meta = self._version_meta(case_id, version)
            if st["state"] == "submitted" and st["version"] == version:
                raise ComplianceError(f"case {case_id} version {version} is already submitted")
            event = {"event": "submit", "version": version,
                     "content_sha256": meta["content_sha256"], "user_id": self.user_id,
                     "user": self.name, "time": utc_now()}
            self._append_event(case_id, event)
        self.audit("review.submit", [case_id], after=meta["content_sha256"],
                   details={"version": version})
        return event

    def _submitted(self, case_id: str) -> tuple[dict, dict]:
        st = self.review_state(case_id, _checked=True)
        if st["state"] != "submitted":
            raise ComplianceError(f"case {case_id} is {st['state']}, not submitted for review")
        meta = self._version_meta(case_id, st["version"])
        submitter = st["events"][-1]["user_id"]
        if self.user_id in (meta["author_id"], submitter):
            self.audit("access.denied", [case_id], details={"attempted": "review own work"})
            raise PermissionDenied(f"user {self.name!r} authored or submitted case {case_id} "
                                   f"version {st['version']} and cannot review it")
        return st, meta

    def approve(self, case_id: str, password: str, meaning: str = DEFAULT_MEANING) -> dict:
        """Approve the submitted version with an electronic signature (re-asks the password)."""
        self.require("review.approve", [case_id])
        with self.edit_lock(case_id):
            st, meta = self._submitted(case_id)
            opened = self.ws.check_password(self.name, password)
            if opened.user_id != self.user_id:
                raise AuthenticationError("wrong user name or password")
            event = {"event": "approve", "workspace_id": self.ws.workspace_id.hex(),
                     "case_id": case_id, "version": st["version"],
                     "content_sha256": meta["content_sha256"],
                     "meaning": meaning or DEFAULT_MEANING, "signer_id": self.user_id,
                     "signer": self.name, "user_id": self.user_id, "user": self.name,
                     "time": utc_now()}
            key = Ed25519PrivateKey.from_private_bytes(opened.signing_key)
            event["signature"] = base64.b64encode(key.sign(signed_message(event))).decode()
            self._append_event(case_id, event)
        self.audit("review.approve", [case_id], after=meta["content_sha256"],
                   details={"version": st["version"], "meaning": event["meaning"],
                            "signature": event["signature"]})
        return event

    def request_changes(self, case_id: str, reason: str = "") -> dict:
        """Send the submitted version back to its author."""
        self.require("review.request_changes", [case_id])
        with self.edit_lock(case_id):
            st, meta = self._submitted(case_id)
            event = {"event": "request_changes", "version": st["version"],
                     "content_sha256": meta["content_sha256"], "reason": reason,
                     "user_id": self.user_id, "user": self.name, "time": utc_now()}
            self._append_event(case_id, event)
        self.audit("review.request_changes", [case_id], after=meta["content_sha256"],
                   details={"version": st["version"], "reason_given": bool(reason)})
        return event

    def verify_approval(self, event: dict) -> bool:
        """True if ``event``'s signature verifies with the signer's (current or retired) key."""
        users = self.ws.read_users(self._keys)["users"]
        user = users.get(event.get("signer_id"))
        if user is None or "signature" not in event:
            return False
        sig = base64.b64decode(event["signature"])
        for pub in [user["signing_public"], *user["old_signing_public"]]:
            try:
                Ed25519PublicKey.from_public_bytes(base64.b64decode(pub)).verify(
                    sig, signed_message(event))
                return True
            except InvalidSignature:
                continue
        return False
