"""The "Proposals" menu: run a model in the background, review, refine, accept or reject.

``install_proposals(window)`` adds a Proposals menu and tool bar to a MainWindow and returns
the :class:`ProposalController` (also ``window.proposals``):

* "Propose with" lists the built-in models (models.registry, imported when the menu opens;
  torch and MONAI only when a proposal starts, on the worker thread). The model runs on a
  plain ``threading.Thread``; its progress (one event per sliding-window batch) and result
  come back through a ``queue.Queue`` that a QTimer drains on the GUI thread every 30 ms
  (with PySide6 6.12 a QThread emitting ``Signal(object)`` while Python threads run aborts
  the interpreter; see app/gui/loader.py). The status bar shows a progress bar and a
  Cancel button; cancelling stops the run at its next window batch.
* The proposal is a :class:`viewers.proposal.ProposalLayer` drawn as outlines in every
  view; "Show low confidence" (key C) tints voxels below the threshold; the "Proposal" dock
  shows the per-segment and per-case confidence summary.
* Accept all (Ctrl+Return), Accept segment (per label), Accept current slice (Shift+Return:
  the slice of the focused view), Reject (Ctrl+Backspace): each one undoable command of
  the edit history (Ctrl+Z), see viewers.edit.accept.
* Ctrl+click (add) and Ctrl+Shift+click (remove) in a view, with the navigation tool,
  refine the proposal around the click (models.refine), one undoable command each.

With a workspace attached (``window.workspace``), generating needs ``proposal.generate``
and accepting ``proposal.accept``; "proposal.generated", "proposal.accepted" and
"proposal.rejected" are audited with the model id and weights hash (no PHI). Without a
workspace (viewer-only mode) nothing is audited.
"""

from __future__ import annotations

import os
import queue
import threading
import time

import numpy as np
from PySide6.QtCore import QEvent, QObject, Qt, QTimer
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (QApplication, QDockWidget, QLabel, QMenu, QProgressBar,
                               QPushButton, QToolBar, QTreeWidget, QTreeWidgetItem,
                               QVBoxLayout, QWidget)

from compliance import roles
from viewers.edit import Editor, SegmentLocked, accept, refine_proposal, reject
from viewers.proposal import DEFAULT_LOW_CONFIDENCE, ProposalLayer

POLL_MS = 30
#: how long the Propose menu reuses the workspace's model list before reading it again
MODEL_LIST_SECONDS = 300.0


class ProposalWorker:
    """One model run on a plain Python thread; results are read with :meth:`poll`.

    Parameters
    ----------
    model : str or ModelSpec or loaded model
        What ``models.run.propose`` takes.
    image : ndarray (k, j, i)
    affine_lps : (4, 4) ndarray
    propose : callable, optional
        ``propose(model, image, affine_lps, progress=...)``; default models.run.propose
        (imported on the worker thread, so that torch is never imported at GUI start).
    """

    def __init__(self, model, image, affine_lps, propose=None, **options):
        self.model, self.image, self.affine_lps = model, image, affine_lps
        self._propose, self.options = propose, options
        self.events: queue.Queue = queue.Queue()
        self._cancel = threading.Event()
        self._last = 0.0
        self.started_at = None
        self.thread = threading.Thread(target=self._run, name="annotrace-proposal", daemon=True)

    def start(self) -> None:
        self.started_at = time.perf_counter()
        self.thread.start()

    def cancel(self) -> None:
        self._cancel.set()

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()

    def _progress(self, done, total, stage) -> None:
        if self._cancel.is_set():
            from models.errors import Cancelled

            raise Cancelled("proposal cancelled")
        now = time.monotonic()
        if done in (1, total) or now - self._last > 0.05:  # at most ~20 updates per second
            self._last = now
            self.events.put(("progress", (int(done), int(total), str(stage))))

    def _run(self) -> None:
        try:
            propose = self._propose
            if propose is None:
                from models.run import propose
            result = propose(self.model, self.image, self.affine_lps, progress=self._progress,
                             **self.options)
        except BaseException as exc:  # noqa: BLE001 - handed to the GUI thread
            from models.errors import Cancelled

            self.events.put(("cancelled" if isinstance(exc, Cancelled) else "failed", exc))
        else:
            from app.gui.proposal_process import with_summary

            self.events.put(("done", with_summary(result, self.affine_lps)))

    def is_running(self) -> bool:
        return self.thread.is_alive() or not self.events.empty()

    def poll(self) -> list:
        """New ``(kind, payload)`` events (see ProcessJob.poll)."""
        out = []
        while True:
            try:
                out.append(self.events.get_nowait())
            except queue.Empty:
                return out


class SummaryPanel(QWidget):
    """Per-segment and per-case confidence of the current proposal."""

    def __init__(self, parent=None):
        super().__init__(parent)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        self.title = QLabel("No proposal")
        self.title.setWordWrap(True)
        self.tree = QTreeWidget()
        self.tree.setObjectName("proposal_summary")
        self.tree.setHeaderLabels(["", "voxels", "ml", "mean conf.", "low conf."])
        self.tree.setRootIsDecorated(False)
        layout.addWidget(self.title)
        layout.addWidget(self.tree)

    def show_layer(self, layer: ProposalLayer | None, running: str | None = None) -> None:
        self.tree.clear()
        if running:
            self.title.setText(running)
            return
        if layer is None:
            self.title.setText("No proposal")
            return
        s = layer.summary()
        if layer.rejected:
            state = " (rejected)"
        elif not layer.proposed_voxels:
            state = " (empty: the model proposed nothing)"
        elif not s["case"]["voxels"]:
            state = " (accepted: nothing left to review)"
        else:
            state = ""
        self.title.setText(f"{layer.model_id}{state}\nweights sha256 {layer.weights_sha256[:12]}…"
                           f"\nlow confidence: < {layer.low_threshold:.2f}")

        def row(name, d):
            mean = "–" if d["mean_confidence"] is None else f"{d['mean_confidence']:.3f}"
            low = "–" if d["low_confidence_fraction"] is None else \
                f"{100 * d['low_confidence_fraction']:.1f} %"
            return QTreeWidgetItem([name, str(d["voxels"]), f"{d['volume_ml']:.1f}", mean, low])

        for name, d in s["segments"].items():
            # a segment accepted in full has nothing left to review: no row of zeros
            if d["voxels"] or layer.rejected:
                self.tree.addTopLevelItem(row(name, d))
        self.tree.addTopLevelItem(row("case (proposed)", s["case"]))
        for c in range(5):
            self.tree.resizeColumnToContents(c)


class WorkspaceModel:
    """A model kept in the attached workspace: a fine-tuned version (``NAME@VERSION``) or a
    registered bundle, loaded through :func:`app.workspace_models.load_model` (which checks
    the role, the weights hash and the bundle's pinned files, and audits the use)."""

    def __init__(self, ref: str, name: str, task: str, kind: str):
        self.ref, self.name, self.task, self.kind = ref, name, task, kind
        self.model_id = ref

    def proposer(self, session):
        def run(model, image, affine_lps, progress=None, **options):
            from app.workspace_models import load_model
            from models.run import propose

            _, runnable, _ = load_model(session, self.ref)
            return propose(runnable, image, affine_lps, progress=progress, **options)

        return run

    def __repr__(self) -> str:
        return f"WorkspaceModel({self.ref!r}, {self.kind})"


class ProposalController(QObject):
    """Proposals of one main window (see the module notes)."""

    def __init__(self, window):
        super().__init__(window)
        self.window = window
        self.layer: ProposalLayer | None = None
        self.worker: ProposalWorker | None = None
        self.worker_spec = None
        self.propose_fn = None  # replaceable inference function (GUI plumbing tests)
        self.clicks: list = []
        self._own_editor = None
        self.timer = QTimer(self)
        self.timer.setInterval(POLL_MS)
        self.timer.timeout.connect(self._drain)
        self.last_timings: dict = {}
        self.error: str | None = None  # the last failure, one line
        self.process = None  # the ProposalProcess, started at the first real proposal
        # (session, monotonic time, WorkspaceModel entries): the Propose menu is rebuilt each
        # time it opens, and listing workspace models is an audited read (model.list)
        self._workspace_models: tuple | None = None

    # -- helpers ----------------------------------------------------------------------------
    @property
    def workspace(self):
        return getattr(self.window, "workspace", None)

    def _case_objects(self) -> list:
        ws = self.workspace
        case = getattr(ws, "case_id", None) if ws is not None else None
        return [case] if case else []

    def _audit(self, action: str, details: dict) -> None:
        ws = self.workspace
        if ws is not None and getattr(ws, "session", None) is not None:
            ws.session.audit(action, self._case_objects(), details=details)

    def _require(self, action: str) -> bool:
        ws = self.workspace
        if ws is None or getattr(ws, "session", None) is None:
            return True
        try:
            ws.session.require(action, self._case_objects())
        except Exception as exc:  # noqa: BLE001 - PermissionDenied, SessionLocked: say why
            self.message(f"{action}: {exc}")
            return False
        return True

    def _own_reading_first(self) -> bool:
        """The workspace may show proposals only after the reader's own saved reading."""
        ws = self.workspace
        session = getattr(ws, "session", None) if ws is not None else None
        case_id = getattr(ws, "case_id", None) if ws is not None else None
        if session is None or not case_id:
            return True
        try:
            session.require_own_reading(case_id)
        except Exception as exc:  # noqa: BLE001 - PermissionDenied, SessionLocked: say why
            self.message(str(exc))
            return False
        return True

    def editor(self):
        """The window's editor (shared undo history); a private one without the Edit tools."""
        ctl = getattr(self.window, "edit_controller", None)
        if ctl is not None:
            return ctl.editor()
        vol, seg = self.window.volume, self.window.segmentation
        if vol is None or seg is None:
            return None
        ed = self._own_editor
        if ed is None or ed.volume is not vol or ed.segmentation is not seg:
            ed = self._own_editor = Editor(vol, seg)
        return ed

    def message(self, text: str, ms: int = 6000) -> None:
        self.window.statusBar().showMessage(text, ms)

    def models(self) -> list:
        """Built-in models, and with a workspace attached its fine-tuned versions and the
        bundles its admin registered (:class:`WorkspaceModel` entries)."""
        from models.registry import builtin_models

        specs = list(builtin_models())
        ws = self.workspace
        session = getattr(ws, "session", None) if ws is not None else None
        if session is None or not roles.allowed(session.role, "model.list"):
            return specs
        cached = self._workspace_models
        if cached is not None and cached[0] is session and \
                time.monotonic() - cached[1] < MODEL_LIST_SECONDS:
            return specs + list(cached[2])
        from app.workspace_models import model_rows

        entries = []
        for row in model_rows(session):
            if row.get("kind") in ("workspace", "bundle") and "error" not in row:
                ref = (f"{row['name']}@{row['version']}" if row["kind"] == "workspace"
                       else row["name"])
                entries.append(WorkspaceModel(ref, row["name"], row.get("task", ""),
                                              row["kind"]))
        self._workspace_models = (session, time.monotonic(), tuple(entries))
        return specs + entries

    def forget_models(self) -> None:
        """List the workspace's models afresh next time (after one was registered here)."""
        self._workspace_models = None

    # -- running ----------------------------------------------------------------------------
    def propose(self, model, **options) -> ProposalWorker | None:
        """Start a proposal with ``model`` (a ModelSpec or a name) on the current volume."""
        vol = self.window.volume
        if vol is None:
            self.message("Open an image first")
            return None
        if self.worker is not None and self.worker.is_running():
            self.message("A proposal is already running")
            return None
        if not self._require("proposal.generate") or not self._own_reading_first():
            return None
        self.worker_spec = model
        self.error = None
        self.worker = self._make_worker(model, vol, options)
        self._worker_volume = vol
        name = getattr(model, "model_id", str(model))
        self.panel.show_layer(None, running=f"Running {name}…")
        self.progress.setRange(0, 0)
        self.progress.show()
        self.cancel_button.show()
        self.message(f"Proposing with {name}…", 0)
        self.worker.start()
        self.timer.start()
        self._refresh()
        return self.worker

    def _make_worker(self, model, vol, options):
        """A job in the proposal process; a thread when a propose function was set (tests)
        or when ANNOTRACE_PROPOSAL_THREAD=1 (e.g. where processes cannot be spawned)."""
        if isinstance(model, WorkspaceModel):
            # Its weights are decrypted in this process (never written out for a child
            # process to read), so it runs on a thread.
            return ProposalWorker(model, vol.array, vol.affine_lps,
                                  self.propose_fn or model.proposer(self.workspace.session),
                                  **options)
        if self.propose_fn is not None or os.environ.get("ANNOTRACE_PROPOSAL_THREAD") == "1":
            return ProposalWorker(model, vol.array, vol.affine_lps, self.propose_fn, **options)
        from app.gui.proposal_process import ProcessJob, ProposalProcess

        if self.process is None or not self.process.alive():
            self.process = ProposalProcess()
        return ProcessJob(self.process, model, vol.array, vol.affine_lps, **options)

    def close(self) -> None:
        """End the proposal process (the window is closing)."""
        if self.worker is not None:
            self.worker.cancel()
        if self.process is not None:
            self.process.close()
            self.process = None

    def cancel(self) -> None:
        if self.worker is not None and self.worker.is_running():
            self.worker.cancel()
            self.message("Cancelling the proposal…", 0)

    def _drain(self) -> None:
        worker = self.worker
        if worker is None:
            self.timer.stop()
            return
        latest = None
        for kind, payload in worker.poll():
            if kind == "progress":
                latest = payload
                continue
            self._finish(kind, payload)
            return
        if latest is not None:
            done, total, _stage = latest
            self.progress.setRange(0, max(total, 1))
            self.progress.setValue(done)

    def _finish(self, kind, payload) -> None:
        self.timer.stop()
        self.progress.hide()
        self.cancel_button.hide()
        elapsed = time.perf_counter() - self.worker.started_at
        self.last_timings = {"wall_s": elapsed}
        if kind == "done":
            if self.window.volume is not self._worker_volume:
                self.message("The image changed while the model ran; proposal discarded")
            else:
                self._show_proposal(payload, elapsed)
        elif kind == "cancelled":
            self.message("Proposal cancelled")
        else:
            text = str(payload) if getattr(payload, "exit_code", None) is not None else \
                f"{type(payload).__name__}: {payload}"
            self.message(f"Proposal failed: {text}", 0)  # no modal box: the user keeps working
            self.error = text
        self.panel.show_layer(self.layer)
        self._refresh()

    def _show_proposal(self, payload, elapsed: float) -> None:
        proposal, summary = payload
        vol = self.window.volume
        defs = [(s.value, s.name, s.code) for s in proposal.segments]
        layer = ProposalLayer.from_arrays(proposal.labels, proposal.confidence, defs,
                                          proposal.model_id, proposal.weights_sha256,
                                          tuple(vol.spacing_mm), self.window.segmentation)
        layer.set_summary(summary)
        self.set_layer(layer)
        s = layer.summary()
        self._audit("proposal.generated", {
            "model_id": layer.model_id, "weights_sha256": layer.weights_sha256,
            "voxels": s["case"]["voxels"], "mean_confidence": s["case"]["mean_confidence"],
            "seconds": round(elapsed, 2)})
        self._keep_model_output(proposal, s["case"].get("mean_confidence"),
                                summary.get("entropy_bits"))
        self.message(f"Proposal by {layer.model_id}: {s['case']['voxels']} voxels in "
                     f"{elapsed:.1f} s — review, then accept (Ctrl+Return) or reject")

    def _keep_model_output(self, proposal, confidence, entropy_bits) -> None:
        """Store the proposal of a workspace case as the model's output on it, so that
        ``annotrace calibrate``, ``autolabel`` and ``rank`` use what the GUI produced.

        Stored under the reference the user chose (a built-in's name, ``NAME@VERSION`` of a
        workspace version), the name those commands take with ``--model``.
        """
        ws = self.workspace
        session = getattr(ws, "session", None) if ws is not None else None
        case_id = getattr(ws, "case_id", None) if ws is not None else None
        if session is None or not case_id or \
                not roles.allowed(session.role, "proposal.generate"):
            return
        from compliance.errors import ComplianceError
        from compliance.qualitystore import quality_ops

        spec = self.worker_spec
        ref = (getattr(spec, "ref", None) or getattr(spec, "name", None)
               or (spec if isinstance(spec, str) else str(proposal.model_id)))
        try:
            quality_ops(session).store_model_output(
                case_id, ref, proposal.labels, 1.0 if confidence is None else float(confidence),
                entropy_bits, proposal.weights_sha256,
                {seg.value: seg.name for seg in proposal.segments})
        except ComplianceError as exc:  # the proposal stays usable; say why it was not kept
            self.message(f"Proposal not kept for calibration: {exc}")

    def set_layer(self, layer: ProposalLayer | None) -> None:
        """Show ``layer`` (or nothing) in every view and the summary dock."""
        if self.layer is not None:
            self.layer.changed.disconnect(self._on_layer_changed)
        self.layer = layer
        self.clicks = []
        if layer is not None:
            layer.show_low_confidence = self.low_action.isChecked()
            layer.changed.connect(self._on_layer_changed)
        for view in self.window.views:
            view.set_proposal(layer)
        self.panel.show_layer(layer)
        self._refresh()

    def _on_layer_changed(self) -> None:
        self.panel.show_layer(self.layer)
        self._refresh()

    def _on_volume_loaded(self, *_):
        if self.worker is not None and self.worker.is_running():
            self.worker.cancel()
        self.set_layer(None)

    # -- review -----------------------------------------------------------------------------
    def set_show_low_confidence(self, on: bool) -> None:
        self.low_action.setChecked(bool(on))
        if self.layer is not None:
            self.layer.set_show_low_confidence(bool(on))

    def focused_slice(self) -> tuple[int, int]:
        """``(array axis, index)`` of the slice shown by the focused (else first) view."""
        views = self.window.views
        view = next((v for v in views if v.hasFocus() and v.isVisible()), None)
        if view is None:
            view = getattr(self.window, "maximised", None) or views[0]
        return 2 - view.slice_geometry.normal_axis, view.slice_index

    def accept(self, scope: str = "all", segment=None):
        """Accept the proposal (``scope`` all, segment or slice) as one undoable command."""
        layer, ed = self.layer, self.editor()
        if layer is None or layer.rejected or ed is None:
            self.message("No proposal to accept")
            return None
        if not self._require("proposal.accept"):
            return None
        axis = index = None
        if scope == "slice":
            axis, index = self.focused_slice()
        try:
            result = accept(ed, layer, scope, segment=segment, slice_axis=axis, slice_index=index)
        except (SegmentLocked, ValueError, KeyError) as exc:
            self.message(f"Cannot accept: {exc}")
            return None
        self._rendered()
        if result.voxels == 0:
            self.message("Nothing left to accept there")
            return result
        self._audit("proposal.accepted", result.audit_details(
            layer, None if segment is None else layer.segment(segment).name, axis, index))
        self.message(f"Accepted {result.voxels} voxels from {layer.model_id} "
                     f"({scope}); Ctrl+Z undoes it")
        return result

    def reject(self):
        layer, ed = self.layer, self.editor()
        if layer is None or layer.rejected or ed is None:
            return None
        cmd = reject(ed, layer)
        self._audit("proposal.rejected", {"model_id": layer.model_id,
                                          "weights_sha256": layer.weights_sha256,
                                          "voxels": int(np.count_nonzero(layer.labels))})
        self.message("Proposal rejected; Ctrl+Z brings it back")
        self._rendered()
        return cmd

    def refine_at(self, ijk, positive: bool):
        """Correct the proposal around voxel ``ijk`` (continuous i, j, k); one command."""
        layer, ed = self.layer, self.editor()
        if layer is None or not layer.active or ed is None:
            return None
        from models.refine import Click, refine

        k, j, i = (int(np.clip(np.rint(c), 0, n - 1)) for c, n in zip(ijk[::-1], layer.shape))
        value = int(layer.labels[k, j, i]) or layer.segments[0].value
        if not positive and layer.labels[k, j, i] == 0:
            self.message("Ctrl+Shift+click inside the proposal to remove a wrong part")
            return None
        click = Click((k, j, i), positive)
        history = [c for v, c in self.clicks if v == value]
        # refine() reads the labels and the probability only in a window around the click:
        # hand it the layer's arrays as they are, and the probability computed per window
        edit = refine(layer.labels, self.window.volume.array, click,
                      tuple(self.window.volume.spacing_mm),
                      probability=_WindowProbability(layer, value), value=value,
                      history=history)
        self.clicks.append((value, click))
        cmd = refine_proposal(ed, layer, edit.box, edit.changed, value if positive else 0)
        self.message(f"{'Added' if positive else 'Removed'} {edit.voxels} voxels "
                     f"{'to' if positive else 'from'} the proposal")
        self._rendered()
        return cmd

    def eventFilter(self, obj, event):  # noqa: N802 - Qt API
        if (event.type() == QEvent.MouseButtonPress and event.button() == Qt.LeftButton
                and event.modifiers() & Qt.ControlModifier and self.layer is not None
                and self.layer.active and self._navigating()):
            positive = not (event.modifiers() & Qt.ShiftModifier)
            self.refine_at(obj.voxel_at(event.position()), positive)
            return True
        return False

    def _navigating(self) -> bool:
        ctl = getattr(self.window, "edit_controller", None)
        return ctl is None or ctl.tool is None

    def _rendered(self) -> None:
        for view in self.window.views:
            view.request_render()

    def _refresh(self) -> None:
        running = self.worker is not None and self.worker.is_running()
        has = self.layer is not None and not self.layer.rejected and self.window.volume is not None
        pending = has and bool(self.layer.labels.any())
        for name in ("accept_all", "accept_slice"):
            self.actions[name].setEnabled(pending)
        self.segment_menu.setEnabled(pending)
        # once every proposed voxel is accepted there is nothing left to reject
        self.actions["reject"].setEnabled(pending)
        self.propose_menu.setEnabled(not running)
        self.actions["cancel"].setEnabled(running)


class _WindowProbability:
    """The model's probability of ``value``, computed only for the window asked for."""

    def __init__(self, layer: ProposalLayer, value: int):
        self.layer, self.value = layer, value

    def __getitem__(self, box):
        conf = self.layer.confidence[box].astype(np.float32) / 255.0
        return np.where(self.layer.labels[box] == self.value, conf, 1.0 - conf)


def _fill_models_menu(ctl: ProposalController, menu: QMenu) -> None:
    menu.clear()
    try:
        specs = ctl.models()
    except Exception as exc:  # noqa: BLE001 - a broken registry must not break the menu
        menu.addAction(f"(models unavailable: {exc})").setEnabled(False)
        return
    for spec in specs:
        where = " (this workspace)" if isinstance(spec, WorkspaceModel) else ""
        act = menu.addAction(f"{getattr(spec, 'ref', spec.name)} — {spec.task}{where}")
        act.setObjectName(f"propose_{spec.name}")
        act.triggered.connect(lambda _=False, s=spec: ctl.propose(s))


def _fill_segment_menu(ctl: ProposalController, menu: QMenu) -> None:
    menu.clear()
    if ctl.layer is None:
        return
    counts = np.bincount(ctl.layer.labels.reshape(-1), minlength=256)
    for s in ctl.layer.segments:
        act = menu.addAction(f"{s.name} ({int(counts[s.value])} voxels)")
        act.setEnabled(bool(counts[s.value]))
        act.triggered.connect(lambda _=False, v=s.value: ctl.accept("segment", v))


def install_proposals(window) -> ProposalController:
    """Add the Proposals menu, tool bar, summary dock and status-bar progress to ``window``."""
    ctl = ProposalController(window)
    menu = window.menuBar().addMenu("&Proposals")
    menu.setObjectName("proposals_menu")
    ctl.propose_menu = menu.addMenu("&Propose with")
    ctl.propose_menu.setObjectName("propose_with_menu")
    ctl.propose_menu.aboutToShow.connect(lambda: _fill_models_menu(ctl, ctl.propose_menu))
    bar = QToolBar("Proposals", window)
    bar.setObjectName("proposals_toolbar")
    window.addToolBarBreak()  # its own row: behind the Edit bar's overflow nobody finds Accept
    window.addToolBar(bar)

    def action(name, text, shortcut, slot, checkable=False, tip=None):
        act = QAction(text, window)
        act.setObjectName(f"proposal_{name}")
        if shortcut:
            act.setShortcut(QKeySequence(shortcut))
        act.setCheckable(checkable)
        act.triggered.connect(slot)
        if tip:
            act.setToolTip(tip)
        window.addAction(act)  # shortcuts work wherever the focus is in the window
        menu.addAction(act)
        return act

    def default_model():
        specs = ctl.models()
        if specs:
            ctl.propose(specs[0])

    ctl.actions = {
        "propose": action("propose", "Propose (default model)", "Ctrl+Shift+P", default_model),
        "cancel": action("cancel", "Cancel proposal", None, ctl.cancel),
    }
    menu.addSeparator()
    ctl.actions["accept_all"] = action("accept_all", "Accept all", "Ctrl+Return",
                                       lambda: ctl.accept("all"))
    ctl.segment_menu = menu.addMenu("Accept &segment")
    ctl.segment_menu.aboutToShow.connect(lambda: _fill_segment_menu(ctl, ctl.segment_menu))
    ctl.actions["accept_slice"] = action("accept_slice", "Accept current slice", "Shift+Return",
                                         lambda: ctl.accept("slice"),
                                         tip="Accept the proposal on the focused view's slice")
    ctl.actions["reject"] = action("reject", "Reject", "Ctrl+Backspace", ctl.reject)
    menu.addSeparator()
    ctl.low_action = action("low_confidence", f"Show low confidence (< {DEFAULT_LOW_CONFIDENCE:g})",
                            "C", ctl.set_show_low_confidence, checkable=True)
    for name in ("propose", "accept_all", "accept_slice", "reject"):
        bar.addAction(ctl.actions[name])
    bar.addAction(ctl.low_action)

    ctl.panel = SummaryPanel()
    dock = QDockWidget("Proposal", window)
    dock.setObjectName("proposal_dock")
    dock.setWidget(ctl.panel)
    window.addDockWidget(Qt.RightDockWidgetArea, dock)
    ctl.dock = dock
    ctl.progress = QProgressBar()
    ctl.progress.setObjectName("proposal_progress")
    ctl.progress.setMaximumWidth(180)
    ctl.progress.setFormat("proposal %p%")
    ctl.progress.hide()
    ctl.cancel_button = QPushButton("Cancel")
    ctl.cancel_button.setObjectName("proposal_cancel")
    ctl.cancel_button.clicked.connect(ctl.cancel)
    ctl.cancel_button.hide()
    window.statusBar().addPermanentWidget(ctl.progress)
    window.statusBar().addPermanentWidget(ctl.cancel_button)
    for view in window.views:
        view.installEventFilter(ctl)
    loaded = getattr(window, "volume_loaded", None)
    if loaded is not None:
        loaded.connect(ctl._on_volume_loaded)
    # (no window.destroyed hook: a Python slot running in the exit GC made PySide6 abort)
    app = QApplication.instance()
    if app is not None:
        app.aboutToQuit.connect(ctl.close)
    ctl._refresh()
    window.proposals = ctl
    return ctl
