"""What the linked views share: the crosshair point, the window and the segment styles.

A plain object with events (no Qt): every view observes it and writes back
through its setters, so clicking in one view moves the slices of the others.
"""

from __future__ import annotations

import numpy as np

from viewers.events import Event
from viewers.render.overlay import SegmentStyle
from viewers.render.window import WindowLevel, auto_window


class ViewerState:
    """Shared display state of the views of one volume.

    Parameters
    ----------
    volume : Volume
        The image; the crosshair starts at its centre and the window is chosen from
        its modality (CT: soft tissue; anything else: percentile auto-window).
    """

    def __init__(self, volume) -> None:
        self.volume = volume
        self.point = (np.asarray(volume.size_ijk, dtype=float) - 1) / 2
        self.window = default_window(volume)
        self.styles: dict[int, SegmentStyle] = {}
        #: emitted with the new point (continuous ijk) when the crosshair moves
        self.point_changed = Event()
        #: emitted with the new :class:`WindowLevel`
        self.window_changed = Event()
        #: emitted when a segment's opacity or fill/outline mode changed
        self.styles_changed = Event()

    def set_point(self, ijk) -> None:
        """Move the crosshair to continuous voxel index ``ijk`` (clipped to the grid)."""
        top = np.asarray(self.volume.size_ijk, dtype=float) - 1
        point = np.clip(np.asarray(ijk, dtype=float), 0, top)
        if np.array_equal(point, self.point):
            return
        self.point = point
        self.point_changed.emit(point)

    def set_axis(self, axis: int, index: float) -> None:
        """Move the crosshair along one voxel axis (a view scrolling its slices)."""
        point = self.point.copy()
        point[axis] = index
        self.set_point(point)

    def set_window(self, window: WindowLevel) -> None:
        if window != self.window:
            self.window = window
            self.window_changed.emit(window)

    def style(self, segment_id: int) -> SegmentStyle:
        return self.styles.get(segment_id, SegmentStyle())

    def set_style(self, segment_id: int, **changes) -> None:
        old = self.style(segment_id)
        self.styles[segment_id] = SegmentStyle(changes.get("opacity", old.opacity),
                                               changes.get("outline", old.outline))
        self.styles_changed.emit()

    def value_at(self, ijk):
        """The voxel value at the nearest voxel of ``ijk``, or None outside the grid."""
        i, j, k = (int(v) for v in np.rint(ijk))
        arr = self.volume.array
        if 0 <= k < arr.shape[0] and 0 <= j < arr.shape[1] and 0 <= i < arr.shape[2]:
            return arr[k, j, i].item()
        return None


def default_window(volume) -> WindowLevel:
    """CT soft tissue for CT, the percentile auto-window otherwise (MR, PET, NIfTI...)."""
    from viewers.render.window import PRESETS

    if volume.modality.upper() == "CT":
        return PRESETS["CT soft tissue"]
    return auto_window(volume.array)
