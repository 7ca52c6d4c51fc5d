"""Fixtures for the workspace GUI: real workspaces (cheap test KDF), a 32^3 case, windows."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("pytestqt")

PASSWORDS = {"admin": "correct horse battery", "ann": "first reader pw 1",
             "rev": "second reader pw"}
PATIENT = {"name": "Doe^Jane", "patient_id": "PID-778899"}


class FakeClock:
    """A monotonic clock the test advances (idle lock without waiting)."""

    def __init__(self):
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture(autouse=True)
def _isolated_settings(tmp_path, monkeypatch):
    # Never read the machine's own site/user settings (auto_lock_minutes, autosave_seconds).
    monkeypatch.setenv("ANNOTRACE_SITE_CONFIG", str(tmp_path / "no-site.toml"))
    monkeypatch.setenv("ANNOTRACE_USER_CONFIG", str(tmp_path / "no-user.toml"))


@pytest.fixture
def passwords() -> dict:
    return dict(PASSWORDS)


@pytest.fixture
def workspace(tmp_path):
    """(Workspace, case_id): users admin/ann (annotator)/rev (reviewer), one 32^3 MR case."""
    from compliance.keys import KdfParams
    from compliance.workspace import Workspace

    ws = Workspace.create(tmp_path / "ws", "admin", PASSWORDS["admin"], kdf=KdfParams.testing())
    with ws.login("admin", PASSWORDS["admin"]) as admin:
        admin.add_user("ann", "annotator", PASSWORDS["ann"])
        admin.add_user("rev", "reviewer", PASSWORDS["rev"])
    img = (np.arange(32 ** 3, dtype=np.int32).reshape(32, 32, 32) % 1000).astype(np.int16)
    affine = np.diag([0.8, 0.8, 1.5, 1.0])
    with ws.login("ann", PASSWORDS["ann"]) as ann:
        case_id = ann.import_case(img, affine, modality="MR", patient=dict(PATIENT),
                                  description="test series")
    return ws, case_id


@pytest.fixture
def answers(monkeypatch):
    """Scripted QMessageBox answers: ``answers.question`` is a list popped per question
    (default Discard when empty); every text shown is recorded in ``answers.shown``."""
    from PySide6.QtWidgets import QMessageBox

    class Answers:
        question: list = []
        shown: list = []

    a = Answers()
    a.question, a.shown = [], []

    def question(parent, title, text, *args, **kwargs):
        a.shown.append(text)
        return a.question.pop(0) if a.question else QMessageBox.Discard

    def warning(parent, title, text, *args, **kwargs):
        a.shown.append(text)
        return QMessageBox.Ok

    monkeypatch.setattr(QMessageBox, "question", staticmethod(question))
    monkeypatch.setattr(QMessageBox, "warning", staticmethod(warning))
    monkeypatch.setattr(QMessageBox, "critical", staticmethod(warning))
    return a


@pytest.fixture
def make_window(qtbot, tmp_path, answers):
    """``make_window()`` -> a shown MainWindow with the editor; workspaces detached at the end."""
    from PySide6.QtCore import QSettings

    from app.gui.mainwindow import MainWindow, install_editor

    windows = []

    def make():
        window = MainWindow(QSettings(str(tmp_path / f"s{len(windows)}.ini"),
                                      QSettings.IniFormat))
        qtbot.addWidget(window)
        install_editor(window)
        window.show()
        windows.append(window)
        return window

    yield make
    for window in windows:
        if window.workspace is not None:
            window.workspace.dirty = False
            window.detach_workspace()


@pytest.fixture
def attach(workspace):
    """``attach(window, user, clock=None)`` -> a WorkspaceController logged in as ``user``."""
    from app.gui.workspace import WorkspaceController

    ws, _ = workspace

    def _attach(window, user, clock=None):
        kwargs = {"clock": clock} if clock is not None else {}
        session = ws.login(user, PASSWORDS[user], **kwargs)
        controller = WorkspaceController(window, session, ws.root)
        window.attach_workspace(controller)
        return controller

    return _attach


@pytest.fixture
def paint():
    """``paint(window, voxels_kji, name)``: see :func:`_paint`."""
    return _paint


def _paint(window, voxels_kji, name="lesion"):
    """Add a segment and set ``voxels_kji`` (list of (k, j, i)) through the editor (undoable,
    recorded); returns the segment id."""
    seg = window.segmentation
    sid = window.segment_panel.add_segment(name).segment_id
    mask = np.zeros(seg.shape, bool)
    for k, j, i in voxels_kji:
        mask[k, j, i] = True
    box = tuple(slice(0, n) for n in seg.shape)
    window.edit_controller.editor().set_mask("paint", sid, box, mask)
    return sid
