#!/usr/bin/env bash
# Build the offline kit, then install it into a fresh virtual environment inside a network
# namespace with no network at all (unshare -n, as root), and run the installed annotrace on
# the demo study.  Proves the kit is complete.   installer/verify_kit.sh [WORK_DIR]
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
work="${1:-$(mktemp -d)}"
"$here/installer/build_kit.sh" "$work/kit"
rm -rf "$work/prefix"
# No find-links or extra index from this machine's pip configuration: only the kit counts.
unshare -n env -u PIP_FIND_LINKS PIP_CONFIG_FILE=/dev/null "$work/kit/install.sh" "$work/prefix"
demo="$("$work/prefix/bin/python" -c 'from app.demo import DEMO_T1; print(DEMO_T1)')"
(cd "$work" && unshare -n "$work/prefix/bin/annotrace" info "$demo" --json >/dev/null)
echo "verify_kit: OK: offline install in $work/prefix runs annotrace info on the demo study"
