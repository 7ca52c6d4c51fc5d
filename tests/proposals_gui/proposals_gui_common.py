"""Helpers of the proposal GUI tests: a small crop of the Colin27 demo and a window."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QSettings

from viewers.volume import Volume

_CACHE: dict = {}


def colin_crop(size: int = 48) -> Volume:
    """A ``size``^3 crop around the centre of the Colin27 T1 (real MRI, real geometry)."""
    if size not in _CACHE:
        from app.demo import DEMO_T1
        from viewers.io import read_volume

        vol = read_volume(str(DEMO_T1))
        h = size // 2
        k, j, i = (n // 2 for n in vol.shape)
        arr = np.ascontiguousarray(vol.array[k - h:k + h, j - h:j + h, i - h:i + h])
        affine = vol.affine_lps.copy()
        affine[:3, 3] = vol.index_to_lps((i - h, j - h, k - h))
        _CACHE[size] = Volume(arr, affine)
    return _CACHE[size]


def colin_small(factor: int = 4):
    """The whole Colin27 head every ``factor``-th voxel (46x55x46 at 4 mm for 4), and the
    reference brain mask (ch2bet) on the same grid: a real model sees a whole head, fast."""
    key = ("small", factor)
    if key not in _CACHE:
        from app.demo import DEMO_BRAIN, DEMO_T1
        from viewers.io import read_volume

        vol = read_volume(str(DEMO_T1))
        brain = read_volume(str(DEMO_BRAIN))
        sub = (slice(None, None, factor),) * 3
        affine = vol.affine_lps.copy()
        affine[:3, :3] *= factor
        _CACHE[key] = (Volume(np.ascontiguousarray(vol.array[sub]), affine),
                       np.ascontiguousarray(brain.array[sub] > 0))
    return _CACHE[key]


def make_window(qtbot, tmp_path, volume=None):
    """A MainWindow with the edit tools and the proposals installed, showing ``volume``."""
    from app.gui.mainwindow import MainWindow, install_editor
    from app.gui.proposals import install_proposals

    window = MainWindow(QSettings(str(tmp_path / "s.ini"), QSettings.IniFormat))
    qtbot.addWidget(window)
    install_editor(window)
    ctl = install_proposals(window)
    window.set_volume(volume if volume is not None else colin_crop())
    window.show()
    return window, ctl


def fake_proposal(volume, model_id="fake@1", sha="cd" * 32):
    """A models.proposal.Proposal of a ball in the middle (for plumbing tests)."""
    from models.proposal import Proposal, SegmentInfo

    k, j, i = np.indices(volume.shape)
    c = [n / 2 for n in volume.shape]
    r = np.sqrt((k - c[0]) ** 2 + (j - c[1]) ** 2 + (i - c[2]) ** 2)
    labels = (r < min(volume.shape) / 4).astype(np.uint8)
    conf = np.where(np.abs(r - min(volume.shape) / 4) < 2, 150, 250).astype(np.uint8)
    return Proposal(labels, conf, volume.affine_lps, (SegmentInfo(1, "brain", "12738006"),),
                    model_id, sha)


class SlowModel:
    """A stand-in model for the proposal process: many progress steps, then a ball (or an
    error). Picklable, so it travels to the spawned child like a ModelSpec."""

    model_id = None

    def __init__(self, steps=400, fail: str | None = None):
        self.steps, self.fail = steps, fail

    def propose(self, images, affine_lps, progress=None, fast=True, **kw):
        import time

        from models.errors import ModelError
        from viewers.volume import Volume

        for n in range(self.steps):
            if progress is not None:
                progress(n + 1, self.steps, "inference")
            time.sleep(0.01)
        if self.fail:
            raise ModelError("slow", self.fail)
        return fake_proposal(Volume(np.asarray(images), affine_lps), "slow@1", "ef" * 32)
