"""Bundle helpers shared by the model tests (imported by name, not through conftest)."""

from __future__ import annotations

import shutil
from pathlib import Path


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
