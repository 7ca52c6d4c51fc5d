"""Start-up probe: report when the main window first paints with its image shown, then quit.

Inert unless ``ANNOTRACE_STARTUP_PROBE`` is set. When set, :func:`install` wraps
:func:`app.gui.application.build_window` so that, once the window has emitted
``volume_loaded``, the next paint event of one of its slice views prints one line to stderr::

    annotrace-startup-painted <time.monotonic()>

and the application quits. ``CLOCK_MONOTONIC`` is system-wide on Linux, so the parent
(benchmarks/bench_startup.py) subtracts its own ``time.monotonic()`` taken just before it
started the process: the figure covers exec, imports, Qt start, reading the study and the
first paint.

The same file serves the virtual environment (the benchmark runs it before
``app.cli.main.main``) and the PyInstaller build (installer/annotrace.spec lists it as a
runtime hook, where it runs before the application's own code).
"""

from __future__ import annotations

import os
import sys
import time

PROBE_ENV = "ANNOTRACE_STARTUP_PROBE"
#: When also set, the names of every module imported by the first paint go to this file.
MODULES_ENV = "ANNOTRACE_STARTUP_PROBE_MODULES"
MARK = "annotrace-startup-painted"
#: Printed when the probe itself runs: the interpreter is up (in the build: after the
#: bootloader and PyInstaller's own runtime hooks), none of annotrace is imported yet.
PYTHON_MARK = "annotrace-startup-python"


def install() -> bool:
    """Wrap ``build_window`` when the probe is asked for; returns whether it was installed."""
    if not os.environ.get(PROBE_ENV):
        return False
    print(f"{PYTHON_MARK} {time.monotonic():.6f}", file=sys.stderr, flush=True)
    import app.gui.application as application  # os/sys/pathlib only: no Qt yet

    original = application.build_window

    def build_window(*args, **kwargs):
        from PySide6.QtCore import QEvent, QObject, QTimer
        from PySide6.QtWidgets import QApplication

        window = original(*args, **kwargs)
        state = {"loaded": False, "done": False}

        class PaintWatcher(QObject):
            def eventFilter(self, obj, event):  # noqa: N802 - Qt API
                if (state["loaded"] and not state["done"] and event.type() == QEvent.Paint
                        and obj in window.views):
                    state["done"] = True
                    # Stamp after the paint has run, not when it is about to.
                    QTimer.singleShot(0, _report)
                return False

        def _report():
            print(f"{MARK} {time.monotonic():.6f}", file=sys.stderr, flush=True)
            modules_file = os.environ.get(MODULES_ENV)
            if modules_file:
                with open(modules_file, "w", encoding="utf-8") as handle:
                    handle.write("\n".join(sorted(sys.modules)) + "\n")
            QApplication.instance().quit()

        def on_loaded(*_):
            state["loaded"] = True
            for view in window.views:
                view.update()

        watcher = PaintWatcher(window)
        for view in window.views:
            view.installEventFilter(watcher)
        window.volume_loaded.connect(on_loaded)
        window._startup_probe = watcher  # keep the filter alive with the window
        QTimer.singleShot(60000, QApplication.instance().quit)  # never hang a benchmark
        return window

    application.build_window = build_window
    return True


install()
