"""SliceView: one 2D view (axial, coronal or sagittal) of a volume with its label overlay.

Painting wraps :func:`viewers.render.render_slice` in a QImage and draws it true to
the voxel spacing, with orientation letters on every edge, the linked crosshair
and a slice counter. Navigation follows 3D Slicer / ITK-SNAP: wheel, Page Up/Down
and arrow keys scroll; Ctrl+wheel or right-drag zoom; middle-drag pans; left-drag
sets the crosshair (or window/level in W/L mode).

Scrolling never queues stale frames: events only change the shared state and call
:meth:`request_render`, which marks the frame stale and asks Qt for a paint; Qt
merges pending paints, and the paint renders only the slice current at that time.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QColor, QFont, QFontMetrics, QImage, QPainter, QPen, QTransform
from PySide6.QtWidgets import QSizePolicy, QWidget

from viewers.render import FrameBuffers, SliceGeometry, WindowLevel, render_slice
from viewers.qt.navigation import NavigationMixin

_LETTER_COLOR = QColor(255, 220, 90)
_CROSS_COLOR = QColor(80, 200, 255, 200)


class SliceView(NavigationMixin, QWidget):
    """A QWidget painting one orientation of the volume of a shared ViewerState.

    Signals
    -------
    hover(str)
        Text for the status bar: voxel index, LPS mm and value under the cursor.
    """

    hover = Signal(str)

    def __init__(self, orientation: str, parent=None) -> None:
        super().__init__(parent)
        self.orientation = orientation
        self.state = None
        self.segmentation = None
        self.proposal = None  # a viewers.proposal.ProposalLayer drawn as outlines, or None
        self.slice_geometry: SliceGeometry | None = None
        self.interaction = None
        self.zoom = 1.0
        self.pan = QPointF(0, 0)
        self.wl_mode = False
        self.render_count = 0  # frames rendered (tests and benchmarks check coalescing)
        self._frame = None
        self._buffers = FrameBuffers()  # reused every frame; the QImage wraps "frame"
        self._image = None
        self._frame_key = None
        self._stale = True
        self.setMinimumSize(120, 120)
        self.setSizePolicy(QSizePolicy.Expanding, QSizePolicy.Expanding)
        self.setFocusPolicy(Qt.StrongFocus)
        self.setMouseTracking(True)
        self.setAttribute(Qt.WA_OpaquePaintEvent)
        self._init_navigation()

    # -- data -------------------------------------------------------------------------------
    def set_data(self, state, segmentation=None) -> None:
        """Show the volume of ``state`` (a ViewerState) with ``segmentation``'s overlay."""
        if self.state is not None:
            self.state.point_changed.disconnect(self._on_point)
            self.state.window_changed.disconnect(self._on_window)
            self.state.styles_changed.disconnect(self.request_render)
        if self.segmentation is not None:
            self.segmentation.changed.disconnect(self._on_labels)
            self.segmentation.segments_changed.disconnect(self.request_render)
        self.state, self.segmentation = state, segmentation
        self.slice_geometry = None if state is None else SliceGeometry.of(state.volume, self.orientation)
        if state is not None:
            state.point_changed.connect(self._on_point)
            state.window_changed.connect(self._on_window)
            state.styles_changed.connect(self.request_render)
        if segmentation is not None:
            segmentation.changed.connect(self._on_labels)
            segmentation.segments_changed.connect(self.request_render)
        self.request_render()

    def set_proposal(self, proposal) -> None:
        """Draw ``proposal`` (a ProposalLayer, or None) over the labels, as outlines."""
        if self.proposal is not None:
            self.proposal.changed.disconnect(self.request_render)
        self.proposal = proposal
        if proposal is not None:
            proposal.changed.connect(self.request_render)
        self.request_render()

    def set_interaction(self, interaction) -> None:
        """Let ``interaction`` (a viewers.qt.interaction.Interaction, or None) see the mouse first."""
        if self.interaction is not None:
            self.interaction.deactivated(self)
        self.interaction = interaction
        if interaction is not None:
            interaction.activated(self)
        self.update()

    @property
    def slice_index(self) -> int:
        """Index of the displayed slice along the view's normal voxel axis."""
        if self.slice_geometry is None:
            return 0
        return self.slice_geometry.slice_of(self.state.point)

    def set_slice(self, index: int) -> None:
        """Show slice ``index`` (clipped); moves the shared crosshair along the normal."""
        if self.slice_geometry is None:
            return
        index = int(np.clip(index, 0, self.slice_geometry.num_slices - 1))
        self.state.set_axis(self.slice_geometry.normal_axis, index)

    def request_render(self, *args) -> None:
        """Mark the frame stale and schedule a paint (many requests make one frame)."""
        self._stale = True
        self.update()

    def _on_point(self, point) -> None:
        self.update()  # the slice (if it changed) is re-rendered at paint time, by key

    def _on_window(self, window: WindowLevel) -> None:
        self.update()

    def _on_labels(self, bbox=None) -> None:
        self.request_render()

    # -- geometry ---------------------------------------------------------------------------
    def display_transform(self) -> QTransform:
        """Display pixel coordinates -> widget coordinates (aspect true to spacing)."""
        g = self.slice_geometry
        rows, cols = g.size
        w_mm, h_mm = cols * g.pixel_mm[0], rows * g.pixel_mm[1]
        scale = min(self.width() / w_mm, self.height() / h_mm) * self.zoom
        sx, sy = scale * g.pixel_mm[0], scale * g.pixel_mm[1]
        tx = self.width() / 2 + self.pan.x() - sx * cols / 2
        ty = self.height() / 2 + self.pan.y() - sy * rows / 2
        return QTransform(sx, 0, 0, sy, tx, ty)

    def voxel_at(self, pos: QPointF) -> np.ndarray:
        """Continuous voxel index ``(i, j, k)`` under widget position ``pos``."""
        inverse, _ = self.display_transform().inverted()
        p = inverse.map(QPointF(pos))
        return self.slice_geometry.to_index(p.x(), p.y(), self.slice_index)

    def screen_point(self, ijk) -> QPointF:
        """Widget position of continuous voxel index ``ijk`` (its in-plane projection)."""
        x, y, _ = self.slice_geometry.to_display(ijk)
        return self.display_transform().map(QPointF(x, y))

    def reset_view(self) -> None:
        """Fit the slice to the widget again (zoom 1, no pan)."""
        self.zoom, self.pan = 1.0, QPointF(0, 0)
        self.update()

    # -- painting ---------------------------------------------------------------------------
    def current_frame(self) -> np.ndarray:
        """The rendered pixels of the current slice (0xFFRRGGBB), rendering if stale."""
        state = self.state
        key = (self.slice_index, state.window, id(state.volume.array))
        if self._stale or key != self._frame_key or self._frame is None:
            self._frame = render_slice(state.volume, self.slice_geometry, key[0], state.window,
                                       self.segmentation, state.styles, self._buffers,
                                       proposal=self.proposal)
            rows, cols = self._frame.shape
            self._image = QImage(self._frame.data, cols, rows, cols * 4, QImage.Format_RGB32)
            self._frame_key, self._stale = key, False
            self.render_count += 1
        return self._frame

    def paintEvent(self, event) -> None:  # noqa: N802 - Qt API
        painter = QPainter(self)
        painter.fillRect(self.rect(), Qt.black)
        if self.slice_geometry is None:
            painter.end()
            return
        self.current_frame()
        rows, cols = self._frame.shape
        painter.save()
        painter.setTransform(self.display_transform())
        painter.drawImage(QRectF(0, 0, cols, rows), self._image)
        painter.restore()
        self._paint_crosshair(painter)
        self._paint_text(painter)
        if self.interaction is not None:
            self.interaction.paint_overlay(self, painter)
        painter.end()

    def _paint_crosshair(self, painter: QPainter) -> None:
        p = self.screen_point(self.state.point)
        painter.setPen(QPen(_CROSS_COLOR, 1))
        painter.drawLine(QPointF(0, p.y()), QPointF(self.width(), p.y()))
        painter.drawLine(QPointF(p.x(), 0), QPointF(p.x(), self.height()))

    def _corner_texts(self) -> tuple[str, str]:
        """The slice number (top left) and the window/level (bottom right)."""
        wl = self.state.window
        return (f"{self.orientation}  {self.slice_index + 1}/{self.slice_geometry.num_slices}",
                f"W {wl.width:g}  L {wl.center:g}")

    def letters_moved_inwards(self) -> dict[str, bool]:
        """Whether the top and bottom orientation letters move a line inwards: in a narrow
        view the centred letter would run into the slice number (top left) or the
        window/level (bottom right)."""
        return self._text_layout()[2]

    def _text_layout(self) -> tuple[str, str, dict[str, bool], int]:
        """The corner texts, :meth:`letters_moved_inwards` and the line height (one pass
        over the font metrics per paint)."""
        info, window_text = self._corner_texts()
        plain = QFontMetrics(self.font())
        bold_font = QFont(self.font())
        bold_font.setBold(True)
        bold = QFontMetrics(bold_font)
        m, w, gap = 4, self.width(), plain.horizontalAdvance("  ")
        letters = self.slice_geometry.letters
        moved = {"top": w / 2 - bold.horizontalAdvance(letters["top"]) / 2
                 < m + plain.horizontalAdvance(info) + gap,
                 "bottom": w / 2 + bold.horizontalAdvance(letters["bottom"]) / 2
                 > w - m - plain.horizontalAdvance(window_text) - gap}
        return info, window_text, moved, plain.height()

    def _paint_text(self, painter: QPainter) -> None:
        g = self.slice_geometry
        w, h, m = self.width(), self.height(), 4
        box = QRectF(m, m, w - 2 * m, h - 2 * m)
        info, window_text, moved, line = self._text_layout()
        font = QFont(self.font())
        font.setBold(True)
        painter.setFont(font)
        painter.setPen(_LETTER_COLOR)
        boxes = {"top": box.adjusted(0, line if moved["top"] else 0, 0, 0),
                 "bottom": box.adjusted(0, 0, 0, -line if moved["bottom"] else 0)}
        flags = {"left": Qt.AlignLeft | Qt.AlignVCenter, "right": Qt.AlignRight | Qt.AlignVCenter,
                 "top": Qt.AlignTop | Qt.AlignHCenter, "bottom": Qt.AlignBottom | Qt.AlignHCenter}
        for edge, flag in flags.items():
            painter.drawText(boxes.get(edge, box), flag, g.letters[edge])
        font.setBold(False)
        painter.setFont(font)
        painter.setPen(QColor(230, 230, 230))
        painter.drawText(box, Qt.AlignLeft | Qt.AlignTop, info)
        painter.drawText(box, Qt.AlignRight | Qt.AlignBottom, window_text)
        if g.oblique:
            painter.setPen(QColor(255, 140, 0))
            # below the slice number, and below a top letter moved down beside it
            below = line * (2 if moved["top"] else 1)
            painter.drawText(box.adjusted(0, below, 0, 0), Qt.AlignLeft | Qt.AlignTop,
                             "oblique: voxel grid")
