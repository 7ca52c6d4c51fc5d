"""User administration, password change, settings and key rotation (a Session mixin)."""

from __future__ import annotations

import time
import uuid

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from compliance import crypto, fsio, roles
from compliance.audit import public_bytes, utc_now
from compliance.errors import AuthenticationError, NotFoundError, PolicyError
from compliance.keys import b64e, make_slot


class AdminOps:
    """Mixed into :class:`~compliance.session.Session`."""

    def _users(self) -> dict:
        return self.ws.read_users(self._keys)

    def _find_user(self, table: dict, name: str) -> tuple[str, dict]:
        for uid, user in table["users"].items():
            if user["name"] == name:
                return uid, user
        raise NotFoundError(f"no user {name!r} in this workspace")

    def _store_users(self, table: dict) -> dict:
        """Write the next revision of the table; return what its audit entry records.

        ``audit verify --deep`` compares the last recorded revision and digest with the
        table in the workspace, so an older copy of ``users/table.enc`` put back (a disabled
        account re-enabled, a role restored) is found.
        """
        table["revision"] += 1
        digest = self.ws.write_users(self._keys, self.key_gen, table)
        return {"after": digest, "table_revision": table["revision"]}

    def _new_slot(self, name, user_id, password) -> bytes:
        """Write a fresh slot (new signing key) for ``name``; return the public key."""
        key = Ed25519PrivateKey.generate()
        from compliance.workspace import private_raw

        self.ws.write_slot(name, make_slot(password, self.ws.workspace_id, user_id, self.key_gen,
                                           self._keys[self.key_gen], private_raw(key), self.ws.kdf))
        return public_bytes(key)

    def list_users(self) -> list[dict]:
        """Users without secrets: id, name, role, disabled, created, locked."""
        self.require("user.manage")
        out = []
        for uid, u in self._users()["users"].items():
            state = self.ws.read_state(u["name"])
            out.append({"user_id": uid, "name": u["name"], "role": u["role"],
                        "disabled": u["disabled"], "created": u["created"],
                        "locked_out": state.get("locked_until", 0) > time.time()})
        self.audit("user.list", details={"users": len(out)})
        return sorted(out, key=lambda u: u["name"])

    def add_user(self, name: str, role: str, password: str) -> str:
        """Add a user with an initial password; return the new unique user id."""
        self.require("user.manage")
        roles.check_user_name(name)
        roles.check_role(role)
        roles.check_password(password, name, self.ws.settings["password_min_length"])
        path = self.ws.root / "locks" / "users.lock"
        with fsio.locked(path, "the user table"):
            table = self._users()
            if any(u["name"] == name for u in table["users"].values()):
                raise PolicyError(f"user {name!r} already exists (user names are unique)")
            uid = uuid.uuid4().hex
            pub = self._new_slot(name, uid, password)
            table["users"][uid] = {"name": name, "role": role, "disabled": False,
                                   "created": utc_now(), "signing_public": b64e(pub),
                                   "old_signing_public": []}
            stored = self._store_users(table)
        self.ws.update_state(name, failures=0, locked_until=0.0, disabled=False)
        self.audit("user.add", [uid], after=stored["after"],
                   details={"name": name, "role": role,
                            "table_revision": stored["table_revision"]})
        return uid

    def disable_user(self, name: str) -> None:
        """Disable: the key slot is destroyed, so the account cannot unlock anything."""
        self.require("user.manage")
        if name == self.name:
            raise PolicyError("an administrator cannot disable their own account")
        with fsio.locked(self.ws.root / "locks" / "users.lock", "the user table"):
            table = self._users()
            uid, user = self._find_user(table, name)
            user["disabled"] = True
            stored = self._store_users(table)
            self.ws.slot_path(name).unlink(missing_ok=True)
        self.ws.update_state(name, disabled=True)
        self.audit("user.disable", [uid], after=stored["after"],
                   details={"name": name, "table_revision": stored["table_revision"]})

    def set_role(self, name: str, role: str) -> None:
        """Change a user's role (audited with the role before and after)."""
        self.require("user.manage")
        roles.check_role(role)
        with fsio.locked(self.ws.root / "locks" / "users.lock", "the user table"):
            table = self._users()
            uid, user = self._find_user(table, name)
            before, user["role"] = user["role"], role
            stored = self._store_users(table)
        self.audit("user.role_change", [uid], after=stored["after"],
                   details={"name": name, "before": before, "after": role,
                            "table_revision": stored["table_revision"]})

    def reset_password(self, name: str, new_password: str) -> None:
        """Give ``name`` a new password (and a new signing key); re-enables the account."""
        self.require("user.manage")
        roles.check_password(new_password, name, self.ws.settings["password_min_length"])
        with fsio.locked(self.ws.root / "locks" / "users.lock", "the user table"):
            table = self._users()
            uid, user = self._find_user(table, name)
            # Old signatures stay verifiable with the retired public key.
            user["old_signing_public"].append(user["signing_public"])
            user["signing_public"] = b64e(self._new_slot(name, uid, new_password))
            user["disabled"] = False
            stored = self._store_users(table)
        self.ws.update_state(name, failures=0, locked_until=0.0, disabled=False)
        self.audit("user.reset_password", [uid], after=stored["after"],
                   details={"name": name, "table_revision": stored["table_revision"]})

    def change_password(self, old_password: str, new_password: str) -> None:
        """Change one's own password: a new slot wrapping the same keys (no object changes)."""
        self._check_open()
        opened = self.ws.check_password(self.name, old_password)
        roles.check_password(new_password, self.name, self.ws.settings["password_min_length"])
        self.ws.write_slot(self.name, make_slot(new_password, self.ws.workspace_id, self.user_id,
                                                self.key_gen, self._keys[self.key_gen],
                                                opened.signing_key, self.ws.kdf))
        self.audit("user.change_password", [self.user_id])

    def change_setting(self, key: str, value: int) -> None:
        self.require("settings.change")
        switch = key in roles.SWITCHES  # on (1) or off (0)
        if key not in roles.DEFAULT_SETTINGS or not isinstance(value, int) or \
                value < (0 if switch else 1) or (switch and value > 1):
            raise PolicyError(f"unknown setting {key!r} or bad value {value!r}"
                              + (" (0 or 1)" if switch else ""))
        before = self.ws.settings[key]

        def set_value(meta):
            meta.setdefault("settings", {})[key] = value

        self.ws.update_meta(set_value)
        self.audit("settings.change", details={"key": key, "before": before, "after": value})

    def _rewrap_all(self, new: int) -> int:
        root, count = self.ws.root, 0
        for path in sorted(root.rglob("*.enc")):
            if path.parent.name == "chain":
                continue
            blob = path.read_bytes()
            gen, version, oid, _ = crypto.read_header(blob, str(path.relative_to(root)))
            if gen != new:
                fsio.atomic_replace(path, crypto.rewrap_object(
                    blob, self._keys, new, self.ws.workspace_id, oid, version))
                count += 1
        return count

    def rotate_keys(self, password: str, revoke_old_slots: bool = False) -> int:
        """Replace the workspace key; re-wrap every object's data key (data untouched).

        Other users' slots reach the new key through ``keys/chain`` (and are re-wrapped at
        their next login) unless ``revoke_old_slots``: then only this admin's slot opens
        the workspace and every other user needs :meth:`reset_password`.
        """
        self.require("keys.rotate")
        opened = self.ws.check_password(self.name, password)
        if opened.user_id != self.user_id:
            raise AuthenticationError("wrong user name or password")
        old, new = self.key_gen, self.key_gen + 1
        self._keys[new] = crypto.new_key()
        root = self.ws.root
        with fsio.locked(root / "locks" / "rotate.lock", "key rotation", timeout=1):
            # Crash safety: until the end every slot still opens the old generation and the
            # chain leads from it to the new one, so a half-done rotation loses nothing and
            # the next rotation simply finishes it.
            self.ws.write_object(self._keys, old, "keychain", new, root / "keys" / "chain" /
                                 f"{new}.enc", self._keys[new])
            # ... and back: whoever holds the new key can still read objects left under the
            # old one (by a crash, or by another process writing during the rotation).
            self.ws.write_object(self._keys, new, "keychain-back", old, root / "keys" / "chain" /
                                 f"back-{old}.enc", self._keys[old])
            self.key_gen = new
            count = self._rewrap_all(new)
            self.ws.update_meta(lambda meta: meta.update(key_gen=new))
            self.ws.write_slot(self.name, make_slot(password, self.ws.workspace_id, self.user_id,
                                                    new, self._keys[new], opened.signing_key,
                                                    self.ws.kdf))
            if revoke_old_slots:
                # Objects another process wrote under the old key meanwhile: catch them now.
                count += self._rewrap_all(new)
                for p in (root / "keys" / "chain").glob("[0-9]*.enc"):
                    p.unlink()  # forward links only: old slots no longer reach the new key
                for p in (root / "keys" / "slots").glob("*.json"):
                    if p != self.ws.slot_path(self.name):
                        p.unlink()
        self.audit("keys.rotate", details={"generation": new, "objects_rewrapped": count,
                                           "revoked_old_slots": revoke_old_slots})
        return count
