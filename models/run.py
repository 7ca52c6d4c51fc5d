"""The Qt-free entry point a GUI worker or a batch job calls to get a proposal.

Two equivalent styles:

* :func:`propose` with a ``progress(done, total, stage)`` callback, called once per
  sliding-window batch; the callback may raise :class:`~models.errors.Cancelled` (or use a
  :class:`CancelToken`, whose :meth:`~CancelToken.check` does it) to stop the run there;
* :func:`iter_propose`, a generator that yields :class:`Progress` events and finally the
  :class:`~models.proposal.Proposal`; closing the generator cancels the run at the next
  window batch (napari-style generator workers).
"""

from __future__ import annotations

import queue
import threading
from dataclasses import dataclass

from models.errors import Cancelled
from models.proposal import Proposal


@dataclass(frozen=True)
class Progress:
    """One progress event: ``done`` of ``total`` window batches of ``stage``."""

    done: int
    total: int
    stage: str


class CancelToken:
    """A thread-safe flag; ``check`` raises :class:`Cancelled` once :meth:`cancel` was called."""

    def __init__(self):
        self._event = threading.Event()

    def cancel(self) -> None:
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def check(self) -> None:
        if self._event.is_set():
            raise Cancelled("proposal cancelled")

    def progress(self, callback=None):
        """A progress callback that forwards to ``callback`` and honours this token."""

        def report(done: int, total: int, stage: str) -> None:
            self.check()
            if callback is not None:
                callback(done, total, stage)

        return report


def _spec(model, registry_path=None, model_dir=None):
    from models.registry import ModelSpec, resolve

    return model if isinstance(model, ModelSpec) else resolve(str(model), registry_path,
                                                              model_dir)


def propose(model, images, affine_lps, progress=None, fast: bool = True, device=None,
            registry_path=None, **options) -> Proposal:
    """Run a model on one image and return its proposal on the input's exact grid.

    Parameters
    ----------
    model : str or ModelSpec or a loaded model
        Built-in name, registered bundle name or bundle folder; or an object with
        ``propose`` (a model already loaded, to reuse it across cases).
    images : ndarray (k, j, i) or list of them
        Several arrays on one grid are the channels of a multi-channel model.
    affine_lps : (4, 4) array
        Index ``(i, j, k)`` -> LPS mm of the input grid.
    progress : callable, optional
        ``progress(done, total, stage)``; may raise Cancelled.
    fast : bool
        Use the faster CPU path (see :mod:`models.sliding`); same output.
    device : str, optional
        "cpu" or "cuda"; default CUDA when available.
    **options
        ``backend="openvino"`` (CPU; see :mod:`models.openvino_backend`) where the model
        supports it; model-specific (bundles: ``roi_size`` override for tests on tiny volumes).
    """
    runnable = model if hasattr(model, "propose") else _spec(model, registry_path).load(
        device=device)
    return runnable.propose(images, affine_lps, progress=progress, fast=fast, **options)


def iter_propose(model, images, affine_lps, **kwargs):
    """Generator form of :func:`propose`: yields Progress events, then the Proposal.

    The model runs in a daemon thread; ``generator.close()`` (or dropping it) cancels the
    run at its next window batch. Errors of the run are re-raised in the consumer.
    """
    token = CancelToken()
    events: queue.Queue = queue.Queue()

    def on_progress(done, total, stage):
        token.check()
        events.put(Progress(done, total, stage))

    def work():
        try:
            events.put(propose(model, images, affine_lps, progress=on_progress, **kwargs))
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer
            events.put(exc)

    thread = threading.Thread(target=work, name="annotrace-proposal", daemon=True)
    thread.start()
    try:
        while True:
            item = events.get()
            if isinstance(item, BaseException):
                raise item
            yield item
            if isinstance(item, Proposal):
                return
    finally:
        token.cancel()
