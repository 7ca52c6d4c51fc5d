"""``annotrace calibrate --csv FILE``: the TBAL auto-accept threshold from validated units.

The CSV holds human-validated units, ``unit,confidence,dice`` with a header. The workspace
form (validated units read from a workspace) will call the same :func:`calibration_report`.
"""

from __future__ import annotations

import json
import sys


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
    p.add_argument("--csv", required=True, metavar="FILE",
                   help="validated units: unit,confidence,dice with a header")
    add_settings(p)
    p.add_argument("--plan", type=float, nargs="+", metavar="COVERAGE",
                   help="also estimate the validated units needed for these coverages")
    p.add_argument("--table", action="store_true", help="include the per-threshold table")
    p.set_defaults(func=run)


def run(args) -> int:
    from models.quality.tables import read_units_csv

    table = read_units_csv(args.csv, with_dice=True)
    _, out = calibration_report(table, args)
    json.dump(out, sys.stdout, indent=2)
    print()
    return 0
