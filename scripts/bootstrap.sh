#!/usr/bin/env bash
# Set up everything annotrace needs on a fresh Debian machine: system packages (when root),
# then a virtual environment in .venv with the project installed in editable mode.
# Idempotent: a second run only checks.  Usage: scripts/bootstrap.sh [--dev]
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$here"

# Qt needs a few X/EGL client libraries even offscreen; xvfb for screenshots; the rest are
# real-data sources and external validators used by the tests (see DESIGN.md).
APT_PACKAGES=(libgl1 libegl1 libxkbcommon0 libxkbcommon-x11-0 libfontconfig1 libdbus-1-3
  libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1 libxcb-shape0 libxcb-xinerama0 libxcb-randr0
  libxcb-render-util0 libxcb-image0 fonts-dejavu-core xvfb xauth
  mricron-data plastimatch dicom3tools orthanc orthanc-dicomweb)

missing=()
if command -v dpkg-query >/dev/null 2>&1; then
  for p in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
fi
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = "0" ]; then
    echo "bootstrap: installing Debian packages: ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    echo "bootstrap: not root; please install: ${missing[*]}" >&2
  fi
fi

PY="${PYTHON:-python3.11}"
command -v "$PY" >/dev/null 2>&1 || PY=python3
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
stamp=.venv/.annotrace-installed
want="$(cat pyproject.toml requirements/*.txt 2>/dev/null | sha256sum | cut -c1-16)-${1:-}"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  .venv/bin/python -m pip install -q --upgrade pip
  # torch pinned first: the CPU wheel of this exact version is on the machine; an unpinned
  # torch would pull a multi-GB CUDA build.
  .venv/bin/python -m pip install -q -r requirements/torch-cpu.txt
  if [ "${1:-}" = "--dev" ]; then
    .venv/bin/python -m pip install -q -c requirements/torch-cpu.txt -e ".[dev]"
  else
    .venv/bin/python -m pip install -q -c requirements/torch-cpu.txt -e .
  fi
  echo "$want" > "$stamp"
fi
