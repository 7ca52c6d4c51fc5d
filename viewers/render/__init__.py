"""Qt-free slice rendering: a volume's slice as display pixels, fast.

One frame is :func:`render_slice`: extract the slice in display orientation
(:class:`SliceGeometry`, radiological convention), window/level it to grey
(:func:`to_grey`), blend the visible segments over it (:func:`compose`). The Qt
view only wraps the result in a QImage. See benchmarks/bench_render.py.
"""

from __future__ import annotations

import numpy as np

from viewers.render.orientation import ORIENTATIONS, SliceGeometry, closest_axes
from viewers.render.overlay import SegmentStyle, compose, draw_proposal, layer_key, outline_of, rgba
from viewers.render.state import ViewerState, default_window
from viewers.render.window import PRESETS, WindowLevel, auto_window, grey_of_value, to_grey

__all__ = ["FrameBuffers", "ORIENTATIONS", "PRESETS", "SegmentStyle", "SliceGeometry", "ViewerState",
           "WindowLevel", "auto_window", "closest_axes", "compose", "default_window", "draw_proposal",
           "grey_of_value", "layer_key", "outline_of", "render_slice", "rgba", "to_grey"]


class FrameBuffers:
    """Scratch and output arrays reused from frame to frame (one set per view).

    Allocating fresh megabyte arrays per frame costs more than the arithmetic (the
    kernel hands out zeroed pages and takes them back); a view renders into the
    same buffers instead. The returned frame is overwritten by the next render.
    """

    def __init__(self) -> None:
        self._arrays: dict = {}

    def get(self, name: str, shape, dtype) -> np.ndarray:
        key = (name, tuple(shape), np.dtype(dtype))
        array = self._arrays.get(key)
        if array is None:
            self._arrays = {k: v for k, v in self._arrays.items() if k[0] != name}
            array = self._arrays[key] = np.empty(shape, dtype)
        return array


def render_slice(volume, geometry: SliceGeometry, index: int, window: WindowLevel,
                 segmentation=None, styles: dict | None = None,
                 buffers: FrameBuffers | None = None, proposal=None) -> np.ndarray:
    """One displayed frame: ``(rows, cols)`` uint32 ``0xFFRRGGBB`` pixels.

    Parameters
    ----------
    volume : Volume
    geometry : SliceGeometry
        The view's layout (``SliceGeometry.of(volume, "axial")``...).
    index : int
        Slice index along ``geometry.normal_axis``.
    window : WindowLevel
    segmentation : Segmentation, optional
        Its visible segments are blended over the image.
    styles : dict, optional
        ``segment_id -> SegmentStyle`` (opacity, outline); default 50 % filled.
    buffers : FrameBuffers, optional
        Render into these reused arrays (the result is valid until the next call).
    proposal : viewers.proposal.ProposalLayer, optional
        Drawn over the labels as outlines (plus the low-confidence tint when its toggle is
        on) while it is active (not hidden, not rejected).
    """
    get = (lambda name, dtype: None) if buffers is None else (
        lambda name, dtype: buffers.get(name, geometry.size, dtype))
    grey = to_grey(geometry.extract(volume.array, index), window, volume.display_inverted,
                   out=get("grey", np.uint8))
    planes = []
    if segmentation is not None:
        styles = styles or {}
        for layer_no, layer in enumerate(segmentation.layers):
            key = layer_key(segmentation, layer_no, styles)
            if key:
                planes.append((geometry.extract(layer, index), key))
    frame = compose(grey, planes, out=get("frame", np.uint32), scratch=get("index", np.uint16))
    if proposal is not None and proposal.active and tuple(proposal.shape) == tuple(volume.shape):
        low = proposal.low_threshold_u8 if proposal.show_low_confidence else None
        draw_proposal(frame, geometry.extract(proposal.labels, index), proposal.outline_colors(),
                      geometry.extract(proposal.confidence, index) if low is not None else None, low)
    return frame
