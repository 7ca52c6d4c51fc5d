"""Choosing one series of a folder that holds several (after MultipleSeriesError)."""

from __future__ import annotations

from PySide6.QtWidgets import (QAbstractItemView, QDialog, QDialogButtonBox, QTableWidget,
                               QTableWidgetItem, QVBoxLayout)

COLUMNS = ("Modality", "Description", "Images", "Size (slices x rows x columns)")


class SeriesPicker(QDialog):
    """A table of series (modality, description, images, size); ``chosen_uid`` after accept."""

    def __init__(self, series: list, parent=None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Choose a series")
        self.series = list(series)
        self.table = QTableWidget(len(self.series), len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.setSelectionBehavior(QAbstractItemView.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.NoEditTriggers)
        for row, s in enumerate(self.series):
            size = " x ".join(str(n) for n in s.shape) if any(s.shape) else "?"
            for col, text in enumerate((s.modality or "?", s.description or "(no description)",
                                        str(s.num_images), size)):
                self.table.setItem(row, col, QTableWidgetItem(text))
        self.table.resizeColumnsToContents()
        if self.series:
            self.table.selectRow(0)
        self.table.doubleClicked.connect(self.accept)
        buttons = QDialogButtonBox(QDialogButtonBox.Open | QDialogButtonBox.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.table)
        layout.addWidget(buttons)
        self.resize(640, 300)

    @property
    def chosen_uid(self) -> str | None:
        rows = self.table.selectionModel().selectedRows()
        return self.series[rows[0].row()].series_uid if rows else None
