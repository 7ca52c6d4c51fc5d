"""Errors of the compliance layer.

Every class carries ``exit_code`` so that the command line prints ``str(exc)``
as one line and exits with it (see :mod:`app.cli.main`). Messages never hold
PHI: they name workspace-relative paths, random case ids and user names only.
"""

from __future__ import annotations


class ComplianceError(Exception):
    """Base class: a refused or failed compliance operation (exit code 2)."""

    exit_code = 2


class IntegrityError(ComplianceError):
    """Stored bytes failed authentication: modified, truncated, swapped or rolled back."""


class AuthenticationError(ComplianceError):
    """Wrong user name or password (deliberately does not say which)."""


class LockedOutError(AuthenticationError):
    """Too many failed attempts: the account is locked for a while."""


class DisabledError(AuthenticationError):
    """The account was disabled by an administrator."""


class PermissionDenied(ComplianceError):
    """The user's role does not allow the action."""


class SessionLocked(ComplianceError):
    """The session is locked (idle timeout or explicit lock); unlock with the password."""


class PolicyError(ComplianceError):
    """A password or setting does not meet the workspace policy."""


class BusyError(ComplianceError):
    """Another process holds the lock (a case being edited, the audit log being appended)."""


class NotFoundError(ComplianceError):
    """No such case, version or user."""


class AuditError(ComplianceError):
    """Audit verification failed; ``seq`` is the first bad entry (or None).

    Exit code 1, so that scripts tell a failed verification from a usage error (2).
    """

    exit_code = 1

    def __init__(self, message: str, seq: int | None = None, kind: str = ""):
        super().__init__(message)
        self.seq = seq
        self.kind = kind


class RecordMismatchError(AuditError, IntegrityError):
    """``audit verify --deep``: the workspace no longer holds what the trail records.

    A case, label version or review event is gone or different, or the user table is not
    the revision last recorded (an older copy put back). Exit code 1, as any failed
    verification.
    """
