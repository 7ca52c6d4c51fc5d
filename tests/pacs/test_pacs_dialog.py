"""File > Query PACS… against a real Orthanc, with a stand-in window holding a real workspace
session: search, list series, retrieve into the workspace and open the case; cancel; no
workspace -> disabled with a reason."""

from __future__ import annotations

import pydicom
import pytest
from pacs_common import PASSWORDS
from pacs_orthanc_server import upload_files
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMainWindow

from app.gui.pacs_dialog import NO_WORKSPACE, install_pacs

pytestmark = pytest.mark.qt


class StandInWorkspace:
    def __init__(self, session):
        self.session = session
        self.opened = []

    def open_case(self, case_id):
        self.opened.append(case_id)


@pytest.fixture(scope="module")
def stored(orthanc, colin_dicom_series):
    files = sorted(colin_dicom_series.glob("*.dcm"))
    upload_files(orthanc, files)
    return pydicom.dcmread(files[0], stop_before_pixels=True)


@pytest.fixture
def window(qtbot, orthanc, monkeypatch, tmp_path):
    settings = tmp_path / "settings.toml"
    settings.write_text(f'pacs_url = "{orthanc.url}"\n')
    monkeypatch.setenv("ANNOTRACE_USER_CONFIG", str(settings))
    monkeypatch.setenv("ANNOTRACE_SITE_CONFIG", str(tmp_path / "no-site.toml"))
    win = QMainWindow()
    win.workspace = None
    qtbot.addWidget(win)
    install_pacs(win)
    return win


def _search(qtbot, dialog, patient_id):
    dialog.patient_id.setText(patient_id)
    qtbot.mouseClick(dialog.search_button, Qt.LeftButton)
    qtbot.waitUntil(lambda: dialog.search_button.isEnabled(), timeout=15000)


def test_without_workspace_search_and_retrieve_are_disabled_with_the_reason(window):
    [action] = [a for m in window.menuBar().actions() for a in m.menu().actions()
                if a.text() == "Query &PACS…"]
    action.trigger()
    dialog = window.pacs_dialog
    assert not dialog.search_button.isEnabled() and dialog.search_button.toolTip() == NO_WORKSPACE
    assert not dialog.retrieve_button.isEnabled()
    assert dialog.retrieve_button.toolTip() == NO_WORKSPACE


def test_search_expand_retrieve_opens_the_new_case(qtbot, window, workspace, stored, tmp_path):
    with workspace.login("ann", PASSWORDS["ann"]) as session:
        window.workspace = StandInWorkspace(session)
        dialog = window.open_pacs_dialog()
        _search(qtbot, dialog, "ANNOTRACE-TEST-7")
        assert dialog.results.topLevelItemCount() == 1
        assert dialog.results.topLevelItem(0).text(1) == "ANNOTRACE-TEST-7"
        dialog.expand_study(0)
        study = dialog.results.topLevelItem(0)
        qtbot.waitUntil(lambda: study.childCount() == 1, timeout=15000)
        assert not dialog.retrieve_button.isEnabled()  # a study is not a series
        dialog.results.setCurrentItem(study.child(0))
        assert dialog.retrieve_button.isEnabled()
        qtbot.mouseClick(dialog.retrieve_button, Qt.LeftButton)
        qtbot.waitUntil(lambda: bool(window.workspace.opened), timeout=30000)
        assert window.workspace.opened == [dialog.last_case_id]
        assert not dialog.progress.isVisible() and dialog.progress.value() == 40
        assert [c["case_id"] for c in session.list_cases()] == [dialog.last_case_id]
        dialog.grab().save(str(tmp_path / "pacs_dialog.png"))


def test_cancel_keeps_nothing(qtbot, window, workspace, stored):
    with workspace.login("ann", PASSWORDS["ann"]) as session:
        window.workspace = StandInWorkspace(session)
        dialog = window.open_pacs_dialog()
        _search(qtbot, dialog, "ANNOTRACE-TEST-7")
        dialog.expand_study(0)
        study = dialog.results.topLevelItem(0)
        qtbot.waitUntil(lambda: study.childCount() == 1, timeout=15000)
        dialog.results.setCurrentItem(study.child(0))
        qtbot.mouseClick(dialog.retrieve_button, Qt.LeftButton)
        assert dialog.cancel_button.isEnabled()
        qtbot.mouseClick(dialog.cancel_button, Qt.LeftButton)
        qtbot.waitUntil(lambda: dialog.search_button.isEnabled(), timeout=15000)
        assert "cancelled" in dialog.status.text() and "nothing was kept" in dialog.status.text()
        assert window.workspace.opened == [] and session.list_cases() == []


def test_auditor_search_is_refused_in_the_dialog(qtbot, window, workspace, stored):
    with workspace.login("aud", PASSWORDS["aud"]) as session:
        window.workspace = StandInWorkspace(session)
        dialog = window.open_pacs_dialog()
        _search(qtbot, dialog, "ANNOTRACE-TEST-7")
        assert "may not pacs.query" in dialog.status.text()
        assert dialog.results.topLevelItemCount() == 0


def test_installs_on_the_real_main_window_before_quit(qtbot):
    from app.gui.mainwindow import MainWindow

    win = MainWindow()
    qtbot.addWidget(win)
    install_pacs(win)
    actions = win.file_menu.actions()
    assert actions.index(win.pacs_action) == actions.index(win.quit_action) - 1
    dialog = win.open_pacs_dialog()
    assert not dialog.search_button.isEnabled()  # no workspace attached


def test_follows_workspace_changed_of_the_window(qtbot, window, workspace):
    from PySide6.QtCore import QObject, Signal

    class Emitter(QObject):
        workspace_changed = Signal(object)

    emitter = Emitter()
    window.workspace_changed = emitter.workspace_changed
    dialog = window.open_pacs_dialog()
    assert not dialog.search_button.isEnabled()
    with workspace.login("ann", PASSWORDS["ann"]) as session:
        window.workspace = StandInWorkspace(session)
        emitter.workspace_changed.emit(window.workspace)
        assert dialog.search_button.isEnabled()
        window.workspace = None
        emitter.workspace_changed.emit(None)
        assert not dialog.search_button.isEnabled()
