"""Fixtures of the workspace export tests: a real workspace (cheap test KDF) with users of
every role, and the export tests' series factory and judges on the import path."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

# The export tests' factories and judges (tests/export/export_*.py) are reused by name.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "export"))

from export_ws_common import PASSWORDS, Env, make_env  # noqa: E402


@pytest.fixture(autouse=True)
def _no_host_settings(tmp_path, monkeypatch):
    """Site and user settings from the test's own files, never the machine's."""
    monkeypatch.setenv("ANNOTRACE_SITE_CONFIG", str(tmp_path / "site.toml"))
    monkeypatch.setenv("ANNOTRACE_USER_CONFIG", str(tmp_path / "user.toml"))


@pytest.fixture
def env(tmp_path, capsys) -> Env:
    return make_env(tmp_path, capsys)


@pytest.fixture
def passwords() -> dict:
    return dict(PASSWORDS)
