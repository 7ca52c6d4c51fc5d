"""Proposal GUI tests run offscreen with pytest-qt."""

import pytest

pytest.importorskip("pytestqt")
