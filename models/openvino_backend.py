"""Optional OpenVINO backend for the sliding window (CPU): same network, compiled by OpenVINO.

On this project's CPUs OpenVINO's fp32 convolutions beat PyTorch eager clearly (see
``benchmarks/bench_proposal.py``), with the same argmax. Conversion (tracing the network)
costs seconds, so a compiled network is kept per process, keyed by the network object,
its input shape and its weights, and reused for every later proposal with that model -- the
GUI pays it once. Precision stays fp32 ("same output"); bf16 is faster but moves argmax
agreement to ~99.9 %, at the limit we accept, so it is not used.
"""

from __future__ import annotations

import threading

_CACHE: dict = {}
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
        self.compiled = compiled
        self.request_lock = threading.Lock()

    def __call__(self, batch):
        import numpy as np
        import torch

        with self.request_lock:
            out = self.compiled(np.ascontiguousarray(batch.detach().cpu().numpy()))[0]
        return torch.from_numpy(np.array(out))


def compile_network(network, channels: int, roi_size) -> CompiledNetwork:
    """Convert ``network`` for inputs ``(any batch, channels, *roi_size)`` (cached)."""
    import copy

    import openvino as ov
    import torch

    key = (id(network), channels, tuple(int(r) for r in roi_size))
    with _LOCK:
        hit = _CACHE.get(key)
        if hit is not None and hit[0] is network:
            return hit[1]
        example = torch.zeros((1, channels) + key[2])
        # Tracing must not see inference tensors or a channels-last layout: use a clean copy.
        if isinstance(network, torch.jit.ScriptModule):
            clean = network  # TorchScript is converted as it is (deepcopy is not supported)
        elif isinstance(network, torch.nn.Module):
            clean = copy.deepcopy(network).float().to(memory_format=torch.contiguous_format)
        else:
            clean = network
        with torch.no_grad():
            model = ov.convert_model(clean, example_input=example,
                                     input=[ov.PartialShape([-1, channels, *key[2]])])
        compiled = ov.Core().compile_model(model, "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
        wrapper = CompiledNetwork(compiled)
        _CACHE[key] = (network, wrapper)
        return wrapper
