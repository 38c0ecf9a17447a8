#!/usr/bin/env bash
# Installs the real peers the tests run against, at pinned versions:
#   Node `ws` (npm) into tests/peers/node/node_modules,
#   Python `websockets` (PyPI) into tests/peers/python/venv.
# Idempotent; needs node/npm and python3 (installed from Debian's packages when missing).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)

if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  apt-get update -qq && apt-get install -y -qq nodejs npm
fi
if ! python3 -c 'import venv' 2>/dev/null; then
  apt-get update -qq && apt-get install -y -qq python3-venv
fi

(cd "$here/node" && npm install --no-audit --no-fund --loglevel=error >/dev/null)
if [ ! -x "$here/python/venv/bin/python" ]; then
  python3 -m venv "$here/python/venv"
fi
"$here/python/venv/bin/pip" install -q --disable-pip-version-check -r "$here/python/requirements.txt"
echo "peers: ws $(node -p "require('$here/node/node_modules/ws/package.json').version"), websockets $("$here/python/venv/bin/python" -c 'import websockets; print(websockets.version.version)')"
