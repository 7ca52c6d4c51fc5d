"""Workspace mode of the main window: log in, worklist, open/save cases, autosave, idle lock,
review with electronic signatures.

A :class:`WorkspaceController` holds one logged-in :class:`compliance.session.Session` for a
:class:`~app.gui.mainwindow.MainWindow` (``window.workspace``). Everything it does to the
workspace goes through the session, so every operation is permission-checked and audited
there; this module only decides *when* (save, autosave every ``autosave_seconds``, before an
idle lock) and shows the answers.

No unsaved work is lost: every change marks the journal stale; the autosave timer writes the
encrypted journal within ``autosave_seconds`` of a change (on a plain thread, from a copy of
the labels, so that a large label map does not stall editing), again just before an idle lock
(the idle check runs each second and writes a stale journal when the lock is a few seconds
away, while the session still holds its keys), and before "Lock now". The segmentation stays
in memory while locked; after unlocking, editing goes on where it stopped. A crash leaves
the journal, which is offered when the case is opened again.
"""

from __future__ import annotations

import queue
import threading
from pathlib import Path

import numpy as np
from PySide6.QtCore import QEvent, QObject, Qt, QTimer
from PySide6.QtWidgets import QApplication, QDockWidget, QMessageBox

from app.gui.workspace_panels import CaseInfoPanel, LockScreen, WorklistPanel
from app.gui.workspace_review import ReviewMixin, utc_text
from app.gui.workspace_start import install_workspace_actions, open_workspace_interactive
from app.labelsets import (labelset_from_segmentation, segmentation_from_labelset,
                           tracks_provenance, volume_from_case)
from compliance import roles
from compliance.errors import ComplianceError, NotFoundError, SessionLocked
from compliance.records import LabelSet
from viewers.events import Event
from viewers.labels import Segmentation

#: seconds before the idle limit at which a stale journal is written (the idle check runs
#: every second, so the journal is always written while the keys are still held)
PRELOCK_MARGIN_S = 5.0

_INPUT_EVENTS = frozenset({QEvent.KeyPress, QEvent.MouseButtonPress, QEvent.MouseMove,
                           QEvent.Wheel, QEvent.MouseButtonDblClick, QEvent.TouchBegin})


class _ActivityFilter(QObject):
    """Application-wide: any keyboard or mouse input counts as activity (``touch``)."""

    def __init__(self, controller):
        super().__init__()
        self.controller = controller

    def eventFilter(self, obj, event) -> bool:  # noqa: N802 - Qt API
        if event.type() in _INPUT_EVENTS:
            self.controller.touch()
        return False


def _app_setting(name: str, default):
    from app.settings import SettingsError, load_settings

    try:
        return load_settings()[name]
    except (SettingsError, KeyError):
        return default


class WorkspaceController(ReviewMixin):
    """One logged-in workspace session shown in a main window.

    Parameters
    ----------
    window : MainWindow
    session : compliance.session.Session
        Logged in; the controller logs it out when it is closed.
    path : path-like
        The workspace folder.
    autosave_seconds : int, optional
        Journal interval (default: the ``autosave_seconds`` setting).

    Attributes
    ----------
    session, path, case_id, user_label
        As the shared GUI contract names them.
    base_version : int or None
        The saved version the open segmentation started from.
    dirty : bool
        The segmentation differs from ``base_version`` (unsaved).
    extra_columns : dict
        Worklist column name -> callable(case dict) -> value (other features add theirs).
    case_opened, session_changed : viewers.events.Event
    """

    def __init__(self, window, session, path, autosave_seconds: int | None = None):
        self.window, self.session, self.path = window, session, Path(path)
        self.user_label = f"user:{session.user_id}"
        self.case_id: str | None = None
        self.case_record: dict | None = None
        self.base_version: int | None = None
        self._base_labels: LabelSet | None = None
        self.dirty = False
        self._journal_stale = False
        self._records: list = []
        self._volume = None
        self._seg = None
        self._review: dict | None = None
        self.blind_check: dict | None = None  # the spot check the open case is, opened blind
        self.locked_ui = False
        # Idle time is counted here from user input only: the session counts every call
        # as activity, and background calls (autosave, other features' timers) must not
        # postpone the lock. Same clock as the session's (tests pass a fake one to login).
        self._clock = getattr(session, "clock", None) or getattr(session, "_clock")
        self._last_input = self._clock()
        self._site_lock_minutes: float | None = None
        self._journal_thread: threading.Thread | None = None
        self._journal_results: queue.Queue = queue.Queue()
        self.last_message = ""
        self.extra_columns: dict = {}
        self.case_opened = Event()
        self.session_changed = Event()
        self.worklist = WorklistPanel()
        self.worklist.open_requested.connect(self.open_case)
        self.worklist_dock = self._dock("Worklist", "worklist", self.worklist, Qt.LeftDockWidgetArea)
        self.info = CaseInfoPanel()
        self.info_dock = self._dock("Case", "case_info", self.info, Qt.LeftDockWidgetArea)
        # wide enough for id, modality, grid, versions and state without scrolling
        window.resizeDocks([self.worklist_dock], [520], Qt.Horizontal)
        self.lock_screen = LockScreen()
        self.lock_screen.unlock_requested.connect(self.unlock)
        self.lock_screen.logout_requested.connect(self.logout)
        seconds = autosave_seconds or int(_app_setting("autosave_seconds", 5))
        self.autosave_timer = QTimer(window)
        self.autosave_timer.setInterval(max(1, seconds) * 1000)
        self.autosave_timer.timeout.connect(self.autosave)
        self.autosave_timer.start()
        self.idle_timer = QTimer(window)
        self.idle_timer.setInterval(1000)
        self.idle_timer.timeout.connect(self.check_idle)
        self.idle_timer.start()
        self._filter = _ActivityFilter(self)
        QApplication.instance().installEventFilter(self._filter)
        ctl = getattr(window, "edit_controller", None)
        if ctl is not None:
            ctl.recorded.connect(self._on_record)
        window.volume_loaded.connect(self._on_volume_loaded)
        admin = getattr(window, "admin_actions", None)
        if admin is not None:
            admin.emergency_changed.connect(self._on_emergency_changed)
        self.set_editing_enabled(self.may("label.save"))
        self.refresh_worklist()
        self.update_info()
        if self.worklist.unsaved:
            self._status(f"Unsaved work from an earlier session waits in "
                         f"{len(self.worklist.unsaved)} case(s) (marked in the worklist)")

    def _dock(self, title, name, widget, area) -> QDockWidget:
        dock = QDockWidget(title, self.window)
        dock.setObjectName(name)
        dock.setWidget(widget)
        self.window.addDockWidget(area, dock)
        return dock

    # -- permissions and messages ---------------------------------------------------------
    def touch(self) -> None:
        """User input: the session is active again."""
        self.session.touch()
        self._last_input = self._clock()

    def idle_seconds(self) -> float:
        """Seconds since the last user input (background session calls do not count)."""
        return self._clock() - self._last_input

    def may(self, action: str) -> bool:
        return roles.allowed(self.session.role, action)

    def notify(self, text: str) -> None:
        """Show a refusal or failure as one line (status bar and a message box)."""
        self.last_message = text
        self.window.statusBar().showMessage(text, 15000)
        QMessageBox.warning(self.window, "annotrace", text)

    def _status(self, text: str) -> None:
        self.last_message = text
        self.window.statusBar().showMessage(text, 10000)

    def _guard(self, fn, *args, **kwargs):
        """Run a session call; a lock shows the lock screen, a refusal a one-line message.
        Returns (ok, result)."""
        try:
            # decrypting a case or encrypting a version of a large grid takes a second or two
            QApplication.setOverrideCursor(Qt.WaitCursor)
            try:
                result = fn(*args, **kwargs)
            finally:
                QApplication.restoreOverrideCursor()
            return True, result
        except SessionLocked as exc:
            if self.session.locked:
                self.show_lock()
            else:
                self.notify(str(exc))
        except ComplianceError as exc:
            self.notify(str(exc))
        return False, None

    # -- worklist -------------------------------------------------------------------------
    def refresh_worklist(self) -> None:
        """Reload the case list (no PHI) with its review states."""
        if self.session.locked or self.session.closed:
            return
        if not self.may("case.list"):
            self.worklist.show_message(f"The {self.session.role} role has no worklist.")
            return
        ok, cases = self._guard(self.session.list_cases)
        if not ok:
            return
        unsaved = set()
        if self.may("journal"):
            ok, pending = self._guard(self.session.pending_journals)
            unsaved = set(pending or ())
        columns = dict(self.extra_columns)
        spot = self._spot_checks()
        if spot:
            # "to check" until a reader saved a version after the automatic one
            columns["spot check"] = lambda case: "" if case["case_id"] not in spot else (
                ("checked" if case["versions"] > spot[case["case_id"]]["auto_version"]
                 else "to check") + f" ({spot[case['case_id']]['batch']})")
        self.worklist.set_cases(cases, columns, self.case_id, unsaved)

    def _spot_checks(self) -> dict:
        """Pending spot checks of auto-accepted cases (empty for roles that do not check)."""
        if not self.may("drift.record"):
            return {}
        ok, spot = self._guard(self.session.pending_spot_checks)
        return spot if ok and spot else {}

    def _blind_spot_check(self, case_id: str, meta: dict | None) -> dict | None:
        """The spot check to open blind: the case's latest version is its automatic one,
        this reader saves versions, and the workspace setting ``blind_spot_checks`` is on."""
        if meta is None or not self.may("label.save") or \
                not self.session.ws.settings.get("blind_spot_checks", 0):
            return None
        check = self._spot_checks().get(case_id)
        if check is None or meta["version"] != check["auto_version"]:
            return None
        return check

    # -- opening a case -------------------------------------------------------------------
    def open_case(self, case_id: str) -> bool:
        """Decrypt and show ``case_id`` with its latest visible version (or a journal)."""
        if case_id == self.case_id and self.window.volume is self._volume:
            return True
        if not self.confirm_leave():
            return False
        ok, data = self._guard(self.session.open_case, case_id)
        if not ok:
            return False
        volume = volume_from_case(data)
        meta, labels = None, None
        try:
            meta, labels = self.session.load_labels(case_id)
        except NotFoundError:
            pass  # a new case: no version yet
        except ComplianceError as exc:
            self.notify(str(exc))
            return False
        base_version = meta["version"] if meta else None
        blind = self._blind_spot_check(case_id, meta)
        if blind is not None:
            # the reader checks the automatic label by drawing the structure without seeing
            # it; their version keeps the automatic one as parent, and drift record compares
            labels = None
        seg_labels, dirty = labels, False
        if self.may("journal"):
            ok, journal = self._guard(self.session.journal_read, case_id)
            if ok and journal is not None:
                jmeta, jlabels = journal
                answer = QMessageBox.question(
                    self.window, "Recover unsaved work",
                    f"Recover unsaved work from {utc_text(jmeta['time'])} on case {case_id}?",
                    QMessageBox.Yes | QMessageBox.No, QMessageBox.Yes)
                if answer == QMessageBox.Yes:
                    seg_labels, dirty = jlabels, True
                    if jmeta.get("base_version") != base_version:
                        base_version = jmeta.get("base_version")
                        labels = self._load_version(case_id, base_version)
                else:
                    self._guard(self.session.journal_discard, case_id)
        if seg_labels is not None:
            seg = segmentation_from_labelset(seg_labels, volume.shape, volume.affine_lps)
        else:
            seg = Segmentation.empty_like(volume)
        setattr(seg, "current_source", self.user_label)  # edits are attributed to this user
        self._release_segmentation()
        self.case_id, self.case_record = case_id, data.record
        self.base_version = base_version
        self.blind_check = blind
        self._base_labels = self._snapshot(labels, seg)
        self._volume, self._seg = volume, seg
        self._records = []
        self.window.set_volume(volume, segmentation=seg)
        seg.changed.connect(self._on_changed)
        seg.segments_changed.connect(self._on_changed)
        self.dirty = self._journal_stale = dirty
        self.window.setWindowTitle(f"annotrace — case {case_id} — {self.session.name}")
        self._load_review()
        self.refresh_worklist()
        self.update_info()
        if blind is not None:
            self._guard(lambda: self.session.audit("drift.blind_open", [case_id], details={
                "model_id": blind["model"], "batch": blind["batch"],
                "auto_version": blind["auto_version"]}))
            self._status(f"Blind spot check of case {case_id} ({blind['batch']}): the "
                         "automatic label is hidden; draw the structures yourself and save")
        else:
            self._status(f"Opened case {case_id}" + (f", version {base_version}"
                                                     if base_version
                                                     else ", no saved version yet"))
        self.case_opened.emit(case_id)
        return True

    def set_editing_enabled(self, on: bool) -> None:
        """Enable the editing tools only for roles that save label versions: a reviewer or an
        administrator under emergency access reads, and must not paint what cannot be saved."""
        from PySide6.QtWidgets import QToolBar

        bar = self.window.findChild(QToolBar, "edit_toolbar")
        if bar is not None:
            bar.setEnabled(on)
        for action in self.window.actions():
            if action.objectName().startswith("edit_"):
                action.setEnabled(on)
        panel = getattr(self.window, "segment_panel", None)
        if panel is not None:
            panel.set_read_only(not on)
        ctl = getattr(self.window, "edit_controller", None)
        if not on and ctl is not None:
            ctl.set_tool(None)  # back to navigation

    def _on_emergency_changed(self, grant) -> None:
        """A grant that ended takes the case it opened off the screen (the role alone may
        not read images)."""
        if grant is None and self.case_id is not None and not self.may("case.open"):
            self.close_case()
            self._status("Emergency access ended: the case was closed")

    def close_case(self) -> None:
        """Stop showing the open case (unsaved work stays in the journal)."""
        if self._journal_stale and self.may("journal"):
            self.write_journal()
        self._release_segmentation()
        self.case_id = self.case_record = self.base_version = self._base_labels = None
        self.blind_check = None
        self.dirty = self._journal_stale = False
        self.window.clear_volume()
        self.window.setWindowTitle(f"annotrace — {self.session.name}")
        self.update_info()

    def _load_version(self, case_id, version):
        if version is None:
            return None
        ok, result = self._guard(self.session.load_labels, case_id, version)
        return result[1] if ok else None

    @staticmethod
    def _snapshot(labels: LabelSet | None, seg) -> LabelSet | None:
        """The base version's arrays, kept only when provenance is derived at save time."""
        if labels is None or tracks_provenance(seg):
            return None
        return LabelSet([np.array(a) for a in labels.layers], list(labels.segments),
                        None if labels.provenance is None else np.array(labels.provenance),
                        dict(labels.provenance_legend))

    def _release_segmentation(self) -> None:
        self.wait_journal()
        if self._seg is not None:
            self._seg.changed.disconnect(self._on_changed)
            self._seg.segments_changed.disconnect(self._on_changed)
        self._seg = self._volume = None

    def _on_volume_loaded(self, volume) -> None:
        if self.case_id is not None and volume is not self._volume:
            # Another image replaced the case (File > Open): the case is no longer shown.
            self._release_segmentation()
            self.case_id = self.case_record = self.base_version = self._base_labels = None
            self.blind_check = None
            self.dirty = self._journal_stale = False
            self.update_info()

    # -- changes, journal, save -----------------------------------------------------------
    def _on_changed(self, *_) -> None:
        if not self.dirty:
            self.dirty = True
            self.update_info()
        self._journal_stale = True

    def _on_record(self, record) -> None:
        if self.case_id is not None:
            self._records.append(record)

    def _flush_records(self) -> None:
        """Audit the editor's change records made since the last flush (one append)."""
        if self._records and self.case_id is not None and self.may("label.save"):
            records, self._records = self._records, []
            self.session.audit_edits(self.case_id, records)

    def current_labels(self) -> LabelSet:
        return labelset_from_segmentation(self._seg, self.user_label, self._base_labels)

    def write_journal(self, background: bool = False) -> bool:
        """Write the encrypted autosave journal (and audit pending edit records).

        ``background``: compress, encrypt and write on a plain thread from a copy of the
        labels (a 512x512x300 map takes seconds; editing goes on meanwhile). Otherwise the
        write is done when this returns (before a lock, on close). One write at a time,
        in order: a new one waits for the previous.
        """
        if self.case_id is None or self._seg is None or not self.may("journal"):
            return False
        self.wait_journal()
        if self.session.locked or self.session.closed:
            return False
        try:
            self._flush_records()
            labels = self.current_labels()
        except SessionLocked:
            self.show_lock()
            return False
        except ComplianceError as exc:
            self._status(f"Autosave failed: {exc}")
            return False
        case_id, base = self.case_id, self.base_version
        self._journal_stale = False
        if background:
            labels = LabelSet([np.array(a) for a in labels.layers],
                              [dict(d) for d in labels.segments],
                              None if labels.provenance is None else np.array(labels.provenance),
                              dict(labels.provenance_legend))
            self._journal_thread = threading.Thread(
                target=self._journal_job, args=(case_id, labels, base),
                name="annotrace-journal", daemon=True)
            self._journal_thread.start()
            return True
        self._journal_job(case_id, labels, base)
        return self._journal_done()

    def _journal_job(self, case_id, labels, base) -> None:
        try:
            self.session.journal_write(case_id, labels, base)
            self._journal_results.put(None)
        except Exception as exc:  # reported on the GUI thread by _journal_done
            self._journal_results.put(exc)

    def _journal_done(self) -> bool:
        """Take the results of finished journal writes (GUI thread); True if all succeeded."""
        ok = True
        while True:
            try:
                exc = self._journal_results.get_nowait()
            except queue.Empty:
                return ok
            if exc is None:
                continue
            ok = False
            self._journal_stale = True  # try again at the next tick
            if isinstance(exc, SessionLocked) and self.session.locked:
                self.show_lock()
            elif isinstance(exc, ComplianceError):
                self._status(f"Autosave failed: {exc}")
            else:
                self._status(f"Autosave failed: {type(exc).__name__}: {exc}")

    def wait_journal(self) -> None:
        """Wait for a background journal write to finish and take its result."""
        thread, self._journal_thread = self._journal_thread, None
        if thread is not None:
            thread.join()
        self._journal_done()

    def autosave(self) -> None:
        """Timer slot: journal the segmentation when it changed since the last write."""
        self._journal_done()
        busy = self._journal_thread is not None and self._journal_thread.is_alive()
        if self._journal_stale and not self.locked_ui and not busy:
            self.write_journal(background=True)

    def save(self) -> dict | None:
        """Save the open segmentation as a new immutable version; return its metadata."""
        if self.case_id is None or self._seg is None:
            self.notify("No case is open: open one from the worklist first")
            return None
        self.wait_journal()  # a journal written after the save would outlive it
        labels = self.current_labels()

        def do_save():
            self._flush_records()
            return self.session.save_labels(self.case_id, labels, parent=self.base_version)

        ok, meta = self._guard(do_save)
        if not ok:
            return None
        self.base_version = meta["version"]
        self._base_labels = self._snapshot(labels, self._seg)
        self.dirty = self._journal_stale = False
        self._guard(self.session.journal_discard, self.case_id)
        self._status(f"Saved version {meta['version']} of case {self.case_id}")
        self._load_review()
        self.refresh_worklist()
        self.update_info()
        return meta

    def confirm_leave(self) -> bool:
        """Before switching case or closing: Save / Discard / Cancel when there are unsaved
        changes. True when it is fine to go on."""
        if not self.dirty or self.case_id is None or not self.may("label.save"):
            return True
        if self.session.locked:
            return True  # the journal (written before the lock) keeps the work
        answer = QMessageBox.question(
            self.window, "Unsaved changes",
            f"Case {self.case_id} has unsaved changes. Save them as a new version?",
            QMessageBox.Save | QMessageBox.Discard | QMessageBox.Cancel, QMessageBox.Save)
        if answer == QMessageBox.Save:
            return self.save() is not None
        if answer == QMessageBox.Discard:
            self._guard(self.session.journal_discard, self.case_id)
            self.dirty = self._journal_stale = False
            self._records = []
            return True
        return False

    # -- idle lock ------------------------------------------------------------------------
    def idle_limit_seconds(self) -> float:
        """The workspace's idle limit, or the site's ``auto_lock_minutes`` when stricter."""
        minutes = self.session.ws.settings["idle_lock_minutes"]
        if self._site_lock_minutes is None:  # read once: this runs every second
            self._site_lock_minutes = float(_app_setting("auto_lock_minutes", minutes))
        return 60.0 * min(float(minutes), self._site_lock_minutes)

    def check_idle(self) -> None:
        """Timer slot (each second): journal before the lock, then lock when idle too long."""
        s = self.session
        if s.closed:
            return
        self._journal_done()
        if s.locked:
            if not self.locked_ui:
                self.show_lock()
            return
        limit = self.idle_limit_seconds()
        if self.idle_seconds() >= limit - PRELOCK_MARGIN_S:
            self.wait_journal()  # a background write must finish while the keys are there
            if self._journal_stale:
                self.write_journal()
        if self.idle_seconds() > limit and not s.locked:
            try:
                s.lock(reason="idle")
            except ComplianceError as exc:
                self._status(f"Lock failed: {exc}")
        if s.check_idle():
            self.show_lock()

    def lock_now(self) -> None:
        """Workspace > Lock now: journal unsaved work, lock the session, cover the window."""
        if not self.session.locked:
            if self._journal_stale:
                self.write_journal()
            try:
                self.session.lock(reason="user")
            except ComplianceError as exc:
                self._status(f"Lock failed: {exc}")
        self.show_lock()

    def show_lock(self) -> None:
        if self.locked_ui:
            return
        self.locked_ui = True
        note = ("Unsaved changes are kept." if self.dirty else "")
        self.lock_screen.prepare(self.session.name, note)
        self.window.statusBar().clearMessage()
        hover = getattr(self.window, "hover_label", None)
        if hover is not None:  # the last voxel value under the mouse is image content too
            hover.setText("")
        self.window.cover(self.lock_screen)

    def unlock(self, password: str) -> bool:
        """Unlock with the password; a wrong one is shown and counts toward the lockout."""
        try:
            self.session.unlock(password)
        except ComplianceError as exc:
            self.lock_screen.error.setText(str(exc))
            if self.session.closed:  # disabled meanwhile: nothing more can happen here
                self.lock_screen.unlock_button.setEnabled(False)
            return False
        self.locked_ui = False
        self._last_input = self._clock()
        self.window.uncover()
        self.refresh_worklist()  # an administrator may have changed the role meanwhile
        self.update_info()
        self.session_changed.emit(self)
        self._status("Unlocked")
        return True

    def logout(self) -> None:
        """Log out from the lock screen or the menu (unsaved work stays in the journal)."""
        if not self.session.locked and self.dirty and not self.confirm_leave():
            return
        path = self.path
        self.window.detach_workspace()
        self.window.clear_volume()
        self.window.setWindowTitle("annotrace")
        QTimer.singleShot(0, lambda: open_workspace_interactive(self.window, path))

    # -- teardown -------------------------------------------------------------------------
    def close(self) -> None:
        """Stop the timers, remove the docks and the lock screen, log the session out."""
        self.set_editing_enabled(True)  # the viewer without a workspace edits freely
        self.autosave_timer.stop()
        self.idle_timer.stop()
        self.wait_journal()
        app = QApplication.instance()
        if app is not None:
            app.removeEventFilter(self._filter)
        if self.locked_ui:
            self.locked_ui = False
            self.window.uncover()
        ctl = getattr(self.window, "edit_controller", None)
        if ctl is not None:
            ctl.recorded.disconnect(self._on_record)
        try:
            self.window.volume_loaded.disconnect(self._on_volume_loaded)
        except (RuntimeError, TypeError):
            pass
        if self._journal_stale:
            self.write_journal()
        try:
            self._flush_records()
        except ComplianceError:
            pass
        self._release_segmentation()
        admin = getattr(self.window, "admin_actions", None)
        if admin is not None:
            try:
                admin.emergency_changed.disconnect(self._on_emergency_changed)
            except (RuntimeError, TypeError):
                pass
        for dock in (self.worklist_dock, self.info_dock):
            self.window.removeDockWidget(dock)
            dock.deleteLater()
        self.session.logout()


__all__ = ["WorkspaceController", "install_workspace_actions", "open_workspace_interactive"]
