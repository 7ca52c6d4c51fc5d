"""Histogram of the image intensities: drag across it to pick the threshold range.

The widget draws the histogram (log counts, as 3D Slicer's threshold effect does) and
the current ``controller.intensity_range`` as a shaded band. Pressing sets one end of
the range at the value under the mouse, dragging sets the other.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QColor, QPainter
from PySide6.QtWidgets import QWidget

_MARGIN = 4.0


class HistogramWidget(QWidget):
    """Histogram of ``controller.editor().histogram(bins)`` with a range selection."""

    def __init__(self, controller, bins: int = 256, parent=None):
        super().__init__(parent)
        self.controller = controller
        self.bins = bins
        self.counts, self.edges = np.zeros(bins), np.linspace(0.0, 1.0, bins + 1)
        self._anchor = None
        self.setObjectName("edit_histogram")
        self.setWindowTitle("Intensity histogram")
        self.setMinimumSize(260, 120)
        controller.changed.connect(self.update)
        self.refresh()

    def refresh(self) -> None:
        """Recompute from the current image."""
        ed = self.controller.editor()
        if ed is not None:
            self.counts, self.edges = ed.histogram(self.bins)
        self.update()

    # -- mapping ----------------------------------------------------------------------------
    def _plot(self) -> QRectF:
        return QRectF(_MARGIN, _MARGIN, self.width() - 2 * _MARGIN, self.height() - 2 * _MARGIN)

    def value_at_x(self, x: float) -> float:
        """Intensity at widget x (linear between the first and last bin edge)."""
        r = self._plot()
        t = float(np.clip((x - r.left()) / r.width(), 0.0, 1.0))
        return float(self.edges[0] + t * (self.edges[-1] - self.edges[0]))

    def x_of_value(self, v: float) -> float:
        r = self._plot()
        span = self.edges[-1] - self.edges[0]
        return r.left() + r.width() * (float(v) - self.edges[0]) / (span if span else 1.0)

    # -- events -----------------------------------------------------------------------------
    def mousePressEvent(self, event) -> None:  # noqa: N802 - Qt API
        if event.button() == Qt.MouseButton.LeftButton:
            self._anchor = self.value_at_x(event.position().x())
            self._set(self._anchor, self._anchor)

    def mouseMoveEvent(self, event) -> None:  # noqa: N802 - Qt API
        if self._anchor is not None:
            self._set(self._anchor, self.value_at_x(event.position().x()))

    def mouseReleaseEvent(self, event) -> None:  # noqa: N802 - Qt API
        self.mouseMoveEvent(event)
        self._anchor = None

    def _set(self, a: float, b: float) -> None:
        self.controller.intensity_range = (min(a, b), max(a, b))
        self.controller.changed.emit()

    def paintEvent(self, event) -> None:  # noqa: N802 - Qt API
        p = QPainter(self)
        p.fillRect(self.rect(), QColor(30, 30, 30))
        r = self._plot()
        lo, hi = self.controller.intensity_range
        x0, x1 = self.x_of_value(lo), self.x_of_value(hi)
        p.fillRect(QRectF(x0, r.top(), max(1.0, x1 - x0), r.height()), QColor(255, 255, 0, 70))
        logc = np.log1p(self.counts.astype(float))
        top = logc.max() or 1.0
        w = r.width() / len(logc)
        for n, c in enumerate(logc):
            h = r.height() * c / top
            p.fillRect(QRectF(r.left() + n * w, r.bottom() - h, max(w, 1.0), h), QColor(200, 200, 200))
        p.end()
