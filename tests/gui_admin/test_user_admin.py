"""User administration dialog on a real workspace: every change goes through the session."""

from __future__ import annotations

import pytest
from PySide6.QtWidgets import QDialogButtonBox, QMessageBox

from app.gui.admin_users import AddUserDialog, ResetPasswordDialog, UserAdminDialog
from compliance.errors import DisabledError


def _rows(dialog):
    t = dialog.table
    return [tuple(t.item(r, c).text() for c in range(3)) for r in range(t.rowCount())]


def _ok(dialog):
    dialog.findChild(QDialogButtonBox).button(QDialogButtonBox.Ok).click()


def _audit(ws, pw):
    return ws.login("aud", pw["aud"]).read_audit()


def test_add_a_user_through_the_dialog_then_log_in_as_them(qtbot, ws, login, pw):
    admin = login("admin")
    dialog = UserAdminDialog(admin)
    qtbot.addWidget(dialog)
    assert _rows(dialog) == [("admin", "admin", "active"), ("ann", "annotator", "active"),
                             ("aud", "auditor", "active"), ("rev", "reviewer", "active")]
    dialog.add_button.click()
    add = dialog.pending
    assert isinstance(add, AddUserDialog) and add.isVisible()
    add.name.setText("carol")
    add.role.setCurrentText("reviewer")
    add.passwords.first.setText("senior reader 77")
    add.passwords.second.setText("senior reader 78")
    _ok(add)
    assert add.isVisible() and add.error.text() == "the two passwords differ"
    add.passwords.first.setText("short")
    add.passwords.second.setText("short")
    _ok(add)
    assert add.isVisible() and "too short: at least 12 characters" in add.error.text()
    add.passwords.first.setText("senior reader 77")
    add.passwords.second.setText("senior reader 77")
    _ok(add)
    assert not add.isVisible() and len(add.user_id) == 32
    assert ("carol", "reviewer", "active") in _rows(dialog)
    assert dialog.selected_name() == "carol" and "added" in dialog.message.text()
    assert ws.login("carol", "senior reader 77").role == "reviewer"
    adds = [e for e in _audit(ws, pw) if e["action"] == "user.add"
            and e["details"]["name"] == "carol"]
    assert [(e["user"], e["details"]["role"]) for e in adds] == [("admin", "reviewer")]


def test_disable_reset_and_change_role(qtbot, ws, login, pw):
    admin = login("admin")
    dialog = UserAdminDialog(admin)
    qtbot.addWidget(dialog)
    dialog.select("admin")
    assert not dialog.disable_button.isEnabled()  # not one's own account
    dialog.select("ann")
    dialog.disable_button.click()
    box = dialog.pending
    assert isinstance(box, QMessageBox) and "'ann'" in box.text()
    box.button(QMessageBox.Yes).click()
    assert ("ann", "annotator", "disabled") in _rows(dialog)
    with pytest.raises(DisabledError):
        ws.login("ann", pw["ann"])
    dialog.select("ann")
    dialog.reset_button.click()
    reset = dialog.pending
    assert isinstance(reset, ResetPasswordDialog)
    reset.passwords.first.setText("a fresh phrase 42")
    reset.passwords.second.setText("a fresh phrase 42")
    _ok(reset)
    assert ("ann", "annotator", "active") in _rows(dialog)
    dialog.select("ann")
    dialog.role_button.click()
    ask = dialog.pending
    ask.setTextValue("reviewer")
    ask.accept()
    assert ("ann", "reviewer", "active") in _rows(dialog)
    assert ws.login("ann", "a fresh phrase 42").role == "reviewer"
    actions = [(e["action"], e["user"]) for e in _audit(ws, pw)]
    for action in ("user.disable", "user.reset_password", "user.role_change", "user.list"):
        assert (action, "admin") in actions


def test_a_refusal_is_one_line_in_the_dialog(qtbot, login):
    dialog = UserAdminDialog(login("rev"))
    qtbot.addWidget(dialog)
    assert dialog.table.rowCount() == 0
    assert dialog.message.text() == "user 'rev' (role reviewer) may not user.manage"
    dialog.add_button.click()
    add = dialog.pending
    add.name.setText("mallory")
    add.passwords.first.setText("a long enough pw")
    add.passwords.second.setText("a long enough pw")
    _ok(add)
    assert add.isVisible() and "may not user.manage" in add.error.text()
