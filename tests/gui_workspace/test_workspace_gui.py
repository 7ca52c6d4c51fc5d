"""The workspace mode of the main window on real encrypted workspaces: first start, login,
worklist, open, paint and save, autosave journal and crash recovery, idle lock, review with
an electronic signature, unsaved-work prompts."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QMessageBox

from compliance.keys import KdfParams


def _visible_images(window) -> bool:
    return any(v.isVisible() for v in window.views)


# -- first start and login -------------------------------------------------------------------
def test_first_start_in_an_empty_folder_creates_the_workspace(make_window, tmp_path,
                                                               monkeypatch):
    from app.gui import workspace_dialogs as dialogs
    from app.gui.workspace import open_workspace_interactive
    from compliance.workspace import Workspace

    folder = tmp_path / "new-ws"
    seen = []

    def create_exec(self):
        for pw, again in [("long enough pass 1", "long enough pass 2"), ("short", "short"),
                          ("a good admin passphrase", "a good admin passphrase")]:
            self.admin.setText("chief")
            self.password.setText(pw)
            self.repeat.setText(again)
            self._ok()
            seen.append(self.error.text())
        return self.result()

    def login_exec(self):
        seen.append(self.user.text())
        self.password.setText("a good admin passphrase")
        self._ok()
        return self.result()

    monkeypatch.setattr(dialogs.CreateWorkspaceDialog, "exec", create_exec)
    monkeypatch.setattr(dialogs.LoginDialog, "exec", login_exec)
    window = make_window()
    controller = open_workspace_interactive(window, folder, kdf=KdfParams.testing())
    assert seen[0] == "the two passwords differ"
    assert "password too short" in seen[1]
    assert seen[2] == "" and seen[3] == "chief"  # created, then the login asks for chief
    assert controller is not None and window.workspace is controller
    assert controller.session.role == "admin" and controller.session.name == "chief"
    assert Workspace.open(folder).meta["kdf"]["memory_kib"] == KdfParams.testing().memory_kib
    # an admin has a worklist (no cases yet) but cannot open images
    assert controller.worklist.table.rowCount() == 0
    assert "No cases yet" in controller.worklist.note.text()


def test_a_non_workspace_folder_is_refused_in_one_line(make_window, tmp_path, answers):
    from app.gui.workspace import open_workspace_interactive

    folder = tmp_path / "photos"
    folder.mkdir()
    (folder / "a.txt").write_text("x")
    window = make_window()
    assert open_workspace_interactive(window, folder) is None
    assert answers.shown == [f"{folder}: not an annotrace workspace (no workspace.json) and "
                             "not empty"]
    assert window.workspace is None


def test_login_dialog_wrong_password_lockout_and_disabled(qtbot, workspace, passwords):
    from app.gui.workspace_dialogs import LoginDialog

    ws, _ = workspace
    dialog = LoginDialog(ws)
    qtbot.addWidget(dialog)

    def attempt(user, pw):
        dialog.user.setText(user)
        dialog.password.setText(pw)
        dialog._ok()
        return dialog.error.text()

    assert attempt("ann", "not my password") == "wrong user name or password"
    assert dialog.password.text() == "" and dialog.session is None
    assert attempt("nobody", "whatever pass") == "wrong user name or password"
    for _ in range(3):
        attempt("ann", "not my password")
    msg = attempt("ann", "not my password")  # the 5th failure locks the account
    assert msg.startswith("account 'ann' is now locked for 15 min")
    msg = attempt("ann", passwords["ann"])  # even the right password now
    assert msg.startswith("account 'ann' is locked after repeated failed logins")
    with ws.login("admin", passwords["admin"]) as admin:
        admin.disable_user("rev")
    assert attempt("rev", passwords["rev"]) == "account 'rev' is disabled; ask an administrator"
    assert dialog.session is None and "\n" not in msg


# -- worklist, open, save --------------------------------------------------------------------
def test_worklist_lists_cases_with_state_and_opens_one(make_window, attach, workspace):
    ws, case_id = workspace
    window = make_window()
    ctl = attach(window, "ann")
    opened = []
    ctl.case_opened.connect(opened.append)
    wl = ctl.worklist
    assert wl.table.rowCount() == 1
    assert wl.value(case_id, "state") == "new" and wl.value(case_id, "modality") == "MR"
    assert wl.value(case_id, "versions") == 0 and wl.value(case_id, "shape") == "32×32×32"
    texts = " ".join(wl.table.item(r, c).text() for r in range(wl.table.rowCount())
                     for c in range(wl.table.columnCount()))
    assert "Doe" not in texts and "PID-778899" not in texts  # no PHI in the list
    wl.table.cellDoubleClicked.emit(wl.row_of(case_id), 0)
    assert opened == [case_id] and ctl.case_id == case_id
    assert window.volume.shape == (32, 32, 32) and window.volume.modality == "MR"
    np.testing.assert_allclose(window.volume.spacing_mm, [0.8, 0.8, 1.5])
    assert window.volume.patient.patient_id == "PID-778899"
    assert case_id in window.windowTitle() and "Doe" not in window.windowTitle()
    assert _visible_images(window)


def test_worklist_sorts_and_takes_extra_columns(make_window, attach, workspace):
    from PySide6.QtCore import Qt

    ws, first = workspace
    with ws.login("ann", "first reader pw 1") as ann:
        second = ann.import_case(np.zeros((8, 8, 8), np.int16), np.eye(4), modality="CT")
    window = make_window()
    ctl = attach(window, "ann")
    ctl.extra_columns["rank"] = lambda case: 1 if case["case_id"] == second else 2
    ctl.refresh_worklist()
    wl = ctl.worklist
    assert wl.value(second, "rank") == 1 and wl.value(first, "rank") == 2
    # the extra column comes before the long import time, in sight of a narrow worklist
    assert wl.columns[-2:] == ["rank", "imported"] and wl.columns[0] == "case"
    col = wl.columns.index("rank")
    wl.table.sortByColumn(col, Qt.DescendingOrder)
    assert wl.table.item(0, 0).text() == first
    wl.table.sortByColumn(col, Qt.AscendingOrder)
    assert wl.table.item(0, 0).text() == second


def test_paint_and_save_makes_a_new_version_with_the_same_layers(make_window, attach,
                                                                 workspace, passwords, paint):
    ws, case_id = workspace
    window = make_window()
    ctl = attach(window, "ann")
    assert ctl.open_case(case_id)
    sid = paint(window, [(5, 6, 7), (5, 6, 8), (20, 10, 3)])
    assert ctl.dirty
    window.workspace_actions["save"].trigger()  # File > Save version (Ctrl+S)
    assert not ctl.dirty and ctl.base_version == 1
    assert "Saved version 1" in window.statusBar().currentMessage()
    assert ctl.worklist.value(case_id, "versions") == 1
    assert ctl.worklist.value(case_id, "state") == "draft"
    with ws.login("rev", passwords["rev"]) as rev:
        meta, labels = rev.load_labels(case_id)
    assert meta["version"] == 1 and meta["author"] == "ann"
    assert len(labels.layers) == len(window.segmentation.layers)
    for a, b in zip(labels.layers, window.segmentation.layers):
        np.testing.assert_array_equal(a, b)
    assert [s["segment_id"] for s in labels.segments] == [sid]
    assert labels.segments[0]["name"] == "lesion"
    user = f"user:{ctl.session.user_id}"
    assert user in labels.provenance_legend.values()
    code = next(int(c) for c, s in labels.provenance_legend.items() if s == user)
    painted = labels.layers[0] != 0
    assert np.all(labels.provenance[painted] == code) and not labels.provenance[~painted].any()
    # the editor's change record went to the audit trail with the save
    with ws.login("admin", passwords["admin"]) as admin:
        actions = [e["action"] for e in admin.read_audit(case=case_id)]
    assert "label.edit" in actions and actions.index("label.edit") < actions.index("label.save")
    # a second save builds on the first
    paint(window, [(1, 1, 1)], "organ")
    meta2 = ctl.save()
    assert meta2["version"] == 2 and meta2["parent"] == 1


def test_reopening_loads_the_latest_version(make_window, attach, workspace, paint):
    ws, case_id = workspace
    window = make_window()
    ctl = attach(window, "ann")
    ctl.open_case(case_id)
    paint(window, [(3, 3, 3), (3, 3, 4)])
    window.segmentation.update_segment(1, color=(10, 20, 30))
    ctl.save()
    window2 = make_window()
    ctl2 = attach(window2, "ann")
    ctl2.open_case(case_id)
    seg = window2.segmentation
    assert seg.mask(1).sum() == 2 and seg.segments[1].color == (10, 20, 30)
    assert ctl2.base_version == 1 and not ctl2.dirty


# -- autosave, crash recovery ----------------------------------------------------------------
def test_autosave_journal_and_recovery_after_a_crash(make_window, attach, workspace, answers,
                                                     passwords, paint):
    ws, case_id = workspace
    window = make_window()
    ctl = attach(window, "ann")
    ctl.open_case(case_id)
    paint(window, [(8, 8, 8), (8, 8, 9), (9, 8, 8)])
    ctl.autosave()  # what the autosave timer does every autosave_seconds (on a thread)
    paint(window, [(0, 0, 0)], "late")  # editing goes on while the journal is written
    ctl.wait_journal()
    assert ctl.session.pending_journals() == [case_id] and ctl._journal_stale
    with ws.login("ann", passwords["ann"]) as other:  # the thread wrote a copy
        _, journal = other.journal_read(case_id)
    assert journal.layers[0][8, 8, 8] and not any(a[0, 0, 0] for a in journal.layers)
    ctl.autosave()
    ctl.wait_journal()
    assert not ctl._journal_stale
    expected = [layer.copy() for layer in window.segmentation.layers]
    # a crash: the process dies without closing anything (no save, no logout)
    ctl.autosave_timer.stop()
    ctl.idle_timer.stop()
    window.workspace, ctl.dirty = None, False
    window2 = make_window()
    ctl2 = attach(window2, "ann")
    ctl2.refresh_worklist()
    assert "unsaved work" in ctl2.worklist.value(case_id, "state")
    answers.question = [QMessageBox.Yes]
    assert ctl2.open_case(case_id)
    assert answers.shown[-1].startswith("Recover unsaved work from ")
    assert answers.shown[-1].endswith(f"UTC on case {case_id}?")
    for a, b in zip(expected, window2.segmentation.layers):
        np.testing.assert_array_equal(a, b)
    assert ctl2.dirty and ctl2.base_version is None
    meta = ctl2.save()
    assert meta["version"] == 1 and ctl2.session.pending_journals() == []


def test_declining_recovery_discards_the_journal(make_window, attach, workspace, answers, paint):
    ws, case_id = workspace
    window = make_window()
    ctl = attach(window, "ann")
    ctl.open_case(case_id)
    paint(window, [(8, 8, 8)])
    assert ctl.write_journal()
    window.workspace, ctl.dirty = None, False
    ctl.autosave_timer.stop()
    ctl.idle_timer.stop()
    window2 = make_window()
    ctl2 = attach(window2, "ann")
    answers.question = [QMessageBox.No]
    ctl2.open_case(case_id)
    assert not window2.segmentation.layers or not window2.segmentation.layers[0].any()
    assert ctl2.session.pending_journals() == [] and not ctl2.dirty


# -- idle lock -------------------------------------------------------------------------------
def test_idle_lock_hides_the_image_and_unlock_restores_unsaved_work(
        make_window, attach, workspace, passwords, paint, clock):
    ws, case_id = workspace
    window = make_window()
    ctl = attach(window, "ann", clock=clock)
    ctl.open_case(case_id)
    seg = window.segmentation
    paint(window, [(4, 4, 4), (4, 5, 4)])
    expected = seg.layers[0].copy()
    limit = ctl.idle_limit_seconds()
    assert limit == 600.0  # the workspace default, 10 min
    clock.t += 100
    ctl.refresh_worklist()  # a background session call is not user activity
    clock.t += limit - 102  # nearly idle long enough: the journal is written while keys exist
    ctl.check_idle()
    assert not ctl.session.locked and ctl.session.pending_journals() == [case_id]
    clock.t += 3
    ctl.check_idle()
    assert ctl.session.locked and window.covered
    assert not _visible_images(window)
    assert not ctl.worklist_dock.isVisible() and not window.menuBar().isEnabled()
    assert window.stack.currentWidget() is ctl.lock_screen
    assert not window.workspace_actions["save"].isEnabled()
    ctl.lock_screen.password.setText("wrong password!")
    ctl.lock_screen.unlock_button.click()
    assert ctl.lock_screen.error.text() == "wrong user name or password"
    assert ctl.session.locked and window.covered
    ctl.lock_screen.password.setText(passwords["ann"])
    ctl.lock_screen.unlock_button.click()
    assert not ctl.session.locked and not window.covered and _visible_images(window)
    assert window.segmentation is seg and ctl.dirty
    np.testing.assert_array_equal(seg.layers[0], expected)
    assert window.workspace_actions["save"].isEnabled()
    assert ctl.save()["version"] == 1
    # the failed unlock counted toward the lockout and was audited
    with ws.login("admin", passwords["admin"]) as admin:
        actions = [e["action"] for e in admin.read_audit(user="ann")]
    assert actions.count("session.lock") == 1 and "session.unlock" in actions
    with ws.login("admin", passwords["admin"]) as admin:
        failed = [e for e in admin.read_audit() if e["action"] == "login.failed"]
    assert failed and failed[-1]["user"] == "ann"


def test_lock_now_writes_the_journal_first(make_window, attach, workspace, paint):
    ws, case_id = workspace
    window = make_window()
    ctl = attach(window, "ann")
    ctl.open_case(case_id)
    paint(window, [(2, 2, 2)])
    window.workspace_actions["lock"].trigger()  # Workspace > Lock now (Ctrl+L)
    assert ctl.session.locked and window.covered and not _visible_images(window)
    with ws.login("ann", "first reader pw 1") as other:
        meta, labels = other.journal_read(case_id)
    assert labels.layers[0][2, 2, 2] != 0


def test_the_stricter_site_lock_time_applies(make_window, attach, workspace, tmp_path,
                                             monkeypatch, clock):
    site = tmp_path / "site.toml"
    site.write_text("[settings]\nauto_lock_minutes = 2\n")
    monkeypatch.setenv("ANNOTRACE_SITE_CONFIG", str(site))
    window = make_window()
    ctl = attach(window, "ann", clock=clock)
    assert ctl.idle_limit_seconds() == 120.0
    clock.t += 119
    ctl.check_idle()
    assert not window.covered
    clock.t += 2
    ctl.check_idle()
    assert ctl.session.locked and window.covered


def test_user_input_counts_as_activity(make_window, attach, workspace, qtbot, clock):
    from PySide6.QtCore import Qt
    from PySide6.QtTest import QTest

    window = make_window()
    ctl = attach(window, "ann", clock=clock)
    clock.t += 100
    assert ctl.idle_seconds() == pytest.approx(100)
    QTest.keyClick(window.views[0], Qt.Key_Right)
    assert ctl.idle_seconds() == pytest.approx(0)


# -- review ----------------------------------------------------------------------------------
def test_annotator_cannot_approve_and_reviewer_signs(make_window, attach, workspace, answers,
                                                     passwords, paint, monkeypatch):
    from app.gui import workspace_dialogs as dialogs

    ws, case_id = workspace
    window = make_window()
    ctl = attach(window, "ann")
    ctl.open_case(case_id)
    paint(window, [(10, 10, 10)])
    answers.question = [QMessageBox.Yes]  # "save the changes and submit that version?"
    window.workspace_actions["submit"].trigger()
    assert ctl.base_version == 1 and ctl.worklist.value(case_id, "state") == "submitted"
    # the reviewer's entries are greyed out for an annotator; reached another way, the
    # controller still refuses in one line
    acts = window.workspace_actions
    assert not acts["approve"].isEnabled() and not acts["request_changes"].isEnabled()
    assert acts["save"].isEnabled() and acts["submit"].isEnabled()
    assert ctl.approve() is False
    assert answers.shown[-1] == "user 'ann' (role annotator) may not review.approve"
    from PySide6.QtWidgets import QToolBar

    bar = window.findChild(QToolBar, "edit_toolbar")
    brush = window.findChild(QAction, "edit_brush")
    assert bar.isEnabled() and brush.isEnabled()  # an annotator edits
    panel = window.segment_panel
    assert panel.add_button.isEnabled() and panel.delete_button.isEnabled()
    window.detach_workspace()
    rev = attach(window, "rev")
    rev.open_case(case_id)
    assert "Review</b> submitted" in rev.info.text()
    # a reviewer reads: neither Save version nor Submit, no tool that would paint what the
    # role cannot save
    assert not acts["save"].isEnabled() and not acts["submit"].isEnabled()
    assert acts["approve"].isEnabled() and acts["request_changes"].isEnabled()
    assert not bar.isEnabled() and not brush.isEnabled()
    assert window.edit_controller.tool is None
    # nor a segment to add, delete, rename or recolour; the view's opacity still changes
    assert panel.active_segment_id is not None
    for w in (panel.add_button, panel.delete_button, panel.name_edit, panel.category_edit,
              panel.type_edit, panel.color_button):
        assert not w.isEnabled()
    assert panel.opacity_slider.isEnabled() and panel.mode_box.isEnabled()
    seen = []

    def approve_exec(self):
        for pw in ("not the password", passwords["rev"]):
            self.password.setText(pw)
            self.meaning.setCurrentIndex(0)
            self.note.setPlainText("checked all slices")
            self._ok()
            seen.append(self.error.text())
        return self.result()

    monkeypatch.setattr(dialogs.ApproveDialog, "exec", approve_exec)
    window.workspace_actions["approve"].trigger()
    assert seen == ["wrong user name or password", ""]
    info = rev.info.text()
    assert "Review</b> approved (version 1)" in info
    assert "Signed by <b>rev</b>" in info and "signature verified ✓" in info
    assert "approved as reference standard; checked all slices" in info
    assert rev.worklist.value(case_id, "state") == "approved"
    st = rev.session.review_state(case_id)
    assert st["events"][-1]["meaning"] == "approved as reference standard; checked all slices"
    # approving again: refused in one line (nothing is submitted any more)
    window.workspace_actions["approve"].trigger()
    assert answers.shown[-1] == f"case {case_id} is approved, not submitted for review"


def test_reviewer_requests_changes(make_window, attach, workspace, answers, paint,
                                   monkeypatch):
    from app.gui import workspace_dialogs as dialogs

    ws, case_id = workspace
    window = make_window()
    ctl = attach(window, "ann")
    ctl.open_case(case_id)
    paint(window, [(10, 10, 10)])
    ctl.save()
    assert ctl.submit()
    window.detach_workspace()
    rev = attach(window, "rev")
    rev.open_case(case_id)

    def reason_exec(self):
        self.reason.setPlainText("extend the lesion to slice 12")
        self._ok()
        return self.result()

    monkeypatch.setattr(dialogs.RequestChangesDialog, "exec", reason_exec)
    assert rev.request_changes()
    assert "Changes requested by rev: extend the lesion to slice 12" in rev.info.text()
    assert rev.worklist.value(case_id, "state") == "changes requested"


# -- unsaved work prompts ---------------------------------------------------------------------
def test_closing_with_unsaved_work_asks_save_discard_cancel(make_window, attach, workspace,
                                                            answers, passwords, paint):
    ws, case_id = workspace
    window = make_window()
    ctl = attach(window, "ann")
    ctl.open_case(case_id)
    paint(window, [(6, 6, 6)])
    answers.question = [QMessageBox.Cancel]
    window.close()
    assert window.isVisible() and window.workspace is ctl and ctl.dirty
    assert answers.shown[-1] == (f"Case {case_id} has unsaved changes. "
                                 "Save them as a new version?")
    answers.question = [QMessageBox.Save]
    window.close()
    assert not window.isVisible() and window.workspace is None
    assert ctl.session.closed  # logged out
    with ws.login("ann", passwords["ann"]) as ann:
        meta, labels = ann.load_labels(case_id)
        assert labels.layers[0][6, 6, 6] != 0 and ann.pending_journals() == []


def test_switching_case_with_unsaved_work_can_discard(make_window, attach, workspace, answers,
                                                      paint):
    ws, case_id = workspace
    with ws.login("ann", "first reader pw 1") as ann:
        other = ann.import_case(np.zeros((8, 8, 8), np.int16), np.eye(4), modality="CT")
    window = make_window()
    ctl = attach(window, "ann")
    ctl.open_case(case_id)
    paint(window, [(6, 6, 6)])
    ctl.autosave()
    ctl.wait_journal()
    assert ctl.session.pending_journals() == [case_id]
    answers.question = [QMessageBox.Cancel]
    assert not ctl.open_case(other) and ctl.case_id == case_id
    answers.question = [QMessageBox.Discard]
    assert ctl.open_case(other) and ctl.case_id == other
    assert window.volume.shape == (8, 8, 8) and ctl.session.pending_journals() == []


# -- building the window ---------------------------------------------------------------------
def test_build_window_installs_existing_features_and_skips_missing(monkeypatch, qtbot):
    import importlib
    import sys
    import types

    from app.gui import application

    calls = []
    fake = types.ModuleType("app.gui.quality_dashboard")
    fake.install_quality_dashboard = calls.append
    monkeypatch.setitem(sys.modules, "app.gui.quality_dashboard", fake)
    real_import = importlib.import_module

    def fake_import(name, *args):
        if name in ("app.gui.proposals", "app.gui.improve_model", "app.gui.pacs_dialog",
                    "app.gui.admin_dialogs"):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return real_import(name, *args)

    monkeypatch.setattr(importlib, "import_module", fake_import)
    window = application.build_window()
    qtbot.addWidget(window)
    assert calls == [window] and window.workspace is None
    assert not window.workspace_actions["save"].isEnabled()
    assert window.workspace_actions["open_workspace"].isEnabled()

    def broken_import(name, *args):
        if name == "app.gui.proposals":
            raise ModuleNotFoundError("No module named 'torch'", name="torch")
        return fake_import(name, *args)

    monkeypatch.setattr(importlib, "import_module", broken_import)
    with pytest.raises(ModuleNotFoundError, match="torch"):
        application.build_window()


def test_view_workspace_option_refuses_a_file(tmp_path):
    import argparse

    from app.cli import view

    f = tmp_path / "ws.txt"
    f.write_text("x")
    with pytest.raises(Exception) as info:
        view.run(argparse.Namespace(path=None, series=None, workspace=str(f)))
    assert info.value.exit_code == 2 and "not a folder" in str(info.value)


def test_second_lock_and_logout_from_the_lock_screen(make_window, attach, workspace, passwords,
                                                     paint, monkeypatch, qtbot):
    from app.gui import workspace_dialogs as dialogs

    ws, case_id = workspace
    window = make_window()
    ctl = attach(window, "ann")
    ctl.open_case(case_id)
    paint(window, [(3, 3, 3)])
    for _ in range(2):  # the lock screen's own password field works the second time too
        ctl.lock_now()
        assert window.covered and ctl.lock_screen.password.isEnabled()
        assert ctl.lock_screen.isVisible()
        ctl.lock_screen.password.setText(passwords["ann"])
        ctl.lock_screen.password.returnPressed.emit()
        assert not window.covered and not ctl.session.locked
    ctl.lock_now()
    asked = []
    monkeypatch.setattr(dialogs.LoginDialog, "exec", lambda self: asked.append(1) or 0)
    ctl.lock_screen.logout_button.click()
    assert window.workspace is None and window.volume is None and ctl.session.closed
    assert not window.covered and not window.workspace_actions["save"].isEnabled()
    qtbot.waitUntil(lambda: asked == [1])  # the login dialog is offered again
    with ws.login("ann", passwords["ann"]) as ann:  # the work waits in the journal
        assert ann.pending_journals() == [case_id]


def test_view_opens_the_workspace_location_setting_instead_of_the_demo(tmp_path, monkeypatch):
    import argparse

    from app.cli import view
    from app.gui import application

    ws_dir = tmp_path / "site-ws"
    user = tmp_path / "user.toml"
    user.write_text(f'workspace_location = "{ws_dir}"\n')
    monkeypatch.setenv("ANNOTRACE_USER_CONFIG", str(user))
    calls = []
    monkeypatch.setattr(application, "run_gui",
                        lambda path, series, workspace=None: calls.append((path, workspace)) or 0)
    assert view.run(argparse.Namespace(path=None, series=None, workspace=None)) == 0
    assert calls == [(None, str(ws_dir))]
    assert view.run(argparse.Namespace(path=None, series=None, workspace=str(tmp_path))) == 0
    assert calls[-1] == (None, str(tmp_path))  # --workspace wins over the setting
