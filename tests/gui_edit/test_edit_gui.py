"""The Edit tool bar on real SliceViews: a simulated drag paints the expected voxels at the
right patient-space place; Ctrl+Z removes them; shortcuts and the brush outline work."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("pytestqt")

from PySide6.QtCore import QEvent, QPoint, QPointF, Qt  # noqa: E402
from PySide6.QtGui import QMouseEvent, QWheelEvent  # noqa: E402
from PySide6.QtTest import QTest  # noqa: E402
from PySide6.QtWidgets import QApplication, QDoubleSpinBox, QHBoxLayout, QMainWindow, QWidget  # noqa: E402

from viewers.edit.shapes import capsule  # noqa: E402
from viewers.labels import Segmentation  # noqa: E402
from viewers.qt import editor as edit_gui  # noqa: E402
from viewers.qt.sliceview import SliceView  # noqa: E402
from viewers.render import ViewerState  # noqa: E402
from viewers.volume import Volume  # noqa: E402


class _Panel:
    """The one attribute of the segment panel the tool bar reads."""

    def __init__(self, sid):
        self.active_segment_id = sid


@pytest.fixture
def window(qtbot):
    # Oblique-free but flipped and anisotropic: i runs towards the patient's right (-x in LPS).
    arr = np.zeros((10, 48, 64), np.int16)
    vol = Volume.from_geometry(arr, (30.0, -20.0, 5.0), (0.8, 0.6, 2.5), np.diag([-1.0, 1.0, 1.0]))
    seg = Segmentation.empty_like(vol)
    sid = seg.add_segment("lesion").segment_id
    win = QMainWindow()
    central = QWidget()
    layout = QHBoxLayout(central)
    state = ViewerState(vol)
    views = [SliceView(o) for o in ("axial", "coronal", "sagittal")]
    for v in views:
        v.set_data(state, seg)
        layout.addWidget(v)
    win.setCentralWidget(central)
    win.volume, win.segmentation, win.views, win.segment_panel = vol, seg, views, _Panel(sid)
    win.resize(900, 400)
    qtbot.addWidget(win)
    edit_gui.install(win)
    with qtbot.waitActive(win):  # window shortcuts need the active window
        win.show()
        win.activateWindow()
    return win


def _mouse(view, kind, pos, button=Qt.LeftButton, buttons=Qt.LeftButton):
    """Deliver a real QMouseEvent at a sub-pixel widget position through Qt's event dispatch."""
    ev = QMouseEvent(kind, QPointF(pos), view.mapToGlobal(QPointF(pos)), button, buttons,
                     Qt.NoModifier)
    QApplication.sendEvent(view, ev)


def _drag(view, points):
    _mouse(view, QEvent.MouseButtonPress, points[0])
    for p in points[1:]:
        _mouse(view, QEvent.MouseMove, p, Qt.NoButton, Qt.LeftButton)
    _mouse(view, QEvent.MouseButtonRelease, points[-1], Qt.LeftButton, Qt.NoButton)


def test_drag_paints_the_expected_voxels_at_the_patient_position_and_ctrl_z_removes_them(window, qtbot):
    vol, seg = window.volume, window.segmentation
    ctl = window.edit_controller
    axial = window.views[0]
    QTest.keyClick(window, Qt.Key_B)  # brush
    assert ctl.tool == "brush"
    QTest.keyClick(window, Qt.Key_D)  # 2D disk in the view's plane
    assert not ctl.sphere
    ctl.set_radius(2.0)
    # From LPS (20, -8, z) to (12, -8, z) mm on the axial slice through the crosshair.
    k = axial.slice_index
    z = vol.index_to_lps((0, 0, k))[2]
    ends_lps = [(20.0, -8.0, z), (12.0, -8.0, z)]
    ends_ijk = [vol.lps_to_index(p) for p in ends_lps]
    screen = [axial.screen_point(ijk) for ijk in ends_ijk]
    # Patient left (+x) is on the screen's right in an axial view: the drag goes leftwards.
    assert screen[0].x() > screen[1].x()
    _drag(axial, screen)
    got = seg.mask(1)
    hit = [axial.voxel_at(p) for p in screen]  # where the view says the mouse was
    bbox, mask = capsule(seg.shape, vol.affine_lps, hit[0], hit[1], 2.0, slice_axis=0)
    expected = np.zeros(seg.shape, bool)
    expected[bbox] = mask
    np.testing.assert_array_equal(got, expected)
    assert np.allclose(hit, ends_ijk, atol=1e-6)
    centre_lps = vol.index_to_lps(np.argwhere(got)[:, ::-1].astype(float)).mean(axis=0)
    np.testing.assert_allclose(centre_lps, [16.0, -8.0, z], atol=0.5)
    assert ctl.editor().history.undo_steps == 1  # one drag, one command
    QTest.keyClick(window, Qt.Key_Z, Qt.ControlModifier)
    assert not seg.mask(1).any()
    QTest.keyClick(window, Qt.Key_Y, Qt.ControlModifier)
    np.testing.assert_array_equal(seg.mask(1), expected)
    QTest.keyClick(window, Qt.Key_Z, Qt.ControlModifier | Qt.ShiftModifier)  # nothing to redo
    np.testing.assert_array_equal(seg.mask(1), expected)


def test_eraser_shortcut_sphere_and_right_button(window):
    seg, ctl = window.segmentation, window.edit_controller
    coronal = window.views[1]
    QTest.keyClick(window, Qt.Key_B)
    ctl.set_radius(3.0)
    c = np.array([30.0, 24.0, 5.0])
    p = coronal.screen_point(c)
    _drag(coronal, [p])
    painted = seg.mask(1).sum()
    assert painted > 0 and len(np.unique(np.argwhere(seg.mask(1))[:, 1])) > 1  # a 3D sphere
    QTest.keyClick(window, Qt.Key_E)
    assert ctl.tool == "eraser"
    _drag(coronal, [p])
    assert not seg.mask(1).any()


def test_shift_wheel_and_brackets_change_the_brush_and_the_outline_is_drawn(window):
    ctl, axial = window.edit_controller, window.views[0]
    QTest.keyClick(window, Qt.Key_B)
    r0 = ctl.radius_mm
    pos = QPointF(axial.width() / 2, axial.height() / 2)
    wheel = QWheelEvent(pos, axial.mapToGlobal(pos), QPoint(0, 0), QPoint(0, 120), Qt.NoButton,
                        Qt.ShiftModifier, Qt.NoScrollPhase, False)
    k = axial.slice_index
    QApplication.sendEvent(axial, wheel)
    assert ctl.radius_mm == pytest.approx(r0 * 1.1) and axial.slice_index == k  # no scrolling
    QTest.keyClick(window, Qt.Key_BracketRight)
    assert ctl.radius_mm == pytest.approx(r0 * 1.1 * 1.25)
    spin = window.findChild(QDoubleSpinBox, "brush_radius_mm")
    assert spin.value() == pytest.approx(ctl.radius_mm, abs=0.01)
    _mouse(axial, QEvent.MouseMove, pos, Qt.NoButton, Qt.NoButton)
    img = axial.grab().toImage()
    yellow = sum(1 for x in range(img.width()) for y in range(0, img.height(), 2)
                 if img.pixelColor(x, y).name() == "#ffff00")
    assert yellow > 10
    QTest.keyClick(window, Qt.Key_Escape)
    assert ctl.tool is None and axial.interaction is None
    ctl.set_tool("eraser")  # set in code: the tool bar follows
    assert ctl.actions["eraser"].isChecked() and not ctl.actions["navigate"].isChecked()


def _mouse_mod(view, kind, pos, modifiers):
    ev = QMouseEvent(kind, QPointF(pos), view.mapToGlobal(QPointF(pos)), Qt.LeftButton,
                     Qt.LeftButton if kind != QEvent.MouseButtonRelease else Qt.NoButton, modifiers)
    QApplication.sendEvent(view, ev)


def test_threshold_brush_picks_the_range_under_the_cursor_and_paints_only_inside_it(window):
    vol, seg, ctl = window.volume, window.segmentation, window.edit_controller
    axial = window.views[0]
    k = axial.slice_index
    vol.array[k, :, :32] = 100  # the half of the slice with i < 32 is brighter
    ctl._editor = None  # the image changed: rebind (value range, pick tolerance)
    ctl.editor()
    QTest.keyClick(window, Qt.Key_T)
    QTest.keyClick(window, Qt.Key_D)
    ctl.set_radius(6.0)
    p_bright = axial.screen_point((20.0, 24.0, k))
    _mouse_mod(axial, QEvent.MouseButtonPress, p_bright, Qt.ControlModifier)
    _mouse_mod(axial, QEvent.MouseButtonRelease, p_bright, Qt.ControlModifier)
    assert ctl.intensity_range == pytest.approx((95.0, 105.0))
    assert window.findChild(QDoubleSpinBox, "edit_range_lo").value() == pytest.approx(95.0)
    assert not seg.mask(1).any()  # picking does not paint
    edge = axial.screen_point((32.0, 24.0, k))  # the brush straddles the edge at i = 31.5
    _drag(axial, [edge])
    got = seg.mask(1)
    assert got.any() and np.all(vol.array[got] == 100)
    assert got[k, 24, 31] and not got[k, 24, 32]


def test_masking_widgets_set_the_policy(window):
    from PySide6.QtWidgets import QComboBox

    seg, ctl = window.segmentation, window.edit_controller
    seg.add_segment("organ")
    area = window.findChild(QComboBox, "edit_area")
    texts = [area.itemText(i) for i in range(area.count())]
    assert "Only inside organ" in texts and "Never over other segments" in texts
    area.setCurrentIndex(texts.index("Only inside organ"))
    assert ctl.policy.area.value == "inside_segment" and ctl.policy.area_segment_id == 2
    overwrite = window.findChild(QComboBox, "edit_overwrite")
    overwrite.setCurrentIndex(1)
    assert ctl.policy.overwrite.value == "overwrite_others"
    assert ctl.editor().policy is ctl.policy
    # painting the lesion only inside the (empty) organ changes nothing
    QTest.keyClick(window, Qt.Key_B)
    axial = window.views[0]
    _drag(axial, [axial.screen_point((30.0, 24.0, axial.slice_index))])
    assert not seg.mask(1).any() and not ctl.editor().history.can_undo


def test_polygon_clicks_fill_the_voxels_inside_and_lasso_drag_too(window):
    seg, ctl = window.segmentation, window.edit_controller
    axial = window.views[0]
    k = axial.slice_index
    QTest.keyClick(window, Qt.Key_P)
    assert ctl.tool == "polygon"
    corners = [(9.5, 9.5, k), (19.5, 9.5, k), (19.5, 15.5, k), (9.5, 15.5, k)]  # no centre on an edge
    for c in corners:
        _mouse(axial, QEvent.MouseButtonPress, axial.screen_point(c))
        _mouse(axial, QEvent.MouseButtonRelease, axial.screen_point(c), Qt.LeftButton, Qt.NoButton)
    assert not seg.mask(1).any()
    _mouse(axial, QEvent.MouseButtonPress, axial.screen_point(corners[-1]), Qt.RightButton, Qt.RightButton)
    expected = np.zeros(seg.shape, bool)
    hit = np.array([axial.voxel_at(axial.screen_point(c)) for c in corners])
    assert np.allclose(hit, corners, atol=1e-6)
    expected[k, 10:16, 10:20] = True
    np.testing.assert_array_equal(seg.mask(1), expected)
    QTest.keyClick(window, Qt.Key_L)
    lasso = [(29.5, 29.5, k), (35.5, 29.5, k), (35.5, 33.5, k), (29.5, 33.5, k)]
    _drag(axial, [axial.screen_point(c) for c in lasso])
    expected[k, 30:34, 30:36] = True
    np.testing.assert_array_equal(seg.mask(1), expected)
    assert ctl.editor().history.undo_steps == 2


def test_histogram_drag_sets_the_threshold_range(window, qtbot):
    vol, ctl = window.volume, window.edit_controller
    vol.array[:, :, :16] = 200
    ctl._editor = None  # the image changed: rebind
    ctl.editor()
    QTest.keyClick(window, Qt.Key_H)
    hist = ctl.histogram
    qtbot.waitExposed(hist)
    assert hist.counts.sum() == vol.array.size
    assert hist.counts[0] == np.count_nonzero(vol.array == 0) and hist.counts[-1] == 10 * 48 * 16
    a, b = hist.x_of_value(150.0), hist.x_of_value(250.0)
    for kind, x, buttons in ((QEvent.MouseButtonPress, b, Qt.LeftButton),
                             (QEvent.MouseMove, a, Qt.LeftButton),
                             (QEvent.MouseButtonRelease, a, Qt.NoButton)):
        pos = QPointF(x, hist.height() / 2)
        QApplication.sendEvent(hist, QMouseEvent(kind, pos, hist.mapToGlobal(pos), Qt.LeftButton,
                                                 buttons, Qt.NoModifier))
    lo, hi = ctl.intensity_range
    assert lo == pytest.approx(150.0, abs=1e-6) and hi == pytest.approx(200.0)  # clipped to the data
    assert window.findChild(QDoubleSpinBox, "edit_range_lo").value() == pytest.approx(150.0)


def test_ctrl_z_during_a_drag_cancels_the_drag(window):
    seg = window.segmentation
    axial = window.views[0]
    QTest.keyClick(window, Qt.Key_B)
    k = axial.slice_index
    _mouse(axial, QEvent.MouseButtonPress, axial.screen_point((20.0, 20.0, k)))
    _mouse(axial, QEvent.MouseMove, axial.screen_point((24.0, 20.0, k)), Qt.NoButton, Qt.LeftButton)
    assert seg.mask(1).any()
    QTest.keyClick(window, Qt.Key_Z, Qt.ControlModifier)
    assert not seg.mask(1).any()
    _mouse(axial, QEvent.MouseMove, axial.screen_point((28.0, 20.0, k)), Qt.NoButton, Qt.LeftButton)
    _mouse(axial, QEvent.MouseButtonRelease, axial.screen_point((28.0, 20.0, k)), Qt.LeftButton, Qt.NoButton)
    assert not seg.mask(1).any() and not window.edit_controller.editor().history.can_undo
