"""A small, reusable supervised training loop for segmentation networks (CPU friendly).

Used by the built-in model's recipe (:mod:`models.train_brainmask`) and meant for
fine-tuning micro-models from approved labels later: the caller supplies the network,
a batch sampler and a validation function; the loop reports progress and can be cancelled
through the same callback as inference.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class TrainResult:
    """What a training run did."""

    steps: int
    losses: list[float] = field(default_factory=list)
    validation: list[tuple[int, float]] = field(default_factory=list)

    @property
    def best(self) -> float | None:
        return max((v for _, v in self.validation), default=None)


def train_segmentation(network, sample_batch: Callable, steps: int, lr: float = 3e-3,
                       validate: Callable | None = None, validate_every: int = 100,
                       progress: Callable | None = None, seed: int = 0,
                       freeze_norm: bool = False,
                       penalty: Callable | None = None) -> TrainResult:
    """Train ``network`` with Dice + cross-entropy and Adam (cosine learning-rate decay).

    Parameters
    ----------
    network : torch.nn.Module
        Outputs logits ``(B, C, ...)``.
    sample_batch : callable
        ``sample_batch(step) -> (images, labels)``; labels ``(B, 1, ...)`` integer classes.
    steps : int
    lr : float
    validate : callable, optional
        ``validate(network) -> float`` (e.g. Dice on held-out data); run in eval mode.
    progress : callable, optional
        ``progress(done, total, stage)``; may raise Cancelled.
    freeze_norm : bool
        Keep batch-norm layers in eval mode (their running statistics fixed, their affine
        weights still trained): for fine-tuning with batches of one or two patches, whose
        statistics would otherwise overwrite those learnt from the whole training set.
    penalty : callable, optional
        ``penalty(network) -> scalar tensor`` added to the loss each step (e.g. an L2 pull
        towards pretrained weights when fine-tuning on a few cases); the recorded losses
        exclude it.
    """
    import torch
    from monai.losses import DiceCELoss
    from monai.utils import set_determinism

    set_determinism(seed=seed)
    loss_fn = DiceCELoss(to_onehot_y=True, softmax=True)
    optimizer = torch.optim.Adam(network.parameters(), lr=lr)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=steps)
    result = TrainResult(steps=steps)
    norms = [m for m in network.modules()
             if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)] if freeze_norm else []
    for step in range(1, steps + 1):
        network.train()
        for m in norms:
            m.eval()
        images, labels = sample_batch(step)
        optimizer.zero_grad(set_to_none=True)
        loss = loss_fn(network(images), labels)
        (loss if penalty is None else loss + penalty(network)).backward()
        optimizer.step()
        schedule.step()
        result.losses.append(float(loss.detach()))
        if validate is not None and (step % validate_every == 0 or step == steps):
            network.eval()
            with torch.no_grad():
                result.validation.append((step, float(validate(network))))
        if progress is not None:
            progress(step, steps, "training")
    network.eval()
    set_determinism(seed=None)
    return result
