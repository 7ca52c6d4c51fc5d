"""One scenario workspace built per test session, copied for each test that changes it."""

from __future__ import annotations

import shutil

import pytest
from qws_common import build, write_passwords


@pytest.fixture(scope="session")
def base_ws(tmp_path_factory):
    root = tmp_path_factory.mktemp("qws") / "ws"
    return root, build(root)


@pytest.fixture
def scenario(base_ws, tmp_path):
    """(workspace folder, case ids, password files) of a fresh copy of the scenario."""
    root, ids = base_ws
    copy = tmp_path / "ws"
    shutil.copytree(root, copy)
    return copy, ids, write_passwords(tmp_path)
