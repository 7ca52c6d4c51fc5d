"""Cold start: process start to the first painted main window with the demo study shown.

    .venv/bin/python benchmarks/bench_startup.py [--repeat 7] [--frozen dist/annotrace/annotrace]
                                                 [--platform offscreen|xcb] [--importtime]

Each run is a fresh process (``annotrace view`` on the built-in demo, the Colin27 T1 MRI,
181x217x181). The probe of installer/startup_probe.py (``ANNOTRACE_STARTUP_PROBE=1``) prints a
``time.monotonic()`` stamp after the first paint of a slice view once ``volume_loaded`` has
fired, and quits; this script subtracts its own ``time.monotonic()`` taken just before
starting the process (CLOCK_MONOTONIC is system-wide on Linux). Reported: median, min and max
over ``--repeat`` runs for (a) the virtual environment (``python -c`` running the probe then
``app.cli.main.main(["view"])``, the same code path as the ``annotrace`` console script) and
(b) the PyInstaller build when ``--frozen`` names it (the probe is a runtime hook there).

Platform: ``offscreen`` by default; ``--platform xcb`` needs a display (run the whole script
under ``xvfb-run -a``). Every run gets a fresh HOME so no QSettings/recent-files state carries
over. The first run of each variant is a warm-up for the OS page cache and is not counted
(report says so); ``--cold-cache`` would need root to drop caches and is not done. The
probe also stamps when the interpreter is up (before any annotrace import), printed as
"interpreter up after": in the build that covers the bootloader and PyInstaller's runtime
hooks.

``--importtime`` also runs ``python -X importtime`` on the same start and prints the 15
heaviest imports (cumulative) and whether torch or monai were imported at all.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
MARK = "annotrace-startup-painted"
PYTHON_MARK = "annotrace-startup-python"  # interpreter up, before any annotrace import
TARGET_S = 2.0

VENV_DRIVER = (
    "import runpy, sys; sys.path.insert(0, {repo!r}); "
    "runpy.run_path({probe!r}); "
    "from app.cli.main import main; sys.exit(main(['view']))"
)


def _env(platform: str, home: str) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANNOTRACE_", "QT_"))}
    env.update(HOME=home, ANNOTRACE_STARTUP_PROBE="1", QT_QPA_PLATFORM=platform,
               XDG_CONFIG_HOME=os.path.join(home, ".config"),
               XDG_CACHE_HOME=os.path.join(home, ".cache"))
    return env


def venv_command(python: str, source: Path = REPO) -> list[str]:
    """``python -c`` running the probe, then the console script's ``main(["view"])``, with the
    packages imported from ``source`` (this checkout, or a changed copy to try a fix)."""
    driver = VENV_DRIVER.format(repo=str(source),
                                probe=str(source / "installer" / "startup_probe.py"))
    return [python, "-c", driver]


def _children_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def one_run(command: list[str], platform: str, cwd: str) -> tuple[float, float, float]:
    """Seconds from just before exec to (the probe's first paint stamp, the interpreter being
    up), and the CPU seconds the process used in all (it quits right after the paint; on a
    loaded machine this is the steadier figure); raises if the paint stamp never came."""
    with tempfile.TemporaryDirectory(prefix="annotrace-bench-home-") as home:
        env = _env(platform, home)
        cpu0 = _children_cpu_s()
        start = time.monotonic()
        proc = subprocess.run(command, env=env, cwd=cwd, capture_output=True, text=True,
                              timeout=120)
        cpu_s = _children_cpu_s() - cpu0
    stamps = {}
    for line in proc.stderr.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[0] in (MARK, PYTHON_MARK):
            stamps[parts[0]] = float(parts[1]) - start
    if MARK not in stamps:
        raise RuntimeError(f"{command[0]}: no start-up stamp (exit {proc.returncode}): "
                           f"{proc.stderr.strip()[-800:]}")
    return stamps[MARK], stamps.get(PYTHON_MARK, float("nan")), cpu_s


def measure(name: str, command: list[str], platform: str, repeat: int) -> dict:
    cwd = tempfile.mkdtemp(prefix="annotrace-bench-cwd-")  # not the repo: no source-tree shortcuts
    one_run(command, platform, cwd)  # warm-up (page cache), not counted
    runs = [one_run(command, platform, cwd) for _ in range(repeat)]
    times = [r[0] for r in runs]
    med = statistics.median(times)
    print(f"{name:<8} median {med:.2f} s  min {min(times):.2f}  max {max(times):.2f}  "
          f"(n={repeat}, {platform}; interpreter up after "
          f"{statistics.median(r[1] for r in runs):.2f} s; CPU "
          f"{statistics.median(r[2] for r in runs):.2f} s; load {os.getloadavg()[0]:.1f}; target <= {TARGET_S:.1f} s: "
          f"{'met' if med <= TARGET_S else 'NOT met'})", flush=True)
    return {"name": name, "median_s": med, "times_s": times}


def importtime(python: str, platform: str, top: int = 15) -> None:
    """Heaviest imports (cumulative microseconds) of one GUI start, and torch/monai presence."""
    cwd = tempfile.mkdtemp(prefix="annotrace-bench-cwd-")
    with tempfile.TemporaryDirectory(prefix="annotrace-bench-home-") as home:
        env = _env(platform, home)
        cmd = [python, "-X", "importtime", *venv_command(python)[1:]]
        proc = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True, timeout=120)
    rows = []
    for line in proc.stderr.splitlines():
        if not line.startswith("import time:") or "cumulative" in line:
            continue
        self_us, cum_us, name = line.split(":", 1)[1].split("|")
        rows.append((int(cum_us), int(self_us), name.rstrip()[1:]))
    names = {r[2].strip() for r in rows}
    top_level = [r for r in rows if not r[2].startswith("  ")]
    total = sum(r[0] for r in top_level)
    print(f"\nimports at GUI start: {len(rows)} modules, {total / 1e6:.2f} s cumulative "
          f"(top-level sum)")
    for cum, own, name in sorted(top_level, reverse=True)[:top]:
        print(f"  {cum / 1e3:8.1f} ms  {name.strip()}")
    for heavy in ("torch", "monai", "openvino", "scipy", "skimage", "SimpleITK", "pydicom",
                  "nibabel", "matplotlib", "cryptography"):
        print(f"  {heavy:<12} imported: {'YES' if _imported(heavy, names) else 'no'}")


def _imported(package: str, names) -> bool:
    return any(n == package or n.startswith(package + ".") for n in names)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--python", default=str(REPO / ".venv" / "bin" / "python"))
    parser.add_argument("--frozen", help="the PyInstaller app, e.g. dist/annotrace/annotrace")
    parser.add_argument("--skip-venv", action="store_true")
    parser.add_argument("--source", type=Path, default=REPO,
                        help="import app/viewers/... from this tree (a changed copy) in the "
                             "venv runs")
    parser.add_argument("--platform", default="offscreen", choices=("offscreen", "xcb"))
    parser.add_argument("--importtime", action="store_true")
    args = parser.parse_args(argv)
    if args.repeat < 5:
        parser.error("--repeat must be at least 5")
    if args.platform == "xcb" and not os.environ.get("DISPLAY"):
        parser.error("--platform xcb needs a display: run under xvfb-run -a")
    print(f"cold start to first painted window with the demo shown; {os.cpu_count()} CPUs")
    if not args.skip_venv:
        measure("venv", venv_command(args.python, args.source.resolve()), args.platform,
                args.repeat)
    if args.frozen:
        frozen = str(Path(args.frozen).resolve())
        measure("frozen", [frozen, "view"], args.platform, args.repeat)
    if args.importtime:
        importtime(args.python, args.platform)
    return 0


if __name__ == "__main__":
    sys.exit(main())
