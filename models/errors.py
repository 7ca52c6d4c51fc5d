"""Errors of the proposal layer.

Every error meant for the user carries ``exit_code`` (2: bad input or an unusable model), so
the command line prints it as one line without a traceback.
"""

from __future__ import annotations


class ModelError(Exception):
    """A model cannot run on this input or cannot be loaded (exit code 2).

    The message names the model (or bundle folder) and the reason, in one line.
    """

    exit_code = 2

    def __init__(self, model: str, reason: str):
        self.model = str(model)
        self.reason = reason
        super().__init__(f"{self.model}: {reason}")


class BundleRefused(ModelError):
    """A MONAI bundle that annotrace will not run (missing inputs, changed files, bad weights)."""


class Cancelled(Exception):
    """Raised from a progress callback to stop an inference at the next window batch."""

    exit_code = 130
