"""A long annotation session, compressed: does the viewer survive it, and does memory stay flat?

    .venv/bin/python benchmarks/soak_session.py [--rounds 10] [--json]

A throw-away workspace (test key derivation) holds the Colin27 demo T1 at 1 mm and a 2 mm
copy. Each round an annotator opens one of them in the real MainWindow (offscreen unless a
display is set), scrolls every view back and forth (wheel events), hovers over the axial view
(the status bar follows), paints brush strokes (mouse drags), undoes some, saves a version
and switches case -- the events a radiologist produces in minutes of work. Printed: the
events sent, the drift of the reference counts of None/True/False (a Qt binding that drops
references aborts the interpreter when they reach zero: PySide6 6.12.0 on Python 3.11 did,
after ~900 wheel steps), and the resident memory after the first round and at the end.
The reference is the first round itself: memory growth per later round is printed against
the first round's footprint. A positive drift of None's count is references held (it does
not fall back after a full collection; harmless), a negative one is the binding bug.

Measured here (2 cores, offscreen): PySide6 6.11.3, 30 rounds (18000 wheel steps, 9000
hovers, 600 strokes, 30 saves): no abort, memory 190 -> 199 MB (+0.3 MB per round); the
same script on PySide6 6.12.0 aborted with "none_dealloc" in its first round.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

PASSWORDS = {"admin": "correct horse battery", "ann": "first reader pw 1"}


def rss_mb() -> float:
    with open("/proc/self/status", encoding="ascii") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    return float("nan")


def build(root: Path) -> list[str]:
    import numpy as np

    from app.demo import DEMO_T1
    from compliance.keys import KdfParams
    from compliance.workspace import Workspace
    from viewers.io import read_volume

    ws = Workspace.create(root, "admin", PASSWORDS["admin"], kdf=KdfParams.testing())
    with ws.login("admin", PASSWORDS["admin"]) as admin:
        admin.add_user("ann", "annotator", PASSWORDS["ann"])
    t1 = read_volume(DEMO_T1)
    with ws.login("ann", PASSWORDS["ann"]) as ann:
        return [ann.import_case(t1.array, t1.affine_lps, modality="MR"),
                ann.import_case(t1.array[::2, ::2, ::2].copy(),
                                t1.affine_lps @ np.diag([2.0, 2.0, 2.0, 1.0]), modality="MR")]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=10)
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)

    from PySide6.QtCore import QEvent, QPoint, QPointF, Qt
    from PySide6.QtGui import QMouseEvent, QWheelEvent
    from PySide6.QtTest import QTest
    from PySide6.QtWidgets import QApplication

    from app.gui.workspace_start import window_logged_in

    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("annotrace-soak")
    counts = {"wheel": 0, "hover": 0, "strokes": 0, "undo": 0, "saves": 0, "opens": 0}

    def send_mouse(view, kind, pos, button=Qt.NoButton, buttons=Qt.NoButton):
        QApplication.sendEvent(view, QMouseEvent(kind, pos, view.mapToGlobal(pos), button,
                                                 buttons, Qt.NoModifier))

    def refs():
        return sys.getrefcount(None), sys.getrefcount(True), sys.getrefcount(False)

    with tempfile.TemporaryDirectory() as tmp:
        cases = build(Path(tmp) / "ws")
        window, ctl = window_logged_in(Path(tmp) / "ws", "ann", PASSWORDS["ann"],
                                       Path(tmp) / "s.ini")
        edit = window.edit_controller
        start_refs, t0 = refs(), time.perf_counter()
        rss_first = None
        for r in range(args.rounds):
            assert ctl.open_case(cases[r % 2])
            counts["opens"] += 1
            QTest.qWait(50)
            for view in window.views:
                first_slice = view.slice_index
                centre = QPointF(view.width() / 2, view.height() / 2)
                for k in range(200):
                    delta = QPoint(0, 120 if (k // 50) % 2 else -120)
                    QApplication.sendEvent(view, QWheelEvent(
                        centre, view.mapToGlobal(centre), QPoint(0, 0), delta, Qt.NoButton,
                        Qt.NoModifier, Qt.NoScrollPhase, False))
                    counts["wheel"] += 1
                    if k % 10 == 0:
                        QTest.qWait(1)  # let the views paint, as on screen
                    if k == 49:  # 50 steps one way: the slice moved
                        assert view.slice_index != first_slice, "wheel did not scroll"
            axial = window.views[0]
            centre = axial.screen_point((window.volume.array.shape[2] / 2,
                                         window.volume.array.shape[1] / 2, axial.slice_index))
            for k in range(300):
                send_mouse(axial, QEvent.MouseMove,
                           centre + QPointF(k % 60 - 30, (k // 60) * 10 - 20))
                counts["hover"] += 1
            if window.segment_panel.active_segment_id is None:
                window.segment_panel.add_segment("lesion")
            edit.set_tool("brush")
            edit.set_radius(3.0)
            shape_kji = window.volume.array.shape
            for s in range(20):
                # strokes across the middle of the slice shown, one voxel row apart
                j = shape_kji[1] // 2 - 10 + s
                points = [axial.screen_point((shape_kji[2] // 2 - 20 + 4 * i, j,
                                              axial.slice_index)) for i in range(10)]
                send_mouse(axial, QEvent.MouseButtonPress, points[0], Qt.LeftButton,
                           Qt.LeftButton)
                for q in points[1:]:
                    send_mouse(axial, QEvent.MouseMove, q, Qt.NoButton, Qt.LeftButton)
                send_mouse(axial, QEvent.MouseButtonRelease, points[-1], Qt.LeftButton)
                counts["strokes"] += 1
            for _ in range(5):
                edit.undo()
                counts["undo"] += 1
            edit.set_tool(None)
            painted = int(sum((layer > 0).sum() for layer in window.segmentation.layers))
            assert painted > 0, "the strokes painted nothing"
            assert ctl.save() is not None
            counts["saves"] += 1
            counts["voxels_saved"] = counts.get("voxels_saved", 0) + painted
            # A round stands for minutes of work: let the event loop run long enough for
            # the collector pinned to the GUI thread (app/gui/gc_pin.py, every 500 ms).
            QTest.qWait(600)
            if r == 0:
                rss_first = rss_mb()
        elapsed = time.perf_counter() - t0
        import gc

        gc.collect()  # what is left is held, not garbage waiting for the collector
        end_refs = refs()
        rss_end = rss_mb()
        ctl.dirty = False
        window.detach_workspace()
        window.close()
    import PySide6

    drift = {name: b - a for name, a, b in zip(("None", "True", "False"), start_refs,
                                                 end_refs)}
    events = counts["wheel"] + counts["hover"] + 10 * counts["strokes"]
    growth = (rss_end - rss_first) / max(args.rounds - 1, 1)
    out = {"pyside6": PySide6.__version__, "python": sys.version.split()[0],
           "rounds": args.rounds, **counts, "events": events, "seconds": round(elapsed, 1),
           "refcount_drift": drift, "rss_after_round_1_mb": round(rss_first, 1),
           "rss_end_mb": round(rss_end, 1), "rss_growth_per_round_mb": round(growth, 2)}
    if args.json:
        print(json.dumps(out, indent=2))
        return 0
    print(f"PySide6 {out['pyside6']} on Python {out['python']}: {args.rounds} rounds in "
          f"{elapsed:.0f} s -- {counts['wheel']} wheel steps, {counts['hover']} hovers, "
          f"{counts['strokes']} brush strokes, {counts['undo']} undos, {counts['saves']} saves, "
          f"{counts['opens']} case opens")
    print(f"  reference counts changed by None {drift['None']:+d}, True {drift['True']:+d}, "
          f"False {drift['False']:+d} over {events} events "
          f"({drift['None'] / events:+.3f} None per event)")
    print(f"  memory: {rss_first:.0f} MB after the first round, {rss_end:.0f} MB at the end "
          f"({growth:+.1f} MB per later round, {growth / rss_first:+.2%} of the first)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
