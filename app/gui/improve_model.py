"""Models > "Improve model from approved labels…": fine-tune a micro-model in the window.

The dialog chooses the base model (a built-in brainmask-unet-type model or a version
already fine-tuned in the workspace), the training steps and the held-out fraction, then
runs :func:`app.workspace_models.prepare` and :func:`~app.workspace_models.fine_tune_plan`
on a plain ``threading.Thread``; progress and the result come back through a
``queue.Queue`` drained by a QTimer on the GUI thread (PySide6 6.12 aborts when a QThread
emits ``Signal(object)`` while Python threads run; see :mod:`app.gui.loader`). Cancel
stops training at the next step; nothing is registered. The new version is registered on
the GUI thread once training ends (a quick encrypted write); if the session locked
meanwhile, the result is kept and "Register" retries after the unlock.

torch and MONAI are imported when training starts, never at window start.
"""

from __future__ import annotations

import queue
import threading

from PySide6.QtCore import QObject, Qt, QTimer, Signal
from PySide6.QtGui import QAction
from PySide6.QtWidgets import (QComboBox, QDialog, QDialogButtonBox, QDoubleSpinBox,
                               QFormLayout, QLabel, QLineEdit, QProgressBar, QPushButton,
                               QSpinBox, QVBoxLayout)

from app.gui.worker_queue import drain_events
from compliance import roles

POLL_MS = 50
TITLE = "Improve model from approved labels…"
#: imported on the GUI thread before the worker starts (the worker must not race the GUI
#: thread through PySide's import hook; see app.gui.loader)
TRAINING_MODULES = ("torch", "monai.transforms", "monai.losses", "monai.networks.nets",
                    "monai.inferers", "monai.utils", "models.finetune", "models.brainmask_unet",
                    "models.train_brainmask", "models.training", "models.postprocess",
                    "app.workspace_models")


def preload_training_modules() -> None:
    import importlib

    for name in TRAINING_MODULES:
        importlib.import_module(name)


class TrainingJob(QObject):
    """One fine-tuning run on a worker thread.

    Emits on the GUI thread: ``progressed(done, total, stage)``, ``logged(line)``, then one
    of ``finished(plan, result)``, ``failed(exception)``, ``cancelled()``.
    """

    progressed = Signal(int, int, str)
    logged = Signal(str)
    finished = Signal(object, object)
    failed = Signal(object)
    cancelled = Signal()

    def __init__(self, session, parent_ref: str, steps: int, holdout: float, seed: int = 0,
                 name: str | None = None, parent=None):
        super().__init__(parent)
        self.session, self.parent_ref, self.name = session, parent_ref, name
        self.steps, self.holdout, self.seed = steps, holdout, seed
        self._queue: queue.Queue = queue.Queue()
        self._cancel = threading.Event()
        self._thread = threading.Thread(target=self._run, name="annotrace-train", daemon=True)
        self._timer = QTimer(self)
        self._timer.setInterval(POLL_MS)
        self._timer.timeout.connect(self._drain)
        self.running = False

    def start(self) -> None:
        preload_training_modules()
        self.running = True
        self._thread.start()
        self._timer.start()

    def cancel(self) -> None:
        self._cancel.set()

    def wait(self, seconds: float = 60.0) -> bool:
        """Join the worker thread (tests); True when it has ended."""
        self._thread.join(seconds)
        return not self._thread.is_alive()

    # -- worker thread ----------------------------------------------------------------------
    def _report(self, stage_name):
        def report(done, total, stage):
            if self._cancel.is_set():
                from models.errors import Cancelled

                raise Cancelled("cancelled by the user")
            self._queue.put(("progress", (int(done), int(total), stage_name or stage)))

        return report

    def _run(self) -> None:
        from app.workspace_models import fine_tune_plan, prepare
        from models.errors import Cancelled

        log = lambda line: self._queue.put(("log", line))  # noqa: E731
        try:
            plan = prepare(self.session, self.parent_ref, self.name, log)
            self._report("training")(0, self.steps, "training")
            result = fine_tune_plan(plan, self.steps, self.holdout, self.seed,
                                    progress=self._report("training"),
                                    validation_progress=self._report("validation"), log=log)
            if self._cancel.is_set():
                raise Cancelled("cancelled by the user")
        except Cancelled:
            self._queue.put(("cancelled", None))
        except Exception as exc:  # noqa: BLE001 - every failure goes to the dialog
            self._queue.put(("failed", exc))
        else:
            self._queue.put(("finished", (plan, result)))

    # -- GUI thread -------------------------------------------------------------------------
    def _on_log(self, kind, payload) -> bool:
        if kind == "log":
            self.logged.emit(payload)
            return True
        return False

    def _drain(self) -> None:
        latest, final = drain_events(self._queue, self._on_log)
        if latest is not None:
            self.progressed.emit(*latest)
        if final is None:
            return
        kind, payload = final
        self._timer.stop()
        self.running = False
        if kind == "finished":
            self.finished.emit(*payload)
        elif kind == "failed":
            self.failed.emit(payload)
        else:
            self.cancelled.emit()


def _base_models(session) -> list[tuple[str, str]]:
    """(label, reference) of the models that can be fine-tuned here."""
    from compliance import modelstore
    from models.registry import builtin_models

    out = [(f"{s.name} (built-in)", s.name) for s in builtin_models()
           if s.runner == "models.brainmask_unet:load"]
    for r in modelstore.list_versions(session):
        dice = r.get("mean_validation_dice")
        out.append((f"{r['name']}@{r['version']} (workspace, validation Dice "
                    f"{'-' if dice is None else f'{dice:.3f}'})", f"{r['name']}@{r['version']}"))
    return out


class ImproveModelDialog(QDialog):
    """Choose base model, steps and hold-out; run, watch, cancel; register the result."""

    def __init__(self, window, controller):
        super().__init__(window)
        self.setWindowTitle("Improve model from approved labels")
        self.controller = controller
        self.session = controller.session
        self.job: TrainingJob | None = None
        self.pending = None  # (plan, result) not registered yet (session locked)
        self.record: dict | None = None
        self.base = QComboBox()
        for label, ref in _base_models(self.session):
            self.base.addItem(label, ref)
        self.steps = QSpinBox()
        self.steps.setRange(1, 20000)
        self.steps.setValue(200)
        self.holdout = QDoubleSpinBox()
        self.holdout.setRange(0.0, 0.9)
        self.holdout.setSingleStep(0.05)
        self.holdout.setValue(0.2)
        self.name = QLineEdit()
        self.name.setPlaceholderText("default: the base's workspace name, or <built-in>-local")
        form = QFormLayout()
        form.addRow("Base model", self.base)
        form.addRow("Training steps", self.steps)
        form.addRow("Held out for validation", self.holdout)
        form.addRow("New model name", self.name)
        self.progress = QProgressBar()
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.status = QLabel("Uses the approved version of every approved case.")
        self.status.setWordWrap(True)
        self.result = QLabel("")
        self.result.setWordWrap(True)
        self.result.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        buttons = QDialogButtonBox()
        self.start_button = QPushButton("Start")
        self.cancel_button = QPushButton("Cancel")
        self.register_button = QPushButton("Register")
        self.close_button = QPushButton("Close")
        for b, role in ((self.start_button, QDialogButtonBox.AcceptRole),
                        (self.register_button, QDialogButtonBox.ApplyRole),
                        (self.cancel_button, QDialogButtonBox.RejectRole),
                        (self.close_button, QDialogButtonBox.DestructiveRole)):
            buttons.addButton(b, role)
        self.cancel_button.setEnabled(False)
        self.register_button.setVisible(False)
        self.start_button.clicked.connect(self.start)
        self.cancel_button.clicked.connect(self.cancel)
        self.register_button.clicked.connect(self.register)
        self.close_button.clicked.connect(self.close)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.progress)
        layout.addWidget(self.status)
        layout.addWidget(self.result)
        layout.addWidget(buttons)
        if self.base.count() == 0:
            self.start_button.setEnabled(False)
            self.status.setText("No model that can be fine-tuned is installed.")

    # -- actions --------------------------------------------------------------------------
    def start(self) -> None:
        if self.job is not None and self.job.running:
            return
        self.pending, self.record = None, None
        self.result.setText("")
        self.status.setText("Loading PyTorch and the approved cases…")
        self.progress.setRange(0, 0)  # busy until the first step
        self._set_running(True)
        self.job = TrainingJob(self.session, self.base.currentData(), self.steps.value(),
                               self.holdout.value(), name=self.name.text().strip() or None,
                               parent=self)
        self.job.progressed.connect(self._on_progress)
        self.job.logged.connect(self.status.setText)
        self.job.finished.connect(self._on_finished)
        self.job.failed.connect(self._on_failed)
        self.job.cancelled.connect(self._on_cancelled)
        self.job.start()

    def cancel(self) -> None:
        if self.job is not None and self.job.running:
            self.job.cancel()
            self.status.setText("Cancelling at the next step…")
            self.cancel_button.setEnabled(False)

    def register(self) -> None:
        """Register the finished result (on the GUI thread); keep it if the session is
        locked so that Register can retry after the unlock."""
        from app.workspace_models import parent_comparison, register_result
        from compliance.errors import ComplianceError, SessionLocked

        plan, result = self.pending
        try:
            self.record = register_result(self.session, plan, result, self.holdout.value(),
                                          seed=0)
        except SessionLocked:
            self.register_button.setVisible(True)
            self.status.setText("The session is locked: unlock it, then press Register "
                                "(the trained weights are kept in memory until then).")
            show = getattr(self.controller, "show_lock", None)
            if show is not None and self.session.locked:
                show()
            return
        except ComplianceError as exc:
            self.register_button.setVisible(True)
            self.status.setText(f"Not registered: {exc}")
            return
        self.pending = None
        self.register_button.setVisible(False)
        proposals = getattr(self.parent(), "proposals", None)
        if proposals is not None and hasattr(proposals, "forget_models"):
            proposals.forget_models()  # the new version appears in the Propose menu at once
        r = self.record
        dice = r["mean_validation_dice"]
        per_case = ", ".join(f"{c}: {d:.4f}" for c, d in r["validation_dice"].items())
        self.status.setText(f"Registered {r['name']}@{r['version']} in the workspace.")
        self.result.setText(
            f"Validation Dice {'-' if dice is None else f'{dice:.4f}'}"
            + (f" ({per_case})" if per_case else " (no case held out)")
            + (f"\n{comparison}" if (comparison := parent_comparison(r)) else "")
            + f"\nTrained on {len(r['training_cases'])} case(s) from {r['parent']['model_id']}"
            + f"\nWeights SHA-256 {r['weights_sha256']}")

    # -- job events -----------------------------------------------------------------------
    def _set_running(self, running: bool) -> None:
        for w in (self.start_button, self.base, self.steps, self.holdout, self.name,
                  self.close_button):
            w.setEnabled(not running)
        self.cancel_button.setEnabled(running)

    def _on_progress(self, done: int, total: int, stage: str) -> None:
        self.progress.setRange(0, max(total, 1))
        self.progress.setValue(done)
        self.status.setText(f"{stage}: {done}/{total}"
                            + (" steps" if stage == "training" else " window batches"))

    def _on_finished(self, plan, result) -> None:
        self._set_running(False)
        self.pending = (plan, result)
        self.register()

    def _on_failed(self, exc) -> None:
        self._set_running(False)
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.status.setText(f"Training failed: {exc}")

    def _on_cancelled(self) -> None:
        self._set_running(False)
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.status.setText("Cancelled; nothing registered.")

    def reject(self) -> None:  # Escape / window close: stop a running job first
        self.cancel()
        super().reject()

    def closeEvent(self, event) -> None:  # noqa: N802 - Qt API
        self.cancel()
        super().closeEvent(event)


def _models_menu(window):
    """The window's Models menu (shared with other features; created when missing)."""
    menu = getattr(window, "models_menu", None)
    if menu is not None:
        return menu
    for action in window.menuBar().actions():
        if action.menu() is not None and action.text().replace("&", "") == "Models":
            window.models_menu = action.menu()
            return window.models_menu
    window.models_menu = window.menuBar().addMenu("&Models")
    return window.models_menu


def _allowed(window) -> tuple[bool, str]:
    ctl = getattr(window, "workspace", None)
    if ctl is None:
        return False, "Open a workspace first."
    session = ctl.session
    if session.closed or session.locked:
        return False, "The session is locked."
    if not roles.allowed(session.role, "model.train"):
        return False, f"Your role ({session.role}) may not train models."
    return True, "Fine-tune a model on this workspace's approved annotations."


def install_improve_model(window) -> QAction:
    """Add Models > "Improve model from approved labels…" to ``window``.

    Enabled when ``window.workspace`` is set and its role has ``model.train``; follows
    ``window.workspace_changed`` (and the controller's ``session_changed``) when present.
    """
    action = QAction(TITLE, window)
    _models_menu(window).addAction(action)
    window.improve_model_action = action

    def update(*_):
        ok, why = _allowed(window)
        action.setEnabled(ok)
        action.setToolTip(why)
        action.setStatusTip(why)

    def on_workspace(controller):
        event = getattr(controller, "session_changed", None)
        if event is not None:
            event.connect(update)
        update()

    def trigger():
        ok, why = _allowed(window)
        if not ok:
            update()
            return
        window.improve_model_dialog = dialog = ImproveModelDialog(window, window.workspace)
        dialog.show()

    action.triggered.connect(trigger)
    signal = getattr(window, "workspace_changed", None)
    if signal is not None:
        signal.connect(on_workspace)
    if getattr(window, "workspace", None) is not None:
        on_workspace(window.workspace)
    update()
    return action
