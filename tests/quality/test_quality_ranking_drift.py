"""Active-learning scores and ranking; the drift monitor's routing, alerts and suspension."""

import numpy as np
import pytest

from models.quality.drift import DriftMonitor, clopper_pearson_lower
from models.quality.errors import QualityInputError
from models.quality.ranking import entropy_score, rank_cases, variance_score


def test_entropy_known_values():
    assert entropy_score(np.full((4, 4, 4), 0.5)) == pytest.approx(1.0)
    sure = np.zeros((4, 4, 4))
    sure[:2] = 1.0
    assert entropy_score(sure) == pytest.approx(0.0)
    three = np.full((3, 2, 2, 2), 1 / 3)  # (C, k, j, i): uniform over 3 classes
    assert entropy_score(three) == pytest.approx(np.log2(3))
    with pytest.raises(QualityInputError, match="outside"):
        entropy_score(np.full((2, 2, 2), 1.5))


def test_variance_of_samples():
    samples = np.stack([np.zeros((2, 2, 2)), np.ones((2, 2, 2))])  # var of {0, 1} = 0.25
    assert variance_score(samples) == pytest.approx(0.25)
    with pytest.raises(QualityInputError, match="samples"):
        variance_score(np.zeros((1, 2, 2, 2)))


def test_rank_by_uncertainty_and_with_diversity():
    scores = [1.0, 0.99, 0.5]
    features = [[0.0, 0.0], [0.0, 0.01], [5.0, 5.0]]  # case 1 duplicates case 0
    assert rank_cases(scores) == [0, 1, 2]
    assert rank_cases(scores, features, diversity=0.5) == [0, 2, 1]
    assert rank_cases(scores, features, diversity=0.0) == [0, 1, 2]


def test_labelled_cases_steer_the_first_picks_away_from_what_is_known():
    scores = [1.0, 0.2, 0.1, 0.9]
    features = [[0.0, 0.0], [9.0, 9.0], [8.0, 9.5], [0.2, 0.1]]
    labelled = [[0.1, 0.0]]  # the training data sits where cases 0 and 3 are
    # without it the most uncertain case comes first although it is next to the training
    # data; with the training data as the core-set's start, the unlike cases come first
    assert rank_cases(scores, features, 0.8) == [0, 1, 2, 3]
    assert rank_cases(scores, features, 0.8, labelled_features=labelled) == [1, 2, 3, 0]
    assert rank_cases(scores, features, 1.0, labelled_features=labelled)[0] == 1
    assert rank_cases(scores, features, 0.0, labelled_features=labelled) == [0, 3, 1, 2]


def test_route_is_reproducible_and_sized():
    mon = DriftMonitor(threshold=0.8, tolerance=0.9, spot_check_rate=0.1, seed=3)
    units = [f"u{i}" for i in range(200)]
    picked = mon.route("batch-1", units)
    assert len(picked) == 20 and set(picked) <= set(units)
    assert mon.route("batch-1", units) == picked
    assert mon.route("batch-2", units) != picked
    assert len(DriftMonitor(0.8, 0.9, spot_check_rate=0.001).route("b", units[:10])) == 1
    assert DriftMonitor(0.8, 0.9, spot_check_rate=0.0).route("b", units) == []


def test_alert_suspends_threshold_until_recalibrated():
    mon = DriftMonitor(threshold=0.8, tolerance=0.9, epsilon=0.05)
    good = mon.record_batch("b1", [0.95] * 20)
    assert not good.alert and good.precision == 1.0 and mon.threshold == 0.8
    bad = mon.record_batch("b2", [0.95] * 10 + [0.5] * 10)  # mean 0.725 < tolerance
    assert bad.alert and "mean Dice" in bad.reason
    assert mon.suspended and mon.threshold is None and mon.suspended_threshold == 0.8
    assert mon.running() == {"checked": 40, "errors": 10, "precision": 0.75,
                             "mean_dice": pytest.approx((20 * 0.95 + 10 * 0.95 + 10 * 0.5) / 40)}
    mon.recalibrate(0.85)
    assert not mon.suspended and mon.threshold == 0.85
    assert mon.running()["checked"] == 0 and mon.running()["mean_dice"] is None
    assert DriftMonitor.from_json(mon.as_json()) == mon


def test_error_rate_alert_needs_evidence_beyond_noise():
    mon = DriftMonitor(threshold=0.8, tolerance=0.9, epsilon=0.05, alpha=0.05)
    one = mon.record_batch("b1", [0.95] * 19 + [0.85])  # 1/20 errors: consistent with 5 %
    assert not one.alert
    many = mon.record_batch("b2", [0.97] * 40 + [0.85] * 10)  # mean 0.946, 10/50 errors
    assert many.alert and "error rate" in many.reason
    assert many.error_lower_bound == pytest.approx(clopper_pearson_lower(10, 50, 0.05))
    assert many.error_lower_bound > 0.05


def test_disagreement_is_one_minus_the_mean_pairwise_dice():
    from models.quality.ranking import disagreement_score

    a = np.zeros((4, 4, 4))
    a[:2] = 0.9                    # 32 voxels
    b = np.zeros((4, 4, 4))
    b[1:3] = 0.8                   # 32 voxels, 16 shared with a
    assert disagreement_score(np.stack([a, a])) == pytest.approx(0.0)
    assert disagreement_score(np.stack([a, b])) == pytest.approx(0.5)
    # three samples: pairs (a, a) = 1, (a, b) = 0.5 twice -> mean 2/3
    assert disagreement_score(np.stack([a, a, b])) == pytest.approx(1 / 3)
    assert disagreement_score(np.zeros((2, 3, 3, 3))) == 0.0  # empty everywhere: agreement
    # class probabilities (S, C, k, j, i): argmax per sample; class 2 absent -> not counted
    two_class = np.stack([np.stack([1 - a, a, np.zeros_like(a)]),
                          np.stack([1 - b, b, np.zeros_like(b)])])
    assert disagreement_score(two_class) == pytest.approx(0.5)
    with pytest.raises(QualityInputError, match="samples"):
        disagreement_score(np.zeros((1, 2, 2, 2)))


def test_label_disagreement_averages_over_the_labels_present():
    from models.quality.ranking import label_disagreement

    a = np.zeros((4, 4, 4), np.uint8)
    a[:2] = 1
    a[3] = 2
    b = a.copy()
    b[:2] = 0
    b[1:3] = 1                     # label 1: Dice 0.5; label 2 unchanged: Dice 1
    assert label_disagreement(np.stack([a, a])) == 0.0
    assert label_disagreement(np.stack([a, b])) == pytest.approx(0.25)
    assert label_disagreement(np.zeros((3, 2, 2, 2), np.uint8)) == 0.0
    with pytest.raises(QualityInputError, match="label maps"):
        label_disagreement(a)


def test_committee_labels_are_matched_by_segment_name_before_comparing():
    """Two models of the same structures may number them differently: relabel_by_name maps
    one model's values onto the other's by name (case-insensitive), drops what the other
    lacks, and refuses models with nothing in common."""
    from models.quality.ranking import label_disagreement, relabel_by_name

    ours = {"Brain": 1, "Lesion": 2}
    a = np.zeros((4, 4, 4), np.uint8)
    a[:2] = 1
    a[3] = 2
    theirs = {"lesion": 5, "brain": 3, "skull": 7}
    b = np.zeros_like(a)
    b[:2] = 3
    b[3] = 5
    b[2] = 7                       # a segment ours lacks: background after relabelling
    mapped = relabel_by_name(b, theirs, ours)
    np.testing.assert_array_equal(mapped, a)
    assert label_disagreement(np.stack([a, mapped])) == 0.0
    b[1] = 5                       # their lesion grows into our brain's second slice
    # brain: 16 vs 32 voxels -> Dice 2/3; lesion: 16 vs 32 voxels -> Dice 2/3
    assert label_disagreement(np.stack([a, relabel_by_name(b, theirs, ours)])) == \
        pytest.approx(1 / 3)
    with pytest.raises(QualityInputError, match="no segment in common"):
        relabel_by_name(b, {"spleen": 1}, ours)
