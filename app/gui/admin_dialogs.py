"""Workspace → Administration: users, audit trail, emergency (break-glass) access.

``install_admin(window)`` adds the submenu and a red banner that shows while an emergency
grant is active. The actions follow the logged-in role (``compliance.roles``): "Users…"
for admins, "Audit trail…" for auditors and admins, "Emergency access…" for roles that may
declare one; all are disabled while ``window.workspace`` is None. The window's
``workspace_changed`` signal (and the controller's ``session_changed`` event) keep them
current. The dialogs themselves are in :mod:`app.gui.admin_users`,
:mod:`app.gui.admin_audit` and :mod:`app.gui.admin_emergency`.
"""

from __future__ import annotations

from PySide6.QtCore import QObject, Qt, QTimer, Signal
from PySide6.QtWidgets import QLabel, QMenu, QPushButton, QToolBar

from app.gui.admin_audit import AuditViewer
from app.gui.admin_emergency import EmergencyDialog, local_hhmm
from app.gui.admin_users import UserAdminDialog
from compliance import roles
from compliance.errors import ComplianceError

__all__ = ["AdminActions", "AuditViewer", "EmergencyDialog", "UserAdminDialog",
           "install_admin"]

MENU_NAME = "workspace_menu"
BANNER_STYLE = ("QLabel { background: #c62828; color: white; font-weight: bold; "
                "padding: 4px 10px; }")
#: how often the banner checks the grant's time limit (the expiry is audited then)
CHECK_MS = 5000


def workspace_menu(window) -> QMenu:
    """The window's Workspace menu (found by object name, else created)."""
    menu = window.findChild(QMenu, MENU_NAME)
    if menu is None:
        menu = window.menuBar().addMenu("&Workspace")
        menu.setObjectName(MENU_NAME)
    return menu


class AdminActions(QObject):
    """The Administration submenu, the emergency banner, and their enabled states.

    ``emergency_changed`` is emitted with the new grant (or None) when a grant starts or
    ends; the workspace controller's worklist is refreshed then too (what may be opened
    has changed).
    """

    emergency_changed = Signal(object)

    def __init__(self, window) -> None:
        super().__init__(window)
        self.window = window
        self._controller = None
        self._grant = None
        self.menu = workspace_menu(window).addMenu("&Administration")
        self.menu.setObjectName("admin_menu")
        self.users_action = self.menu.addAction("&Users…", self.open_users)
        self.audit_action = self.menu.addAction("&Audit trail…", self.open_audit)
        self.menu.addSeparator()
        self.emergency_action = self.menu.addAction("&Emergency access…", self.open_emergency)
        self.end_action = self.menu.addAction("E&nd emergency access", self.end_emergency)
        self.users_dialog = self.audit_dialog = self.emergency_dialog = None
        # A banner across the top: nobody should work in an emergency session unaware.
        self.banner = QToolBar("Emergency access", window)
        self.banner.setObjectName("emergency_banner")
        self.banner.setMovable(False)
        self.banner.setFloatable(False)
        self.banner.toggleViewAction().setVisible(False)  # cannot be hidden from the menu
        self.banner.setStyleSheet("QToolBar { background: #c62828; border: none; }")
        self.banner_label = QLabel("")
        self.banner_label.setStyleSheet(BANNER_STYLE)
        self.banner.addWidget(self.banner_label)
        self.banner_end = QPushButton("End emergency access")
        self.banner_end.clicked.connect(self.end_emergency)
        self.banner.addWidget(self.banner_end)
        # On a row of its own above the other tool bars, where it cannot be squeezed into an
        # overflow menu by the editing tools.
        others = [b for b in window.findChildren(QToolBar)
                  if b is not self.banner and window.toolBarArea(b) == Qt.TopToolBarArea]
        if others:
            window.insertToolBar(others[0], self.banner)
            window.insertToolBarBreak(others[0])
        else:
            window.addToolBar(Qt.TopToolBarArea, self.banner)
            window.addToolBarBreak(Qt.TopToolBarArea)
        self.banner.hide()
        self.timer = QTimer(self)
        self.timer.setInterval(CHECK_MS)
        self.timer.timeout.connect(self.refresh)
        signal = getattr(window, "workspace_changed", None)
        if signal is not None:
            signal.connect(self._on_workspace)
        self._on_workspace(getattr(window, "workspace", None))

    # -- state ---------------------------------------------------------------------------
    @property
    def session(self):
        controller = getattr(self.window, "workspace", None)
        return getattr(controller, "session", None) if controller is not None else None

    def _on_workspace(self, controller) -> None:
        event = getattr(self._controller, "session_changed", None)
        if event is not None:
            event.disconnect(self._on_session)
        self._controller = controller
        event = getattr(controller, "session_changed", None)
        if event is not None:
            event.connect(self._on_session)
        self.refresh()

    def _on_session(self, *_) -> None:
        self.refresh()

    def refresh(self) -> None:
        """Enable the actions for the current role; show or hide the emergency banner
        (recording the end of a grant whose time is up)."""
        session = self.session
        role = getattr(session, "role", None) if session is not None else None
        attached = session is not None and not getattr(session, "closed", False)
        # A locked session shows the lock screen: nothing here until it is unlocked.
        usable = attached and not getattr(session, "locked", False)
        grant = None
        if usable:
            try:
                grant = session.check_emergency()
            except ComplianceError:
                grant = session.emergency
        self.users_action.setEnabled(usable and roles.allowed(role, "user.manage"))
        self.audit_action.setEnabled(usable and roles.allowed(role, "audit.read"))
        self.emergency_action.setEnabled(usable and grant is None
                                         and roles.allowed(role, "emergency.start"))
        self.end_action.setEnabled(grant is not None)
        if grant is not None:
            self.banner_label.setText(f"EMERGENCY ACCESS until {local_hhmm(grant.until_utc)}"
                                      " — every action is flagged in the audit trail")
            self.banner_label.setToolTip(f"Reason: {grant.reason}\nUntil {grant.until_utc} "
                                         f"(audit entry {grant.seq})")
            self.banner.show()
        else:
            self.banner.hide()
        # Runs while a session is attached (cheap without a grant), so the banner and the
        # actions catch up after a lock screen or a grant started elsewhere.
        if attached and not self.timer.isActive():
            self.timer.start()
        elif not attached:
            self.timer.stop()
        if grant != self._grant and (usable or not attached):  # a lock changes nothing
            self._grant = grant
            refresh_worklist = getattr(self._controller, "refresh_worklist", None)
            if refresh_worklist is not None:
                try:
                    refresh_worklist()
                except ComplianceError as exc:
                    self.window.statusBar().showMessage(str(exc), 10000)
            self.emergency_changed.emit(grant)

    # -- actions -------------------------------------------------------------------------
    def open_users(self) -> UserAdminDialog | None:
        if self.session is None:
            return None
        self.users_dialog = UserAdminDialog(self.session, self.window)
        self.users_dialog.show()
        return self.users_dialog

    def open_audit(self) -> AuditViewer | None:
        if self.session is None:
            return None
        self.audit_dialog = AuditViewer(self.session, self.window)
        self.audit_dialog.show()
        return self.audit_dialog

    def open_emergency(self) -> EmergencyDialog | None:
        if self.session is None:
            return None
        self.emergency_dialog = EmergencyDialog(self.session, self.window)
        self.emergency_dialog.finished.connect(lambda *_: self.refresh())
        self.emergency_dialog.open()
        return self.emergency_dialog

    def end_emergency(self) -> None:
        session = self.session
        if session is not None:
            try:
                session.end_emergency()
            except ComplianceError as exc:
                self.window.statusBar().showMessage(str(exc), 10000)
        self.refresh()


def install_admin(window) -> AdminActions:
    """Add Workspace → Administration (users, audit trail, emergency access) to ``window``.

    Works with any QMainWindow that has a ``workspace`` attribute (a controller with
    ``.session``, or None) and, optionally, a ``workspace_changed`` signal.
    """
    window.admin_actions = AdminActions(window)
    return window.admin_actions
