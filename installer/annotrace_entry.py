"""Entry point of the PyInstaller build: the same ``main`` as the ``annotrace`` console script."""

import multiprocessing
import sys

from app.cli.main import main

if __name__ == "__main__":
    # torch/MONAI workers (and anything else that spawns) re-enter this executable.
    multiprocessing.freeze_support()
    sys.exit(main())
