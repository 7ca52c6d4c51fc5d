"""Fixtures of the proposal tests: real bundle configs with weights made by the test."""

from __future__ import annotations


import numpy as np
import pytest

from bundle_common import BUNDLES, make_bundle  # noqa: F401


@pytest.fixture
def bundle_factory(tmp_path):
    return lambda name, **kw: make_bundle(tmp_path, name, **kw)


@pytest.fixture(scope="session")
def small_ct():
    """A small CT-like int16 volume (k, j, i): air, soft tissue and a brighter blob."""
    rng = np.random.default_rng(7)
    k, j, i = np.indices((20, 24, 28))
    body = ((i - 14) ** 2 / 12**2 + (j - 12) ** 2 / 10**2) < 1
    vol = np.where(body, 40, -1000).astype(np.int16)
    blob = ((i - 18) ** 2 + (j - 10) ** 2 + (k - 10) ** 2) < 16
    vol[blob] = 120
    vol = vol + rng.normal(0, 5, vol.shape).astype(np.int16)
    affine = np.diag([-1.5, -1.5, 2.0, 1.0])  # LPS with a flipped i and j (RAS-stored CT)
    affine[:3, 3] = [10.0, 20.0, -30.0]
    return vol, affine
