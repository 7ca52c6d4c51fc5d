"""The Edit tool bar on annotrace's real main window: paint, undo, delete a segment from the
segment panel and undo that, a new image gets a new history."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("pytestqt")

from PySide6.QtCore import QEvent, QPointF, QSettings, Qt  # noqa: E402
from PySide6.QtGui import QMouseEvent  # noqa: E402
from PySide6.QtTest import QTest  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from viewers.volume import Volume  # noqa: E402


def _send(view, kind, ijk, buttons):
    pos = view.screen_point(ijk)
    QApplication.sendEvent(view, QMouseEvent(kind, QPointF(pos), view.mapToGlobal(QPointF(pos)),
                                             Qt.LeftButton, buttons, Qt.NoModifier))


def test_edit_tools_on_the_main_window(qtbot, tmp_path):
    from app.gui.mainwindow import MainWindow, install_editor

    window = MainWindow(QSettings(str(tmp_path / "s.ini"), QSettings.IniFormat))
    qtbot.addWidget(window)
    assert install_editor(window)
    ctl = window.edit_controller
    vol = Volume.from_geometry(np.zeros((8, 32, 32), np.int16), (0.0, 0.0, 0.0), (1.0, 1.0, 2.0))
    window.set_volume(vol)
    with qtbot.waitActive(window):
        window.show()
        window.activateWindow()
    records = []
    ctl.recorded.connect(records.append)
    seg = window.segmentation
    sid = window.segment_panel.add_segment("lesion").segment_id
    assert window.segment_panel.active_segment_id == sid
    assert seg.remover is not None  # the new image's editor is attached at once
    axial = window.views[0]
    k = axial.slice_index
    axial.setFocus()  # letters typed into the segment name field must not switch tools
    QTest.keyClick(axial, Qt.Key_B)
    QTest.keyClick(axial, Qt.Key_D)
    assert ctl.tool == "brush" and not ctl.sphere
    ctl.set_radius(1.0)
    _send(axial, QEvent.MouseButtonPress, (10.0, 12.0, k), Qt.LeftButton)
    _send(axial, QEvent.MouseButtonRelease, (10.0, 12.0, k), Qt.NoButton)
    expected = np.zeros(seg.shape, bool)
    expected[k, 12, 9:12] = expected[k, 11:14, 10] = True  # disk of 1 mm on 1 mm pixels
    np.testing.assert_array_equal(seg.mask(sid), expected)
    window.segment_panel.delete_active()
    assert sid not in seg.segments
    QTest.keyClick(axial, Qt.Key_Z, Qt.ControlModifier)
    assert sid in seg.segments
    np.testing.assert_array_equal(seg.mask(sid), expected)
    QTest.keyClick(axial, Qt.Key_Z, Qt.ControlModifier)
    assert not seg.mask(sid).any()
    assert [(r.tool, r.action) for r in records] == [("paint", "apply"), ("remove_segment", "apply"),
                                                     ("remove_segment", "undo"), ("paint", "undo")]
    # a new image: a new, empty history bound to the new segmentation
    window.set_volume(Volume.from_geometry(np.zeros((4, 16, 16), np.int16), (0, 0, 0), (1, 1, 1)))
    assert ctl.editor().segmentation is window.segmentation
    assert not ctl.actions["undo"].isEnabled() and not ctl.actions["redo"].isEnabled()


def test_undo_budget_follows_the_undo_memory_setting(qtbot, tmp_path, monkeypatch):
    from app.gui.mainwindow import MainWindow, install_editor

    site = tmp_path / "site.toml"
    site.write_text('locked = ["undo_memory_mb"]\n[settings]\nundo_memory_mb = 64\n')
    monkeypatch.setenv("ANNOTRACE_SITE_CONFIG", str(site))
    monkeypatch.setenv("ANNOTRACE_USER_CONFIG", str(tmp_path / "user.toml"))
    window = MainWindow(QSettings(str(tmp_path / "s.ini"), QSettings.IniFormat))
    qtbot.addWidget(window)
    assert install_editor(window)
    assert window.edit_controller.max_bytes == 64 * 2**20
