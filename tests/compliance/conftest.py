"""Fixtures: small real workspaces with one user per role (cheap test-only KDF cost)."""

from __future__ import annotations

import numpy as np
import pytest

from compliance.keys import KdfParams
from compliance.records import LabelSet
from compliance.workspace import Workspace

PASSWORDS = {
    "admin": "correct horse battery",
    "ann": "first reader pw 1",
    "ann2": "another reader 22",
    "rev": "second reader pw",
    "aud": "privacy officer 9",
}
ROLES = {"ann": "annotator", "ann2": "annotator", "rev": "reviewer", "aud": "auditor"}


def make_workspace(path) -> Workspace:
    ws = Workspace.create(path, "admin", PASSWORDS["admin"], kdf=KdfParams.testing())
    with ws.login("admin", PASSWORDS["admin"]) as admin:
        for name, role in ROLES.items():
            admin.add_user(name, role, PASSWORDS[name])
    return ws


@pytest.fixture
def ws(tmp_path) -> Workspace:
    return make_workspace(tmp_path / "ws")


@pytest.fixture
def login(ws):
    sessions = []

    def _login(name):
        s = ws.login(name, PASSWORDS[name])
        sessions.append(s)
        return s

    yield _login


def small_labels(shape=(4, 5, 6), seed=0) -> LabelSet:
    rng = np.random.default_rng(seed)
    layer = rng.integers(0, 3, size=shape, dtype=np.uint8)
    overlap = (rng.random(shape) > 0.7).astype(np.uint8)
    prov = np.where(layer > 0, 1, 0).astype(np.uint8)
    return LabelSet([layer, overlap],
                    [{"segment_id": 1, "name": "organ", "layer": 0, "value": 1},
                     {"segment_id": 2, "name": "organ 2", "layer": 0, "value": 2},
                     {"segment_id": 3, "name": "lesion", "layer": 1, "value": 1}],
                    prov, {"1": "user:test"})


@pytest.fixture
def case(login):
    """(annotator session, case id) of a small case with one saved version."""
    ann = login("ann")
    img = np.arange(4 * 5 * 6, dtype=np.int16).reshape(4, 5, 6)
    cid = ann.import_case(img, np.eye(4), modality="MR", patient={"name": "Test^Patient"})
    ann.save_labels(cid, small_labels())
    return ann, cid


@pytest.fixture
def pw() -> dict:
    """Passwords of the fixture users."""
    return dict(PASSWORDS)


@pytest.fixture
def make_labels():
    """``make_labels(shape, seed)`` -> a LabelSet with two layers and provenance."""
    return small_labels
