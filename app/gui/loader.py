"""Reading a volume off the GUI thread, with progress and the first slices early.

:class:`VolumeLoader` runs :func:`viewers.io.read_volume` on a plain Python thread
and hands its progress and result to the GUI thread through a queue that a QTimer
drains (every 30 ms). Nothing Qt is touched from the worker thread, and signals are
only emitted on the GUI thread. (With PySide6 6.12.0, a QThread emitting ``Signal(object)``
aborted the interpreter within a few thousand emissions, "bool_dealloc", and a
``processEvents()`` loop with "none_dealloc": that release's reference-count bug on Python
3.11, now excluded, see docs/developing.md.) Progress is throttled so that a reader
reporting thousands of slices cannot flood the event loop; the partially filled
destination array travels with it so the window can show slices as they arrive.
"""

from __future__ import annotations

import queue
import threading
import time

from PySide6.QtCore import QObject, QTimer, Signal

from app.gui.worker_queue import drain_events

#: Modules each reader imports lazily, imported on the GUI thread before a load starts so
#: that the worker does not race the GUI thread through PySide's import hook. Only the
#: reader of the path's format is imported (SimpleITK alone costs ~0.2 s at start-up).
READER_MODULES = {
    "nifti": ("viewers.io.nifti", "nibabel"),
    "itk": ("viewers.io.itk", "SimpleITK"),
    "dicom": ("viewers.io.dicom", "pydicom", "pydicom.pixels"),
}


def preload_reader_modules(path=None) -> None:
    """Import the :data:`READER_MODULES` of ``path``'s format (every format when None)
    now, on the calling thread; missing ones are skipped."""
    import importlib
    from pathlib import Path

    from viewers.io import _kind

    kinds = list(READER_MODULES) if path is None else [_kind(Path(path))]
    for kind in kinds:
        for name in READER_MODULES[kind]:
            try:
                importlib.import_module(name)
            except ImportError:
                pass


POLL_MS = 30


class VolumeLoader(QObject):
    """One background load.

    Emits, on the GUI thread: ``progressed(done, total, array)`` while reading, then
    ``loaded(volume)`` or ``failed(exception)``, then ``done()``.
    """

    progressed = Signal(int, int, object)
    loaded = Signal(object)
    failed = Signal(object)
    done = Signal()

    def __init__(self, path, series_uid=None, reader=None, parent=None,
                 skip_bad: bool = False) -> None:
        super().__init__(parent)
        # A custom reader (tests, PACS) may read anything: preload every format for it.
        preload_reader_modules(path if reader is None else None)
        if reader is None:
            from viewers.io import read_volume as reader
        self.path, self.series_uid, self.reader = path, series_uid, reader
        self.skip_bad = skip_bad
        self._queue: queue.Queue = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="annotrace-load", daemon=True)
        self._last = 0.0
        self._finished = False
        self._timer = QTimer(self)
        self._timer.setInterval(POLL_MS)
        self._timer.timeout.connect(self._drain)

    def start(self) -> None:
        self._thread.start()
        self._timer.start()

    def is_running(self) -> bool:
        """True until the result has been delivered on the GUI thread."""
        return self._thread.is_alive() or (self._thread.ident is not None and not self._finished)

    def wait(self, ms: int = 30000) -> bool:
        """Wait for the reading thread (not for delivery, which needs the event loop)."""
        if self._thread.ident is not None:
            self._thread.join(ms / 1000)
        return not self._thread.is_alive()

    # -- worker thread ----------------------------------------------------------------------
    def _progress(self, done, total, array) -> None:
        now = time.monotonic()
        if done in (1, total) or now - self._last > 0.05:  # at most ~20 updates per second
            self._last = now
            self._queue.put(("progress", (int(done), int(total), array)))

    def _run(self) -> None:
        try:
            extra = {"skip_bad": True} if self.skip_bad else {}
            volume = self.reader(self.path, series_uid=self.series_uid, progress=self._progress,
                                 **extra)
        except Exception as exc:  # noqa: BLE001 - every failure goes to the window's dialog
            self._queue.put(("failed", exc))
        else:
            self._queue.put(("loaded", volume))

    # -- GUI thread -------------------------------------------------------------------------
    def _drain(self) -> None:
        latest_progress, final = drain_events(self._queue)
        if latest_progress is not None:
            self.progressed.emit(*latest_progress)
        if final is not None:
            kind, payload = final
            self._timer.stop()
            self._finished = True
            (self.loaded if kind == "loaded" else self.failed).emit(payload)
            self.done.emit()
