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
:func:`case_embedding` does the same for a loaded model of the registry, through the model's
own ``propose`` (its preprocessing and inferer), for the workspace's ranking with diversity.
"""

from __future__ import annotations

import numpy as np

__all__ = ["CASE_EMBEDDING_METHOD", "case_embedding", "embeddable_network",
           "network_embedding"]

#: names what :func:`case_embedding` computes; stored with each kept description, so that a
#: change to the recipe (another layer, another averaging) makes every kept one describe anew
CASE_EMBEDDING_METHOD = "coarsest-feature-map channel means, torch, all windows; v1"


class _Coarsest:
    """Forward hooks keeping, for each call of ``network``, the channel means of the coarsest
    5D output of its modules (hooks on the network itself bracket each call, so every window
    batch of a sliding window gives one entry of ``per_call``)."""

    def __init__(self, network):
        self.best = None  # (spatial voxels, channel means) of the current call
        self.per_call: list = []
        self.handles = [m.register_forward_hook(self._hook) for m in network.modules()
                        if m is not network]
        self.handles += [network.register_forward_pre_hook(self._start),
                         network.register_forward_hook(self._end)]

    def _start(self, module, args):
        self.best = None

    def _hook(self, module, args, output):
        if not hasattr(output, "dim") or output.dim() != 5:
            return
        voxels = int(np.prod(output.shape[2:]))
        # "<=": among outputs at the coarsest scale keep the last (the bottleneck's output)
        if self.best is None or voxels <= self.best[0]:
            self.best = (voxels, output.detach().float().mean(dim=(2, 3, 4)))

    def _end(self, module, args, output):
        if self.best is not None:
            self.per_call.append(self.best[1])

    def remove(self) -> None:
        for handle in self.handles:
            handle.remove()

    def mean(self) -> np.ndarray | None:
        """The channel means averaged over every call, or None when there was none."""
        import torch

        if not self.per_call:
            return None
        return torch.cat(self.per_call, dim=0).mean(dim=0).cpu().numpy().astype(np.float64)


def _name(runnable) -> str:
    return getattr(getattr(runnable, "spec", None), "name", type(runnable).__name__)


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
    try:
        with torch.inference_mode():
            inferer(inputs, network)
    finally:
        hooks.remove()
    out = hooks.mean()
    if out is None:
        raise ValueError("the network produced no 5D feature map to embed")
    return out


def embeddable_network(runnable):
    """The PyTorch network of a loaded model whose layers :func:`case_embedding` observes.

    Raises
    ------
    ModelError
        The model has none (a TorchScript or other model): it cannot describe cases.
    """
    import torch

    from models.errors import ModelError

    for attr in ("net", "network"):
        net = getattr(runnable, attr, None)
        if isinstance(net, torch.nn.Module) and not isinstance(net, torch.jit.ScriptModule):
            return net
    raise ModelError(_name(runnable), "has no PyTorch network whose layers can be observed (a "
                                      "TorchScript or other model), so it cannot describe "
                                      "cases for diversity")


def case_embedding(runnable, images, affine_lps, progress=None) -> np.ndarray:
    """Mean bottleneck activation of a loaded model over one case, as it proposes on it.

    Parameters
    ----------
    runnable : loaded model
        What :meth:`models.registry.ModelSpec.load` returns, with its PyTorch network as
        ``net`` or ``network`` (brainmask-unet, MONAI bundles; not TorchScript).
    images, affine_lps
        As for :func:`models.run.propose` (index ``(i, j, k)`` -> LPS mm).
    progress : callable, optional
        ``progress(done, total, stage)`` of the proposal run.

    Returns
    -------
    ndarray (n_channels,)
        Channel means of the coarsest feature map, averaged over every network call (every
        sliding window), like :func:`network_embedding`.

    Raises
    ------
    ModelError
        The model has no PyTorch network whose layers can be observed.
    """
    from models.errors import ModelError

    hooks = _Coarsest(embeddable_network(runnable))
    try:
        # torch, full windows: OpenVINO would bypass the hooks, and the fast path skips
        # windows of air differently from case to case
        runnable.propose(images, affine_lps, progress=progress, fast=False, backend="torch")
    finally:
        hooks.remove()
    out = hooks.mean()
    if out is None:
        raise ModelError(_name(runnable), "produced no 3D feature map to describe the case with")
    return out
