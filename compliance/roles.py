"""Roles, the actions each may perform (least privilege), and the password policy."""

from __future__ import annotations

import re

from compliance.errors import PolicyError

ROLES = ("annotator", "reviewer", "admin", "auditor")

#: action -> roles allowed. Anything not listed is refused for everyone.
PERMISSIONS: dict[str, frozenset[str]] = {
    "case.import": frozenset({"annotator", "admin"}),
    "case.list": frozenset({"annotator", "reviewer", "admin"}),
    "case.open": frozenset({"annotator", "reviewer"}),  # PHI and image access
    "label.read": frozenset({"annotator", "reviewer"}),
    "label.save": frozenset({"annotator"}),
    "journal": frozenset({"annotator"}),
    "review.submit": frozenset({"annotator"}),
    "review.approve": frozenset({"reviewer"}),
    "review.request_changes": frozenset({"reviewer"}),
    "user.manage": frozenset({"admin"}),
    "settings.change": frozenset({"admin"}),
    "keys.rotate": frozenset({"admin"}),
    "export": frozenset({"reviewer", "admin"}),  # annotators cannot export
    "audit.read": frozenset({"auditor", "admin"}),
    "audit.verify": frozenset({"auditor", "admin"}),
    "audit.write": frozenset(ROLES),  # other layers record their own events (Session.audit)
    # PACS: searching shows PHI in results; retrieving imports a case; storing sends labels out
    "pacs.query": frozenset({"annotator", "reviewer", "admin"}),
    "pacs.retrieve": frozenset({"annotator", "admin"}),
    "pacs.store": frozenset({"reviewer", "admin"}),
    # Models: a bundle is code, so only an admin registers one; fine-tuning reads approved labels
    "proposal.generate": frozenset({"annotator", "reviewer"}),
    "proposal.accept": frozenset({"annotator"}),
    "model.register": frozenset({"admin"}),
    "model.train": frozenset({"annotator", "reviewer"}),
    "model.list": frozenset({"annotator", "reviewer", "admin"}),
    # Quality and automation: the study lead (a reviewer) decides what is reference and what is safe
    "quality.read": frozenset({"reviewer"}),
    "quality.reference": frozenset({"reviewer"}),
    "autolabel.calibrate": frozenset({"reviewer"}),
    "autolabel.apply": frozenset({"reviewer"}),
    "drift.record": frozenset({"annotator", "reviewer"}),
    # Break-glass: any user may declare an emergency; it is time-limited and flagged everywhere
    "emergency.start": frozenset({"annotator", "reviewer", "admin"}),
}

DEFAULT_SETTINGS = {
    "lockout_failures": 5,
    "lockout_minutes": 15,
    "idle_lock_minutes": 10,
    "password_min_length": 12,
    "blind_readers": 0,  # 1: annotators see only their own versions (double reading)
    # 1: a spot check of an auto-accepted case opens without the automatic label, so the
    # reader's version is an independent check rather than a correction of what they see
    "blind_spot_checks": 1,
    # 1: an annotator gets a proposal on a case only after saving their own reading of it
    "proposals_after_reading": 0,
    "emergency_max_minutes": 60,  # longest break-glass grant (compliance.emergency)
}

#: settings that are switches: 0 (off) or 1 (on)
SWITCHES = frozenset({"blind_readers", "blind_spot_checks", "proposals_after_reading"})

_NAME = re.compile(r"^[a-z][a-z0-9._-]{1,31}$")


def allowed(role: str, action: str) -> bool:
    return role in PERMISSIONS.get(action, frozenset())


def check_user_name(name: str) -> None:
    if not _NAME.match(name):
        raise PolicyError(f"user name {name!r} must be 2-32 characters: lower-case letters, "
                          "digits, '.', '_' or '-', starting with a letter")


def check_role(role: str) -> None:
    if role not in ROLES:
        raise PolicyError(f"unknown role {role!r} (choose from {', '.join(ROLES)})")


def check_password(password: str, name: str, min_length: int) -> None:
    """NIST SP 800-63B style: a minimum length, no composition rules, not the user name."""
    if len(password) < min_length:
        raise PolicyError(f"password too short: at least {min_length} characters")
    # Short names ("ann") occur inside ordinary words; only refuse them as the whole password.
    if name and (password.lower() == name.lower()
                 or (len(name) >= 4 and name.lower() in password.lower())):
        raise PolicyError("password must not contain the user name")
    if len(set(password)) < 4:
        raise PolicyError("password is too repetitive")
