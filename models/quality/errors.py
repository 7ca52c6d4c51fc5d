"""Errors of the quality layer (metrics, agreement, calibration inputs).

Every error meant for the user carries ``exit_code = 2`` and a one-line message that names the
file (and line, for CSVs) and the reason, so the command line prints it without a traceback.
"""

from __future__ import annotations

import os


class QualityInputError(Exception):
    """Bad input to a quality computation: a malformed CSV row, mismatched grids, ...

    Parameters
    ----------
    source : str or os.PathLike or None
        The file (or a short name of the input) at fault.
    reason : str
        What is wrong, in one line.
    line : int, optional
        1-based line number in ``source`` (CSV files).
    """

    exit_code = 2

    def __init__(self, source: str | os.PathLike | None, reason: str, line: int | None = None):
        self.source = None if source is None else os.fspath(source)
        self.reason = reason
        self.line = line
        where = self.source or "input"
        if line is not None:
            where = f"{where}, line {line}"
        super().__init__(f"{where}: {reason}")
