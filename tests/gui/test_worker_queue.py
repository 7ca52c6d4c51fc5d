"""drain_events: newest progress only, pass-through events, the first final event."""

import queue

from app.gui.worker_queue import drain_events


def test_progress_collapses_and_the_first_final_event_ends_the_read():
    q = queue.Queue()
    for item in [("progress", (1, 9)), ("log", "a"), ("progress", (5, 9)), ("done", 42),
                 ("progress", (9, 9))]:
        q.put(item)
    logged = []
    latest, final = drain_events(q, lambda k, p: k == "log" and not logged.append(p))
    assert (latest, final, logged) == ((5, 9), ("done", 42), ["a"])
    assert drain_events(q) == ((9, 9), None)  # what came after the final is left for later
    assert drain_events(q) == (None, None)
