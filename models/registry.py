"""The registry of proposal models: built-in models and registered MONAI bundles.

Listing models imports neither torch nor MONAI: a :class:`ModelSpec` names the module that
runs it, imported only when a proposal is asked for. Weights are identified by SHA-256
(computed from the files on disk, never trusted from a config).
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.metadata
import os
from dataclasses import dataclass, field
from pathlib import Path

from models.errors import ModelError
from models.proposal import SegmentInfo

WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"

#: SNOMED CT concept ids of the structures our models and common bundles segment.
SNOMED = {
    "brain": "12738006",
    "spleen": "78961009",
    "liver": "10200004",
    "kidney_right": "9846003",
    "kidney_left": "18639004",
    "prostate": "41216001",
    "pancreas": "15776009",
    "aorta": "15825003",
    "gallbladder": "28231008",
    "stomach": "69695003",
}


def sha256_file(path, chunk: int = 1 << 20) -> str:
    """Hex SHA-256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            h.update(block)
    return h.hexdigest()


def sha256_files(paths) -> str:
    """SHA-256 of one file, or for several the SHA-256 of their ``sha256sum`` lines.

    The lines are ``"<hex>  <file name>\\n"`` in the order given, so a reader can
    recompute the value with ``sha256sum`` and a text editor.
    """
    paths = [Path(p) for p in paths]
    if len(paths) == 1:
        return sha256_file(paths[0])
    text = "".join(f"{sha256_file(p)}  {p.name}\n" for p in paths)
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass
class ModelSpec:
    """What the registry knows about one model.

    Attributes
    ----------
    name : str
        Registry name, what ``--model`` takes.
    version : str
    task : str
        One line: what it segments and on what.
    modality : str
        DICOM modality of the input ("MR", "CT").
    segments : tuple of SegmentInfo
    weights : tuple of Path
        The weights files; their SHA-256 is :attr:`weights_sha256`.
    runner : str
        ``"module:function"`` building the runnable model (imported lazily).
    kind : str
        "builtin" or "bundle".
    source : str
        Where the weights come from (package, training recipe, bundle folder).
    """

    name: str
    version: str
    task: str
    modality: str
    segments: tuple[SegmentInfo, ...]
    weights: tuple[Path, ...]
    runner: str
    kind: str = "builtin"
    source: str = ""
    input_channels: int = 1
    folder: Path | None = None
    _sha: str | None = field(default=None, repr=False)

    @property
    def model_id(self) -> str:
        return f"{self.name}@{self.version}"

    @property
    def weights_sha256(self) -> str:
        if self._sha is None:
            missing = [p for p in self.weights if not Path(p).is_file()]
            if missing:
                raise ModelError(self.name, f"weights file missing: {missing[0]}")
            self._sha = sha256_files(self.weights)
        return self._sha

    def as_json(self) -> dict:
        return {"name": self.name, "version": self.version, "kind": self.kind,
                "task": self.task, "modality": self.modality,
                "input_channels": self.input_channels,
                "labels": [s.as_json() for s in self.segments],
                "weights_sha256": self.weights_sha256, "source": self.source}

    def load(self, **kwargs):
        """Build the runnable model (imports torch and MONAI)."""
        module, _, function = self.runner.partition(":")
        return getattr(importlib.import_module(module), function)(self, **kwargs)


def _deepbet_weights() -> tuple[Path, Path]:
    """The TorchScript files the deepbet wheel installs (data/models/*.pt)."""
    try:
        dist = importlib.metadata.distribution("deepbet")
    except importlib.metadata.PackageNotFoundError:
        raise ModelError("deepbet", "the deepbet package is not installed") from None
    found = {}
    for f in dist.files or ():
        if f.name in ("model.pt", "bbox_model.pt") and "models" in f.parts:
            found[f.name] = Path(dist.locate_file(f)).resolve()
    if len(found) != 2:
        raise ModelError("deepbet", "the deepbet wheel does not hold its weights "
                                    "(data/models/model.pt, bbox_model.pt)")
    return found["bbox_model.pt"], found["model.pt"]


def builtin_models() -> list[ModelSpec]:
    """The models annotrace ships (weights inside installed packages or this repository)."""
    brain = (SegmentInfo(1, "brain", SNOMED["brain"]),)
    specs = []
    try:
        version = importlib.metadata.version("deepbet")
        specs.append(ModelSpec(
            name="deepbet", version=version,
            task="brain extraction (brain mask) on T1-weighted head MRI",
            modality="MR", segments=brain, weights=_deepbet_weights(),
            runner="models.deepbet_model:load",
            source="deepbet wheel (MIT, Fisch et al. 2024), run through MONAI transforms "
                   "and inferers"))
    except (importlib.metadata.PackageNotFoundError, ModelError):
        pass
    specs.append(ModelSpec(
        name="brainmask-unet", version="1",
        task="brain mask on T1-weighted head MRI (small MONAI UNet trained by annotrace)",
        modality="MR", segments=brain, weights=(WEIGHTS_DIR / "brainmask_unet.pt",),
        runner="models.brainmask_unet:load",
        source="trained on Colin27 (mricron-data) by models/train_brainmask.py; "
               "see docs/models.md"))
    return specs


def site_bundles(model_dir) -> dict[str, Path]:
    """``{name: folder}`` of the MONAI bundles in the site's model directory (each sub-folder
    with a ``configs`` folder); empty when ``model_dir`` is empty or missing.

    The folder is the hospital IT's (setting ``model_directory``, writable by admins only):
    its bundles are trusted as installed software, like the built-in models.
    """
    if not model_dir:
        return {}
    root = Path(model_dir)
    if not root.is_dir():
        return {}
    return {p.name: p for p in sorted(root.iterdir()) if (p / "configs").is_dir()}


def resolve(name_or_dir: str, registry_path=None, model_dir=None) -> ModelSpec:
    """The model ``--model`` names: a built-in name, a registered bundle, a bundle of the
    site's model directory, or a bundle folder.

    A folder is run as the caller names it (like any local script); a registered name is
    verified against the SHA-256 pins taken at registration.
    """
    for spec in builtin_models():
        if name_or_dir in (spec.name, spec.model_id):
            return spec
    from models.bundle_registry import BundleRegistry, default_registry_path

    registry = BundleRegistry(registry_path or default_registry_path())
    if name_or_dir in registry.names():
        return registry.spec(name_or_dir)
    site = site_bundles(model_dir)
    path = site.get(name_or_dir) or Path(name_or_dir)
    if path.is_dir():
        from models.bundle_spec import bundle_spec

        return bundle_spec(path)
    known = ", ".join([s.name for s in builtin_models()] + list(registry.names()) + list(site))
    raise ModelError(name_or_dir, f"no such model or bundle folder (available: {known})")


def env_registry_path() -> str | None:
    """``ANNOTRACE_MODEL_REGISTRY`` overrides where registered bundles are listed."""
    return os.environ.get("ANNOTRACE_MODEL_REGISTRY")


def workspace_spec(record: dict) -> ModelSpec:
    """The ModelSpec of a model version kept in a workspace (its weights stay in memory).

    ``record`` is the version's record (:mod:`compliance.modelstore`): the parent chain
    ends in a built-in model whose network and recipe the version shares. The spec has no
    weights file; its ``weights_sha256`` is the recorded one, and
    :func:`models.finetune.runnable_from_weights` checks the decrypted bytes against it.
    """
    from dataclasses import replace

    base = record.get("base_model") or record["parent"]["model_id"]
    builtin = next((s for s in builtin_models()
                    if base in (s.name, s.model_id) or base.split("@")[0] == s.name), None)
    if builtin is None:
        raise ModelError(record["name"], f"its base model {base} is not installed")
    segments = tuple(SegmentInfo(int(s["value"]), s["name"], s.get("snomed"))
                     for s in record["labels"]) or builtin.segments
    dice = record.get("mean_validation_dice")
    return replace(builtin, name=record["name"], version=str(record["version"]),
                   task=record["task"], modality=record["modality"], segments=segments,
                   weights=(), kind="workspace",
                   source=f"fine-tuned in this workspace from {record['parent']['model_id']} "
                          f"on {len(record['training_cases'])} approved case(s)"
                          + (f"; validation Dice {dice:.3f}" if dice is not None else ""),
                   _sha=record["weights_sha256"])
