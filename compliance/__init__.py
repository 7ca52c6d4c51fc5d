"""Encrypted storage, users and roles, the audit trail and signed review (no Qt, no viewers).

Entry points (see docs/security.md)::

    from compliance.workspace import Workspace
    ws = Workspace.create(folder, "alice", password)      # once
    session = Workspace.open(folder).login("alice", password)
    session.import_case(...), session.save_labels(case, LabelSet(...)), session.approve(...)
    session.audit("proposal.generated", [case], details={...})   # for the other layers

Modules: crypto (AEAD object format), keys (Argon2id key slots), workspace, session
(+ casestore, review, admin mixins), audit / audit_verify, records (LabelSet), roles,
fsio (atomic writes, locks), errors. ``compliance.export`` is the export bundle package.
"""
