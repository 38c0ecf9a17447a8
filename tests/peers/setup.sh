#!/usr/bin/env bash
# Installs the real peers the tests run against, at pinned versions:
#   Node `ws` (npm) into tests/peers/node/node_modules,
#   Python `websockets` (PyPI) into tests/peers/python/venv,
# and writes tests/peers/.installed when both are in place.
#
# `cargo test` runs this itself when the peers are missing (tests/real_peers.rs), with
# --no-system: then a missing Node.js/npm or Python venv is an error that says what to install.
# Without it (CI, by hand as root) the runtimes come from Debian's packages when missing.
# Idempotent, and safe to run concurrently: one run at a time holds tests/peers/.setup.lock.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
system=1
[ "${1:-}" = "--no-system" ] && system=0

if command -v flock >/dev/null; then
  exec 9>"$here/.setup.lock"
  flock 9
fi
# Another run may have finished while this one waited for the lock.
[ -f "$here/.installed" ] && [ "${1:-}" = "--no-system" ] && exit 0

missing=()
command -v node >/dev/null && command -v npm >/dev/null || missing+=(nodejs npm)
python3 -c 'import venv, ensurepip' 2>/dev/null || missing+=(python3-venv)
if [ ${#missing[@]} -gt 0 ]; then
  if [ $system = 1 ]; then
    apt-get update -qq && apt-get install -y -qq "${missing[@]}"
  else
    echo "the real-peer tests need Node.js with npm and Python 3 with venv; missing: ${missing[*]}" >&2
    echo "install them (Debian: apt-get install ${missing[*]}) and run the tests again," >&2
    echo "or run tests/peers/setup.sh as root, which installs them" >&2
    exit 3
  fi
fi

rm -f "$here/.installed"
(cd "$here/node" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
if [ ! -x "$here/python/venv/bin/python" ]; then
  python3 -m venv "$here/python/venv"
fi
"$here/python/venv/bin/pip" install -q --disable-pip-version-check -r "$here/python/requirements.txt"
versions="ws $(node -p "require('$here/node/node_modules/ws/package.json').version"), websockets $("$here/python/venv/bin/python" -c 'import websockets; print(websockets.version.version)')"
echo "$versions" > "$here/.installed"
echo "peers: $versions"
