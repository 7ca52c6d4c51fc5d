"""Summaries of per-case metrics with percentile-bootstrap 95 % confidence intervals."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Summary:
    """Mean of one metric over cases, with its bootstrap confidence interval.

    ``n`` counts the cases where the metric is defined (``None``/NaN values are left out, e.g.
    surface distances of empty masks); ``ci_low``/``ci_high`` are ``None`` when ``n`` < 2.
    """

    n: int
    mean: float | None
    median: float | None
    std: float | None
    ci_low: float | None
    ci_high: float | None
    level: float

    def as_json(self) -> dict:
        r = (lambda x: None if x is None else round(float(x), 6))
        return {"n": self.n, "mean": r(self.mean), "median": r(self.median), "std": r(self.std),
                "ci_low": r(self.ci_low), "ci_high": r(self.ci_high), "level": self.level}


def _defined(values) -> np.ndarray:
    arr = np.array([np.nan if v is None else float(v) for v in values], dtype=float)
    return arr[np.isfinite(arr)]


def bootstrap_ci(values, level: float = 0.95, n_resamples: int = 2000,
                 seed: int = 0) -> tuple[float, float] | None:
    """Percentile bootstrap confidence interval of the mean.

    Parameters
    ----------
    values : sequence of float or None
        One value per case; ``None``/NaN are left out.
    level : float
        Two-sided confidence level.
    n_resamples : int
        Bootstrap resamples (cases drawn with replacement).
    seed : int
        Seed of the resampling, so a report is reproducible.

    Returns
    -------
    (low, high) or None when fewer than two values are defined.
    """
    x = _defined(values)
    if x.size < 2:
        return None
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, x.size, size=(n_resamples, x.size))
    means = x[idx].mean(axis=1)
    tail = (1.0 - level) / 2.0
    lo, hi = np.quantile(means, [tail, 1.0 - tail])
    return float(lo), float(hi)


def summarize(values, level: float = 0.95, n_resamples: int = 2000, seed: int = 0) -> Summary:
    """Mean, median, standard deviation and bootstrap CI of one metric over cases."""
    x = _defined(values)
    if x.size == 0:
        return Summary(0, None, None, None, None, None, level)
    ci = bootstrap_ci(x, level, n_resamples, seed)
    return Summary(int(x.size), float(x.mean()), float(np.median(x)),
                   float(x.std(ddof=1)) if x.size > 1 else None,
                   ci[0] if ci else None, ci[1] if ci else None, level)


def summarize_records(records: list[dict], keys, **kwargs) -> dict[str, Summary]:
    """Summaries of several metrics from per-case dicts (e.g. ``SegmentMetrics.as_json()``)."""
    return {k: summarize([r.get(k) for r in records], **kwargs) for k in keys}
