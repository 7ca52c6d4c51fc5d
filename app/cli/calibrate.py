"""``annotrace calibrate FILE.csv`` (or ``--csv FILE``): the TBAL auto-accept threshold from
validated units.

The CSV holds human-validated units, ``unit,confidence,dice`` with a header. The workspace
form ``annotrace calibrate WS --model ID --task T`` reads the validated units from the
workspace (cases with a stored model output and an approved/reference version, see
:mod:`app.cli.quality_ws`), calls the same :func:`calibration_report` and stores the result
encrypted in the workspace, where ``annotrace autolabel WS`` applies it.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def add_settings(p) -> None:
    """The TBAL settings shared by ``calibrate`` and ``autolabel``."""
    p.add_argument("--epsilon", type=float, default=0.05,
                   help="largest error rate accepted among auto-accepted units (default 0.05)")
    p.add_argument("--delta", type=float, default=0.05,
                   help="allowed probability that the bound fails (default 0.05)")
    p.add_argument("--tolerance", type=float, default=0.9,
                   help="a unit is an error when its Dice is below this (default 0.9)")
    p.add_argument("--grid", metavar="START:STOP:STEP", default="0.50:0.99:0.01",
                   help="candidate thresholds, inclusive (default 0.50:0.99:0.01)")


def parse_grid(text: str) -> tuple[float, ...]:
    from app.cli.quality import QualityCliError

    try:
        start, stop, step = (float(x) for x in text.split(":"))
    except ValueError:
        raise QualityCliError(f"--grid: expected START:STOP:STEP, got {text!r}") from None
    if step <= 0 or stop < start:
        raise QualityCliError(f"--grid: expected START <= STOP and STEP > 0, got {text!r}")
    n = int(round((stop - start) / step)) + 1
    return tuple(round(start + i * step, 10) for i in range(n))


def calibration_report(table, args):
    """Calibrate on a :class:`~models.quality.tables.UnitTable`; the JSON the command prints."""
    from models.quality.planner import plan_validation
    from models.quality.tbal import calibrate, threshold_table

    grid = parse_grid(args.grid)
    cal = calibrate(table.confidence, table.dice, tolerance=args.tolerance,
                    epsilon=args.epsilon, delta=args.delta, grid=grid)
    out = {"threshold": cal.threshold, "coverage": cal.coverage, "bound": cal.bound,
           "units_used": cal.units_used, "errors_used": cal.errors_used, "units": cal.units,
           "errors": int((table.dice < args.tolerance).sum()), "epsilon": cal.epsilon,
           "delta": cal.delta, "tolerance": cal.tolerance, "candidates": cal.candidates,
           "provenance": cal.provenance()}
    if getattr(args, "plan", None):
        errors = table.dice < args.tolerance
        out["plans"] = [plan_validation(table.confidence, errors, x, epsilon=args.epsilon,
                                        delta=args.delta, grid=grid).as_json()
                        for x in args.plan]
    if getattr(args, "table", False):
        out["table"] = threshold_table(table.confidence, table.dice < args.tolerance,
                                       args.epsilon, args.delta, grid)
    return cal, out


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "calibrate", allow_abbrev=False, help="calibrate the auto-accept threshold (TBAL)",
        description="Choose the lowest confidence threshold whose one-sided Clopper-Pearson "
                    "upper bound (at delta / number of candidates) on the error rate of the "
                    "validated units at or above it is <= epsilon. Prints JSON: threshold "
                    "(null when none passes), coverage, bound, units_used.")
    p.add_argument("workspace", nargs="?", metavar="WS_OR_CSV",
                   help="workspace folder (workspace form), or the CSV of validated units "
                        "(file form, as --csv)")
    p.add_argument("--csv", metavar="FILE",
                   help="validated units: unit,confidence,dice with a header (file form)")
    add_settings(p)
    p.add_argument("--plan", type=float, nargs="+", metavar="COVERAGE",
                   help="also estimate the validated units needed for these coverages")
    p.add_argument("--table", action="store_true", help="include the per-threshold table")
    p.add_argument("--json", action="store_true",
                   help="accepted for symmetry with the other commands (output is always JSON)")
    ws = p.add_argument_group("workspace form")
    ws.add_argument("--model", metavar="ID", help="the model whose threshold is calibrated")
    ws.add_argument("--task", help="task: its reference versions are the human labels "
                                   "(else each case's approved version)")
    ws.add_argument("--run-model", action="store_true",
                    help="first run the model on approved cases that have no stored output "
                         "(imports torch; slow)")
    ws.add_argument("--spot-check", type=float, default=0.1, metavar="RATE",
                    help="share of auto-accepted cases routed to humans (drift watch; "
                         "default 0.1)")
    ws.add_argument("--seed", type=int, default=0, help="seed of the spot-check draws")
    from app.cli.quality_ws import add_ws_auth

    add_ws_auth(p)
    p.set_defaults(func=run)


def run_workspace(args) -> int:
    from app.cli.output import print_json
    from app.cli.quality import QualityCliError
    from app.cli.quality_ws import calibrate_workspace, open_ws, run_model_outputs

    if args.csv or not args.model or not args.task:
        raise QualityCliError(f"{args.workspace}: the workspace form needs --model ID and "
                              "--task T (and no --csv)")
    if not 0.0 <= args.spot_check <= 1.0:
        raise QualityCliError(f"--spot-check: must lie in [0, 1], got {args.spot_check}")
    with open_ws(args, args.workspace) as s:
        if args.run_model:
            cases = [c["case_id"] for c in s.list_cases() if c["state"] == "approved"]
            run_model_outputs(s, args.model, cases)
        out = calibrate_workspace(s, args.model, args.task, args)
    print_json(out)
    return 0


def run(args) -> int:
    from app.cli.quality import QualityCliError
    from app.cli.quality_ws import is_workspace
    from models.quality.tables import read_units_csv

    if args.workspace is not None and not is_workspace(args.workspace):
        if args.csv or Path(args.workspace).is_dir():
            raise QualityCliError(f"{args.workspace}: not an annotrace workspace (no "
                                  "workspace.json)")
        # ``annotrace calibrate units.csv``: the positional names the file form's CSV
        args.csv, args.workspace = args.workspace, None
    if args.workspace is not None:
        return run_workspace(args)
    if not args.csv:
        raise QualityCliError("give --csv FILE (validated units) or a workspace folder")

    table = read_units_csv(args.csv, with_dice=True)
    _, out = calibration_report(table, args)
    json.dump(out, sys.stdout, indent=2)
    print()
    return 0
