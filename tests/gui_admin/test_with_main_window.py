"""The admin features on the real MainWindow and WorkspaceController: an administrator opens
a case from the worklist only under emergency access, and the banner follows the grant."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtWidgets import QDialogButtonBox, QMessageBox

REASON = "trauma call, on-call reader unreachable"


@pytest.fixture
def window(qtbot, tmp_path, monkeypatch):
    from PySide6.QtCore import QSettings

    from app.gui.admin_dialogs import install_admin
    from app.gui.mainwindow import MainWindow, install_editor

    # Never read the machine's own site/user settings (auto-lock, autosave interval).
    monkeypatch.setenv("ANNOTRACE_SITE_CONFIG", str(tmp_path / "no-site.toml"))
    monkeypatch.setenv("ANNOTRACE_USER_CONFIG", str(tmp_path / "no-user.toml"))
    shown = []
    monkeypatch.setattr(QMessageBox, "warning",
                        staticmethod(lambda parent, title, text, *a, **k: shown.append(text)))
    w = MainWindow(QSettings(str(tmp_path / "s.ini"), QSettings.IniFormat))
    qtbot.addWidget(w)
    install_editor(w)
    install_admin(w)
    w.shown_messages = shown
    w.show()
    yield w
    if w.workspace is not None:
        w.workspace.dirty = False
        w.detach_workspace()


def test_admin_opens_a_case_only_under_emergency_access(window, ws, login, case_id, pw, clock):
    from app.gui.workspace import WorkspaceController

    actions = window.admin_actions
    assert not actions.users_action.isEnabled()
    admin = login("admin", clock=clock)
    controller = WorkspaceController(window, admin, ws.root)
    window.attach_workspace(controller)
    assert actions.users_action.isEnabled() and actions.emergency_action.isEnabled()
    assert not controller.open_case(case_id)
    assert window.shown_messages == ["user 'admin' (role admin) may not case.open"]
    actions.emergency_action.trigger()
    dialog = actions.emergency_dialog
    dialog.reason.setPlainText(REASON)
    dialog.minutes.setValue(3)
    dialog.password.setText(pw["admin"])
    dialog.findChild(QDialogButtonBox).button(QDialogButtonBox.Ok).click()
    assert actions.banner.isVisible()
    assert controller.open_case(case_id)
    assert window.volume is not None and window.volume.shape == (4, 5, 6)
    assert np.array_equal(np.asarray(window.volume.array),
                          np.arange(120, dtype=np.int16).reshape(4, 5, 6))
    clock.t += 3 * 60
    actions.timer.timeout.emit()
    assert not actions.banner.isVisible() and actions.emergency_action.isEnabled()
    # the image read under the grant leaves the screen with it
    assert window.volume is None and controller.case_id is None
    entries = ws.login("aud", pw["aud"]).read_audit(user="admin")
    start = next(e for e in entries if e["action"] == "emergency.start")
    flagged = [e["action"] for e in entries if e["details"].get("emergency") == start["seq"]]
    # the worklist reloaded when the grant began, then the case and its (missing) labels
    assert flagged[:2] == ["case.list", "case.open"] and flagged[-1] == "emergency.end"
    assert "access.denied" not in flagged
