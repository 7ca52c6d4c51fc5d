#!/usr/bin/env bash
# Build the self-contained application folder dist/annotrace/ (PyInstaller, one folder):
# dist/annotrace/annotrace runs without Python or the project's virtual environment.
#
#   installer/build_app.sh                 (Linux x86_64; see docs/install.md for Windows/macOS)
#
# Environment:
#   BUILD_VENV   the virtual environment to build in (default build/app-venv, created here and
#                kept between builds; the project's .venv works too: BUILD_VENV=.venv)
#   DIST_DIR     where the app folder goes (default dist; the app is DIST_DIR/annotrace)
#   SPEC         the spec file (default installer/annotrace.spec)
#   SKIP_INSTALL=1  do not (re)install packages into BUILD_VENV
#
# The build venv gets the project (editable) with its 'build' extra (PyInstaller); torch is
# pinned to the CPU wheel by requirements/torch-cpu.txt exactly as scripts/bootstrap.sh does,
# so the folder carries no CUDA libraries.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$here"
start=$(date +%s)

venv="${BUILD_VENV:-build/app-venv}"
dist="${DIST_DIR:-dist}"
spec="${SPEC:-installer/annotrace.spec}"
PY="${PYTHON:-python3.11}"; command -v "$PY" >/dev/null 2>&1 || PY=python3

if [ ! -x "$venv/bin/python" ]; then
  echo "build_app: creating the build virtual environment $venv"
  "$PY" -m venv "$venv"
fi
# PyInstaller bundles libpython: the interpreter must be built with --enable-shared.
"$venv/bin/python" - <<'PYCHECK'
import sys, sysconfig
if sys.platform.startswith("linux") and not sysconfig.get_config_var("Py_ENABLE_SHARED"):
    sys.exit("build_app: this Python has no shared libpython (build it with --enable-shared)")
PYCHECK

if [ "${SKIP_INSTALL:-0}" != "1" ]; then
  stamp="$venv/.annotrace-build-installed"
  want="$(cat pyproject.toml requirements/*.txt | sha256sum | cut -c1-16)"
  if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    echo "build_app: installing annotrace[build] into $venv (CPU torch)"
    "$venv/bin/python" -m pip install -q --upgrade pip
    "$venv/bin/python" -m pip install -q -r requirements/torch-cpu.txt
    "$venv/bin/python" -m pip install -q -c requirements/torch-cpu.txt -e ".[build]"
    echo "$want" > "$stamp"
  fi
fi

echo "build_app: running PyInstaller ($spec)"
# A throw-away work folder: stale analysis from an older tree has bitten before.
work="build/pyinstaller-work"
rm -rf "$work"
"$venv/bin/python" -m PyInstaller --noconfirm --clean --log-level WARN \
  --distpath "$dist" --workpath "$work" "$spec"

app="$dist/annotrace/annotrace"
[ -x "$app" ] || { echo "build_app: FAILED: $app was not built" >&2; exit 1; }
version="$("$app" --version)"
secs=$(( $(date +%s) - start ))
echo "build_app: $version in $dist/annotrace ($(du -sh "$dist/annotrace" | cut -f1)), built in ${secs} s"
echo "build_app: test it with installer/smoke_app.sh"
