"""TBAL: Clopper-Pearson limits, the threshold rule, the union bound, the guarantee, the planner."""

import math

import numpy as np
import pytest
from scipy.stats import binom

from models.quality.errors import QualityInputError
from models.quality.planner import plan_validation, units_needed_above
from models.quality.tbal import (DEFAULT_GRID, Calibration, apply_threshold, calibrate,
                                 clopper_pearson_upper, threshold_table)


def test_default_grid_is_050_to_099():
    assert len(DEFAULT_GRID) == 50
    assert DEFAULT_GRID[0] == 0.5 and DEFAULT_GRID[-1] == 0.99 and 0.75 in DEFAULT_GRID


@pytest.mark.parametrize("n, alpha", [(10, 0.05), (100, 0.001), (1, 0.2)])
def test_clopper_pearson_zero_errors_closed_form(n, alpha):
    assert clopper_pearson_upper(0, n, alpha) == pytest.approx(1 - alpha ** (1 / n))


def test_clopper_pearson_known_values_and_edges():
    assert clopper_pearson_upper(1, 10, 0.05) == pytest.approx(0.3942, abs=1e-4)
    for k, n in [(3, 40), (17, 250)]:  # the defining property: P(X <= k | upper) = alpha
        assert binom.cdf(k, n, clopper_pearson_upper(k, n, 0.01)) == pytest.approx(0.01)
    assert clopper_pearson_upper(5, 5, 0.05) == 1.0
    assert clopper_pearson_upper(0, 0, 0.05) == 1.0
    assert np.allclose(clopper_pearson_upper([0, 1], [10, 10], 0.05), [0.2589, 0.3942], atol=1e-4)


def _two_groups():
    # 200 correct units at 0.95 and 100 units at 0.70 of which 30 are errors.
    conf = np.r_[np.full(200, 0.95), np.full(100, 0.70)]
    dice = np.r_[np.full(200, 0.97), np.full(70, 0.95), np.full(30, 0.60)]
    return conf, dice


def test_calibrate_picks_lowest_passing_threshold():
    conf, dice = _two_groups()
    cal = calibrate(conf, dice, tolerance=0.9, epsilon=0.05, delta=0.05)
    # <= 0.70 holds all 300 units with 30 errors (bound > 10 %); 0.71 .. 0.95 hold the 200
    # correct ones: bound 1 - (0.05 / 50) ** (1 / 200) = 0.0339 <= 0.05, lowest is 0.71.
    assert cal.threshold == 0.71
    assert cal.bound == pytest.approx(1 - 0.001 ** (1 / 200))
    assert (cal.units_used, cal.errors_used, cal.units) == (200, 0, 300)
    assert cal.coverage == pytest.approx(200 / 300)
    assert cal.provenance() == f"auto, threshold 0.71, bound {cal.bound:.4f}"
    table = threshold_table(conf, dice < 0.9, 0.05, 0.05)
    assert [r["passes"] for r in table[:21]] == [False] * 21 and table[21]["passes"]


def test_calibrate_none_passes_gives_null():
    conf, dice = _two_groups()
    cal = calibrate(conf[200:], dice[200:], tolerance=0.9)
    assert cal.threshold is None and cal.bound is None and cal.provenance() is None
    assert cal.as_json()["threshold"] is None and cal.coverage == 0.0
    decisions = apply_threshold(cal, ["a", "b"], [0.99, 0.2])
    assert [d.decision for d in decisions] == ["human", "human"]


def test_union_bound_over_the_grid_is_applied():
    # 80 error-free units: 1 - 0.05 ** (1/80) = 0.037 passes alone, but at 0.05 / 50 the
    # bound is 1 - 0.001 ** (1/80) = 0.083 and fails.
    conf, dice = np.full(80, 0.9), np.full(80, 1.0)
    assert calibrate(conf, dice, tolerance=0.9).threshold is None
    single = calibrate(conf, dice, tolerance=0.9, grid=[0.9])
    assert single.threshold == 0.9 and single.bound == pytest.approx(1 - 0.05 ** (1 / 80))


def test_dice_equal_to_tolerance_is_not_an_error():
    cal = calibrate(np.full(300, 0.8), np.full(300, 0.9), tolerance=0.9)
    assert cal.errors_used == 0 and cal.threshold == 0.5


def test_apply_threshold_provenance_and_json_round_trip():
    conf, dice = _two_groups()
    cal = calibrate(conf, dice, tolerance=0.9)
    out = apply_threshold(cal, ["u1", "u2", "u3"], [0.71, 0.7099, 0.99])
    assert [d.decision for d in out] == ["auto", "human", "auto"]
    assert out[0].provenance == cal.provenance() and out[1].provenance is None
    assert Calibration.from_json(cal.as_json()) == cal


def test_bad_settings_are_refused():
    with pytest.raises(QualityInputError, match="epsilon"):
        calibrate([0.9], [1.0], tolerance=0.9, epsilon=0.0)
    with pytest.raises(QualityInputError, match="increasing"):
        calibrate([0.9], [1.0], tolerance=0.9, grid=[0.9, 0.8])


def _true_rate(t):
    # Population of the simulation: confidence ~ U(0, 1), P(error | c) = 2.4 (1 - c)^2, so the
    # error rate of units with confidence >= t (t >= 0.5) is 0.8 (1 - t)^2: <= 5 % iff t >= 0.75.
    return 0.8 * (1.0 - np.asarray(t)) ** 2


def test_guarantee_holds_over_repeated_draws_and_naive_rule_breaks_it():
    rng = np.random.default_rng(2024)
    eps = delta = 0.05
    grid = np.array(DEFAULT_GRID)
    violations, naive_violations, coverage = 0, 0, []
    draws = 300
    for _ in range(draws):
        c = rng.random(4000)
        err = rng.random(4000) < np.minimum(1.0, 2.4 * (1 - c) ** 2)
        cal = calibrate(c, errors=err, epsilon=eps, delta=delta)
        if cal.threshold is not None:
            coverage.append(1 - cal.threshold)
            violations += _true_rate(cal.threshold) > eps
        # The naive rule: lowest threshold whose *observed* error rate is <= epsilon.
        rates = [err[c >= t].mean() for t in grid]
        naive_t = next(t for t, r in zip(grid, rates) if r <= eps)
        naive_violations += _true_rate(naive_t) > eps
    assert violations / draws <= delta
    assert naive_violations / draws > 0.2  # the test can tell a rule without the bound (0.32)
    assert len(coverage) > 0.9 * draws and np.mean(coverage) > 0.1  # and TBAL is not vacuous


def test_planner_zero_error_closed_form_and_consistency():
    alpha = 0.05 / 50
    need = units_needed_above(0.0, 0.05, alpha)
    assert need == math.ceil(math.log(alpha) / math.log(0.95))  # 135
    assert clopper_pearson_upper(0, need, alpha) <= 0.05 < clopper_pearson_upper(0, need - 1,
                                                                                  alpha)
    conf = np.r_[np.full(50, 0.9), np.full(50, 0.6)]
    errors = np.r_[np.zeros(50, bool), np.ones(50, bool)]
    plan = plan_validation(conf, errors, 0.5, epsilon=0.05, delta=0.05)
    assert plan.target_threshold == 0.9 and plan.share_above == 0.5
    assert plan.total_needed == 2 * need and plan.more_needed == 2 * need - 100
    assert "drawn like" in plan.assumption
    # With that many units drawn the same way, calibration does reach the coverage.
    n = plan.total_needed // 2
    cal = calibrate(np.r_[np.full(n, 0.9), np.full(n, 0.6)],
                    errors=np.r_[np.zeros(n, bool), np.ones(n, bool)])
    assert cal.threshold is not None and cal.coverage >= 0.5


def test_planner_infeasible_when_errors_exceed_epsilon():
    conf = np.full(100, 0.9)
    errors = np.arange(100) < 10  # 10 % errors above every threshold
    plan = plan_validation(conf, errors, 1.0, epsilon=0.05)
    assert not plan.feasible and plan.total_needed is None
    assert plan.observed_error_rate == pytest.approx(0.1)


def test_planner_takes_the_cheapest_threshold_that_gives_the_coverage():
    # Error-free units at 0.80 and 0.95: 40 % coverage is reached by t = 0.81..0.95 (half the
    # units above, 2 x 135 needed) and more cheaply by t <= 0.80 (all units above, 135).
    conf = np.r_[np.full(150, 0.95), np.full(150, 0.80)]
    plan = plan_validation(conf, np.zeros(300, bool), 0.4)
    assert plan.target_threshold == 0.8 and plan.share_above == 1.0
    assert plan.total_needed == 135 and plan.more_needed == 0
