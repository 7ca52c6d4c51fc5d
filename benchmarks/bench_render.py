"""Slice rendering: one frame (extract, window/level, overlay blend, QImage) and scrolling.

    .venv/bin/python benchmarks/bench_render.py [--slices 300] [--size 512] [--frames 300]

1. A 512x512 slice of an int16 CT-like volume (300 slices) with three visible
   segments (ellipses covering ~25 % of the slice, one of them drawn as an outline),
   rendered by viewers.render + a QImage wrap: median ms per frame, per view. The
   reference is the plain way: float64 numpy window/level, an RGB float image and
   a masked blend per segment, then a QImage; the ratio is reference / ours.
2. Scrolling a SliceView (512x512 widget, offscreen) through all 300 slices with a
   paint after each step: frames per second.
3. A burst of 300 wheel steps before the event loop runs: how many frames are
   rendered (coalescing: 1 means no stale frame was queued).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import QPoint, QPointF, Qt  # noqa: E402
from PySide6.QtGui import QImage, QWheelEvent  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from viewers.labels import Segmentation  # noqa: E402
from viewers.qt.sliceview import SliceView  # noqa: E402
from viewers.render import (PRESETS, FrameBuffers, SliceGeometry, ViewerState,  # noqa: E402
                            render_slice, to_grey)
from viewers.volume import Volume  # noqa: E402


def make_case(slices: int, size: int):
    rng = np.random.default_rng(0)
    k, j, i = np.ogrid[:slices, :size, :size]
    body = ((j - size / 2) ** 2 + (i - size / 2) ** 2) < (0.45 * size) ** 2
    arr = np.where(body, 40, -1000).astype(np.int16)
    arr = arr + rng.integers(-30, 30, size=(1, size, size), dtype=np.int16)  # texture
    arr = np.broadcast_to(arr, (slices, size, size)).copy()
    vol = Volume.from_geometry(arr, (0, 0, 0), (0.7, 0.7, 1.0), modality="CT")
    seg = Segmentation.empty_like(vol)
    layer = seg.ensure_layer(0)
    for n, (cy, cx, r) in enumerate([(0.4, 0.35, 0.15), (0.6, 0.6, 0.18), (0.3, 0.7, 0.1)]):
        s = seg.add_segment(f"organ {n}")
        mask = ((j - cy * size) ** 2 + (i - cx * size) ** 2) < (r * size) ** 2
        layer[np.broadcast_to(mask, layer.shape)] = s.value
    return vol, seg


def reference_frame(vol, seg, styles, k, wl):
    """The plain implementation: float64 arithmetic and a boolean mask per segment."""
    plane = vol.array[k].astype(np.float64)  # axial of an LPS grid: rows as stored
    lo = wl.center - 0.5 - (wl.width - 1) / 2
    grey = np.clip((plane - lo) / (wl.width - 1) * 255.0, 0, 255)
    rgb = np.stack([grey, grey, grey], axis=-1)
    labels = seg.layers[0][k]
    for s in seg.segments.values():
        a = styles.get(s.segment_id).opacity if s.segment_id in styles else 0.5
        mask = labels == s.value
        rgb[mask] = rgb[mask] * (1 - a) + np.array(s.color, dtype=np.float64) * a
    out = np.ascontiguousarray(rgb.astype(np.uint8))
    h, w, _ = out.shape
    return out, QImage(out.data, w, h, w * 3, QImage.Format_RGB888)


def ours_frame(vol, geometry, seg, styles, k, wl, buffers=None):
    frame = render_slice(vol, geometry, k, wl, seg, styles, buffers)
    h, w = frame.shape
    return frame, QImage(frame.data, w, h, w * 4, QImage.Format_RGB32)


def median_ms(fn, frames: int, slices: int) -> float:
    times = []
    for n in range(frames):
        t = time.perf_counter()
        fn(n % slices)
        times.append(time.perf_counter() - t)
    return statistics.median(times) * 1000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--slices", type=int, default=300)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--frames", type=int, default=300)
    args = parser.parse_args()
    app = QApplication.instance() or QApplication([])
    vol, seg = make_case(args.slices, args.size)
    state = ViewerState(vol)
    outline_id = list(seg.segments)[2]
    state.set_style(outline_id, outline=True)
    wl = PRESETS["CT soft tissue"]
    print(f"volume {vol.shape} int16, 3 visible segments, window {wl.width:g}/{wl.center:g}")

    g_axial = SliceGeometry.of(vol, "axial")
    buffers = FrameBuffers()  # as a SliceView does
    for k in range(3):  # warm the lookup tables
        ours_frame(vol, g_axial, seg, state.styles, k, wl, buffers)
    ours = median_ms(lambda k: ours_frame(vol, g_axial, seg, state.styles, k, wl, buffers),
                     args.frames, args.slices)
    fresh = median_ms(lambda k: ours_frame(vol, g_axial, seg, state.styles, k, wl),
                      args.frames, args.slices)
    ref = median_ms(lambda k: reference_frame(vol, seg, state.styles, k, wl),
                    args.frames, args.slices)
    grey_only = median_ms(lambda k: to_grey(g_axial.extract(vol.array, k), wl),
                          args.frames, args.slices)
    print(f"axial 512x512 frame: ours {ours:.2f} ms median, plain float numpy {ref:.2f} ms "
          f"-> {ref / ours:.1f}x faster (W/L alone {grey_only:.2f} ms; ours with fresh "
          f"arrays each frame {fresh:.2f} ms)")
    for orientation in ("coronal", "sagittal"):
        g = SliceGeometry.of(vol, orientation)
        bufs = FrameBuffers()
        ms = median_ms(lambda n: ours_frame(vol, g, seg, state.styles, n, wl, bufs),
                       min(args.frames, 100), g.num_slices)
        print(f"{orientation} {g.size[0]}x{g.size[1]} frame: ours {ms:.2f} ms median")

    view = SliceView("axial")
    view.set_data(state, seg)
    view.resize(args.size, args.size)
    view.show()
    while view.render_count == 0:
        app.processEvents()
    view.set_slice(0)
    app.processEvents()
    t = time.perf_counter()
    before = view.render_count
    for k in range(args.slices):
        view.set_slice(k)
        app.processEvents()  # the paint of this step (render + draw into the widget)
    elapsed = time.perf_counter() - t
    painted = view.render_count - before
    print(f"scrolling {args.slices} slices with a paint each: {painted / elapsed:.0f} frames/s "
          f"({elapsed / painted * 1000:.2f} ms per painted frame, {painted} frames)")

    view.set_slice(args.slices - 1)
    app.processEvents()
    before = view.render_count
    centre = QPointF(args.size / 2, args.size / 2)
    for _ in range(args.slices - 1):
        QApplication.sendEvent(view, QWheelEvent(
            centre, view.mapToGlobal(centre), QPoint(0, 0), QPoint(0, -120), Qt.NoButton,
            Qt.NoModifier, Qt.NoScrollPhase, False))
    app.processEvents()
    print(f"burst of {args.slices - 1} wheel steps: {view.render_count - before} frame(s) "
          f"rendered, now on slice {view.slice_index}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
