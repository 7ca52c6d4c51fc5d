"""Fixtures: a small real workspace (test-only KDF cost) with one user per role and a case."""

from __future__ import annotations

import numpy as np
import pytest

from compliance.keys import KdfParams
from compliance.workspace import Workspace

PASSWORDS = {
    "admin": "correct horse battery",
    "ann": "first reader pw 1",
    "rev": "second reader pw",
    "aud": "privacy officer 9",
}
ROLES = {"ann": "annotator", "rev": "reviewer", "aud": "auditor"}


class Clock:
    """A session clock moved by hand (seconds)."""

    def __init__(self):
        self.t = 1000.0

    def __call__(self):
        return self.t


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def pw() -> dict:
    return dict(PASSWORDS)


@pytest.fixture
def ws(tmp_path) -> Workspace:
    ws = Workspace.create(tmp_path / "ws", "admin", PASSWORDS["admin"], kdf=KdfParams.testing())
    with ws.login("admin", PASSWORDS["admin"]) as admin:
        for name, role in ROLES.items():
            admin.add_user(name, role, PASSWORDS[name])
    return ws


@pytest.fixture
def login(ws):
    def _login(name, clock=None):
        if clock is None:
            return ws.login(name, PASSWORDS[name])
        return ws.login(name, PASSWORDS[name], clock=clock)

    return _login


@pytest.fixture
def case_id(login) -> str:
    """A small imported case (no label version)."""
    ann = login("ann")
    img = np.arange(4 * 5 * 6, dtype=np.int16).reshape(4, 5, 6)
    return ann.import_case(img, np.eye(4), modality="MR", patient={"name": "Test^Patient"})
