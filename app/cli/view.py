"""``annotrace view [PATH] [--series UID]``: the viewer (``annotrace`` alone opens the demo).

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
    parser.set_defaults(func=run)


def _has_display() -> bool:
    if not sys.platform.startswith("linux"):
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
                or os.environ.get("QT_QPA_PLATFORM"))


def run(args) -> int:
    from viewers.io.errors import InputError

    if args.path is None:
        from app.demo import DEMO_T1

        path = DEMO_T1
    else:
        path = Path(args.path)
        if not path.exists():  # fail here, in one line, rather than in a dialog
            raise InputError(path, "no such file or directory")
    if not _has_display():
        raise NoDisplayError("no display to open the viewer on (DISPLAY is not set); "
                             "use xvfb-run or QT_QPA_PLATFORM=offscreen")
    from app.gui.application import run_gui

    return run_gui(path, args.series)
