#!/usr/bin/env bash
# Set everything up (scripts/bootstrap.sh --dev) and run the whole test suite.
# Extra arguments go to pytest, e.g.  scripts/test.sh tests/io -k nifti
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$here"
scripts/bootstrap.sh --dev
export QT_QPA_PLATFORM=offscreen
exec .venv/bin/python -m pytest "$@"
