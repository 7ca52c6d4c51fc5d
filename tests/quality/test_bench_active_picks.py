"""The active-learning benchmark's pick orders (benchmarks/bench_active.py): what a figure in
docs/quality.md rests on, so the mixed strategy must really alternate and never repeat."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

from bench_active import _thick_slices, mixed_order, random_picks, verdict  # noqa: E402


def test_mixed_order_alternates_random_and_ranked_picks_without_repeats():
    ranking = [7, 3, 9, 1, 0, 2, 4, 5, 6, 8]
    assert mixed_order(ranking, 10, 0.0, seed=0) == ranking
    for seed in range(5):
        mixed = mixed_order(ranking, 10, 0.5, seed=seed)
        assert sorted(mixed) == list(range(10))
        # even slots (2nd, 4th, ...) take the ranking's best case not yet picked
        for k in range(1, 10, 2):
            assert mixed[k] == next(i for i in ranking if i not in mixed[:k])
    draws = {tuple(mixed_order(ranking, 10, 0.5, seed=s)[::2]) for s in range(5)}
    assert len(draws) > 1  # the random slots depend on the seed
    everything_random = mixed_order(ranking, 10, 1.0, seed=1)
    assert sorted(everything_random) == list(range(10)) and everything_random != ranking


def test_thick_slices_average_slabs_along_k_and_keep_the_remainder():
    image = np.arange(9 * 2 * 2, dtype=np.float32).reshape(9, 2, 2)
    thick = _thick_slices(image, 4)
    np.testing.assert_allclose(thick[:4], np.broadcast_to(image[:4].mean(axis=0), (4, 2, 2)))
    np.testing.assert_allclose(thick[4:8], np.broadcast_to(image[4:8].mean(axis=0), (4, 2, 2)))
    np.testing.assert_array_equal(thick[8], image[8])


def test_recalibrate_norm_sets_running_statistics_to_the_pools_and_restores_momentum():
    import torch
    from bench_active import PATCH, recalibrate_norm

    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv3d(1, 2, 1), torch.nn.BatchNorm3d(2))
    norm = net[1]
    norm.running_mean.fill_(5.0)  # statistics learnt elsewhere, to be replaced
    images = [torch.rand(1, *PATCH) * (k + 1) for k in range(4)]  # a patch is the whole image
    recalibrate_norm(net, images, seed=0, crops=2, batch=4)
    with torch.no_grad():
        features = net[0](torch.stack(images))
    expected = features.mean(dim=(0, 2, 3, 4))
    torch.testing.assert_close(norm.running_mean, expected, rtol=1e-4, atol=1e-5)
    assert norm.momentum == 0.1 and not net.training


def test_interpolate_goes_linearly_from_the_pretrained_to_the_tuned_weights():
    import torch
    from bench_active import interpolate

    torch.manual_seed(0)
    base = torch.nn.Sequential(torch.nn.Conv3d(1, 2, 1), torch.nn.BatchNorm3d(2))
    tuned = torch.nn.Sequential(torch.nn.Conv3d(1, 2, 1), torch.nn.BatchNorm3d(2))
    tuned[1].num_batches_tracked.fill_(7)
    for alpha in (0.0, 0.5, 1.0):
        mixed = interpolate(base, tuned, alpha).state_dict()
        for key, value in tuned.state_dict().items():
            if value.is_floating_point():
                torch.testing.assert_close(
                    mixed[key], alpha * value + (1 - alpha) * base.state_dict()[key])
        assert int(mixed["1.num_batches_tracked"]) == 7  # counters are not averaged
    assert tuned[0].weight is not interpolate(base, tuned, 0.5)[0].weight


def test_verdict_says_fewer_more_or_which_side_did_not_reach_the_target():
    assert verdict("ranked", 2, 4) == "ranked needs 50% fewer than random's best"
    assert verdict("ranked", 3, 1) == "ranked needs 200% more than random's best"
    assert verdict("ranked", 2, 2) == "ranked needs 0% fewer than random's best"
    assert verdict("ranked", None, 1) == "ranked does not reach it; random does with 1"
    assert verdict("ranked", 3, None) == "ranked reaches it with 3; random does not"
    assert verdict("ranked", None, None) == "neither reaches it"


def test_random_picks_start_from_the_initial_cases_and_grow_with_the_budget():
    initial = [5, 2]
    picks = [random_picks(initial, 12, b, seed=100) for b in (0, 1, 3, 10)]
    assert picks[0] == [5, 2]
    for small, large in zip(picks, picks[1:]):
        assert large[:len(small)] == small  # a larger budget keeps the smaller one's cases
    assert sorted(picks[-1]) == list(range(12))  # every case once: no repeats
    # without an initial set it is the plain draw of the earlier runs (docs/quality.md)
    assert random_picks([], 12, 4, seed=100) == [
        int(i) for i in np.random.default_rng(100).permutation(12)[:4]]


def test_next_picks_keep_the_labelled_cases_and_add_the_highest_scored_of_the_rest():
    from bench_active import next_picks

    scores = [0.1, 0.9, 0.3, 0.8, 0.5, 0.7]
    # case 1 scores highest but is labelled already: the next two are 3 and 5, in that order
    assert next_picks([4, 1], scores, 2) == [4, 1, 3, 5]
    assert next_picks([4, 1], scores, 0) == [4, 1]
    # rescored by a network that has learnt case 3: the same call now prefers the others
    rescored = [0.1, 0.9, 0.0, 0.05, 0.5, 0.7]
    assert next_picks([4, 1], rescored, 2) == [4, 1, 5, 0]
    # asked for more than the pool has left: every case once, no repeats
    assert sorted(next_picks([4, 1], scores, 10)) == list(range(6))


def test_member_accuracy_gives_the_other_models_dice_per_domain():
    from bench_active import member_accuracy

    truth = np.zeros((4, 4, 4), bool)
    truth[:2] = True  # 32 voxels
    half = np.zeros_like(truth)
    half[:1] = True  # 16 of them: Dice 2 * 16 / 48
    pool = [(None, truth)] * 3
    line = member_accuracy([truth, half, truth], pool, [False, True, False])
    assert line == ("deepbet pool Dice median 1.000 [shifted 0.667 (0.667..0.667), "
                    "others 1.000 (1.000..1.000)]")
    assert member_accuracy([half], [(None, truth)], [False]) == "deepbet pool Dice median 0.667"


def test_power_order_draws_in_proportion_to_the_score_to_the_power():
    from bench_active import power_order

    scores = [0.1, 0.9, 0.3, 0.8, 0.5, 0.7]
    for beta in (0.0, 1.0, 4.0):
        for seed in range(3):
            drawn = power_order(scores, [4, 1], beta, seed)
            assert drawn[:2] == [4, 1] and sorted(drawn) == list(range(6))
    # a very large power is the ranking's own order of the cases left
    assert power_order(scores, [4, 1], 200.0, seed=0) == [4, 1, 3, 5, 2, 0]
    # power 1: the first draw after the initial cases is case 1 three times in four
    firsts = [power_order([1.0, 3.0], [], 1.0, seed)[0] for seed in range(4000)]
    assert 0.72 < np.mean(np.array(firsts) == 1) < 0.78
    # power 0: every case equally likely first, whatever its score
    firsts = [power_order([0.01, 1.0], [], 0.0, seed)[0] for seed in range(4000)]
    assert 0.46 < np.mean(np.array(firsts) == 1) < 0.54


def test_diverse_order_spreads_the_picks_away_from_the_labelled_cases():
    from bench_active import diverse_order

    # two clusters of pool cases: 0-2 near the network's training data (0, 0), 3-5 far off
    # and close together
    embed = [np.array(v, float) for v in
             ([0, 0], [0, 1], [2, 0], [10, 10], [10, 10.2], [10.2, 10])]
    known = [np.array([0.0, 0.0])]
    scores = [0.9, 0.8, 0.7, 0.3, 0.2, 0.1]  # the far cluster is the one the model is sure of
    # weight 0: the scores alone, after the initial case
    assert diverse_order(scores, embed, known, [1], 0.0) == [1, 0, 2, 3, 4, 5]
    # weight 1: the first pick is the case farthest from everything labelled (the far
    # cluster), the next one comes back to the home cluster's case farthest from both
    far = diverse_order(scores, embed, known, [1], 1.0)
    assert far[0] == 1 and far[1] in (3, 4, 5) and sorted(far) == list(range(6))
    assert far[2] == 2
    # a labelled case of the far cluster makes it known ground: the picks stay near home
    assert diverse_order(scores, embed, known, [4], 0.5)[1] in (0, 1, 2)


def test_training_steps_are_fixed_or_grow_with_the_labelled_cases():
    from bench_active import training_steps

    assert [training_steps(150, None, n) for n in (1, 4, 12)] == [150, 150, 150]
    assert [training_steps(150, 38, n) for n in (4, 5, 12)] == [152, 190, 456]


def test_fine_tune_ema_averages_the_weights_over_the_steps():
    import torch
    from bench_active import PATCH, fine_tune

    torch.manual_seed(0)
    base = torch.nn.Sequential(torch.nn.Conv3d(1, 2, 1), torch.nn.BatchNorm3d(2))
    image = torch.rand(1, *PATCH)
    cases = [(image, (image > 0.5).float())]
    plain = fine_tune(base, cases, 4, seed=0, lr=0.05).state_dict()
    # decay 0 keeps only the last step: the plain result, statistics included
    last = fine_tune(base, cases, 4, seed=0, lr=0.05, ema=0.0).state_dict()
    for key, value in plain.items():
        if value.is_floating_point():
            torch.testing.assert_close(last[key], value)
    # decay 1 never moves from the first step's weights: far behind the last step
    slow = fine_tune(base, cases, 4, seed=0, lr=0.05, ema=1.0)
    first = fine_tune(base, cases, 1, seed=0, lr=0.05).state_dict()
    torch.testing.assert_close(slow.state_dict()["0.weight"], first["0.weight"])
    assert not torch.allclose(slow.state_dict()["0.weight"], plain["0.weight"])
    assert not slow.training
