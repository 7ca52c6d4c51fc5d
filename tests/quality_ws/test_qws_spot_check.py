"""Spot checks of auto-accepted cases in the readers' worklist, opened blind (automation bias)."""

from __future__ import annotations

import numpy as np
import pytest
from qws_common import MODEL, PASSWORDS, sphere

from app.cli.main import main
from compliance.workspace import Workspace

pytestmark = pytest.mark.qt


def _autolabel(ws, ids, pw):
    rev = ["--user", "rev", "--password-file", pw["rev"]]
    assert main(["quality", str(ws), "--task", "brain", "--reference", "mark",
                 *ids["reference"], *rev]) == 0
    assert main(["calibrate", str(ws), "--model", MODEL, "--task", "brain", "--epsilon", "0.5",
                 "--delta", "0.1", "--tolerance", "0.8", "--grid", "0.5:0.9:0.1",
                 "--spot-check", "1.0", *rev]) == 0
    assert main(["autolabel", str(ws), "--model", MODEL, "--batch", "b1", *rev]) == 0


def _column(controller, name):
    table = controller.worklist.table
    col = controller.worklist.columns.index(name)
    return {table.item(r, 0).data(256): table.item(r, col).text()
            for r in range(table.rowCount())}


def test_a_spot_check_opens_blind_and_its_check_feeds_the_drift_record(scenario, qtbot,
                                                                      tmp_path):
    from PySide6.QtCore import QSettings

    from app.gui.mainwindow import MainWindow
    from app.gui.workspace import WorkspaceController
    from viewers.edit import Editor

    ws, ids, pw = scenario
    _autolabel(ws, ids, pw)
    checks = ids["pool"][:3]  # the three confident pool cases, all spot-checked (rate 1.0)
    window = MainWindow(QSettings(str(tmp_path / "s.ini"), QSettings.IniFormat))
    qtbot.addWidget(window)
    window.show()
    session = Workspace.open(ws).login("ann", PASSWORDS["ann"])
    controller = WorkspaceController(window, session, ws)
    window.attach_workspace(controller)
    try:
        column = _column(controller, "spot check")
        assert {c: column[c] for c in checks} == {c: "to check (b1)" for c in checks}
        assert column[ids["pool"][3]] == "" and column[ids["draft"]] == ""
        auto_version = session.versions(checks[0])[-1]["version"]
        assert controller.open_case(checks[0])
        seg = window.segmentation
        assert controller.base_version == auto_version
        assert all(not layer.any() for layer in seg.layers)  # the automatic label is hidden
        assert "Blind spot check" in window.statusBar().currentMessage()
        assert "opened blind: the automatic label (version 1) is hidden" in \
            controller.info.text()
        # the reader draws the brain as they see it and saves
        drawn = sphere(radius=6.5)
        sid = seg.add_segment("brain").segment_id
        Editor(window.volume, seg).set_mask("brush", sid, tuple(slice(0, n) for n in
                                                                drawn.shape), drawn)
        meta = controller.save()
        assert meta["parent"] == auto_version and meta["version"] == auto_version + 1
        assert _column(controller, "spot check")[checks[0]] == "checked (b1)"
        assert "your saved version is the check" in controller.info.text()
        # once checked, the case opens with the reader's own version as usual
        controller.open_case(checks[1])
        controller.open_case(checks[0])
        assert controller.base_version == auto_version + 1
        assert np.array_equal(window.segmentation.layers[0] > 0, drawn)
        with Workspace.open(ws).login("admin", PASSWORDS["admin"]) as admin:
            blind = [e for e in admin.read_audit(case=checks[0])
                     if e["action"] == "drift.blind_open"]
            assert len(blind) == 1 and blind[0]["details"]["batch"] == "b1"
            admin.change_setting("blind_spot_checks", 0)
    finally:
        controller.dirty = False
        window.detach_workspace()
    # with the setting off (read at login) the reader sees the automatic label
    session = Workspace.open(ws).login("ann", PASSWORDS["ann"])
    controller = WorkspaceController(window, session, ws)
    window.attach_workspace(controller)
    try:
        assert controller.open_case(checks[2])
        assert controller.base_version == session.versions(checks[2])[-1]["version"]
        assert window.segmentation.layers[0].any()
        assert "Blind" not in window.statusBar().currentMessage()
        assert "Spot check" not in controller.info.text()
    finally:
        window.detach_workspace()
    # the blind version is the check: drift record scores the automatic label against it
    with Workspace.open(ws).login("ann", PASSWORDS["ann"]) as ann:
        for cid in checks[1:]:
            from compliance.qualitystore import labelset_from_map

            ann.save_labels(cid, labelset_from_map(sphere(radius=6.5).astype(np.uint8),
                                                   "user:ann"))
        assert ann.pending_spot_checks().keys() == set(checks)
    assert main(["drift", str(ws), "record", "--model", MODEL, "--batch", "b1", "--user",
                 "ann", "--password-file", pw["ann"]]) == 0
    with Workspace.open(ws).login("ann", PASSWORDS["ann"]) as ann:
        assert ann.pending_spot_checks() == {}


def test_no_spot_check_column_for_roles_that_do_not_check(scenario, qtbot, tmp_path):
    from PySide6.QtCore import QSettings

    from app.gui.mainwindow import MainWindow
    from app.gui.workspace import WorkspaceController

    ws, ids, pw = scenario
    controller = None
    window = MainWindow(QSettings(str(tmp_path / "s.ini"), QSettings.IniFormat))
    qtbot.addWidget(window)
    controller = WorkspaceController(window, Workspace.open(ws).login("ann", PASSWORDS["ann"]),
                                     ws)
    window.attach_workspace(controller)
    try:  # nothing auto-accepted yet: no column
        assert "spot check" not in controller.worklist.columns
    finally:
        window.detach_workspace()
