"""The quality dashboard: a "Quality" menu with the dashboard dialog and the report export.

The dialog shows the five plots of :mod:`models.quality.report` (Dice against the reference,
coverage vs threshold with the Clopper-Pearson bound, the agreement matrix, drift over
batches, readers' versions against the proposals they accepted), rendered by matplotlib's Agg canvas to PNG and shown as pixmaps, and the headline
numbers (threshold, bound, coverage, validated units, the planner's answer "validated units
needed for coverage X"). The numbers are gathered on a plain worker thread (reading label
versions is slow on large cases) and handed to the GUI thread through a queue drained by a
QTimer (:class:`app.gui.job_dialog.JobDialog`).

Workspace actions are enabled only while ``window.workspace`` is a logged-in controller;
``window.workspace_changed`` switches them. The worklist gets a "rank" column (the stored
active-learning rank, ``annotrace rank WS --model ID``) when the controller has
``extra_columns``.
"""

from __future__ import annotations

from PySide6.QtCore import QTimer
from PySide6.QtGui import QPixmap
from PySide6.QtWidgets import (QComboBox, QDoubleSpinBox, QFileDialog, QFormLayout, QGridLayout,
                               QHBoxLayout, QLabel, QMessageBox, QPushButton, QScrollArea,
                               QVBoxLayout, QWidget)

from app.gui.job_dialog import JobDialog


def _session(window):
    ws = getattr(window, "workspace", None)
    return getattr(ws, "session", None) if ws is not None else None


def _may_read(session) -> bool:
    """The role may read the quality state (asked first: a refused call is audited)."""
    from compliance.roles import allowed

    return allowed(getattr(session, "role", ""), "quality.read")


def _ops(window):
    from compliance.qualitystore import quality_ops

    s = _session(window)
    return quality_ops(s) if s is not None and _may_read(s) else None


class QualityDashboard(JobDialog):
    """Plots and numbers of one task and model; "Export report…" writes the HTML report."""

    def __init__(self, window, parent=None):
        super().__init__(window, parent, title="Quality dashboard", wrap_status=False)
        self.data: dict | None = None
        self.pngs: dict[str, bytes] = {}

        top = QHBoxLayout()
        self.task_box = QComboBox()
        self.task_box.setEditable(True)
        self.task_box.setMinimumWidth(140)
        self.model_box = QComboBox()
        self.model_box.setMinimumWidth(160)
        self.coverage = QDoubleSpinBox()
        self.coverage.setRange(0.05, 1.0)
        self.coverage.setSingleStep(0.05)
        self.coverage.setValue(0.8)
        self.refresh_button = QPushButton("Refresh")
        self.refresh_button.clicked.connect(self.refresh)
        self.export_button = QPushButton("Export report…")
        self.export_button.clicked.connect(self.export_dialog)
        for label, w in (("Task", self.task_box), ("Model", self.model_box),
                         ("Coverage target", self.coverage)):
            top.addWidget(QLabel(label))
            top.addWidget(w)
        top.addStretch(1)
        top.addWidget(self.refresh_button)
        top.addWidget(self.export_button)

        from models.quality.report import PLOTS

        grid = QGridLayout()
        self.plot_labels = {}
        for n, name in enumerate(PLOTS):
            lab = QLabel("…")
            lab.setMinimumSize(480, 330)
            self.plot_labels[name] = lab
            grid.addWidget(lab, n // 3, n % 3)  # five plots: two rows of three
        # the numbers fill the sixth cell, scrolling when there are many readers, so that
        # the dialog stays two plots high (it must fit a 1080-pixel screen)
        numbers_box = QWidget()
        self.numbers = QFormLayout(numbers_box)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(numbers_box)
        scroll.setMinimumSize(480, 330)
        grid.addWidget(scroll, (len(PLOTS)) // 3, len(PLOTS) % 3)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addLayout(grid)
        layout.addWidget(self.status)
        self._fill_choices()

    # -- choices ------------------------------------------------------------------------------
    def _fill_choices(self) -> None:
        ops = _ops(self.window)
        state = ops.quality_state_unaudited() if ops is not None else {}
        self.task_box.clear()
        self.task_box.addItems(sorted(state.get("references", {})))
        self.model_box.clear()
        self.model_box.addItems(sorted(state.get("calibrations", {})))

    # -- gathering on a worker thread ---------------------------------------------------------
    def refresh(self) -> None:
        """Recompute the numbers and plots in the background."""
        ops = _ops(self.window)
        if ops is None or self.busy():
            return
        task = self.task_box.currentText().strip() or None
        model = self.model_box.currentText().strip() or None
        coverage = float(self.coverage.value())
        self.status.setText("Computing…")
        self.refresh_button.setEnabled(False)

        def work(post):
            try:
                from app.cli.quality_ws import report_data
                from models.quality.report import render_plots

                data = report_data(ops, task, model, coverage_target=coverage)
                post("done", (data, render_plots(data)))
            except Exception as exc:  # noqa: BLE001 - shown to the user in the dialog
                post("error", exc)

        self._start_job(work, "quality-dashboard")

    def _job_ended(self, kind, payload) -> None:
        self.refresh_button.setEnabled(True)
        if kind == "error":
            self.status.setText(f"Could not compute the dashboard: {payload}")
            return
        self.data, self.pngs = payload
        self._show()

    def _show(self) -> None:
        from models.quality.report import numbers

        for name, png in self.pngs.items():
            pix = QPixmap()
            pix.loadFromData(png, "PNG")
            self.plot_labels[name].setMinimumSize(pix.size())  # never crop a plot
            self.plot_labels[name].setPixmap(pix)
        while self.numbers.rowCount():
            self.numbers.removeRow(0)
        for label, value in numbers(self.data):
            field = QLabel(value)
            field.setWordWrap(True)
            self.numbers.addRow(QLabel(label + ":"), field)
        self.status.setText("")

    # -- export -------------------------------------------------------------------------------
    def export_report(self, folder) -> dict:
        """Write the report of the numbers shown into ``folder`` (audited)."""
        from models.quality.report import write_report

        if self.data is None:
            raise RuntimeError("nothing computed yet; press Refresh")
        files = write_report(folder, self.data)
        ops = _ops(self.window)
        if ops is not None:
            ops.audit("quality.report", details={"task": self.data.get("task"),
                                                 "files": len(files), "from": "dashboard"})
        return files

    def export_dialog(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Export the quality report into")
        if not folder:
            return
        try:
            files = self.export_report(folder)
        except Exception as exc:  # noqa: BLE001 - one line to the user
            QMessageBox.warning(self, "Export report", f"{folder}: {exc}")
            return
        self.status.setText(f"Report written to {files['html']}")


class _RankColumn:
    """The worklist's "rank" column: callable(case dict) -> rank ("" when unranked).

    The ranks are read again when older than :attr:`MAX_AGE_S` at the next worklist refresh,
    so a reader's worklist follows a ranking the lead made elsewhere without a new login.
    """

    MAX_AGE_S = 30.0

    def __init__(self, session):
        import time

        self.session, self._clock = session, time.monotonic
        self.ranks: dict[str, int] = {}
        self.read_at = None

    def refresh(self) -> None:
        self.ranks = self.session.worklist_ranks()
        self.read_at = self._clock()

    def __call__(self, case: dict):
        if self.read_at is None or self._clock() - self.read_at > self.MAX_AGE_S:
            self.refresh()
        return self.ranks.get(case.get("case_id"), "")


def rank_column(window):
    """The "rank" column of the open workspace's worklist (None without a ranking, or for a
    role without a worklist)."""
    from compliance.roles import allowed

    s = _session(window)
    if s is None or not allowed(getattr(s, "role", ""), "case.list"):
        return None
    col = _RankColumn(s)
    try:
        col.refresh()
    except Exception:  # noqa: BLE001 - a workspace without a quality state: no column
        return None
    return col if col.ranks else None


def install_quality_dashboard(window) -> dict:
    """Add the "Quality" menu to ``window``; return its actions by name."""
    menu = window.menuBar().addMenu("&Quality")
    dash = menu.addAction("Quality dashboard…")
    export = menu.addAction("Export report…")
    rank = menu.addAction("Rank unlabelled cases…")  # its module loads when first used
    window.quality_menu = menu

    def open_dashboard(export_now=False):
        dlg = QualityDashboard(window)
        window.quality_dashboard = dlg
        dlg.show()
        dlg.refresh()
        return dlg

    def export_now():
        dlg = open_dashboard()
        # the export waits for the numbers; ask for the folder once they are there
        def poll():
            if dlg.busy() or dlg.data is None and dlg._timer.isActive():
                QTimer.singleShot(100, poll)
            elif dlg.data is not None:
                dlg.export_dialog()
        QTimer.singleShot(100, poll)

    def open_ranking():
        from app.gui.quality_rank import RankDialog

        dlg = RankDialog(window)
        window.quality_rank_dialog = dlg
        dlg.show()
        return dlg

    dash.triggered.connect(lambda: open_dashboard())
    export.triggered.connect(export_now)
    rank.triggered.connect(open_ranking)

    def on_workspace(controller):
        session = getattr(controller, "session", None) if controller is not None else None
        on = session is not None and _may_read(session)
        dash.setEnabled(on)
        export.setEnabled(on)
        rank.setEnabled(on)
        # every role with a worklist labels in the lead's order: the rank column is theirs too
        if session is not None and hasattr(controller, "extra_columns"):
            col = rank_column(window)
            if col is not None:
                controller.extra_columns["rank"] = col
                if hasattr(controller, "refresh_worklist"):
                    controller.refresh_worklist()

    on_workspace(getattr(window, "workspace", None))
    signal = getattr(window, "workspace_changed", None)
    if signal is not None:
        signal.connect(on_workspace)
    return {"dashboard": dash, "export": export, "rank": rank}
