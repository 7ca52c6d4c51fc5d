"""``annotrace rank PATH``: order unlabelled cases for labelling by the model's uncertainty.

PATH is a folder of per-case probability maps, or a CSV ``case,path`` (paths relative to the
CSV) -- or a workspace folder (``annotrace rank WS --model ID``: its unlabelled cases ranked by
the stored outputs' uncertainty, stored for the GUI worklist). A ``.npy`` file holds a
foreground map ``(k, j, i)``, class maps ``(C, k, j, i)``, or, for ``--method variance`` or
``disagreement``, stochastic samples ``(S, k, j, i)`` / ``(S, C, k, j, i)`` (MC dropout or
test-time augmentation); NIfTI/NRRD/MHA files hold a foreground map. In a workspace,
``--method disagreement`` runs the model on three augmented views of each unlabelled case
(:mod:`models.tta`) and scores how differently it segments them; ``--method committee --with
OTHER`` runs other models of the same structures on each case and scores how differently the
models segment it (query by committee).
"""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

from app.cli.quality import QualityCliError

MAP_SUFFIXES = (".npy", ".nii.gz", ".nii", ".nrrd", ".mha")


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "rank", allow_abbrev=False, help="rank unlabelled cases by uncertainty (active learning)",
        description="Score each case's probability maps by mean voxel entropy, by the "
                    "variance across stochastic samples or by how much the samples' "
                    "segmentations disagree (1 - mean pairwise Dice), and list the cases most "
                    "informative first, optionally spread out for diversity.")
    p.add_argument("path", help="folder of probability maps, or a CSV case,path; or a "
                                "workspace folder")
    p.add_argument("--method", choices=("entropy", "variance", "disagreement", "committee"),
                   default="entropy",
                   help="disagreement: of the model's segmentations of augmented views (in a "
                        "workspace it runs the model 3 more times per case); committee "
                        "(workspace only): of the model's and the --with models' "
                        "segmentations, which follows the model's errors best "
                        "(docs/quality.md)")
    p.add_argument("--diversity", type=float, default=0.0, metavar="W",
                   help="weight in [0, 1] of distance to cases already picked (default 0); "
                        "in a workspace the distance is in the model's own description of "
                        "the cases, from the approved ones too (runs the model once more "
                        "per unlabelled and approved case)")
    p.add_argument("--top", type=int, metavar="N", help="list only the first N cases")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    ws = p.add_argument_group("workspace form")
    ws.add_argument("--model", metavar="ID", help="the model whose stored outputs are ranked")
    ws.add_argument("--with", dest="members", action="append", default=[], metavar="OTHER",
                    help="another model of the same structures in the committee (repeatable; "
                         "for --method committee, e.g. --with deepbet)")
    ws.add_argument("--run-model", action="store_true",
                    help="first run the model on unlabelled cases without a stored output")
    from app.cli.quality_ws import add_ws_auth

    add_ws_auth(p)
    p.set_defaults(func=run)


def run_workspace(args) -> int:
    from app.cli.output import print_json
    from app.cli.quality_ws import new_cases, open_ws, rank_workspace, run_model_outputs

    if not args.model:
        raise QualityCliError(f"{args.path}: the workspace form needs --model ID")
    if args.method == "variance":
        raise QualityCliError("--method variance: the workspace form ranks by the stored "
                              "entropy, test-time-augmentation disagreement or a committee's "
                              "disagreement")
    if not 0.0 <= args.diversity <= 1.0:
        raise QualityCliError(f"--diversity must lie in [0, 1], got {args.diversity}")
    if (args.method == "committee") != bool(args.members):
        raise QualityCliError("--method committee needs --with OTHER (another model), and "
                              "--with is for --method committee only")
    with open_ws(args, args.path) as s:
        loaded = {}
        if args.diversity > 0:
            # refused before the model proposes on anything if it cannot describe cases
            from models.embedding import embeddable_network
            from models.run import _spec

            loaded[args.model] = _spec(args.model).load()
            embeddable_network(loaded[args.model])
        if args.run_model:
            run_model_outputs(s, args.model, new_cases(s), runnable=loaded.get(args.model))
        out = rank_workspace(s, args.model, args.diversity, method=args.method,
                             members=args.members, loaded=loaded)
    if args.top is not None:
        out["cases"] = out["cases"][: max(0, args.top)]
    if args.json:
        print_json(out)
        return 0
    unit = "bits" if out["method"] == "entropy" else "disagreement"
    for r in out["cases"]:
        print(f"{r['rank']:>4}  {r['case']:<32} {r['score']:.5f} {unit}")
    return 0


def _cases(path: Path) -> list[tuple[str, Path]]:
    if not path.exists():
        raise QualityCliError(f"{path}: no such file or folder")
    if path.is_dir():
        files = [f for f in sorted(path.iterdir()) if f.name.lower().endswith(MAP_SUFFIXES)]
        if not files:
            raise QualityCliError(f"{path}: holds no probability maps ({', '.join(MAP_SUFFIXES)})")
        return [(f.name.split(".")[0], f) for f in files]
    from models.quality.errors import QualityInputError

    with open(path, newline="", encoding="utf-8-sig") as f:
        reader = csv.reader(f)
        header = [h.strip().lower() for h in next(reader, [])]
        if "case" not in header or "path" not in header:
            raise QualityInputError(path, "header must name columns case,path", 1)
        ci, pi = header.index("case"), header.index("path")
        out = []
        for row in reader:
            if not row or all(not x.strip() for x in row):
                continue
            if len(row) != len(header):
                raise QualityInputError(path, f"has {len(row)} fields, the header has "
                                              f"{len(header)}", reader.line_num)
            target = (path.parent / row[pi].strip())
            if not target.is_file():
                raise QualityInputError(path, f"{row[pi].strip()}: no such file",
                                        reader.line_num)
            out.append((row[ci].strip(), target))
    if not out:
        raise QualityInputError(path, "has a header but no cases")
    return out


def _load(path: Path):
    import numpy as np

    if path.name.lower().endswith(".npy"):
        try:
            return np.load(path, allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise QualityCliError(f"{path}: not a readable .npy array ({exc})") from None
    from viewers.io import read_volume

    return read_volume(path).array


def _features(array, method: str):
    """A coarse (4x4x4 block-mean) picture of the foreground probability, for diversity."""
    import numpy as np

    a = np.asarray(array, dtype=np.float32)
    if method in ("variance", "disagreement"):
        a = a.mean(axis=0)
    if a.ndim == 4:  # (C, k, j, i): foreground = everything but class 0
        a = 1.0 - a[0]
    idx = [np.linspace(0, n, 5).astype(int) for n in a.shape]
    return np.array([a[idx[0][x]:idx[0][x + 1], idx[1][y]:idx[1][y + 1],
                       idx[2][z]:idx[2][z + 1]].mean() for x in range(4) for y in range(4)
                     for z in range(4)])


def rank_arrays(names, arrays, method="entropy", diversity=0.0) -> list[dict]:
    """Ranked cases (most informative first) with their uncertainty scores."""
    from models.quality.ranking import (disagreement_score, entropy_score, rank_cases,
                                        variance_score)

    score_of = {"entropy": entropy_score, "variance": variance_score,
                "disagreement": disagreement_score}[method]
    scores, feats = [], []
    for name, a in zip(names, arrays):
        try:
            scores.append(score_of(a))
        except Exception as exc:
            if getattr(exc, "exit_code", None) is None:
                raise
            raise QualityCliError(f"{name}: {exc}") from None
        feats.append(_features(a, method) if diversity > 0 else None)
    order = rank_cases(scores, feats if diversity > 0 else None, diversity)
    return [{"rank": r + 1, "case": names[i], "score": scores[i]} for r, i in enumerate(order)]


def run(args) -> int:
    from app.cli.quality_ws import is_workspace

    if is_workspace(args.path):
        return run_workspace(args)
    if args.model or args.members or args.method == "committee":
        raise QualityCliError(f"--model/--with/--method committee: only for a workspace; "
                              f"{args.path} is not one")
    cases = _cases(Path(args.path))
    names = [c for c, _ in cases]
    arrays = [_load(p) for _, p in cases]
    ranked = rank_arrays(names, arrays, args.method, args.diversity)
    if args.top is not None:
        ranked = ranked[: max(0, args.top)]
    if args.json:
        json.dump({"method": args.method, "diversity": args.diversity, "cases": ranked},
                  sys.stdout, indent=2)
        print()
        return 0
    unit = {"entropy": "bits"}.get(args.method, args.method)
    for r in ranked:
        print(f"{r['rank']:>4}  {r['case']:<32} {r['score']:.5f} {unit}")
    return 0
