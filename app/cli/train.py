"""``annotrace train WORKSPACE --from-model NAME``: a micro-model from approved labels.

Collects the workspace's approved cases (the approved version's labels), fine-tunes the
parent model on part of them in this process (progress on stderr), measures the Dice of
the new model's proposals on the held-out rest, and registers the new version in the
workspace, encrypted (weights never written in plaintext). Ctrl-C cancels: nothing is
registered.
"""

from __future__ import annotations

import sys

from app.cli.output import print_json
from app.cli.workspace import add_auth, open_session, password


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "train", allow_abbrev=False,
        help="fine-tune a model on the workspace's approved labels (new model version)",
        description="Fine-tune MODEL on the approved cases of WORKSPACE, hold out part of "
                    "them for validation, and register the result as a new model version "
                    "(parent, training cases, validation Dice, weights SHA-256) in the "
                    "workspace, encrypted.")
    p.add_argument("workspace")
    p.add_argument("--from-model", required=True, metavar="NAME[@VERSION]",
                   help="built-in model (brainmask-unet) or a model version of the workspace")
    p.add_argument("--steps", type=int, default=200, help="training steps (default 200)")
    p.add_argument("--holdout", type=float, default=0.2,
                   help="fraction of approved cases held out for validation (default 0.2)")
    p.add_argument("--seed", type=int, default=0, help="split and augmentation seed")
    p.add_argument("--lr", type=float, default=None,
                   help="learning rate (default 1e-4: keeps what a good parent knows; the "
                        "output compares the new version with its parent)")
    p.add_argument("--name", metavar="NEWNAME",
                   help="name of the new model (default: the parent's workspace name, or "
                        "<built-in name>-local)")
    p.add_argument("--json", action="store_true", help="print the new version's record")
    p.add_argument("--quiet", action="store_true", help="no progress on stderr")
    add_auth(p)
    p.set_defaults(func=run)


def _check(args) -> None:
    from app.cli.errors import UsageError

    if args.steps < 1:
        raise UsageError(f"--steps {args.steps}: must be at least 1")
    if args.lr is not None and not args.lr > 0:
        raise UsageError(f"--lr {args.lr}: must be positive")
    if not 0.0 <= args.holdout < 1.0:
        raise UsageError(f"--holdout {args.holdout}: must be in [0, 1)")


def _progress(quiet: bool):
    def report(done, total, stage):
        if quiet:
            return
        every = max(1, total // 20)
        if done == total or done % every == 0 or done == 1:
            print(f"{stage}: {done}/{total}", file=sys.stderr, flush=True)

    return report


def run(args) -> int:
    from app.workspace_models import fine_tune_plan, prepare, register_result
    from compliance.errors import SessionLocked
    from models.errors import Cancelled

    _check(args)

    def log(line):
        if not args.quiet:
            print(line, file=sys.stderr, flush=True)

    with open_session(args) as s:
        try:
            plan = prepare(s, args.from_model, args.name, log)
            result = fine_tune_plan(plan, args.steps, args.holdout, args.seed,
                                    progress=_progress(args.quiet), log=log, lr=args.lr)
        except (KeyboardInterrupt, Cancelled):
            s.audit("model.train_cancelled", details={"parent": args.from_model})
            print("\nannotrace: training cancelled; nothing registered", file=sys.stderr)
            return 130
        try:
            record = register_result(s, plan, result, args.holdout, args.seed)
        except SessionLocked:
            # A run longer than the idle lock: re-authenticate (audited) instead of losing
            # the trained weights; they are still only in memory.
            s.unlock(password(args, "Session locked during training; password: "))
            record = register_result(s, plan, result, args.holdout, args.seed)
    if args.json:
        print_json(record, indent=2)
        return 0
    dice = record["mean_validation_dice"]
    print(f"registered {record['name']}@{record['version']}  id {record['model_version_id']}")
    print(f"parent     {record['parent']['model_id']}  "
          f"({len(record['training_cases'])} training case(s))")
    per_case = ", ".join(f"{c} {d:.4f}" for c, d in record["validation_dice"].items())
    print(f"validation Dice {'-' if dice is None else f'{dice:.4f}'}"
          + (f"  ({per_case})" if per_case else "  (no case held out)"))
    from app.workspace_models import parent_comparison

    comparison = parent_comparison(record)
    if comparison:
        print(comparison)
    print(f"weights sha256 {record['weights_sha256']}")
    return 0
