"""Starting the workspace mode: open or create a workspace, log in, the menu actions."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QFileDialog, QMessageBox

from app.settings import SettingsError, site_security_policy
from compliance.errors import ComplianceError


def window_logged_in(root, user: str, password: str, settings_path,
                     size=(1500, 800)) -> tuple:
    """A shown main window (every feature installed) attached to the workspace at ``root``
    as ``user``, without the login dialog: for scripts (screenshots, soak runs).

    Returns ``(window, controller)``; the caller detaches the workspace when done.
    """
    from PySide6.QtCore import QSettings

    from app.gui.application import build_window
    from app.gui.workspace import WorkspaceController
    from compliance.workspace import Workspace

    ws = Workspace.open(Path(root))
    window = build_window(None, settings=QSettings(str(settings_path), QSettings.IniFormat))
    window.resize(*size)
    window.show()
    controller = WorkspaceController(window, ws.login(user, password), ws.root)
    window.attach_workspace(controller)
    return window, controller


def open_workspace_interactive(window, path, kdf=None) -> "WorkspaceController | None":
    """Open (or, for a new/empty folder, create) the workspace at ``path``, ask for a login
    and attach the controller to ``window``. None when cancelled or refused.

    ``kdf`` (tests only) makes a newly created workspace cheap to log in to.
    """
    from app.gui.workspace import WorkspaceController
    from app.gui.workspace_dialogs import CreateWorkspaceDialog, LoginDialog
    from compliance.workspace import Workspace

    path = Path(path)
    user = ""
    if not (path / "workspace.json").exists():
        if path.exists() and (not path.is_dir() or any(path.iterdir())):
            QMessageBox.critical(window, "Cannot open workspace",
                                 f"{path}: not an annotrace workspace (no workspace.json) and "
                                 "not empty")
            return None
        create = CreateWorkspaceDialog(path, window, kdf=kdf)
        if not create.exec() or create.workspace is None:
            return None
        ws, user = create.workspace, create.admin.text().strip().lower()
    else:
        try:
            ws = Workspace.open(path, site_policy=site_security_policy())
        except (ComplianceError, SettingsError) as exc:
            QMessageBox.critical(window, "Cannot open workspace", str(exc))
            return None
    login = LoginDialog(ws, window, user=user)
    if not login.exec() or login.session is None:
        return None
    controller = WorkspaceController(window, login.session, path)
    window.attach_workspace(controller)
    controller.session_changed.emit(controller)
    return controller


def install_workspace_actions(window) -> dict:
    """File > Open workspace… / Save version and the Workspace menu of ``window``.

    The actions act on ``window.workspace`` and are enabled only while one is attached.
    """
    def ws_call(name):
        def call(*_):
            controller = window.workspace
            if controller is not None:
                getattr(controller, name)()
        return call

    def open_dialog(*_):
        folder = QFileDialog.getExistingDirectory(window, "Open or create a workspace")
        if folder:
            if window.workspace is not None and not window.workspace.confirm_leave():
                return
            open_workspace_interactive(window, folder)

    def make(menu, text, slot, shortcut=None, needs_ws=True):
        action = QAction(text, window)
        if shortcut:
            action.setShortcut(QKeySequence(shortcut))
        action.triggered.connect(slot)
        menu.addAction(action)
        action.setEnabled(not needs_ws)
        return action

    file_menu, ws_menu = window.file_menu, window.workspace_menu
    first = file_menu.actions()[0] if file_menu.actions() else None
    actions = {"open_workspace": make(file_menu, "Open &workspace…", open_dialog, None, False),
               "save": make(file_menu, "&Save version", ws_call("save"), QKeySequence.Save)}
    if first is not None:  # keep Open workspace / Save next to the other opening entries
        for action in actions.values():
            file_menu.removeAction(action)
        file_menu.insertActions(window.quit_action, list(actions.values()))
        file_menu.insertSeparator(window.quit_action)
    actions.update({
        "refresh": make(ws_menu, "&Refresh worklist", ws_call("refresh_worklist"), "F5"),
        "submit": make(ws_menu, "&Submit for review", ws_call("submit")),
        "approve": make(ws_menu, "&Approve…", ws_call("approve")),
        "request_changes": make(ws_menu, "Request &changes…", ws_call("request_changes")),
    })
    ws_menu.addSeparator()
    actions["lock"] = make(ws_menu, "&Lock now", ws_call("lock_now"), "Ctrl+L")
    actions["logout"] = make(ws_menu, "Log &out", ws_call("logout"))
    ws_menu.addSeparator()

    # The entries a role may not use are greyed out rather than refused after a click; the
    # controller still refuses (and audits) them if reached another way.
    needs = {"save": "label.save", "submit": "review.submit", "approve": "review.approve",
             "request_changes": "review.request_changes"}

    def follow(controller):
        for name, action in actions.items():
            if name != "open_workspace":
                action.setEnabled(controller is not None and (
                    name not in needs or controller.may(needs[name])))

    window.workspace_changed.connect(follow)
    return actions
