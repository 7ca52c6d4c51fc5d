"""A case's embedding as the network sees it: its coarsest feature map, averaged.

Active learning with diversity (:func:`models.quality.ranking.rank_cases`) needs a description
of each case in which cases the network treats alike lie close together and a case from a
domain it was not trained on lies far from its training data (the core-set idea of Sener &
Savarese, ICLR 2018). The encoder's deepest activations are that description: for an
encoder-decoder such as MONAI's UNet, the coarsest feature map is the bottleneck.

:func:`network_embedding` runs the network over a case with the same sliding window as a
proposal and, for every window, records the channel means of the last module output at the
coarsest spatial resolution (found by forward hooks, so it works for any ``torch.nn.Module``
without knowing its layer names); the embedding is the mean over windows.
"""

from __future__ import annotations

import numpy as np

__all__ = ["network_embedding"]


class _Coarsest:
    """Forward hooks keeping the channel means of the coarsest 5D output of one call."""

    def __init__(self, network):
        self.handles = [m.register_forward_hook(self._hook) for m in network.modules()
                        if m is not network]
        self.best = None  # (spatial voxels, channel means) of the current window batch

    def _hook(self, module, args, output):
        if not hasattr(output, "dim") or output.dim() != 5:
            return
        voxels = int(np.prod(output.shape[2:]))
        # "<=": among outputs at the coarsest scale keep the last (the bottleneck's output)
        if self.best is None or voxels <= self.best[0]:
            self.best = (voxels, output.detach().float().mean(dim=(2, 3, 4)))

    def remove(self) -> None:
        for handle in self.handles:
            handle.remove()


def network_embedding(network, inputs, inferer) -> np.ndarray:
    """Mean bottleneck activation of ``network`` over one case.

    Parameters
    ----------
    network : torch.nn.Module
        The segmentation network (eval mode).
    inputs : torch.Tensor (1, C, *spatial)
        The case after the model's own preprocessing.
    inferer : monai.inferers.Inferer
        The model's inferer (a sliding window visits every part of the case).

    Returns
    -------
    ndarray (n_channels,)
        Channel means of the coarsest feature map, averaged over windows.
    """
    import torch

    if not isinstance(network, torch.nn.Module):
        raise TypeError("network_embedding needs a torch.nn.Module (hooks), got "
                        f"{type(network).__name__}")
    hooks = _Coarsest(network)
    per_window: list = []

    def predictor(batch):
        hooks.best = None
        out = network(batch)
        if hooks.best is not None:
            per_window.append(hooks.best[1])
        return out

    try:
        with torch.inference_mode():
            inferer(inputs, predictor)
    finally:
        hooks.remove()
    if not per_window:
        raise ValueError("the network produced no 5D feature map to embed")
    return torch.cat(per_window, dim=0).mean(dim=0).cpu().numpy().astype(np.float64)
