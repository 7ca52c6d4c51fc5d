"""Optional OpenVINO backend for the sliding window (CPU): same network, compiled by OpenVINO.

On this project's CPUs OpenVINO's fp32 convolutions beat PyTorch eager clearly (see
``benchmarks/bench_proposal.py``), with the same argmax. Conversion (tracing the network)
costs seconds, so a compiled network is kept per process, keyed by the network object,
its input shape and its weights, and reused for every later proposal with that model -- the
GUI pays it once. Precision stays fp32 ("same output"); bf16 is faster but moves argmax
agreement to ~99.9 %, at the limit we accept, so it is not used.

The network is compiled for a *static* shape of one window, and a window batch is run one
window at a time. OpenVINO plans memory and picks kernels once for a static shape; with a
dynamic batch dimension the same network ran 15-25 % slower per window on an AVX2 CPU,
while a static batch of 4 was no faster per window than a batch of 1
(``benchmarks/bench_proposal.py``).
"""

from __future__ import annotations

import threading

_CACHE: dict = {}
_CACHE_SIZE = 3
_LOCK = threading.Lock()


def available() -> bool:
    try:
        import openvino  # noqa: F401
    except ImportError:
        return False
    return True


class CompiledNetwork:
    """Callable like the torch network: ``(B, C, *roi)`` tensor in, logits tensor out."""

    def __init__(self, compiled):
        self.request = compiled.create_infer_request()
        self.request_lock = threading.Lock()

    def __call__(self, batch):
        import numpy as np
        import torch

        windows = batch.detach().cpu().float().numpy()
        outputs = []
        with self.request_lock:
            for window in windows:
                self.request.infer({0: np.ascontiguousarray(window[None])})
                # copy: the request's output buffer is overwritten by the next window
                outputs.append(np.array(self.request.get_output_tensor(0).data))
        return torch.from_numpy(np.concatenate(outputs, axis=0))


def compile_network(network, channels: int, roi_size) -> CompiledNetwork:
    """Convert ``network`` for window batches ``(B, channels, *roi_size)`` (cached).

    The compiled model takes one window ``(1, channels, *roi_size)``; the returned callable
    accepts any batch size and runs its windows in turn. A network that failed to convert
    raises the same error again without being traced a second time.
    """
    key = (id(network), channels, tuple(int(r) for r in roi_size))
    with _LOCK:
        hit = _CACHE.get(key)
        if hit is not None and hit[0] is network:
            if isinstance(hit[1], Exception):
                raise hit[1]  # a network that failed to convert is not traced again
            return hit[1]
        if len(_CACHE) >= _CACHE_SIZE:  # the GUI keeps one model loaded; keep a few
            _CACHE.pop(next(iter(_CACHE)))
        try:
            wrapper = _convert(network, channels, key[2])
        except Exception as exc:
            _CACHE[key] = (network, exc)
            raise
        _CACHE[key] = (network, wrapper)
        return wrapper


def _convert(network, channels: int, roi: tuple) -> CompiledNetwork:
    import copy

    import openvino as ov
    import torch

    example = torch.zeros((1, channels) + roi)
    # Tracing must not see inference tensors or a channels-last layout: use a clean copy.
    if isinstance(network, torch.jit.ScriptModule):
        clean = network  # TorchScript is converted as it is (deepcopy is not supported)
    elif isinstance(network, torch.nn.Module):
        clean = copy.deepcopy(network).float().to(memory_format=torch.contiguous_format)
    else:
        clean = network
    with torch.no_grad():
        model = ov.convert_model(clean, example_input=example,
                                 input=[ov.PartialShape([1, channels, *roi])])
    compiled = ov.Core().compile_model(model, "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
    return CompiledNetwork(compiled)
