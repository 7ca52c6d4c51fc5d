"""Password-derived keys and per-user key slots (LUKS-like).

A user's password is stretched with Argon2id (OWASP Password Storage Cheat
Sheet: m = 19 MiB, t = 2, p = 1) into a *slot key*. The slot key wraps the
workspace key of the current generation and the user's own Ed25519 signing key
(used for electronic signatures). Changing a password writes a new slot; it
never touches any object. Nothing here stores the password or a hash of it: a
wrong password is detected because the slot does not authenticate.
"""

from __future__ import annotations

import base64
import os
from dataclasses import asdict, dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.argon2 import Argon2id

from compliance.crypto import NONCE_BYTES

SLOT_FORMAT = 1


def b64e(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def b64d(text: str) -> bytes:
    return base64.b64decode(text.encode("ascii"), validate=True)


@dataclass(frozen=True)
class KdfParams:
    """Argon2id cost; the defaults are OWASP's minimum recommendation.

    Tests lower the cost only through :meth:`testing`, passed explicitly.
    """

    memory_kib: int = 19456
    iterations: int = 2
    lanes: int = 1
    alg: str = "argon2id"

    @classmethod
    def testing(cls) -> "KdfParams":
        """A deliberately cheap cost, for the test suite only (never a default)."""
        return cls(memory_kib=64, iterations=1, lanes=1)

    def as_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, d: dict) -> "KdfParams":
        if d.get("alg") != "argon2id":
            raise ValueError(f"unsupported KDF {d.get('alg')!r}")
        return cls(int(d["memory_kib"]), int(d["iterations"]), int(d["lanes"]))


def derive_key(password: str, salt: bytes, params: KdfParams) -> bytes:
    """Stretch ``password`` into a 256-bit key."""
    kdf = Argon2id(salt=salt, length=32, iterations=params.iterations, lanes=params.lanes,
                   memory_cost=params.memory_kib)
    return kdf.derive(password.encode("utf-8"))


def _slot_ad(workspace_id: bytes, user_id: str, what: bytes, key_gen: int = 0) -> bytes:
    return (b"annotrace/slot/v1/" + what + workspace_id + user_id.encode()
            + key_gen.to_bytes(4, "big"))


def make_slot(password: str, workspace_id: bytes, user_id: str, key_gen: int, workspace_key: bytes,
              signing_key: bytes, params: KdfParams) -> dict:
    """A key slot: the workspace key and the user's signing key wrapped by the password."""
    salt = os.urandom(16)
    return seal_slot(derive_key(password, salt, params), salt, workspace_id, user_id, key_gen,
                     workspace_key, signing_key, params)


def seal_slot(slot_key: bytes, salt: bytes, workspace_id: bytes, user_id: str, key_gen: int,
              workspace_key: bytes, signing_key: bytes, params: KdfParams) -> dict:
    """Like :func:`make_slot` with an already derived slot key (re-wrap after rotation)."""
    aead = AESGCM(slot_key)
    n1, n2 = os.urandom(NONCE_BYTES), os.urandom(NONCE_BYTES)
    return {
        "format": SLOT_FORMAT, "user_id": user_id, "kdf": params.as_json(), "salt": b64e(salt),
        "key_gen": key_gen, "nonce": b64e(n1),
        "wrapped_key": b64e(aead.encrypt(n1, workspace_key,
                                         _slot_ad(workspace_id, user_id, b"wk", key_gen))),
        "sign_nonce": b64e(n2),
        "wrapped_signing_key": b64e(aead.encrypt(n2, signing_key,
                                                 _slot_ad(workspace_id, user_id, b"sk"))),
    }


@dataclass
class OpenedSlot:
    """What a correct password unlocks."""

    user_id: str
    key_gen: int
    workspace_key: bytes
    signing_key: bytes
    slot_key: bytes
    salt: bytes
    params: KdfParams


def open_slot(slot: dict, password: str, workspace_id: bytes) -> OpenedSlot | None:
    """Unwrap a slot; ``None`` when the password is wrong (or the slot was altered)."""
    try:
        params = KdfParams.from_json(slot["kdf"])
        salt = b64d(slot["salt"])
        user_id, gen = str(slot["user_id"]), int(slot["key_gen"])
        key = derive_key(password, salt, params)
        aead = AESGCM(key)
        wk = aead.decrypt(b64d(slot["nonce"]), b64d(slot["wrapped_key"]),
                          _slot_ad(workspace_id, user_id, b"wk", gen))
        sk = aead.decrypt(b64d(slot["sign_nonce"]), b64d(slot["wrapped_signing_key"]),
                          _slot_ad(workspace_id, user_id, b"sk"))
    except (InvalidTag, KeyError, ValueError, TypeError):
        return None
    return OpenedSlot(user_id, gen, wk, sk, key, salt, params)
