"""Emergency (break-glass) access dialog: typed reason, time limit, password again.

The rules (who, how long, what it grants, how it is flagged) live in
:mod:`compliance.emergency` and :meth:`Session.start_emergency`; this dialog only
collects the three inputs and shows a refusal as one line.
"""

from __future__ import annotations

from datetime import datetime, timezone

from PySide6.QtWidgets import (QDialog, QDialogButtonBox, QFormLayout, QLabel, QLineEdit,
                               QPlainTextEdit, QSpinBox, QVBoxLayout)

from compliance.emergency import DEFAULT_MAX_MINUTES, MIN_REASON_CHARS
from compliance.errors import ComplianceError

EXPLANATION = (
    "Emergency access lets you open cases and read labels that your role normally cannot, "
    "for a limited time. Everything you do meanwhile is flagged in the audit trail and in "
    "exports, and reviewed. Say why (no patient names).")


def local_hhmm(until_utc: str) -> str:
    """``"2026-12-03T11:05:00Z"`` -> ``"11:05"`` in the workstation's local time."""
    when = datetime.strptime(until_utc, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
    return when.astimezone().strftime("%H:%M")


class EmergencyDialog(QDialog):
    """Reason, minutes and password; on OK calls ``session.start_emergency``.

    Attributes
    ----------
    grant : compliance.emergency.EmergencyGrant or None
        Set when the grant was given.
    """

    def __init__(self, session, parent=None) -> None:
        super().__init__(parent)
        self.session = session
        self.grant = None
        self.setWindowTitle("Emergency access")
        note = QLabel(EXPLANATION)
        note.setWordWrap(True)
        self.reason = QPlainTextEdit()
        self.reason.setPlaceholderText(f"Reason (at least {MIN_REASON_CHARS} characters), "
                                       "e.g. stroke alert, on-call reader unreachable")
        self.reason.setFixedHeight(70)
        limit = int(session.ws.settings.get("emergency_max_minutes", DEFAULT_MAX_MINUTES))
        self.minutes = QSpinBox()
        self.minutes.setRange(1, max(1, limit))
        self.minutes.setValue(min(30, limit))
        self.minutes.setSuffix(" min")
        self.password = QLineEdit()
        self.password.setEchoMode(QLineEdit.Password)
        self.password.setPlaceholderText(f"password of {session.name}")
        form = QFormLayout()
        form.addRow("Reason", self.reason)
        form.addRow("Time limit", self.minutes)
        form.addRow("Password", self.password)
        self.error = QLabel("")
        self.error.setStyleSheet("color: #b00020;")
        self.error.setWordWrap(True)
        buttons = QDialogButtonBox(QDialogButtonBox.Ok | QDialogButtonBox.Cancel)
        buttons.button(QDialogButtonBox.Ok).setText("Start emergency access")
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(note)
        layout.addLayout(form)
        layout.addWidget(self.error)
        layout.addWidget(buttons)
        self.resize(460, 300)

    def accept(self) -> None:
        try:
            self.grant = self.session.start_emergency(self.reason.toPlainText(),
                                                      self.minutes.value(), self.password.text())
        except ComplianceError as exc:
            self.error.setText(str(exc))
            self.password.clear()
            return
        self.password.clear()  # do not keep the password in a widget longer than needed
        super().accept()
