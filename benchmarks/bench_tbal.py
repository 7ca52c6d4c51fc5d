"""TBAL on a pool with known truth: coverage, realised error over 100 splits, validation cost.

    .venv/bin/python benchmarks/bench_tbal.py [--cases 900] [--splits 100] [--cache FILE]

The pool (see benchmarks/tbal_pool.py) is built from Colin27 and the MNI152 template by
random MONAI deformations, bias fields, contrast changes and noise; an intensity proposer gives
each case a brain mask and a confidence. Error = Dice < tolerance (0.95 by default).

1. Splits: the cases are shuffled into calibration (1/2) / pool / test (1/4 each), 100 times. On
   each split the threshold is calibrated (epsilon = delta = 5 %, grid 0.50..0.99, union
   bound), applied to the pool (coverage) and to the test units (realised error among the
   auto-accepted ones, truth known). Reported: median coverage, how often no threshold
   passes, and the share of splits whose realised error exceeds epsilon -- on the test units,
   and on all non-calibration units (the better estimate of the true rate).
2. Validation units needed vs coverage: calibration sets of n units (drawn from the
   non-test units), mean coverage on the test units, and the planner's answer to "how many
   validated units for coverage X" from one calibration set.
3. Effort (simulated annotator fixing axial slices worst-first until Dice >= 0.95): voxels
   edited starting from the proposal vs from nothing.
4. The same effort figure with the project's brainmask-unet on corrupted full-head Colin27.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from models.quality.planner import plan_validation  # noqa: E402
from models.quality.tbal import DEFAULT_GRID, calibrate  # noqa: E402


def load_or_build(args) -> dict:
    from tbal_pool import build_pool

    cache = Path(args.cache) if args.cache else None
    if cache and cache.exists():
        data = dict(np.load(cache))
        if len(data["dice"]) == args.cases and int(data["seed"]) == args.seed:
            print(f"pool: {args.cases} cases from {cache}")
            return data
    t0 = time.perf_counter()
    print(f"building a pool of {args.cases} cases ({args.size}^3) ...")
    data = build_pool(REPO, args.cases, seed=args.seed, size=args.size)
    print(f"built in {time.perf_counter() - t0:.0f} s")
    if cache:
        np.savez(cache, seed=args.seed, **data)
    return data


def splits(data, args):
    conf, err = data["confidence"], data["dice"] < args.tolerance
    n = len(conf)
    rng = np.random.default_rng(args.seed + 1)
    rows, naive_rows = [], []
    for _ in range(args.splits):
        perm = rng.permutation(n)
        n_cal = int(round(args.calibration_share * n))
        cal, rest = perm[:n_cal], perm[n_cal:]
        pool, test = np.array_split(rest, 2)
        c = calibrate(conf[cal], errors=err[cal], epsilon=args.epsilon, delta=args.delta)
        # The naive rule for comparison: lowest t whose observed calibration error <= epsilon.
        naive = next((t for t in DEFAULT_GRID if conf[cal][conf[cal] >= t].size
                      and err[cal][conf[cal] >= t].mean() <= args.epsilon), None)
        rest = np.r_[pool, test]
        if naive is not None:
            acc = rest[conf[rest] >= naive]
            naive_rows.append((float((conf[pool] >= naive).mean()),
                               float(err[acc].mean()) if acc.size else 0.0))
        if c.threshold is None:
            rows.append((c.threshold, 0.0, None, None))
            continue
        acc_test = test[conf[test] >= c.threshold]
        acc_rest = rest[conf[rest] >= c.threshold]
        rows.append((c.threshold, float((conf[pool] >= c.threshold).mean()),
                     float(err[acc_test].mean()) if acc_test.size else None,
                     float(err[acc_rest].mean()) if acc_rest.size else None))
    return rows, naive_rows


def report_splits(rows, naive_rows, args):
    passed = [r for r in rows if r[0] is not None]
    share = args.calibration_share
    print(f"\n1. {len(rows)} splits (calibration {share:.0%}, pool and test "
          f"{(1 - share) / 2:.0%} each), epsilon {args.epsilon}, delta {args.delta}, "
          f"tolerance Dice {args.tolerance}")
    print(f"   no threshold passes in {len(rows) - len(passed)} of {len(rows)} splits")
    if not passed:
        return
    thr = np.array([r[0] for r in passed])
    cov = np.array([r[1] for r in passed])
    e_test = np.array([r[2] for r in passed if r[2] is not None])
    e_rest = np.array([r[3] for r in passed if r[3] is not None])
    print(f"   threshold: median {np.median(thr):.2f} (range {thr.min():.2f}-{thr.max():.2f})")
    print(f"   pool coverage: median {np.median(cov):.1%} (range {cov.min():.1%}-{cov.max():.1%})")
    print(f"   realised error among auto-accepted test units: median {np.median(e_test):.2%}, "
          f"max {e_test.max():.2%}; > epsilon in {np.mean(e_test > args.epsilon):.0%} of "
          f"splits")
    print(f"   realised error among auto-accepted pool+test units: median "
          f"{np.median(e_rest):.2%}, max {e_rest.max():.2%}; > epsilon in "
          f"{np.mean(e_rest > args.epsilon):.0%} of splits (guarantee: at most ~{args.delta:.0%})")
    if naive_rows:
        nv = np.array(naive_rows)
        print(f"   naive rule (observed calibration error <= epsilon, no bound): pool coverage "
              f"median {np.median(nv[:, 0]):.1%}, realised error median {np.median(nv[:, 1]):.2%}"
              f", > epsilon in {np.mean(nv[:, 1] > args.epsilon):.0%} of splits")


def curve(data, args):
    conf, err = data["confidence"], data["dice"] < args.tolerance
    n = len(conf)
    rng = np.random.default_rng(args.seed + 2)
    sizes = [s for s in (50, 100, 150, 200, 300, 400, 500, 600) if s <= 2 * n // 3]
    print("\n2. validation units needed vs coverage (20 draws per size; 1/3 held out as test)")
    print(f"   {'validated':>9} {'passes':>7} {'mean coverage':>14} {'mean error acc.':>16}")
    for size in sizes:
        covs, errs, ok = [], [], 0
        for _ in range(20):
            perm = rng.permutation(n)
            test, rest = perm[: n // 3], perm[n // 3:]
            cal = rest[:size]
            c = calibrate(conf[cal], errors=err[cal], epsilon=args.epsilon, delta=args.delta)
            if c.threshold is None:
                covs.append(0.0)
                continue
            ok += 1
            acc = conf[test] >= c.threshold
            covs.append(float(acc.mean()))
            if acc.any():
                errs.append(float(err[test][acc].mean()))
        e = f"{np.mean(errs):.2%}" if errs else "-"
        print(f"   {size:>9} {ok:>4}/20 {np.mean(covs):>14.1%} {e:>16}")
    perm = rng.permutation(n)
    cal = perm[:100]
    print("   planner, from one calibration set of 100 units (assumes new units are drawn "
          "alike):")
    for target in (0.2, 0.4, 0.6, 0.8):
        p = plan_validation(conf[cal], err[cal], target, epsilon=args.epsilon, delta=args.delta,
                            pool_confidence=conf)
        need = f"{p.total_needed} validated units" if p.feasible else "not reachable"
        rate = "-" if p.observed_error_rate is None else f"{p.observed_error_rate:.1%}"
        print(f"     coverage {target:.0%}: threshold {p.target_threshold}, observed error "
              f"{rate} -> {need}")


def effort(data, args):
    prop, scratch = data["effort_proposal"].astype(float), data["effort_scratch"].astype(float)
    saved = 1.0 - prop.sum() / scratch.sum()
    per_case = 1.0 - prop / np.maximum(scratch, 1)
    print("\n3. effort to reach Dice >= 0.95 (simulated annotator, axial slices worst-first)")
    print(f"   voxels edited: from proposal {prop.sum():.0f}, from nothing {scratch.sum():.0f} "
          f"-> {saved:.1%} less effort (per case median {np.median(per_case):.1%})")


def unet_effort(args):
    from tbal_pool import unet_effort as build

    if args.unet_cases <= 0:
        return
    print(f"\n4. effort with the project's brainmask-unet ({args.unet_cases} corrupted skull-on "
          "Colin27 cases at 2 mm)")
    data = build(REPO, args.unet_cases, seed=args.seed)
    prop, scratch = data["effort_proposal"].astype(float), data["effort_scratch"].astype(float)
    print(f"   UNet Dice median {np.median(data['dice']):.3f} (min {data['dice'].min():.3f}); "
          f"voxels edited to Dice >= 0.95: from proposal {prop.sum():.0f}, from nothing "
          f"{scratch.sum():.0f} -> {1 - prop.sum() / scratch.sum():.1%} less effort "
          f"(per case median {np.median(1 - prop / np.maximum(scratch, 1)):.1%})")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", type=int, default=900)
    ap.add_argument("--splits", type=int, default=100)
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--epsilon", type=float, default=0.05)
    ap.add_argument("--delta", type=float, default=0.05)
    ap.add_argument("--tolerance", type=float, default=0.95)
    ap.add_argument("--calibration-share", type=float, default=0.5,
                    help="share of the cases validated for calibration in each split")
    ap.add_argument("--unet-cases", type=int, default=30,
                    help="cases for the effort figure with the project's UNet (0: skip)")
    ap.add_argument("--cache", help="keep the pool's per-case records in this .npz")
    args = ap.parse_args()
    data = load_or_build(args)
    err = data["dice"] < args.tolerance
    for src in np.unique(data["source"]):
        sel = data["source"] == src
        print(f"   {src}: {sel.sum()} cases, Dice median {np.median(data['dice'][sel]):.3f} "
              f"(min {data['dice'][sel].min():.3f}), errors {err[sel].mean():.1%}")
    rho = np.corrcoef(data["confidence"], data["dice"])[0, 1]
    print(f"   confidence vs Dice: Pearson r = {rho:.3f}; overall error rate {err.mean():.1%}")
    report_splits(*splits(data, args), args)
    curve(data, args)
    effort(data, args)
    unet_effort(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
