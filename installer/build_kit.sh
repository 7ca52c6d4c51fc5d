#!/usr/bin/env bash
# Build the offline installation kit: one folder with every wheel annotrace needs (CPU PyTorch
# included), the Debian runtime packages for Qt, and an install script that needs no network.
#
#   installer/build_kit.sh [OUT_DIR]        (default: build/annotrace-kit-<version>)
#
# Run it on a connected machine of the same kind as the workstations (Debian 12, x86_64,
# Python 3.11); copy OUT_DIR (or the .tar it also writes) to the air-gapped machine and run
# OUT_DIR/install.sh there.  See docs/install.md.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$here"
PY="${PYTHON:-python3.11}"; command -v "$PY" >/dev/null 2>&1 || PY=python3
version="$("$PY" - <<'PYV'
import tomllib; print(tomllib.load(open("pyproject.toml", "rb"))["project"]["version"])
PYV
)"
out="${1:-build/annotrace-kit-$version}"
rm -rf "$out"; mkdir -p "$out/wheels" "$out/debs"

echo "kit: building the annotrace wheel"
"$PY" -m pip wheel -q --no-deps -w "$out/wheels" .
echo "kit: downloading every dependency (CPU torch pinned by requirements/torch-cpu.txt)"
"$PY" -m pip download -q -d "$out/wheels" -r requirements/torch-cpu.txt \
  -c requirements/torch-cpu.txt "$out"/wheels/annotrace-*.whl

# Qt's X/EGL client libraries, for machines that lack them (the rest of a desktop has them).
RUNTIME_DEBS=(libxkbcommon-x11-0 libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1 libxcb-shape0
  libxcb-xinerama0 libxcb-randr0 libxcb-render-util0 libxcb-image0 libegl1 libgl1)
if command -v apt-get >/dev/null 2>&1; then
  echo "kit: downloading Debian runtime packages"
  (cd "$out/debs" && apt-get download "${RUNTIME_DEBS[@]}" >/dev/null 2>&1) \
    || echo "kit: warning: could not download the .deb files; install.sh will skip them" >&2
fi

cp installer/kit_install.sh "$out/install.sh"
cp docs/install.md "$out/INSTALL.md" 2>/dev/null || true
(cd "$out" && sha256sum wheels/* debs/* install.sh > SHA256SUMS 2>/dev/null || true)
tar -C "$(dirname "$out")" -cf "$out.tar" "$(basename "$out")"
echo "kit: $out ($(du -sh "$out" | cut -f1)), archive $out.tar"
