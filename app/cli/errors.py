"""User-facing errors of the command line.

Any exception with an integer ``exit_code`` attribute is reported by
:func:`app.cli.main.main` as one line without a traceback. The layers below
(``viewers``, ``models``, ``compliance``) define their own error classes with
the same attribute, so the command line needs no knowledge of them.
"""

from __future__ import annotations


class UsageError(Exception):
    """The command line was used wrongly (exit code 2)."""

    exit_code = 2
