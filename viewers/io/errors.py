"""Errors the readers and writers raise for bad input."""

from __future__ import annotations

import os


class InputError(Exception):
    """A file or folder that cannot be read or written, with the reason.

    ``str()`` is one line, ``"<path>: <reason>"``; the command line prints it
    and exits with :attr:`exit_code`.
    """

    exit_code = 2

    def __init__(self, path: str | os.PathLike | None, reason: str):
        self.path = None if path is None else os.fspath(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}" if self.path else reason)


class MultipleSeriesError(InputError):
    """A folder holds several series and the caller did not choose one."""

    def __init__(self, path, series: list):
        self.series = series
        lines = "; ".join(
            f"{s.series_uid} ({s.modality or '?'}, {s.description or 'no description'}, "
            f"{s.num_images} images)" for s in series)
        super().__init__(path, f"holds {len(series)} series, choose one with --series UID: {lines}")
