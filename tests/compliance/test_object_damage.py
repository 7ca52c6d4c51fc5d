"""Damage to a real workspace's encrypted files: every read fails clearly, none is wrong."""

from __future__ import annotations

import json
import random

import numpy as np
import pytest

from compliance.errors import AuthenticationError, IntegrityError


@pytest.fixture
def two_cases(login, make_labels):
    ann = login("ann")
    cids = []
    for seed in (0, 1):
        img = np.random.default_rng(seed).integers(0, 1000, (4, 5, 6), dtype=np.int16)
        cid = ann.import_case(img, np.eye(4), modality="CT", patient={"name": f"P^{seed}"})
        ann.save_labels(cid, make_labels(seed=seed))
        ann.save_labels(cid, make_labels(seed=seed + 10))
        cids.append(cid)
    return ann, cids


def _readers(ann, cid):
    """Path (relative to the case) -> a read through the session API."""
    return {
        "case.enc": lambda: ann.open_case(cid).record,
        "image.enc": lambda: ann.open_case(cid).array,
        "v/000001.enc": lambda: ann.load_labels(cid, 1)[1].layers[0],
        "v/000002.enc": lambda: ann.load_labels(cid, 2)[1].layers[1],
    }


def test_1000_random_byte_flips_in_workspace_objects(ws, two_cases):
    ann, (cid, _) = two_cases
    rng = random.Random(2026)
    readers = _readers(ann, cid)
    names = sorted(readers)
    detected = wrong = 0
    messages = set()
    for _ in range(1000):
        name = rng.choice(names)
        path = ws.root / "cases" / cid / name
        blob = path.read_bytes()
        bad = bytearray(blob)
        bad[rng.randrange(len(bad))] ^= rng.randrange(1, 256)
        path.write_bytes(bytes(bad))
        try:
            readers[name]()
            wrong += 1
        except IntegrityError as exc:
            detected += 1
            messages.add(str(exc).split(": ", 1)[1].split(" (")[0])
        path.write_bytes(blob)
    assert (detected, wrong) == (1000, 0)
    assert all(m.startswith(("integrity check failed", "unsupported object format version"))
               for m in messages), messages


@pytest.mark.parametrize("name", ["case.enc", "image.enc", "v/000001.enc", "v/000002.enc"])
def test_truncated_objects_fail(ws, two_cases, name):
    ann, (cid, _) = two_cases
    path = ws.root / "cases" / cid / name
    blob = path.read_bytes()
    for cut in (1, 16, len(blob) // 2, len(blob) - 1):
        path.write_bytes(blob[:cut])
        with pytest.raises(IntegrityError, match="integrity check failed"):
            _readers(ann, cid)[name]()
    path.write_bytes(blob)


def test_swapped_files_fail(ws, two_cases):
    ann, (a, b) = two_cases
    pairs = [((a, "v/000001.enc"), (a, "v/000002.enc")),   # versions of one case
             ((a, "v/000002.enc"), (b, "v/000002.enc")),   # same version, two cases
             ((a, "case.enc"), (b, "case.enc")),           # two patients' records
             ((a, "image.enc"), (b, "image.enc"))]
    for pair in pairs:
        p, q = (ws.root / "cases" / c / n for c, n in pair)
        bp, bq = p.read_bytes(), q.read_bytes()
        p.write_bytes(bq)
        q.write_bytes(bp)
        for cid, name in pair:
            with pytest.raises(IntegrityError, match="swapped or rolled back"):
                _readers(ann, cid)[name]()
        p.write_bytes(bp)
        q.write_bytes(bq)
    assert ann.open_case(a).record["patient"]["name"] == "P^0"


@pytest.mark.parametrize("field", ["salt", "kdf", "wrapped_key", "nonce", "user_id", "key_gen",
                                   "wrapped_signing_key"])
def test_tampered_key_slot_does_not_open(ws, pw, field):
    path = ws.slot_path("ann")
    slot = json.loads(path.read_text())
    if field == "kdf":
        slot["kdf"]["memory_kib"] = 8  # an attacker lowering the cost
    elif field == "key_gen":
        slot["key_gen"] = 2
    elif field == "user_id":
        slot["user_id"] = "0" * 32
    else:
        raw = bytearray(__import__("base64").b64decode(slot[field]))
        raw[0] ^= 1
        slot[field] = __import__("base64").b64encode(bytes(raw)).decode()
    path.write_text(json.dumps(slot))
    with pytest.raises(AuthenticationError, match="wrong user name or password"):
        ws.login("ann", pw["ann"])
