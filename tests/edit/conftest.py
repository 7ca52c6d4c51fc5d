"""Fixtures of the editing tests."""

from __future__ import annotations

import pytest

from edit_helpers import make_editor


@pytest.fixture
def editor():
    """An editor on a 12x40x40 int16 grid of 0.5x0.5x2 mm voxels."""
    return make_editor()
