"""The object encryption wrapper: round trips, Wycheproof-style invalid cases, random damage."""

from __future__ import annotations

import os
import random

import pytest

from compliance import crypto
from compliance.errors import IntegrityError

WS = bytes(range(16))
KEYS = {1: bytes(range(32, 64))}


def enc(data, oid="case/0123456789abcdef/labels", version=3, chunk=64):
    return crypto.encrypt_object(KEYS, 1, WS, oid, version, data, chunk_bytes=chunk)


def dec(blob, oid="case/0123456789abcdef/labels", version=3, keys=KEYS, ws=WS):
    return crypto.decrypt_object(keys, ws, oid, version, blob)


@pytest.mark.parametrize("size", [0, 1, 63, 64, 65, 640, 1000])
def test_round_trip_over_chunk_boundaries(size):
    data = os.urandom(size)
    assert dec(enc(data)) == data


def test_same_plaintext_encrypts_differently():
    # Fresh data key and nonces each time: no two ciphertexts of one plaintext are equal.
    assert enc(b"x" * 100) != enc(b"x" * 100)


def _chunks(blob):
    """Split a blob into header bytes and its chunk records (for crafting invalid cases)."""
    _, _, _, end = crypto.read_header(blob)
    pos = end + 12 + 48
    head, out = blob[:pos], []
    while pos < len(blob):
        n = int.from_bytes(blob[pos:pos + 4], "big")
        out.append(blob[pos:pos + 4 + 12 + n])
        pos += 4 + 12 + n
    return head, out


DATA = bytes(range(256)) * 2  # 512 bytes = 8 chunks of 64


@pytest.mark.parametrize("case", [
    "wrong tag", "truncated by one byte", "truncated at a chunk boundary", "dropped chunk",
    "reordered chunks", "duplicated chunk", "trailing garbage", "wrong object id",
    "wrong version (rollback)", "wrong workspace", "wrong key", "wrong key generation",
    "header version changed", "empty file",
])
def test_invalid_cases_fail_with_integrity_error(case):
    blob = enc(DATA)
    head, chunks = _chunks(blob)
    kwargs = {}
    if case == "wrong tag":
        blob = blob[:-1] + bytes([blob[-1] ^ 1])
    elif case == "truncated by one byte":
        blob = blob[:-1]
    elif case == "truncated at a chunk boundary":
        blob = head + b"".join(chunks[:-1])
    elif case == "dropped chunk":
        blob = head + b"".join(chunks[:3] + chunks[4:])
    elif case == "reordered chunks":
        blob = head + b"".join([chunks[1], chunks[0]] + chunks[2:])
    elif case == "duplicated chunk":
        blob = head + b"".join(chunks[:2] + [chunks[1]] + chunks[2:])
    elif case == "trailing garbage":
        blob = blob + b"\0" * 20
    elif case == "wrong object id":
        kwargs["oid"] = "case/fedcba9876543210/labels"
    elif case == "wrong version (rollback)":
        kwargs["version"] = 4
    elif case == "wrong workspace":
        kwargs["ws"] = bytes(16)
    elif case == "wrong key":
        kwargs["keys"] = {1: bytes(32)}
    elif case == "wrong key generation":
        kwargs["keys"] = {2: KEYS[1]}
    elif case == "header version changed":
        # An attacker edits the version in the header to match the reader's expectation.
        other = enc(DATA, version=2)
        blob = other[:6 + 4] + (3).to_bytes(8, "big") + other[18:]
    elif case == "empty file":
        blob = b""
    with pytest.raises(IntegrityError, match="integrity check failed"):
        dec(blob, **kwargs)


def test_unsupported_format_version_is_refused():
    blob = bytearray(enc(DATA))
    blob[4] = 2
    with pytest.raises(IntegrityError, match="unsupported object format version 2"):
        dec(bytes(blob))


def test_swapped_objects_fail():
    a = enc(DATA, oid="case/aaaaaaaaaaaaaaaa/labels")
    b = enc(DATA, oid="case/bbbbbbbbbbbbbbbb/labels")
    with pytest.raises(IntegrityError, match="swapped or rolled back"):
        dec(b, oid="case/aaaaaaaaaaaaaaaa/labels")
    assert dec(a, oid="case/aaaaaaaaaaaaaaaa/labels") == DATA


def test_1000_random_byte_flips_all_fail():
    """Every single-byte change anywhere in an object is detected; none decrypts."""
    rng = random.Random(1234)
    data = os.urandom(3000)
    blob = enc(data, chunk=1024)
    failures = 0
    for _ in range(1000):
        pos = rng.randrange(len(blob))
        bad = bytearray(blob)
        bad[pos] ^= rng.randrange(1, 256)
        try:
            dec(bytes(bad))
        except IntegrityError:
            failures += 1
    assert failures == 1000


def test_rewrap_changes_only_the_wrapped_key():
    blob = enc(DATA)
    keys = {**KEYS, 2: bytes(range(64, 96))}
    new = crypto.rewrap_object(blob, keys, 2, WS, "case/0123456789abcdef/labels", 3)
    _, old_chunks = _chunks(blob)
    _, new_chunks = _chunks(new)
    assert old_chunks == new_chunks  # ciphertext untouched
    assert crypto.read_header(new)[0] == 2
    assert dec(new, keys={2: keys[2]}) == DATA
    with pytest.raises(IntegrityError):
        dec(new, keys=KEYS)


def test_first_chunk_alone_decrypts_and_is_authenticated():
    data = os.urandom(300)
    blob = enc(data)  # 5 chunks of 64
    oid = "case/0123456789abcdef/labels"
    head = blob[:260]  # header (108 bytes) + chunk 0 (96) + part of chunk 1
    assert crypto.decrypt_first_chunk(KEYS, WS, oid, 3, head, len(blob)) == data[:64]
    one = enc(data[:10])  # a single chunk: its last flag must hold
    assert crypto.decrypt_first_chunk(KEYS, WS, oid, 3, one, len(one)) == data[:10]
    with pytest.raises(IntegrityError):
        crypto.decrypt_first_chunk(KEYS, WS, oid, 3, one, len(one) + 5)  # bytes appended
    bad = bytearray(head)
    bad[180] ^= 1
    with pytest.raises(IntegrityError):
        crypto.decrypt_first_chunk(KEYS, WS, oid, 3, bytes(bad), len(blob))
    with pytest.raises(IntegrityError):
        crypto.decrypt_first_chunk(KEYS, WS, oid, 2, head, len(blob))


from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


@settings(max_examples=60, deadline=None)
@given(data=st.binary(max_size=700), chunk=st.integers(1, 300), version=st.integers(0, 2**63),
       oid=st.text(min_size=1, max_size=40))
def test_round_trip_property(data, chunk, version, oid):
    blob = crypto.encrypt_object(KEYS, 1, WS, oid, version, data, chunk_bytes=chunk)
    assert crypto.decrypt_object(KEYS, WS, oid, version, blob) == data
    if version:
        with pytest.raises(IntegrityError):
            crypto.decrypt_object(KEYS, WS, oid, version - 1, blob)
