"""The GUI's start path: the window shows the demo without importing torch, MONAI, OpenVINO,
SciPy's ndimage or SimpleITK (a NIfTI file needs neither),
and the start-up probe used by benchmarks/bench_startup.py reports a first paint."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "benchmarks"))

import bench_startup  # noqa: E402

SHOW_AND_LIST_MODULES = """
import json, sys
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication
from app.demo import DEMO_T1
from app.gui.application import build_window
app = QApplication([])
window = build_window(DEMO_T1)
seen = {}
def loaded(*_):
    seen["loaded"] = window.volume is not None
    app.quit()
window.volume_loaded.connect(loaded)
QTimer.singleShot(60000, app.quit)
window.show()
app.exec()
heavy = sorted({m.split('.')[0] for m in sys.modules} & {"torch", "monai", "openvino", "SimpleITK"}
               | {m for m in sys.modules if m == "scipy.ndimage"})
print(json.dumps({"loaded": seen.get("loaded", False), "heavy": heavy}))
"""


def _env(home):
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANNOTRACE_")}
    env.update(QT_QPA_PLATFORM="offscreen", HOME=str(home), XDG_CONFIG_HOME=str(home / "cfg"))
    return env


def test_gui_start_with_the_demo_imports_no_torch_monai_or_openvino(tmp_path):
    result = subprocess.run([sys.executable, "-c", SHOW_AND_LIST_MODULES], cwd=tmp_path,
                            env=_env(tmp_path), capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stderr[-2000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["loaded"] is True
    assert report["heavy"] == []


def test_startup_probe_reports_the_first_paint_after_the_image_is_shown(tmp_path):
    # The benchmark's venv command, as it runs it: the probe stamps and quits the app.
    env = _env(tmp_path)
    env["ANNOTRACE_STARTUP_PROBE"] = "1"
    start = time.monotonic()
    result = subprocess.run(bench_startup.venv_command(sys.executable), cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=180)
    end = time.monotonic()
    assert result.returncode == 0, result.stderr[-2000:]
    stamps = [line.split() for line in result.stderr.splitlines()
              if line.startswith(bench_startup.MARK)]
    assert len(stamps) == 1
    assert start < float(stamps[0][1]) < end
    python_up = [float(line.split()[1]) for line in result.stderr.splitlines()
                 if line.startswith(bench_startup.PYTHON_MARK)]
    assert len(python_up) == 1 and start < python_up[0] < float(stamps[0][1])


def test_startup_probe_is_inert_without_its_variable(monkeypatch):
    monkeypatch.delenv("ANNOTRACE_STARTUP_PROBE", raising=False)
    import app.gui.application as application

    before = application.build_window
    sys.path.insert(0, str(REPO / "installer"))
    try:
        import startup_probe
    finally:
        sys.path.remove(str(REPO / "installer"))
    assert startup_probe.install() is False
    assert application.build_window is before
