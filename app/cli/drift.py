"""``annotrace drift WS record|status``: the drift watch of auto-accepted labels.

``annotrace autolabel WS`` routes a seeded random share of each batch's auto-accepted cases to
humans (spot checks). When readers have corrected them (saved a version after the auto one),
``drift WS record --model ID --batch B`` scores each auto version against its correction, adds
the batch to the running Dice/precision estimate and, when it falls below the calibration's
tolerance (:class:`models.quality.drift.DriftMonitor`), raises an alert and suspends
auto-accepting until the model is recalibrated. ``status`` shows the state of every model.
"""

from __future__ import annotations

from app.cli.output import print_json
from app.cli.quality_ws import (QualityWorkspaceError, add_ws_auth, drift_record, drift_status,
                                is_workspace, open_ws)


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "drift", allow_abbrev=False, help="spot-check estimates and suspension of auto-accept",
        description="record: score a batch's spot-checked auto-accepted cases against the "
                    "readers' corrections (alert and suspend auto-accept below tolerance). "
                    "status: threshold in force or suspended, batches, running estimate.")
    p.add_argument("workspace", help="workspace folder")
    p.add_argument("action", choices=("record", "status"))
    p.add_argument("--model", metavar="ID", help="the calibrated model (record: required)")
    p.add_argument("--batch", help="record: the batch whose spot checks were corrected")
    p.add_argument("--partial", action="store_true",
                   help="record: record the corrected spot checks even if some are missing")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    add_ws_auth(p)
    p.set_defaults(func=run)


def _fmt(x, digits=3) -> str:
    return "-" if x is None else f"{x:.{digits}f}"


def run(args) -> int:
    if not is_workspace(args.workspace):
        raise QualityWorkspaceError(f"{args.workspace}: not an annotrace workspace (no "
                                    "workspace.json)")
    if args.action == "record" and not (args.model and args.batch):
        raise QualityWorkspaceError("drift record needs --model ID and --batch NAME")
    with open_ws(args, args.workspace) as s:
        if args.action == "record":
            out = drift_record(s, args.model, args.batch, args.partial)
        else:
            out = drift_status(s, args.model)
    if args.json:
        print_json(out)
        return 0
    if args.action == "record":
        e = out["estimate"]
        print(f"{out['batch']}: {e['checked']} spot checks, mean Dice {_fmt(e['mean_dice'])}, "
              f"precision {_fmt(e['precision'])}"
              + (f", {len(out['pending'])} not yet corrected" if out["pending"] else ""))
        r = out["running"]
        print(f"running since calibration: {r['checked']} checked, mean Dice "
              f"{_fmt(r['mean_dice'])}, precision {_fmt(r['precision'])}")
        if e["alert"]:
            print(f"ALERT: {e['reason']}; auto-accept of model {out['model']} is suspended "
                  "until it is recalibrated")
        return 0
    if not out["models"]:
        print("no calibrated model in this workspace")
    for mid, m in out["models"].items():
        state = (f"SUSPENDED (was {_fmt(m['suspended_threshold'], 2)})" if m["suspended"]
                 else f"threshold {_fmt(m['threshold'], 2)}")
        r = m["running"]
        print(f"{mid}: {state}; spot-check rate {m['spot_check_rate']:.2f}; {len(m['batches'])} "
              f"batch(es) recorded, mean Dice {_fmt(r['mean_dice'])}, precision "
              f"{_fmt(r['precision'])}; pending: {', '.join(m['pending_batches']) or 'none'}")
    return 0
