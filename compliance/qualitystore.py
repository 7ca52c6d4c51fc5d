"""Encrypted quality and automation state of a workspace (a Session mixin).

What the project lead decides and what the automation relies on is kept here, encrypted like
every other workspace object and changed only through audited, permission-checked calls:

- **reference marks**: per task, which version of which case is the reference standard
  (only an approved version, or a STAPLE consensus of readers' versions);
- **model outputs**: per model and case, the model's proposal (a label map), its case-level
  confidence and its uncertainty score (what calibration, auto-labelling and ranking use);
- **calibrations**: per model, the TBAL threshold, bound, coverage and the validated units;
- **auto-accept state**: per model, the drift monitor (threshold in force or suspended,
  spot-check rate, batch history) and the spot checks routed to humans per batch;
- **ranks**: per model, the active-learning rank of unlabelled cases (the worklist sorts by it);
- **case descriptions**: per model and case, the model's own description of the case (its
  bottleneck activations), kept so that ranking with diversity runs the model on a case once
  per model weights rather than on every approved case at every ranking.

Layout (no patient identifier in any name)::

    quality/state.enc                        the JSON state above (revision = object version)
    quality/outputs/<model key>/<case>.enc   one model output (label map + confidence)
    quality/descriptions/<model key>/<case>.enc   the model's description of the case (a
                                             vector, for ranking with diversity)

``<model key>`` is a hash of the model id, so a model name never appears as a file name.
Versions the automation creates (STAPLE consensus, auto-accepted labels) are saved through
:meth:`QualityStore.save_quality_version`, audited as ``label.save`` like any version, with
the deciding action (``quality.reference`` or ``autolabel.apply``) in its details.
"""

from __future__ import annotations

import hashlib
import json
from contextlib import contextmanager

import numpy as np

from compliance import fsio, records
from compliance.audit import utc_now
from compliance.errors import ComplianceError, NotFoundError
from compliance.records import LabelSet

_EMPTY = {"revision": 0, "references": {}, "staple": {}, "calibrations": {}, "auto": {},
          "ranks": {}, "agreement": {}}


def model_key(model_id: str) -> str:
    """File-name key of a model id (hashed: free text never becomes a path)."""
    return hashlib.sha256(f"annotrace/model/{model_id}".encode()).hexdigest()[:24]


def label_map(labels: LabelSet) -> np.ndarray:
    """One integer map of a label set: each voxel gets the id of the last segment covering it.

    Overlapping segments lose voxels here; per-segment work uses :func:`segment_masks`.
    """
    out = np.zeros(labels.layers[0].shape, dtype=np.uint16)
    for seg in labels.segments:
        out[labels.layers[int(seg["layer"])] == int(seg["value"])] = int(seg["segment_id"])
    return out


def segment_masks(labels: LabelSet) -> dict[int, np.ndarray]:
    """``{segment_id: boolean mask}`` of a label set (segments may overlap)."""
    return {int(s["segment_id"]): labels.layers[int(s["layer"])] == int(s["value"])
            for s in labels.segments}


def labelset_from_map(array: np.ndarray, legend: str, names: dict | None = None) -> LabelSet:
    """A one-layer label set from an integer map (values 1-255), all voxels of one provenance."""
    layer = np.asarray(array).astype(np.uint8)
    values = [int(v) for v in np.unique(layer) if v]
    names = names or {}
    segments = [{"segment_id": v, "name": str(names.get(v, f"label {v}")), "layer": 0,
                 "value": v} for v in values]
    provenance = (layer > 0).astype(np.uint8)
    return LabelSet([layer], segments, provenance, {"1": legend})


def version_kind(meta: dict, labels: LabelSet | None = None) -> str:
    """``"auto"`` for versions the automation made (STAPLE, auto-accepted), else ``"human"``."""
    if meta.get("quality_kind"):
        return meta["quality_kind"]
    legend = labels.provenance_legend if labels is not None else {}
    if legend and all(str(v).startswith("auto:") for v in legend.values()):
        return "auto"
    return "human"


class QualityStore:
    """Mixed into :class:`~compliance.session.Session`."""

    # -- the state object ----------------------------------------------------------------
    def _quality_dir(self):
        return self.ws.root / "quality"

    def _read_quality(self) -> dict:
        path = self._quality_dir() / "state.enc"
        if not path.exists():
            return json.loads(json.dumps(_EMPTY))
        state = json.loads(self.ws.read_object(self._keys, "quality/state", None, path))
        for k, v in _EMPTY.items():
            state.setdefault(k, json.loads(json.dumps(v)))
        return state

    @contextmanager
    def _quality_update(self):
        """Read-modify-write the state under its lock (two workstations never lose a change)."""
        d = self._quality_dir()
        d.mkdir(exist_ok=True)
        with fsio.locked(d / "state.lock", "the workspace quality state"):
            state = self._read_quality()
            yield state
            state["revision"] = int(state.get("revision", 0)) + 1
            self.ws.write_object(self._keys, self.key_gen, "quality/state", state["revision"],
                                 d / "state.enc", json.dumps(state).encode())

    def quality_state(self) -> dict:
        """The whole state (references, calibrations, auto-accept, ranks); quality.read."""
        self.require("quality.read")
        state = self._read_quality()
        self.audit("quality.read", details={"revision": state["revision"]})
        return state

    def quality_state_unaudited(self) -> dict:
        """The state for a caller that audits its own, wider operation (same permission)."""
        self.require("quality.read")
        return self._read_quality()

    # -- reference standard --------------------------------------------------------------
    def mark_reference(self, task: str, case_id: str, version: int | None = None) -> dict:
        """Mark a case's approved version (or a STAPLE consensus version) as reference for
        ``task``; refused (and audited) for anything else."""
        self.require("quality.reference", [case_id])
        task = _check_task(task)
        st = self.review_state(case_id, _checked=True)
        staple = {int(s["version"]): s for s in self._read_quality()["staple"].get(case_id, [])}
        if version is None:
            version = st["version"] if st["state"] == "approved" else None
        approved = {e["version"] for e in st["events"] if e["event"] == "approve"}
        if version is None or (version not in approved and version not in staple):
            self.audit("access.denied", [case_id], details={
                "attempted": "quality.reference", "state": st["state"], "version": version})
            what = (f"is {st['state'].replace('_', ' ')}, not approved" if version is None
                    else f"version {version} is neither approved nor a STAPLE consensus")
            raise ComplianceError(f"case {case_id} {what}; only an approved version or a "
                                  "STAPLE consensus can be a reference standard")
        meta = self._version_meta(case_id, version)
        mark = {"version": version, "content_sha256": meta["content_sha256"],
                "kind": "staple" if version in staple else "approved",
                "by": self.user_id, "time": utc_now()}
        with self._quality_update() as state:
            state["references"].setdefault(task, {})[case_id] = mark
        self.audit("quality.reference", [case_id], after=meta["content_sha256"],
                   details={"task": task, "version": version, "kind": mark["kind"],
                            "step": "mark"})
        return mark

    def unmark_reference(self, task: str, case_id: str) -> None:
        self.require("quality.reference", [case_id])
        with self._quality_update() as state:
            refs = state["references"].get(task, {})
            if case_id not in refs:
                raise NotFoundError(f"case {case_id} is not a reference for task {task!r}")
            del refs[case_id]
        self.audit("quality.reference", [case_id], details={"task": task, "step": "unmark"})

    def references(self, task: str) -> dict:
        """``{case_id: mark}`` of a task (not audited: callers audit what they read)."""
        self.require("quality.read")
        return dict(self._read_quality()["references"].get(task, {}))

    # -- versions made by the automation --------------------------------------------------
    def save_quality_version(self, case_id: str, labels: LabelSet, *, action: str, kind: str,
                             message: str, details: dict | None = None,
                             lock_timeout: float = 10.0) -> dict:
        """Save a version made by a quality decision (STAPLE consensus, auto-accepted label).

        ``action`` is the permission that decides it (``quality.reference`` for a consensus,
        ``autolabel.apply`` for an auto-accepted label): these versions are not a reader's
        work, so they do not need ``label.save``. The version has no parent (it starts its
        own line) and is audited as ``label.save`` with ``details["quality"] = kind``.
        """
        self.require(action, [case_id])
        return self._write_version(case_id, labels, lambda nums: None,
                                   {"message": message, "quality_kind": kind},
                                   {"quality": kind, "decided_by": action, **(details or {})},
                                   lock_timeout)

    def record_staple(self, case_id: str, version: int, sources: list[int]) -> None:
        """Remember that ``version`` is the STAPLE consensus of ``sources`` (may be marked
        reference)."""
        self.require("quality.reference", [case_id])
        with self._quality_update() as state:
            state["staple"].setdefault(case_id, []).append(
                {"version": int(version), "sources": [int(s) for s in sources],
                 "time": utc_now()})

    def record_agreement(self, summary: dict) -> None:
        """Keep the last agreement summary (matrices, kappa; no case content) for the report."""
        self.require("quality.read")
        with self._quality_update() as state:
            state["agreement"] = summary

    # -- per-model, per-case objects: outputs and descriptions ------------------------------
    def _case_object(self, kind: str, model_id: str, case_id: str):
        """(object id, path) of ``model_id``'s ``kind`` ("output" or "description") of a
        case: ``quality/<kind>s/<model key>/<case>.enc``."""
        self._case_dir(case_id)
        key = model_key(model_id)
        return (f"quality/{kind}/{key}/{case_id}",
                self._quality_dir() / f"{kind}s" / key / f"{case_id}.enc")

    def _write_case_object(self, kind: str, model_id: str, case_id: str, meta: dict,
                           array: np.ndarray) -> None:
        oid, path = self._case_object(kind, model_id, case_id)
        path.parent.mkdir(parents=True, exist_ok=True)
        self.ws.write_object(self._keys, self.key_gen, oid, 0, path,
                             records.pack_array(meta, array))

    def _read_case_object(self, kind: str, model_id: str,
                          case_id: str) -> tuple[dict, np.ndarray] | None:
        oid, path = self._case_object(kind, model_id, case_id)
        if not path.exists():
            return None
        return records.unpack_array(self.ws.read_object(self._keys, oid, 0, path))

    # -- model outputs ---------------------------------------------------------------------
    def store_model_output(self, case_id: str, model_id: str, labels: np.ndarray,
                           confidence: float, uncertainty: float | None = None,
                           weights_sha256: str = "", segment_names: dict | None = None) -> None:
        """Keep a model's proposal on a case: its label map (uint8, case grid), the case-level
        confidence in [0, 1] and an uncertainty score (for ranking). Audited."""
        self.require("proposal.generate", [case_id])
        shape = tuple(self._case_record(case_id)["shape"])
        labels = np.asarray(labels)
        if labels.shape != shape:
            raise ComplianceError(f"model output for case {case_id} is on {labels.shape}, the "
                                  f"case grid is {shape}")
        if not 0.0 <= float(confidence) <= 1.0:
            raise ComplianceError(f"model output confidence {confidence} is not in [0, 1]")
        meta = {"model_id": model_id, "weights_sha256": weights_sha256,
                "confidence": float(confidence),
                "uncertainty": None if uncertainty is None else float(uncertainty),
                "segment_names": {str(k): str(v) for k, v in (segment_names or {}).items()},
                "time": utc_now(), "by": self.user_id}
        self._write_case_object("output", model_id, case_id, meta, labels.astype(np.uint8))
        self.audit("quality.model_output", [case_id],
                   after=hashlib.sha256(labels.astype(np.uint8).tobytes()).hexdigest(),
                   details={"model_id": model_id, "confidence": round(float(confidence), 6)})

    def model_output_stamp(self, case_id: str, model_id: str) -> tuple[int, int, int] | None:
        """Which stored output of ``model_id`` the case holds now, without decrypting it:
        ``(inode, mtime_ns, size)`` of its file (each new output is written to a new file and
        renamed into place), or None. For caches of results computed from the output."""
        self.require("quality.read", [case_id])
        try:
            st = self._case_object("output", model_id, case_id)[1].stat()
        except FileNotFoundError:
            return None
        return st.st_ino, st.st_mtime_ns, st.st_size

    def model_output(self, case_id: str, model_id: str) -> tuple[dict, np.ndarray] | None:
        """(metadata, label map) of a stored model output, or None."""
        self.require("quality.read", [case_id])
        return self._read_case_object("output", model_id, case_id)

    def model_output_cases(self, model_id: str) -> list[str]:
        """Case ids with a stored output of ``model_id``."""
        self.require("quality.read")
        folder = self._quality_dir() / "outputs" / model_key(model_id)
        return sorted(p.stem for p in folder.glob("*.enc")) if folder.is_dir() else []

    # -- case descriptions (ranking with diversity) ------------------------------------------
    def store_case_description(self, case_id: str, model_id: str, weights_sha256: str,
                               method: str, vector: np.ndarray) -> None:
        """Keep ``model_id``'s description of a case (a float vector computed from its image,
        e.g. :func:`models.embedding.case_embedding`) with the weights and the method that
        made it; replaces an earlier one. Audited (``quality.description``)."""
        self.require("proposal.generate", [case_id])
        vector = np.asarray(vector, dtype=np.float64)
        if vector.ndim != 1 or not vector.size or not np.all(np.isfinite(vector)):
            raise ComplianceError(f"description of case {case_id} by {model_id} is not a "
                                  f"finite vector (shape {vector.shape})")
        meta = {"model_id": model_id, "weights_sha256": weights_sha256, "method": method,
                "time": utc_now(), "by": self.user_id}
        self._write_case_object("description", model_id, case_id, meta, vector)
        self.audit("quality.description", [case_id],
                   after=hashlib.sha256(vector.tobytes()).hexdigest(),
                   details={"model_id": model_id, "method": method})

    def case_description(self, case_id: str, model_id: str, weights_sha256: str,
                         method: str) -> np.ndarray | None:
        """The stored description of a case by these weights and method, or None (none kept,
        or one made by other weights or another method: the caller describes it again).
        Cases are imported once and never change, so nothing else can make it stale."""
        self.require("quality.read", [case_id])
        kept = self._read_case_object("description", model_id, case_id)
        if kept is None or kept[0].get("weights_sha256") != weights_sha256 \
                or kept[0].get("method") != method:
            return None
        return np.asarray(kept[1], dtype=np.float64)

    # -- calibration, auto-accept, drift, ranks -------------------------------------------
    def store_calibration(self, model_id: str, task: str, calibration: dict,
                          units: list[dict], monitor: dict) -> None:
        """Store a calibration (and the drift monitor it (re)starts); lifts a suspension."""
        self.require("autolabel.calibrate")
        with self._quality_update() as state:
            state["calibrations"][model_id] = {"task": task, "calibration": calibration,
                                               "units": units, "time": utc_now(),
                                               "by": self.user_id}
            auto = state["auto"].setdefault(model_id, {"batches": {}})
            auto["monitor"] = monitor
        self.audit("autolabel.calibrate", details={
            "model_id": model_id, "task": task, "threshold": calibration.get("threshold"),
            "bound": calibration.get("bound"), "units": calibration.get("units"),
            "units_used": calibration.get("units_used")})

    def update_auto(self, model_id: str, change, action: str = "autolabel.apply") -> dict:
        """Apply ``change(auto_state) -> None`` to a model's auto-accept state under the lock
        (callers check ``action`` is allowed and audit their decision); returns the new state."""
        self.require(action)
        with self._quality_update() as state:
            if model_id not in state["auto"] or "monitor" not in state["auto"][model_id]:
                raise NotFoundError(f"model {model_id!r} has no calibration in this workspace; "
                                    "run annotrace calibrate first")
            change(state["auto"][model_id])
            return json.loads(json.dumps(state["auto"][model_id]))

    def worklist_ranks(self) -> dict[str, int]:
        """``{case_id: rank}`` of the latest active-learning ranking, for every worklist.

        The study lead ranks; the readers label in that order, so any role with a worklist
        (``case.list``) sees the ranks -- not the scores or the model. Not audited itself:
        part of listing the worklist (audited ``case.list``).
        """
        self.require("case.list")
        ranks = self._read_quality().get("ranks", {})
        if not ranks:
            return {}
        latest = max(ranks.values(), key=lambda r: r.get("time", ""))["cases"]
        return {cid: int(r["rank"]) for cid, r in latest.items()}

    def pending_spot_checks(self) -> dict[str, dict]:
        """Auto-accepted cases routed to humans whose batch is not recorded yet.

        ``{case_id: {"model", "batch", "auto_version"}}`` for the readers' worklist and for
        opening such a case blind (setting ``blind_spot_checks``). Needs ``drift.record``
        (the readers who do the checks); not audited itself, as it is part of listing the
        worklist (audited ``case.list``).
        """
        self.require("drift.record")
        out = {}
        for model_id, auto in sorted(self._read_quality()["auto"].items()):
            for batch, info in sorted(auto.get("batches", {}).items()):
                if info.get("recorded"):
                    continue
                for case_id in info.get("spot_checks", []):
                    out[case_id] = {"model": model_id, "batch": batch,
                                    "auto_version": int(info["accepted"][case_id])}
        return out

    def store_ranks(self, model_id: str, ranked: list[dict], method: str,
                    members: list[str] | None = None, diversity: float = 0.0) -> None:
        """Store the active-learning ranks of ``model_id``'s unlabelled cases (the latest
        replace earlier ones); ``members``: the other models of a committee ranking;
        ``diversity``: the weight of diversity in the order (0: by score alone)."""
        self.require("quality.read")
        extra = {"members": list(members)} if members else {}
        if diversity:
            extra["diversity"] = float(diversity)
        with self._quality_update() as state:
            state["ranks"][model_id] = {"method": method, "time": utc_now(),
                                        "cases": {r["case"]: {"rank": r["rank"],
                                                              "score": r["score"]}
                                                  for r in ranked}, **extra}
        self.audit("quality.rank", details={"model_id": model_id, "cases": len(ranked),
                                            "method": method, **extra})


def _check_task(task: str) -> str:
    task = (task or "").strip()
    if not task or len(task) > 64 or any(c in task for c in "\n\r\t"):
        raise ComplianceError(f"task name {task!r} must be 1-64 characters on one line")
    return task


class _QualityOps(QualityStore):
    """A logged-in session seen through :class:`QualityStore` (when Session does not mix it
    in itself): every other attribute is the session's own."""

    def __init__(self, session):
        self.__dict__["_session"] = session

    def __getattr__(self, name):
        return getattr(self.__dict__["_session"], name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.__dict__["_session"].logout()


def quality_ops(session) -> QualityStore:
    """``session`` with the quality operations (itself when Session already mixes them in)."""
    return session if isinstance(session, QualityStore) else _QualityOps(session)
