"""Fixtures of the workspace-model tests."""

from __future__ import annotations

import pytest

from modelws_common import add_approved_cases, colin_variants, make_workspace


@pytest.fixture(scope="module")
def approved_ws(tmp_path_factory, colin_t1, colin_brain):
    """A workspace with three approved Colin27 cases (2 mm), shared by a module's tests."""
    ws = make_workspace(tmp_path_factory.mktemp("approved") / "ws")
    ids = add_approved_cases(ws, colin_variants(colin_t1, colin_brain, 3))
    return ws, ids


@pytest.fixture
def ws(tmp_path):
    return make_workspace(tmp_path / "ws")
