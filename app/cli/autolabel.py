"""``annotrace autolabel --pool POOL.csv``: auto-accept pool units above a calibrated threshold.

The calibration is either computed here from validated units (``--csv``, as ``calibrate``) or
read from the JSON ``calibrate`` printed (``--calibration``). A random share of the accepted
units (``--spot-check``) is routed to humans for the drift watch. The workspace form,
``annotrace autolabel WS --model ID``, applies the threshold ``annotrace calibrate WS`` stored
to the workspace's unlabelled cases (see :func:`app.cli.quality_ws.autolabel_workspace`):
accepted cases get a version with provenance ``auto:<model>;threshold=<t>;bound=<b>``.
"""

from __future__ import annotations

import json
import sys

from app.cli.calibrate import add_settings, calibration_report
from app.cli.quality import QualityCliError


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "autolabel", allow_abbrev=False, help="auto-accept confident units of a pool (TBAL)",
        description="Decide for every unit of a pool (unit,confidence CSV) whether it is "
                    "auto-accepted (confidence at or above the calibrated threshold; provenance "
                    "'auto, threshold t, bound b') or goes to the human worklist.")
    p.add_argument("workspace", nargs="?", help="workspace folder (workspace form)")
    p.add_argument("--pool", metavar="FILE", help="pool: unit,confidence (file form)")
    src = p.add_mutually_exclusive_group()
    src.add_argument("--csv", metavar="FILE", help="validated units: unit,confidence,dice")
    src.add_argument("--calibration", metavar="FILE", help="JSON printed by annotrace calibrate")
    add_settings(p)
    p.add_argument("--spot-check", type=float, default=0.0, metavar="RATE",
                   help="share of auto-accepted units routed to humans anyway (drift watch)")
    p.add_argument("--seed", type=int, default=0, help="seed of the spot-check draw")
    p.add_argument("--batch", help="batch name (part of the spot-check draw; default batch-1, "
                                   "in a workspace batch-<n+1>)")
    p.add_argument("--json", action="store_true", help="print the decisions as JSON")
    ws = p.add_argument_group("workspace form")
    ws.add_argument("--model", metavar="ID", help="the calibrated model")
    ws.add_argument("--run-model", action="store_true",
                    help="first run the model on unlabelled cases without a stored output")
    from app.cli.quality_ws import add_ws_auth

    add_ws_auth(p)
    p.set_defaults(func=run)


def run_workspace(args) -> int:
    from app.cli.output import print_json
    from app.cli.quality_ws import autolabel_workspace, new_cases, open_ws, run_model_outputs

    if args.pool or args.csv or args.calibration or not args.model:
        raise QualityCliError(f"{args.workspace}: the workspace form needs --model ID (the "
                              "calibration stored by annotrace calibrate WS; no --pool/--csv)")
    with open_ws(args, args.workspace) as s:
        if args.run_model:
            run_model_outputs(s, args.model, new_cases(s))
        out = autolabel_workspace(s, args.model, args.batch)
    if args.json:
        print_json(out)
        return 0
    print(f"{out['batch']}: threshold {out['threshold']:.2f} (bound {out['bound']:.4f}): "
          f"{out['auto_accepted']} of {out['pool_units']} unlabelled cases auto-accepted, "
          f"{out['to_humans']} to the worklist, {len(out['spot_checks'])} spot checks")
    return 0


def _load_calibration(path: str):
    from models.quality.tbal import Calibration

    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except FileNotFoundError:
        raise QualityCliError(f"{path}: no such file") from None
    except (OSError, ValueError) as exc:
        raise QualityCliError(f"{path}: not a calibration JSON ({exc})") from None
    need = ("threshold", "bound", "epsilon", "delta")
    if not isinstance(data, dict) or any(k not in data for k in need):
        raise QualityCliError(f"{path}: not a calibration JSON (needs {', '.join(need)})")
    thr, bound = data["threshold"], data["bound"]
    if thr is not None and (not isinstance(thr, (int, float)) or not isinstance(
            bound, (int, float)) or not 0 <= thr <= 1):
        raise QualityCliError(f"{path}: threshold/bound must be numbers in [0, 1] or null")
    data.setdefault("units_used", 0)
    data.setdefault("errors_used", 0)
    data.setdefault("coverage", 0.0)
    data.setdefault("units", 0)
    data.setdefault("tolerance", None)
    return Calibration.from_json(data)


def decide(calibration, units, confidence, spot_check=0.0, seed=0, batch="batch-1") -> dict:
    """Decisions for pool units, with the spot-checked share of the accepted ones."""
    from models.quality.drift import DriftMonitor
    from models.quality.tbal import apply_threshold

    decisions = apply_threshold(calibration, units, confidence)
    accepted = [d.unit for d in decisions if d.decision == "auto"]
    monitor = DriftMonitor(threshold=calibration.threshold,
                           tolerance=calibration.tolerance or 0.0,
                           epsilon=calibration.epsilon, spot_check_rate=spot_check, seed=seed)
    spot = set(monitor.route(batch, accepted))
    rows = [dict(d.as_json(), spot_check=d.unit in spot) for d in decisions]
    return {"threshold": calibration.threshold, "bound": calibration.bound,
            "provenance": calibration.provenance(), "pool_units": len(rows),
            "auto_accepted": len(accepted), "to_humans": len(rows) - len(accepted),
            "coverage": len(accepted) / len(rows) if rows else 0.0,
            "spot_checks": sorted(spot), "decisions": rows}


def run(args) -> int:
    from app.cli.quality_ws import is_workspace
    from models.quality.tables import read_units_csv

    if args.workspace is not None:
        if not is_workspace(args.workspace):
            raise QualityCliError(f"{args.workspace}: not an annotrace workspace (no "
                                  "workspace.json); for CSVs use --pool FILE")
        return run_workspace(args)
    if not args.pool or not (args.csv or args.calibration):
        raise QualityCliError("give --pool FILE and --csv FILE or --calibration FILE (or a "
                              "workspace folder)")
    args.batch = args.batch or "batch-1"
    pool = read_units_csv(args.pool, with_dice=False)
    if not 0.0 <= args.spot_check <= 1.0:
        raise QualityCliError(f"--spot-check: must lie in [0, 1], got {args.spot_check}")
    if args.csv:
        cal, _ = calibration_report(read_units_csv(args.csv, with_dice=True), args)
    else:
        cal = _load_calibration(args.calibration)
    out = decide(cal, pool.units, pool.confidence, args.spot_check, args.seed, args.batch)
    if args.json:
        json.dump(out, sys.stdout, indent=2)
        print()
        return 0
    if cal.threshold is None:
        print(f"no threshold passes (epsilon {cal.epsilon}, delta {cal.delta}): all "
              f"{out['pool_units']} units go to the human worklist")
    else:
        print(f"threshold {cal.threshold:.2f} (bound {cal.bound:.4f}): {out['auto_accepted']} of "
              f"{out['pool_units']} units auto-accepted ({100 * out['coverage']:.1f}%), "
              f"{out['to_humans']} to humans, {len(out['spot_checks'])} spot checks")
    return 0
