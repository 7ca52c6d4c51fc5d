"""Registered MONAI bundles, pinned file by file with SHA-256.

A bundle is code (its config evaluates expressions, its ``scripts/`` are imported), so it
is registered once, deliberately, and from then on run only if every pinned file is
byte-identical and no file was added to ``configs/``, ``models/`` or ``scripts/``. The
registry is a small JSON file; inside a workspace the workspace keeps it (and decides who
may register: admins only), outside one it lives in the user's configuration folder.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from models.errors import BundleRefused, ModelError
from models.registry import sha256_file

PINNED_DIRS = ("configs", "models", "scripts")
ENV = "ANNOTRACE_MODEL_REGISTRY"


def default_registry_path() -> Path:
    """``$ANNOTRACE_MODEL_REGISTRY`` or ``<user config dir>/annotrace/models.json``."""
    if os.environ.get(ENV):
        return Path(os.environ[ENV])
    from platformdirs import user_config_dir

    return Path(user_config_dir("annotrace")) / "models.json"


def pin_files(folder: Path) -> dict[str, str]:
    """``{relative path: sha256}`` of every file under the pinned sub-folders."""
    pins = {}
    for sub in PINNED_DIRS:
        root = folder / sub
        if not root.is_dir():
            continue
        for path in sorted(root.rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts:
                pins[path.relative_to(folder).as_posix()] = sha256_file(path)
    return pins


class BundleRegistry:
    """The JSON list of registered bundles: ``{name: {"folder": ..., "files": {...}}}``."""

    def __init__(self, path):
        self.path = Path(path)

    def _read(self) -> dict:
        if not self.path.is_file():
            return {}
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ModelError(self.path, f"model registry unreadable ({exc})") from None
        return data.get("bundles", {})

    def _write(self, bundles: dict) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".models-", dir=self.path.parent)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump({"format": 1, "bundles": bundles}, handle, indent=2, sort_keys=True)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, self.path)

    def names(self) -> list[str]:
        return sorted(self._read())

    def register(self, name: str, folder) -> dict:
        """Check the bundle describes itself (config, weights) and pin its files."""
        from models.bundle_spec import bundle_spec

        folder = Path(folder).resolve()
        spec = bundle_spec(folder, name=name)
        pins = pin_files(folder)
        bundles = self._read()
        bundles[name] = {"folder": str(folder), "files": pins,
                         "weights_sha256": spec.weights_sha256}
        self._write(bundles)
        return bundles[name]

    def unregister(self, name: str) -> None:
        bundles = self._read()
        if bundles.pop(name, None) is None:
            raise ModelError(name, "no registered bundle of that name")
        self._write(bundles)

    def verify(self, name: str) -> Path:
        """The bundle's folder, after checking every pinned file; BundleRefused otherwise."""
        entry = self._read().get(name)
        if entry is None:
            raise ModelError(name, "no registered bundle of that name")
        folder = Path(entry["folder"])
        if not folder.is_dir():
            raise BundleRefused(folder, f"registered bundle {name!r} is missing")
        current = pin_files(folder)
        pinned = entry["files"]
        for rel in sorted(set(pinned) | set(current)):
            if rel not in current:
                raise BundleRefused(folder, f"changed since registration: {rel} was removed")
            if rel not in pinned:
                raise BundleRefused(folder, f"changed since registration: {rel} was added")
            if current[rel] != pinned[rel]:
                raise BundleRefused(folder, f"changed since registration: {rel} was modified")
        return folder

    def spec(self, name: str):
        from models.bundle_spec import bundle_spec

        folder = self.verify(name)
        return bundle_spec(folder, name=name,
                           pinned_sha256=self._read()[name]["weights_sha256"])
