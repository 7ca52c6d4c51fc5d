"""Sliding-window inference with progress, cancellation and a faster CPU path.

MONAI's :class:`~monai.inferers.SlidingWindowInferer` has no progress hook and no way to
stop it. We keep MONAI's inferer (same windows, same blending, so the same output) and
wrap the *predictor* it calls once per window batch: the wrapper reports progress, and the
progress callback is a cancellation point (it may raise :class:`models.errors.Cancelled`).

The fast path (``fast=True``) changes only how each window batch is computed:

* ``torch.inference_mode`` and all CPU threads;
* channels-last 3D memory format for the network's weights and each window batch: oneDNN's
  3D convolutions run markedly faster in that layout on CPU (measured in
  ``benchmarks/bench_proposal.py``); the numbers computed are the same up to rounding;
* windows whose input is constant (air after intensity clipping, zero padding) are not run
  through the network: a network's output on a constant window depends only on that
  constant, so it is computed once per value and reused. This is exact, not an
  approximation (up to floating-point summation order).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence

from models.errors import Cancelled

log = logging.getLogger(__name__)

#: ``progress(done, total, stage)``; may raise Cancelled.
ProgressFn = Callable[[int, int, str], None]

__all__ = ["Cancelled", "ProgressFn", "WindowPredictor", "count_window_batches",
           "run_inferer"]


def count_window_batches(spatial_shape: Sequence[int], roi_size: Sequence[int],
                         overlap: float, sw_batch_size: int) -> int:
    """How many predictor calls MONAI's sliding window makes on one image."""
    from monai.data.utils import dense_patch_slices
    from monai.inferers.utils import _get_scan_interval
    from monai.utils import ensure_tuple_rep, fall_back_tuple

    roi = fall_back_tuple(roi_size, spatial_shape)
    overlap = ensure_tuple_rep(overlap, len(spatial_shape))
    padded = tuple(max(s, r) for s, r in zip(spatial_shape, roi))
    scan = _get_scan_interval(padded, roi, len(padded), overlap)
    n_windows = len(dense_patch_slices(padded, roi, scan))
    return max(1, math.ceil(n_windows / max(1, int(sw_batch_size))))


class WindowPredictor:
    """The callable MONAI's inferer runs per window batch: progress, cancel, fast path.

    Parameters
    ----------
    network : callable
        ``network(batch) -> logits`` (a torch module or TorchScript function).
    total : int
        Expected number of calls (for the progress fraction).
    progress : ProgressFn, optional
    stage : str
        Name passed to ``progress``.
    fast : bool
        Reuse the output of constant windows (see module docstring).
    """

    def __init__(self, network, total: int, progress: ProgressFn | None = None,
                 stage: str = "inference", fast: bool = True):
        self.network = network
        self.total = total
        self.progress = progress
        self.stage = stage
        self.fast = fast
        self.done = 0
        self.skipped_windows = 0
        self.run_windows = 0
        self._constant_cache: dict = {}

    def __call__(self, batch, *args, **kwargs):
        import torch

        if self.fast and batch.dim() == 5 and batch.device.type == "cpu":
            batch = batch.contiguous(memory_format=torch.channels_last_3d)
        if self.fast:
            out = self._fast_batch(batch, *args, **kwargs)
        else:
            out = self.network(batch, *args, **kwargs)
            self.run_windows += batch.shape[0]
        self.done += 1
        if self.progress is not None:
            self.progress(min(self.done, self.total), self.total, self.stage)
        if isinstance(out, torch.Tensor):
            out = out.contiguous()  # MONAI's aggregation is fastest on the default layout
        return out

    def _fast_batch(self, batch, *args, **kwargs):
        import torch

        flat = batch.reshape(batch.shape[0], batch.shape[1], -1)
        lo, hi = flat.amin(dim=2), flat.amax(dim=2)
        constant = (lo == hi).all(dim=1)
        if not bool(constant.any()):
            self.run_windows += batch.shape[0]
            return self.network(batch, *args, **kwargs)
        outputs: list = [None] * batch.shape[0]
        keys = [tuple(lo[n].tolist()) if bool(constant[n]) else None
                for n in range(batch.shape[0])]
        for n, key in enumerate(keys):
            if key is None:
                continue
            cache_key = (key, tuple(batch.shape[2:]))
            if cache_key not in self._constant_cache:
                self._constant_cache[cache_key] = self.network(batch[n:n + 1], *args, **kwargs)
                self.run_windows += 1
            else:
                self.skipped_windows += 1
            outputs[n] = self._constant_cache[cache_key]
        rest = [n for n, key in enumerate(keys) if key is None]
        if rest:
            computed = self.network(batch[rest], *args, **kwargs)
            self.run_windows += len(rest)
            for m, n in enumerate(rest):
                outputs[n] = computed[m:m + 1]
        return torch.cat(outputs, dim=0)


def run_inferer(inferer, inputs, network, progress: ProgressFn | None = None,
                stage: str = "inference", fast: bool = True, backend: str = "torch"):
    """Run a MONAI inferer on ``inputs`` with progress, cancellation and the fast path.

    A :class:`~monai.inferers.SlidingWindowInferer` reports once per window batch; any
    other inferer (``SimpleInferer``) reports once. Returns ``(output, predictor)``; the
    predictor's ``run_windows``/``skipped_windows`` say what the fast path saved.
    ``backend="openvino"`` runs each window batch through OpenVINO (CPU, fp32; see
    :mod:`models.openvino_backend`), ``"torch"`` through the network itself, and
    ``"auto"`` through OpenVINO where it is installed and converts the network (on CPU,
    sliding window only), else through the network itself.
    """
    import torch
    from monai.inferers import SlidingWindowInferer

    if isinstance(inferer, SlidingWindowInferer):
        total = count_window_batches(inputs.shape[2:], inferer.roi_size, inferer.overlap,
                                     inferer.sw_batch_size)
    else:
        total = 1
    compiled = None
    if backend in ("openvino", "auto") and inputs.device.type == "cpu" \
            and hasattr(inferer, "roi_size"):
        compiled = _openvino(network, inferer, inputs, required=backend == "openvino")
    if compiled is not None:
        network = compiled
    elif fast and inputs.dim() == 5 and inputs.device.type == "cpu":
        _channels_last(network)
    predictor = WindowPredictor(network, total, progress, stage, fast)
    if progress is not None:
        progress(0, total, stage)
    if fast:
        threads = torch.get_num_threads()
        try:
            import os

            torch.set_num_threads(max(threads, os.cpu_count() or 1))
            with torch.inference_mode():
                out = inferer(inputs, predictor)
        finally:
            torch.set_num_threads(threads)
    else:
        with torch.no_grad():
            out = inferer(inputs, predictor)
    return out, predictor


def _openvino(network, inferer, inputs, required: bool):
    """The network compiled by OpenVINO, or None where ``auto`` cannot use it."""
    from monai.utils import fall_back_tuple

    from models import openvino_backend

    if not required and not openvino_backend.available():
        return None
    roi = fall_back_tuple(inferer.roi_size, inputs.shape[2:])
    try:
        return openvino_backend.compile_network(network, inputs.shape[1], roi)
    except Exception as exc:  # noqa: BLE001 - for auto, any conversion failure means "torch"
        if required:
            raise
        log.warning("OpenVINO cannot run this network (%s: %s); using PyTorch",
                    type(exc).__name__, str(exc).splitlines()[0] if str(exc) else "")
        return None


def _channels_last(network) -> None:
    """Put a module's 5D weights in channels-last-3D layout, in place (values unchanged)."""
    import torch

    if getattr(network, "_annotrace_channels_last", False) or not hasattr(network, "to"):
        return
    try:
        network.to(memory_format=torch.channels_last_3d)
        network._annotrace_channels_last = True
    except (RuntimeError, TypeError, AttributeError):  # e.g. a TorchScript function
        pass
