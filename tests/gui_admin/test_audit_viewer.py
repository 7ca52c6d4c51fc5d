"""Audit viewer on a real workspace: entries, filters, verification, tampering, CSV."""

from __future__ import annotations

import base64
import csv
import json

from app.gui.admin_audit import COLUMNS, AuditViewer


def _column(viewer, name):
    c = COLUMNS.index(name)
    return [viewer.table.item(r, c).text() for r in range(viewer.table.rowCount())]


def test_auditor_sees_entries_filters_by_user_and_case_and_verifies(qtbot, ws, login, case_id):
    aud = login("aud")
    viewer = AuditViewer(aud)
    qtbot.addWidget(viewer)
    actions = _column(viewer, "Action")
    assert actions[:2] == ["workspace.init", "user.add"] and "case.import" in actions
    assert viewer.status.text() == f"{len(actions)} entries shown"
    assert set(_column(viewer, "Role")) >= {"admin", "annotator", "auditor"}
    viewer.user_filter.setText("ann")
    viewer.apply_button.click()
    assert set(_column(viewer, "User")) == {"ann"}
    assert _column(viewer, "Action") == ["login", "case.import"]
    viewer.user_filter.clear()
    viewer.case_filter.setText(case_id)
    viewer.apply_button.click()
    assert _column(viewer, "Action") == ["case.import"]
    assert _column(viewer, "Objects") == [case_id]
    viewer.case_filter.clear()
    viewer.since_filter.setText("2999-01-01 00:00")
    viewer.apply_button.click()
    assert viewer.table.rowCount() == 0
    viewer.since_filter.setText("yesterday")
    viewer.apply_button.click()
    assert "'since' must be a UTC date" in viewer.status.text()
    viewer.since_filter.clear()
    lines = len(ws.audit_log.path.read_text().splitlines())
    viewer.verify_button.click()
    assert viewer.status.text().startswith(
        f"{lines} entries verified; the cases, versions, review events and user table they "
        "record are present and unchanged.<br>Anchor: <tt>")
    anchor = viewer.status.text().split("<tt>")[1].split("</tt>")[0]
    seq, head = ws.audit_log.head()
    assert anchor == f"{seq}:{head}"
    viewer.anchor_edit.setText(anchor)  # checked later against the kept anchor
    viewer.verify_button.click()
    assert f"; anchor {anchor} found." in viewer.status.text()
    viewer.anchor_edit.setText(f"{seq}:{'0' * 64}")  # an anchor the trail does not hold
    viewer.verify_button.click()
    assert "anchor" in viewer.status.text() and "b00020" in viewer.status.styleSheet()
    viewer.anchor_edit.setText("yesterday")
    viewer.verify_button.click()
    assert "expected SEQ:HASH" in viewer.status.text()
    viewer.anchor_edit.clear()
    assert "Test^Patient" not in json.dumps(viewer.entries)


def test_a_tampered_log_names_the_first_bad_entry(qtbot, ws, login):
    aud = login("aud")
    viewer = AuditViewer(aud)
    qtbot.addWidget(viewer)
    lines = ws.audit_log.path.read_text().splitlines(keepends=True)
    rec = json.loads(lines[3])
    body = bytearray(base64.b64decode(rec["b"]))
    body[len(body) // 2] ^= 1
    rec["b"] = base64.b64encode(bytes(body)).decode()
    lines[3] = json.dumps(rec, separators=(",", ":")) + "\n"
    ws.audit_log.path.write_text("".join(lines))
    viewer.verify_button.click()
    assert viewer.status.text().startswith("audit: entry 4 modified")
    assert "b00020" in viewer.status.styleSheet()
    viewer.apply_button.click()  # reading verifies too: nothing unverified is shown
    assert viewer.table.rowCount() == 0 and "entry 4 modified" in viewer.status.text()


def test_export_csv_writes_the_rows_shown_and_is_audited(qtbot, tmp_path, login):
    admin = login("admin")
    viewer = AuditViewer(admin)
    qtbot.addWidget(viewer)
    viewer.user_filter.setText("admin")
    viewer.apply_button.click()
    n = viewer.export_csv(tmp_path / "audit.csv")
    with open(tmp_path / "audit.csv", newline="") as f:
        rows = list(csv.reader(f))
    assert n == len(viewer.entries) == len(rows) - 1 > 3
    assert rows[0] == list(COLUMNS) and {r[2] for r in rows[1:]} == {"admin"}
    viewer.apply_button.click()
    exported = [e for e in viewer.entries if e["action"] == "audit.export"]
    assert exported[-1]["details"] == {"format": "csv", "filters": {"user": "admin"},
                                       "entries": n}
    assert viewer.export_csv(tmp_path / "missing" / "a.csv") == 0
    assert "No such file or directory" in viewer.status.text()


def test_an_annotator_cannot_read_the_trail(qtbot, login):
    viewer = AuditViewer(login("ann"))
    qtbot.addWidget(viewer)
    assert viewer.table.rowCount() == 0
    assert viewer.status.text() == "user 'ann' (role annotator) may not audit.read"


def test_verify_names_a_user_table_put_back(qtbot, ws, login):
    admin, aud = login("admin"), login("aud")
    table = ws.root / "users" / "table.enc"
    before = table.read_bytes()
    admin.set_role("ann", "reviewer")
    viewer = AuditViewer(aud)
    qtbot.addWidget(viewer)
    table.write_bytes(before)  # the annotator's old role comes back with an old copy
    viewer.verify_button.click()
    assert "user table is revision 4 but audit entry" in viewer.status.text()
    assert "an older copy was put back" in viewer.status.text()
    assert "b00020" in viewer.status.styleSheet()
