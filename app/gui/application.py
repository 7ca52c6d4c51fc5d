"""Starting the GUI: QApplication, the main window, the first image, an optional screenshot."""

from __future__ import annotations

import os
import sys
from pathlib import Path

#: When set to a file name, the window saves a grab of itself there once the first image is
#: shown, and quits (scripts/screenshot.sh uses it under Xvfb).
SCREENSHOT_ENV = "ANNOTRACE_SCREENSHOT"


def build_window(path=None, series_uid=None):
    """The main window (editor tools installed when available), loading ``path``."""
    from app.gui.mainwindow import MainWindow, install_editor

    window = MainWindow()
    install_editor(window)
    if path is not None:
        window.open_path(path, series_uid)
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


def run_gui(path=None, series_uid=None) -> int:
    """Run the application until its window closes; returns the exit status."""
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("annotrace")
    app.setOrganizationName("annotrace")
    window = build_window(path, series_uid)
    target = os.environ.get(SCREENSHOT_ENV)
    if target:
        _schedule_screenshot(window, app, str(Path(target).resolve()))
    window.show()
    return app.exec()
