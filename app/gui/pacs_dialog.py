"""File > Query PACS…: search studies, list their series, retrieve one into the workspace.

Every search and retrieve goes through :mod:`app.pacs.workflow` with the workspace session,
so it is permission-checked and audited exactly as on the command line; without an attached
workspace the dialog can be opened but Search and Retrieve are disabled (a search shows PHI
and must be audited). Network work runs on a plain :class:`threading.Thread`; its results
come back through a :class:`queue.Queue` drained by a QTimer on the GUI thread
(:class:`app.gui.job_dialog.JobDialog`). Cancel sets an event the retrieve checks before
every instance; nothing is imported unless every instance arrived.
"""

from __future__ import annotations

import threading

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (QAbstractItemView, QComboBox, QFormLayout, QHBoxLayout, QLabel,
                               QLineEdit, QMenu, QProgressBar, QPushButton, QTreeWidget,
                               QTreeWidgetItem, QVBoxLayout)

from app.gui.job_dialog import JobDialog

NO_WORKSPACE = "Open a workspace first: PACS searches and retrieves are audited in it"
STUDY_COLUMNS = ("Patient", "Patient ID", "Date", "Accession", "Modalities", "Description",
                 "Series / images")
MODALITIES = ("", "CT", "MR", "PT", "US", "CR", "DX", "MG", "NM", "SEG")
POLL_MS = 30


class PacsDialog(JobDialog):
    """Search the PACS and retrieve a series into ``window.workspace``."""

    def __init__(self, window, parent=None):
        super().__init__(window, parent, title="Query PACS", poll_ms=POLL_MS)
        self.resize(900, 520)
        self._cancel = threading.Event()
        self._on_done = self._on_progress = None
        self._client = None
        self.last_case_id: str | None = None

        form = QFormLayout()
        self.patient_id = QLineEdit()
        self.patient_name = QLineEdit()
        self.patient_name.setPlaceholderText("exact name, e.g. DOE^JANE")
        self.accession = QLineEdit()
        self.date_from = QLineEdit()
        self.date_to = QLineEdit()
        for edit in (self.date_from, self.date_to):
            edit.setPlaceholderText("YYYYMMDD")
            edit.setMaxLength(8)
        dates = QHBoxLayout()
        dates.addWidget(self.date_from)
        dates.addWidget(QLabel("to"))
        dates.addWidget(self.date_to)
        self.modality = QComboBox()
        self.modality.setEditable(True)
        self.modality.addItems(MODALITIES)
        form.addRow("Patient ID", self.patient_id)
        form.addRow("Patient name", self.patient_name)
        form.addRow("Accession number", self.accession)
        form.addRow("Study date", dates)
        form.addRow("Modality", self.modality)
        for edit in (self.patient_id, self.patient_name, self.accession, self.date_from,
                     self.date_to):
            edit.returnPressed.connect(self.search)

        self.search_button = QPushButton("&Search")
        self.search_button.setDefault(True)
        self.search_button.clicked.connect(self.search)
        self.results = QTreeWidget()
        self.results.setHeaderLabels(list(STUDY_COLUMNS))
        self.results.setSelectionMode(QAbstractItemView.SingleSelection)
        self.results.itemExpanded.connect(self._expand_study)
        self.results.itemSelectionChanged.connect(self._update_buttons)
        self.results.itemDoubleClicked.connect(lambda item, _: self._retrieve_if_series(item))
        self.progress = QProgressBar()
        self.progress.setVisible(False)
        self.retrieve_button = QPushButton("&Retrieve into workspace")
        self.retrieve_button.clicked.connect(self.retrieve)
        self.cancel_button = QPushButton("&Cancel")
        self.cancel_button.clicked.connect(self.cancel)
        self.cancel_button.setEnabled(False)

        top = QHBoxLayout()
        top.addLayout(form, 1)
        top.addWidget(self.search_button, 0, Qt.AlignBottom)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.results, 1)
        layout.addWidget(self.status)
        layout.addLayout(self._button_row(self.retrieve_button, self.cancel_button,
                                          lead=self.progress, on_close=self.reject))
        changed = getattr(window, "workspace_changed", None)
        if changed is not None:
            changed.connect(self._workspace_changed)
        self._update_buttons()

    # -- state -----------------------------------------------------------------------------
    def _session(self):
        workspace = getattr(self.window, "workspace", None)
        return getattr(workspace, "session", None) if workspace is not None else None

    def _workspace_changed(self, _controller=None) -> None:
        self._client = None  # another user may hold other PACS credentials
        self._update_buttons()

    def busy(self) -> bool:
        """Whether a job runs or its end is not yet shown."""
        # Not the thread's liveness: the end handler updates the buttons, and the thread
        # may not have exited by then.
        return self._timer.isActive()

    def _update_buttons(self) -> None:
        attached = self._session() is not None
        busy = self.busy()
        self.search_button.setEnabled(attached and not busy)
        self.search_button.setToolTip("" if attached else NO_WORKSPACE)
        item = self.results.currentItem()
        series = item is not None and item.parent() is not None
        self.retrieve_button.setEnabled(attached and series and not busy)
        self.retrieve_button.setToolTip(NO_WORKSPACE if not attached else
                                        "" if series else "Select a series of a study")
        self.cancel_button.setEnabled(busy)

    def _run(self, func, on_done, on_progress=None, message="") -> None:
        """Run ``func(progress, cancelled)`` in the background; ``on_done(result)`` and
        ``on_progress(done, total)`` run on the GUI thread."""
        self.status.setText(message)
        self._cancel = cancel = threading.Event()
        self._on_done, self._on_progress = on_done, on_progress

        def work(post):
            try:
                result = func(lambda done, total: post("progress", (done, total)),
                              cancel.is_set)
            except BaseException as exc:  # noqa: BLE001 - every failure is shown in the dialog
                post("error", exc)
            else:
                post("done", result)

        self._start_job(work, "annotrace-pacs")
        self._update_buttons()

    def _job_progress(self, payload) -> None:
        if self._on_progress is not None:
            self._on_progress(*payload)

    def _job_ended(self, kind, payload) -> None:
        if kind == "error":
            self._failed(payload)
            return
        self._on_done(payload)
        self._update_buttons()

    def _failed(self, exc) -> None:
        self.progress.setVisible(False)
        first = (str(exc).splitlines() or [type(exc).__name__])[0]
        self.status.setText(first if getattr(exc, "exit_code", None) is not None
                            else f"internal error: {type(exc).__name__}: {first}")
        self._update_buttons()

    def _client_for(self, session):
        # Built on the worker thread (reading the keyring may take a moment) and kept.
        if self._client is None:
            from app.pacs.workflow import make_client

            self._client = make_client(session=session)
        return self._client

    # -- search ----------------------------------------------------------------------------
    def filters(self) -> dict:
        return {"patient_id": self.patient_id.text().strip(),
                "patient_name": self.patient_name.text().strip(),
                "accession": self.accession.text().strip(),
                "date_from": self.date_from.text().strip(),
                "date_to": self.date_to.text().strip(),
                "modality": self.modality.currentText().strip()}

    def search(self) -> None:
        session = self._session()
        if session is None or self.busy():
            return
        filters = self.filters()

        def work(_progress, _cancelled):
            from app.pacs import workflow

            return workflow.query_studies(session, self._client_for(session), **filters)

        self._run(work, self._show_studies, message="Searching…")

    def _show_studies(self, studies) -> None:
        self.results.clear()
        for st in studies:
            item = QTreeWidgetItem([str(st["PatientName"]), str(st["PatientID"]),
                                    str(st["StudyDate"]), str(st["AccessionNumber"]),
                                    str(st["ModalitiesInStudy"]), str(st["StudyDescription"]),
                                    str(st["NumberOfStudyRelatedSeries"] or "")])
            item.setData(0, Qt.UserRole, st["StudyInstanceUID"])
            item.setChildIndicatorPolicy(QTreeWidgetItem.ShowIndicator)
            self.results.addTopLevelItem(item)
        for c in range(len(STUDY_COLUMNS)):
            self.results.resizeColumnToContents(c)
        self.status.setText(f"{len(studies)} studies found" if studies else "No studies found")

    def _expand_study(self, item) -> None:
        session = self._session()
        if item.parent() is not None or item.childCount() or session is None or self.busy():
            return
        study_uid = item.data(0, Qt.UserRole)

        def work(_progress, _cancelled):
            from app.pacs import workflow

            return workflow.query_series(session, self._client_for(session), study_uid)

        self._run(work, lambda series: self._show_series(item, series),
                  message="Listing series…")

    def _show_series(self, study_item, series) -> None:
        for se in series:
            child = QTreeWidgetItem(["", "", "", "", str(se["Modality"]),
                                     " ".join(x for x in (f"#{se['SeriesNumber']}" if
                                                          se["SeriesNumber"] != "" else "",
                                                          str(se["SeriesDescription"])) if x)
                                     or "(no description)",
                                     str(se["NumberOfSeriesRelatedInstances"])])
            child.setData(0, Qt.UserRole, se["SeriesInstanceUID"])
            study_item.addChild(child)
        study_item.setChildIndicatorPolicy(QTreeWidgetItem.DontShowIndicatorWhenChildless)
        study_item.setExpanded(True)
        self.status.setText(f"{len(series)} series; select one and Retrieve")

    def expand_study(self, row: int) -> None:
        """Expand (and list the series of) study ``row`` of the results."""
        item = self.results.topLevelItem(row)
        item.setExpanded(True)

    # -- retrieve --------------------------------------------------------------------------
    def _retrieve_if_series(self, item) -> None:
        if item.parent() is not None:
            self.retrieve()

    def retrieve(self) -> None:
        session = self._session()
        item = self.results.currentItem()
        if session is None or item is None or item.parent() is None or self.busy():
            return
        study_uid = item.parent().data(0, Qt.UserRole)
        series_uid = item.data(0, Qt.UserRole)

        def work(progress, cancelled):
            from app.pacs import workflow

            return workflow.retrieve_case(session, self._client_for(session), study_uid,
                                          series_uid, progress=progress, cancelled=cancelled)

        self.progress.setRange(0, 0)
        self.progress.setVisible(True)
        self._run(work, self._retrieved, self._progressed, message="Retrieving…")

    def _progressed(self, done: int, total: int) -> None:
        self.progress.setRange(0, total)
        self.progress.setValue(done)
        self.status.setText(f"Retrieving: {done} of {total} images")

    def _retrieved(self, case_id: str) -> None:
        self.progress.setVisible(False)
        self.last_case_id = case_id
        self.status.setText(f"Imported as case {case_id}")
        workspace = getattr(self.window, "workspace", None)
        if workspace is not None:
            refresh = getattr(workspace, "refresh_worklist", None)
            if refresh is not None:
                refresh()
            workspace.open_case(case_id)

    def cancel(self) -> None:
        if self.busy():
            self._cancel.set()
            self.status.setText("Cancelling… (nothing is kept)")

    def reject(self) -> None:  # noqa: D401 - Qt API: closing cancels a running retrieve
        self.cancel()
        super().reject()


def install_pacs(window):
    """Add File > Query PACS… to ``window``; returns the action."""
    menu = getattr(window, "file_menu", None)
    if menu is None:
        menu = next((a.menu() for a in window.menuBar().actions()
                     if a.menu() is not None and a.text().replace("&", "") == "File"), None) \
            or window.menuBar().addMenu("&File")
    action = menu.addAction("Query &PACS…")
    quit_action = getattr(window, "quit_action", None)
    if quit_action is not None and isinstance(menu, QMenu):
        menu.insertAction(quit_action, action)  # keep Quit last

    def open_dialog():
        dialog = getattr(window, "pacs_dialog", None)
        if dialog is None:
            dialog = window.pacs_dialog = PacsDialog(window)
        dialog.show()
        dialog.raise_()
        return dialog

    action.triggered.connect(open_dialog)
    window.pacs_action = action
    window.open_pacs_dialog = open_dialog
    return action
