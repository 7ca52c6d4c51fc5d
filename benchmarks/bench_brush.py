"""Brush event latency, undo memory and whole-volume region growing on a 512x512x300 volume.

Run:  .venv/bin/python benchmarks/bench_brush.py [--strokes 100] [--events 10]

Figures (DESIGN.md budgets):
1. median time of one brush event (3D sphere, radius 5 mm, 0.75x0.75x1 mm CT-like voxels)
   including its undo record (and the re-render of the current axial slice with
   viewers.render.render_slice when that module is present), against a naive reference
   in the same run: the same dab written directly (and the same re-render) plus a full
   copy of the label layer per stroke for undo (3D Slicer's approach; per event
   amortised and on the first event of a stroke are both printed);
2. bytes held by the undo history after N strokes, relative to the bytes of voxels they
   changed (one uint8 layer byte per changed voxel); target <= 2x plus a fixed overhead;
3. region growing (ConnectedThreshold) from one seed over the whole volume, with the
   command (diff + region hashes) it records.
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from viewers.edit import Editor, grow  # noqa: E402
from viewers.edit.shapes import capsule  # noqa: E402
from viewers.labels import Segmentation  # noqa: E402
from viewers.volume import Volume  # noqa: E402

SHAPE = (300, 512, 512)
SPACING = (0.75, 0.75, 1.0)


def make_volume(rng) -> Volume:
    """int16 CT-like volume: noisy 'soft tissue' ball of 120 mm radius in noisy air."""
    k, j, i = np.ogrid[:SHAPE[0], :SHAPE[1], :SHAPE[2]]
    r2 = ((i - 256) * SPACING[0]) ** 2 + ((j - 256) * SPACING[1]) ** 2 + ((k - 150) * SPACING[2]) ** 2
    arr = np.where(r2 <= 120.0 ** 2, np.int16(40), np.int16(-1000))
    arr += rng.integers(-20, 21, SHAPE, dtype=np.int16)
    return Volume.from_geometry(arr, (0.0, 0.0, 0.0), SPACING)


def renderer(volume):
    """A function re-rendering the current axial slice with viewers.render, if it exists."""
    try:
        from viewers.render import PRESETS, SliceGeometry, render_slice  # noqa: PLC0415
    except ImportError:
        return None
    geometry = SliceGeometry.of(volume, "axial")
    window = PRESETS["CT soft tissue"]

    def render(segmentation, ijk):
        return render_slice(volume, geometry, geometry.slice_of(ijk), window, segmentation)

    return render


def stroke_path(rng, n_events):
    start = rng.uniform([60, 60, 20], [450, 450, 280])
    step = rng.normal(size=3) * [1.0, 1.0, 0.2]
    step /= max(1e-6, np.linalg.norm(step[:2]))  # about one voxel per mouse event
    return [start + e * step for e in range(n_events)]


def bench_events(ed, sid, rng, n_strokes, n_events, render_slice):
    event_times, commit_times, changed = [], [], 0
    for _ in range(n_strokes):
        path = stroke_path(rng, n_events)
        stroke = ed.begin_stroke(sid, radius_mm=5.0)
        for c in path:
            t0 = time.perf_counter()
            stroke.add(c)
            if render_slice is not None:
                render_slice(ed.segmentation, c)
            event_times.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        cmd = stroke.commit()
        commit_times.append(time.perf_counter() - t0)
        changed += cmd.voxels_changed if cmd else 0
    return event_times, commit_times, changed


def bench_naive(volume, rng, n_strokes, n_events, render_slice):
    """Reference: write each dab straight into the layer, full copy of the layer per stroke."""
    seg = Segmentation.empty_like(volume)
    layer = seg.ensure_layer(0)
    seg.add_segment("naive")
    per_event, copies = [], []
    for _ in range(n_strokes):
        t0 = time.perf_counter()
        undo_copy = layer.copy()  # noqa: F841  (what full-copy undo keeps per stroke)
        copies.append(time.perf_counter() - t0)
        last = None
        for c in stroke_path(rng, n_events):
            t0 = time.perf_counter()
            bbox, mask = capsule(seg.shape, volume.affine_lps, c if last is None else last, c, 5.0)
            last = c
            if bbox is not None:
                layer[bbox][mask] = 1
            if render_slice is not None:
                render_slice(seg, c)
            per_event.append(time.perf_counter() - t0)
    return per_event, copies


def bench_relocation(volume):
    """Worst brush event: overlap forces the painted segment (here 2.8M voxels) to move layers."""
    seg = Segmentation.empty_like(volume)
    ed = Editor(volume, seg)
    big = seg.add_segment("big").segment_id
    under = seg.add_segment("under").segment_id
    full = tuple(slice(0, n) for n in seg.shape)
    m = np.zeros(seg.shape, bool)
    m[20:90, 150:350, 150:350] = True
    ed.set_mask("setup", big, full, m)
    m[:] = False
    m[140:160, 240:260, 240:260] = True
    ed.set_mask("setup", under, full, m)
    assert seg.segments[big].layer == seg.segments[under].layer
    stroke = ed.begin_stroke(big, radius_mm=5.0)
    t0 = time.perf_counter()
    stroke.add((250.0, 250.0, 150.0))
    t_first = time.perf_counter() - t0
    times = []
    for x in range(251, 261):
        t0 = time.perf_counter()
        stroke.add((float(x), 250.0, 150.0))
        times.append(time.perf_counter() - t0)
    t0 = time.perf_counter()
    cmd = stroke.commit()
    t_commit = time.perf_counter() - t0
    print(f"\n1b. overlap with 'allow_overlap': the first event moves the 2.8M-voxel segment to "
          f"layer {seg.segments[big].layer}: {t_first * 1e3:.0f} ms (once per stroke), next events median "
          f"{statistics.median(times) * 1e3:.2f} ms; commit {t_commit * 1e3:.0f} ms, "
          f"command {cmd.nbytes / 2**10:.0f} KiB for {cmd.voxels_changed} layer voxels")
    ed.undo()
    assert seg.segments[big].layer == 0 and len(seg.layers) == 1


def traced_history_bytes(volume, n_strokes, n_events):
    """Bytes left allocated by n strokes (numpy reports its buffers to tracemalloc)."""
    seg = Segmentation.empty_like(volume)
    seg.ensure_layer(0)
    seg.ensure_provenance()  # the per-voxel provenance map, like the layer, is not history
    ed = Editor(volume, seg)
    sid = seg.add_segment("traced").segment_id
    rng = np.random.default_rng(2)
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    changed = 0
    for _ in range(n_strokes):
        stroke = ed.begin_stroke(sid, radius_mm=5.0)
        for c in stroke_path(rng, n_events):
            stroke.add(c)
        changed += stroke.commit().voxels_changed
    gc.collect()
    held = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    return held, changed, ed.history.nbytes


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--strokes", type=int, default=100)
    p.add_argument("--events", type=int, default=10, help="mouse events per stroke")
    args = p.parse_args(argv)
    rng = np.random.default_rng(0)
    vol = make_volume(rng)
    print(f"volume {SHAPE[::-1]} (i, j, k) int16, spacing {SPACING} mm, "
          f"{vol.array.nbytes / 2**20:.0f} MiB; label layer {np.prod(SHAPE) / 2**20:.0f} MiB")
    seg = Segmentation.empty_like(vol)
    seg.ensure_layer(0)
    ed = Editor(vol, seg)
    sid = seg.add_segment("lesion").segment_id
    render_slice = renderer(vol)
    print("re-render of the current axial slice (512x512, overlay):",
          "included (viewers.render.render_slice)" if render_slice else "NOT included (no viewers.render)")

    ev, commits, changed = bench_events(ed, sid, rng, args.strokes, args.events, render_slice)
    naive_ev, naive_copy = bench_naive(vol, np.random.default_rng(1), min(args.strokes, 20),
                                       args.events, render_slice)
    med = statistics.median(ev)
    naive_med = statistics.median(naive_ev)
    copy_med = statistics.median(naive_copy)
    naive_amortised = naive_med + copy_med / args.events
    print(f"\n1. brush event (3D sphere r=5 mm) incl. undo record: median {med * 1e3:.2f} ms, "
          f"p95 {np.percentile(ev, 95) * 1e3:.2f} ms over {len(ev)} events")
    print(f"   stroke commit (diff compression + region hashes, on mouse release): median "
          f"{statistics.median(commits) * 1e3:.2f} ms, max {max(commits) * 1e3:.2f} ms")
    print(f"   naive reference: dab (+render) alone {naive_med * 1e3:.3f} ms/event, full layer copy "
          f"{copy_med * 1e3:.1f} ms/stroke -> {naive_amortised * 1e3:.2f} ms/event amortised over "
          f"{args.events} events, {naive_med * 1e3 + copy_med * 1e3:.1f} ms on the first event")
    print(f"   ratio ours/naive-amortised = {med / naive_amortised:.2f}; "
          f"ours/naive-first-event = {med / (naive_med + copy_med):.3f}")

    held = ed.history.nbytes
    print(f"\n2. undo history after {ed.history.undo_steps} strokes: {held / 2**20:.2f} MiB held for "
          f"{changed} changed voxels ({changed / 2**20:.2f} MiB of uint8): "
          f"{held / max(changed, 1):.3f} bytes per changed voxel "
          f"({(held - 3100 * ed.history.undo_steps) / max(changed, 1):.3f} without the fixed "
          f"per-command overhead of about 3.1 KB); full-copy undo would hold "
          f"{ed.history.undo_steps * np.prod(SHAPE) / 2**30:.1f} GiB")
    traced_held, traced_changed, estimate = traced_history_bytes(vol, args.strokes, args.events)
    print(f"   measured with tracemalloc in a separate untimed run (all the strokes left allocated): "
          f"{traced_held / 2**20:.2f} MiB = {traced_held / max(traced_changed, 1):.3f} bytes per "
          f"changed voxel; the history's own estimate {estimate / max(traced_changed, 1):.3f}")

    t0 = time.perf_counter()
    ed.undo()
    t_undo = time.perf_counter() - t0
    t0 = time.perf_counter()
    ed.redo()
    print(f"   undo of one stroke {t_undo * 1e3:.2f} ms, redo {(time.perf_counter() - t0) * 1e3:.2f} ms")

    bench_relocation(vol)

    import SimpleITK as sitk  # noqa: PLC0415

    body = seg.add_segment("body").segment_id
    t0 = time.perf_counter()
    img = sitk.GetImageFromArray(vol.array)
    sitk.ConnectedThreshold(img, seedList=[(256, 256, 150)], lower=-100, upper=200)
    t_filter = time.perf_counter() - t0
    t0 = time.perf_counter()
    cmd = grow.connected_threshold(ed, body, (256, 256, 150), -100, 200)
    t_grow = time.perf_counter() - t0
    t0 = time.perf_counter()
    ed.undo()
    t_gu = time.perf_counter() - t0
    print(f"\n3. region growing on the whole volume: {t_grow:.2f} s for {cmd.voxels_changed} voxels "
          f"(SimpleITK filter alone {t_filter:.2f} s; command {cmd.nbytes / 2**20:.2f} MiB); "
          f"undo {t_gu:.2f} s")


if __name__ == "__main__":
    main()
