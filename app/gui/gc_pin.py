"""Python's cyclic garbage collector runs on the GUI thread only.

CPython runs the cyclic collector in whichever thread crosses an allocation threshold. The
viewer's background work runs Python on plain threads (loading, journal writes, the ranking
and dashboard jobs), so a collection can start there and finalise Qt wrapper objects caught
in reference cycles -- destroying QObjects from the wrong thread. The fix is the one
pyqtgraph and calibre use: turn automatic collection off and collect from a timer on the
GUI thread, generation by generation with CPython's own thresholds, so the collector runs as
often as before but only there. Reference counting still frees everything else at once.

(It was added after a segfault in CI in the GUI thread's event filter while a ranking worker
wrote the audit log; the cause found later is PySide6 6.12.0's reference-count bug on Python
3.11, now excluded by pyproject.toml -- see docs/developing.md. The pin stays as a defence.)
"""

from __future__ import annotations

import gc

from PySide6.QtCore import QCoreApplication, QObject, QThread, QTimer

#: how often the GUI thread looks at the allocation counts
INTERVAL_MS = 500


class GuiThreadCollector(QObject):
    """Collects on the GUI thread, at CPython's thresholds, from a timer (child of the app)."""

    def __init__(self, app, interval_ms: int = INTERVAL_MS):
        super().__init__(app)
        self.setObjectName("annotrace_gc_pin")
        self.threshold = gc.get_threshold()
        self.collections = 0
        gc.disable()
        self.timer = QTimer(self)
        self.timer.timeout.connect(self.check)
        self.timer.start(interval_ms)

    def check(self) -> None:
        """Collect the generations whose allocation count passed its threshold."""
        counts = gc.get_count()
        for generation in (2, 1, 0):
            if counts[generation] > self.threshold[generation]:
                gc.collect(generation)
                self.collections += 1
                return


def pin_gc_to_gui_thread() -> GuiThreadCollector | None:
    """Install the collector once per application (from the GUI thread); return it.

    None when there is no application yet or when called from another thread.
    """
    app = QCoreApplication.instance()
    if app is None or QThread.currentThread() is not app.thread():
        return None
    existing = app.findChild(GuiThreadCollector, "annotrace_gc_pin")
    return existing if existing is not None else GuiThreadCollector(app)
