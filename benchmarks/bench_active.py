"""Active learning vs random selection when fine-tuning the project's brainmask-unet.

    .venv/bin/python benchmarks/bench_active.py [--seed 2] [--score disagreement] \
        [--pool 28] [--test 12] [--steps 150] [--budgets 1 2 3 4 6 8] [--repeats 3] \
        [--random-repeats 5] [--hard-share 0.25] [--gain 0.5 0.75 0.9] [--no-replay]

Cases: corrupted full-head Colin27 at 2 mm (the same random MONAI deformations, bias fields,
contrast changes and noise as benchmarks/tbal_pool.py), truth = the warped ``ch2bet > 0``;
``--hard-share`` of the pool and of the test cases come from a shifted domain (the tissue
contrast inverted inside the head, T2-like), which the T1-trained network segments badly.
The pretrained brainmask-unet proposes on every pool case and the ranking picks the cases to
label (most uncertain first), against random picks. Scores (``--score``):

* ``disagreement`` (default): 1 - mean pairwise Dice of its segmentations of the case and of
  three test-time-augmentation views (:mod:`models.tta`);
* ``entropy``: mean voxel entropy of the foreground probability;
* ``tta``: mean voxel variance of the probability across those views;
* ``coreset``: entropy with diversity over the network's bottleneck embedding
  (:mod:`models.embedding`), starting from its training data.

For each budget of labelled cases a copy of the pretrained network is fine-tuned on them
(:mod:`models.training`, the same number of steps for every run; ``--repeats`` training seeds
for the ranking, ``--random-repeats`` draws for random, each with new picks). Each training
batch holds one patch of the labelled cases and one of the network's own training data
(Colin27's left hemisphere with the original augmentation): rehearsal, without which 150 steps
on one contrast-inverted case collapsed the network (``--no-replay`` gives the earlier runs).
Scored by mean Dice on the held-out test cases. Reported: test Dice per budget and strategy,
and the labelled cases each strategy needs to reach target Dice values -- absolute
(``--targets``) and relative (``--gain``: the pretrained test Dice plus that share of the gain
the best strategy reaches at the largest budget, the same target for both).

The score was chosen on a development pool (``--seed 1``, correlation of each score with the
pretrained Dice; docs/quality.md) and evaluated on a pool never looked at before (``--seed 2``).
"""

from __future__ import annotations

import argparse
import copy
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from models.quality.agreement import dice  # noqa: E402
from models.quality.ranking import (  # noqa: E402
    disagreement_score, entropy_score, rank_cases, variance_score)

PATCH = (40, 64, 64)
#: standard deviation of the extra noise of ``--shift noise`` cases (image scaled to [0, 1])
NOISE_SD = 0.35


def tta_probabilities(runner, image, affine, prob) -> np.ndarray:
    """The foreground probability of ``image`` and of its test-time-augmentation views
    (:func:`models.tta.augmented_views`: left-right mirror, gamma 0.6 and 1.6) mapped back.
    A network sure of a wrong answer under a domain shift (low entropy) often disagrees with
    itself across such views."""
    from models.tta import augmented_views

    views = [prob]
    for view, back in augmented_views(image):
        views.append(back(runner.probability(view, affine)))
    return np.stack(views)


def make_cases(n: int, seed: int, hard_share: float = 0.0, shift: str = "invert"):
    """(image, mask) pairs on Colin27's 2 mm grid, its index->LPS affine, and which cases are
    from the shifted (contrast-inverted) domain: every ``1 / hard_share``-th case."""
    import nibabel as nib
    from tbal_pool import REPO_DEMO, _kji, _transforms

    head = nib.load(f"{REPO}/{REPO_DEMO}/ch2.nii.gz")
    img = _kji(head.dataobj)[::2, ::2, ::2]
    mask = _kji(nib.load(f"{REPO}/{REPO_DEMO}/ch2bet.nii.gz").dataobj)[::2, ::2, ::2] > 0
    affine = np.diag([-1.0, -1.0, 1.0, 1.0]) @ head.affine @ np.diag([2.0, 2.0, 2.0, 1.0])
    rng = np.random.default_rng(seed)
    cases, hard = [], []
    for c in range(n):
        tf = _transforms(float(rng.uniform(0.3, 1.0)))  # the harder part of the severity range
        tf.set_random_state(int(rng.integers(2 ** 31)))
        d = tf({"image": img[None], "label": mask[None].astype(np.float32)})
        x = np.asarray(d["image"][0], dtype=np.float32)
        shifted = hard_share > 0 and (c * hard_share) % 1.0 + hard_share > 1.0 - 1e-9
        if shifted and shift == "invert":  # T2-like: contrast inverted inside the head
            x = np.where(x > 0.08, 1.08 - x, x).astype(np.float32)
        elif shifted:  # a fast, low-signal acquisition: strong noise on the whole image
            noise = np.random.default_rng(int(rng.integers(2 ** 31))).normal(0, NOISE_SD,
                                                                             x.shape)
            x = (x + noise).astype(np.float32)
        cases.append((x, np.asarray(d["label"][0]) > 0.5))
        hard.append(bool(shifted))
    return cases, affine, hard


def network_tensors(image, mask, affine):
    """Image and label on the network's grid (its own preprocessing), for training."""
    from monai.transforms import Orientation, Spacing

    from models.brainmask_unet import LPS_LABELS, SPACING_MM, preprocessing
    from models.spatial import to_metatensor

    x = preprocessing()(to_metatensor(image, affine))
    y = to_metatensor(mask.astype(np.float32), affine)
    y = Spacing(pixdim=SPACING_MM, mode="nearest")(Orientation(axcodes="RAS",
                                                               labels=LPS_LABELS)(y))
    return x.as_tensor().clone(), y.as_tensor().round().clone()


def training_data():
    """The pretrained network's own training data (Colin27's left hemisphere, network grid)."""
    from models.train_brainmask import (DEFAULT_IMAGE, DEFAULT_MASK, _training_data,
                                        hemisphere_masks, load_pair)

    image, mask, affine_lps = load_pair(DEFAULT_IMAGE, DEFAULT_MASK)
    train_half, _ = hemisphere_masks(image.shape, affine_lps)
    return _training_data(image, mask, affine_lps, train_half)


def fine_tune(base_net, tensors, steps: int, seed: int, replay=None, lr: float = 1e-3,
              freeze_norm: bool = False):
    """A copy of ``base_net`` trained ``steps`` steps on batches of two patches: both from
    the labelled cases, or (``replay`` = the original training data) one from them and one
    from the training data with the original recipe's augmentation -- rehearsal, so a
    network fine-tuned on one case of a new domain does not forget its old one."""
    import torch
    from monai.transforms import Compose, RandFlipd, RandSpatialCropd, SpatialPadd

    from models.train_brainmask import _augment
    from models.training import train_segmentation

    net = copy.deepcopy(base_net)
    crop = Compose([SpatialPadd(("image", "label"), spatial_size=PATCH),
                    RandFlipd(("image", "label"), prob=0.5, spatial_axis=0),
                    RandSpatialCropd(("image", "label"), roi_size=PATCH, random_size=False)])
    crop.set_random_state(seed=seed)
    augment = _augment()
    augment.set_random_state(seed=seed + 1)
    rng = np.random.default_rng(seed)

    def sample(step):
        n_new = 2 if replay is None else 1
        items = [crop({"image": tensors[i][0], "label": tensors[i][1]})
                 for i in rng.integers(0, len(tensors), size=n_new)]
        if replay is not None:
            items.append(augment({"image": replay[0], "label": replay[1]}))
        return (torch.stack([torch.as_tensor(d["image"]) for d in items]),
                torch.stack([torch.as_tensor(d["label"]) for d in items]).long())

    train_segmentation(net, sample, steps, lr=lr, seed=seed, freeze_norm=freeze_norm)
    return net


def test_dice(net, test, affine) -> float:
    from models.brainmask_unet import BrainmaskUNet

    runner = BrainmaskUNet(spec=None, network=net, device="cpu")
    return float(np.mean([dice(runner.probability(x, affine) > 0.5, y) for x, y in test]))


def needed(budgets, scores, target):
    return next((b for b, s in zip(budgets, scores) if s >= target), None)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pool", type=int, default=28)
    ap.add_argument("--test", type=int, default=12)
    ap.add_argument("--budgets", type=int, nargs="+", default=[1, 2, 3, 4, 6, 8])
    ap.add_argument("--steps", type=int, default=150)
    ap.add_argument("--repeats", type=int, default=3,
                    help="training seeds per strategy and budget (random: also its picks)")
    ap.add_argument("--targets", type=float, nargs="*", default=[0.89, 0.90, 0.91])
    ap.add_argument("--gain", type=float, nargs="*", default=[0.5, 0.75, 0.9],
                    help="relative targets: pretrained Dice + this share of the best gain")
    ap.add_argument("--hard-share", type=float, default=0.25,
                    help="share of cases from the shifted (contrast-inverted) domain")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--score", choices=("entropy", "tta", "disagreement", "coreset"),
                    default="disagreement",
                    help="entropy of the foreground probability; the variance of the "
                         "probability under test-time augmentation (flip, gamma); "
                         "disagreement: 1 - mean pairwise Dice of the segmentations of those "
                         "views; or coreset: entropy with diversity over the network's "
                         "bottleneck embedding, starting from its training data")
    ap.add_argument("--diversity", type=float, default=0.5,
                    help="weight of diversity for --score coreset")
    ap.add_argument("--no-replay", dest="replay", action="store_false",
                    help="fine-tune on the labelled cases alone (the earlier runs)")
    ap.add_argument("--shift", choices=("invert", "noise"), default="invert",
                    help="the shifted domain: contrast inverted inside the head (T2-like), or "
                         f"extra Gaussian noise (sd {NOISE_SD} of the [0, 1] range)")
    ap.add_argument("--lr", type=float, default=1e-3, help="fine-tuning learning rate")
    ap.add_argument("--freeze-norm", action="store_true",
                    help="keep batch-norm statistics fixed while fine-tuning")
    ap.add_argument("--random-repeats", type=int, default=None,
                    help="random draws per budget (default: --repeats)")
    args = ap.parse_args()

    import torch

    from models.brainmask_unet import BrainmaskUNet
    from models.run import _spec

    torch.set_num_threads(2)
    t0 = time.perf_counter()
    cases, affine, hard = make_cases(args.pool + args.test, args.seed, args.hard_share,
                                     args.shift)
    pool, test = cases[: args.pool], cases[args.pool:]
    pool_hard = hard[: args.pool]
    base = _spec("brainmask-unet").load(device="cpu").net
    runner = BrainmaskUNet(spec=None, network=base, device="cpu")
    probs = [runner.probability(x, affine) for x, _ in pool]
    replay = training_data()
    tensors = [network_tensors(x, y, affine) for x, y in pool]
    if args.score in ("tta", "disagreement"):
        score = variance_score if args.score == "tta" else disagreement_score
        scores = [score(tta_probabilities(runner, x, affine, p)) for (x, _), p
                  in zip(pool, probs)]
    else:
        scores = [entropy_score(p) for p in probs]
    pool_dice = [dice(p > 0.5, y) for p, (_, y) in zip(probs, pool)]
    if args.score == "coreset":
        from models.brainmask_unet import inferer
        from models.embedding import network_embedding

        embed = [network_embedding(base, t[0][None], inferer()) for t in tensors]
        known = [network_embedding(base, replay[0][None], inferer())]
        order = rank_cases(scores, embed, args.diversity, labelled_features=known)
    else:
        order = rank_cases(scores)
    rho = np.corrcoef(scores, pool_dice)[0, 1]
    if any(pool_hard):
        hd = [d for d, h in zip(pool_dice, pool_hard) if h]
        ed = [d for d, h in zip(pool_dice, pool_hard) if not h]
        print(f"pool: {sum(pool_hard)} shifted cases (pretrained Dice median {np.median(hd):.3f})"
              f", {len(ed)} others (median {np.median(ed):.3f}); test: {sum(hard[args.pool:])} "
              f"of {len(test)} shifted; uncertainty's first 8 picks hold "
              f"{sum(pool_hard[i] for i in order[:8])} shifted cases")
    score_name = "entropy" if args.score == "coreset" else args.score
    print(f"{len(pool)} pool + {len(test)} test cases built and proposed in "
          f"{time.perf_counter() - t0:.0f} s; pretrained pool Dice median "
          f"{np.median(pool_dice):.3f}; {score_name} vs Dice r = {rho:.2f}")
    baseline = test_dice(base, test, affine)
    print(f"pretrained test Dice {baseline:.4f}")
    if not args.replay:
        replay = None
    print("first picks: " + " ".join(f"{i}{'*' if pool_hard[i] else ''}"
                                     for i in order[:max(args.budgets)])
          + "  (* = shifted domain)")
    results = {"uncertainty": [], "random": []}
    for b in args.budgets:
        # Both strategies are repeated over training seeds; random also over its picks.
        al = [test_dice(fine_tune(base, [tensors[i] for i in order[:b]], args.steps, s,
                                  replay, args.lr, args.freeze_norm), test, affine)
              for s in range(args.repeats)]
        rand = []
        for s in range(args.random_repeats or args.repeats):
            pick = np.random.default_rng(100 + s).permutation(len(pool))[:b]
            rand.append(test_dice(fine_tune(base, [tensors[i] for i in pick], args.steps, s,
                                            replay, args.lr, args.freeze_norm), test, affine))
        results["uncertainty"].append(float(np.mean(al)))
        results["random"].append(float(np.mean(rand)))
        print(f"  {b:>2} labelled: uncertainty {np.mean(al):.4f} (runs "
              f"{', '.join(f'{r:.4f}' for r in al)}), random {np.mean(rand):.4f} (runs "
              f"{', '.join(f'{r:.4f}' for r in rand)}), {time.perf_counter() - t0:.0f} s")
    best = max(results["uncertainty"][-1], results["random"][-1])
    targets = [(t, f"{t:.3f}") for t in args.targets]
    targets += [(baseline + g * (best - baseline), f"{baseline + g * (best - baseline):.3f} "
                 f"({g:.0%} of the gain)") for g in args.gain]
    for target, label in targets:
        n_al = needed(args.budgets, results["uncertainty"], target)
        n_rand = needed(args.budgets, results["random"], target)
        show = (lambda n: str(n) if n is not None else f">{args.budgets[-1]}")
        print(f"target test Dice {label}: uncertainty needs {show(n_al)} labelled cases, "
              f"random {show(n_rand)}"
              + (f" -> {1 - n_al / n_rand:.0%} fewer" if n_al and n_rand else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
