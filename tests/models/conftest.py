"""Fixtures of the proposal tests: real bundle configs with weights made by the test."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

BUNDLES = Path(__file__).resolve().parents[1] / "data" / "bundles"


def make_bundle(tmp_path: Path, name: str, seed: int = 0, network_overrides=None) -> Path:
    """Copy a real bundle config and save random weights of its declared network_def."""
    import torch
    from monai.bundle import ConfigParser

    folder = tmp_path / name
    shutil.copytree(BUNDLES / name, folder)
    (folder / "models").mkdir()
    parser = ConfigParser()
    parser.read_config(str(folder / "configs" / "inference.json"))
    for key, value in (network_overrides or {}).items():
        parser[f"network_def#{key}"] = value
    torch.manual_seed(seed)
    net = parser.get_parsed_content("network_def")
    torch.save(net.state_dict(), folder / "models" / "model.pt")
    return folder


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
