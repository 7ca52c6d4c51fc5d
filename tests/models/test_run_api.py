"""The Qt-free API a GUI worker uses: generator with progress, cancellation by closing."""

import threading
import time

import numpy as np
import pytest

from models.errors import Cancelled
from models.proposal import Proposal
from models.run import CancelToken, Progress, iter_propose, propose


@pytest.fixture(scope="module")
def head(colin_t1):
    """Colin27 cut to the top of the head (small, still a real T1)."""
    import nibabel as nib

    img = nib.load(str(colin_t1))
    return np.asarray(img.dataobj).T[90:150], np.diag([-1.0, -1.0, 1.0, 1.0]) @ img.affine


def test_generator_yields_progress_then_the_proposal(head):
    image, affine = head
    items = list(iter_propose("brainmask-unet", image, affine))
    assert all(isinstance(i, Progress) for i in items[:-1])
    assert isinstance(items[-1], Proposal)
    assert items[0].done == 0 and items[-2].done == items[-2].total > 1
    assert items[-1].labels.shape == image.shape


class _SlowModel:
    """A runnable model with 50 window batches that records how far it got."""

    def __init__(self):
        self.batches = 0
        self.finished = threading.Event()

    def propose(self, images, affine_lps, progress=None, fast=True):
        try:
            for n in range(51):
                progress(n, 50, "inference")
                self.batches = n
                time.sleep(0.01)
        finally:
            self.finished.set()


def test_closing_the_generator_cancels_the_run():
    model = _SlowModel()
    gen = iter_propose(model, np.zeros((4, 4, 4)), np.eye(4))
    assert next(gen).done == 0
    gen.close()
    assert model.finished.wait(5)
    assert model.batches < 50


def test_cancel_token_stops_a_run_at_a_window_batch(head):
    image, affine = head
    token = CancelToken()
    seen = []

    def on_progress(done, total, stage):
        seen.append(done)
        if done == 1:
            token.cancel()

    with pytest.raises(Cancelled):
        propose("brainmask-unet", image, affine, progress=token.progress(on_progress))
    assert seen == [0, 1]
