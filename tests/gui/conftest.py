"""Helpers for the Qt tests: small volumes and grabbed view pixels."""

from __future__ import annotations

import numpy as np
import pytest


def grab_rgb(widget) -> np.ndarray:
    """The widget as it is painted, ``(height, width, 3)`` uint8 RGB."""
    from PySide6.QtGui import QImage

    image = widget.grab().toImage().convertToFormat(QImage.Format_RGB888)
    w, h, stride = image.width(), image.height(), image.bytesPerLine()
    buf = np.frombuffer(image.constBits(), dtype=np.uint8, count=stride * h)
    return buf.reshape(h, stride)[:, : w * 3].reshape(h, w, 3).copy()


def pixel(rgb: np.ndarray, point) -> tuple[int, int, int]:
    """RGB at a QPointF (rounded down to the pixel that contains it)."""
    return tuple(int(v) for v in rgb[int(point.y()), int(point.x())])


@pytest.fixture
def make_view(qtbot):
    """Build a shown SliceView of ``volume`` in ``orientation`` (size 300x300)."""
    from viewers.labels import Segmentation
    from viewers.qt.sliceview import SliceView
    from viewers.render import ViewerState

    def make(volume, orientation="axial", state=None, segmentation=None, size=(300, 300)):
        state = state or ViewerState(volume)
        segmentation = segmentation or Segmentation.empty_like(volume)
        view = SliceView(orientation)
        qtbot.addWidget(view)
        view.set_data(state, segmentation)
        view.resize(*size)
        view.show()
        qtbot.waitExposed(view)
        qtbot.waitUntil(lambda: view.render_count > 0)  # the first frame has been painted
        return view

    return make
