#!/usr/bin/env bash
# scripts/quickstart.sh — install byok_magic into .venv and open the quickstart notebook in
# JupyterLab. Extra arguments go to `jupyter lab` (e.g. --no-browser --port 8899).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
VENV=$ROOT/.venv
NOTEBOOK=notebooks/quickstart.ipynb
export PIP_DISABLE_PIP_VERSION_CHECK=1

if [ ! -f "$NOTEBOOK" ]; then
  echo "$NOTEBOOK is missing from this checkout" >&2
  exit 1
fi

if [ ! -x "$VENV/bin/python" ]; then
  echo "creating $VENV"
  python3 -m venv "$VENV" || {
    rm -rf "$VENV"
    echo "python3 -m venv failed; on Debian/Ubuntu: apt-get install python3-venv" >&2
    exit 1
  }
fi
echo "installing byok_magic (editable) and JupyterLab into $VENV"
# (grep: this machine's pip.conf names extra local indexes that may not exist; pip warns per package)
"$VENV/bin/python" -m pip install -q --progress-bar off -e . jupyterlab \
  2> >(grep -v "^WARNING: Location '.*' is ignored" >&2)

args=()
# Jupyter refuses to start as root unless told it is on purpose (containers, CI boxes).
[ "$(id -u)" = 0 ] && args+=(--allow-root)
exec "$VENV/bin/jupyter" lab "${args[@]}" "$NOTEBOOK" "$@"
