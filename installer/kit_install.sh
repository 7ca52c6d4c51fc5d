#!/usr/bin/env bash
# Install annotrace from this kit with no network access.
#
#   ./install.sh [PREFIX]      (default PREFIX: /opt/annotrace; a virtual environment)
#
# Checks every file against SHA256SUMS first, installs the Debian runtime packages in debs/
# when run as root, creates PREFIX with python3.11 -m venv, installs only from wheels/
# (pip --no-index), and links PREFIX/bin/annotrace to /usr/local/bin when root.
# Upgrading: run the new kit's install.sh with the same PREFIX; workspaces live elsewhere and
# are never touched.
set -euo pipefail
kit="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
prefix="${1:-/opt/annotrace}"
PY="${PYTHON:-python3.11}"; command -v "$PY" >/dev/null 2>&1 || PY=python3

if [ -f "$kit/SHA256SUMS" ]; then
  (cd "$kit" && sha256sum --quiet -c SHA256SUMS) || { echo "install: the kit is damaged (SHA256SUMS)" >&2; exit 2; }
fi
if [ "$(id -u)" = "0" ] && ls "$kit"/debs/*.deb >/dev/null 2>&1; then
  dpkg -i --skip-same-version "$kit"/debs/*.deb >/dev/null || echo "install: warning: some .deb files did not install" >&2
fi
"$PY" -m venv "$prefix"
"$prefix/bin/python" -m pip install -q --no-index --find-links "$kit/wheels" --upgrade pip >/dev/null 2>&1 || true
"$prefix/bin/python" -m pip install -q --no-index --find-links "$kit/wheels" annotrace
if [ "$(id -u)" = "0" ]; then ln -sf "$prefix/bin/annotrace" /usr/local/bin/annotrace; fi
"$prefix/bin/annotrace" --version
echo "install: annotrace installed in $prefix"
