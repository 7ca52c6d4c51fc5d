"""Authenticated encryption of stored objects (format version 1).

Every object (a case record, an image, a label version, the user table...) is
encrypted with its own fresh 256-bit data key (DEK) under AES-256-GCM. The DEK
is wrapped (AES-256-GCM again) by the workspace key of a given *key
generation*; rotating the workspace key re-wraps DEKs (:func:`rewrap_object`)
without touching the chunk ciphertexts.

Layout of an object file::

    b"ATRC" | format u8 (=1) | reserved u8 | key_gen u32 | version u64
    | oid_len u16 | object_id (utf-8) | wrap_nonce (12) | wrapped_dek (32 + 16)
    then chunks:  ct_len u32 | nonce (12) | ciphertext+tag (ct_len)

Associated data binds each ciphertext to the workspace id, the object id and
the object version, so a file moved to another object's place or replaced by
an older version fails to decrypt; each chunk's AD adds its index and a
last-chunk flag, so dropped, reordered or truncated chunks fail too. Nonces
are random 96-bit values, drawn per chunk under a key used for one object only
(no nonce is ever reused under one key short of a 2^-96 collision).
"""

from __future__ import annotations

import os
import struct
from typing import Mapping

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from compliance.errors import IntegrityError

MAGIC = b"ATRC"
FORMAT_VERSION = 1
KEY_BYTES = 32
NONCE_BYTES = 12
TAG_BYTES = 16
#: plaintext bytes per chunk (far below GCM's 64 GiB limit; keeps memory per call small)
CHUNK_BYTES = 4 << 20
_FIXED = struct.Struct(">4sBBIQH")
_CHUNK_HEAD = struct.Struct(">I")


def new_key() -> bytes:
    """A fresh random 256-bit key."""
    return AESGCM.generate_key(bit_length=256)


def _chunk_ad(workspace_id: bytes, object_id: str, version: int, index: int, last: bool) -> bytes:
    oid = object_id.encode()
    return (b"annotrace/chunk/v1" + workspace_id + struct.pack(">H", len(oid)) + oid
            + struct.pack(">QQB", version, index, int(last)))


def _wrap_ad(workspace_id: bytes, header: bytes) -> bytes:
    return b"annotrace/dek/v1" + workspace_id + header


def _header(key_gen: int, object_id: str, version: int) -> bytes:
    oid = object_id.encode()
    return _FIXED.pack(MAGIC, FORMAT_VERSION, 0, key_gen, version, len(oid)) + oid


def encrypt_object(keys: Mapping[int, bytes], key_gen: int, workspace_id: bytes, object_id: str,
                   version: int, plaintext: bytes, chunk_bytes: int = CHUNK_BYTES) -> bytes:
    """Encrypt ``plaintext`` as object ``object_id`` at ``version`` under generation ``key_gen``.

    Parameters
    ----------
    keys : mapping of int to bytes
        Workspace keys by generation; ``keys[key_gen]`` wraps the fresh data key.
    workspace_id : bytes
        16 random bytes naming the workspace.
    object_id, version
        What the ciphertext is bound to (the reader must ask for the same).
    """
    header = _header(key_gen, object_id, version)
    dek = new_key()
    wrap_nonce = os.urandom(NONCE_BYTES)
    wrapped = AESGCM(keys[key_gen]).encrypt(wrap_nonce, dek, _wrap_ad(workspace_id, header))
    parts = [header, wrap_nonce, wrapped]
    aead = AESGCM(dek)
    view = memoryview(plaintext)
    n = max(1, -(-len(view) // chunk_bytes))
    for i in range(n):
        nonce = os.urandom(NONCE_BYTES)
        ct = aead.encrypt(nonce, view[i * chunk_bytes:(i + 1) * chunk_bytes],
                          _chunk_ad(workspace_id, object_id, version, i, i == n - 1))
        parts += [_CHUNK_HEAD.pack(len(ct)), nonce, ct]
    return b"".join(parts)


def read_header(blob: bytes, label: str = "object") -> tuple[int, int, str, int]:
    """``(format, key_gen, object_id, version)`` and the header length, unauthenticated."""
    if len(blob) < _FIXED.size:
        raise IntegrityError(f"{label}: integrity check failed (truncated header)")
    magic, fmt, _, gen, version, oid_len = _FIXED.unpack_from(blob)
    if magic != MAGIC:
        raise IntegrityError(f"{label}: integrity check failed (not an annotrace object)")
    if fmt != FORMAT_VERSION:
        raise IntegrityError(f"{label}: unsupported object format version {fmt}")
    end = _FIXED.size + oid_len
    if len(blob) < end + NONCE_BYTES + KEY_BYTES + TAG_BYTES:
        raise IntegrityError(f"{label}: integrity check failed (truncated header)")
    try:
        oid = blob[_FIXED.size:end].decode()
    except UnicodeDecodeError:
        raise IntegrityError(f"{label}: integrity check failed (corrupt header)") from None
    return gen, version, oid, end


def _unwrap(keys, workspace_id, blob, object_id, version, label):
    gen, hv, oid, end = read_header(blob, label)
    if oid != object_id or hv != version:
        raise IntegrityError(f"{label}: integrity check failed (bound to another object or "
                             "version: swapped or rolled back)")
    if gen not in keys:
        raise IntegrityError(f"{label}: integrity check failed (wrapped under unknown key "
                             f"generation {gen}: modified, or a key rotation is missing)")
    nonce = blob[end:end + NONCE_BYTES]
    wrapped = blob[end + NONCE_BYTES:end + NONCE_BYTES + KEY_BYTES + TAG_BYTES]
    try:
        dek = AESGCM(keys[gen]).decrypt(nonce, wrapped, _wrap_ad(workspace_id, blob[:end]))
    except InvalidTag:
        raise IntegrityError(f"{label}: integrity check failed (data key does not "
                             "authenticate: modified, wrong key or wrong workspace)") from None
    return dek, end + NONCE_BYTES + KEY_BYTES + TAG_BYTES


def decrypt_object(keys: Mapping[int, bytes], workspace_id: bytes, object_id: str, version: int,
                   blob: bytes, label: str | None = None) -> bytes:
    """Decrypt and authenticate an object; raise :class:`IntegrityError` on any mismatch.

    ``object_id`` and ``version`` are what the caller expects (from the path and the
    index), never taken from the file, so a swapped or rolled-back file is refused.
    """
    label = label or object_id
    dek, pos = _unwrap(keys, workspace_id, blob, object_id, version, label)
    aead = AESGCM(dek)
    out = []
    index = 0
    view = memoryview(blob)
    while True:
        if pos + _CHUNK_HEAD.size + NONCE_BYTES > len(blob):
            raise IntegrityError(f"{label}: integrity check failed (truncated at chunk {index})")
        (ct_len,) = _CHUNK_HEAD.unpack_from(blob, pos)
        start = pos + _CHUNK_HEAD.size + NONCE_BYTES
        if ct_len < TAG_BYTES or start + ct_len > len(blob):
            raise IntegrityError(f"{label}: integrity check failed (truncated at chunk {index})")
        nonce = blob[pos + _CHUNK_HEAD.size:start]
        last = start + ct_len == len(blob)
        try:
            out.append(aead.decrypt(nonce, view[start:start + ct_len],
                                    _chunk_ad(workspace_id, object_id, version, index, last)))
        except InvalidTag:
            raise IntegrityError(f"{label}: integrity check failed at chunk {index} (modified, "
                                 "reordered, dropped or truncated)") from None
        if last:
            return b"".join(out)
        pos = start + ct_len
        index += 1


def decrypt_first_chunk(keys: Mapping[int, bytes], workspace_id: bytes, object_id: str,
                        version: int, head: bytes, total_size: int,
                        label: str | None = None) -> bytes:
    """Authenticate and decrypt only chunk 0 from the first bytes of an object file.

    For reading a small header (a version's metadata) without decrypting megabytes of
    voxels. The chunk is authenticated with its index and last-chunk flag like any
    other; the rest of the object is checked when it is read in full.
    """
    label = label or object_id
    dek, pos = _unwrap(keys, workspace_id, head, object_id, version, label)
    if pos + _CHUNK_HEAD.size + NONCE_BYTES > len(head):
        raise IntegrityError(f"{label}: integrity check failed (truncated at chunk 0)")
    (ct_len,) = _CHUNK_HEAD.unpack_from(head, pos)
    start = pos + _CHUNK_HEAD.size + NONCE_BYTES
    if ct_len < TAG_BYTES or start + ct_len > len(head):
        raise IntegrityError(f"{label}: integrity check failed (truncated at chunk 0)")
    last = start + ct_len == total_size
    try:
        return AESGCM(dek).decrypt(head[pos + _CHUNK_HEAD.size:start], head[start:start + ct_len],
                                   _chunk_ad(workspace_id, object_id, version, 0, last))
    except InvalidTag:
        raise IntegrityError(f"{label}: integrity check failed at chunk 0 (modified, "
                             "reordered, dropped or truncated)") from None


def rewrap_object(blob: bytes, keys: Mapping[int, bytes], new_gen: int, workspace_id: bytes,
                  object_id: str, version: int) -> bytes:
    """The same object with its data key re-wrapped under generation ``new_gen``.

    The chunk ciphertexts are copied unchanged (key rotation costs one small AEAD
    call per object, not a re-encryption of its data).
    """
    dek, body = _unwrap(keys, workspace_id, blob, object_id, version, object_id)
    header = _header(new_gen, object_id, version)
    nonce = os.urandom(NONCE_BYTES)
    wrapped = AESGCM(keys[new_gen]).encrypt(nonce, dek, _wrap_ad(workspace_id, header))
    return header + nonce + wrapped + blob[body:]
