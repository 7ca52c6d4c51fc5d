"""How many more human-validated units does a target coverage cost?

Assumption (stated in every answer): units validated from now on are drawn like the ones
already validated (or like the pool, when pool confidences are given) -- the same share of
them lands at or above the target threshold, and they err at the rate observed so far above
it. Under that assumption the answer is the smallest number of validated units whose
Clopper-Pearson bound (at delta / candidates, as in :func:`models.quality.tbal.calibrate`)
reaches epsilon, at whichever grid threshold giving the target coverage needs the fewest. It
is a planning estimate, not a guarantee: the calibration run on the real data decides.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

from models.quality.errors import QualityInputError
from models.quality.tbal import DEFAULT_GRID, _as_grid, _check_levels, clopper_pearson_upper

ASSUMPTION = ("future validated units are drawn like the current ones (same share at or above "
              "the target threshold, same error rate there as observed so far; no validated "
              "unit there yet counts as no errors)")

#: Searches stop here: beyond it the answer is "not reachable in practice".
MAX_UNITS = 1_000_000


@dataclass(frozen=True)
class Plan:
    """Answer of :func:`plan_validation`.

    ``feasible`` is False when the observed error rate above the target threshold is not below
    epsilon (no amount of validation makes the bound pass) or the need exceeds MAX_UNITS;
    ``total_needed``/``more_needed`` are then None.
    """

    target_coverage: float
    target_threshold: float | None
    share_above: float
    observed_error_rate: float | None
    validated_now: int
    total_needed: int | None
    more_needed: int | None
    feasible: bool
    assumption: str = ASSUMPTION

    def as_json(self) -> dict:
        return asdict(self)


def units_needed_above(error_rate: float, epsilon: float, alpha: float) -> int | None:
    """Smallest n with Clopper-Pearson upper(round(rate * n), n, alpha) <= epsilon."""
    if error_rate >= epsilon:
        return None
    n0 = max(1, math.ceil(math.log(alpha) / math.log1p(-epsilon)))  # the zero-error minimum
    lo = n0
    while lo <= MAX_UNITS:
        n = np.arange(lo, min(4 * lo, MAX_UNITS) + 1)
        k = np.round(error_rate * n)
        ok = np.nonzero(clopper_pearson_upper(k, n, alpha) <= epsilon)[0]
        if ok.size:
            return int(n[ok[0]])
        lo = int(n[-1]) + 1
    return None


def plan_validation(confidence, errors, target_coverage: float, *, epsilon: float = 0.05,
                    delta: float = 0.05, grid=None, pool_confidence=None) -> Plan:
    """Validated units needed (in total and more than now) to auto-accept ``target_coverage``.

    Parameters
    ----------
    confidence, errors : array_like
        The validated units so far: confidence and error flag (Dice < tolerance).
    target_coverage : float
        Share of units (of the pool when ``pool_confidence`` is given, else of the validated
        units) to auto-accept.
    epsilon, delta, grid
        As in :func:`models.quality.tbal.calibrate`.
    pool_confidence : array_like, optional
        Confidences of the unlabelled pool, where coverage is wanted.
    """
    _check_levels(epsilon, delta)
    if not 0.0 < target_coverage <= 1.0:
        raise QualityInputError("coverage", f"must lie in (0, 1], got {target_coverage}")
    g = _as_grid(DEFAULT_GRID if grid is None else grid)
    c = np.asarray(confidence, dtype=np.float64).reshape(-1)
    e = np.asarray(errors, dtype=bool).reshape(-1)
    ref = c if pool_confidence is None else np.asarray(pool_confidence, dtype=np.float64)
    if ref.size == 0:
        raise QualityInputError("coverage", "no units to plan coverage over")
    shares = np.array([(ref >= t).mean() for t in g])
    reach = np.nonzero(shares >= target_coverage)[0]
    if reach.size == 0:  # even the lowest candidate covers too little
        return Plan(target_coverage, None, float(shares[0]), None, int(c.size), None, None,
                    False)
    # Every candidate that gives the coverage is a way to reach it; the plan takes the one
    # that needs the fewest validated units (a lower threshold accepts more units, a higher
    # one usually errs less).
    best = None
    for idx in reach:
        t, q = float(g[idx]), float(shares[idx])
        above = c >= t
        rate = float(e[above].mean()) if above.any() else None
        need_above = units_needed_above(0.0 if rate is None else rate, epsilon, delta / g.size)
        total = None if need_above is None else math.ceil(need_above / q)
        key = (total is None, total or 0, -t)
        if best is None or key < best[0]:
            best = (key, t, q, rate, total)
    _, t, q, rate, total = best
    if total is None:
        return Plan(target_coverage, t, q, rate, int(c.size), None, None, False)
    return Plan(target_coverage, t, q, rate, int(c.size), total, max(0, total - int(c.size)),
                True)
