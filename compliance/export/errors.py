"""Errors of the export package.

Every error has ``exit_code = 2`` and a one-line message that names the file (when there is one)
and the reason, never a patient identifier.
"""

from __future__ import annotations

import os


class ExportError(Exception):
    """Input that cannot be exported (bad masks, missing geometry, invalid segment records)."""

    exit_code = 2

    def __init__(self, reason: str, path: str | os.PathLike | None = None):
        self.path = None if path is None else os.fspath(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}" if self.path else reason)


class DeidentificationRefused(ExportError):
    """An image that must not leave de-identified without an explicit override.

    Raised for ``BurnedInAnnotation = YES``: pixel text cannot be removed by a header profile.
    """
