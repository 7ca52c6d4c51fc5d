"""Audit trail viewer (auditors and admins): filtered table, verification, CSV export.

Reading goes through :meth:`Session.read_audit` (which verifies the whole chain first and
is itself audited) and verification through :meth:`Session.verify_audit`; a tampered log
shows the verifier's one-line message naming the first bad entry. Entries made during an
emergency (break-glass) grant are drawn on a red background.
"""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (QAbstractItemView, QDialog, QFileDialog, QHBoxLayout,
                               QHeaderView, QLabel, QLineEdit, QPushButton, QTableWidget,
                               QTableWidgetItem, QVBoxLayout)

from compliance.errors import ComplianceError

COLUMNS = ("Seq", "UTC time", "User", "Role", "Action", "Objects", "Details")
ERROR_STYLE = "color: #b00020; font-weight: bold;"
OK_STYLE = "color: #1b5e20; font-weight: bold;"
EMERGENCY_BACKGROUND = QColor(255, 205, 210)
#: what the "since" field accepts: a UTC date, optionally with a time (ISO order compares)
_SINCE = re.compile(r"^\d{4}-\d{2}-\d{2}([T ]\d{2}(:\d{2}(:\d{2}(\.\d+)?)?)?)?Z?$")


def entry_cells(entry: dict) -> list[str]:
    """One table / CSV row of an audit entry (details as compact JSON)."""
    time = str(entry.get("time", "")).replace("T", " ").rstrip("Z")[:19]
    details = dict(entry.get("details") or {})
    if entry.get("before") or entry.get("after"):
        details.update({k: entry[k] for k in ("before", "after") if entry.get(k)})
    if entry.get("sealed_without_login"):
        details["sealed_without_login"] = True
    return [str(entry.get("seq", "")), time, entry.get("user") or "", entry.get("role") or "",
            entry.get("action", ""), " ".join(entry.get("objects") or []),
            json.dumps(details, sort_keys=True, separators=(", ", ": ")) if details else ""]


def normalise_since(text: str) -> str | None:
    """``"2026-12-03 10:00"`` -> ``"2026-12-03T10:00"``; empty -> None; else ValueError."""
    text = text.strip()
    if not text:
        return None
    if not _SINCE.match(text):
        raise ValueError(f"'since' must be a UTC date or time like 2026-12-03 or "
                         f"2026-12-03 09:30, not {text!r}")
    return text.replace(" ", "T").rstrip("Z")


class AuditViewer(QDialog):
    """Audit trail table with filters (user, since, case), Verify and Export CSV.

    Parameters
    ----------
    session : compliance.session.Session
        An auditor's or admin's session.
    """

    def __init__(self, session, parent=None) -> None:
        super().__init__(parent)
        self.session = session
        self.entries: list[dict] = []
        self.setWindowTitle("Audit trail")
        self.user_filter, self.since_filter = QLineEdit(), QLineEdit()
        self.case_filter = QLineEdit()
        self.user_filter.setPlaceholderText("user name")
        self.since_filter.setPlaceholderText("UTC, e.g. 2026-12-03 09:30")
        self.case_filter.setPlaceholderText("case id")
        self.apply_button = QPushButton("&Show")
        filters = QHBoxLayout()
        for label, edit in (("User", self.user_filter), ("Since", self.since_filter),
                            ("Case", self.case_filter)):
            filters.addWidget(QLabel(label))
            filters.addWidget(edit, 1)
            edit.returnPressed.connect(self.reload)
        filters.addWidget(self.apply_button)
        self.apply_button.clicked.connect(self.reload)
        self.apply_button.setAutoDefault(False)
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.setSelectionBehavior(QAbstractItemView.SelectRows)
        self.table.setEditTriggers(QAbstractItemView.NoEditTriggers)
        self.table.setWordWrap(False)
        self.table.verticalHeader().hide()
        # One text line per row (Qt's default row height wastes a third of the table).
        self.table.verticalHeader().setDefaultSectionSize(self.fontMetrics().height() + 8)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeToContents)
        header.setStretchLastSection(True)
        self.status = QLabel("")
        self.status.setWordWrap(True)
        # selectable, so that an auditor can copy the anchor it prints
        self.status.setTextInteractionFlags(Qt.TextSelectableByMouse)
        self.anchor_edit = QLineEdit()
        self.anchor_edit.setPlaceholderText("anchor SEQ:HASH kept from an earlier verification "
                                            "(optional)")
        self.anchor_edit.setToolTip("Verify then also checks that the trail still holds this "
                                    "checkpoint: a rewrite by a password holder, or a rollback "
                                    "of the whole workspace, fails")
        self.verify_button = QPushButton("&Verify")
        self.export_button = QPushButton("&Export CSV…")
        close = QPushButton("Close")
        for b in (self.verify_button, self.export_button, close):
            b.setAutoDefault(False)
        self.verify_button.clicked.connect(self.verify)
        self.export_button.clicked.connect(self.ask_export)
        close.clicked.connect(self.accept)
        buttons = QHBoxLayout()
        buttons.addWidget(self.anchor_edit, 2)
        buttons.addWidget(self.verify_button)
        buttons.addWidget(self.export_button)
        buttons.addStretch(1)
        buttons.addWidget(close)
        layout = QVBoxLayout(self)
        layout.addLayout(filters)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.status)
        layout.addLayout(buttons)
        self.resize(1100, 520)
        self.reload()

    def filters(self) -> dict:
        """The filters as :meth:`Session.read_audit` takes them (ValueError if malformed)."""
        return {"user": self.user_filter.text().strip().lower() or None,
                "since": normalise_since(self.since_filter.text()),
                "case": self.case_filter.text().strip() or None}

    def reload(self) -> bool:
        """Read the (verified) trail with the current filters into the table."""
        try:
            self.entries = self.session.read_audit(**self.filters())
        except (ComplianceError, ValueError) as exc:
            self.entries = []
            self._fill()
            self.show_status(str(exc), error=True)
            return False
        self._fill()
        flagged = sum("emergency" in (e.get("details") or {}) for e in self.entries)
        note = f"; {flagged} made during emergency access (red)" if flagged else ""
        self.show_status(f"{len(self.entries)} entries shown{note}")
        return True

    def _fill(self) -> None:
        self.table.setRowCount(len(self.entries))
        for row, entry in enumerate(self.entries):
            emergency = "emergency" in (entry.get("details") or {}) or \
                entry.get("action", "").startswith("emergency.")
            for col, text in enumerate(entry_cells(entry)):
                item = QTableWidgetItem(text)
                if col == len(COLUMNS) - 1:
                    item.setToolTip(text)
                if emergency:
                    item.setBackground(EMERGENCY_BACKGROUND)
                self.table.setItem(row, col, item)
        self.table.scrollToBottom()  # the newest entries are what one usually looks for

    def show_status(self, text: str, error: bool = False) -> None:
        self.status.setStyleSheet(ERROR_STYLE if error else "")
        self.status.setText(text)

    def verify(self) -> int | None:
        """Verify the whole trail and what it records (``deep``); show "N entries verified"
        or the first bad entry or object."""
        from app.cli.audit import parse_anchor
        from app.cli.errors import UsageError

        text = self.anchor_edit.text().strip()
        try:
            anchor = parse_anchor(text) if text else None
            n, _ = self.session.verify_audit(anchor, deep=True)
        except (ComplianceError, UsageError) as exc:
            self.show_status(str(exc), error=True)
            return None
        seq, head = self.session.ws.audit_log.head()
        self.show_status(f"{n} entries verified; the cases, versions, review events and user "
                         "table they record are present and unchanged"
                         + (f"; anchor {text} found" if anchor else "")
                         + f".<br>Anchor: <tt>{seq}:{head}</tt> (keep it outside the "
                         "workspace; paste it here later to check)", error=False)
        self.status.setStyleSheet(OK_STYLE)
        return n

    def ask_export(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export audit entries", "audit.csv",
                                              "CSV files (*.csv)")
        if path:
            self.export_csv(path)

    def export_csv(self, path) -> int:
        """Write the rows shown to ``path`` as CSV (audited ``audit.export``); return rows."""
        path = Path(path)
        try:
            with open(path, "w", newline="", encoding="utf-8") as f:
                writer = csv.writer(f)
                writer.writerow(COLUMNS)
                for entry in self.entries:
                    writer.writerow(entry_cells(entry))
            filters = {k: v for k, v in self.filters().items() if v}
            self.session.audit("audit.export", details={"format": "csv", "filters": filters,
                                                        "entries": len(self.entries)})
        except OSError as exc:
            self.show_status(f"{path}: {exc.strerror or exc}", error=True)
            return 0
        except (ComplianceError, ValueError) as exc:
            self.show_status(str(exc), error=True)
            return 0
        self.show_status(f"{len(self.entries)} entries written to {path}")
        return len(self.entries)
