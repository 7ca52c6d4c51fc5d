"""Pixels of grabbed slice views: orientation, grey levels, overlay, aspect, linking."""

import numpy as np
import pytest
from PySide6.QtCore import QPoint, QPointF, Qt

from tests.gui.conftest import grab_rgb, pixel
from viewers.labels import Segmentation
from viewers.render import SegmentStyle, ViewerState, WindowLevel, grey_of_value
from viewers.volume import Volume

RAS_STORED = np.diag([-1.0, -1.0, 1.0])  # i toward the patient's right, j anterior (NIfTI)


def marker_volume(direction):
    """Dark 9x10x11 volume with one bright 2x2x2 block at the patient's right."""
    arr = np.zeros((9, 10, 11), dtype=np.int16)
    vol = Volume.from_geometry(arr, (0, 0, 0), (1, 1, 1), direction, modality="CT")
    i_right = 10 if direction[0, 0] < 0 else 0  # the index closest to patient right (-x)
    i0 = max(i_right - 1, 0)
    arr[3:6, 4:6, i0:i0 + 2] = 1000
    return vol


@pytest.mark.parametrize("direction", [RAS_STORED, np.eye(3)], ids=["ras", "lps"])
@pytest.mark.parametrize("orientation", ["axial", "coronal"])
def test_patient_right_is_on_screen_left(make_view, direction, orientation):
    vol = marker_volume(direction)
    view = make_view(vol, orientation)
    rgb = grab_rgb(view)
    white = np.all(rgb == 255, axis=2)  # the marker (the text is drawn in 230 grey)
    cols = np.flatnonzero(white.any(axis=0))
    assert cols.size and cols.max() < view.width() / 2
    assert view.slice_geometry.letters["left"] == "R"


def test_known_intensities_map_to_grey_levels(make_view):
    arr = np.zeros((1, 4, 4), dtype=np.int16)
    values = np.array([[-1000, -100], [40, 180]])
    for r in range(2):
        for c in range(2):
            arr[0, 2 * r:2 * r + 2, 2 * c:2 * c + 2] = values[r, c]
    vol = Volume.from_geometry(arr, (0, 0, 0), (1, 1, 1), modality="CT")
    view = make_view(vol)
    wl = WindowLevel(400, 40)
    view.state.set_window(wl)
    view.state.set_point([0.5, 0.5, 0])  # crosshair between voxels, off the sampled centres
    rgb = grab_rgb(view)
    for r in range(2):
        for c in range(2):
            expected = grey_of_value(values[r, c], wl)
            got = pixel(rgb, view.screen_point([2 * c + 1, 2 * r + 1, 0]))
            assert got == (expected,) * 3
    assert [grey_of_value(v, wl) for v in values.ravel()] == [0, 38, 128, 217]


def test_overlay_colour_exactly_on_labelled_voxels(make_view):
    arr = np.full((3, 8, 8), 50, dtype=np.uint8)
    vol = Volume.from_geometry(arr, (0, 0, 0), (1, 1, 1), RAS_STORED)
    seg = Segmentation.empty_like(vol)
    s = seg.add_segment("lesion", color=(255, 0, 255))
    layer = seg.ensure_layer(s.layer)
    layer[1, 2:5, 1:3] = s.value
    layer[1, 6, 6] = s.value
    state = ViewerState(vol)
    state.set_style(s.segment_id, opacity=1.0)
    view = make_view(vol, "axial", state, seg)
    state.set_point([3.5, 3.5, 1])
    rgb = grab_rgb(view)
    for j in range(8):
        for i in range(8):
            got = pixel(rgb, view.screen_point([i, j, 1]))
            assert (got == (255, 0, 255)) == bool(layer[1, j, i]), (i, j, got)


def test_crosshair_click_moves_the_other_views(make_view):
    vol = Volume.from_geometry(np.zeros((12, 14, 16), np.uint8), (0, 0, 0), (1, 1, 1),
                               RAS_STORED)
    state = ViewerState(vol)
    axial, coronal, sagittal = (make_view(vol, o, state) for o in ("axial", "coronal", "sagittal"))
    target = np.array([3.0, 9.0, 5.0])
    axial.set_slice(5)
    pos = axial.screen_point(target).toPoint()
    from PySide6.QtTest import QTest

    QTest.mouseClick(axial, Qt.LeftButton, Qt.NoModifier, pos)
    assert coronal.slice_index == 9 and sagittal.slice_index == 3 and axial.slice_index == 5
    # the other views' crosshair passes through the clicked voxel
    np.testing.assert_array_equal(np.rint(state.point), target)  # the click is one pixel
    for view in (coronal, sagittal):
        p, q = view.screen_point(state.point), view.screen_point(target)
        assert abs(p.x() - q.x()) <= 1 and abs(p.y() - q.y()) <= 1
    # dragging keeps moving it
    QTest.mousePress(sagittal, Qt.LeftButton, Qt.NoModifier, sagittal.screen_point(target).toPoint())
    QTest.mouseMove(sagittal, sagittal.screen_point([3, 4, 8]).toPoint())
    QTest.mouseRelease(sagittal, Qt.LeftButton, Qt.NoModifier,
                       sagittal.screen_point([3, 4, 8]).toPoint())
    assert axial.slice_index == 8 and coronal.slice_index == 4


@pytest.mark.parametrize("orientation, expected_ratio", [("axial", 30 / 40 * 0.5),
                                                         ("coronal", 30 * 0.5 / (10 * 3.0)),
                                                         ("sagittal", 40 / 30)])
def test_anisotropic_spacing_keeps_aspect(make_view, orientation, expected_ratio):
    arr = np.full((10, 40, 30), 200, dtype=np.uint8)
    vol = Volume.from_geometry(arr, (0, 0, 0), (0.5, 1.0, 3.0))
    view = make_view(vol, orientation, size=(400, 400))
    view.state.set_window(WindowLevel(256, 128))
    rgb = grab_rgb(view)
    image = np.all(rgb == 200, axis=2)  # grey(200) in this window is 200
    # measure along a row and a column clear of the text and the crosshair
    cols = np.flatnonzero(image[240])
    rows = np.flatnonzero(image[:, 240])
    width, height = cols.max() - cols.min() + 1, rows.max() - rows.min() + 1
    assert width / height == pytest.approx(expected_ratio, rel=0.02)


def test_scrolling_coalesces_into_one_frame(make_view, qtbot):
    from PySide6.QtGui import QWheelEvent
    from PySide6.QtWidgets import QApplication

    vol = Volume.from_geometry(np.zeros((40, 8, 8), np.uint8), (0, 0, 0), (1, 1, 1))
    view = make_view(vol)
    start, frames = view.slice_index, view.render_count
    centre = QPointF(150, 150)
    for _ in range(12):
        event = QWheelEvent(centre, view.mapToGlobal(centre), QPoint(0, 0), QPoint(0, 120),
                            Qt.NoButton, Qt.NoModifier, Qt.NoScrollPhase, False)
        QApplication.sendEvent(view, event)
    assert view.slice_index == start + 12 and view.render_count == frames  # nothing painted yet
    QApplication.processEvents()
    assert view.render_count == frames + 1  # one frame, of the latest slice only
    qtbot.keyClick(view, Qt.Key_PageDown)
    qtbot.keyClick(view, Qt.Key_Down)
    assert view.slice_index == start + 10


def test_window_level_drag_and_zoom(make_view):
    from PySide6.QtTest import QTest

    vol = Volume.from_geometry(np.zeros((4, 20, 20), np.int16), (0, 0, 0), (1, 1, 1),
                               modality="CT")
    view = make_view(vol)
    view.wl_mode = True
    before = view.state.window
    QTest.mousePress(view, Qt.LeftButton, Qt.NoModifier, QPoint(100, 100))
    QTest.mouseMove(view, QPoint(164, 132))
    QTest.mouseRelease(view, Qt.LeftButton, Qt.NoModifier, QPoint(164, 132))
    after = view.state.window
    assert after.width == pytest.approx(before.width + 64 * before.width / 256)
    assert after.center == pytest.approx(before.center + 32 * before.width / 256)
    point_before = view.voxel_at(QPointF(150, 150))
    view._zoom_about(2.0, QPointF(150, 150))
    np.testing.assert_allclose(view.voxel_at(QPointF(150, 150)), point_before)
    assert view.zoom == 2.0
    view.reset_view()
    assert view.zoom == 1.0


def test_interaction_hook_consumes_or_passes_events(make_view):
    from PySide6.QtTest import QTest

    from viewers.qt.interaction import Interaction

    class Recorder(Interaction):
        def __init__(self, consume):
            self.consume, self.seen = consume, []

        def press(self, view, ijk, event):
            self.seen.append(np.array(ijk))
            return self.consume

    vol = Volume.from_geometry(np.zeros((5, 10, 10), np.uint8), (0, 0, 0), (1, 1, 1))
    view = make_view(vol)
    point = view.state.point.copy()
    tool = Recorder(consume=True)
    view.set_interaction(tool)
    QTest.mouseClick(view, Qt.LeftButton, Qt.NoModifier, view.screen_point([1, 2, 2]).toPoint())
    np.testing.assert_allclose(np.rint(tool.seen[0]), [1, 2, 2])
    np.testing.assert_array_equal(view.state.point, point)  # consumed: crosshair unchanged
    view.set_interaction(Recorder(consume=False))
    QTest.mouseClick(view, Qt.LeftButton, Qt.NoModifier, view.screen_point([1, 2, 2]).toPoint())
    np.testing.assert_allclose(np.rint(view.state.point), [1, 2, 2])


def test_hover_reports_voxel_lps_and_value(make_view):
    from PySide6.QtTest import QTest

    arr = np.arange(4 * 5 * 6, dtype=np.int16).reshape(4, 5, 6)
    vol = Volume.from_geometry(arr, (10, 20, 30), (2, 2, 3), RAS_STORED)
    view = make_view(vol)
    seen = []
    view.hover.connect(seen.append)
    QTest.mouseMove(view, view.screen_point([4, 1, view.slice_index]).toPoint())
    k = view.slice_index
    x, y, z = vol.index_to_lps([4, 1, k])
    assert seen[-1] == (f"voxel (4, 1, {k})   LPS ({x:.1f}, {y:.1f}, {z:.1f}) mm   "
                        f"value {arr[k, 1, 4]}")
    assert (x, y) == (10 - 8, 20 - 2)


def test_oblique_volume_shows_a_note(make_view):
    t = np.deg2rad(25)
    rot = np.array([[np.cos(t), -np.sin(t), 0], [np.sin(t), np.cos(t), 0], [0, 0, 1]])
    straight = make_view(Volume.from_geometry(np.zeros((3, 6, 6), np.uint8), (0, 0, 0),
                                              (1, 1, 1)))
    oblique = make_view(Volume.from_geometry(np.zeros((3, 6, 6), np.uint8), (0, 0, 0),
                                             (1, 1, 1), rot))

    def orange(view):  # the note is drawn in (255, 140, 0)
        rgb = grab_rgb(view).astype(int)
        return np.sum((rgb[..., 0] > 200) & (np.abs(rgb[..., 1] - 140) < 40) & (rgb[..., 2] < 60))

    assert oblique.slice_geometry.oblique and orange(oblique) > 20
    assert orange(straight) == 0


def test_edge_letters_move_clear_of_the_corner_texts_in_a_narrow_view(make_view):
    from PySide6.QtGui import QFontMetrics

    from viewers.qt.sliceview import _LETTER_COLOR

    vol = Volume.from_geometry(np.zeros((181, 217, 181), np.uint8), (0, 0, 0), (1, 1, 1))
    wide = make_view(vol, "coronal", size=(500, 300))
    narrow = make_view(vol, "coronal", size=(100, 300))
    assert wide.letters_moved_inwards() == {"top": False, "bottom": False}
    assert narrow.letters_moved_inwards() == {"top": True, "bottom": True}
    line = QFontMetrics(narrow.font()).height()

    def letter_rows(view):
        rgb = grab_rgb(view).astype(int)
        colour = np.array([_LETTER_COLOR.red(), _LETTER_COLOR.green(), _LETTER_COLOR.blue()])
        hit = np.all(np.abs(rgb - colour) < 30, axis=2)
        w = view.width()
        return np.flatnonzero(hit[:, w // 2 - 8:w // 2 + 8].any(axis=1))

    top_wide = [r for r in letter_rows(wide) if r < 150]
    top_narrow = [r for r in letter_rows(narrow) if r < 150]
    assert min(top_wide) < line <= min(top_narrow)  # the "S" sits below the slice number
    bottom_narrow = [r for r in letter_rows(narrow) if r >= 150]
    assert max(bottom_narrow) <= narrow.height() - line  # the "I" above the window/level
