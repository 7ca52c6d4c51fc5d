"""The quality dashboard in the real main window, offscreen, on the scenario workspace."""

from __future__ import annotations

import os

import numpy as np
import pytest
from qws_common import MODEL, PASSWORDS, SHAPE, add_proposal_readings
from qws_flow import full_flow

from app.cli.main import main
from compliance.workspace import Workspace

pytestmark = pytest.mark.qt


def _distinct_colours(label) -> int:
    from PySide6.QtGui import QImage

    img = label.pixmap().toImage().convertToFormat(QImage.Format_RGB888)
    w, h, stride = img.width(), img.height(), img.bytesPerLine()
    buf = np.frombuffer(img.constBits(), np.uint8, count=stride * h).reshape(h, stride)
    return len(np.unique(buf[:, :w * 3].reshape(-1, 3), axis=0))


def test_dashboard_shows_plots_numbers_and_rank_column(scenario, qtbot, tmp_path):
    from PySide6.QtCore import QSettings

    from app.gui.mainwindow import MainWindow
    from app.gui.quality_dashboard import install_quality_dashboard
    from app.gui.workspace import WorkspaceController

    from models.quality.report import render_plots

    ws, ids, pw = scenario
    full_flow(ws, ids, pw)
    add_proposal_readings(ws)
    assert main(["rank", str(ws), "--model", MODEL, "--user", "rev", "--password-file",
                 pw["rev"]]) == 0
    window = MainWindow(QSettings(str(tmp_path / "s.ini"), QSettings.IniFormat))
    qtbot.addWidget(window)
    actions = install_quality_dashboard(window)
    window.show()
    assert not actions["dashboard"].isEnabled()  # no workspace yet
    controller = WorkspaceController(window, Workspace.open(ws).login("rev", PASSWORDS["rev"]),
                                     ws)
    window.attach_workspace(controller)
    try:
        assert actions["dashboard"].isEnabled()
        # the worklist sorts by the stored rank: the least confident pool case is rank 1
        assert "rank" in controller.extra_columns
        assert controller.extra_columns["rank"]({"case_id": ids["pool"][3]}) == 1
        assert controller.extra_columns["rank"]({"case_id": ids["validated"][0]}) == ""
        assert "rank" in controller.worklist.columns
        actions["dashboard"].trigger()
        dlg = window.quality_dashboard
        qtbot.waitUntil(lambda: dlg.data is not None, timeout=60000)
        assert dlg.task_box.currentText() == "brain" and dlg.model_box.currentText() == MODEL
        placeholders = render_plots({})  # what each plot draws without data
        assert set(dlg.plot_labels) == set(placeholders)
        for name, label in dlg.plot_labels.items():
            assert not label.pixmap().isNull(), name
            assert _distinct_colours(label) > 50, name
            assert dlg.pngs[name] != placeholders[name], name  # drawn, not "no data"
        rows = {dlg.numbers.itemAt(r, dlg.numbers.ItemRole.LabelRole).widget().text():
                dlg.numbers.itemAt(r, dlg.numbers.ItemRole.FieldRole).widget().text()
                for r in range(dlg.numbers.rowCount())}
        assert rows["threshold:"] == "0.60"
        assert rows["validated units / used:"] == "8 / 6"
        assert any(k.startswith("validated units needed for coverage 80") for k in rows)
        dlg.adjustSize()
        shot = os.environ.get("QWS_SCREENSHOT")
        if shot:  # docs/quality-dashboard.png is made this way
            dlg.grab().save(shot)
        files = dlg.export_report(tmp_path / "rep")
        assert files["html"].is_file() and (tmp_path / "rep" / "coverage.png").is_file()
        # detaching the workspace disables the actions
        dlg.close()
    finally:
        controller.dirty = False
        window.detach_workspace()
    assert not actions["dashboard"].isEnabled()


def test_dashboard_disabled_for_an_annotator_without_audited_refusals(scenario, qtbot,
                                                                      tmp_path):
    from PySide6.QtCore import QSettings

    from app.gui.mainwindow import MainWindow
    from app.gui.quality_dashboard import install_quality_dashboard
    from app.gui.workspace import WorkspaceController

    ws, _, _ = scenario
    window = MainWindow(QSettings(str(tmp_path / "s.ini"), QSettings.IniFormat))
    qtbot.addWidget(window)
    actions = install_quality_dashboard(window)
    controller = WorkspaceController(window, Workspace.open(ws).login("ann", PASSWORDS["ann"]),
                                     ws)
    window.attach_workspace(controller)
    try:
        assert not actions["dashboard"].isEnabled() and not actions["export"].isEnabled()
        assert "rank" not in controller.extra_columns
    finally:
        window.detach_workspace()
    with Workspace.open(ws).login("admin", PASSWORDS["admin"]) as admin:
        assert not [e for e in admin.read_audit(user="ann") if e["action"] == "access.denied"]


def test_readers_worklist_follows_the_leads_ranking(scenario, qtbot, tmp_path):
    """The lead ranks; the annotators label in that order: their worklist has the rank
    column (ranks only), and it follows a new ranking made elsewhere without a new login."""
    from PySide6.QtCore import QSettings

    from app.gui.mainwindow import MainWindow
    from app.gui.quality_dashboard import install_quality_dashboard
    from app.gui.workspace import WorkspaceController

    ws, ids, pw = scenario
    rank = ["rank", str(ws), "--model", MODEL, "--user", "rev", "--password-file", pw["rev"]]
    assert main(rank) == 0
    window = MainWindow(QSettings(str(tmp_path / "s.ini"), QSettings.IniFormat))
    qtbot.addWidget(window)
    install_quality_dashboard(window)
    controller = WorkspaceController(window, Workspace.open(ws).login("ann", PASSWORDS["ann"]),
                                     ws)
    window.attach_workspace(controller)
    try:
        col = controller.extra_columns["rank"]
        table, c = controller.worklist.table, controller.worklist.columns.index("rank")
        shown = {table.item(r, 0).data(256): table.item(r, c).text()
                 for r in range(table.rowCount())}
        assert shown[ids["pool"][3]] == "1" and shown[ids["validated"][0]] == ""
        # the lead finds the first pool case the most uncertain now and ranks again
        with Workspace.open(ws).login("rev", PASSWORDS["rev"]) as rev:
            from compliance.qualitystore import quality_ops

            quality_ops(rev).store_model_output(
                ids["pool"][0], MODEL, np.zeros((24, 24, 24), np.uint8), 0.5, uncertainty=5.0)
        assert main(rank) == 0
        assert col({"case_id": ids["pool"][0]}) != 1  # read less than MAX_AGE_S ago
        col.read_at -= col.MAX_AGE_S + 1
        controller.refresh_worklist()
        assert col({"case_id": ids["pool"][0]}) == 1
    finally:
        window.detach_workspace()
    with Workspace.open(ws).login("admin", PASSWORDS["admin"]) as admin:
        assert not [e for e in admin.read_audit(user="ann") if e["action"] == "access.denied"]


def test_rank_dialog_ranks_by_disagreement_with_the_real_model(scenario, qtbot, tmp_path):
    """Quality > Rank unlabelled cases…: brainmask-unet first proposes on the new cases
    (nobody ran it on them), then they are ranked by disagreement in the background; the
    worklist's rank column follows."""
    from PySide6.QtCore import QSettings

    from app.gui.mainwindow import MainWindow
    from app.gui.quality_dashboard import install_quality_dashboard
    from app.gui.workspace import WorkspaceController
    from models.run import _spec

    ws, ids, pw = scenario
    model = "brainmask-unet"
    window = MainWindow(QSettings(str(tmp_path / "s.ini"), QSettings.IniFormat))
    qtbot.addWidget(window)
    actions = install_quality_dashboard(window)
    window.show()
    assert not actions["rank"].isEnabled()
    controller = WorkspaceController(window, Workspace.open(ws).login("rev", PASSWORDS["rev"]),
                                     ws)
    window.attach_workspace(controller)
    try:
        assert actions["rank"].isEnabled()
        actions["rank"].trigger()
        dlg = window.quality_rank_dialog
        assert dlg.run_new.isChecked()  # by default the model first runs on new cases
        dlg.model_box.setEditText("no-such-model")
        dlg.run()  # refused at once, in one line: there is nothing to run
        assert not dlg.busy() and dlg.result is None
        assert dlg.status.text().startswith("Could not rank: no-such-model: no such model")
        dlg.run_new.setChecked(False)
        dlg.model_box.setEditText(model)  # nobody stored its outputs: nothing to rank
        dlg.run()
        qtbot.waitUntil(lambda: not dlg.busy() and not dlg._timer.isActive(), timeout=60000)
        assert dlg.result is None and "Could not rank: model 'brainmask-unet' has no stored " \
            "output on an unlabelled case" in dlg.status.text()
        dlg.run_new.setChecked(True)
        assert dlg.method_box.currentData() == "disagreement"
        seen = []
        dlg.run()
        assert not dlg.run_button.isEnabled()
        qtbot.waitUntil(lambda: seen.append(dlg.status.text()) or dlg.result is not None
                        or dlg.error is not None, timeout=600_000)
        assert dlg.error is None, dlg.error
        assert any(t.startswith("Proposed on ") and t.endswith(" new case(s)…") for t in seen)
        sha = _spec(model).weights_sha256
        stored = controller.session
        for cid in ids["pool"]:  # proposed in the child process, stored like rank --run-model
            meta, labels = stored.model_output(cid, model)
            assert meta["weights_sha256"] == sha and labels.shape == SHAPE
        ranked = dlg.result["cases"]
        assert dlg.result["method"] == "disagreement" and len(ranked) == len(ids["pool"])
        assert ranked[0]["case"] in dlg.ranked.text()
        # the dialog grew to show the whole result, not a squeezed or clipped slice of it
        assert dlg.height() >= dlg.sizeHint().height()
        for label in (dlg.status, dlg.ranked):
            assert label.height() >= label.heightForWidth(label.width()) > 0
        stored = controller.session.quality_state_unaudited()["ranks"][model]
        assert stored["method"] == "disagreement"
        assert controller.extra_columns["rank"]({"case_id": ranked[0]["case"]}) == 1
        assert dlg.run_button.isEnabled()
        # query by committee: the other model is chosen in the dialog, deepbet by default
        assert not dlg.member_box.isEnabled()
        dlg.method_box.setCurrentIndex(dlg.method_box.findData("committee"))
        assert dlg.member_box.isEnabled() and dlg.member_box.currentText() == "deepbet"
        dlg.run()
        qtbot.waitUntil(lambda: not dlg.busy() and not dlg._timer.isActive(), timeout=600_000)
        assert dlg.error is None, dlg.error
        assert dlg.result["method"] == "committee" and dlg.result["members"] == ["deepbet"]
        assert "by committee with deepbet" in dlg.status.text()
        stored = controller.session.quality_state_unaudited()["ranks"][model]
        assert stored["method"] == "committee" and stored["members"] == ["deepbet"]
        # with diversity: the model in the child process describes the unlabelled and the
        # approved cases, and the order is the one the scores and those descriptions give
        dlg.method_box.setCurrentIndex(dlg.method_box.findData("entropy"))
        dlg.diversity_box.setValue(1.0)
        seen.clear()
        dlg.run()
        qtbot.waitUntil(lambda: seen.append(dlg.status.text()) or (
            not dlg.busy() and not dlg._timer.isActive()), timeout=600_000)
        assert dlg.error is None, dlg.error
        approved = [c["case_id"] for c in controller.session.list_cases()
                    if c["state"] == "approved"]
        # (the last of these may be replaced by the result before the poll above sees it)
        assert any(t.startswith("Described ") and t.endswith(
            f" of {len(ids['pool']) + len(approved)} case(s) not described before, for "
            "diversity…") for t in seen), sorted(set(seen))
        assert dlg.result["diversity"] == 1.0 and "entropy, diversity 1" in dlg.status.text()
        stored = controller.session.quality_state_unaudited()["ranks"][model]
        assert stored["method"] == "entropy" and stored["diversity"] == 1.0
        from models.embedding import case_embedding
        from models.quality.ranking import rank_cases

        runnable = _spec(model).load(device="cpu")
        session = controller.session
        from app.cli.quality_ws import unlabelled_cases

        pool = unlabelled_cases(session, model)  # in the order the ranking read them
        assert sorted(pool) == sorted(r["case"] for r in dlg.result["cases"])

        def described(cid):
            data = session.open_case(cid)
            return case_embedding(runnable, data.array, data.affine_lps)

        scores = [session.model_output(c, model)[0]["uncertainty"] for c in pool]
        features = [described(c) for c in pool]
        known = [described(c) for c in approved]
        expected = rank_cases(scores, features, 1.0, labelled_features=known)
        assert [r["case"] for r in dlg.result["cases"]] == [pool[i] for i in expected]
        # the child process's descriptions are the ones kept in the workspace
        from models.embedding import CASE_EMBEDDING_METHOD

        for cid, vector in zip(pool + approved, features + known):
            kept = session.case_description(cid, model, sha, CASE_EMBEDDING_METHOD)
            np.testing.assert_allclose(kept, vector, rtol=1e-5, atol=1e-6)
        dlg.close()
    finally:
        controller.dirty = False
        window.detach_workspace()


def test_the_rank_dialogs_worker_path_loads_no_network_library():
    """The ranking's worker thread runs app.cli.quality_ws with models that propose in a
    child process: what it imports (imported on the GUI thread first) must not pull in
    torch or MONAI, or the viewer would load them for nothing -- on the GUI thread."""
    import subprocess
    import sys

    script = (
        "import importlib, sys\n"
        "from app.gui.quality_rank import WORKER_MODULES\n"
        "for name in WORKER_MODULES: importlib.import_module(name)\n"
        "from app.gui.quality_rank import _ProcessModel\n"
        "from models.run import _spec\n"
        "specs = [_spec(m) for m in ('brainmask-unet', 'deepbet')]\n"
        "print(sorted(m for m in ('torch', 'monai', 'openvino') if m in sys.modules))\n")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         env={**os.environ, "QT_QPA_PLATFORM": "offscreen"}, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
