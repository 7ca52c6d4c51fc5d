"""The main window: demo on start, background loading, errors, series picker, recent files."""

import threading

import numpy as np
import pytest
from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QMessageBox

from app.demo import DEMO_T1
from viewers.io.errors import MultipleSeriesError
from viewers.io.summary import SeriesSummary
from viewers.volume import Volume


@pytest.fixture
def window(qtbot, tmp_path):
    from app.gui.mainwindow import MainWindow

    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.IniFormat)
    win = MainWindow(settings)
    qtbot.addWidget(win)
    win.resize(900, 400)
    win.show()
    yield win
    if win.loader is not None:
        win.loader.wait()


@pytest.fixture
def errors(monkeypatch):
    """QMessageBox.critical recorded instead of blocking."""
    seen = []
    monkeypatch.setattr(QMessageBox, "critical",
                        lambda parent, title, text, *a: seen.append((title, text)))
    return seen


def test_no_argument_opens_the_demo(qtbot, monkeypatch):
    from app.cli.main import main
    from app.gui import application

    shown = []

    def fake_run_gui(path, series_uid):  # the real window, without entering the event loop
        win = application.build_window(path, series_uid)
        qtbot.addWidget(win)
        qtbot.waitUntil(lambda: win.volume is not None and win.path is not None, timeout=20000)
        shown.append(win)
        return 0

    monkeypatch.setattr(application, "run_gui", fake_run_gui)
    assert main([]) == 0
    win = shown[0]
    assert win.path == str(DEMO_T1)
    assert win.volume.shape == (181, 217, 181)
    assert [v.slice_index for v in win.views] == [90, 108, 90]
    assert win.segmentation.shape == win.volume.shape and not win.segmentation.segments


def test_broken_file_shows_a_dialog_and_the_window_stays_usable(window, qtbot, errors,
                                                                 tmp_path):
    broken = tmp_path / "broken.nii.gz"
    broken.write_bytes(b"\x1f\x8b not really gzip")
    window.open_path(broken)
    qtbot.waitUntil(lambda: bool(errors), timeout=10000)
    title, text = errors[0]
    assert "broken.nii.gz" in text and "\n" not in text
    assert window.volume is None and not window.progress.isVisible()
    window.open_path(DEMO_T1)
    qtbot.waitUntil(lambda: window.volume is not None and window.path is not None, timeout=20000)
    assert window.recent_files() == [str(DEMO_T1.resolve())]
    assert len(errors) == 1


def test_slices_show_while_loading(window, qtbot):
    release = threading.Event()
    full = np.zeros((6, 5, 4), dtype=np.int16)

    def slow_reader(path, series_uid=None, progress=None):
        dest = np.zeros_like(full)
        dest[0] = 300
        progress(1, 6, dest)
        release.wait(10)
        dest[1:] = 300
        progress(6, 6, dest)
        return Volume.from_geometry(dest, (0, 0, 0), (1, 1, 1), modality="CT")

    window.open_path("slow.nii", reader=slow_reader)
    qtbot.waitUntil(lambda: window.volume is not None, timeout=5000)
    assert window.path is None and window.progress.isVisible()  # still loading
    assert window.views[0].slice_geometry.num_slices == 6
    release.set()
    qtbot.waitUntil(lambda: window.path == "slow.nii", timeout=5000)
    assert not window.progress.isVisible() and window.volume.modality == "CT"


def test_series_picker_opens_the_chosen_series(window, qtbot, monkeypatch, errors):
    from app.gui.series_picker import SeriesPicker

    series = [SeriesSummary("1.2.3", "CT", "abdomen", 40, (40, 8, 8)),
              SeriesSummary("1.2.4", "MR", "t1", 20, (20, 8, 8))]
    asked = []

    def reader(path, series_uid=None, progress=None):
        asked.append(series_uid)
        if series_uid is None:
            raise MultipleSeriesError(path, series)
        return Volume.from_geometry(np.zeros((2, 3, 4), np.int16), (0, 0, 0), (1, 1, 1))

    def choose_second(dialog):
        assert dialog.table.rowCount() == 2
        assert dialog.table.item(1, 0).text() == "MR"
        assert dialog.table.item(0, 3).text() == "40 x 8 x 8"
        dialog.table.selectRow(1)
        return 1

    monkeypatch.setattr(SeriesPicker, "exec", choose_second)
    window.reader = reader  # also used for the re-open after picking
    window.open_path("folder")
    qtbot.waitUntil(lambda: window.path == "folder", timeout=5000)
    assert asked == [None, "1.2.4"] and not errors


def test_maximise_presets_and_segment_panel(window, qtbot):
    from viewers.labels import TYPE_BRAIN
    from viewers.render import PRESETS

    window.set_volume(Volume.from_geometry(np.zeros((4, 5, 6), np.int16), (0, 0, 0), (1, 1, 1)))
    window.maximise_view(window.views[1])
    assert [v.isVisible() for v in window.views] == [False, True, False]
    window.maximise_view(None)
    assert all(v.isVisible() for v in window.views)
    window.set_window(PRESETS["CT lung"])
    assert window.state.window.width == 1500 and window.state.window.center == -600
    panel = window.segment_panel
    seg = panel.add_segment()
    assert panel.active_segment_id == seg.segment_id and panel.list.count() == 1
    panel.name_edit.setText("Liver")
    panel.name_edit.editingFinished.emit()
    panel.type_edit.setEditText("SCT 12738006 Brain")
    panel.type_edit.lineEdit().editingFinished.emit()
    panel.set_color(seg.segment_id, (1, 2, 3))
    panel.opacity_slider.setValue(80)
    panel.mode_box.setCurrentIndex(1)
    s = window.segmentation.segments[seg.segment_id]
    assert (s.name, s.type, s.color) == ("Liver", TYPE_BRAIN, (1, 2, 3))
    assert window.state.style(seg.segment_id).opacity == 0.8
    assert window.state.style(seg.segment_id).outline
    window.state.set_style(seg.segment_id, opacity=0.3, outline=False)  # changed elsewhere
    assert panel.opacity_slider.value() == 30 and panel.mode_box.currentIndex() == 0
    from PySide6.QtCore import Qt

    panel.list.item(0).setCheckState(Qt.Unchecked)
    assert not s.visible
    panel.delete_active()
    assert not window.segmentation.segments and panel.list.count() == 0


def test_dropping_a_file_opens_it(window, qtbot):
    from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt, QUrl
    from PySide6.QtGui import QDragEnterEvent, QDropEvent

    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(DEMO_T1))])
    # Qt delivers drops only inside a real drag session; call the handlers it would call
    enter = QDragEnterEvent(QPoint(50, 50), Qt.CopyAction, mime, Qt.LeftButton, Qt.NoModifier)
    window.dragEnterEvent(enter)
    assert enter.isAccepted() and window.acceptDrops()
    window.dropEvent(QDropEvent(QPointF(50, 50), Qt.CopyAction, mime, Qt.LeftButton,
                                Qt.NoModifier))
    qtbot.waitUntil(lambda: window.path == str(DEMO_T1), timeout=20000)
    assert window.recent_menu.actions()[0].text() == str(DEMO_T1.resolve())


def test_real_folder_with_many_series_opens_the_picker(window, qtbot, monkeypatch, errors,
                                                       pydicom_data_dir):
    from app.gui.series_picker import SeriesPicker

    shown = []

    def cancel(dialog):
        shown.append([(dialog.table.item(r, 0).text(), dialog.table.item(r, 2).text())
                      for r in range(dialog.table.rowCount())])
        return 0

    monkeypatch.setattr(SeriesPicker, "exec", cancel)
    window.open_path(pydicom_data_dir)
    qtbot.waitUntil(lambda: bool(shown), timeout=30000)
    assert len(shown[0]) > 5 and ("MR", "60") in shown[0] and ("CT", "3") in shown[0]
    assert window.volume is None and not errors  # cancelled: nothing opened, no error


def test_unreadable_slices_can_be_skipped_on_request(window, qtbot, monkeypatch, errors,
                                                     pydicom_data_dir):
    """pydicom-data's 60-image MR series holds a truncated file (10 frames)."""
    from app.gui.series_picker import SeriesPicker

    def choose_mr60(dialog):
        for r in range(dialog.table.rowCount()):
            if (dialog.table.item(r, 0).text(), dialog.table.item(r, 2).text()) == ("MR", "60"):
                dialog.table.selectRow(r)
        return 1

    asked = []
    monkeypatch.setattr(SeriesPicker, "exec", choose_mr60)
    monkeypatch.setattr(QMessageBox, "question",
                        lambda parent, title, text, *a: asked.append(text) or QMessageBox.Yes)
    window.open_path(pydicom_data_dir)
    qtbot.waitUntil(lambda: window.path is not None, timeout=30000)
    assert len(asked) == 1 and "truncated" in asked[0] and not errors
    assert window.volume.shape == (50, 64, 64)
    assert any("skipped 10 unreadable" in w for w in window.volume.warnings)
