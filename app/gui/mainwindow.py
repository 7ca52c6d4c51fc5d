"""The main window: three linked slice views, the segment panel, opening and loading.

Attributes other parts rely on (the editing tools in viewers.qt.editor):
``volume``, ``segmentation`` (a new empty Segmentation for each volume),
``state`` (the views' shared ViewerState), ``views`` (axial, coronal, sagittal
SliceViews) and ``segment_panel`` (``active_segment_id``). ``volume_loaded`` is
emitted after each new volume is shown.

Workspace mode: ``workspace`` is the attached :class:`app.gui.workspace.WorkspaceController`
or None; ``workspace_changed`` is emitted with it (or None) when one is attached or
detached. ``file_menu`` and ``workspace_menu`` are where features add their entries;
``cover(widget)`` hides every image (views, docks, tool bars) behind ``widget`` (the lock
screen) until ``uncover()``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PySide6.QtCore import QSettings, Qt, Signal
from PySide6.QtGui import QAction, QActionGroup, QKeySequence
from PySide6.QtWidgets import (QDockWidget, QFileDialog, QGridLayout, QLabel, QMainWindow,
                               QMessageBox, QProgressBar, QStackedWidget, QWidget)

from app.gui.loader import VolumeLoader
from app.gui.series_picker import SeriesPicker
from viewers.labels import Segmentation
from viewers.qt.segments import SegmentPanel
from viewers.qt.sliceview import SliceView
from viewers.render import ORIENTATIONS, PRESETS, ViewerState, auto_window
from viewers.volume import Volume

MAX_RECENT = 8


class MainWindow(QMainWindow):
    """annotrace's main window."""

    volume_loaded = Signal(object)
    #: emitted with the WorkspaceController (or None) when a workspace is attached or detached
    workspace_changed = Signal(object)

    def __init__(self, settings: QSettings | None = None, parent=None) -> None:
        super().__init__(parent)
        from app.gui.gc_pin import pin_gc_to_gui_thread

        pin_gc_to_gui_thread()  # before any background thread of the window starts
        self.settings = settings or QSettings("annotrace", "annotrace")
        self.volume = None
        self.segmentation = None
        self.state = None
        self.path = None
        self.loader = None
        self._provisional = False
        #: read_volume(path, series_uid=, progress=) -> Volume; replaceable (tests, PACS)
        self.reader = None
        #: the attached WorkspaceController, or None (plain viewer)
        self.workspace = None
        self._covered = None  # (docks, tool bars, actions) hidden/disabled by cover()
        self.setWindowTitle("annotrace")
        self.setAcceptDrops(True)
        self.views = [SliceView(o) for o in ORIENTATIONS]
        central = QWidget()
        self.grid = QGridLayout(central)
        self.grid.setContentsMargins(0, 0, 0, 0)
        self.grid.setSpacing(2)
        for n, view in enumerate(self.views):
            self.grid.addWidget(view, 0, n)
            view.hover.connect(self._on_hover)
        # A stack, so that the lock screen can replace the views without destroying them.
        self.stack = QStackedWidget()
        self.stack.addWidget(central)
        self.setCentralWidget(self.stack)
        self.maximised = None  # the view shown alone, or None for the 1x3 layout
        self.segment_panel = SegmentPanel()
        dock = QDockWidget("Segments", self)
        dock.setObjectName("segments")
        dock.setWidget(self.segment_panel)
        self.addDockWidget(Qt.RightDockWidgetArea, dock)
        self.hover_label = QLabel("")
        self.progress = QProgressBar()
        self.progress.setMaximumWidth(220)
        self.progress.hide()
        self.statusBar().addWidget(self.hover_label, 1)
        self.statusBar().addPermanentWidget(self.progress)
        self._build_menus()
        self.resize(1500, 620)

    # -- menus ------------------------------------------------------------------------------
    def _action(self, menu, text, slot, shortcut=None, checkable=False) -> QAction:
        action = QAction(text, self)
        if shortcut:
            action.setShortcut(QKeySequence(shortcut))
        action.setCheckable(checkable)
        action.triggered.connect(slot)
        menu.addAction(action)
        return action

    def _build_menus(self) -> None:
        from app.gui.workspace import install_workspace_actions

        file_menu = self.file_menu = self.menuBar().addMenu("&File")
        self._action(file_menu, "Open &file…", self._open_file_dialog, QKeySequence.Open)
        self._action(file_menu, "Open f&older…", self._open_folder_dialog, "Ctrl+Shift+O")
        self.recent_menu = file_menu.addMenu("Open &recent")
        file_menu.addSeparator()
        self.quit_action = self._action(file_menu, "&Quit", self.close, QKeySequence.Quit)
        view_menu = self.menuBar().addMenu("&View")
        self.maximise_action = self._action(view_menu, "&Maximise view under focus",
                                            lambda on: self.maximise_view(
                                                self._focused_view() if on else None),
                                            "F", checkable=True)
        self._action(view_menu, "&Reset views", self.reset_views, "Ctrl+R")
        self.wl_action = self._action(view_menu, "&Window/level with left drag",
                                      self.set_wl_mode, "W", checkable=True)
        wl_menu = view_menu.addMenu("Window &presets")
        group = QActionGroup(self)
        for name, wl in PRESETS.items():
            group.addAction(self._action(wl_menu, f"{name} ({wl.width:g}/{wl.center:g})",
                                         lambda _=False, wl=wl: self.set_window(wl)))
        self._action(wl_menu, "Auto (percentiles, MR)", self.auto_window, "A")
        self.workspace_menu = self.menuBar().addMenu("&Workspace")
        self.workspace_menu.setObjectName("workspace_menu")  # features find it by this name
        self.workspace_actions = install_workspace_actions(self)
        self._refresh_recent()

    def _focused_view(self) -> SliceView:
        return next((v for v in self.views if v.hasFocus()), self.views[0])

    # -- layout and display -----------------------------------------------------------------
    def maximise_view(self, view: SliceView | None) -> None:
        """Show ``view`` alone, or all three side by side with ``None``."""
        self.maximised = view
        for v in self.views:
            v.setVisible(view is None or v is view)
        self.maximise_action.setChecked(view is not None)

    def reset_views(self) -> None:
        for v in self.views:
            v.reset_view()

    def set_wl_mode(self, on: bool) -> None:
        for v in self.views:
            v.wl_mode = bool(on)
        self.wl_action.setChecked(bool(on))

    def set_window(self, wl) -> None:
        if self.state is not None:
            self.state.set_window(wl)

    def auto_window(self) -> None:
        if self.state is not None:
            self.state.set_window(auto_window(self.state.volume.array))

    def _on_hover(self, text: str) -> None:
        self.hover_label.setText(text)

    # -- opening ----------------------------------------------------------------------------
    def _open_file_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "Open image", "", "Images (*.nii *.nii.gz *.nrrd *.nhdr *.mha *.mhd *.dcm);;"
                                    "All files (*)")
        if path:
            self.open_path(path)

    def _open_folder_dialog(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Open DICOM folder")
        if path:
            self.open_path(path)

    def dragEnterEvent(self, event) -> None:  # noqa: N802 - Qt API
        if any(u.isLocalFile() for u in event.mimeData().urls()):
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:  # noqa: N802 - Qt API
        paths = [u.toLocalFile() for u in event.mimeData().urls() if u.isLocalFile()]
        if paths:
            event.acceptProposedAction()
            self.open_path(paths[0])

    def open_path(self, path, series_uid: str | None = None, reader=None,
                  skip_bad: bool = False) -> VolumeLoader | None:
        """Start loading ``path`` in the background; the window stays usable meanwhile.

        ``skip_bad`` loads a DICOM series without its unreadable slices (offered after
        a folder failed to load).
        """
        if self.loader is not None and self.loader.is_running():
            self.statusBar().showMessage("Still loading the previous image…", 3000)
            return None
        if self.workspace is not None and not self.workspace.confirm_leave():
            return None  # the open case has unsaved changes and the user chose Cancel
        self.loader = VolumeLoader(str(path), series_uid, reader or self.reader, parent=self,
                                   skip_bad=skip_bad)
        self.loader.progressed.connect(self._on_progress)
        self.loader.loaded.connect(lambda volume: self._on_loaded(path, volume))
        self.loader.failed.connect(lambda exc: self._on_failed(path, exc, series_uid, skip_bad))
        self.progress.setRange(0, 0)
        self.progress.show()
        self.statusBar().showMessage(f"Loading {Path(path).name}…")
        self.loader.start()
        return self.loader

    def _on_progress(self, done: int, total: int, array) -> None:
        self.progress.setRange(0, max(total, 1))
        self.progress.setValue(done)
        if done >= total:
            return  # the finished volume follows at once
        if self.volume is None or self.volume.array is not array:
            # Show the slices that have arrived on a provisional grid (identity LPS affine =
            # the usual axial DICOM orientation); the real geometry replaces it when done.
            self._provisional = True
            self.set_volume(Volume(array, np.eye(4)))
        else:
            for v in self.views:
                v.request_render()

    def _on_loaded(self, path, volume) -> None:
        self.progress.hide()
        self.path = str(path)
        self._provisional = False
        self.set_volume(volume)
        self._add_recent(str(path))
        note = f"  ({'; '.join(volume.warnings)})" if volume.warnings else ""
        self.statusBar().showMessage(f"Opened {Path(path).name}{note}", 8000)
        self.setWindowTitle(f"annotrace — {Path(path).name}")

    def _on_failed(self, path, exc, series_uid=None, skip_bad=False) -> None:
        from viewers.io.errors import MultipleSeriesError

        self.progress.hide()
        if self._provisional:  # a half-loaded image must not stay on screen as if valid
            self._provisional = False
            self.clear_volume()
        self.statusBar().clearMessage()
        if isinstance(exc, MultipleSeriesError):
            picker = SeriesPicker(exc.series, self)
            if picker.exec() and picker.chosen_uid is not None:
                self.open_path(path, picker.chosen_uid)
            return
        if getattr(exc, "exit_code", None) is not None:
            text = str(exc)
            if not skip_bad and Path(path).is_dir():
                answer = QMessageBox.question(
                    self, "Cannot open series",
                    f"{text}\n\nOpen the series without its unreadable slices?",
                    QMessageBox.Yes | QMessageBox.No, QMessageBox.No)
                if answer == QMessageBox.Yes:
                    self.open_path(path, series_uid, skip_bad=True)
                return
        else:  # a bug, not a bad file: say so plainly, with the exception type
            text = f"{Path(path).name}: internal error while reading: {type(exc).__name__}: {exc}"
        QMessageBox.critical(self, "Cannot open image", text)

    def set_volume(self, volume, segmentation: Segmentation | None = None) -> None:
        """Show ``volume`` with ``segmentation`` (a new, empty one by default)."""
        self.volume = volume
        self.segmentation = segmentation if segmentation is not None else \
            Segmentation.empty_like(volume)
        self.state = ViewerState(volume)
        for v in self.views:
            v.set_data(self.state, self.segmentation)
        self.segment_panel.set_data(self.segmentation, self.state)
        self.volume_loaded.emit(volume)

    def clear_volume(self) -> None:
        self.volume = self.segmentation = self.state = None
        for v in self.views:
            v.set_data(None, None)
        self.segment_panel.set_data(None, None)

    # -- recent files -----------------------------------------------------------------------
    def recent_files(self) -> list[str]:
        value = self.settings.value("recent_files", [])
        if isinstance(value, str):  # QSettings returns a lone string for one entry
            value = [value]
        return [str(v) for v in (value or [])]

    def _add_recent(self, path: str) -> None:
        path = str(Path(path).resolve())
        recent = [path] + [p for p in self.recent_files() if p != path]
        self.settings.setValue("recent_files", recent[:MAX_RECENT])
        self._refresh_recent()

    def _refresh_recent(self) -> None:
        self.recent_menu.clear()
        for path in self.recent_files():
            action = self.recent_menu.addAction(path)
            action.triggered.connect(lambda _=False, p=path: self.open_path(p))
        self.recent_menu.setEnabled(bool(self.recent_files()))

    # -- workspace ---------------------------------------------------------------------------
    def attach_workspace(self, controller) -> None:
        """Make ``controller`` (a logged-in WorkspaceController) the window's workspace."""
        if self.workspace is not None and self.workspace is not controller:
            self.detach_workspace()
        self.workspace = controller
        self.workspace_changed.emit(controller)

    def detach_workspace(self) -> None:
        """Close the workspace session (logs out) and return to the plain viewer."""
        controller, self.workspace = self.workspace, None
        if controller is not None:
            controller.close()
            self.workspace_changed.emit(None)

    def cover(self, widget) -> None:
        """Hide every image behind ``widget``: views, docks and tool bars hidden, actions off."""
        if self._covered is not None:
            return
        from PySide6.QtWidgets import QToolBar

        docks = [d for d in self.findChildren(QDockWidget) if d.isVisible()]
        bars = [b for b in self.findChildren(QToolBar) if b.isVisible()]
        # (the cover's own widgets keep their actions: a line edit's are internal to it)
        actions = [a for a in self.findChildren(QAction) if a.isEnabled()
                   and not (isinstance(a.parent(), QWidget)
                            and (a.parent() is widget or widget.isAncestorOf(a.parent())))]
        for w in docks + bars:
            w.hide()
        for a in actions:
            a.setEnabled(False)  # no shortcut may reach the hidden views (Ctrl+Z, tools)
        self.menuBar().setEnabled(False)
        if self.stack.indexOf(widget) < 0:
            self.stack.addWidget(widget)
        self.stack.setCurrentWidget(widget)
        self._covered = (docks, bars, actions)

    def uncover(self) -> None:
        """Undo :meth:`cover`: the views, docks, tool bars and actions as they were."""
        if self._covered is None:
            return
        docks, bars, actions = self._covered
        self._covered = None
        self.stack.setCurrentIndex(0)
        for w in docks + bars:
            w.show()
        for a in actions:
            a.setEnabled(True)
        self.menuBar().setEnabled(True)

    @property
    def covered(self) -> bool:
        return self._covered is not None

    def closeEvent(self, event) -> None:  # noqa: N802 - Qt API
        if self.workspace is not None:
            if not self.workspace.confirm_leave():  # Cancel: keep the window open
                event.ignore()
                return
            self.detach_workspace()
        if self.loader is not None and self.loader.is_running():
            self.loader.wait()
        super().closeEvent(event)


def install_editor(window: MainWindow) -> bool:
    """Add the editing tools when viewers.qt.editor exists (built by another part)."""
    try:
        from viewers.qt import editor
    except ModuleNotFoundError as exc:
        if exc.name != "viewers.qt.editor":
            raise
        return False
    from app.settings import SettingsError, load_settings

    try:
        undo_mb = load_settings()["undo_memory_mb"]
    except SettingsError:  # a broken settings file must not cost the user the editor
        undo_mb = editor.DEFAULT_MAX_BYTES // 2**20
    editor.install(window, max_bytes=int(undo_mb) * 2**20)
    return True
