"""Mouse interactions of the editing tools on a slice view (brush, lasso, region growing).

Each class maps the view's :class:`~viewers.qt.interaction.Interaction` hook onto
the Qt-free tools of :mod:`viewers.edit`; the :class:`~viewers.qt.editor.EditController`
gives them the current editor, segment and brush settings.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QEvent, QPointF, Qt
from PySide6.QtGui import QColor, QPainterPath, QPen

from viewers.edit import EditPolicy, SegmentLocked, grow
from viewers.qt.interaction import Interaction


def normal_axis(view, volume) -> int:
    """Voxel axis (0=i, 1=j, 2=k) through the slices of ``view``."""
    geometry = getattr(view, "slice_geometry", None)
    if geometry is not None and hasattr(geometry, "normal_axis"):
        return int(geometry.normal_axis)
    from viewers.render import SliceGeometry  # Qt-free; the view's own layout rules

    return SliceGeometry.of(volume, view.orientation).normal_axis


def _pt(p) -> QPointF:
    return p if isinstance(p, QPointF) else QPointF(float(p[0]), float(p[1]))


class _Tool(Interaction):
    def __init__(self, controller):
        self.controller = controller
        self.cursor = None  # last continuous (i, j, k) under the mouse, for the outline

    def _redraw(self, view):
        view.update()


class BrushInteraction(_Tool):
    """Paint (or erase) while the left button is held; one undo step per drag.

    Right button erases with the paint brush; Shift+wheel changes the size.
    """

    def __init__(self, controller, erase: bool = False, threshold: bool = False):
        super().__init__(controller)
        self.erase, self.threshold = erase, threshold
        self.stroke = None

    def _policy(self):
        policy = self.controller.policy
        if self.threshold:
            lo, hi = self.controller.intensity_range
            policy = EditPolicy(policy.area, policy.area_segment_id, policy.overwrite, (lo, hi))
        return policy

    def press(self, view, ijk, event) -> bool:
        button = event.button()
        if button not in (Qt.MouseButton.LeftButton, Qt.MouseButton.RightButton):
            return False
        if self.threshold and event.modifiers() & Qt.KeyboardModifier.ControlModifier:
            self.controller.pick_range(ijk)
            return True
        editor, sid = self.controller.editor(), self.controller.active_segment_id()
        if editor is None or sid is None:
            self.controller.message("Select a segment to edit")
            return True
        erase = self.erase or button == Qt.MouseButton.RightButton
        slice_axis = None if self.controller.sphere else 2 - normal_axis(view, editor.volume)
        try:
            self.stroke = editor.begin_stroke(sid, self.controller.radius_mm, erase=erase,
                                              slice_axis=slice_axis, policy=self._policy())
        except SegmentLocked as exc:
            self.controller.message(str(exc))
            return True
        self.cursor = np.asarray(ijk, float)
        self.stroke.add(ijk)
        self.controller.rendered()
        return True

    def move(self, view, ijk, event) -> bool:
        self.cursor = np.asarray(ijk, float)
        if self.stroke is not None and self.stroke.txn.closed:
            self.stroke = None  # cancelled meanwhile (Ctrl+Z during the drag, another tool ran)
            return True
        if self.stroke is None:
            self._redraw(view)
            return False
        self.stroke.add(ijk)
        self.controller.rendered()
        return True

    def release(self, view, ijk, event) -> bool:
        if self.stroke is None:
            return False
        stroke, self.stroke = self.stroke, None
        if not stroke.txn.closed:
            stroke.commit()
        self.controller.rendered()
        return True

    def wheel(self, view, event) -> bool:
        if not event.modifiers() & Qt.KeyboardModifier.ShiftModifier:
            return False
        delta = event.angleDelta()
        steps = (delta.y() or delta.x()) / 120.0  # Shift turns the wheel horizontal on some systems
        if steps:
            self.controller.scale_radius(1.1 ** steps)
            self._redraw(view)
        return True

    def deactivated(self, view) -> None:
        if self.stroke is not None:
            self.stroke.abort()
            self.stroke = None

    def paint_overlay(self, view, painter) -> None:
        """The brush outline where it cuts the current slice (an ellipse on screen)."""
        if self.cursor is None or self.controller.editor() is None:
            return
        volume = self.controller.editor().volume
        c = np.asarray(self.cursor, float).copy()
        axis = normal_axis(view, volume)
        c[axis] = float(np.rint(c[axis]))
        rx, ry = _screen_radii(view, c, axis, self.controller.radius_mm, volume.spacing_mm)
        pen = QPen(QColor(255, 80, 80) if self.erase else QColor(255, 255, 0))
        pen.setWidthF(1.0)
        painter.setPen(pen)
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.drawEllipse(_pt(view.screen_point(c)), rx, ry)


def _screen_radii(view, c, axis, radius_mm, spacing):
    """Half widths of the outline along screen x and y."""
    centre = _pt(view.screen_point(c))
    rx = ry = 0.0
    for a in range(3):
        if a == axis:
            continue
        d = c.copy()
        d[a] += radius_mm / spacing[a]
        p = _pt(view.screen_point(d))
        rx, ry = max(rx, abs(p.x() - centre.x())), max(ry, abs(p.y() - centre.y()))
    return rx, ry


class LassoInteraction(_Tool):
    """Drag a closed outline on a slice; on release its inside is filled (right button erases)."""

    def __init__(self, controller):
        super().__init__(controller)
        self.points: list[np.ndarray] = []
        self.erase = False

    def press(self, view, ijk, event) -> bool:
        if event.button() not in (Qt.MouseButton.LeftButton, Qt.MouseButton.RightButton):
            return False
        self.erase = event.button() == Qt.MouseButton.RightButton
        self.points = [np.asarray(ijk, float)]
        return True

    def move(self, view, ijk, event) -> bool:
        if not self.points:
            return False
        self.points.append(np.asarray(ijk, float))
        self._redraw(view)
        return True

    def release(self, view, ijk, event) -> bool:
        if not self.points:
            return False
        points, self.points = self.points + [np.asarray(ijk, float)], []
        editor, sid = self.controller.editor(), self.controller.active_segment_id()
        if editor is not None and sid is not None and len(points) >= 3:
            axis = normal_axis(view, editor.volume)
            try:
                editor.fill_polygon(sid, points, slice_axis=2 - axis, erase=self.erase)
            except SegmentLocked as exc:
                self.controller.message(str(exc))
        self.controller.rendered()
        return True

    def paint_overlay(self, view, painter) -> None:
        if len(self.points) < 2:
            return
        path = QPainterPath(_pt(view.screen_point(self.points[0])))
        for p in self.points[1:]:
            path.lineTo(_pt(view.screen_point(p)))
        painter.setPen(QPen(QColor(0, 255, 255)))
        painter.drawPath(path)


class PolygonInteraction(_Tool):
    """Click the vertices of a polygon on a slice; a double-click or a right click closes
    it and fills its inside (Shift+right click erases instead)."""

    def __init__(self, controller):
        super().__init__(controller)
        self.points: list[np.ndarray] = []

    def press(self, view, ijk, event) -> bool:
        closing = (event.type() == QEvent.Type.MouseButtonDblClick
                   or event.button() == Qt.MouseButton.RightButton)
        if event.button() not in (Qt.MouseButton.LeftButton, Qt.MouseButton.RightButton):
            return False
        if not closing:
            self.points.append(np.asarray(ijk, float))
            self._redraw(view)
            return True
        points, self.points = self.points, []
        editor, sid = self.controller.editor(), self.controller.active_segment_id()
        erase = bool(event.modifiers() & Qt.KeyboardModifier.ShiftModifier)
        if editor is not None and sid is not None and len(points) >= 3:
            try:
                editor.fill_polygon(sid, points, slice_axis=2 - normal_axis(view, editor.volume),
                                    erase=erase)
            except SegmentLocked as exc:
                self.controller.message(str(exc))
        self.controller.rendered()
        return True

    def move(self, view, ijk, event) -> bool:
        self.cursor = np.asarray(ijk, float)
        if self.points:
            self._redraw(view)
        return False

    def deactivated(self, view) -> None:
        self.points = []

    def paint_overlay(self, view, painter) -> None:
        if not self.points:
            return
        pts = self.points + ([self.cursor] if self.cursor is not None else [])
        path = QPainterPath(_pt(view.screen_point(pts[0])))
        for p in pts[1:]:
            path.lineTo(_pt(view.screen_point(p)))
        painter.setPen(QPen(QColor(0, 255, 255)))
        painter.drawPath(path)


class GrowInteraction(_Tool):
    """Click to grow a region (ConfidenceConnected) inside a box around the click."""

    def press(self, view, ijk, event) -> bool:
        if event.button() != Qt.MouseButton.LeftButton:
            return False
        editor, sid = self.controller.editor(), self.controller.active_segment_id()
        if editor is None or sid is None:
            self.controller.message("Select a segment to edit")
            return True
        half = self.controller.grow_roi_mm / editor.volume.spacing_mm  # (i, j, k) voxels
        c = np.rint(np.asarray(ijk, float)).astype(int)
        roi = tuple(slice(max(0, int(c[a] - half[a])), min(n, int(c[a] + half[a]) + 1))
                    for a, n in zip((2, 1, 0), editor.segmentation.shape))
        try:
            grow.confidence_connected(editor, sid, ijk, multiplier=self.controller.grow_multiplier,
                                      roi=roi)
        except (SegmentLocked, ValueError) as exc:
            self.controller.message(str(exc))
        self.controller.rendered()
        return True
