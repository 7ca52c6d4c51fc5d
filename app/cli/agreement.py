"""``annotrace agreement RATER RATER [...]``: agreement of several readers' label maps.

Every file is one reader's label map of the same case on the same grid. Kappa rates every
voxel (Cohen's for two readers, Fleiss' for more); Dice is computed per segment and pair; the
STAPLE consensus can be written as a file and used as a reference. The workspace form (each
reader's latest version of a case, ``annotrace agreement WS --cases ...``) calls the same
:func:`agreement_report` through :func:`app.cli.quality_ws.agreement_workspace`.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from app.cli.quality import QualityCliError, parse_segments, read_label_map, same_grid


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "agreement", allow_abbrev=False, help="agreement between readers' label maps",
        description="Cohen's kappa (two readers) or Fleiss' kappa (more) over all voxels, "
                    "pairwise Dice per segment, and a STAPLE consensus.")
    p.add_argument("raters", nargs="+",
                   help="label maps of the same case, one per reader; or a workspace folder")
    p.add_argument("--segments", metavar="V,V", help="label values (default: all)")
    p.add_argument("--staple", metavar="OUT", help="write the STAPLE consensus label map here")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    ws = p.add_argument_group("workspace form (the first argument is a workspace folder)")
    ws.add_argument("--cases", nargs="+", metavar="CASE",
                    help="cases read by several readers (each reader's latest version)")
    ws.add_argument("--save-staple", action="store_true",
                    help="save each STAPLE consensus as a new version (provenance auto:staple)")
    ws.add_argument("--staple-reference", metavar="TASK",
                    help="save the consensus and mark it as TASK's reference standard")
    from app.cli.quality_ws import add_ws_auth

    add_ws_auth(p)
    p.set_defaults(func=run)


def run_workspace(args) -> int:
    from app.cli.output import print_json
    from app.cli.quality_ws import agreement_workspace, open_ws

    if len(args.raters) > 1 or not args.cases:
        raise QualityCliError(f"{args.raters[0]} is a workspace: name the cases with "
                              "--cases CASE...")
    if args.staple or args.segments:
        raise QualityCliError("--staple/--segments are for label-map files; in a workspace "
                              "use --save-staple or --staple-reference TASK")
    with open_ws(args, args.raters[0]) as s:
        out = agreement_workspace(s, args.cases, args.save_staple, args.staple_reference)
    if args.json:
        print_json(out)
        return 0
    for rep in out["cases"]:
        kappa = rep["kappa"]
        print(f"case {rep['case']}: {rep['kappa_kind']} kappa "
              f"{'undefined' if kappa is None else f'{kappa:.4f}'} ({len(rep['raters'])} "
              "readers)")
        for v, seg in rep["segments"].items():
            print(f"  segment {v}: mean pairwise Dice {seg['mean_pairwise_dice']:.4f}")
            for name, row in zip(rep["raters"], seg["dice_matrix"]):
                print(f"    {name[:20]:<20} " + " ".join(f"{x:.3f}" for x in row))
        if "version" in rep["staple"]:
            print(f"  STAPLE consensus saved as version {rep['staple']['version']}"
                  + (f", reference for {rep['staple']['reference_task']!r}"
                     if "reference_task" in rep["staple"] else ""))
    return 0


def agreement_report(arrays, names, segments=None):
    """(report dict, consensus label map) of readers' label arrays on one grid."""
    import numpy as np

    from models.quality.agreement import (cohen_kappa, fleiss_kappa, multilabel_staple,
                                          pairwise_dice, staple)

    if segments is None:
        segments = sorted(set().union(*(np.unique(a).tolist() for a in arrays)) - {0})
    kappa = cohen_kappa(*arrays) if len(arrays) == 2 else fleiss_kappa(arrays)
    out = {"raters": names, "kappa": kappa,
           "kappa_kind": "cohen" if len(arrays) == 2 else "fleiss", "segments": {}}
    if len(segments) == 1 or not segments:
        v = segments[0] if segments else 1
        res = staple([a == v for a in arrays])
        consensus = res.consensus.astype(arrays[0].dtype) * v
        out["staple"] = {"kind": "binary", "sensitivity": list(res.sensitivity),
                         "specificity": list(res.specificity)}
    else:
        masked = [np.where(np.isin(a, segments), a, 0) for a in arrays]
        consensus = multilabel_staple(masked)
        out["staple"] = {"kind": "multilabel"}
    for v in segments:
        matrix = pairwise_dice([a == v for a in arrays])
        off = matrix[~np.eye(len(arrays), dtype=bool)]
        out["segments"][str(v)] = {"dice_matrix": np.round(matrix, 6).tolist(),
                                   "mean_pairwise_dice": float(off.mean()),
                                   "dice_to_staple": [float(x) for x in pairwise_dice(
                                       [consensus == v] + [a == v for a in arrays])[0, 1:]]}
    return out, consensus


def run(args) -> int:
    from app.cli.quality_ws import is_workspace

    if is_workspace(args.raters[0]):
        return run_workspace(args)
    if args.cases or args.save_staple or args.staple_reference:
        raise QualityCliError(f"--cases/--save-staple/--staple-reference: only for a "
                              f"workspace; {args.raters[0]} is not one")
    if len(args.raters) < 2:
        raise QualityCliError("agreement needs the label maps of at least two readers")
    arrays, names, first = [], [], None
    for path in map(Path, args.raters):
        array, affine, _, volume = read_label_map(path)
        if first is None:
            first = (path, affine, array.shape, volume)
        else:
            same_grid(path, affine, first[0], first[1], array.shape, first[2])
        arrays.append(array)
        names.append(str(path))
    report, consensus = agreement_report(arrays, names, parse_segments(args.segments))
    if args.staple:
        from viewers.io import write_volume

        write_volume(first[3].with_array(consensus), args.staple)
        report["staple"]["file"] = args.staple
    if args.json:
        json.dump(report, sys.stdout, indent=2)
        print()
        return 0
    kappa = report["kappa"]
    print(f"{report['kappa_kind']} kappa over all voxels: "
          f"{'undefined' if kappa is None else f'{kappa:.4f}'} ({len(names)} readers)")
    for v, s in report["segments"].items():
        print(f"segment {v}: mean pairwise Dice {s['mean_pairwise_dice']:.4f}")
        for name, row in zip(names, s["dice_matrix"]):
            print(f"  {Path(name).name[:24]:<24} " + " ".join(f"{x:.3f}" for x in row))
    if args.staple:
        print(f"STAPLE consensus written to {args.staple}")
    return 0
