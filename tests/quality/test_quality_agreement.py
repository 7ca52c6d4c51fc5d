"""Kappa against textbook examples, pairwise Dice, STAPLE on synthetic raters."""

import numpy as np
import pytest

from models.quality.agreement import (cohen_kappa, dice, fleiss_kappa, fleiss_kappa_counts,
                                      multilabel_staple, pairwise_dice, staple)
from models.quality.errors import QualityInputError


def _two_raters(yy, yn, ny, nn):
    a = np.array([1] * yy + [1] * yn + [0] * ny + [0] * nn)
    b = np.array([1] * yy + [0] * yn + [1] * ny + [0] * nn)
    return a, b


def test_cohen_kappa_wikipedia_examples():
    # Cohen (1960) as worked on Wikipedia: 50 proposals, 20 yes/yes, 5 yes/no, 10 no/yes,
    # 15 no/no: p_o = 0.7, p_e = 0.5, kappa = 0.4.
    assert cohen_kappa(*_two_raters(20, 5, 10, 15)) == pytest.approx(0.4)
    # 45/15/25/15: p_o = 0.60, p_e = 0.54, kappa = 0.06 / 0.46.
    assert cohen_kappa(*_two_raters(45, 15, 25, 15)) == pytest.approx(0.06 / 0.46)


def test_cohen_kappa_perfect_undefined_and_masked():
    a = np.array([0, 1, 2, 2, 1])
    assert cohen_kappa(a, a) == pytest.approx(1.0)
    assert cohen_kappa(np.zeros(5), np.zeros(5)) is None
    b = a.copy()
    b[0] = 1
    mask = np.array([False, True, True, True, True])
    assert cohen_kappa(a, b, mask=mask) == pytest.approx(1.0)


# Fleiss (1971) as worked on Wikipedia: 10 subjects, 14 raters, 5 categories.
FLEISS_TABLE = [[0, 0, 0, 0, 14], [0, 2, 6, 4, 2], [0, 0, 3, 5, 6], [0, 3, 9, 2, 0],
                [2, 2, 8, 1, 1], [7, 7, 0, 0, 0], [3, 2, 6, 3, 0], [2, 5, 3, 2, 2],
                [6, 5, 2, 1, 0], [0, 2, 2, 3, 7]]


def test_fleiss_kappa_wikipedia_example():
    counts = np.array(FLEISS_TABLE)
    p_bar = ((counts ** 2).sum(axis=1) - 14).sum() / (10 * 14 * 13)
    p_e = ((counts.sum(axis=0) / 140.0) ** 2).sum()
    assert p_bar == pytest.approx(0.378, abs=1e-3) and p_e == pytest.approx(0.213, abs=1e-3)
    assert fleiss_kappa_counts(counts) == pytest.approx(0.210, abs=1e-3)
    # The same ratings as 14 raters' label arrays over 10 items give the same kappa.
    raters = np.zeros((14, 10), dtype=int)
    for item, row in enumerate(FLEISS_TABLE):
        raters[:, item] = np.repeat(np.arange(5), row)
    assert fleiss_kappa(list(raters)) == pytest.approx(fleiss_kappa_counts(counts))


def test_fleiss_kappa_refuses_unequal_ratings():
    with pytest.raises(QualityInputError, match="same number"):
        fleiss_kappa_counts([[1, 1], [2, 1]])


def test_pairwise_dice_matrix():
    a = np.zeros((4, 4, 4), bool)
    a[:2] = True
    b = np.zeros_like(a)
    b[1:3] = True
    m = pairwise_dice([a, b, a])
    assert m[0, 1] == m[1, 0] == pytest.approx(0.5)
    assert m[0, 2] == 1.0 and np.all(np.diag(m) == 1.0)
    assert dice(np.zeros(3), np.zeros(3)) == 1.0


def _sphere(shape, centre, radius):
    z, y, x = np.indices(shape)
    return (z - centre[0]) ** 2 + (y - centre[1]) ** 2 + (x - centre[2]) ** 2 <= radius ** 2


def test_staple_recovers_truth_and_ranks_raters():
    rng = np.random.default_rng(7)
    truth = _sphere((32, 32, 32), (16, 16, 16), 9)
    miss = (0.05, 0.15, 0.30)  # share of foreground each rater misses
    raters = []
    for rate in miss:
        r = truth & (rng.random(truth.shape) >= rate)
        r |= ~truth & (rng.random(truth.shape) < 0.01)  # and a few false positives
        raters.append(r)
    res = staple(raters)
    consensus_dice = dice(res.consensus, truth)
    assert consensus_dice > max(dice(r, truth) for r in raters)
    assert consensus_dice > 0.95
    assert res.sensitivity[0] > res.sensitivity[1] > res.sensitivity[2]
    assert res.sensitivity == pytest.approx([1 - m for m in miss], abs=0.03)
    assert res.probability.shape == truth.shape


def test_multilabel_staple_majority_and_grid_check():
    truth = np.zeros((8, 8, 8), np.uint8)
    truth[1:4] = 1
    truth[5:7] = 2
    wrong = truth.copy()
    wrong[1:4] = 2  # one rater calls segment 1 segment 2
    out = multilabel_staple([truth, truth.copy(), wrong])
    assert np.array_equal(out, truth)
    with pytest.raises(QualityInputError, match="different grids"):
        multilabel_staple([truth, truth[1:]])
