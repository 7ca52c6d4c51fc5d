"""Reading what a worker thread put in its queue, on the GUI thread.

Background work in the GUI runs on plain Python threads that report through a
``queue.Queue`` of ``(kind, payload)`` events, drained by a QTimer on the GUI thread
(PySide6 6.12 aborts when a QThread emits ``Signal(object)`` while other Python threads
run; see :mod:`app.gui.loader`). Progress events are collapsed to the newest, because only
that one matters on screen; the first event of another kind ends the job.
"""

from __future__ import annotations

import queue


def drain_events(events: queue.Queue, on_event=None):
    """Empty ``events`` up to the job's final event.

    Parameters
    ----------
    events : queue.Queue
        ``(kind, payload)`` tuples put by the worker thread.
    on_event : callable, optional
        ``on_event(kind, payload) -> bool``: called for each event that is neither progress
        nor final; returning True consumes it (e.g. ``"log"`` lines shown as they come).

    Returns
    -------
    latest_progress : payload or None
        The newest ``"progress"`` payload read, if any.
    final : (kind, payload) or None
        The first other event not consumed by ``on_event``; None while the job runs.
    """
    latest = None
    while True:
        try:
            kind, payload = events.get_nowait()
        except queue.Empty:
            return latest, None
        if kind == "progress":
            latest = payload
            continue
        if on_event is not None and on_event(kind, payload):
            continue
        return latest, (kind, payload)
