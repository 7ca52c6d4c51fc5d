"""The GUI action "Improve model from approved labels…" on a stand-in main window."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from PySide6.QtCore import Signal
from PySide6.QtWidgets import QMainWindow

from app.gui.improve_model import ImproveModelDialog, install_improve_model
from compliance import modelstore
from modelws_common import PASSWORDS


class StandInWindow(QMainWindow):
    """What install_improve_model needs of MainWindow: ``workspace`` and its signal."""

    workspace_changed = Signal(object)

    def __init__(self):
        super().__init__()
        self.workspace = None

    def attach(self, controller):
        self.workspace = controller
        self.workspace_changed.emit(controller)


class StandInController:
    def __init__(self, session, path):
        self.session, self.path = session, path


@pytest.fixture
def window(qtbot):
    w = StandInWindow()
    qtbot.addWidget(w)
    return w


def test_installing_the_action_imports_neither_torch_nor_monai():
    code = ("import sys; from PySide6.QtWidgets import QApplication, QMainWindow; "
            "app = QApplication([]); w = QMainWindow(); w.workspace = None; "
            "import app.gui.improve_model as m; m.install_improve_model(w); "
            "print(sorted(n for n in ('torch', 'monai') if n in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env={**os.environ, "QT_QPA_PLATFORM": "offscreen"}, check=True)
    assert out.stdout.strip() == "[]", out.stderr


def test_the_action_follows_the_workspace_and_the_role(window, approved_ws):
    ws, _ = approved_ws
    action = install_improve_model(window)
    menus = [a.text() for a in window.menuBar().actions()]
    assert "&Models" in menus and action in window.models_menu.actions()
    assert not action.isEnabled()  # no workspace yet
    with ws.login("admin", PASSWORDS["admin"]) as admin:
        window.attach(StandInController(admin, ws.root))
        assert not action.isEnabled() and "may not train" in action.toolTip()
    with ws.login("ann", PASSWORDS["ann"]) as ann:
        window.attach(StandInController(ann, ws.root))
        assert action.isEnabled()
    window.attach(None)
    assert not action.isEnabled()


def test_the_dialog_trains_registers_and_shows_the_validation_dice(window, approved_ws,
                                                                   qtbot):
    ws, ids = approved_ws
    install_improve_model(window)
    with ws.login("rev", PASSWORDS["rev"]) as rev:
        window.attach(StandInController(rev, ws.root))
        before = {r["model_version_id"] for r in modelstore.list_versions(rev)}
        window.improve_model_action.trigger()
        dialog = window.improve_model_dialog
        assert isinstance(dialog, ImproveModelDialog)
        assert dialog.base.currentData() == "brainmask-unet"
        dialog.steps.setValue(2)
        dialog.holdout.setValue(0.34)
        dialog.name.setText("gui-brain")
        dialog.start_button.click()
        assert dialog.cancel_button.isEnabled() and not dialog.start_button.isEnabled()
        qtbot.waitUntil(lambda: dialog.record is not None or "failed" in dialog.status.text(),
                        timeout=600_000)
        assert dialog.record is not None, dialog.status.text()
        record = dialog.record
        assert (record["name"], record["version"]) == ("gui-brain", "1")
        assert f"{record['mean_validation_dice']:.4f}" in dialog.result.text()
        assert record["weights_sha256"] in dialog.result.text()
        parent = record["mean_parent_validation_dice"]
        assert f"parent on the same 1 held-out case(s): {parent:.4f}" in dialog.result.text()
        assert dialog.progress.value() == dialog.progress.maximum()
        after = {r["model_version_id"] for r in modelstore.list_versions(rev)}
        assert after - before == {record["model_version_id"]}
        dialog.grab().save("/tmp/improve_model_dialog.png")
        dialog.close()


def test_cancel_in_the_dialog_registers_nothing(window, approved_ws, qtbot):
    ws, _ = approved_ws
    install_improve_model(window)
    with ws.login("rev", PASSWORDS["rev"]) as rev:
        window.attach(StandInController(rev, ws.root))
        before = len(modelstore.list_versions(rev))
        window.improve_model_action.trigger()
        dialog = window.improve_model_dialog
        dialog.steps.setValue(5000)
        dialog.start_button.click()
        qtbot.waitUntil(lambda: dialog.progress.maximum() == 5000, timeout=600_000)
        dialog.cancel_button.click()
        qtbot.waitUntil(lambda: not dialog.job.running, timeout=60_000)
        assert dialog.status.text() == "Cancelled; nothing registered."
        assert dialog.job.wait(10) and dialog.record is None
        assert len(modelstore.list_versions(rev)) == before
        assert dialog.start_button.isEnabled()


def test_a_session_locked_during_training_keeps_the_result_until_register(window, approved_ws,
                                                                          qtbot, monkeypatch):
    import app.workspace_models as wm

    ws, _ = approved_ws
    real = wm.fine_tune_plan
    install_improve_model(window)
    with ws.login("rev", PASSWORDS["rev"]) as rev:

        def fine_tune_plan(*args, **kwargs):
            result = real(*args, **kwargs)
            rev.lock(reason="idle")  # the window's idle timer, during a long run
            return result

        monkeypatch.setattr(wm, "fine_tune_plan", fine_tune_plan)
        window.attach(StandInController(rev, ws.root))
        window.improve_model_action.trigger()
        dialog = window.improve_model_dialog
        dialog.steps.setValue(1)
        dialog.holdout.setValue(0.0)
        dialog.name.setText("locked-run")
        dialog.start_button.click()
        qtbot.waitUntil(lambda: dialog.job is not None and not dialog.job.running,
                        timeout=600_000)
        assert dialog.record is None and dialog.pending is not None
        assert dialog.register_button.isVisible() and "locked" in dialog.status.text()
        rev.unlock(PASSWORDS["rev"])
        dialog.register_button.click()
        assert dialog.record is not None and dialog.record["name"] == "locked-run"
        assert not dialog.register_button.isVisible()
        dialog.close()
