"""User administration dialog (admins): list, add, disable, reset password, change role.

Every change goes through the logged-in :class:`compliance.session.Session` (which checks
the role and audits it); this module only shows the table and asks for input. A refusal
or a policy error is shown as one line in the dialog, never as a traceback. Sub-dialogs
are opened with ``open()`` (window-modal, not blocking), so tests and users drive the
same code.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (QAbstractItemView, QComboBox, QDialog, QDialogButtonBox,
                               QFormLayout, QHBoxLayout, QHeaderView, QInputDialog, QLabel,
                               QLineEdit, QMessageBox, QPushButton, QTableWidget,
                               QTableWidgetItem, QVBoxLayout)

from compliance import roles
from compliance.errors import ComplianceError

COLUMNS = ("Name", "Role", "State", "Created (UTC)")
ERROR_STYLE = "color: #b00020;"
OK_STYLE = "color: #1b5e20;"


def _state(user: dict) -> str:
    if user["disabled"]:
        return "disabled"
    return "locked out" if user.get("locked_out") else "active"


class PasswordPair(QFormLayout):
    """A password and its repetition; :meth:`value` raises a one-line error if they differ."""

    def __init__(self, min_length: int) -> None:
        super().__init__()
        self.first, self.second = QLineEdit(), QLineEdit()
        for edit in (self.first, self.second):
            edit.setEchoMode(QLineEdit.Password)
        self.first.setPlaceholderText(f"at least {min_length} characters")
        self.addRow("Password", self.first)
        self.addRow("Repeat", self.second)

    def value(self) -> str:
        if self.first.text() != self.second.text():
            raise ComplianceError("the two passwords differ")
        return self.first.text()


class _InlineDialog(QDialog):
    """OK/Cancel with an error line; ``apply()`` does the work and may raise."""

    def __init__(self, title: str, parent=None) -> None:
        super().__init__(parent)
        self.setWindowTitle(title)
        self.form = QFormLayout()
        self.error = QLabel("")
        self.error.setStyleSheet(ERROR_STYLE)
        self.error.setWordWrap(True)
        self.buttons = QDialogButtonBox(QDialogButtonBox.Ok | QDialogButtonBox.Cancel)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(self.form)
        layout.addWidget(self.error)
        layout.addWidget(self.buttons)

    def apply(self) -> None:  # pragma: no cover - overridden
        raise NotImplementedError

    def accept(self) -> None:
        try:
            self.apply()
        except ComplianceError as exc:
            # Policy errors stay in the dialog so the admin can correct the field.
            self.error.setText(str(exc))
            return
        super().accept()


class AddUserDialog(_InlineDialog):
    """Name, role and initial password (twice); adds the user through the session."""

    def __init__(self, session, parent=None) -> None:
        super().__init__("Add user", parent)
        self.session = session
        self.name = QLineEdit()
        self.name.setPlaceholderText("lower-case, e.g. jdoe")
        self.role = QComboBox()
        self.role.addItems(list(roles.ROLES))
        self.form.addRow("User name", self.name)
        self.form.addRow("Role", self.role)
        self.passwords = PasswordPair(session.ws.settings["password_min_length"])
        self.form.addRow(self.passwords)
        self.user_id = None

    def apply(self) -> None:
        password = self.passwords.value()
        self.user_id = self.session.add_user(self.name.text().strip(), self.role.currentText(),
                                             password)


class ResetPasswordDialog(_InlineDialog):
    """A new password (twice) for ``name``; re-enables a disabled account."""

    def __init__(self, session, name: str, parent=None) -> None:
        super().__init__(f"Reset password of {name}", parent)
        self.session, self.user_name = session, name
        self.passwords = PasswordPair(session.ws.settings["password_min_length"])
        self.form.addRow(self.passwords)

    def apply(self) -> None:
        self.session.reset_password(self.user_name, self.passwords.value())


class UserAdminDialog(QDialog):
    """Table of the workspace's users with Add / Disable / Reset password / Change role.

    Parameters
    ----------
    session : compliance.session.Session
        An administrator's session (others see the refusal in the message line).
    """

    def __init__(self, session, parent=None) -> None:
        super().__init__(parent)
        self.session = session
        self.users: list[dict] = []
        self.setWindowTitle("Users")
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.setSelectionBehavior(QAbstractItemView.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.NoEditTriggers)
        self.table.verticalHeader().hide()
        # One text line per row (Qt's default row height wastes a third of the table).
        self.table.verticalHeader().setDefaultSectionSize(self.fontMetrics().height() + 8)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeToContents)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.message = QLabel("")
        self.message.setWordWrap(True)
        self.add_button = QPushButton("&Add…")
        self.disable_button = QPushButton("&Disable")
        self.reset_button = QPushButton("&Reset password…")
        self.role_button = QPushButton("Change r&ole…")
        close = QPushButton("Close")
        self.add_button.clicked.connect(self.ask_add)
        self.disable_button.clicked.connect(self.ask_disable)
        self.reset_button.clicked.connect(self.ask_reset)
        self.role_button.clicked.connect(self.ask_role)
        close.clicked.connect(self.accept)
        buttons = QHBoxLayout()
        for b in (self.add_button, self.disable_button, self.reset_button, self.role_button):
            buttons.addWidget(b)
        buttons.addStretch(1)
        buttons.addWidget(close)
        layout = QVBoxLayout(self)
        layout.addWidget(self.table)
        layout.addWidget(self.message)
        layout.addLayout(buttons)
        self.table.itemSelectionChanged.connect(self._update_buttons)
        #: the sub-dialog last opened (tests fill it in)
        self.pending = None
        self.resize(620, 360)
        self.refresh()

    # -- table ---------------------------------------------------------------------------
    def refresh(self) -> None:
        """Reload the user list from the workspace (audited ``user.list``)."""
        selected = self.selected_name()
        try:
            self.users = self.session.list_users()
        except ComplianceError as exc:
            self.users = []
            self.show_message(str(exc), error=True)
        self.table.setRowCount(len(self.users))
        for row, user in enumerate(self.users):
            cells = (user["name"], user["role"], _state(user),
                     user.get("created", "")[:19].replace("T", " "))
            for col, text in enumerate(cells):
                item = QTableWidgetItem(text)
                if col == 2 and text != "active":
                    item.setForeground(Qt.darkRed)
                self.table.setItem(row, col, item)
            if user["name"] == selected:
                self.table.selectRow(row)
        self._update_buttons()

    def selected_name(self) -> str | None:
        rows = {i.row() for i in self.table.selectedItems()}
        if len(rows) != 1 or not self.users:
            return None
        return self.users[rows.pop()]["name"]

    def select(self, name: str) -> None:
        for row, user in enumerate(self.users):
            if user["name"] == name:
                self.table.selectRow(row)
                return
        raise KeyError(name)

    def _update_buttons(self) -> None:
        name = self.selected_name()
        for b in (self.disable_button, self.reset_button, self.role_button):
            b.setEnabled(name is not None)
        if name == self.session.name:
            self.disable_button.setEnabled(False)  # the session would refuse it anyway

    def show_message(self, text: str, error: bool = False) -> None:
        self.message.setStyleSheet(ERROR_STYLE if error else OK_STYLE)
        self.message.setText(text)

    def _run(self, done: str, call) -> bool:
        try:
            call()
        except ComplianceError as exc:
            self.show_message(str(exc), error=True)
            return False
        self.refresh()
        self.show_message(done)
        return True

    # -- actions -------------------------------------------------------------------------
    def ask_add(self) -> AddUserDialog:
        dialog = AddUserDialog(self.session, self)
        dialog.accepted.connect(lambda: self._added(dialog.name.text().strip()))
        self._open(dialog)
        return dialog

    def _added(self, name: str) -> None:
        self.refresh()
        self.select(name)
        self.show_message(f"user {name!r} added")

    def ask_disable(self) -> QMessageBox | None:
        name = self.selected_name()
        if name is None:
            return None
        box = QMessageBox(QMessageBox.Warning, "Disable user",
                          f"Disable {name!r}? Their key slot is destroyed; only a password "
                          "reset lets them in again.", QMessageBox.Yes | QMessageBox.Cancel, self)
        box.finished.connect(lambda result: result == QMessageBox.Yes and self.disable(name))
        self._open(box)
        return box

    def disable(self, name: str) -> bool:
        return self._run(f"user {name!r} disabled", lambda: self.session.disable_user(name))

    def ask_reset(self) -> ResetPasswordDialog | None:
        name = self.selected_name()
        if name is None:
            return None
        dialog = ResetPasswordDialog(self.session, name, self)
        dialog.accepted.connect(lambda: self._run(f"password of {name!r} reset", lambda: None))
        self._open(dialog)
        return dialog

    def ask_role(self) -> QInputDialog | None:
        name = self.selected_name()
        if name is None:
            return None
        current = next(u["role"] for u in self.users if u["name"] == name)
        dialog = QInputDialog(self)
        dialog.setWindowTitle("Change role")
        dialog.setLabelText(f"New role of {name!r}:")
        dialog.setComboBoxItems(list(roles.ROLES))
        dialog.setTextValue(current)
        dialog.textValueSelected.connect(lambda role: role != current and self.change_role(
            name, role))
        self._open(dialog)
        return dialog

    def change_role(self, name: str, role: str) -> bool:
        return self._run(f"{name!r} is now {role}", lambda: self.session.set_role(name, role))

    def _open(self, dialog) -> None:
        self.pending = dialog
        dialog.open()
