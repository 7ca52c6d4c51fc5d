"""``annotrace quality REFERENCE LABELS`` / ``annotrace quality WS --task T``: quality metrics.

File form: REFERENCE and LABELS are two label-map files, or two folders whose files are paired
by name. Workspace form (the first argument is a workspace folder): mark approved cases as the
reference standard of a task (``--reference mark CASE...``), then score every reader's, one
reader's (``--against``) or a model's (``--model``) labels against it, per case and segment
(:func:`app.cli.quality_ws.evaluate_workspace`), and write an HTML report (``--report DIR``).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

LABEL_SUFFIXES = (".nii.gz", ".nii", ".nrrd", ".mha", ".mhd", ".dcm")
#: Without --segments, a map with more values than this is refused (a grey image given by
#: mistake would otherwise be scored as hundreds of segments); atlases like AAL (116) pass.
MAX_AUTO_SEGMENTS = 128
SUMMARY_KEYS = ("dice", "iou", "precision", "recall", "hd95_mm", "asd_mm", "volume_diff_ml",
                "lesion_f1")


class QualityCliError(Exception):
    """Bad command-line input (exit code 2); the message names the file and the reason."""

    exit_code = 2


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "quality", allow_abbrev=False, help="metrics of label maps against reference label maps",
        description="Dice, IoU, precision, recall, lesion-wise F1, 95 % Hausdorff and average "
                    "surface distance (mm), volume difference, per case and per segment, with "
                    "bootstrap 95 % confidence intervals of the means over cases.")
    p.add_argument("reference", help="reference label map, or a folder of them; or a workspace")
    p.add_argument("labels", nargs="?",
                   help="label map to score, or a folder (files paired by name)")
    ws = p.add_argument_group("workspace form (the first argument is a workspace folder)")
    ws.add_argument("--task", help="the task whose reference standard is used")
    ws.add_argument("--reference", dest="reference_action", nargs="+",
                    metavar=("mark|unmark|list", "CASE"),
                    help="mark (approved cases only) or unmark cases as the task's reference "
                         "standard, or list them")
    ws.add_argument("--version", type=int, metavar="N",
                    help="with --reference mark: the version (default: the approved one; a "
                         "STAPLE consensus version is accepted too)")
    who = ws.add_mutually_exclusive_group()
    who.add_argument("--against", metavar="USER", help="score only this reader's versions")
    who.add_argument("--model", metavar="ID", help="score this model's stored outputs")
    ws.add_argument("--report", metavar="DIR", help="write report.html with PNG plots here")
    ws.add_argument("--reliance", action="store_true",
                    help="per reader: how much of accepted proposals they keep, remove and "
                         "add to, and whether that changes over their cases (automation "
                         "bias; no --task needed; --model names the stored outputs)")
    from app.cli.quality_ws import add_ws_auth

    add_ws_auth(p)
    p.add_argument("--segments", metavar="V,V", help="label values to score (default: all)")
    p.add_argument("--no-surface", action="store_true", help="skip the surface distances")
    p.add_argument("--resamples", type=int, default=2000, help="bootstrap resamples")
    p.add_argument("--seed", type=int, default=0, help="bootstrap seed")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=run)


def label_files(path: Path) -> dict[str, Path]:
    """Label-map files of a folder by name (or the one file), for pairing across folders."""
    if not path.exists():
        raise QualityCliError(f"{path}: no such file or folder")
    if path.is_file():
        return {path.name: path}
    files = {f.name: f for f in sorted(path.iterdir())
             if f.is_file() and f.name.lower().endswith(LABEL_SUFFIXES)}
    if not files:
        raise QualityCliError(f"{path}: holds no label maps ({', '.join(LABEL_SUFFIXES)})")
    return files


def read_label_map(path: Path):
    """(array (k, j, i) of integers, 4x4 affine, spacing (i, j, k)) of a label-map file."""
    import numpy as np

    from viewers.io import read_volume

    volume = read_volume(path)
    array = volume.array
    if array.dtype.kind == "f":
        if not np.all(np.isfinite(array)) or not np.array_equal(array, np.round(array)):
            raise QualityCliError(f"{path}: not a label map (non-integer values)")
        array = array.astype(np.int32)
    elif array.dtype.kind not in "iub":
        raise QualityCliError(f"{path}: not a label map (dtype {array.dtype})")
    return array, volume.affine_lps, tuple(float(s) for s in volume.spacing_mm), volume


def same_grid(path, affine, ref_path, ref_affine, shape, ref_shape) -> None:
    import numpy as np

    if shape != ref_shape:
        raise QualityCliError(f"{path}: grid {shape} differs from {ref_path}'s {ref_shape} "
                              "(k, j, i)")
    if not np.allclose(affine, ref_affine, atol=1e-3):
        raise QualityCliError(f"{path}: geometry (origin/spacing/direction) differs from "
                              f"{ref_path}'s")


def parse_segments(text: str | None) -> list[int] | None:
    if text is None:
        return None
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise QualityCliError(f"--segments: expected label values like 1,2, got {text!r}") \
            from None
    if not values or min(values) <= 0:
        raise QualityCliError("--segments: label values must be positive integers")
    return values


def pair_files(reference: Path, labels: Path) -> list[tuple[str, Path, Path]]:
    refs, tests = label_files(reference), label_files(labels)
    if reference.is_file() and labels.is_file():
        return [(labels.name, reference, labels)]
    if reference.is_file() != labels.is_file():
        raise QualityCliError(f"{labels}: give two files or two folders")
    missing = sorted(set(refs) ^ set(tests))
    if missing:
        side = reference if missing[0] in refs else labels
        raise QualityCliError(f"{side / missing[0]}: has no counterpart of the same name in "
                              f"{labels if side == reference else reference}")
    return [(name, refs[name], tests[name]) for name in sorted(refs)]


def evaluate_pairs(pairs, segments=None, surface=True, resamples=2000, seed=0) -> dict:
    """Per-case, per-segment metrics and per-segment summaries of (case, ref, test) arrays.

    ``pairs`` yields ``(case, ref_array, test_array, spacing_ijk)``; the return value is the
    JSON document the command prints.
    """
    from models.quality.metrics import label_metrics
    from models.quality.summary import summarize_records

    cases, per_segment = [], {}
    for case, ref, test, spacing in pairs:
        metrics = label_metrics(test, ref, spacing, segments=segments, surface=surface)
        row = {str(v): m.as_json() for v, m in metrics.items()}
        cases.append({"case": case, "segments": row})
        for v, m in row.items():
            per_segment.setdefault(v, []).append(m)
    summary = {v: {k: s.as_json() for k, s in summarize_records(
        recs, SUMMARY_KEYS, n_resamples=resamples, seed=seed).items()}
        for v, recs in sorted(per_segment.items(), key=lambda kv: int(kv[0]))}
    return {"cases": cases, "summary": summary}


def _fmt(x, digits=3) -> str:
    return "-" if x is None else f"{x:.{digits}f}"


def run(args) -> int:
    from app.cli.quality_ws import is_workspace

    if is_workspace(args.reference):
        return run_workspace(args)
    if args.labels is None:
        raise QualityCliError(f"{args.reference}: give the label maps to score (or a workspace "
                              "folder)")
    if args.reliance:
        raise QualityCliError(f"--reliance: only for a workspace; {args.reference} is not one")
    for opt in ("task", "reference_action", "against", "model", "report"):
        if getattr(args, opt) is not None:
            raise QualityCliError(f"--{opt.split('_')[0]}: only for a workspace; "
                                  f"{args.reference} is not one")
    return run_files(args)


def run_workspace(args) -> int:
    """``quality WS --reference ...`` / ``quality WS --task T [--against|--model] [--report]``."""
    from app.cli.output import print_json
    from app.cli.quality_ws import evaluate_workspace, open_ws, report_data

    if args.labels is not None:
        raise QualityCliError(f"{args.reference} is a workspace: name what to score with "
                              "--against USER or --model ID, not a second path")
    if args.reliance:
        return run_reliance(args)
    if not args.task:
        raise QualityCliError(f"{args.reference}: a workspace needs --task T")
    with open_ws(args, args.reference) as s:
        if args.reference_action:
            action, cases = args.reference_action[0], args.reference_action[1:]
            if action == "list":
                refs = s.references(args.task)
                s.audit("quality.reference", sorted(refs), details={"task": args.task,
                                                                    "step": "list"})
                if args.json:
                    print_json({"task": args.task, "references": refs})
                else:
                    for cid, m in sorted(refs.items()):
                        print(f"{cid}  version {m['version']} ({m['kind']})")
                return 0
            if action not in ("mark", "unmark") or not cases:
                raise QualityCliError("--reference: expected mark CASE..., unmark CASE... or "
                                      "list")
            for cid in cases:
                if action == "mark":
                    m = s.mark_reference(args.task, cid, args.version)
                    print(f"case {cid}: version {m['version']} ({m['kind']}) is a reference "
                          f"for task {args.task!r}")
                else:
                    s.unmark_reference(args.task, cid)
                    print(f"case {cid}: no longer a reference for task {args.task!r}")
            return 0
        report = evaluate_workspace(s, args.task, args.against, args.model,
                                    not args.no_surface, args.resamples, args.seed)
        if args.report:
            from models.quality.report import write_report

            files = write_report(args.report, report_data(s, args.task, args.model, report))
            s.audit("quality.report", details={"task": args.task, "files": len(files)})
            report["report"] = str(files["html"])
    if args.json:
        print_json(report)
        return 0
    print(f"task {report['task']}: {report['reference_cases']} reference case(s)")
    for name, rd in report["readers"].items():
        for sid, summ in rd["summary"].items():
            d = summ["dice"]
            ci = ("no CI" if d["ci_low"] is None
                  else f"95% CI {_fmt(d['ci_low'])}-{_fmt(d['ci_high'])}")
            print(f"{name[:28]:<28} segment {sid}: mean Dice {_fmt(d['mean'])} ({ci}, "
                  f"n={d['n']}); mean HD95 {_fmt(summ['hd95_mm']['mean'], 2)} mm")
    if args.report:
        print(f"report written to {report['report']}")
    return 0


def run_reliance(args) -> int:
    """``quality WS --reliance [--model ID]``: per-reader reliance on accepted proposals."""
    from app.cli.output import print_json
    from app.cli.quality_ws import open_ws, reliance_workspace

    for opt in ("task", "reference_action", "against", "report"):
        if getattr(args, opt) is not None:
            raise QualityCliError(f"--{opt.split('_')[0]}: not with --reliance")
    with open_ws(args, args.reference) as s:
        out = reliance_workspace(s, args.model)
    if args.json:
        print_json(out)
        return 0
    if not out["readers"]:
        print("no reader's version took voxels from an accepted proposal")
        return 0
    print(f"{'reader':<20} {'cases':>5} {'kept':>6} {'Dice':>6} {'removed':>8} {'added':>6} "
          f"{'as proposed':>12}  earlier -> later half")
    for name, r in out["readers"].items():
        asp = f"{r['as_proposed']} of {r['known']}" if r["known"] else "-"
        trend = ("-" if r["earlier"] is None
                 else f"{_fmt(r['earlier'], 2)} -> {_fmt(r['later'], 2)}")
        if r["earlier_dice"] is not None and r["later_dice"] is not None:
            trend += f"; Dice {_fmt(r['earlier_dice'])} -> {_fmt(r['later_dice'])}"
        print(f"{name[:20]:<20} {r['cases']:>5} {_fmt(r['proposal_share'], 2):>6} "
              f"{_fmt(r['dice_to_proposal']):>6} {_fmt(r['removed'], 3):>8} "
              f"{_fmt(r['added'], 3):>6} {asp:>12}  {trend}")
    print("kept: median share of the reader's labelled voxels taken over unchanged from the "
          "proposal; Dice, removed, added: their version against the stored proposal "
          "(medians)")
    return 0


def run_files(args) -> int:
    import numpy as np

    segments = parse_segments(args.segments)
    pairs = pair_files(Path(args.reference), Path(args.labels))

    def arrays():
        for name, ref_path, test_path in pairs:
            ref, ref_aff, spacing, _ = read_label_map(ref_path)
            test, test_aff, _, _ = read_label_map(test_path)
            same_grid(test_path, test_aff, ref_path, ref_aff, test.shape, ref.shape)
            if segments is None:
                for path, array in ((ref_path, ref), (test_path, test)):
                    n = len(np.unique(array)) - 1
                    if n > MAX_AUTO_SEGMENTS:
                        raise QualityCliError(
                            f"{path}: holds {n} label values, an image rather than a label "
                            "map? name the segments to score with --segments")
            yield name, ref, test, spacing

    report = evaluate_pairs(arrays(), segments, not args.no_surface, args.resamples, args.seed)
    if args.json:
        json.dump(report, sys.stdout, indent=2)
        print()
        return 0
    print(f"{'case':<28} {'seg':>4} {'dice':>6} {'iou':>6} {'prec':>6} {'recall':>6} "
          f"{'hd95mm':>7} {'asdmm':>6} {'dvol_ml':>8} {'lesF1':>6}")
    for c in report["cases"]:
        for v, m in c["segments"].items():
            print(f"{c['case'][:28]:<28} {v:>4} {_fmt(m['dice']):>6} {_fmt(m['iou']):>6} "
                  f"{_fmt(m['precision']):>6} {_fmt(m['recall']):>6} {_fmt(m['hd95_mm'], 2):>7} "
                  f"{_fmt(m['asd_mm'], 2):>6} {_fmt(m['volume_diff_ml'], 2):>8} "
                  f"{_fmt(m['lesion_f1']):>6}")
    for v, s in report["summary"].items():
        d = s["dice"]
        ci = ("no CI" if d["ci_low"] is None
              else f"95% CI {_fmt(d['ci_low'])}-{_fmt(d['ci_high'])}")
        print(f"segment {v}: mean Dice {_fmt(d['mean'])} ({ci}, n={d['n']}); "
              f"mean HD95 {_fmt(s['hd95_mm']['mean'], 2)} mm")
    return 0
