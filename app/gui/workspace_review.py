"""Review and the case panel of the workspace mode (a WorkspaceController mixin).

Submit, approve (electronic signature: the password again and the meaning, through
:class:`~app.gui.workspace_dialogs.ApproveDialog`) and request changes go through the
session, which checks the role and refuses reviewing one's own work; refusals are shown as
one line. The case panel shows the review state and, once approved, the signature with
whether it verifies against the signer's key.
"""

from __future__ import annotations

from PySide6.QtWidgets import QMessageBox


def utc_text(iso: str) -> str:
    """``2026-12-03T10:42:20.123Z`` -> ``2026-12-03 10:42:20 UTC``."""
    return str(iso)[:19].replace("T", " ") + " UTC"


class ReviewMixin:
    """Needs ``session``, ``case_id``, ``case_record``, ``base_version``, ``dirty``, ``info``,
    ``window``, ``path``, ``may``, ``notify``, ``_status``, ``_guard``, ``save`` and
    ``refresh_worklist`` from :class:`~app.gui.workspace.WorkspaceController`."""

    _review: dict | None = None

    # -- review ---------------------------------------------------------------------------
    def _load_review(self) -> None:
        self._review = None
        if self.case_id is not None and self.may("case.list"):
            ok, st = self._guard(self.session.review_state, self.case_id)
            if ok:
                self._review = st
                last = st["events"][-1] if st["events"] else None
                if st["state"] == "approved" and last is not None:
                    self._review["verified"] = self.session.verify_approval(last)

    def submit(self) -> bool:
        if self.case_id is None:
            self.notify("No case is open")
            return False
        if not self.may("review.submit"):
            self._guard(self.session.require, "review.submit", [self.case_id])
            return False
        if self.dirty:
            answer = QMessageBox.question(
                self.window, "Submit for review",
                "Save the unsaved changes as a new version and submit that version?",
                QMessageBox.Yes | QMessageBox.Cancel, QMessageBox.Yes)
            if answer != QMessageBox.Yes or self.save() is None:
                return False
        ok, event = self._guard(self.session.submit, self.case_id)
        if ok:
            self._status(f"Case {self.case_id} version {event['version']} submitted for review")
            self._after_review()
        return ok

    def _review_precheck(self, action: str) -> bool:
        if self.case_id is None:
            self.notify("No case is open")
            return False
        ok, _ = self._guard(self.session.require, action, [self.case_id])
        if not ok:
            return False
        self._load_review()
        state = (self._review or {}).get("state")
        if state != "submitted":
            self.notify(f"case {self.case_id} is {str(state).replace('_', ' ')}, "
                        "not submitted for review")
            return False
        return True

    def approve(self) -> bool:
        """Ask for the password and the meaning, then sign the submitted version."""
        from app.gui.workspace_dialogs import ApproveDialog

        if not self._review_precheck("review.approve"):
            return False
        dialog = ApproveDialog(self.session, self.case_id, self._review["version"], self.window)
        if not dialog.exec() or dialog.event is None:
            self._after_review()  # a refusal inside the dialog may have changed nothing
            return False
        self._status(f"Case {self.case_id} approved: {dialog.event['meaning']}")
        self._after_review()
        return True

    def request_changes(self) -> bool:
        from app.gui.workspace_dialogs import RequestChangesDialog

        if not self._review_precheck("review.request_changes"):
            return False
        dialog = RequestChangesDialog(self.session, self.case_id, self.window)
        if not dialog.exec() or dialog.event is None:
            return False
        self._status(f"Changes requested on case {self.case_id}")
        self._after_review()
        return True

    def _after_review(self) -> None:
        self._load_review()
        self.refresh_worklist()
        self.update_info()

    # -- case panel -----------------------------------------------------------------------
    def update_info(self) -> None:
        s = self.session
        lines = [f"<b>{s.name}</b> ({s.role}) — workspace {self.path.name}"]
        if self.case_id is None:
            lines.append("No case open: double-click one in the worklist.")
            self.info.show_info(lines)
            return
        rec = self.case_record or {}
        shape = "×".join(str(n) for n in rec.get("shape", []))
        lines.append(f"<b>Case</b> {self.case_id} · {rec.get('modality') or '?'} · {shape}")
        version = f"version {self.base_version}" if self.base_version else "no saved version"
        lines.append(f"<b>Labels</b> {version}"
                     + (" · <span style='color:#d35400'>unsaved changes</span>"
                        if self.dirty else ""))
        if not self.may("label.save"):
            lines.append("<i>Read-only: your role does not save label versions.</i>")
        check = getattr(self, "blind_check", None)
        if check is not None:
            done = self.base_version != check["auto_version"]
            lines.append(f"<b>Spot check</b> {check['batch']}, opened blind: the automatic "
                         f"label (version {check['auto_version']}) is hidden"
                         + (" · your saved version is the check" if done
                            else " · draw the structures and save"))
        st = self._review
        if st is not None:
            state = st["state"].replace("_", " ")
            lines.append(f"<b>Review</b> {state}"
                         + (f" (version {st['version']})" if st.get("version") else ""))
            last = st["events"][-1] if st["events"] else None
            if st["state"] == "approved" and last is not None:
                mark = ("signature verified ✓" if st.get("verified")
                        else "<span style='color:#c0392b'>signature NOT verified ✗</span>")
                lines.append(f"Signed by <b>{last['signer']}</b> on {utc_text(last['time'])}"
                             f"<br>Meaning: “{last['meaning']}”<br>{mark}")
            elif st["state"] == "changes_requested" and last is not None:
                reason = last.get("reason") or "(no reason given)"
                lines.append(f"Changes requested by {last['user']}: {reason}")
            elif st["state"] == "submitted" and last is not None:
                lines.append(f"Submitted by {last['user']} on {utc_text(last['time'])}")
        self.info.show_info(lines)

    def signature_text(self) -> str:
        return self.info.text()

