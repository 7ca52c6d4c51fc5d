"""Shared constants and helpers of the PACS tests (a named module: never import conftest)."""

from __future__ import annotations

from compliance.keys import KdfParams
from compliance.workspace import Workspace

PASSWORDS = {"admin": "correct horse battery", "ann": "first reader pw 1",
             "rev": "second reader pw", "aud": "privacy officer 9"}
ROLES = {"ann": "annotator", "rev": "reviewer", "aud": "auditor"}


def make_workspace(path) -> Workspace:
    """A real workspace with one user per role (test-only KDF cost)."""
    ws = Workspace.create(path, "admin", PASSWORDS["admin"], kdf=KdfParams.testing())
    with ws.login("admin", PASSWORDS["admin"]) as admin:
        for name, role in ROLES.items():
            admin.add_user(name, role, PASSWORDS[name])
    return ws
