"""Mouse and keyboard navigation of a SliceView (3D Slicer / ITK-SNAP style).

======================  ================================================
wheel, Page Up/Down,    previous / next slice
arrow keys
Ctrl+wheel, right-drag  zoom (the wheel zooms about the mouse position)
middle-drag             pan
left-click/drag         set the linked crosshair (window/level in W/L mode)
R or Home               reset zoom and pan
======================  ================================================

An installed :class:`~viewers.qt.interaction.Interaction` sees every mouse event
first; the defaults here apply only when it returns False.
"""

from __future__ import annotations

import math

import numpy as np
from PySide6.QtCore import QPointF, Qt

from viewers.render import WindowLevel


class NavigationMixin:
    """Event handlers for :class:`~viewers.qt.sliceview.SliceView`."""

    def _init_navigation(self) -> None:
        self._drag = None  # (button, start position, value at start)

    # -- helpers ----------------------------------------------------------------------------
    def _ijk(self, event) -> np.ndarray:
        return self.voxel_at(event.position())

    def _zoom_about(self, factor: float, pos: QPointF) -> None:
        before, _ = self.display_transform().inverted()
        anchor = before.map(QPointF(pos))
        self.zoom = float(np.clip(self.zoom * factor, 0.1, 50.0))
        after = self.display_transform().map(anchor)
        self.pan += QPointF(pos) - after
        self.update()

    def _emit_hover(self, ijk) -> None:
        state = self.state
        value = state.value_at(ijk)
        i, j, k = (int(v) for v in np.rint(ijk))
        if value is None:
            self.hover.emit(f"{self.orientation}: outside the image")
            return
        x, y, z = state.volume.index_to_lps(np.array([i, j, k], dtype=float))
        shown = f"{value:.4g}" if isinstance(value, float) else str(value)
        self.hover.emit(f"voxel ({i}, {j}, {k})   LPS ({x:.1f}, {y:.1f}, {z:.1f}) mm   "
                        f"value {shown}")

    # -- mouse ------------------------------------------------------------------------------
    def mousePressEvent(self, event) -> None:  # noqa: N802 - Qt API
        if self.slice_geometry is None:
            return
        ijk = self._ijk(event)
        if self.interaction is not None and self.interaction.press(self, ijk, event):
            return
        button = event.button()
        if button == Qt.LeftButton and self.wl_mode:
            self._drag = (button, event.position(), self.state.window)
        elif button == Qt.LeftButton:
            self._drag = (button, event.position(), None)
            self.state.set_point(ijk)
        elif button == Qt.MiddleButton:
            self._drag = (button, event.position(), QPointF(self.pan))
        elif button == Qt.RightButton:
            self._drag = (button, event.position(), self.zoom)

    def mouseMoveEvent(self, event) -> None:  # noqa: N802 - Qt API
        if self.slice_geometry is None:
            return
        ijk = self._ijk(event)
        self._emit_hover(ijk)
        if self.interaction is not None and self.interaction.move(self, ijk, event):
            return
        if self._drag is None:
            return
        button, start, initial = self._drag
        delta = event.position() - start
        if button == Qt.LeftButton and initial is not None:  # window/level
            step = max(initial.width, 1.0) / 256.0
            self.state.set_window(WindowLevel(max(1.0, initial.width + delta.x() * step),
                                              initial.center + delta.y() * step))
        elif button == Qt.LeftButton:
            self.state.set_point(ijk)
        elif button == Qt.MiddleButton:
            self.pan = initial + delta
            self.update()
        elif button == Qt.RightButton:
            centre = QPointF(self.width() / 2, self.height() / 2)
            self._zoom_about(initial * math.exp(-delta.y() * 0.01) / self.zoom, centre)

    def mouseReleaseEvent(self, event) -> None:  # noqa: N802 - Qt API
        if self.slice_geometry is None:
            return
        ijk = self._ijk(event)
        self._drag = None
        if self.interaction is not None:
            self.interaction.release(self, ijk, event)

    def contextMenuEvent(self, event) -> None:  # noqa: N802 - right-drag zooms, no menu
        event.accept()

    def wheelEvent(self, event) -> None:  # noqa: N802 - Qt API
        if self.slice_geometry is None:
            return
        if self.interaction is not None and self.interaction.wheel(self, event):
            return
        steps = event.angleDelta().y() / 120.0
        if steps == 0:
            return
        if event.modifiers() & Qt.ControlModifier:
            self._zoom_about(1.15 ** steps, event.position())
        else:
            self.set_slice(self.slice_index + (1 if steps > 0 else -1) * max(1, round(abs(steps))))
        event.accept()

    # -- keys -------------------------------------------------------------------------------
    def keyPressEvent(self, event) -> None:  # noqa: N802 - Qt API
        if self.slice_geometry is None:
            return super().keyPressEvent(event)
        key = event.key()
        if key in (Qt.Key_PageUp, Qt.Key_Up, Qt.Key_Right):
            self.set_slice(self.slice_index + 1)
        elif key in (Qt.Key_PageDown, Qt.Key_Down, Qt.Key_Left):
            self.set_slice(self.slice_index - 1)
        elif key in (Qt.Key_R, Qt.Key_Home):
            self.reset_view()
        else:
            super().keyPressEvent(event)
