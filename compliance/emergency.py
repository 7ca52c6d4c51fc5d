"""Emergency ("break-glass") access: HIPAA 45 CFR 164.312(a)(2)(ii).

A user who normally may not see a case's images or labels (an administrator, for
instance) can declare an emergency: re-enter their password, type a reason and pick
a time limit (at most the workspace setting ``emergency_max_minutes``). The grant is
audited as ``emergency.start`` with ``{"reason", "minutes", "until"}``; while it lasts
the session may also open cases and read labels (:data:`EMERGENCY_ACTIONS`), and every
audit entry it writes carries ``details["emergency"]`` = the sequence number of the
``emergency.start`` entry, so the audit trail and exports can flag each one.

Nothing else is granted: approving, user management, settings, keys and the audit
trail keep their normal role checks, so an emergency cannot sign a review, promote
anyone or touch the trail. The grant ends with :meth:`Session.end_emergency`, at
logout, or when its time runs out by the session's clock (then ``emergency.end`` is
recorded at the session's next operation, with ``"ended": "expired"``).

This module holds the rules and the read-side helper :func:`emergency_entries`; the
session hooks are in :mod:`compliance.session`. No Qt.
"""

from __future__ import annotations

from dataclasses import dataclass

from compliance.errors import PolicyError

#: What an emergency adds to a role: reading images and labels, nothing that changes them.
EMERGENCY_ACTIONS = frozenset({"case.open", "label.read"})

#: A reason shorter than this is refused (it would not explain anything to an auditor).
MIN_REASON_CHARS = 10

#: Used when a workspace predates the setting.
DEFAULT_MAX_MINUTES = 60


@dataclass(frozen=True)
class EmergencyGrant:
    """An active grant of one session.

    Attributes
    ----------
    seq : int
        Sequence number of the ``emergency.start`` audit entry (the flag every entry of
        the grant carries).
    reason : str
        The typed reason.
    minutes : int
        The time limit asked for.
    until_utc : str
        ISO 8601 UTC time the grant ends (for people: banners and the audit trail).
    expires_clock : float
        The same moment on the session's clock (``time.monotonic`` by default), which is
        what decides expiry, so that a wall-clock change does not extend a grant.
    """

    seq: int
    reason: str
    minutes: int
    until_utc: str
    expires_clock: float

    def expired(self, now_clock: float) -> bool:
        return now_clock >= self.expires_clock


def check_request(reason: str, minutes, max_minutes: int) -> tuple[str, int]:
    """Validate a request; return (reason stripped, minutes) or raise :class:`PolicyError`."""
    text = " ".join(str(reason or "").split())  # one line in the trail, however it was typed
    if len(text) < MIN_REASON_CHARS:
        raise PolicyError(f"emergency access needs a reason of at least {MIN_REASON_CHARS} "
                          f"characters (got {len(text)})")
    if isinstance(minutes, bool) or not isinstance(minutes, int):
        raise PolicyError(f"emergency access time limit must be whole minutes, not {minutes!r}")
    if not 1 <= minutes <= max_minutes:
        raise PolicyError(f"emergency access time limit must be 1 to {max_minutes} minutes "
                          f"(got {minutes}; setting emergency_max_minutes)")
    return text, minutes


def emergency_entries(entries, case_id: str) -> list[dict]:
    """The emergency grants whose session touched ``case_id``, oldest first.

    Parameters
    ----------
    entries : iterable of dict
        Verified audit entries, as :meth:`Session.verify_audit` or
        :meth:`Session.read_audit` return them (a ``case`` filter would drop the
        ``emergency.start`` entries themselves; pass the unfiltered list).
    case_id : str
        The case an export (or a review) is about.

    Returns
    -------
    list of dict
        One per grant that has at least one entry naming ``case_id`` in its objects:
        ``{"seq": <emergency.start seq>, "user", "user_id", "role", "time" (start, UTC),
        "reason", "minutes", "until", "ended" (seq of emergency.end or None),
        "entries": [{"seq", "action"}, ...] (the flagged entries naming the case)}``.
    """
    starts: dict[int, dict] = {}
    touched: dict[int, list[dict]] = {}
    ends: dict[int, int] = {}
    for e in entries:
        if e.get("checkpoint"):
            continue
        details = e.get("details") or {}
        if e.get("action") == "emergency.start":
            starts[e["seq"]] = e
        flag = details.get("emergency")
        if isinstance(flag, bool) or not isinstance(flag, int):
            continue
        if e.get("action") == "emergency.end":
            ends[flag] = e["seq"]
        if case_id in (e.get("objects") or []):
            touched.setdefault(flag, []).append({"seq": e["seq"], "action": e.get("action")})
    out = []
    for seq in sorted(touched):
        start = starts.get(seq, {})
        d = start.get("details") or {}
        out.append({"seq": seq, "user": start.get("user"), "user_id": start.get("user_id"),
                    "role": start.get("role"), "time": start.get("time"),
                    "reason": d.get("reason"), "minutes": d.get("minutes"),
                    "until": d.get("until"), "ended": ends.get(seq),
                    "entries": touched[seq]})
    return out
