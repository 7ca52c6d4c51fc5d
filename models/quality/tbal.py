"""Threshold-based auto-labelling (TBAL) with a Clopper-Pearson guarantee.

A model gives every unit (a case, or a segment of a case) a confidence. Humans validate some
units; a unit is an *error* when its Dice against the human label is below a task tolerance.
For every candidate threshold ``t`` of a fixed grid (default 0.50, 0.51, ..., 0.99) the error
rate of the validated units with confidence >= t is bounded from above by the one-sided
Clopper-Pearson limit at level ``delta / len(grid)``. Dividing delta by the number of
candidates is a union bound: with probability >= 1 - delta *every* candidate's bound holds
at once, so it still holds for the threshold the data chose. The lowest ``t`` whose bound is
<= ``epsilon`` is chosen (most coverage); when none passes, nothing is auto-accepted.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from models.quality.errors import QualityInputError

#: The default candidate grid, 0.50 ... 0.99 in steps of 0.01 (50 candidates).
DEFAULT_GRID: tuple[float, ...] = tuple(round(0.50 + 0.01 * i, 2) for i in range(50))


def clopper_pearson_upper(errors, n, alpha):
    """One-sided upper Clopper-Pearson confidence limit of a binomial proportion.

    ``P(true rate > limit) <= alpha``: the limit is the ``1 - alpha`` quantile of
    Beta(errors + 1, n - errors); 1 when ``errors == n`` or ``n == 0``. With no errors it is
    ``1 - alpha ** (1 / n)``. Vectorised over ``errors`` and ``n``.
    """
    from scipy.stats import beta

    k = np.asarray(errors, dtype=np.float64)
    n = np.asarray(n, dtype=np.float64)
    full = (k >= n) | (n <= 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        limit = beta.ppf(1.0 - alpha, k + 1.0, np.where(full, 1.0, n - k))
    out = np.where(full, 1.0, limit)
    return float(out) if out.ndim == 0 else out


def _as_grid(grid) -> np.ndarray:
    g = np.asarray(DEFAULT_GRID if grid is None else grid, dtype=np.float64)
    if g.ndim != 1 or g.size == 0 or np.any(np.diff(g) <= 0) or g[0] < 0 or g[-1] > 1:
        raise QualityInputError("grid", "thresholds must be increasing values in [0, 1]")
    return g


def _check_levels(epsilon: float, delta: float) -> None:
    if not 0.0 < epsilon < 1.0:
        raise QualityInputError("epsilon", f"must lie in (0, 1), got {epsilon}")
    if not 0.0 < delta < 1.0:
        raise QualityInputError("delta", f"must lie in (0, 1), got {delta}")


@dataclass(frozen=True)
class Calibration:
    """The outcome of :func:`calibrate`.

    Attributes
    ----------
    threshold : float or None
        Lowest grid threshold whose bound is <= epsilon; ``None`` when none passes.
    bound : float or None
        Its Clopper-Pearson upper limit of the error rate (``None`` with no threshold).
    units_used : int
        Validated units at or above the threshold (0 with no threshold).
    errors_used : int
        Errors (Dice < tolerance) among them.
    coverage : float
        Share of the validated units at or above the threshold.
    units : int
        All validated units.
    epsilon, delta, tolerance : float
        The settings it was computed with.
    grid : tuple of float
        The candidate thresholds.
    """

    threshold: float | None
    bound: float | None
    units_used: int
    errors_used: int
    coverage: float
    units: int
    epsilon: float
    delta: float
    tolerance: float | None
    grid: tuple[float, ...]

    @property
    def candidates(self) -> int:
        return len(self.grid)

    def provenance(self) -> str | None:
        """The provenance an auto-accepted unit records, or None when nothing is accepted."""
        if self.threshold is None:
            return None
        return f"auto, threshold {self.threshold:.2f}, bound {self.bound:.4f}"

    def as_json(self) -> dict:
        out = asdict(self)
        out["grid"] = [round(g, 6) for g in self.grid]
        out["candidates"] = self.candidates
        return out

    @classmethod
    def from_json(cls, data: dict) -> Calibration:
        fields = {k: data[k] for k in cls.__dataclass_fields__ if k in data}
        fields["grid"] = tuple(float(g) for g in data.get("grid", DEFAULT_GRID))
        return cls(**fields)


def threshold_table(confidence, errors, epsilon: float, delta: float, grid=None) -> list[dict]:
    """Per candidate threshold: validated units at or above it, errors, bound, pass/fail."""
    g = _as_grid(grid)
    c = np.asarray(confidence, dtype=np.float64)
    e = np.asarray(errors, dtype=bool)
    above = c[None, :] >= g[:, None]
    n = above.sum(axis=1)
    k = (above & e[None, :]).sum(axis=1)
    bounds = clopper_pearson_upper(k, n, delta / g.size)
    return [{"threshold": float(t), "units": int(nt), "errors": int(kt), "bound": float(b),
             "passes": bool(b <= epsilon)} for t, nt, kt, b in zip(g, n, k, np.atleast_1d(bounds))]


def calibrate(confidence, dice=None, *, errors=None, tolerance: float | None = None,
              epsilon: float = 0.05, delta: float = 0.05, grid=None) -> Calibration:
    """Choose the auto-accept threshold from human-validated units.

    Parameters
    ----------
    confidence : array_like of float
        Model confidence of each validated unit, in [0, 1].
    dice : array_like of float, optional
        Dice of each unit's proposal against its human label; error = ``dice < tolerance``.
    errors : array_like of bool, optional
        Error flags directly (instead of ``dice`` and ``tolerance``).
    tolerance : float
        Task tolerance on Dice (needed with ``dice``).
    epsilon : float
        Largest acceptable error rate among auto-accepted units.
    delta : float
        Allowed probability that the guarantee fails (over the draw of validated units).
    grid : sequence of float, optional
        Candidate thresholds (default :data:`DEFAULT_GRID`).
    """
    _check_levels(epsilon, delta)
    c = np.asarray(confidence, dtype=np.float64).reshape(-1)
    if errors is None:
        if dice is None or tolerance is None:
            raise QualityInputError("calibration", "give dice and tolerance, or errors")
        e = np.asarray(dice, dtype=np.float64).reshape(-1) < tolerance
    else:
        e = np.asarray(errors, dtype=bool).reshape(-1)
    if e.shape != c.shape:
        raise QualityInputError("calibration", "confidence and dice/errors differ in length")
    g = _as_grid(grid)
    table = threshold_table(c, e, epsilon, delta, g)
    chosen = next((row for row in table if row["passes"]), None)
    if chosen is None:
        return Calibration(None, None, 0, 0, 0.0, int(c.size), epsilon, delta, tolerance,
                           tuple(float(x) for x in g))
    return Calibration(chosen["threshold"], chosen["bound"], chosen["units"], chosen["errors"],
                       chosen["units"] / c.size if c.size else 0.0, int(c.size), epsilon, delta,
                       tolerance, tuple(float(x) for x in g))


@dataclass(frozen=True)
class Decision:
    """What happens to one unlabelled unit: ``"auto"`` (accepted) or ``"human"`` (worklist)."""

    unit: str
    confidence: float
    decision: str
    provenance: str | None

    def as_json(self) -> dict:
        return asdict(self)


def apply_threshold(calibration: Calibration, units, confidence) -> list[Decision]:
    """Auto-accept the pool units at or above the calibrated threshold; the rest go to humans."""
    c = np.asarray(confidence, dtype=np.float64).reshape(-1)
    units = [str(u) for u in units]
    if len(units) != c.size:
        raise QualityInputError("pool", "units and confidences differ in length")
    t, prov = calibration.threshold, calibration.provenance()
    return [Decision(u, float(ci), "auto", prov) if t is not None and ci >= t
            else Decision(u, float(ci), "human", None) for u, ci in zip(units, c)]
