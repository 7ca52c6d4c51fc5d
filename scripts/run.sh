#!/usr/bin/env bash
# Set everything up (scripts/bootstrap.sh) and start annotrace; with no argument it opens the
# built-in demo study (Colin27 T1 MRI).  Arguments go to annotrace, e.g. scripts/run.sh ~/series/
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$here"
scripts/bootstrap.sh
exec .venv/bin/annotrace "$@"
