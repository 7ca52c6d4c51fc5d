"""Shared fixtures: real data the tests run on, and offscreen Qt."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# Qt tests run without a screen; set before any Qt import.
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

REPO = Path(__file__).resolve().parents[1]
DEMO = REPO / "app" / "demo"


@pytest.fixture(autouse=True)
def _collect_cycles_between_tests():
    """Once a window pinned the cyclic collector to the GUI thread (app/gui/gc_pin.py), it
    runs from the event loop only; a test without one must not pile up the cycles of the
    ones before it. Collected here, on the main thread, after each test."""
    yield
    import gc

    if not gc.isenabled():
        gc.collect()


@pytest.fixture(scope="session")
def colin_t1() -> Path:
    """Colin27 T1 MRI (ch2.nii.gz from Debian's mricron-data), shipped as the demo study."""
    return DEMO / "ch2.nii.gz"


@pytest.fixture(scope="session")
def colin_brain() -> Path:
    """The brain-extracted Colin27 (ch2bet.nii.gz) on the same grid."""
    return DEMO / "ch2bet.nii.gz"


@pytest.fixture(scope="session")
def pydicom_data_dir() -> Path:
    """Folder of the pydicom-data package (real CT/MR/multi-frame/compressed/SEG files)."""
    import data_store  # the pydicom-data package (dev extra) installs it as data_store

    return Path(data_store.__file__).resolve().parent / "data"
