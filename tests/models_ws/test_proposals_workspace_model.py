"""A model version fine-tuned in the workspace is offered in the Proposals menu and runs from
its decrypted weights (in this process), audited with its own id and weights hash."""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

pytest.importorskip("pytestqt")
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "proposals_gui"))

from compliance import modelstore  # noqa: E402
from modelws_common import PASSWORDS, audit_entries  # noqa: E402
from models.registry import WEIGHTS_DIR  # noqa: E402
from proposals_gui_common import colin_small, make_window  # noqa: E402

WEIGHTS = (WEIGHTS_DIR / "brainmask_unet.pt").read_bytes()


def _site_record() -> dict:
    """A workspace version with the built-in weights (a real brain model)."""
    return {"name": "site-brain", "parent": {"model_id": "brainmask-unet@1",
                                             "weights_sha256": hashlib.sha256(WEIGHTS).hexdigest()},
            "base_model": "brainmask-unet@1", "task": "brain mask", "modality": "MR",
            "labels": [{"value": 1, "name": "brain", "snomed": "12738006"}],
            "training_cases": ["0123456789abcdef"], "validation_cases": [],
            "validation_dice": {}}


def test_a_workspace_version_proposes_in_the_gui(qtbot, tmp_path, ws):
    ann = ws.login("ann", PASSWORDS["ann"])
    modelstore.register_version(ann, _site_record(), WEIGHTS)
    volume, brain = colin_small(4)
    window, ctl = make_window(qtbot, tmp_path, volume)
    names = [getattr(m, "ref", m.name) for m in ctl.models()]
    assert "site-brain@1" not in names  # no workspace: built-in models only
    window.workspace = SimpleNamespace(session=ann, case_id=None)
    model = next(m for m in ctl.models() if getattr(m, "ref", None) == "site-brain@1")
    assert ctl.propose(model) is not None
    qtbot.waitUntil(lambda: ctl.layer is not None or ctl.error is not None, timeout=600_000)
    assert ctl.error is None
    assert ctl.layer.model_id == "site-brain@1"
    assert ctl.layer.weights_sha256 == hashlib.sha256(WEIGHTS).hexdigest()
    mask = ctl.layer.labels > 0
    dice = 2 * (mask & brain).sum() / (mask.sum() + brain.sum())
    assert dice > 0.8  # the same weights as the built-in brain mask model: a real brain
    (generated,) = audit_entries(ws, "proposal.generated")
    assert generated["details"]["model_id"] == "site-brain@1"
    window.workspace = None
    ann.logout()
    assert np.any(mask)


def test_the_propose_menu_reads_the_workspace_models_once_not_on_every_opening(qtbot, tmp_path,
                                                                              ws):
    ann = ws.login("ann", PASSWORDS["ann"])
    volume, _ = colin_small(4)
    window, ctl = make_window(qtbot, tmp_path, volume)
    window.workspace = SimpleNamespace(session=ann, case_id=None)
    for _ in range(3):
        ctl.propose_menu.aboutToShow.emit()  # the user opens the menu three times
    assert len(audit_entries(ws, "model.list")) == 1
    modelstore.register_version(ann, _site_record(), WEIGHTS)
    ctl.forget_models()  # what the Improve model dialog does after registering
    ctl.propose_menu.aboutToShow.emit()
    assert "propose_site-brain" in {a.objectName() for a in ctl.propose_menu.actions()}
    assert len(audit_entries(ws, "model.list")) == 2
    # another user's session is never served from this one's list
    window.workspace = SimpleNamespace(session=ws.login("rev", PASSWORDS["rev"]), case_id=None)
    ctl.models()
    assert len(audit_entries(ws, "model.list")) == 3
    window.workspace = None
    ann.logout()
