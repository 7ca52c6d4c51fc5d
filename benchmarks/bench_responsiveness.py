"""Responsiveness: the longest gap in Qt event processing while a proposal runs.

Opens the Colin27 demo (app/demo/ch2.nii.gz) in a MainWindow (offscreen unless a display is
set), installs the edit tools and the proposals, starts a real built-in model through
``install_proposals``' worker, and meanwhile a 10 ms QTimer records ``time.perf_counter()``
at each tick while a second timer scrolls the axial view every 50 ms (as a user reviewing
slices would, so the GUI thread renders frames during the run). Prints the largest gap
between ticks, its 99th percentile, the proposal time and the import time of the model
stack (torch, MONAI) on the worker thread. Target: max gap < 100 ms.

Run::

    QT_QPA_PLATFORM=offscreen .venv/bin/python benchmarks/bench_responsiveness.py \
        [--model brainmask-unet|deepbet] [--repeat 2] [--json] [--screenshot docs/proposal.png]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

TICK_MS = 10


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="brainmask-unet")
    parser.add_argument("--repeat", type=int, default=2,
                        help="runs in one window (the first one also imports torch/MONAI)")
    parser.add_argument("--baseline-s", type=float, default=5.0,
                        help="first measure the same timers this long without a proposal")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--screenshot", metavar="PNG",
                        help="after the runs, save the window with the proposal shown (outlines "
                             "and the low-confidence tint) to this file (docs/proposal.png)")
    args = parser.parse_args(argv)

    import numpy as np
    from PySide6.QtCore import QEventLoop, QSettings, QTimer
    from PySide6.QtWidgets import QApplication

    from app.demo import DEMO_T1
    from app.gui.mainwindow import MainWindow, install_editor
    from app.gui.proposals import install_proposals

    app = QApplication.instance() or QApplication(sys.argv[:1])
    settings = QSettings(str(Path("/tmp") / "annotrace-bench-responsiveness.ini"),
                         QSettings.IniFormat)
    window = MainWindow(settings)
    install_editor(window)
    ctl = install_proposals(window)
    window.resize(1500, 620)
    window.show()
    window.open_path(str(DEMO_T1))
    deadline = time.perf_counter() + 60
    while window.volume is None or (window.loader is not None and window.loader.is_running()):
        app.processEvents()  # no other Python thread runs yet (see app/gui/loader.py)
        time.sleep(0.01)
        if time.perf_counter() > deadline:
            raise SystemExit("the demo did not load within 60 s")
    spec = next(s for s in ctl.models() if s.name == args.model)
    _ = spec.weights_sha256  # hashed once, before timing (the registry caches it)

    def baseline(seconds: float) -> dict:
        """The same timers without a proposal: the machine's own noise floor."""
        ticks: list[float] = []
        tick, scroll = QTimer(), QTimer()
        tick.setInterval(TICK_MS)
        tick.timeout.connect(lambda: ticks.append(time.perf_counter()))
        view = window.views[0]
        scroll.setInterval(50)
        scroll.timeout.connect(lambda: view.set_slice((view.slice_index + 1)
                                                      % view.slice_geometry.num_slices))
        loop = QEventLoop()
        QTimer.singleShot(int(seconds * 1000), loop.quit)
        tick.start()
        scroll.start()
        loop.exec()
        tick.stop()
        scroll.stop()
        gaps = np.diff(np.asarray(ticks)) * 1000.0
        return {"max_gap_ms": round(float(gaps.max()), 1),
                "p99_gap_ms": round(float(np.percentile(gaps, 99)), 1)}

    floor = baseline(args.baseline_s) if args.baseline_s > 0 else None
    results = []
    for run in range(args.repeat):
        ticks: list[float] = []
        tick = QTimer()
        tick.setInterval(TICK_MS)
        tick.timeout.connect(lambda: ticks.append(time.perf_counter()))
        view = window.views[0]
        scroll = QTimer()
        scroll.setInterval(50)
        scroll.timeout.connect(lambda: view.set_slice((view.slice_index + 1)
                                                      % view.slice_geometry.num_slices))
        done = QTimer()
        done.setInterval(20)

        loop = QEventLoop()  # not app.exec(): quitting the app would end the proposal process

        def check():
            if not ctl.worker.is_running() and not ctl.timer.isActive():
                loop.quit()

        done.timeout.connect(check)
        t0 = time.perf_counter()
        ctl.propose(spec)
        tick.start()
        scroll.start()
        done.start()
        loop.exec()
        elapsed = time.perf_counter() - t0
        for t in (tick, scroll, done):
            t.stop()
        if ctl.error:
            raise SystemExit(f"proposal failed: {ctl.error}")
        gaps_ms = np.diff(np.asarray(ticks)) * 1000.0
        worst = np.argsort(gaps_ms)[-3:][::-1]
        results.append({
            "run": run + 1, "model": spec.model_id,
            "proposal_s": round(elapsed, 2),
            "max_gap_ms": round(float(gaps_ms.max()), 1),
            "p99_gap_ms": round(float(np.percentile(gaps_ms, 99)), 1),
            "median_gap_ms": round(float(np.median(gaps_ms)), 1),
            "ticks": int(len(ticks)),
            "frames_rendered": int(view.render_count),
            "worst_gaps_at_s": [(round(ticks[n] - t0, 2), round(float(gaps_ms[n]), 1))
                                for n in worst],
            "proposed_voxels": int(np.count_nonzero(ctl.layer.labels)) if ctl.layer else 0,
        })
        if args.screenshot and run == args.repeat - 1:
            ctl.set_show_low_confidence(True)
            window.state.set_point([90, 108, 100])  # i, j, k: through the brain's middle
            # Let the views paint through the event loop: a processEvents() loop while other
            # Python threads exist (the queue's feeder) can abort PySide6 (app/gui/loader.py).
            settle = QEventLoop()
            QTimer.singleShot(300, settle.quit)
            settle.exec()
            window.grab().save(args.screenshot)
        ctl.set_layer(None)
    if args.json:
        print(json.dumps({"baseline": floor, "runs": results}, indent=2))
    else:
        from app.gui.proposal_process import _child_threads

        mode = ("thread" if os.environ.get("ANNOTRACE_PROPOSAL_THREAD") == "1"
                else f"process ({_child_threads()} CPU threads)")
        print(f"volume {window.volume.shape} (k, j, i), proposal in a {mode}, "
              f"{os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}; timer {TICK_MS} ms; "
              "target max gap < 100 ms")
        if floor:
            print(f"baseline without a proposal ({args.baseline_s:g} s): max gap "
                  f"{floor['max_gap_ms']:.1f} ms, p99 {floor['p99_gap_ms']:.1f} ms")
        for r in results:
            note = " (includes importing torch/MONAI)" if r["run"] == 1 else ""
            print(f"run {r['run']}: {r['model']} proposal {r['proposal_s']:.2f} s{note}; "
                  f"max gap {r['max_gap_ms']:.1f} ms, p99 {r['p99_gap_ms']:.1f} ms, "
                  f"median {r['median_gap_ms']:.1f} ms; {r['frames_rendered']} frames rendered; "
                  f"worst gaps (s after start, ms) {r['worst_gaps_at_s']}")
    ctl.close()  # ends the proposal process and its queue threads (as quitting the app does)
    window.close()
    return 0


if __name__ == "__main__":  # (the spawned proposal process imports this file too)
    raise SystemExit(main())
