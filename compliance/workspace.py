"""A workspace folder: creation, opening, login, and encrypted object storage.

Layout (no patient identifier in any name; every ``.enc`` file is an AEAD object
of :mod:`compliance.crypto`)::

    workspace.json            format, random workspace id, public keys, settings
    keys/keyring.enc          audit key, workspace signing and sealing keys
    keys/slots/<h>.json       one key slot per user (h = hash of workspace id + name)
    keys/chain/<gen>.enc      after a rotation: generation gen wrapped by gen - 1
    keys/chain/back-<gen>.enc generation gen wrapped by gen + 1
    users/table.enc           users, roles, public signing keys
    users/state/<h>.json      failed-login counter and lockout time (needs no key)
    audit/log.jsonl, HEAD     the audit trail (compliance.audit)
    cases/<id>/case.enc, image.enc, v/<n>.enc (label versions), r/<n>.enc (review)
    journal/<user id>/<case id>.enc   autosave journal
    locks/                    edit locks (see compliance.fsio)
"""

from __future__ import annotations

import hashlib
import json
import os
import time
import uuid
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from compliance import crypto, fsio, roles
from compliance.audit import AuditLog, load_keys, public_bytes, utc_now
from compliance.errors import (AuditError, AuthenticationError, ComplianceError, DisabledError,
                               IntegrityError, LockedOutError, NotFoundError)
from compliance.keys import KdfParams, b64d, b64e, derive_key, make_slot, open_slot, seal_slot

FORMAT = 1
_PRIV = dict(encoding=serialization.Encoding.Raw, format=serialization.PrivateFormat.Raw,
             encryption_algorithm=serialization.NoEncryption())


#: security settings a site policy can only tighten: the stricter of the two values wins
_STRICTER = {"password_min_length": max, "lockout_failures": min, "lockout_minutes": max,
             "idle_lock_minutes": min, "blind_spot_checks": max}


def stricter_settings(settings: dict, site_policy: dict | None) -> dict:
    """``settings`` with each security value of ``site_policy`` applied where it is stricter
    (a workspace administrator cannot loosen what the hospital set for every workspace)."""
    out = dict(settings)
    for name, value in (site_policy or {}).items():
        if name not in _STRICTER:
            raise ComplianceError(f"unknown site security setting {name!r}")
        out[name] = _STRICTER[name](int(out[name]), int(value))
    return out


def private_raw(key) -> bytes:
    return key.private_bytes(**_PRIV)



def users_digest(table: dict) -> str:
    """SHA-256 of the user table's canonical JSON (the ``after`` of its audit entries).

    Canonical (sorted keys, no spaces) so that the digest does not depend on how the table
    was serialised; ``audit verify --deep`` compares it with the table in the workspace.
    """
    return hashlib.sha256(json.dumps(table, sort_keys=True, separators=(",", ":"))
                          .encode()).hexdigest()

class Workspace:
    """An opened (not yet logged-in) workspace folder.

    >>> ws = Workspace.open("/data/ws")                    # doctest: +SKIP
    >>> session = ws.login("alice", password)              # doctest: +SKIP
    """

    def __init__(self, root: Path, meta: dict, site_policy: dict | None = None):
        self.root = Path(root)
        self.meta = meta
        #: the hospital's security minimums (see :func:`stricter_settings`), set by the caller
        #: from the site configuration; never stored in the workspace
        self.site_policy = dict(site_policy or {})
        self.workspace_id = bytes.fromhex(meta["workspace_id"])
        self.audit_log = AuditLog(self.root / "audit", self.workspace_id,
                                  b64d(meta["sealing_public"]))
        self._meta_stamp = self._meta_file_stamp()

    # -- creation and opening ------------------------------------------------------------
    @classmethod
    def create(cls, root, admin: str, password: str, kdf: KdfParams | None = None,
               settings: dict | None = None, site_policy: dict | None = None) -> "Workspace":
        """Create a workspace with its first administrator.

        ``kdf`` defaults to OWASP-level Argon2id; tests pass ``KdfParams.testing()``.
        ``site_policy``: the site's security minimums (they apply to the first password too).
        """
        root = Path(root)
        if root.exists() and any(root.iterdir()):
            raise ComplianceError(f"{root}: not empty; a workspace needs a new or empty folder")
        kdf = kdf or KdfParams()
        settings = {**roles.DEFAULT_SETTINGS, **(settings or {})}
        roles.check_user_name(admin)
        roles.check_password(password, admin,
                             stricter_settings(settings, site_policy)["password_min_length"])
        root.mkdir(parents=True, exist_ok=True)
        signing, sealing = Ed25519PrivateKey.generate(), X25519PrivateKey.generate()
        meta = {"format": FORMAT, "workspace_id": os.urandom(16).hex(), "created": utc_now(),
                "key_gen": 1, "kdf": kdf.as_json(), "settings": settings,
                "signing_public": b64e(public_bytes(signing)),
                "sealing_public": b64e(public_bytes(sealing))}
        fsio.atomic_replace(root / "workspace.json", json.dumps(meta, indent=1).encode())
        ws = cls(root, meta, site_policy)
        keys = {1: crypto.new_key()}
        keyring = {"audit_key": b64e(crypto.new_key()), "signing": b64e(private_raw(signing)),
                   "sealing": b64e(private_raw(sealing))}
        # The keyring keeps version 1 for ever; its key generation is in its header.
        ws.write_object(keys, 1, "keyring", 1, ws.root / "keys" / "keyring.enc",
                        json.dumps(keyring).encode())
        audit_keys = load_keys(b64d(keyring["audit_key"]), private_raw(signing),
                               private_raw(sealing))
        user_id, user_key = uuid.uuid4().hex, Ed25519PrivateKey.generate()
        table = {"revision": 1, "users": {user_id: {
            "name": admin, "role": "admin", "disabled": False, "created": utc_now(),
            "signing_public": b64e(public_bytes(user_key)), "old_signing_public": []}}}
        digest = ws.write_users(keys, 1, table)
        ws.write_slot(admin, make_slot(password, ws.workspace_id, user_id, 1, keys[1],
                                       private_raw(user_key), kdf))
        rec = {"time": utc_now(), "user": admin, "user_id": user_id, "role": "admin",
               "objects": [], "details": {}}
        ws.audit_log.creating = True
        ws.audit_log.append([{**rec, "action": "workspace.init"},
                             {**rec, "action": "user.add", "objects": [user_id], "after": digest,
                              "details": {"name": admin, "role": "admin",
                                          "table_revision": 1}}], audit_keys)
        ws.audit_log.creating = False
        return ws

    @classmethod
    def open(cls, root, site_policy: dict | None = None) -> "Workspace":
        root = Path(root)
        meta = cls._read_meta(root)
        if meta.get("format") != FORMAT:
            raise ComplianceError(f"{root}: unsupported workspace format {meta.get('format')}")
        return cls(root, meta, site_policy)

    @staticmethod
    def _read_meta(root: Path) -> dict:
        """``workspace.json`` as it is on disk."""
        try:
            return json.loads((root / "workspace.json").read_text())
        except FileNotFoundError:
            raise NotFoundError(f"{root}: not an annotrace workspace (no workspace.json)") from None
        except ValueError:
            raise IntegrityError(f"{root}/workspace.json: not valid JSON") from None

    @property
    def settings(self) -> dict:
        """The workspace's own settings, tightened by the site policy where it is stricter.

        Read again whenever ``workspace.json`` has changed on disk, so that an
        administrator's change (from any process or workstation) reaches the sessions that
        are already open -- a shorter idle lock applies at once, not at their next login.
        """
        self._refresh_settings()
        return stricter_settings({**roles.DEFAULT_SETTINGS, **self.meta.get("settings", {})},
                                 self.site_policy)

    def _meta_file_stamp(self):
        try:
            st = (self.root / "workspace.json").stat()
        except OSError:
            return None
        return st.st_mtime_ns, st.st_size, st.st_ino

    def _refresh_settings(self) -> None:
        stamp = self._meta_file_stamp()
        if stamp is None or stamp == self._meta_stamp:
            return  # (a stat per call: the idle check reads the settings every second)
        try:
            disk = self._read_meta(self.root)
        except (OSError, ComplianceError):
            return  # keep the last good settings; a new login reads (and refuses) the file
        self._meta_stamp = stamp
        if isinstance(disk, dict) and disk.get("workspace_id") == self.meta["workspace_id"] \
                and isinstance(disk.get("settings", {}), dict):
            self.meta["settings"] = disk.get("settings", {})

    def update_meta(self, change) -> None:
        """Apply ``change(meta)`` to ``workspace.json`` as it is on disk now, under a lock.

        Writing this process's copy back instead would undo what another process changed
        since it opened the workspace (another administrator's setting, a key rotation's
        generation): each change is made to the file's current contents.
        """
        with fsio.locked(self.root / "locks" / "meta.lock", "workspace.json"):
            disk = self._read_meta(self.root)
            change(disk)
            fsio.atomic_replace(self.root / "workspace.json",
                                json.dumps(disk, indent=1).encode())
            self.meta = disk
            self._meta_stamp = self._meta_file_stamp()

    @property
    def kdf(self) -> KdfParams:
        return KdfParams.from_json(self.meta["kdf"])

    # -- objects -------------------------------------------------------------------------
    def write_object(self, keys, gen, oid, version, path: Path, plaintext: bytes,
                     create_only: bool = False) -> bool:
        blob = crypto.encrypt_object(keys, gen, self.workspace_id, oid, version, plaintext)
        if create_only:
            return fsio.atomic_create(path, blob)
        fsio.atomic_replace(path, blob)
        return True

    def read_object(self, keys, oid, version, path: Path) -> bytes:
        rel = os.path.relpath(path, self.root)
        try:
            blob = path.read_bytes()
        except FileNotFoundError:
            raise NotFoundError(f"{rel}: missing from the workspace") from None
        if version is None:  # mutable objects: the version comes from the header
            version = crypto.read_header(blob, rel)[1]
        return crypto.decrypt_object(keys, self.workspace_id, oid, version, blob, label=rel)

    def read_object_prefix(self, keys, oid, version, path: Path) -> bytes:
        """The first chunk of an object, decrypted (for metadata at the front of it)."""
        rel = os.path.relpath(path, self.root)
        try:
            with open(path, "rb") as f:
                size = os.fstat(f.fileno()).st_size
                head = f.read(crypto.CHUNK_BYTES + 4096)
        except FileNotFoundError:
            raise NotFoundError(f"{rel}: missing from the workspace") from None
        return crypto.decrypt_first_chunk(keys, self.workspace_id, oid, version, head, size, rel)

    def write_users(self, keys, gen, table: dict) -> str:
        """Write the user table; return its :func:`users_digest` for the audit entry."""
        self.write_object(keys, gen, "users", table["revision"], self.root / "users" / "table.enc",
                          json.dumps(table).encode())
        return users_digest(table)

    def read_users(self, keys) -> dict:
        return json.loads(self.read_object(keys, "users", None, self.root / "users" / "table.enc"))

    # -- slots and lockout state ---------------------------------------------------------
    def _slot_name(self, name: str) -> str:
        return hashlib.sha256(self.workspace_id + name.lower().encode()).hexdigest()[:32]

    def slot_path(self, name: str) -> Path:
        return self.root / "keys" / "slots" / f"{self._slot_name(name)}.json"

    def write_slot(self, name: str, slot: dict) -> None:
        fsio.atomic_replace(self.slot_path(name), json.dumps(slot).encode())

    def read_slot(self, name: str) -> dict | None:
        try:
            return json.loads(self.slot_path(name).read_text())
        except FileNotFoundError:
            return None
        except ValueError:
            raise IntegrityError(f"key slot of {name!r}: not valid JSON") from None

    def state_path(self, name: str) -> Path:
        return self.root / "users" / "state" / f"{self._slot_name(name)}.json"

    def read_state(self, name: str) -> dict:
        try:
            return json.loads(self.state_path(name).read_text())
        except (FileNotFoundError, ValueError):
            return {"failures": 0, "locked_until": 0.0, "disabled": False}

    def update_state(self, name: str, change=None, **changes) -> dict:
        """Update an account's lockout state under its lock; ``change(state) -> dict`` is
        applied to the current state (so two workstations never lose a failure count)."""
        path = self.state_path(name)
        with fsio.locked(path.with_suffix(".lock"), f"the account state of {name!r}"):
            state = self.read_state(name)
            state = {**state, **(change(state) if change else {}), **changes}
            fsio.atomic_replace(path, json.dumps(state).encode())
        return state

    def audit_unauthenticated(self, action: str, name: str, details: dict) -> None:
        """Record an event that happens without a login (sealed to the audit key)."""
        self.audit_log.append([{"time": utc_now(), "user": name, "user_id": "", "role": "",
                                "action": action, "objects": [], "details": details}], None)

    # -- login ---------------------------------------------------------------------------
    def check_password(self, name: str, password: str, now: float | None = None):
        """Authenticate ``name``; return the opened slot or raise (and audit) a refusal."""
        now = time.time() if now is None else now
        name = name.strip().lower()  # user names are lower-case; accept "Alice" for "alice"
        state = self.read_state(name)
        slot = self.read_slot(name)
        if state.get("disabled"):
            self.audit_unauthenticated("login.refused", name, {"reason": "account disabled"})
            raise DisabledError(f"account {name!r} is disabled; ask an administrator")
        if state.get("locked_until", 0) > now:
            minutes = int((state["locked_until"] - now) // 60) + 1
            self.audit_unauthenticated("login.refused", name, {"reason": "locked out"})
            raise LockedOutError(f"account {name!r} is locked after repeated failed logins; "
                                 f"try again in {minutes} min")
        opened = open_slot(slot, password, self.workspace_id) if slot else None
        if opened is None:
            if slot is None:  # do not store what may be a mistyped password in the name field
                derive_key(password, bytes(16), self.kdf)  # same cost: no user enumeration
                self.audit_unauthenticated("login.failed", "", {"reason": "unknown user"})
                raise AuthenticationError("wrong user name or password")
            s = self.settings
            counted = {}

            def count(st):
                failures = st.get("failures", 0) + 1
                counted.update(failures=failures, locked=failures >= s["lockout_failures"])
                if counted["locked"]:
                    return {"failures": 0, "locked_until": now + 60 * s["lockout_minutes"]}
                return {"failures": failures, "locked_until": 0.0}

            self.update_state(name, count)
            failures, locked = counted["failures"], counted["locked"]
            self.audit_unauthenticated("login.failed", name, {"reason": "wrong password",
                                                              "failures": failures})
            if locked:
                self.audit_unauthenticated("user.locked_out", name,
                                           {"minutes": s["lockout_minutes"]})
                raise LockedOutError(f"account {name!r} is now locked for "
                                     f"{s['lockout_minutes']} min after {failures} failed logins")
            raise AuthenticationError("wrong user name or password")
        if state.get("failures"):
            self.update_state(name, failures=0, locked_until=0.0)
        return opened

    def unlock_keys(self, opened) -> dict[int, bytes]:
        """Workspace keys by generation: the slot's, then along the rotation chain forward
        (``keys/chain/<gen>.enc``) and back (``keys/chain/back-<gen>.enc``)."""
        keys = {opened.key_gen: opened.workspace_key}
        gen = opened.key_gen
        # Follow the chain as far as it goes (a rotation interrupted before workspace.json
        # was updated has already written the next link).
        while (path := self.root / "keys" / "chain" / f"{gen + 1}.enc").exists():
            keys[gen + 1] = self.read_object(keys, "keychain", gen + 1, path)
            gen += 1
        low = min(keys)
        while (path := self.root / "keys" / "chain" / f"back-{low - 1}.enc").exists():
            keys[low - 1] = self.read_object(keys, "keychain-back", low - 1, path)
            low -= 1
        if gen < self.meta["key_gen"]:
            raise AuthenticationError("this account's key slot predates a key rotation that "
                                      "revoked old slots; ask an administrator to reset the "
                                      "password")
        return keys

    def login(self, name: str, password: str, clock=time.monotonic):
        """Authenticate and return a :class:`~compliance.session.Session` (audited)."""
        from compliance.session import Session

        name = name.strip().lower()
        opened = self.check_password(name, password)
        keys = self.unlock_keys(opened)
        gen = max(keys)
        if opened.key_gen != gen:  # bring the slot up to date while we hold the password
            self.write_slot(name, seal_slot(opened.slot_key, opened.salt, self.workspace_id,
                                            opened.user_id, gen, keys[gen], opened.signing_key,
                                            opened.params))
        keyring = json.loads(self.read_object(keys, "keyring", 1,
                                              self.root / "keys" / "keyring.enc"))
        audit_keys = load_keys(b64d(keyring["audit_key"]), b64d(keyring["signing"]),
                               b64d(keyring["sealing"]))
        user = self.read_users(keys)["users"].get(opened.user_id)
        if user is None or user["disabled"] or user["name"] != name:
            self.audit_unauthenticated("login.refused", name, {"reason": "no active account"})
            raise DisabledError(f"account {name!r} is disabled; ask an administrator")
        session = Session(self, opened.user_id, user, keys, gen, audit_keys, clock)
        try:
            session.audit("login")
        except AuditError as exc:
            # The trail cannot be extended (truncated or HEAD lost): nobody works unaudited,
            # but auditors and admins may still log in to verify it and see what broke.
            if user["role"] not in ("auditor", "admin"):
                raise
            session.frozen = exc
        return session
