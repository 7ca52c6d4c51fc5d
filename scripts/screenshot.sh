#!/usr/bin/env bash
# Refresh docs/screenshot.png: the real annotrace window on the demo study, under Xvfb
# (xcb platform, the same plugin a desktop uses), grabbed from inside the app.
#   scripts/screenshot.sh [OUT.png]
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="${1:-$here/docs/screenshot.png}"
cd "$here"
unset QT_QPA_PLATFORM
xvfb-run -a -s "-screen 0 1600x900x24" .venv/bin/python scripts/screenshot_app.py "$out"
test -s "$out"
