"""Starting the GUI: QApplication, the main window, the first image, an optional screenshot."""

from __future__ import annotations

import os
import sys
from pathlib import Path

#: When set to a file name, the window saves a grab of itself there once the first image is
#: shown, and quits (scripts/screenshot.sh uses it under Xvfb).
SCREENSHOT_ENV = "ANNOTRACE_SCREENSHOT"


#: (module, function) of each feature that installs itself on the window when it exists
FEATURES = (
    ("app.gui.proposals", "install_proposals"),
    ("app.gui.improve_model", "install_improve_model"),
    ("app.gui.pacs_dialog", "install_pacs"),
    ("app.gui.quality_dashboard", "install_quality_dashboard"),
    ("app.gui.admin_dialogs", "install_admin"),
)


def install_features(window) -> list[str]:
    """Call each feature's ``install_<feature>(window)`` whose module exists; return the
    names installed. A missing module is skipped; any other import error is a bug and raises."""
    import importlib

    installed = []
    for module_name, function in FEATURES:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name != module_name:
                raise
            continue
        getattr(module, function)(window)
        installed.append(function)
    return installed


def build_window(path=None, series_uid=None, workspace=None, settings=None, kdf=None):
    """The main window (editor tools and the available features installed), loading ``path``.

    ``workspace``: a folder to open in workspace mode at once (login, or creation of a new
    workspace in an empty folder); ``settings``: a QSettings for the window (tests);
    ``kdf``: key-derivation cost for a workspace created here (tests only).
    """
    from app.gui.mainwindow import MainWindow, install_editor

    window = MainWindow(settings)
    install_editor(window)
    install_features(window)
    if path is not None:
        window.open_path(path, series_uid)
    if workspace is not None:
        from app.gui.workspace import open_workspace_interactive

        open_workspace_interactive(window, workspace, kdf=kdf)
    return window


def _schedule_screenshot(window, app, target: str) -> None:
    from PySide6.QtCore import QTimer

    def grab(*_):
        # Let the layout settle and the views paint once before grabbing.
        def save():
            window.grab().save(target)
            app.quit()

        QTimer.singleShot(800, save)

    window.volume_loaded.connect(grab)
    QTimer.singleShot(60000, app.quit)  # never hang a script when loading fails


def run_gui(path=None, series_uid=None, workspace=None) -> int:
    """Run the application until its window closes; returns the exit status."""
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("annotrace")
    app.setOrganizationName("annotrace")
    window = build_window(path, series_uid, workspace=workspace)
    target = os.environ.get(SCREENSHOT_ENV)
    if target:
        _schedule_screenshot(window, app, str(Path(target).resolve()))
    window.show()
    return app.exec()
