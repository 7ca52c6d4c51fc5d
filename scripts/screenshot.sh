#!/usr/bin/env bash
# Refresh the README's pictures from the real annotrace window under Xvfb (xcb platform,
# the same plugin a desktop uses), grabbed from inside the app.
#   scripts/screenshot.sh [OUT.png]                # docs/screenshot.png: the demo study
#   scripts/screenshot.sh --workspace [OUT.png]    # docs/workspace.png: worklist, signed case
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
script=scripts/screenshot_app.py
default=docs/screenshot.png
if [[ "${1:-}" == "--workspace" ]]; then
    script=scripts/screenshot_workspace.py
    default=docs/workspace.png
    shift
fi
out="${1:-$here/$default}"
cd "$here"
unset QT_QPA_PLATFORM
xvfb-run -a -s "-screen 0 1600x900x24" .venv/bin/python "$script" "$out"
test -s "$out"
