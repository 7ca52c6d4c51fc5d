"""A dialog that runs one background job at a time and shows how it goes.

The job runs on a plain daemon :class:`threading.Thread` and reports through a
:class:`queue.Queue` of ``(kind, payload)`` events, which a QTimer drains on the GUI thread
(PySide6 6.12 aborts when a QThread emits ``Signal(object)`` while Python threads run; see
:mod:`app.gui.loader`). Subclasses keep their own widgets and say what an event means; this
class owns the queue, the thread, the timer and the status line.
"""

from __future__ import annotations

import queue
import threading

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QDialog, QHBoxLayout, QLabel, QPushButton

from app.gui.worker_queue import drain_events


class JobDialog(QDialog):
    """Base of the dialogs whose work runs on a worker thread.

    Parameters
    ----------
    window : QWidget
        The main window; kept as ``self.window`` and the parent unless ``parent`` is given.
    parent : QWidget, optional
        The dialog's parent.
    title : str
        The window title.
    poll_ms : int
        How often the GUI thread reads the job's events.
    wrap_status : bool
        Whether :attr:`status` wraps long lines.

    Attributes
    ----------
    status : QLabel
        One line saying how the job goes; the subclass places it in its layout.
    """

    def __init__(self, window, parent=None, *, title: str, poll_ms: int = 50,
                 wrap_status: bool = True):
        super().__init__(parent or window)
        self.window = window
        self.setWindowTitle(title)
        self._events: queue.Queue = queue.Queue()
        self._thread: threading.Thread | None = None
        self._timer = QTimer(self)
        self._timer.setInterval(poll_ms)
        self._timer.timeout.connect(self._drain)
        self.status = QLabel("")
        self.status.setWordWrap(wrap_status)

    def busy(self) -> bool:
        """Whether the worker thread of the last job is still running."""
        return self._thread is not None and self._thread.is_alive()

    def _start_job(self, work, name: str) -> None:
        """Run ``work(post)`` on a daemon thread named ``name``.

        Parameters
        ----------
        work : callable
            Called on the worker thread with ``post(kind, payload)``, which queues an event
            for the GUI thread. It posts ``"progress"`` events, then exactly one other event
            that ends the job (see :meth:`_job_ended`).
        name : str
            The thread's name.
        """
        events = self._events

        # The worker is handed the queue's put, not a method of the dialog: it must not
        # touch the QObject from its thread.
        def post(kind, payload=None):
            events.put((kind, payload))

        self._thread = threading.Thread(target=work, args=(post,), name=name, daemon=True)
        self._thread.start()
        self._timer.start()

    def _drain(self) -> None:
        latest, final = drain_events(self._events)
        if latest is not None:
            self._job_progress(latest)
        if final is not None:
            self._timer.stop()
            self._job_ended(*final)

    def _job_progress(self, payload) -> None:
        """Show the newest ``"progress"`` payload (GUI thread); nothing by default."""

    def _job_ended(self, kind: str, payload) -> None:
        """Show the event that ended the job (GUI thread); the timer is already stopped."""
        raise NotImplementedError

    def _button_row(self, *buttons, lead=None, on_close=None) -> QHBoxLayout:
        """The bottom row: ``lead`` (or space) on the left, ``buttons`` and Close on the right.

        Parameters
        ----------
        *buttons : QWidget
            Placed left of Close, in order.
        lead : QWidget, optional
            Takes the free space on the left (e.g. a progress bar).
        on_close : callable, optional
            What Close does; ``self.close`` by default.

        Returns
        -------
        QHBoxLayout
            The row; Close is :attr:`close_button`.
        """
        self.close_button = QPushButton("Close")
        self.close_button.clicked.connect(on_close or self.close)
        row = QHBoxLayout()
        if lead is None:
            row.addStretch(1)
        else:
            row.addWidget(lead, 1)
        for button in buttons:
            row.addWidget(button)
        row.addWidget(self.close_button)
        return row
