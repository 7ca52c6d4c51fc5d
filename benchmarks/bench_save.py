"""Saving a label version vs writing the same label map as .nii.gz; audit verify time.

    .venv/bin/python benchmarks/bench_save.py [--entries 100000] [--shape 300 512 512]

1. A 512x512x300 uint8 label map (ellipsoid "organs", as compressible as real
   labels) saved as a new annotation version -- canonical bytes, SHA-256, zlib,
   AES-256-GCM in 4 MiB chunks, atomic write with fsyncs, audit entry with a signed
   checkpoint -- against ``nibabel.save`` of the same array as .nii.gz. Reported as a
   ratio (>1: our save is slower), median of 3 runs each.
2. ``audit verify`` of a log of N entries: with a checkpoint every 100 entries
   (bulk import) and with a checkpoint after every entry (how sessions write).
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

from compliance.audit import utc_now  # noqa: E402
from compliance.keys import KdfParams  # noqa: E402
from compliance.records import LabelSet  # noqa: E402
from compliance.workspace import Workspace  # noqa: E402

PASSWORD = "benchmark password 1"


def label_map(shape) -> np.ndarray:
    k, j, i = np.ogrid[:shape[0], :shape[1], :shape[2]]
    out = np.zeros(shape, np.uint8)
    rng = np.random.default_rng(0)
    for value in range(1, 8):
        c = [rng.uniform(0.25, 0.75) * s for s in shape]
        r = [rng.uniform(0.05, 0.2) * s for s in shape]
        inside = ((k - c[0]) / r[0]) ** 2 + ((j - c[1]) / r[1]) ** 2 + ((i - c[2]) / r[2]) ** 2 <= 1
        out[inside] = value
    return out


def timed(fn, repeat=3) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def bench_save(tmp: Path, shape) -> None:
    import nibabel as nib

    labels = label_map(shape)
    ws = Workspace.create(tmp / "ws", "admin", PASSWORD)  # OWASP-level KDF (login cost only)
    with ws.login("admin", PASSWORD) as admin:
        admin.add_user("ann", "annotator", "annotator password 2")
    ann = ws.login("ann", "annotator password 2")
    # A case on the benchmark grid (the image itself is not what we time).
    cid = ann.import_case(np.zeros(shape, np.uint8), np.eye(4))
    segs = [{"segment_id": v, "name": f"organ {v}", "layer": 0, "value": v} for v in range(1, 8)]
    plain = LabelSet([labels], segs)
    with_prov = LabelSet([labels], segs, (labels > 0).astype(np.uint8), {"1": "user:ann"})
    t_ours = timed(lambda: ann.save_labels(cid, plain))
    t_prov = timed(lambda: ann.save_labels(cid, with_prov))
    img = nib.Nifti1Image(np.ascontiguousarray(labels.transpose(2, 1, 0)), np.eye(4))
    t_nib = timed(lambda: nib.save(img, tmp / "labels.nii.gz"))
    vsize = (ws.root / "cases" / cid / "v" / "000001.enc").stat().st_size
    nsize = (tmp / "labels.nii.gz").stat().st_size
    print(f"label map {shape[2]}x{shape[1]}x{shape[0]} uint8 ({labels.nbytes / 1e6:.1f} MB)")
    print(f"  annotrace save (encrypt + write + audit): {t_ours:.3f} s, {vsize / 1e6:.2f} MB")
    print(f"  ... with a provenance array:              {t_prov:.3f} s")
    print(f"  nibabel .nii.gz:                          {t_nib:.3f} s, {nsize / 1e6:.2f} MB")
    print(f"  ratio annotrace / nibabel: {t_ours / t_nib:.2f} "
          f"(with provenance {t_prov / t_nib:.2f})")


def bench_verify(tmp: Path, n: int) -> None:
    for every in (100, 1):
        ws = Workspace.create(tmp / f"audit{every}", "admin", PASSWORD,
                              kdf=KdfParams.testing())
        aud_pw = "auditor password 3"
        with ws.login("admin", PASSWORD) as admin:
            admin.add_user("aud", "auditor", aud_pw)
        aud = ws.login("aud", aud_pw)
        rec = {"time": utc_now(), "user": "ann", "user_id": "0" * 32, "role": "annotator",
               "action": "label.save", "objects": ["0123456789abcdef"], "before": "a" * 64,
               "after": "b" * 64, "details": {"version": 1}}
        t0 = time.perf_counter()
        batch = 10_000
        for start in range(0, n, batch):
            ws.audit_log.append([rec] * min(batch, n - start), aud._audit_keys,
                                checkpoint_every=every)
        t_write = time.perf_counter() - t0
        t0 = time.perf_counter()
        total, _ = aud.verify_audit()
        t_verify = time.perf_counter() - t0
        size = ws.audit_log.path.stat().st_size
        print(f"audit verify, {n} entries + checkpoint every {every}: {total} lines verified in "
              f"{t_verify:.2f} s ({t_verify / total * 1e6:.1f} us/line; log "
              f"{size / 1e6:.0f} MB; bulk write {t_write:.1f} s)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--entries", type=int, default=100_000)
    ap.add_argument("--shape", type=int, nargs=3, default=[300, 512, 512], metavar=("K", "J", "I"))
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        bench_save(Path(d), tuple(args.shape))
    with tempfile.TemporaryDirectory() as d:
        bench_verify(Path(d), args.entries)


if __name__ == "__main__":
    main()
