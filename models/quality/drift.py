"""Drift watch for auto-accepted units: spot checks, per-batch estimates, suspension.

A share (``spot_check_rate``) of each batch's auto-accepted units is routed, at random, to a
human who corrects it; the Dice of the proposal against the correction feeds a per-batch
estimate (mean Dice, and *precision* = share of checked units with Dice >= tolerance). When a
batch's mean Dice falls below the baseline tolerance, or its error rate is above epsilon beyond
sampling noise (the one-sided Clopper-Pearson *lower* limit at ``alpha`` exceeds epsilon), an
alert is raised and the threshold is suspended: nothing is auto-accepted until
:meth:`DriftMonitor.recalibrate` installs a new calibration. The monitor is a plain object
with ``as_json``/``from_json`` so a workspace can store it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

from models.quality.errors import QualityInputError


def clopper_pearson_lower(errors: int, n: int, alpha: float) -> float:
    """One-sided lower Clopper-Pearson limit (0 with no errors)."""
    from scipy.stats import beta

    return 0.0 if errors <= 0 or n <= 0 else float(beta.ppf(alpha, errors, n - errors + 1))


@dataclass
class BatchEstimate:
    """Spot-check outcome of one batch."""

    batch: str
    checked: int
    mean_dice: float | None
    precision: float | None
    errors: int
    error_lower_bound: float
    alert: bool
    reason: str | None


@dataclass
class DriftMonitor:
    """State of the drift watch for one task's auto-accept threshold.

    Attributes
    ----------
    threshold : float or None
        The calibrated threshold in force; None while suspended or never calibrated.
    tolerance : float
        Baseline Dice tolerance (a spot-checked unit below it is an error).
    epsilon : float
        Error rate the calibration guaranteed.
    spot_check_rate : float
        Share of auto-accepted units routed to humans.
    alpha : float
        Significance of the error-rate alert.
    seed : int
        Seed of the random routing (reproducible, auditable choices).
    suspended_threshold : float or None
        The threshold that was in force when an alert suspended it.
    batches : list of BatchEstimate
        History, oldest first.
    calibrated_at : int
        Index in ``batches`` of the first batch after the last (re)calibration.
    """

    threshold: float | None
    tolerance: float
    epsilon: float = 0.05
    spot_check_rate: float = 0.05
    alpha: float = 0.05
    seed: int = 0
    suspended_threshold: float | None = None
    batches: list[BatchEstimate] = field(default_factory=list)
    calibrated_at: int = 0

    def __post_init__(self):
        if not 0.0 <= self.spot_check_rate <= 1.0:
            raise QualityInputError("spot-check rate", f"must lie in [0, 1], got "
                                                       f"{self.spot_check_rate}")

    @property
    def suspended(self) -> bool:
        return self.suspended_threshold is not None

    def route(self, batch: str, units) -> list[str]:
        """The auto-accepted units of ``batch`` to send to a human (at least one if rate > 0).

        The draw depends only on the seed, the batch name and the units, so it can be redone
        by an auditor.
        """
        units = [str(u) for u in units]
        if not units or self.spot_check_rate == 0.0:
            return []
        key = np.frombuffer(batch.encode(), dtype=np.uint8).tolist()
        rng = np.random.default_rng([self.seed, *key])
        n = max(1, int(round(self.spot_check_rate * len(units))))
        return [units[i] for i in sorted(rng.choice(len(units), size=n, replace=False))]

    def record_batch(self, batch: str, dices) -> BatchEstimate:
        """Add the spot-checked Dice values of one batch; suspend the threshold on an alert."""
        d = np.asarray(dices, dtype=np.float64).reshape(-1)
        n = int(d.size)
        errors = int(np.count_nonzero(d < self.tolerance))
        mean = float(d.mean()) if n else None
        lower = clopper_pearson_lower(errors, n, self.alpha)
        reason = None
        if mean is not None and mean < self.tolerance:
            reason = f"mean Dice {mean:.3f} below tolerance {self.tolerance:.3f}"
        elif lower > self.epsilon:
            reason = (f"error rate {errors}/{n} is above epsilon {self.epsilon:.3f} "
                      f"(lower bound {lower:.3f})")
        est = BatchEstimate(batch, n, mean, (n - errors) / n if n else None, errors, lower,
                            reason is not None, reason)
        self.batches.append(est)
        if est.alert and self.threshold is not None:
            self.suspended_threshold, self.threshold = self.threshold, None
        return est

    def recalibrate(self, threshold: float | None) -> None:
        """Install the threshold of a new calibration and lift the suspension."""
        self.threshold = threshold
        self.suspended_threshold = None
        self.calibrated_at = len(self.batches)

    def running(self) -> dict:
        """Pooled estimate over the batches since the last (re)calibration.

        Returns ``checked``, ``mean_dice`` (weighted by units checked per batch), ``precision``
        and ``errors``; the means are None before any unit was checked.
        """
        recent = [b for b in self.batches[self.calibrated_at:] if b.checked]
        n = sum(b.checked for b in recent)
        errors = sum(b.errors for b in recent)
        mean = sum(b.mean_dice * b.checked for b in recent) / n if n else None
        return {"checked": n, "errors": errors, "mean_dice": mean,
                "precision": (n - errors) / n if n else None}

    def as_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> DriftMonitor:
        data = dict(data)
        batches = [BatchEstimate(**b) for b in data.pop("batches", [])]
        return cls(**data, batches=batches)
