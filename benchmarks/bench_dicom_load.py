"""Loading a DICOM CT series: annotrace vs SimpleITK's ImageSeriesReader, in one run.

    .venv/bin/python benchmarks/bench_dicom_load.py [--slices 300] [--size 512] [--reps 5]
                                                    [--signed16]

Writes a ``--slices`` x ``--size``^2 uncompressed 16-bit CT series with pydicom in a temporary
folder (realistic headers: patient/study/series modules, geometry, rescale -1024, window, an 8 kB
vendor private block; BitsStored 12 as most CT scanners write), then, with the files in the
page cache:

1. time ``viewers.io.dicom.read`` and SimpleITK (GetGDCMSeriesFileNames + ImageSeriesReader)
   alternately, ``--reps`` times each; prints both medians and the median ratio (DESIGN budget:
   annotrace at least 3x faster);
2. time to the first slice's pixels: when ``read``'s progress callback first reports a slice
   in the destination array (budget <= 0.15 s);
3. peak memory over the volume's own bytes, each loader in a fresh child process: peak RSS
   (VmHWM) minus the RSS just before the load (budget <= 1.3x), and numpy's peak
   allocations as tracemalloc sees them.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests" / "io" / "dicom"))


def load_ours(folder, progress=None):
    from viewers.io import dicom

    return dicom.read(folder, progress=progress).array


def load_sitk(folder):
    import SimpleITK as sitk

    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(sitk.ImageSeriesReader.GetGDCMSeriesFileNames(str(folder)))
    return reader.Execute()  # the image; a numpy copy would add to its time


def _rss_bytes() -> int:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * resource.getpagesize()


def _peak_rss_bytes() -> int:
    # VmHWM belongs to this process image; ru_maxrss is not used because Linux carries it
    # over from the parent across exec (the parent here has loaded the volume many times).
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def child(which: str, folder: str) -> None:
    """Measure one load's memory in this (fresh) process; print JSON."""
    import tracemalloc

    import SimpleITK  # noqa: F401 - imported before the baseline, like viewers.io.dicom
    import pydicom  # noqa: F401

    import viewers.io.dicom  # noqa: F401

    before = _rss_bytes()
    tracemalloc.start()
    if which == "ours":
        nbytes = load_ours(folder).nbytes
    else:
        image = load_sitk(folder)
        nbytes = image.GetNumberOfPixels() * image.GetSizeOfPixelComponent()
    _, traced_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    peak = _peak_rss_bytes()
    print(json.dumps({"peak_over_baseline": peak - before, "traced_peak": traced_peak,
                      "volume_bytes": nbytes}))


def memory(which: str, folder: Path) -> dict:
    out = subprocess.run([sys.executable, __file__, "--child", which, str(folder)],
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--slices", type=int, default=300)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--signed16", action="store_true",
                        help="16-bit signed stored values (BitsStored 16, as GE writes CT): the "
                             "header range overflows int16 after rescale, so the dtype is "
                             "chosen from the values after reading (a second in-place pass)")
    parser.add_argument("--child", nargs=2, metavar=("WHICH", "FOLDER"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return

    from dicom_factory import write_series

    with tempfile.TemporaryDirectory(prefix="bench_dicom_") as tmp:
        folder = Path(tmp)
        t0 = time.perf_counter()
        values = None
        if args.signed16:  # CT-like values: air to bone, as stored before the -1024 shift
            values = np.random.default_rng(1).integers(
                0, 3000, (args.slices, args.size, args.size)).astype(np.int16)
        write_series(folder, n_slices=args.slices, rows=args.size, cols=args.size,
                     dtype=np.int16 if args.signed16 else np.uint16,
                     bits_stored=16 if args.signed16 else 12, intercept=-1024,
                     spacing=(0.7, 0.7), slice_step=1.0, private_bytes=8192, seed=1,
                     values=values)
        del values
        print(f"wrote {args.slices} x {args.size}x{args.size} CT files in "
              f"{time.perf_counter() - t0:.1f} s ({folder})")
        ours, ref = load_ours(folder), load_sitk(folder)  # warm the page cache, check agreement
        import SimpleITK as sitk

        assert np.array_equal(ours, sitk.GetArrayFromImage(ref)), "loaders disagree"
        del ours, ref

        t_ours, t_sitk, t_first = [], [], []
        for _ in range(args.reps):
            first = []
            start = time.perf_counter()
            load_ours(folder, progress=lambda done, total, a: first or first.append(
                time.perf_counter() - start))
            t_ours.append(time.perf_counter() - start)
            t_first.append(first[0])
            start = time.perf_counter()
            load_sitk(folder)
            t_sitk.append(time.perf_counter() - start)
        ratios = [s / o for s, o in zip(t_sitk, t_ours)]
        print(f"annotrace read : median {statistics.median(t_ours):.3f} s "
              f"({', '.join(f'{t:.3f}' for t in t_ours)})")
        print(f"SimpleITK      : median {statistics.median(t_sitk):.3f} s "
              f"({', '.join(f'{t:.3f}' for t in t_sitk)})")
        print(f"speed-up (SimpleITK / annotrace), median of {args.reps}: "
              f"{statistics.median(ratios):.2f}x   [budget >= 3x]")
        print(f"first slice's pixels available after: median {statistics.median(t_first):.3f} s"
              f"   [budget <= 0.15 s]")
        for which in ("ours", "sitk"):
            m = memory(which, folder)
            name = "annotrace" if which == "ours" else "SimpleITK"
            print(f"{name:9s} peak RSS over baseline / volume bytes: "
                  f"{m['peak_over_baseline'] / m['volume_bytes']:.2f}x, tracemalloc peak / "
                  f"volume: {m['traced_peak'] / m['volume_bytes']:.2f}x "
                  f"(volume {m['volume_bytes'] / 2**20:.0f} MiB)"
                  + ("   [budget <= 1.3x]" if which == "ours" else ""))


if __name__ == "__main__":
    main()
