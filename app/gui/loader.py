"""Reading a volume off the GUI thread, with progress and the first slices early.

:class:`VolumeLoader` runs :func:`viewers.io.read_volume` in a QThread. Progress
reaches the GUI thread through queued signals, throttled so that a reader
reporting thousands of slices cannot flood the event loop; the partially filled
destination array travels with it so the window can show slices as they arrive.
"""

from __future__ import annotations

import time

from PySide6.QtCore import QObject, QThread, Signal


class _Worker(QObject):
    progressed = Signal(int, int, object)
    loaded = Signal(object)
    failed = Signal(object)

    def __init__(self, path, series_uid, reader) -> None:
        super().__init__()
        self.path, self.series_uid, self.reader = path, series_uid, reader
        self._last = 0.0

    def _progress(self, done, total, array) -> None:
        now = time.monotonic()
        if done in (1, total) or now - self._last > 0.05:  # at most ~20 updates per second
            self._last = now
            self.progressed.emit(int(done), int(total), array)

    def run(self) -> None:
        try:
            volume = self.reader(self.path, series_uid=self.series_uid, progress=self._progress)
        except Exception as exc:  # noqa: BLE001 - every failure goes to the window's dialog
            self.failed.emit(exc)
        else:
            self.loaded.emit(volume)


class VolumeLoader(QObject):
    """One background load; emits ``progressed(done, total, array)``, ``loaded(volume)``
    or ``failed(exception)`` on the GUI thread, then ``done()``."""

    progressed = Signal(int, int, object)
    loaded = Signal(object)
    failed = Signal(object)
    done = Signal()

    def __init__(self, path, series_uid=None, reader=None, parent=None) -> None:
        super().__init__(parent)
        if reader is None:
            from viewers.io import read_volume as reader
        self.path = path
        self._thread = QThread()
        self._worker = _Worker(path, series_uid, reader)
        self._worker.moveToThread(self._thread)
        self._thread.started.connect(self._worker.run)
        self._worker.progressed.connect(self.progressed)
        self._worker.loaded.connect(self._finish_loaded)
        self._worker.failed.connect(self._finish_failed)

    def start(self) -> None:
        self._thread.start()

    def is_running(self) -> bool:
        return self._thread.isRunning()

    def wait(self, ms: int = 30000) -> bool:
        return self._thread.wait(ms)

    def _stop(self) -> None:
        self._thread.quit()
        self._thread.wait()

    def _finish_loaded(self, volume) -> None:
        self._stop()
        self.loaded.emit(volume)
        self.done.emit()

    def _finish_failed(self, exc) -> None:
        self._stop()
        self.failed.emit(exc)
        self.done.emit()
