"""Plain-Python events: models emit, widgets observe (no Qt here)."""

from __future__ import annotations

from typing import Callable


class Event:
    """A list of callbacks called in order with the emitted arguments.

    Examples
    --------
    >>> seen = []
    >>> changed = Event()
    >>> changed.connect(seen.append)
    >>> changed.emit(3)
    >>> seen
    [3]
    """

    def __init__(self) -> None:
        self._callbacks: list[Callable] = []
        self._blocked = 0

    def connect(self, callback: Callable) -> None:
        if callback not in self._callbacks:
            self._callbacks.append(callback)

    def disconnect(self, callback: Callable) -> None:
        if callback in self._callbacks:
            self._callbacks.remove(callback)

    def emit(self, *args, **kwargs) -> None:
        if self._blocked:
            return
        for callback in list(self._callbacks):
            callback(*args, **kwargs)

    def blocked(self):
        """Context manager that silences the event (for batch updates)."""
        event = self

        class _Block:
            def __enter__(self):
                event._blocked += 1

            def __exit__(self, *exc):
                event._blocked -= 1

        return _Block()
