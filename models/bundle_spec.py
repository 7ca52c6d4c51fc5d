"""Describe a MONAI bundle folder as a :class:`~models.registry.ModelSpec` (no torch import).

A bundle is ``configs/inference.json`` (or ``.yaml``/``.yml``), ``configs/metadata.json``
and ``models/model.pt`` (a state dict) or ``models/model.ts`` (TorchScript); some bundles
import Python modules from their own ``scripts/`` folder. Label names come from the
metadata's ``network_data_format.outputs.pred.channel_def``.
"""

from __future__ import annotations

import json
from pathlib import Path

from models.errors import BundleRefused
from models.proposal import SegmentInfo

CONFIG_NAMES = ("inference.json", "inference.yaml", "inference.yml")
WEIGHT_NAMES = ("model.pt", "model.ts")


def find_config(folder: Path) -> Path:
    for name in CONFIG_NAMES:
        path = folder / "configs" / name
        if path.is_file():
            return path
    raise BundleRefused(folder, "not a MONAI bundle: no configs/inference.json or "
                                "configs/inference.yaml")


def find_weights(folder: Path) -> Path:
    for name in WEIGHT_NAMES:
        path = folder / "models" / name
        if path.is_file():
            return path
    raise BundleRefused(folder, "no weights: the bundle needs models/model.pt or "
                                "models/model.ts (copy them from the Model Zoo by hand)")


def read_metadata(folder: Path) -> dict:
    path = folder / "configs" / "metadata.json"
    if not path.is_file():
        return {}
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise BundleRefused(folder, f"configs/metadata.json is not valid JSON ({exc})") from None


def segments_from_metadata(meta: dict) -> tuple[SegmentInfo, ...]:
    """Non-background output channels as segments (value = channel index)."""
    from models.registry import SNOMED

    outputs = meta.get("network_data_format", {}).get("outputs", {})
    channel_def = next(iter(outputs.values()), {}).get("channel_def", {}) if outputs else {}
    segments = []
    for key, name in sorted(channel_def.items(), key=lambda kv: int(kv[0])):
        value = int(key)
        if value == 0 and str(name).lower() == "background":
            continue
        segments.append(SegmentInfo(value, str(name), SNOMED.get(str(name).lower())))
    return tuple(segments)


def input_description(meta: dict) -> tuple[int, str, dict]:
    """``(num_channels, modality, channel_def)`` of the bundle's image input."""
    inputs = meta.get("network_data_format", {}).get("inputs", {})
    image = inputs.get("image", next(iter(inputs.values()), {})) if inputs else {}
    return (int(image.get("num_channels", 1) or 1), str(image.get("modality", "")),
            dict(image.get("channel_def", {})))


def bundle_spec(folder, name: str | None = None, pinned_sha256: str | None = None):
    """A ModelSpec for the bundle in ``folder`` (run by :mod:`models.bundle`)."""
    from models.registry import ModelSpec

    folder = Path(folder).resolve()
    find_config(folder)
    weights = find_weights(folder)
    meta = read_metadata(folder)
    channels, modality, _ = input_description(meta)
    spec = ModelSpec(
        name=name or folder.name, version=str(meta.get("version", "0")),
        task=str(meta.get("name") or meta.get("task") or folder.name),
        modality=modality or "?", segments=segments_from_metadata(meta),
        weights=(weights,), runner="models.bundle:load", kind="bundle",
        source=str(folder), input_channels=channels, folder=folder)
    if pinned_sha256 is not None:
        spec._sha = pinned_sha256
    return spec
