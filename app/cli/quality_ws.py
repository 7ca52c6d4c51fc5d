"""Workspace forms of the quality commands: arrays out of a workspace, into ``models.quality``.

``annotrace quality|agreement|calibrate|autolabel|rank|drift WS ...`` and the GUI quality
dashboard call these functions with a logged-in session; each reads label versions and model
outputs through the session (permission-checked, audited), computes with the Qt-free
functions of :mod:`models.quality`, and stores decisions in the encrypted quality state
(:mod:`compliance.qualitystore`).

Units of the automation are **cases**: a model's *output* on a case (its proposal label map,
a case-level confidence in [0, 1] and an uncertainty score) is stored by ``--run-model`` or by
whoever generated the proposal (:meth:`QualityStore.store_model_output`). A validated unit is
a case with a stored output and a human label: the task's reference version if the case is
one, else its approved version. The unit's Dice is the *lowest* per-segment Dice of the
output against the human label (segments matched by segment id), so a unit is correct only
when every segment is.
"""

from __future__ import annotations

import weakref
from pathlib import Path

import numpy as np

from app.cli.errors import UsageError


class QualityWorkspaceError(Exception):
    """A workspace quality command cannot proceed (exit code 2); names the object and why."""

    exit_code = 2


# -- the command-line side ---------------------------------------------------------------
def is_workspace(path) -> bool:
    """True when ``path`` is a folder holding a workspace (as ``Workspace.open`` expects)."""
    p = Path(path)
    return p.is_dir() and (p / "workspace.json").is_file()


def add_ws_auth(p) -> None:
    """``--user`` / ``--password-file`` for a command that also has a file form."""
    from app.cli.workspace import refuse_password_option

    refuse_password_option(p)
    p.add_argument("--user", help="workspace form: your user name in the workspace")
    p.add_argument("--password-file", metavar="FILE",
                   help="workspace form: read the password from the first line of FILE")


def open_ws(args, path):
    """Log in to the workspace at ``path`` (``--user`` required); a Session with the quality
    operations (:func:`compliance.qualitystore.quality_ops`)."""
    from app.cli.workspace import open_session
    from compliance.qualitystore import quality_ops

    if not getattr(args, "user", None):
        raise UsageError(f"{path}: a workspace; give --user (and --password-file or the prompt)")
    return quality_ops(open_session(args, path=path))


# -- reading the workspace -----------------------------------------------------------------
def spacing_ijk(affine) -> tuple[float, float, float]:
    """Voxel size (i, j, k) in mm: the lengths of the affine's first three columns."""
    a = np.asarray(affine, dtype=float)
    return tuple(float(np.linalg.norm(a[:3, c])) for c in range(3))


def reader_versions(s, case_id: str) -> dict[str, dict]:
    """Each human reader's latest version of a case: ``{author name: version metadata}``.

    Versions made by the automation (STAPLE consensus, auto-accepted) are not a reader's.
    """
    from compliance.qualitystore import version_kind

    out = {}
    for meta in s.versions(case_id):
        if version_kind(meta) == "human":
            out[meta["author"]] = meta  # versions are listed oldest first: the last one wins
    return out


def model_masks(labels_map: np.ndarray) -> dict[int, np.ndarray]:
    return {int(v): labels_map == v for v in np.unique(labels_map) if v}


def _reference(s, task: str) -> dict:
    refs = s.references(task)
    if not refs:
        raise QualityWorkspaceError(f"task {task!r}: no reference cases in this workspace "
                                    "(mark approved cases with --reference mark CASE)")
    return refs


# -- quality against the reference --------------------------------------------------------
def evaluate_workspace(s, task: str, against: str | None = None, model: str | None = None,
                       surface: bool = True, resamples: int = 2000, seed: int = 0) -> dict:
    """Metrics of every reader's (or one reader's, or a model's) labels against the task's
    reference, per case and segment, with bootstrap CIs of the per-segment means.

    Returns ``{"task", "reference_cases", "readers": {name: {"cases": [...], "summary":
    {segment_id: {metric: summary}}}}}``; a reader is a user name or ``model:<id>``.
    """
    from app.cli.quality import SUMMARY_KEYS
    from compliance.qualitystore import segment_masks
    from models.quality.metrics import segment_metrics
    from models.quality.summary import summarize_records

    refs = _reference(s, task)
    readers: dict[str, dict] = {}
    for case_id, mark in sorted(refs.items()):
        shape, affine = s.case_grid(case_id)
        spacing = spacing_ijk(affine)
        _, ref_labels = s.load_labels(case_id, mark["version"])
        ref = segment_masks(ref_labels)
        tests: dict[str, tuple[int | None, dict]] = {}
        if model is not None:
            out = s.model_output(case_id, model)
            if out is not None:
                tests[f"model:{model}"] = (None, model_masks(out[1]))
        else:
            for name, meta in reader_versions(s, case_id).items():
                if meta["version"] == mark["version"] or (against and name != against):
                    continue
                _, labels = s.load_labels(case_id, meta["version"])
                tests[name] = (meta["version"], segment_masks(labels))
        for name, (version, masks) in tests.items():
            row = {}
            for sid, ref_mask in sorted(ref.items()):
                test_mask = masks.get(sid, np.zeros(shape, dtype=bool))
                row[str(sid)] = segment_metrics(test_mask, ref_mask, spacing,
                                                surface=surface).as_json()
            readers.setdefault(name, {"cases": []})["cases"].append(
                {"case": case_id, "version": version, "reference_version": mark["version"],
                 "segments": row})
    if (against or model) and not readers:
        who = f"user {against!r}" if against else f"model {model!r}"
        raise QualityWorkspaceError(f"task {task!r}: {who} has no labels on the reference cases")
    for rd in readers.values():
        per_segment: dict[str, list] = {}
        for c in rd["cases"]:
            for sid, m in c["segments"].items():
                per_segment.setdefault(sid, []).append(m)
        rd["summary"] = {sid: {k: v.as_json() for k, v in summarize_records(
            recs, SUMMARY_KEYS, n_resamples=resamples, seed=seed).items()}
            for sid, recs in sorted(per_segment.items(), key=lambda kv: int(kv[0]))}
    s.audit("quality.evaluate", sorted(refs), details={
        "task": task, "readers": len(readers), "against": against, "model": model})
    return {"task": task, "reference_cases": len(refs), "readers": readers}


# -- agreement ------------------------------------------------------------------------------
def agreement_workspace(s, cases: list[str], save_staple: bool = False,
                        reference_task: str | None = None) -> dict:
    """Kappa, pairwise Dice matrices and STAPLE of the readers' latest versions per case.

    With ``save_staple`` the consensus is saved as a new version (provenance ``auto:staple``);
    with ``reference_task`` it is also marked as that task's reference.
    """
    from app.cli.agreement import agreement_report
    from compliance.qualitystore import label_map, labelset_from_map

    out = {"cases": []}
    for case_id in cases:
        versions = reader_versions(s, case_id)
        if len(versions) < 2:
            raise QualityWorkspaceError(f"case {case_id}: {len(versions)} reader version(s); "
                                        "agreement needs at least two readers")
        names = sorted(versions)
        arrays = [label_map(s.load_labels(case_id, versions[n]["version"])[1]) for n in names]
        report, consensus = agreement_report(arrays, names)
        report["case"] = case_id
        report["versions"] = [versions[n]["version"] for n in names]
        if save_staple or reference_task:
            labels = labelset_from_map(consensus, "auto:staple")
            meta = s.save_quality_version(
                case_id, labels, action="quality.reference", kind="staple",
                message="STAPLE consensus of versions " + ", ".join(map(str, report["versions"])),
                details={"sources": report["versions"]})
            s.record_staple(case_id, meta["version"], report["versions"])
            report["staple"]["version"] = meta["version"]
            if reference_task:
                s.mark_reference(reference_task, case_id, meta["version"])
                report["staple"]["reference_task"] = reference_task
        out["cases"].append(report)
    # The last summary is kept for the dashboard and report (no case content in it).
    first = out["cases"][0] if out["cases"] else None
    if first and first["segments"]:
        sid, seg = next(iter(first["segments"].items()))
        s.record_agreement({"raters": first["raters"], "segment": sid,
                            "matrix": seg["dice_matrix"], "kappa": first["kappa"],
                            "kappa_kind": first["kappa_kind"], "cases": len(out["cases"])})
    s.audit("quality.agreement", cases, details={
        "cases": len(cases), "staple_saved": bool(save_staple or reference_task),
        "reference_task": reference_task})
    return out


# -- model outputs ----------------------------------------------------------------------------
def run_model_outputs(s, model: str, case_ids, registry_path=None, runnable=None,
                      progress=None) -> list[str]:
    """Run ``model`` on the cases that have no stored output of it yet; store the outputs.

    Case-level confidence = the proposal's mean confidence over its labelled voxels (1.0 for
    an empty proposal, which then carries no risk of a wrong contour); uncertainty = mean
    voxel entropy (bits) of the confidence map. ``runnable``: the model loaded already
    (the viewer's runs in a child process); else it is loaded here, importing torch.
    ``progress(done, total)`` after each case.
    """
    from models.proposal import decode_confidence
    from models.quality.ranking import entropy_score
    from models.run import _spec

    todo = [c for c in case_ids if s.model_output_stamp(c, model) is None]
    if not todo:
        return []
    if runnable is None:
        runnable = _spec(model, registry_path).load()
    for n, case_id in enumerate(todo, 1):
        data = s.open_case(case_id)
        p = runnable.propose(data.array, data.affine_lps)
        conf = p.summary()["case"]["mean_confidence"]
        s.store_model_output(case_id, model, p.labels,
                             1.0 if conf is None else float(conf),
                             entropy_score(decode_confidence(p.confidence)), p.weights_sha256,
                             {seg.value: seg.name for seg in p.segments})
        if progress is not None:
            progress(n, len(todo))
    return todo


def _unit_dice(output_map: np.ndarray, human_masks: dict[int, np.ndarray]) -> float:
    from models.quality.agreement import dice

    values = sorted(set(model_masks(output_map)) | set(human_masks))
    if not values:
        return 1.0
    empty = np.zeros(output_map.shape, dtype=bool)
    return min(dice(output_map == v, human_masks.get(v, empty)) for v in values)


def new_cases(s) -> list[str]:
    """Cases with no label version at all, whether a model has proposed on them or not
    (what ``--run-model`` and the rank dialog run the model on)."""
    return [c["case_id"] for c in s.list_cases() if c["state"] == "new"]


def unlabelled_cases(s, model: str) -> list[str]:
    """Cases with a stored output of ``model`` and no label version at all (the pool)."""
    return [c for c in s.model_output_cases(model)
            if s.review_state(c, _checked=True)["state"] == "new"]


def validated_units(s, model: str, task: str | None) -> tuple[list[dict], list[str]]:
    """(validated units, unlabelled case ids) of the cases with a stored output of ``model``.

    A unit: ``{"case", "confidence", "dice", "version"}`` against the task's reference version
    or else the approved version. Unlabelled: no version at all.
    """
    from compliance.qualitystore import segment_masks

    refs = s.references(task) if task else {}
    units, unlabelled = [], []
    for case_id in s.model_output_cases(model):
        st = s.review_state(case_id, _checked=True)
        version = refs.get(case_id, {}).get("version")
        if version is None and st["state"] == "approved":
            version = st["version"]
        if version is None:
            if st["state"] == "new":
                unlabelled.append(case_id)
            continue
        meta, out = s.model_output(case_id, model)
        _, human = s.load_labels(case_id, version)
        units.append({"case": case_id, "confidence": float(meta["confidence"]),
                      "dice": round(_unit_dice(out, segment_masks(human)), 6),
                      "version": version})
    return units, unlabelled


# -- calibration and auto-labelling --------------------------------------------------------
def calibrate_workspace(s, model: str, task: str, args) -> dict:
    """Calibrate ``model``'s threshold on the validated units; store it (lifts a suspension)."""
    from types import SimpleNamespace

    from app.cli.calibrate import calibration_report
    from models.quality.drift import DriftMonitor

    s.require("autolabel.calibrate")
    units, unlabelled = validated_units(s, model, task)
    if not units:
        raise QualityWorkspaceError(
            f"model {model!r}: no validated units (cases with a stored output of the model and "
            "an approved or reference version); run with --run-model or store proposals first")
    table = SimpleNamespace(units=[u["case"] for u in units],
                            confidence=np.array([u["confidence"] for u in units]),
                            dice=np.array([u["dice"] for u in units]))
    cal, out = calibration_report(table, args)
    state = s.quality_state_unaudited()
    old = state["auto"].get(model, {}).get("monitor")
    if old:
        monitor = DriftMonitor.from_json(old)
        monitor.tolerance, monitor.epsilon = cal.tolerance, cal.epsilon
        monitor.spot_check_rate = args.spot_check
        monitor.recalibrate(cal.threshold)
    else:
        monitor = DriftMonitor(threshold=cal.threshold, tolerance=cal.tolerance,
                               epsilon=cal.epsilon, spot_check_rate=args.spot_check,
                               seed=args.seed)
    cal_json = cal.as_json()
    s.store_calibration(model, task, cal_json, units, monitor.as_json())
    out.update(model=model, task=task, unlabelled=len(unlabelled),
               spot_check_rate=monitor.spot_check_rate)
    return out


def auto_legend(model: str, threshold: float, bound: float) -> str:
    """The provenance legend of an auto-accepted version (the shared GUI contract)."""
    return f"auto:{model};threshold={threshold:.2f};bound={bound:.4f}"


def autolabel_workspace(s, model: str, batch: str | None = None) -> dict:
    """Auto-accept the unlabelled cases whose stored confidence reaches the stored threshold.

    Accepted cases get a version with the ``auto:`` provenance; the others go to the human
    worklist; a seeded random share of the accepted ones is routed to humans as spot checks
    (the drift watch). Refused while the threshold is suspended by a drift alert.
    """
    from models.quality.drift import DriftMonitor
    from models.quality.tbal import Calibration, apply_threshold

    s.require("autolabel.apply")
    state = s.quality_state_unaudited()
    if model not in state["calibrations"]:
        raise QualityWorkspaceError(f"model {model!r}: not calibrated in this workspace; run "
                                    "annotrace calibrate WS --model first")
    cal = Calibration.from_json(state["calibrations"][model]["calibration"])
    auto = state["auto"][model]
    monitor = DriftMonitor.from_json(auto["monitor"])
    if monitor.suspended:
        last = next((b for b in reversed(monitor.batches) if b.alert), None)
        s.audit("autolabel.refused", details={"model_id": model, "reason": "suspended",
                                              "batch": last.batch if last else None})
        raise QualityWorkspaceError(
            f"model {model!r}: auto-accept is suspended by a drift alert"
            f"{f' in {last.batch} ({last.reason})' if last else ''}; recalibrate with "
            "annotrace calibrate WS --model")
    if monitor.threshold is None:
        s.audit("autolabel.refused", details={"model_id": model, "reason": "no threshold"})
        raise QualityWorkspaceError(f"model {model!r}: no threshold passed the calibration "
                                    f"(epsilon {cal.epsilon}, delta {cal.delta}); nothing can "
                                    "be auto-accepted")
    batch = batch or f"batch-{len(auto.get('batches', {})) + 1}"
    if batch in auto.get("batches", {}):
        raise QualityWorkspaceError(f"batch {batch!r} exists already for model {model!r}")
    pool = unlabelled_cases(s, model)
    conf = [float(s.model_output(c, model)[0]["confidence"]) for c in pool]
    decisions = apply_threshold(cal, pool, conf)
    legend = auto_legend(model, cal.threshold, cal.bound)
    accepted, rows = {}, []
    from compliance.qualitystore import labelset_from_map

    for d in decisions:
        row = d.as_json()
        if d.decision == "auto":
            meta, out = s.model_output(d.unit, model)
            names = {int(k): v for k, v in meta.get("segment_names", {}).items()}
            v = s.save_quality_version(
                d.unit, labelset_from_map(out, legend, names), action="autolabel.apply",
                kind="auto", message=f"auto-accepted ({legend})",
                details={"model_id": model, "batch": batch, "confidence": d.confidence})
            accepted[d.unit] = v["version"]
            row["version"] = v["version"]
        row["provenance"] = legend if d.decision == "auto" else None
        rows.append(row)
    spot = monitor.route(batch, sorted(accepted))

    def change(a):
        a.setdefault("batches", {})[batch] = {"accepted": accepted, "spot_checks": spot,
                                              "recorded": False}

    s.update_auto(model, change, action="autolabel.apply")
    s.audit("autolabel.apply", sorted(accepted), details={
        "model_id": model, "batch": batch, "threshold": cal.threshold, "bound": cal.bound,
        "pool": len(pool), "accepted": len(accepted), "to_humans": len(pool) - len(accepted)})
    if spot:
        s.audit("drift.route", spot, details={"model_id": model, "batch": batch,
                                              "rate": monitor.spot_check_rate,
                                              "seed": monitor.seed, "routed": len(spot)})
    for r in rows:
        r["spot_check"] = r["unit"] in spot
    return {"model": model, "batch": batch, "threshold": cal.threshold, "bound": cal.bound,
            "provenance": legend, "pool_units": len(pool), "auto_accepted": len(accepted),
            "to_humans": len(pool) - len(accepted),
            "coverage": len(accepted) / len(pool) if pool else 0.0,
            "spot_checks": spot, "decisions": rows}


# -- ranking ----------------------------------------------------------------------------------
def rank_workspace(s, model: str, diversity: float = 0.0, method: str = "entropy",
                   registry_path=None, progress=None, members=(), loaded=None) -> dict:
    """Rank the unlabelled cases with a stored output by its uncertainty; store the ranks.

    ``entropy``: the stored uncertainty (mean voxel entropy); an output stored without one is
    scored by the binary entropy of its case-level confidence. ``disagreement``: the model
    runs on three augmented views of each case (:mod:`models.tta`; needs
    ``proposal.generate``) and the score is 1 - the mean pairwise Dice of the four
    segmentations (stored output included) -- it follows the model's errors where a
    confidently wrong model has low entropy (docs/quality.md). ``committee``: the models
    ``members`` (other model ids, segments matched by name) run on each case and the score
    is 1 - the mean pairwise Dice of their segmentations and the stored output (query by
    committee; needs ``proposal.generate``). ``progress(done, total)`` is called after each
    case scored by running a model. ``loaded`` maps model ids to models the caller loaded
    already (the viewer loads them on its GUI thread, not on the worker that runs this).

    ``diversity`` (weight in [0, 1]) spreads the order out: every pick maximises
    ``(1 - w) * score + w * distance`` to the nearest case already labelled or picked, in
    the model's own description of the cases (its bottleneck activations,
    :func:`models.embedding.case_embedding`), so that the first cases are not all of one kind
    and cases unlike every approved one come forward. The model describes each unlabelled
    and approved case once per set of weights (``proposal.generate``; a PyTorch model): the
    descriptions are kept in the workspace, and a scoring pass that runs models on the pool
    describes its cases as it goes (each case opened once). ``progress(done, total,
    "describe")`` is called after each case described outside that pass.
    """
    from models.quality.ranking import rank_cases

    s.require("quality.read")
    loaded = dict(loaded or {})  # the models loaded here join it: each is loaded once
    pool = unlabelled_cases(s, model)
    if not pool:
        # storing an empty ranking would make it the latest one and blank the worklist's
        # rank column (a misspelt model id, or every case labelled already)
        raise QualityWorkspaceError(f"model {model!r} has no stored output on an unlabelled "
                                    "case (run it on them first: rank --run-model, or "
                                    "Quality > Rank's option)")
    if method == "committee" and not members:
        raise QualityWorkspaceError("the committee method needs at least one other model "
                                    "(--with MODEL)")
    if method != "committee" and members:
        raise QualityWorkspaceError(f"other models (--with) take part in the committee method "
                                    f"only, not in {method}")
    if not 0.0 <= diversity <= 1.0:
        raise QualityWorkspaceError(f"diversity must lie in [0, 1], got {diversity}")
    describer = _Describer(s, model, pool, loaded, registry_path) if diversity > 0 else None
    also = describer.describe if describer is not None else None
    if method == "disagreement":
        scores = _disagreement_scores(s, model, pool, loaded, registry_path, progress, also)
    elif method == "committee":
        scores = _committee_scores(s, model, list(members), pool, loaded, registry_path,
                                   progress, also)
    else:
        scores = []
        for c in pool:
            meta = s.model_output(c, model)[0]
            u = meta.get("uncertainty")
            if u is None:
                p = min(max(float(meta["confidence"]), 1e-9), 1 - 1e-9)
                u = float(-(p * np.log2(p) + (1 - p) * np.log2(1 - p)))
            scores.append(float(u))
    if describer is not None:
        features, known = describer.finish(progress)
        order = rank_cases(scores, features, diversity, labelled_features=known)
    else:
        order = rank_cases(scores)
    ranked = [{"rank": r + 1, "case": pool[i], "score": scores[i]} for r, i in enumerate(order)]
    s.store_ranks(model, ranked, method, members=list(members), diversity=diversity)
    out = {"model": model, "method": method, "diversity": diversity, "cases": ranked}
    if members:
        out["members"] = list(members)
    return out


def _loaded(loaded: dict, spec, name: str):
    """The model ``name`` (as the caller named it) from ``loaded``, else loaded from ``spec``
    and kept there, so that one ranking loads each model once (scoring and describing)."""
    if name not in loaded:
        loaded[name] = spec.load()
    return loaded[name]


class _Describer:
    """The model's descriptions (:func:`models.embedding.case_embedding`) of every pool case
    and every approved case (the labelled ground the picks should move away from).

    Descriptions are kept in the workspace (:meth:`QualityStore.store_case_description`)
    under the model's weights digest: a case is described once per set of weights, so a
    ranking runs the model only on cases imported or approved since the last one (and on
    none once every case is described). A scoring pass that opens the pool cases anyway
    hands them to :meth:`describe`, so that no case is opened (decrypted, audited) twice.
    """

    def __init__(self, s, model: str, pool: list[str], loaded: dict, registry_path=None):
        from models.embedding import CASE_EMBEDDING_METHOD
        from models.run import _spec

        self.s, self.model, self.pool, self.loaded = s, model, pool, loaded
        self.approved = [c["case_id"] for c in s.list_cases() if c["state"] == "approved"]
        s.require("proposal.generate", pool + self.approved)
        self.spec = _spec(model, registry_path)
        self.method = CASE_EMBEDDING_METHOD
        self.vectors = {}
        for case_id in pool + self.approved:
            v = s.case_description(case_id, model, self.spec.weights_sha256, self.method)
            if v is not None:
                self.vectors[case_id] = v
        self._embed = None

    def describe(self, case_id: str, data) -> None:
        """Describe an opened case unless it is described already; keep the description."""
        if case_id in self.vectors:
            return
        if self._embed is None:
            from models.embedding import case_embedding

            runnable = _loaded(self.loaded, self.spec, self.model)
            # the viewer's model describes in its child process
            self._embed = getattr(runnable, "embed", None) or (
                lambda image, affine: case_embedding(runnable, image, affine))
        vector = np.asarray(self._embed(data.array, data.affine_lps), dtype=np.float64)
        self.s.store_case_description(case_id, self.model, self.spec.weights_sha256,
                                      self.method, vector)
        self.vectors[case_id] = vector

    def finish(self, progress=None) -> tuple[list, list]:
        """Describe the cases not described yet (``progress(done, total, "describe")`` after
        each); the descriptions of the pool and of the approved cases, in order."""
        todo = [c for c in self.pool + self.approved if c not in self.vectors]
        for n, case_id in enumerate(todo, 1):
            self.describe(case_id, self.s.open_case(case_id))
            if progress is not None:
                progress(n, len(todo), "describe")
        return ([self.vectors[c] for c in self.pool],
                [self.vectors[c] for c in self.approved])


def _disagreement_scores(s, model: str, pool, loaded: dict, registry_path=None,
                         progress=None, also=None) -> list[float]:
    from models.quality.ranking import label_disagreement
    from models.run import _spec
    from models.tta import tta_label_maps

    s.require("proposal.generate", pool)
    runnable = _loaded(loaded, _spec(model, registry_path), model)
    scores = []
    for case_id in pool:
        stored = s.model_output(case_id, model)[1]
        data = s.open_case(case_id)
        scores.append(label_disagreement(tta_label_maps(runnable, data.array,
                                                        data.affine_lps, labels=stored)))
        if also is not None:
            also(case_id, data)
        if progress is not None:
            progress(len(scores), len(pool))
    return scores


def _committee_scores(s, model: str, members: list[str], pool, loaded: dict,
                      registry_path=None, progress=None, also=None) -> list[float]:
    from models.quality.ranking import common_segments, label_disagreement, relabel_by_name
    from models.run import _spec

    s.require("proposal.generate", pool)
    own = _spec(model, registry_path)
    mine = {seg.name: seg.value for seg in own.segments}
    runnables = []
    for member in members:
        spec = _spec(member, registry_path)
        if spec.model_id == own.model_id:
            raise QualityWorkspaceError(f"{member}: a committee needs a model other than "
                                        f"{model}")
        theirs = {seg.name: seg.value for seg in spec.segments}
        if not common_segments(theirs, mine):
            raise QualityWorkspaceError(f"{member} segments {sorted(theirs)}, {model} "
                                        f"segments {sorted(mine)}: nothing in common to "
                                        "compare")
        runnables.append((_loaded(loaded, spec, member), theirs))
    scores = []
    for case_id in pool:
        maps = [np.asarray(s.model_output(case_id, model)[1])]
        data = s.open_case(case_id)
        for runnable, theirs in runnables:
            labels = runnable.propose(data.array, data.affine_lps).labels
            maps.append(relabel_by_name(labels, theirs, mine))
        scores.append(label_disagreement(np.stack(maps)))
        if also is not None:
            also(case_id, data)
        if progress is not None:
            progress(len(scores), len(pool))
    return scores


# -- drift ------------------------------------------------------------------------------------
def drift_record(s, model: str, batch: str, partial: bool = False) -> dict:
    """Record the human corrections of a batch's spot checks; alert and suspend if needed.

    The correction of a spot-checked case is the latest human version saved after its
    auto-accepted version; the Dice of the auto version against it feeds the estimate.
    """
    from compliance.qualitystore import segment_masks
    from models.quality.drift import DriftMonitor

    s.require("drift.record")
    state = s._read_quality()
    auto = state["auto"].get(model)
    if not auto or batch not in auto.get("batches", {}):
        raise QualityWorkspaceError(f"model {model!r} has no auto-accepted batch {batch!r}")
    info = auto["batches"][batch]
    if info.get("recorded"):
        raise QualityWorkspaceError(f"batch {batch!r} of model {model!r} is recorded already")
    dices, pending = {}, []
    for case_id in info["spot_checks"]:
        auto_v = int(info["accepted"][case_id])
        later = [m for m in s.versions(case_id)
                 if m["version"] > auto_v and m.get("quality_kind") is None]
        if not later:
            pending.append(case_id)
            continue
        _, auto_labels = s.load_labels(case_id, auto_v)
        _, human = s.load_labels(case_id, later[-1]["version"])
        a, h = segment_masks(auto_labels), segment_masks(human)
        shape = auto_labels.layers[0].shape
        dices[case_id] = _unit_dice(
            _masks_to_map(a, shape), h) if a or h else 1.0
    if not dices:
        raise QualityWorkspaceError(
            f"batch {batch!r}: none of its {len(info['spot_checks'])} spot-checked cases has a "
            "human correction yet")
    if pending and not partial:
        raise QualityWorkspaceError(
            f"batch {batch!r}: {len(pending)} of {len(info['spot_checks'])} spot-checked "
            "cases have no human correction yet (use --partial to record the others)")
    out = {}

    def change(a):
        monitor = DriftMonitor.from_json(a["monitor"])
        est = monitor.record_batch(batch, list(dices.values()))
        a["monitor"] = monitor.as_json()
        a["batches"][batch].update(recorded=True, dices=dices)
        out.update(estimate=est.__dict__, running=monitor.running(),
                   suspended=monitor.suspended)

    s.update_auto(model, change, action="drift.record")
    est = out["estimate"]
    s.audit("drift.record", sorted(dices), details={
        "model_id": model, "batch": batch, "checked": est["checked"],
        "mean_dice": est["mean_dice"], "errors": est["errors"], "alert": est["alert"],
        "pending": len(pending)})
    if est["alert"]:
        s.audit("autolabel.suspend", details={"model_id": model, "batch": batch,
                                              "reason": est["reason"]})
    return {"model": model, "batch": batch, "dices": dices, "pending": pending, **out}


def _masks_to_map(masks: dict[int, np.ndarray], shape) -> np.ndarray:
    out = np.zeros(shape, dtype=np.uint16)
    for sid, m in masks.items():
        out[m] = sid
    return out


def drift_status(s, model: str | None = None) -> dict:
    """Per calibrated model: threshold in force or suspended, batches, running estimate."""
    from models.quality.drift import DriftMonitor

    s.require("drift.record")
    state = s._read_quality()
    models = {}
    for mid, auto in sorted(state["auto"].items()):
        if model and mid != model or "monitor" not in auto:
            continue
        m = DriftMonitor.from_json(auto["monitor"])
        models[mid] = {
            "threshold": m.threshold, "suspended": m.suspended,
            "suspended_threshold": m.suspended_threshold, "tolerance": m.tolerance,
            "epsilon": m.epsilon, "spot_check_rate": m.spot_check_rate,
            "running": m.running(), "batches": [b.__dict__ for b in m.batches],
            "pending_batches": sorted(k for k, b in auto.get("batches", {}).items()
                                      if not b.get("recorded"))}
    if model and model not in models:
        raise QualityWorkspaceError(f"model {model!r}: not calibrated in this workspace")
    s.audit("drift.status", details={"models": len(models)})
    return {"models": models}


# -- reliance on proposals (automation bias) ---------------------------------------------------
def _stored_proposal(s, case_id: str, model_id: str, digest: str, model: str | None):
    """The stored output that produced an accepted proposal: ``(meta, map)`` or None.

    Looked up under ``model`` (a reference the caller names), the source's model id, or that
    id without its version (``brainmask-unet@1`` -> ``brainmask-unet``: the viewer keeps a
    proposal under the name the user chose, :func:`output_refs`); an output made since by
    other weights (it is overwritten by each new proposal) is not the one that was accepted
    and is not used.
    """
    for ref in output_refs(model, model_id):
        out = s.model_output(case_id, ref)
        if out is None:
            continue
        stored = out[0].get("weights_sha256") or ""
        if not stored or not digest or stored == digest:
            return out
    return None


def output_refs(model: str | None, model_id: str) -> tuple[str, ...]:
    """The references a stored output of the proposal source ``model_id`` may be kept under:
    the one the caller names, the id itself, and the id without its ``@version``."""
    base = model_id.rsplit("@", 1)[0] if model_id and "@" in model_id else None
    return tuple(dict.fromkeys(r for r in (model, model_id, base) if r))


#: each logged-in session's reliance rows (:func:`reliance_workspace`), keyed by the session
#: object so that they go with it at logout and never outlive the login that read them
_RELIANCE_ROWS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def reliance_workspace(s, model: str | None = None) -> dict:
    """Per-reader statistics of how much readers keep and change accepted proposals.

    Each human reader's latest version of every case that took voxels from an accepted
    proposal (its provenance) counts once (:func:`models.quality.reliance.version_reliance`);
    where the model's output on the case is stored, the version is also compared with it,
    over the structures the model segments (matched by segment name). Returns ``{"readers":
    {name: summary}, "versions": n}`` (n versions counted); case ids stay out of it, as in
    the report.
    """
    from models.quality.reliance import reader_summary

    s.require("quality.read")
    rows = []
    # A version is immutable, so its row changes only when the stored output it is compared
    # with is replaced: a session computes each row once and checks the output's file stamp,
    # so a dashboard refresh reads only what changed since instead of decrypting (and
    # auditing) every reader's version of every case again.
    cache = _RELIANCE_ROWS.setdefault(_session_of(s), {})
    for case in s.list_cases():
        cid = case["case_id"]
        for name, meta in reader_versions(s, cid).items():
            key = (cid, int(meta["version"]), model)
            hit = cache.get(key)
            if hit is None or hit[1] != _output_stamps(s, cid, hit[0]):
                hit = cache[key] = _reliance_row(s, cid, name, meta, model)
            if hit[2] is not None:
                rows.append(hit[2])
    readers = reader_summary(rows)
    s.audit("quality.reliance", details={"readers": len(readers), "versions": len(rows),
                                         "model": model})
    return {"readers": readers, "versions": len(rows)}


def _output_stamps(s, case_id: str, refs: tuple) -> tuple:
    return tuple(s.model_output_stamp(case_id, ref) for ref in refs)


def _reliance_row(s, cid: str, name: str, meta: dict, model: str | None) -> tuple:
    """``(refs, stamps, row)``: one reader version's reliance row (None when it accepted no
    proposal), the model references its stored output was looked up under and their file
    stamps when it was read."""
    from compliance.qualitystore import segment_masks
    from models.quality.reliance import proposal_sources, source_model, version_reliance

    _, labels = s.load_labels(cid, meta["version"])
    sources = proposal_sources(labels.provenance_legend)
    if labels.provenance is None or not sources:
        return (), (), None
    masks = segment_masks(labels)
    labelled = np.zeros(s.case_grid(cid)[0], dtype=bool)
    for m in masks.values():
        labelled |= m
    prov = np.asarray(labels.provenance)
    code = max(sources, key=lambda c: int(np.count_nonzero(labelled & (prov == c))))
    model_id, digest = source_model(sources[code])
    refs = output_refs(model, model_id)
    stamps = _output_stamps(s, cid, refs)
    proposal = compared = None
    out = _stored_proposal(s, cid, model_id, digest, model)
    if out is not None:
        out_meta, out_map = out
        proposal = np.asarray(out_map) > 0
        theirs = set((out_meta.get("segment_names") or {}).values())
        if theirs:
            compared = np.zeros_like(labelled)
            for seg in labels.segments:
                if seg["name"] in theirs:
                    compared |= masks[int(seg["segment_id"])]
    r = version_reliance(labelled, prov, labels.provenance_legend, proposal, compared)
    if r is None:
        return refs, stamps, None
    return refs, stamps, {"reader": name, "time": meta.get("created"), "model": model_id,
                          **r.as_json()}


def _session_of(s):
    """The logged-in session behind ``s`` (itself, or the one a quality view wraps)."""
    return s.__dict__.get("_session", s)


# -- report data ------------------------------------------------------------------------------
def report_data(s, task: str | None, model: str | None = None, evaluation: dict | None = None,
                coverage_target: float = 0.8) -> dict:
    """Everything the report and the dashboard plot, with no patient information: Dice per
    reader, the stored calibration's coverage and bound per threshold, the last agreement
    matrix, the drift batches and each reader's reliance on accepted proposals."""
    from models.quality.planner import plan_validation
    from models.quality.tbal import threshold_table

    state = s.quality_state()
    data = {"task": task, "dice": {}, "calibration": None, "agreement": state.get("agreement")
            or None, "drift": None, "reliance": reliance_workspace(s)}
    if evaluation is None and task and state["references"].get(task):
        evaluation = evaluate_workspace(s, task, surface=False, resamples=500)
    if evaluation:
        for name, rd in evaluation["readers"].items():
            data["dice"][name] = [m["dice"] for c in rd["cases"] for m in c["segments"].values()]
        data["summary"] = {name: {sid: {k: rd["summary"][sid][k] for k in ("dice", "hd95_mm")}
                                  for sid in rd["summary"]}
                           for name, rd in evaluation["readers"].items()}
    cals = state["calibrations"]
    mid = model if model in cals else (sorted(cals)[0] if cals else None)
    if mid:
        c = cals[mid]
        cal = c["calibration"]
        conf = np.array([u["confidence"] for u in c["units"]])
        errors = np.array([u["dice"] for u in c["units"]]) < cal["tolerance"]
        table = threshold_table(conf, errors, cal["epsilon"], cal["delta"], cal["grid"])
        for row in table:
            row["coverage"] = row["units"] / len(conf) if len(conf) else 0.0
        plan = plan_validation(conf, errors, coverage_target, epsilon=cal["epsilon"],
                               delta=cal["delta"], grid=cal["grid"]).as_json()
        data["calibration"] = {"model": mid, "table": table, "plan": plan,
                               **{k: cal[k] for k in ("threshold", "bound", "coverage", "units",
                                                      "units_used", "epsilon", "delta",
                                                      "tolerance")}}
        auto = state["auto"].get(mid, {})
        if "monitor" in auto:
            mon = auto["monitor"]
            data["drift"] = {"model": mid, "tolerance": mon["tolerance"],
                             "suspended": mon["suspended_threshold"] is not None,
                             "threshold": mon["threshold"],
                             "batches": [{k: b[k] for k in ("batch", "checked", "mean_dice",
                                                            "precision", "alert")}
                                         for b in mon["batches"]]}
    return data
