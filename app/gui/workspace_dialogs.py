"""Dialogs of the workspace mode: log in, create a workspace, approve, request changes.

Each dialog does its work itself when accepted (``Workspace.login``, ``Workspace.create``)
and shows a refusal as one line under its fields, so a wrong password never closes it.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (QComboBox, QDialog, QDialogButtonBox, QFormLayout, QLabel,
                               QLineEdit, QPlainTextEdit, QVBoxLayout)

from compliance.errors import ComplianceError
from compliance.review import DEFAULT_MEANING

#: meanings offered for an approval signature (the combo box is editable)
MEANINGS = (DEFAULT_MEANING, "approved for model training", "approved for export",
            "reviewed: clinically correct")


def _error_label() -> QLabel:
    label = QLabel("")
    label.setObjectName("error")
    label.setStyleSheet("color: #c0392b;")
    label.setWordWrap(True)
    return label


def _password_edit() -> QLineEdit:
    edit = QLineEdit()
    edit.setEchoMode(QLineEdit.Password)
    return edit


class _FormDialog(QDialog):
    """A form, a one-line error and OK/Cancel; ``attempt()`` decides whether OK closes."""

    def __init__(self, title: str, intro: str, ok_text: str, parent=None):
        super().__init__(parent)
        self.setWindowTitle(title)
        layout = QVBoxLayout(self)
        self.intro = QLabel(intro)
        self.intro.setWordWrap(True)
        layout.addWidget(self.intro)
        self.form = QFormLayout()
        layout.addLayout(self.form)
        self.error = _error_label()
        layout.addWidget(self.error)
        self.buttons = QDialogButtonBox(QDialogButtonBox.Ok | QDialogButtonBox.Cancel)
        self.buttons.button(QDialogButtonBox.Ok).setText(ok_text)
        self.buttons.accepted.connect(self._ok)
        self.buttons.rejected.connect(self.reject)
        layout.addWidget(self.buttons)
        self.setMinimumWidth(420)

    def _ok(self) -> None:
        self.error.setText("")
        try:
            self.attempt()
        except (ComplianceError, OSError) as exc:
            self.error.setText(str(exc))
            return
        self.accept()

    def attempt(self) -> None:  # pragma: no cover - overridden
        raise NotImplementedError


class LoginDialog(_FormDialog):
    """User name + password for ``workspace``; ``session`` is set once accepted.

    Wrong password, locked-out and disabled accounts are shown as the compliance
    layer words them (one line; the wrong-password message never says which was wrong).
    """

    def __init__(self, workspace, parent=None, user: str = ""):
        super().__init__("Log in — annotrace",
                         f"Workspace {workspace.root}", "Log in", parent)
        self.workspace = workspace
        self.session = None
        self.user = QLineEdit(user)
        self.user.setPlaceholderText("user name")
        self.password = _password_edit()
        self.form.addRow("User", self.user)
        self.form.addRow("Password", self.password)
        (self.password if user else self.user).setFocus()

    def attempt(self) -> None:
        try:
            self.session = self.workspace.login(self.user.text(), self.password.text())
        finally:
            self.password.clear()  # never keep a typed password around longer than needed


class CreateWorkspaceDialog(_FormDialog):
    """First start in a new or empty folder: the administrator's name and password.

    ``kdf`` is only for tests (cheap key derivation); users always get the default cost.
    """

    def __init__(self, root, parent=None, kdf=None):
        super().__init__("Create workspace — annotrace",
                         f"{root} is not an annotrace workspace yet. Create one here, with its "
                         "first administrator:", "Create", parent)
        self.root, self.kdf = root, kdf
        self.workspace = None
        self.admin = QLineEdit("admin")
        self.password = _password_edit()
        self.repeat = _password_edit()
        self.form.addRow("Administrator", self.admin)
        self.form.addRow("Password", self.password)
        self.form.addRow("Repeat password", self.repeat)

    def attempt(self) -> None:
        from compliance.errors import PolicyError
        from compliance.workspace import Workspace

        if self.password.text() != self.repeat.text():
            raise PolicyError("the two passwords differ")
        from app.settings import site_security_policy

        self.workspace = Workspace.create(self.root, self.admin.text().strip(),
                                          self.password.text(), kdf=self.kdf,
                                          site_policy=site_security_policy())
        self.password.clear()
        self.repeat.clear()


class ApproveDialog(_FormDialog):
    """Electronic signature: password again, the meaning of the signature, a note."""

    def __init__(self, session, case_id: str, version, parent=None):
        super().__init__("Approve — electronic signature",
                         f"Sign case {case_id} version {version} as {session.name}. "
                         "Your password is asked again; the signature binds your name, the "
                         "time and the meaning below to this exact version.", "Sign", parent)
        self.session, self.case_id = session, case_id
        self.event = None
        self.meaning = QComboBox()
        self.meaning.setEditable(True)
        self.meaning.addItems(MEANINGS)
        self.note = QPlainTextEdit()
        self.note.setPlaceholderText("optional note (no patient identifiers)")
        self.note.setMaximumHeight(60)
        self.password = _password_edit()
        self.form.addRow("Meaning", self.meaning)
        self.form.addRow("Note", self.note)
        self.form.addRow("Password", self.password)
        self.password.setFocus(Qt.OtherFocusReason)

    def meaning_text(self) -> str:
        meaning = self.meaning.currentText().strip() or DEFAULT_MEANING
        note = " ".join(self.note.toPlainText().split())
        return f"{meaning}; {note}" if note else meaning

    def attempt(self) -> None:
        try:
            self.event = self.session.approve(self.case_id, self.password.text(),
                                              self.meaning_text())
        finally:
            self.password.clear()


class RequestChangesDialog(_FormDialog):
    """Send a submitted version back, with a reason for the author."""

    def __init__(self, session, case_id: str, parent=None):
        super().__init__("Request changes", f"Send case {case_id} back to its author.",
                         "Request changes", parent)
        self.session, self.case_id = session, case_id
        self.event = None
        self.reason = QPlainTextEdit()
        self.reason.setPlaceholderText("what to change (no patient identifiers)")
        self.form.addRow("Reason", self.reason)

    def attempt(self) -> None:
        self.event = self.session.request_changes(self.case_id,
                                                  self.reason.toPlainText().strip())
