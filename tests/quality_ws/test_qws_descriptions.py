"""Kept case descriptions (ranking with diversity): encrypted, bound to weights and method,
audited, permission-checked. Qt-free; the real workspace store, no mock."""

from __future__ import annotations

import numpy as np
import pytest
from qws_common import PASSWORDS

from compliance.errors import ComplianceError, PermissionDenied
from compliance.workspace import Workspace

SHA, METHOD = "ab" * 32, "test method v1"


def test_a_description_is_kept_encrypted_for_its_weights_and_method_only(scenario):
    ws, ids, _ = scenario
    case = ids["pool"][0]
    vector = np.array([0.25, -1.5, 3.0e-7, 12.0])
    with Workspace.open(ws).login("rev", PASSWORDS["rev"]) as s:
        assert s.case_description(case, "net", SHA, METHOD) is None
        s.store_case_description(case, "net", SHA, METHOD, vector)
        np.testing.assert_array_equal(s.case_description(case, "net", SHA, METHOD), vector)
        # other weights, another recipe, another model: not this description
        assert s.case_description(case, "net", "cd" * 32, METHOD) is None
        assert s.case_description(case, "net", SHA, "test method v2") is None
        assert s.case_description(case, "other-net", SHA, METHOD) is None
        assert s.case_description(ids["pool"][1], "net", SHA, METHOD) is None
        # a new description replaces the old one
        s.store_case_description(case, "net", SHA, METHOD, vector * 2)
        np.testing.assert_array_equal(s.case_description(case, "net", SHA, METHOD), vector * 2)
        for bad in (np.array([1.0, np.nan]), np.zeros((2, 2)), np.zeros(0)):
            with pytest.raises(ComplianceError, match="not a finite vector"):
                s.store_case_description(case, "net", SHA, METHOD, bad)
    files = list((ws / "quality" / "descriptions").rglob("*.enc"))
    assert [f.stem for f in files] == [case]  # no model name in a path
    raw = files[0].read_bytes()
    assert (vector * 2).tobytes() not in raw and b"net" not in raw
    with Workspace.open(ws).login("admin", PASSWORDS["admin"]) as a:
        kept = [e for e in a.read_audit() if e["action"] == "quality.description"]
    assert [(e["objects"], e["details"]) for e in kept] == [
        ([case], {"model_id": "net", "method": METHOD})] * 2


def test_only_roles_that_run_models_keep_descriptions_and_only_the_lead_reads_them(scenario):
    ws, ids, _ = scenario
    case = ids["pool"][0]
    with Workspace.open(ws).login("admin", PASSWORDS["admin"]) as a:
        with pytest.raises(PermissionDenied):
            a.store_case_description(case, "net", SHA, METHOD, np.ones(3))
    with Workspace.open(ws).login("ann", PASSWORDS["ann"]) as ann:
        ann.store_case_description(case, "net", SHA, METHOD, np.ones(3))
        with pytest.raises(PermissionDenied):
            ann.case_description(case, "net", SHA, METHOD)
