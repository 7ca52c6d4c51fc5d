"""Headless commands start fast: they import neither Qt nor torch nor MONAI."""

import json
import subprocess
import sys

HEAVY = ("PySide6", "torch", "monai")

PROBE = """
import sys, json, contextlib, io
from app.cli.main import main
out = io.StringIO()
with contextlib.redirect_stdout(out):
    code = main(sys.argv[1:])
heavy = sorted({m.split('.')[0] for m in sys.modules} & {'PySide6', 'torch', 'monai'})
print(json.dumps({"code": code, "heavy": heavy}))
"""


def run_probe(*args):
    result = subprocess.run([sys.executable, "-c", PROBE, *args], capture_output=True, text=True,
                            timeout=120)
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_info_imports_no_qt_or_torch(colin_t1):
    report = run_probe("info", str(colin_t1), "--json")
    assert report["code"] == 0
    assert report["heavy"] == []


def test_version_imports_nothing_heavy():
    result = subprocess.run([sys.executable, "-m", "app", "--version"], capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0
    assert result.stdout.startswith("annotrace ")
