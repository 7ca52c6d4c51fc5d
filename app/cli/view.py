"""``annotrace view [PATH] [--series UID] [--workspace DIR]``: the viewer (``annotrace``
alone opens the demo, or the ``workspace_location`` setting's workspace when it is set).

Qt is imported only inside :func:`run`, so listing commands stays light.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path


class NoDisplayError(Exception):
    """The GUI cannot start because there is no screen to show it on."""

    exit_code = 2


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "view", help="open the viewer on PATH (the built-in demo study when none is given)",
        description="Open the viewer. Without PATH it shows the built-in demo study "
                    "(the Colin27 T1 MRI).")
    parser.add_argument("path", nargs="?", help="a NIfTI/NRRD/MHA file, a DICOM file or folder")
    parser.add_argument("--series", metavar="UID", help="which series of a DICOM folder to open")
    parser.add_argument("--workspace", metavar="DIR",
                        help="open the workspace DIR (log in; a new or empty folder is offered "
                             "to be created as a workspace); default: the workspace_location "
                             "setting")
    parser.set_defaults(func=run)


def _has_display() -> bool:
    if not sys.platform.startswith("linux"):
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
                or os.environ.get("QT_QPA_PLATFORM"))


def run(args) -> int:
    from viewers.io.errors import InputError

    workspace = getattr(args, "workspace", None)
    if workspace is None:
        from app.settings import load_settings

        workspace = load_settings()["workspace_location"] or None
    if workspace is not None:
        ws = Path(workspace)
        if ws.exists() and not ws.is_dir():
            raise InputError(ws, "not a folder (a workspace is a folder)")
    if args.path is None:
        from app.demo import DEMO_T1

        path = None if workspace is not None else DEMO_T1
    else:
        path = Path(args.path)
        if not path.exists():  # fail here, in one line, rather than in a dialog
            raise InputError(path, "no such file or directory")
    if not _has_display():
        raise NoDisplayError("no display to open the viewer on (DISPLAY is not set); "
                             "use xvfb-run or QT_QPA_PLATFORM=offscreen")
    from app.gui.application import run_gui

    if workspace is None:
        return run_gui(path, args.series)
    return run_gui(path, args.series, workspace=workspace)
