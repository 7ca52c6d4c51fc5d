"""Readers' reliance on proposals over a workspace vs only reading the same versions.

    .venv/bin/python benchmarks/bench_reliance.py [--cases 10] [--shape 150 256 256]

A workspace with ``--cases`` cases: each has a model output stored (an ellipsoid "brain") and
a reader's version that accepted it and erased part of it (provenance as the editor writes
it); every other case also has a version drawn without a proposal (read, then skipped).
:func:`app.cli.quality_ws.reliance_workspace` is timed against the reference of decrypting
the same versions with ``Session.load_labels`` and nothing else, and the ratio printed (the
share of the time that is the reliance computation itself), each run in a new session; then a
refresh in a session that computed it once (it reads only versions or outputs changed since).
Median of 3 runs each.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app.cli.quality_ws import reader_versions, reliance_workspace  # noqa: E402
from compliance.keys import KdfParams  # noqa: E402
from compliance.qualitystore import quality_ops  # noqa: E402
from compliance.records import LabelSet  # noqa: E402
from compliance.workspace import Workspace  # noqa: E402

SEGMENTS = [{"segment_id": 1, "name": "brain", "layer": 0, "value": 1}]


def build(root: Path, cases: int, shape) -> tuple:
    ws = Workspace.create(root, "admin", "correct horse battery", kdf=KdfParams.testing())
    with ws.login("admin", "correct horse battery") as admin:
        admin.add_user("ann", "annotator", "first reader pw 1")
        admin.add_user("rev", "reviewer", "second reader pw")
    ann = ws.login("ann", "first reader pw 1")
    rev = quality_ops(ws.login("rev", "second reader pw"))
    k, j, i = np.ogrid[:shape[0], :shape[1], :shape[2]]
    c = [n / 2 for n in shape]
    brain = (((k - c[0]) / (0.4 * shape[0])) ** 2 + ((j - c[1]) / (0.4 * shape[1])) ** 2
             + ((i - c[2]) / (0.4 * shape[2])) ** 2) <= 1
    for n in range(cases):
        cid = ann.import_case(np.zeros(shape, np.int16), np.eye(4), modality="MR")
        rev.store_model_output(cid, "m", brain.astype(np.uint8), 0.9, 0.1, "ab", {1: "brain"})
        kept = brain.copy()
        kept[:shape[0] // 2 + n] = False
        ann.save_labels(cid, LabelSet([kept.astype(np.uint8)], SEGMENTS,
                                      kept.astype(np.uint16), {"1": "model:m@sha256:ab"}))
        if n % 2:
            cid = ann.import_case(np.zeros(shape, np.int16), np.eye(4), modality="MR")
            ann.save_labels(cid, LabelSet([brain.astype(np.uint8)], SEGMENTS,
                                          brain.astype(np.uint16), {"1": "user:x"}))
    return ws, rev


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cases", type=int, default=10)
    p.add_argument("--shape", type=int, nargs=3, default=(150, 256, 256), metavar=("K", "J", "I"))
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        ws, rev = build(Path(tmp) / "ws", args.cases, tuple(args.shape))

        def read_only():
            for case in rev.list_cases():
                for meta in reader_versions(rev, case["case_id"]).values():
                    rev.load_labels(case["case_id"], meta["version"])

        def fresh_session():
            # a new login: nothing computed yet (the session caches rows it computed)
            return quality_ops(ws.login("rev", "second reader pw"))

        def cold():
            reliance_workspace(fresh_session())

        warm_session = fresh_session()
        reliance_workspace(warm_session)

        times = {}
        for name, fn in (("read versions only", read_only),
                         ("reliance_workspace", cold),
                         ("refresh, same session", lambda: reliance_workspace(warm_session))):
            runs = []
            for _ in range(3):
                t = time.perf_counter()
                fn()
                runs.append(time.perf_counter() - t)
            times[name] = statistics.median(runs)
        versions = reliance_workspace(rev)["versions"]
    n_read = args.cases + args.cases // 2
    print(f"{args.cases} cases with an accepted proposal (+{args.cases // 2} drawn without), "
          f"grid {tuple(args.shape)}; {versions} versions counted, {n_read} read")
    for name, t in times.items():
        print(f"  {name:<20} {t:6.2f} s  ({1000 * t / n_read:.0f} ms per version read)")
    print(f"  ratio reliance / reading alone: "
          f"{times['reliance_workspace'] / times['read versions only']:.2f}; a refresh in "
          f"the same session: {times['refresh, same session'] / times['read versions only']:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
