"""Run a MONAI bundle's own preprocessing, inferer and postprocessing on an array.

Only MONAI's :class:`~monai.bundle.ConfigParser` interprets the bundle (its ``$``
expressions are the one place strings are evaluated, as MONAI itself does). What annotrace
changes, and why:

* ``LoadImage(d)`` is replaced by a loader that hands over the array already in memory
  (same MetaTensor layout and meta that LoadImage produces), so the bundle's remaining
  transforms -- and their inverses -- run unchanged;
* ``SaveImage(d)`` is dropped from the postprocessing (the caller decides where labels go);
* the network runs through :func:`models.sliding.run_inferer` (progress, cancel, fast path)
  with the bundle's own inferer object;
* the per-voxel confidence (max softmax, or max sigmoid for multi-label outputs) is inverted
  back to the source grid with the bundle's own preprocessing, like its prediction.

* for a click-driven bundle (DeepEdit) the guidance channels are built from the caller's
  clicks (:mod:`models.guidance`): the bundle's point transforms are replaced by an exact
  affine mapping of the clicks, its ``AddGuidanceSignalDeepEditd`` runs as configured.

Refused, with one clear line: a click-driven bundle called without clicks, a bundle with
more image channels than given, that imports a ``scripts/`` module it lacks, whose network
cannot be built with the installed MONAI, or whose weights do not fit that network.
"""

from __future__ import annotations

import json
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from models.bundle_spec import find_config, find_weights, input_description, read_metadata
from models.errors import BundleRefused
from models.proposal import Proposal, encode_confidence

from models.guidance import GUIDANCE_MARKERS  # noqa: F401 - re-exported (older callers)
from models.guidance import config_nodes


def load(spec, device=None):
    return BundleModel(spec, device=device)


def _targets(node):
    """Every ``_target_`` string in a raw (unparsed) config subtree."""
    if isinstance(node, dict):
        if isinstance(node.get("_target_"), str):
            yield node["_target_"]
        for value in node.values():
            yield from _targets(value)
    elif isinstance(node, list):
        for value in node:
            yield from _targets(value)


@contextmanager
def _bundle_imports(folder: Path):
    """Let the config import ``scripts.*`` from this bundle only (and forget them after)."""
    saved = {k: sys.modules.pop(k) for k in list(sys.modules)
             if k == "scripts" or k.startswith("scripts.")}
    sys.path.insert(0, str(folder))
    try:
        yield
    finally:
        sys.path.remove(str(folder))
        for k in [k for k in sys.modules if k == "scripts" or k.startswith("scripts.")]:
            del sys.modules[k]
        sys.modules.update(saved)


def _without_loader_reader(node):
    """A copy of a raw config subtree whose LoadImage(d) nodes name no reader."""
    if isinstance(node, dict):
        out = {k: _without_loader_reader(v) for k, v in node.items()}
        if str(out.get("_target_", "")).rsplit(".", 1)[-1] in ("LoadImaged", "LoadImage"):
            out.pop("reader", None)
        return out
    if isinstance(node, list):
        return [_without_loader_reader(v) for v in node]
    return node


def read_raw_config(folder) -> dict:
    """The bundle's inference config as plain data (JSON or YAML), unparsed."""
    path = find_config(Path(folder))
    text = path.read_text(encoding="utf-8")
    try:
        if path.suffix == ".json":
            return json.loads(text)
        import yaml

        return yaml.safe_load(text)
    except Exception as exc:  # noqa: BLE001 - any parse error is a bad bundle
        raise BundleRefused(folder, f"{path.name} cannot be parsed ({type(exc).__name__})") \
            from None


class _ArrayLoader:
    """Stands in for the bundle's ``LoadImaged``: puts the in-memory image under its keys."""

    def __init__(self, keys, image_only: bool, metatensor):
        self.keys = keys
        self.image_only = image_only
        self.metatensor = metatensor

    def __call__(self, data):
        d = dict(data)
        for key in self.keys:
            d[key] = self.metatensor.clone()
            if not self.image_only:
                d[f"{key}_meta_dict"] = dict(self.metatensor.meta)
        return d


class BundleModel:
    """A checked, loaded MONAI bundle behind annotrace's proposal interface."""

    def __init__(self, spec, device=None):
        import torch

        self.spec = spec
        self.folder = Path(spec.folder)
        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        self.config_path = find_config(self.folder)
        self.weights_path = find_weights(self.folder)
        self.meta = read_metadata(self.folder)
        self.channels, self.modality, self.channel_def = input_description(self.meta)
        self.raw = read_raw_config(self.folder)
        self.guidance = self._plan_guidance()
        self._refuse_missing_scripts()
        self.parser = self._parser()
        with _bundle_imports(self.folder):
            self.network = self._network()
        self._load_weights()
        self.network.to(self.device).eval()

    # -- checks -------------------------------------------------------------------------
    def _refuse(self, reason: str):
        raise BundleRefused(self.folder, reason)

    def _plan_guidance(self):
        """The click plan of a DeepEdit-style bundle (None for plain bundles); the raw config
        keeps only the transforms annotrace runs, so a point transform from a missing
        ``scripts/`` module does not refuse the bundle."""
        from models.guidance import plan_guidance

        plan = plan_guidance(self.raw, self.folder)
        if plan is not None:
            self.raw = {**self.raw, **plan.overrides}
        self._overrides = dict(plan.overrides) if plan is not None else {}
        # annotrace hands the image over in memory, so the loader's file reader is never
        # used; a named one (DeepEdit: ITKReader) would otherwise need its package installed.
        for key, value in self.raw.items():
            stripped = _without_loader_reader(value)
            if stripped != value:
                self.raw[key] = self._overrides[key] = stripped
        return plan

    @property
    def needs_clicks(self) -> bool:
        return self.guidance is not None

    def label_names(self) -> list[str]:
        """The guidance channels' label names, in channel order (click-driven bundles)."""
        ref = self.guidance.label_ref
        names = self.parser.get_parsed_content(ref[1:]) if isinstance(ref, str) and \
            ref.startswith("@") else ref
        return [str(n) for n in (names.keys() if isinstance(names, dict) else names)]

    def _refuse_missing_scripts(self):
        uses = sorted({t for t in _targets(self.raw) if t.startswith("scripts.")})
        if uses and not (self.folder / "scripts").is_dir():
            self._refuse(f"the config imports {uses[0]} but the bundle has no scripts/ folder")

    def _parser(self):
        import torch
        from monai.bundle import ConfigParser

        parser = ConfigParser()
        parser.read_config(str(self.config_path))
        if (self.folder / "configs" / "metadata.json").is_file():
            parser.read_meta(str(self.folder / "configs" / "metadata.json"))
        parser["bundle_root"] = str(self.folder)
        parser["device"] = torch.device(self.device)
        for key, value in self._overrides.items():
            parser[key] = value
        return parser

    def _network(self):
        import monai

        if "network_def" not in self.parser.config:
            self._refuse("the config has no network_def")
        target = self.parser.config["network_def"].get("_target_", "?") \
            if isinstance(self.parser.config["network_def"], dict) else "?"
        try:
            return self.parser.get_parsed_content("network_def", instantiate=True)
        except Exception as exc:  # noqa: BLE001 - whatever MONAI raises, the bundle is unusable
            reason = str(exc).splitlines()[0][:160] if str(exc) else type(exc).__name__
            self._refuse(f"network {target} cannot be built with the installed MONAI "
                         f"{monai.__version__} ({reason})")

    def _load_weights(self):
        import torch

        name = f"models/{self.weights_path.name}"
        if self.weights_path.suffix == ".ts":
            # TorchScript is code and weights in one archive; weights_only does not apply.
            try:
                self.network = torch.jit.load(str(self.weights_path), map_location="cpu")
            except Exception as exc:  # noqa: BLE001
                self._refuse(f"{name} is not a loadable TorchScript file ({type(exc).__name__})")
            return
        try:
            state = torch.load(self.weights_path, map_location="cpu", weights_only=True)
        except Exception as exc:  # noqa: BLE001 - pickles beyond tensors are refused
            self._refuse(f"{name} cannot be loaded as plain weights (weights_only=True): "
                         f"{str(exc).splitlines()[0][:120]}")
        if isinstance(state, dict) and isinstance(state.get("model"), dict):
            state = state["model"]  # a CheckpointSaver file: {"model": state_dict, ...}
        if not isinstance(state, dict):
            self._refuse(f"{name} is not a state dict")
        try:
            self.network.load_state_dict(state, strict=True)
        except RuntimeError as exc:
            detail = " ".join(str(exc).split())[:200]
            self._refuse(f"{name} does not fit network {type(self.network).__name__}: {detail}")

    # -- running ------------------------------------------------------------------------
    def _pipeline(self):
        """The bundle's parsed pre/postprocessing: loader steps marked, SaveImage dropped."""
        from monai.transforms import Compose, LoadImaged, SaveImaged

        pre = self.parser.get_parsed_content("preprocessing", instantiate=True)
        post = self.parser.get_parsed_content("postprocessing", instantiate=True)
        image_key = self.parser.config.get("image_key", "image")
        steps = []
        for t in pre.transforms:
            if isinstance(t, LoadImaged):
                image_key = list(t.keys)[0]
                steps.append(("load", t))
            else:
                steps.append(("keep", t))
        post_steps = [t for t in post.transforms if not isinstance(t, SaveImaged)]
        return pre, steps, Compose(post_steps), image_key

    def propose(self, images, affine_lps, progress=None, fast: bool = True, roi_size=None,
                backend: str = "torch", clicks=None, label: str | None = None,
                overrides: dict | None = None, input_hook=None):
        """Run the bundle; ``roi_size`` overrides its sliding-window ROI (tiny test inputs).

        ``clicks`` (click-driven bundles, :mod:`models.guidance`): :class:`GuidanceClick` or
        ``models.refine.Click``; ``label``: the structure positive clicks mean.
        ``overrides``: config values set before the pipeline is parsed (``spatial_size`` for
        tiny test inputs). ``input_hook(tensor)`` sees the network's input batch.
        """
        from monai.inferers import SlidingWindowInferer

        if self.guidance is not None and not clicks:
            self._refuse("interactive bundle: it needs click guidance (positive/negative "
                         "points) as extra input channels; call it with clicks "
                         "(models.guidance.propose_with_clicks), a plain proposal has none")
        for key, value in (overrides or {}).items():
            self.parser[key] = value
        points = None
        if self.guidance is not None:
            from models.guidance import clicks_by_label

            points = clicks_by_label(clicks, self.label_names(), label)
        arrays = images if isinstance(images, (list, tuple)) else [images]
        channels = self.channels
        if points is not None:
            # metadata counts the guidance channels among the inputs (DeepEdit: 1 + labels)
            channels = max(1, channels - len(points)) if channels > len(points) else channels
        if len(arrays) != channels:
            names = ", ".join(self.channel_def.values()) if self.channel_def else ""
            self._refuse(f"needs {channels} co-registered {self.modality or 'image'} "
                         f"channel(s){f' ({names})' if names else ''}; got {len(arrays)}")
        shape = np.asarray(arrays[0]).shape
        t0 = time.perf_counter()
        with _bundle_imports(self.folder), self._stage("configuration"):
            pre, steps, post, image_key = self._pipeline()
            inferer = self.parser.get_parsed_content("inferer", instantiate=True)
        if roi_size is not None and isinstance(inferer, SlidingWindowInferer):
            inferer.roi_size = tuple(roi_size)
        with self._stage("preprocessing"):
            data = self._preprocess(steps, arrays, affine_lps, points, image_key)
        image = data[image_key]
        timings = {"preprocess": time.perf_counter() - t0}
        return self._infer(data, image, image_key, pre, post, shape, affine_lps, inferer,
                           progress, fast, timings, backend, input_hook)

    def _preprocess(self, steps, arrays, affine_lps, points=None, image_key="image"):
        from models.guidance import SIGNAL_TARGET, map_points
        from models.spatial import to_metatensor

        data = {}
        for kind, t in steps:
            if points is not None and type(t).__name__ == SIGNAL_TARGET:
                # The clicks, carried onto the grid the image has reached at this step.
                img = data[image_key]
                data[self.guidance.guidance_key] = {
                    name: map_points(kji, affine_lps, np.asarray(img.affine), img.shape[1:])
                    for name, kji in points.items()}
            if kind == "load":
                loader = getattr(t, "_loader", None)
                channel = len(arrays) > 1 or bool(getattr(loader, "ensure_channel_first", False))
                mt = to_metatensor(arrays if len(arrays) > 1 else arrays[0], affine_lps,
                                   channel=channel)
                data = _ArrayLoader(t.keys, bool(getattr(loader, "image_only", True)), mt)(data)
            else:
                data = t(data)
        return data

    @contextmanager
    def _stage(self, name: str):
        """Turn a failure inside the bundle's own transforms into one clear refusal."""
        try:
            yield
        except BundleRefused:
            raise
        except Exception as exc:  # noqa: BLE001 - bundle code: report its innermost cause
            root = exc
            while root.__cause__ is not None:
                root = root.__cause__
            text = str(root).splitlines()[0][:160] if str(root) else ""
            self._refuse(f"its {name} failed: {type(root).__name__}: {text}")

    def _infer(self, data, image, image_key, pre, post, shape, affine_lps, inferer,
               progress, fast, timings, backend="torch", input_hook=None):
        import torch
        from monai.data import MetaTensor
        from monai.transforms import Invertd

        from models.sliding import run_inferer
        from models.spatial import to_kji

        t0 = time.perf_counter()
        batch = torch.as_tensor(image)[None].to(self.device)
        if input_hook is not None:
            input_hook(batch)
        logits, _ = run_inferer(inferer, batch, self.network, progress, "inference", fast,
                                backend)
        logits = logits[0].float().cpu().clone()
        timings["inference"] = time.perf_counter() - t0

        t0 = time.perf_counter()
        post_raw = self.raw.get("postprocessing", {})
        sigmoid = any(isinstance(n, dict) and n.get("sigmoid") is True
                      for n in config_nodes(post_raw))
        prob = torch.sigmoid(logits) if sigmoid or logits.shape[0] == 1 else \
            torch.softmax(logits, dim=0)
        data["pred"] = MetaTensor(logits, meta=image.meta,
                                  applied_operations=list(image.applied_operations))
        data["annotrace_confidence"] = prob.max(dim=0, keepdim=True).values
        with self._stage("postprocessing"):
            data = post(data)
            conf = Invertd(keys="annotrace_confidence", transform=pre, orig_keys=image_key,
                           nearest_interp=False, to_tensor=True)(data)["annotrace_confidence"]
        labels = to_kji(torch.as_tensor(data["pred"]))[0]
        confidence = to_kji(torch.as_tensor(conf))[0]
        if labels.shape != shape or confidence.shape != shape:
            self._refuse(f"its postprocessing did not return to the source grid "
                         f"({labels.shape} vs {shape}); it needs an Invertd step")
        timings["postprocess"] = time.perf_counter() - t0
        n = max([s.value for s in self.spec.segments], default=1)
        dtype = np.uint8 if n < 256 else np.uint16
        labels = np.rint(labels).astype(dtype)
        segments = tuple(self.spec.segments)
        if any(s.value == 0 for s in segments):
            # channel_def names output *channels* (multi-label, sigmoid), and the bundle's
            # postprocessing maps them to label values of its own (BraTS: 1, 2, 4): say which
            # values occur, without guessing names.
            from models.proposal import SegmentInfo

            segments = tuple(SegmentInfo(int(v), f"label {int(v)}")
                             for v in np.unique(labels) if v)
        return Proposal(labels=labels,
                        confidence=encode_confidence(confidence),
                        affine_lps=np.asarray(affine_lps, float).copy(),
                        segments=segments, model_id=self.spec.model_id,
                        weights_sha256=self.spec.weights_sha256, timings_s=timings)
