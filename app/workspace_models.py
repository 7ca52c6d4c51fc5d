"""Glue between the workspace's model store (:mod:`compliance.modelstore`) and ``models/``.

Used by ``annotrace train``, ``annotrace models``, ``annotrace propose --workspace`` and the
GUI's "Improve model from approved labels". Qt-free; torch and MONAI are imported only
when a network is built.

- :class:`WorkspaceBundleRegistry`: :class:`models.bundle_registry.BundleRegistry` whose
  JSON lives encrypted in the workspace; registering needs ``model.register`` (admins).
- :func:`load_model`: a built-in model, a workspace model version (weights decrypted into
  memory, never written out) or a registered bundle (every pinned file checked).
- :func:`approved_cases` and :func:`train`: fine-tune on the approved annotations and
  register the result as a new version.
"""

from __future__ import annotations

from compliance import modelstore
from compliance.errors import PermissionDenied
from models.bundle_registry import BundleRegistry
from models.errors import ModelError


class TrainingInputError(Exception):
    """Not enough approved cases, or a model that cannot be a parent (exit code 2)."""

    exit_code = 2


class WorkspaceBundleRegistry(BundleRegistry):
    """Registered bundles kept (encrypted) in the workspace, not in a user's config file."""

    def __init__(self, session):
        super().__init__(session.ws.root / "models" / "bundles.enc")
        self.session = session
        self._changed = ""

    def _read(self) -> dict:
        return modelstore.read_bundles(self.session)

    def _write(self, bundles: dict) -> None:
        modelstore.write_bundles(self.session, bundles, self._changed)

    def register(self, name: str, folder) -> dict:
        # Refuse (and audit) before reading the bundle: a bundle is code.
        self.session.require("model.register", [name])
        modelstore.check_model_name(name)
        self._changed = name
        return super().register(name, folder)

    def unregister(self, name: str) -> None:
        self.session.require("model.register", [name])
        self._changed = name
        super().unregister(name)

    def verify(self, name: str):
        try:
            return super().verify(name)
        except ModelError as exc:
            self.session.audit("model.refused", [name], details={"reason": exc.reason})
            raise


def _builtin(ref: str):
    from models.registry import builtin_models

    return next((s for s in builtin_models() if ref in (s.name, s.model_id)), None)


def model_rows(session) -> list[dict]:
    """Built-in models, workspace versions and registered bundles, as ``models list`` shows
    them (``kind`` builtin / workspace / bundle)."""
    from models.registry import builtin_models, workspace_spec

    rows = [s.as_json() for s in builtin_models()]
    for record in modelstore.list_versions(session):
        row = workspace_spec(record).as_json()
        row.update(model_version_id=record["model_version_id"],
                   parent=record["parent"]["model_id"],
                   training_cases=len(record["training_cases"]),
                   mean_validation_dice=record["mean_validation_dice"],
                   created=record["created"], created_by=record["created_by"])
        rows.append(row)
    registry = WorkspaceBundleRegistry(session)
    for name in registry.names():
        try:
            rows.append(registry.spec(name).as_json())
        except ModelError as exc:
            rows.append({"name": name, "kind": "bundle", "error": exc.reason})
    return rows


def load_model(session, ref: str, action: str = "proposal.generate", device=None):
    """``(spec, runnable, weights)`` of the model ``ref`` names inside a workspace.

    ``ref``: a built-in name, ``NAME[@VERSION]`` of a workspace version, or a bundle
    registered in this workspace. A bundle folder is refused here: inside a workspace
    only what an admin registered runs. ``weights`` are the decrypted bytes of a
    workspace version (None otherwise); ``runnable`` is None when ``action`` is
    ``model.train`` (the caller fine-tunes from the weights).
    """
    from models.registry import workspace_spec

    session.require(action)
    spec = _builtin(ref)
    if spec is not None:
        return spec, (spec.load(device=device) if action != "model.train" else None), None
    record = modelstore.find_version(session, ref)
    if record is not None:
        record, weights = modelstore.read_weights(session, ref, action=action)
        spec = workspace_spec(record)
        if action == "model.train":
            return spec, None, weights
        from models.finetune import runnable_from_weights

        return spec, runnable_from_weights(spec, weights, device=device), weights
    registry = WorkspaceBundleRegistry(session)
    if ref in registry.names():
        spec = registry.spec(ref)
        return spec, (spec.load(device=device) if action != "model.train" else None), None
    known = _names(session)
    raise ModelError(ref, "no such model in this workspace (available: "
                          f"{', '.join(known)}); bundle folders must be registered by an "
                          "admin first")


def _names(session) -> list[str]:
    from models.registry import builtin_models

    names = [s.name for s in builtin_models()]
    names += sorted({f"{r['name']}@{r['version']}" for r in modelstore._all_versions(session)})
    return names + WorkspaceBundleRegistry(session).names()


def _mask_for(labels, wanted: set[str]):
    """The mask of the segment named like one of the model's labels, or of the only one."""
    segs = [s for s in labels.segments if str(s.get("name", "")).lower() in wanted]
    if not segs and len(labels.segments) == 1:
        segs = labels.segments
    if len(segs) != 1:
        return None
    seg = segs[0]
    return labels.layers[int(seg["layer"])] == int(seg["value"])


def approved_cases(session, label_names, log=lambda line: None):
    """Every approved case as a :class:`models.finetune.Case` (image + approved mask).

    The mask is the approved version's segment named like the model's label (e.g.
    "brain"), or its only segment; cases with neither are skipped with a log line.
    """
    from models.finetune import Case

    wanted = {n.lower() for n in label_names}
    out = []
    for row in session.list_cases():
        if row["state"] != "approved":
            continue
        cid = row["case_id"]
        version = session.review_state(cid)["version"]
        try:
            _, labels = session.load_labels(cid, version)
        except PermissionDenied:  # blinded double reading: another reader's version
            log(f"case {cid}: skipped (its approved version is another reader's)")
            continue
        mask = _mask_for(labels, wanted)
        if mask is None:
            log(f"case {cid}: skipped (no single segment named {'/'.join(sorted(wanted))})")
            continue
        case = session.open_case(cid)
        out.append(Case(cid, case.array, case.affine_lps, mask))
    return out


def default_name(parent_spec) -> str:
    """New versions of a workspace model keep its name; a built-in parent gets '-local'."""
    return parent_spec.name if parent_spec.kind == "workspace" else f"{parent_spec.name}-local"


class TrainingPlan:
    """What :func:`prepare` gathered: the parent, its weights and the approved cases."""

    def __init__(self, parent_ref, spec, weights, cases, name):
        self.parent_ref, self.spec, self.weights = parent_ref, spec, weights
        self.cases, self.name = cases, name


def prepare(session, parent_ref: str, name: str | None = None, log=lambda line: None,
            min_cases: int = 2) -> TrainingPlan:
    """Check the permission and the parent, and gather the approved cases (decrypted).

    Raises TrainingInputError (one line, exit code 2) for fewer than ``min_cases`` usable
    approved cases or a parent that cannot be fine-tuned.
    """
    session.require("model.train")
    if name is not None:
        modelstore.check_model_name(name)
    spec, _, weights = load_model(session, parent_ref, action="model.train")
    if spec.runner != "models.brainmask_unet:load":
        raise TrainingInputError(f"{spec.name}: fine-tuning is available for brainmask-unet "
                                 "models only")
    cases = approved_cases(session, [s.name for s in spec.segments], log)
    if len(cases) < min_cases:
        raise TrainingInputError(f"{session.ws.root}: {len(cases)} approved case(s) with a "
                                 f"usable mask; fine-tuning needs at least {min_cases}")
    return TrainingPlan(parent_ref, spec, weights, cases, name or default_name(spec))


def fine_tune_plan(plan: TrainingPlan, steps: int = 200, holdout: float = 0.2, seed: int = 0,
                   progress=None, validation_progress=None, log=lambda line: None,
                   lr: float | None = None):
    """Run the fine-tuning (no session needed: safe on a worker thread while the session
    may lock). Returns :class:`models.finetune.FineTuneResult` (weights in memory)."""
    from models.finetune import DEFAULT_LR, fine_tune

    lr = DEFAULT_LR if lr is None else lr
    log(f"fine-tuning {plan.spec.model_id} on {len(plan.cases)} approved case(s), "
        f"{steps} steps")
    return fine_tune(plan.spec, plan.cases, None, steps=steps, holdout=holdout, seed=seed,
                     lr=lr, progress=progress, parent_weights=plan.weights,
                     validation_progress=validation_progress)


def parent_comparison(record: dict) -> str | None:
    """One line comparing a new version with its parent on the same held-out cases, or
    None when nothing was held out (or the record predates the comparison)."""
    new, old = record.get("mean_validation_dice"), record.get("mean_parent_validation_dice")
    if new is None or old is None:
        return None
    n = len(record.get("validation_dice") or {})
    diff = new - old
    verdict = ("no better than its parent" if abs(diff) < 5e-5 else
               f"better than its parent by {diff:.4f}" if diff > 0 else
               f"WORSE than its parent by {-diff:.4f}: keep proposing with the parent")
    return (f"parent on the same {n} held-out case(s): {old:.4f} (new {new:.4f}); "
            f"the new version is {verdict}")


def register_result(session, plan: TrainingPlan, result, holdout: float, seed: int) -> dict:
    """Register a finished fine-tuning as a new version (audited as ``model.train``)."""
    spec = plan.spec
    if spec.kind == "workspace":
        parent = modelstore.find_version(session, plan.parent_ref)
        base = parent.get("base_model") or parent["parent"]["model_id"]
    else:
        base = spec.model_id
    record = {"name": plan.name, "base_model": base,
              "parent": {"model_id": result.parent_model_id,
                         "weights_sha256": result.parent_weights_sha256, "kind": spec.kind},
              "task": spec.task, "modality": spec.modality,
              "labels": [s.as_json() for s in spec.segments],
              "training_cases": result.training_cases,
              "validation_cases": result.validation_cases,
              "validation_dice": result.validation_dice,
              "parent_validation_dice": result.parent_validation_dice,
              "weights_sha256": result.weights_sha256,
              "steps": result.steps, "holdout": holdout, "seed": seed,
              "lr": result.lr, "freeze_norm": result.freeze_norm,
              "training_seconds": round(result.seconds, 1)}
    return modelstore.register_version(session, record, result.weights)


def train(session, parent_ref: str, steps: int = 200, holdout: float = 0.2, seed: int = 0,
          name: str | None = None, progress=None, validation_progress=None,
          log=lambda line: None, min_cases: int = 2) -> dict:
    """Fine-tune ``parent_ref`` on the approved cases and register the new version.

    Returns the stored record (``model_version_id``, ``name``, ``version``,
    ``validation_dice``, ``mean_validation_dice``, ``weights_sha256``...). Nothing is
    registered when ``progress`` raises (Cancelled) or training fails.
    """
    plan = prepare(session, parent_ref, name, log, min_cases)
    result = fine_tune_plan(plan, steps, holdout, seed, progress, validation_progress, log)
    return register_result(session, plan, result, holdout, seed)
