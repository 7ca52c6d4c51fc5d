"""Widgets of the workspace mode: the worklist, the case panel and the lock screen."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (QAbstractItemView, QHBoxLayout, QHeaderView, QLabel, QLineEdit,
                               QPushButton, QTableWidget, QTableWidgetItem, QVBoxLayout,
                               QWidget)

#: the worklist's own columns: title -> function of a ``Session.list_cases()`` entry
BASE_COLUMNS = {
    "case": lambda c: c["case_id"],
    "modality": lambda c: c.get("modality", ""),
    "shape": lambda c: "×".join(str(n) for n in c.get("shape", [])),
    "versions": lambda c: int(c.get("versions", 0)),
    "state": lambda c: c.get("state", "").replace("_", " "),
    "imported": lambda c: str(c.get("imported", ""))[:16].replace("T", " "),
}


class _Item(QTableWidgetItem):
    """Sorts numbers as numbers and everything else as text."""

    def __init__(self, value):
        super().__init__()
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            self.setData(Qt.DisplayRole, value)
        else:
            self.setData(Qt.DisplayRole, "" if value is None else str(value))
        self.setFlags(Qt.ItemIsSelectable | Qt.ItemIsEnabled)

    def __lt__(self, other) -> bool:
        a, b = self.data(Qt.DisplayRole), other.data(Qt.DisplayRole)
        if isinstance(a, (int, float)) and isinstance(b, (int, float)):
            return a < b
        return str(a) < str(b)


class WorklistPanel(QWidget):
    """The cases of the workspace (no PHI: ids, modality, grid, versions, review state).

    ``extra_columns`` (name -> callable(case dict) -> value) adds columns, e.g. an
    active-learning rank. Double-clicking a row emits ``open_requested(case_id)``.
    """

    open_requested = Signal(str)

    def __init__(self, parent=None):
        super().__init__(parent)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        self.table = QTableWidget(0, 0)
        self.table.setSelectionBehavior(QAbstractItemView.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.NoEditTriggers)
        self.table.verticalHeader().hide()
        self.table.setWordWrap(False)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeToContents)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.setSortingEnabled(True)
        self.table.cellDoubleClicked.connect(self._double_clicked)
        self.note = QLabel("")
        self.note.setWordWrap(True)
        layout.addWidget(self.table)
        layout.addWidget(self.note)
        self.cases: list[dict] = []
        self.columns: list[str] = []
        self.unsaved: set[str] = set()

    def set_cases(self, cases: list[dict], extra_columns: dict | None = None,
                  current: str | None = None, unsaved=()) -> None:
        """Fill the table; ``unsaved`` case ids are marked (a journal waits for them)."""
        columns = {k: f for k, f in BASE_COLUMNS.items() if k != "imported"}
        for name, fn in (extra_columns or {}).items():
            columns[name] = fn
        # the import time last: the extra columns (rank, spot check) stay in sight of a
        # narrow worklist, where the long timestamp pushed them out of view
        columns["imported"] = BASE_COLUMNS["imported"]
        self.cases, self.columns, self.unsaved = list(cases), list(columns), set(unsaved)
        sort_col = self.table.horizontalHeader().sortIndicatorSection()
        order = self.table.horizontalHeader().sortIndicatorOrder()
        self.table.setSortingEnabled(False)  # fill first, sort once
        self.table.clear()
        self.table.setColumnCount(len(columns))
        self.table.setHorizontalHeaderLabels(self.columns)
        self.table.setRowCount(len(cases))
        for row, case in enumerate(cases):
            for col, (name, fn) in enumerate(columns.items()):
                try:
                    value = fn(case)
                except Exception as exc:  # an extra column's bug must not hide the worklist
                    value = f"({type(exc).__name__})"
                if name == "state" and case["case_id"] in unsaved:
                    value = f"{value} · unsaved work"
                item = _Item(value)
                item.setData(Qt.UserRole, case["case_id"])
                if case["case_id"] == current:
                    font = item.font()
                    font.setBold(True)
                    item.setFont(font)
                self.table.setItem(row, col, item)
        self.table.setSortingEnabled(True)
        if 0 <= sort_col < len(columns):
            self.table.sortByColumn(sort_col, order)
        self.note.setText("" if cases else "No cases yet: import one with "
                                           "`annotrace case import`.")

    def show_message(self, text: str) -> None:
        self.table.setRowCount(0)
        self.note.setText(text)

    def row_of(self, case_id: str) -> int:
        for row in range(self.table.rowCount()):
            if self.table.item(row, 0).data(Qt.UserRole) == case_id:
                return row
        return -1

    def value(self, case_id: str, column: str):
        row = self.row_of(case_id)
        return None if row < 0 else self.table.item(row, self.columns.index(column)).data(
            Qt.DisplayRole)

    def _double_clicked(self, row: int, _col: int) -> None:
        self.open_requested.emit(self.table.item(row, 0).data(Qt.UserRole))


class CaseInfoPanel(QLabel):
    """The open case: id, version, unsaved changes, review state and the signature."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setWordWrap(True)
        self.setTextFormat(Qt.RichText)
        self.setAlignment(Qt.AlignTop | Qt.AlignLeft)
        self.setMargin(6)
        self.setTextInteractionFlags(Qt.TextSelectableByMouse)

    def show_info(self, lines: list[str]) -> None:
        self.setText("<br>".join(lines))


class LockScreen(QWidget):
    """Covers the window while the session is locked: no image, only the password field."""

    unlock_requested = Signal(str)
    logout_requested = Signal()

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setObjectName("lock_screen")
        self.setAttribute(Qt.WA_StyledBackground, True)
        self.setStyleSheet("#lock_screen { background: #20242a; } QLabel { color: #e8e8e8; }")
        outer = QVBoxLayout(self)
        outer.addStretch(1)
        self.title = QLabel("Session locked")
        font = self.title.font()
        font.setPointSize(font.pointSize() + 6)
        self.title.setFont(font)
        self.title.setAlignment(Qt.AlignCenter)
        self.detail = QLabel("")
        self.detail.setAlignment(Qt.AlignCenter)
        self.password = QLineEdit()
        self.password.setEchoMode(QLineEdit.Password)
        self.password.setPlaceholderText("password")
        self.password.setMaximumWidth(320)
        self.password.returnPressed.connect(self._unlock)
        self.error = QLabel("")
        self.error.setObjectName("error")
        self.error.setStyleSheet("color: #ff8a80;")
        self.error.setAlignment(Qt.AlignCenter)
        self.unlock_button = QPushButton("Unlock")
        self.unlock_button.clicked.connect(self._unlock)
        self.logout_button = QPushButton("Log out")
        self.logout_button.clicked.connect(self.logout_requested.emit)
        for w in (self.title, self.detail):
            outer.addWidget(w)
        row = QHBoxLayout()
        row.addStretch(1)
        row.addWidget(self.password)
        row.addWidget(self.unlock_button)
        row.addWidget(self.logout_button)
        row.addStretch(1)
        outer.addLayout(row)
        outer.addWidget(self.error)
        outer.addStretch(2)

    def prepare(self, user: str, note: str) -> None:
        self.detail.setText(f"{user} — enter your password to continue. {note}")
        self.error.setText("")
        self.password.clear()
        self.password.setFocus()

    def _unlock(self) -> None:
        text = self.password.text()
        self.password.clear()
        self.unlock_requested.emit(text)
