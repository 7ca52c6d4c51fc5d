"""install_admin: menu, role-dependent actions, emergency dialog and banner."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Signal
from PySide6.QtWidgets import QDialogButtonBox, QMainWindow, QMenu

from app.gui.admin_dialogs import install_admin
from app.gui.admin_emergency import EmergencyDialog

REASON = "stroke alert, on-call reader unreachable"


class Controller:
    """The part of app.gui.workspace.WorkspaceController the admin actions use."""

    def __init__(self, session):
        self.session = session
        self.worklist_refreshes = 0

    def refresh_worklist(self):
        self.worklist_refreshes += 1


class Window(QMainWindow):
    """A stand-in for MainWindow: ``workspace`` and ``workspace_changed``."""

    workspace_changed = Signal(object)

    def __init__(self):
        super().__init__()
        self.workspace = None

    def attach(self, session):
        self.workspace = Controller(session) if session is not None else None
        self.workspace_changed.emit(self.workspace)


def _enabled(actions):
    return {name: getattr(actions, f"{name}_action").isEnabled()
            for name in ("users", "audit", "emergency", "end")}


def _window(qtbot):
    window = Window()
    qtbot.addWidget(window)
    return window


def test_actions_follow_the_role_of_the_attached_session(qtbot, login):
    window = _window(qtbot)
    existing = window.menuBar().addMenu("&Workspace")
    existing.setObjectName("workspace_menu")
    actions = install_admin(window)
    assert actions.menu.menuAction() in existing.actions()
    assert len(window.findChildren(QMenu, "workspace_menu")) == 1  # no second Workspace menu
    assert _enabled(actions) == dict(users=False, audit=False, emergency=False, end=False)
    expected = {
        "admin": dict(users=True, audit=True, emergency=True, end=False),
        "aud": dict(users=False, audit=True, emergency=False, end=False),
        "ann": dict(users=False, audit=False, emergency=True, end=False),
        "rev": dict(users=False, audit=False, emergency=True, end=False),
    }
    for name, enabled in expected.items():
        window.attach(login(name))
        assert _enabled(actions) == enabled, name
    window.attach(None)
    assert not any(_enabled(actions).values())


def test_menu_created_when_the_window_has_none(qtbot, login):
    window = _window(qtbot)
    window.workspace = Controller(login("aud"))
    actions = install_admin(window)
    menus = window.findChildren(QMenu, "workspace_menu")
    assert len(menus) == 1 and menus[0].title() == "&Workspace"
    assert actions.audit_action.isEnabled() and not actions.users_action.isEnabled()
    actions.audit_action.trigger()
    assert actions.audit_dialog.isVisible() and actions.audit_dialog.table.rowCount() > 0


def test_emergency_dialog_banner_flagged_records_and_expiry(qtbot, ws, login, case_id, pw,
                                                           clock):
    window = _window(qtbot)
    actions = install_admin(window)
    admin = login("admin", clock=clock)
    window.attach(admin)
    window.show()
    actions.emergency_action.trigger()
    dialog = actions.emergency_dialog
    assert isinstance(dialog, EmergencyDialog) and dialog.isVisible()
    ok = dialog.findChild(QDialogButtonBox).button(QDialogButtonBox.Ok)
    dialog.reason.setPlainText("urgent")
    dialog.password.setText(pw["admin"])
    ok.click()
    assert dialog.isVisible() and "at least 10 characters" in dialog.error.text()
    assert dialog.password.text() == ""  # cleared after every attempt
    dialog.reason.setPlainText(REASON)
    dialog.minutes.setValue(5)
    dialog.password.setText("not my password")
    ok.click()
    assert dialog.error.text() == "wrong user name or password"
    dialog.password.setText(pw["admin"])
    ok.click()
    assert not dialog.isVisible() and dialog.grant is not None
    assert actions.banner.isVisible()
    assert actions.banner_label.text().startswith("EMERGENCY ACCESS until ")
    assert _enabled(actions) == dict(users=True, audit=True, emergency=False, end=True)
    image = admin.open_case(case_id).array  # an admin, reading a case under the grant
    assert np.array_equal(image, np.arange(120, dtype=np.int16).reshape(4, 5, 6))
    clock.t += 5 * 60
    actions.refresh()  # what the banner's timer does
    assert not actions.banner.isVisible() and not actions.end_action.isEnabled()
    entries = ws.login("aud", pw["aud"]).read_audit(user="admin")
    start = next(e for e in entries if e["action"] == "emergency.start")
    assert start["details"]["reason"] == REASON and start["details"]["minutes"] == 5
    flagged = [(e["action"], e["details"].get("ended")) for e in entries
               if e["details"].get("emergency") == start["seq"]]
    assert flagged == [("case.open", None), ("emergency.end", "expired")]


def test_end_emergency_from_the_banner(qtbot, ws, login, pw):
    window = _window(qtbot)
    actions = install_admin(window)
    rev = login("rev")
    window.attach(rev)
    window.show()
    seen = []
    actions.emergency_changed.connect(seen.append)
    grant = rev.start_emergency(REASON, 10, pw["rev"])
    actions.refresh()
    actions.refresh()
    assert actions.banner.isVisible() and grant.reason in actions.banner_label.toolTip()
    assert seen == [grant] and window.workspace.worklist_refreshes == 1
    actions.banner_end.click()
    assert not actions.banner.isVisible() and rev.emergency is None
    assert seen == [grant, None] and window.workspace.worklist_refreshes == 2
    assert actions.emergency_action.isEnabled()
    ends = [e for e in ws.login("aud", pw["aud"]).read_audit(user="rev")
            if e["action"] == "emergency.end"]
    assert [(e["details"]["ended"], e["details"]["emergency"]) for e in ends] == [
        ("user", grant.seq)]


def test_install_on_the_real_main_window_without_a_workspace(qtbot):
    from app.gui.mainwindow import MainWindow

    window = MainWindow()
    qtbot.addWidget(window)
    actions = install_admin(window)
    assert window.admin_actions is actions
    assert not any(_enabled(actions).values())
    titles = [a.text() for a in window.menuBar().actions()]
    assert titles.count("&Workspace") == 1  # MainWindow's own Workspace menu is used
    assert actions.menu.menuAction() in window.workspace_menu.actions()


def test_lock_hides_the_banner_and_unlock_brings_it_back(qtbot, ws, login, pw):
    window = _window(qtbot)
    actions = install_admin(window)
    admin = login("admin")
    window.attach(admin)
    window.show()
    seen = []
    actions.emergency_changed.connect(seen.append)
    grant = admin.start_emergency(REASON, 10, pw["admin"])
    actions.refresh()
    admin.lock()
    actions.timer.timeout.emit()  # the periodic check while the lock screen is up
    assert not actions.banner.isVisible() and not any(_enabled(actions).values())
    admin.unlock(pw["admin"])
    actions.timer.timeout.emit()
    assert actions.banner.isVisible() and actions.end_action.isEnabled()
    assert seen == [grant]  # the lock did not end the grant
    window.attach(None)
    assert not actions.banner.isVisible() and not actions.timer.isActive()
