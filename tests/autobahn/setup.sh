#!/usr/bin/env bash
# Install the Autobahn|Testsuite fuzzer `wstest` for sockeye's conformance runs
# (tests/autobahn/run.sh).
#
# wstest only runs on Python 2.7, which Debian 12 (bookworm) no longer ships.
# So, without docker and without touching the system Python:
#   1. install the few bookworm packages needed (gcc + libc6-dev to compile
#      wsaccel/ujson, python3-pip to download wheels, the runtime libraries of
#      Debian's python2.7) when they are missing -- as root only;
#   2. download CPython 2.7, libssl1.1 and libffi7 as .debs from Debian 11
#      (bullseye) with a private apt configuration and unpack them with
#      `dpkg -x` under $PREFIX/py2 (nothing is installed into /);
#   3. download wstest and its last working Python 2 dependency set from PyPI,
#      pinned with sha256 hashes, and install it into that interpreter;
#   4. write the wrappers $PREFIX/bin/wstest and $PREFIX/bin/python2.
#
# Idempotent: when the install is complete and wstest starts, it does nothing.
# Prints the path of wstest as its last line of stdout.
#
# Usage:  tests/autobahn/setup.sh
# Environment:
#   AUTOBAHN_PREFIX            install prefix (default /opt/autobahn)
#   AUTOBAHN_DEBIAN_MIRROR     Debian mirror that serves bullseye (default: the mirror
#                              this machine's apt sources use for Debian itself)
#   AUTOBAHN_FORCE=1           redo every step even if the install looks complete
#   AUTOBAHN_NO_APT_INSTALL=1  never apt-get install missing packages; fail instead
#
# Network: Debian's package mirror and PyPI only. Disk: about 120 MiB.
set -euo pipefail

PREFIX=${AUTOBAHN_PREFIX:-/opt/autobahn}
TESTSUITE_VERSION=25.10.1
SUITE=bullseye
# Bump when this script changes in a way that needs existing installs redone.
RECIPE=1

log() { echo "autobahn setup: $*" >&2; }
die() { echo "autobahn setup: ERROR: $*" >&2; exit 1; }
trap 'echo "autobahn setup: ERROR: command failed (line $LINENO): $BASH_COMMAND" >&2' ERR

# The first Debian archive URI in this machine's apt sources (deb822 or one-line format),
# ignoring the security mirror.
system_mirror() {
  { grep -hE '^URIs:' /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '{print $2}'
    grep -hE '^deb ' /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null \
      | awk '{for (i = 2; i <= NF; i++) if ($i ~ /^https?:/) { print $i; break }}'
  } | grep -v -- '-security' | grep -E '/debian/?$' | head -n 1 || true
}

[ "$(uname -s)" = Linux ] || die "only Linux is supported"
command -v dpkg >/dev/null || die "needs a Debian system (dpkg not found)"
command -v apt-get >/dev/null || die "needs a Debian system (apt-get not found)"
ARCH=$(dpkg --print-architecture)
[ "$ARCH" = amd64 ] || die "only amd64 is supported (the pinned wheels are x86_64); this is $ARCH"

mkdir -p "$PREFIX" 2>/dev/null || die "cannot create $PREFIX (set AUTOBAHN_PREFIX to a writable directory)"
PREFIX=$(cd "$PREFIX" && pwd)
[ -w "$PREFIX" ] || die "$PREFIX is not writable (set AUTOBAHN_PREFIX to a writable directory)"

PY2ROOT=$PREFIX/py2
PY2=$PY2ROOT/usr/bin/python2.7
PY2LIB=$PY2ROOT/usr/lib/x86_64-linux-gnu
DL=$PREFIX/downloads
WSTEST=$PREFIX/bin/wstest
STAMP=$PREFIX/.installed
STAMP_WANT="recipe=$RECIPE testsuite=$TESTSUITE_VERSION"

# Serialize concurrent runs on the same prefix.
exec 9>"$PREFIX/.setup.lock"
flock -w 1800 9 || die "another setup.sh holds $PREFIX/.setup.lock"

if [ "${AUTOBAHN_FORCE:-0}" != 1 ] && [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$STAMP_WANT" ] \
   && "$WSTEST" --autobahnversion >/dev/null 2>&1; then
  log "already installed ($STAMP_WANT)"
  echo "$WSTEST"
  exit 0
fi

# ---------------------------------------------------------------------------
# 1. bookworm packages
# ---------------------------------------------------------------------------
# The runtime libraries that bullseye's python2.7 links against are still in
# bookworm under the same sonames; only libssl1.1 and libffi7 are not (step 2).
NEED_PKGS=(ca-certificates debian-archive-keyring gcc libc6-dev
           zlib1g libbz2-1.0 libcrypt1 libexpat1 libdb5.3 libncursesw6 libtinfo6
           libreadline8 libsqlite3-0 libnsl2 libtirpc3)
missing=()
for p in "${NEED_PKGS[@]}"; do
  dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed$' || missing+=("$p")
done
# pip is only used to download the Python 2 wheels/sdists (never to install into python3).
python3 -m pip --version >/dev/null 2>&1 || missing+=(python3-pip)
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && [ "${AUTOBAHN_NO_APT_INSTALL:-0}" != 1 ]; then
    log "installing Debian packages: ${missing[*]}"
    apt-get update -qq || die "apt-get update failed"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2 \
      || die "apt-get install ${missing[*]} failed"
  else
    die "missing Debian packages: ${missing[*]} (run as root, or: apt-get install ${missing[*]})"
  fi
fi
CC_BIN=x86_64-linux-gnu-gcc
command -v "$CC_BIN" >/dev/null || CC_BIN=gcc
command -v "$CC_BIN" >/dev/null || die "no C compiler found (apt-get install gcc libc6-dev)"

# ---------------------------------------------------------------------------
# 2. CPython 2.7 from bullseye, unpacked under $PY2ROOT
# ---------------------------------------------------------------------------
DEBS=(python2.7 python2.7-minimal libpython2.7-minimal libpython2.7-stdlib libpython2.7-dev
      libssl1.1 libffi7)
PY2_PROBE='import ssl, ctypes, zlib, hashlib, pyexpat, bz2, json'
py2_ok() {
  [ -x "$PY2" ] && [ -f "$PY2ROOT/usr/include/python2.7/Python.h" ] \
    && LD_LIBRARY_PATH=$PY2LIB "$PY2" -E -s -c "$PY2_PROBE" >/dev/null 2>&1
}
if [ "${AUTOBAHN_FORCE:-0}" = 1 ] || ! py2_ok; then
  MIRROR=${AUTOBAHN_DEBIAN_MIRROR:-$(system_mirror)}
  [ -n "$MIRROR" ] || die "no Debian mirror found in the apt sources; set AUTOBAHN_DEBIAN_MIRROR"
  KEYRING=/usr/share/keyrings/debian-archive-keyring.gpg
  [ -f "$KEYRING" ] || die "missing $KEYRING (apt-get install debian-archive-keyring)"
  APTDIR=$DL/apt
  mkdir -p "$APTDIR/lists/partial" "$APTDIR/cache/archives/partial" "$DL/debs"
  echo "deb [signed-by=$KEYRING] $MIRROR $SUITE main" > "$APTDIR/sources.list"
  # A private apt state: bullseye never enters the system's sources or lists.
  APTOPT=(-o "Dir::Etc::SourceList=$APTDIR/sources.list" -o Dir::Etc::SourceParts=/dev/null
          -o "Dir::State::Lists=$APTDIR/lists" -o "Dir::Cache=$APTDIR/cache"
          -o APT::Sandbox::User=root -o Debug::NoLocking=1 -o Acquire::Languages=none)
  log "fetching the $SUITE package index from $MIRROR"
  apt-get "${APTOPT[@]}" update -qq --error-on=any >&2 \
    || die "apt-get update for $SUITE at $MIRROR failed (once bullseye leaves the regular mirrors, set AUTOBAHN_DEBIAN_MIRROR to a mirror that still has it)"
  rm -f "$DL"/debs/*.deb
  log "downloading ${DEBS[*]}"
  (cd "$DL/debs" && apt-get "${APTOPT[@]}" download "${DEBS[@]}" >&2) \
    || die "apt-get download from $SUITE failed"
  rm -rf "$PY2ROOT.new"
  mkdir -p "$PY2ROOT.new"
  for deb in "$DL"/debs/*.deb; do
    dpkg -x "$deb" "$PY2ROOT.new" || die "dpkg -x $deb failed"
  done
  # Docs and static libraries are not needed to build extension modules.
  rm -rf "$PY2ROOT.new/usr/share/doc" "$PY2ROOT.new/usr/share/man"
  find "$PY2ROOT.new/usr/lib" -name 'libpython2.7*.a' -delete
  rm -rf "$PY2ROOT" "$APTDIR"
  mv "$PY2ROOT.new" "$PY2ROOT"
  py2_ok || die "the unpacked interpreter does not work: $(LD_LIBRARY_PATH=$PY2LIB "$PY2" -E -s -c "$PY2_PROBE" 2>&1 | tail -1)"
fi
log "interpreter: $(LD_LIBRARY_PATH=$PY2LIB "$PY2" -E -s -c 'import sys, ssl; print("Python %s, %s" % (sys.version.split()[0], ssl.OPENSSL_VERSION))')"

# ---------------------------------------------------------------------------
# 3. wstest and its Python 2 dependencies from PyPI
# ---------------------------------------------------------------------------
# The last set of versions that works on Python 2.7 (following upstream's
# requirements.txt / Dockerfile). wsaccel (C UTF-8 validator and masker) and
# ujson are sdists compiled here; without wsaccel wstest is many times slower.
REQS=$DL/requirements-py2.txt
mkdir -p "$DL"
cat > "$REQS" <<'EOF'
pip==20.3.4 --hash=sha256:217ae5161a0e08c0fb873858806e3478c9775caffce5168b50ec885e358c199d
setuptools==44.0.0 --hash=sha256:180081a244d0888b0065e18206950d603f6550721bd6f8c0a10221ed467dd78e
wheel==0.36.2 --hash=sha256:78b5b185f0e5763c26ca1e324373aadd49182ca90e825f7853f4b2509215dc0e
incremental==16.10.1 --hash=sha256:cc00a35f9e9621ddec0a5e7d17271f3f26244873c4aec67eda06f2db8302e04b
six==1.16.0 --hash=sha256:8abb2f1d86890a2dfb989f9a77cfcfd3e47c2a354b01111771326f8aa26e0254
txaio==2.1.0 --hash=sha256:b94e3dbc83760b68955160fc61a2c34e2798f7a90c41672560f40dfd2946a864
zope.interface==4.6.0 --hash=sha256:bad44274b151d46619a7567010f7cde23a908c6faa84b97598fd2f474a0c6891
Twisted==19.10.0 --hash=sha256:776c65270b57ac074d5b7a471142f434b0ac5a8b39d9c974769c855c32abfd91
constantly==15.1.0 --hash=sha256:dd2fa9d6b1a51a83f0d7dd76293d734046aa176e384bf6e33b7e44880eb37c5d
Automat==20.2.0 --hash=sha256:b6feb6455337df834f6c9962d6ccf771515b7d939bca142b29c20c2376bc6111
attrs==21.4.0 --hash=sha256:2d27e3784d7a565d36ab851fe94887c5eccd6a463168875832a1be79c82828b4
hyperlink==21.0.0 --hash=sha256:e6b14c37ecb73e89c77d78cdb4c2cc8f3fb59a885c5b3f819ff4ed80f25af1b4
idna==2.10 --hash=sha256:b97d804b1e9b523befed77c48dacec60e6dcb0b5391d57af6a65a312a90648c0
typing==3.10.0.0 --hash=sha256:c7219ef20c5fbf413b4567092adfc46fa6203cb8454eda33c3fc1afe1398a308
PyHamcrest==1.10.1 --hash=sha256:f7ae19ddfd71f11a421bcec9608d708c0fab816db98b51fdbc672a6d99a30874
pyOpenSSL==19.1.0 --hash=sha256:621880965a720b8ece2f1b2f54ea2071966ab00e2970ad2ce11d596102063504
cryptography==3.3.2 --hash=sha256:c7390f9b2119b2b43160abb34f63277a638504ef8df99f11cb52c1fda66a2e6f
cffi==1.15.1 --hash=sha256:ed9cb427ba5504c1dc15ede7d516b84757c3e3d7868ccc85121d9310d27eed0b
pycparser==2.21 --hash=sha256:8ee45429555515e1f6b185e78100aea234072576aa43ab53aefcae078162fca9
enum34==1.1.10 --hash=sha256:a98a201d6de3f2ab3db284e70a33b0f896fbf35f8086594e8c9e74b909058d53
ipaddress==1.0.23 --hash=sha256:6e0f4a39e66cb5bb9a137b00276a2eff74f93b71dcbdad6f10ff7df9d3557fcc
service-identity==18.1.0 --hash=sha256:001c0707759cb3de7e49c078a7c0c9cd12594161d3bf06b9c254fdcb1a60dc36
pyasn1==0.4.8 --hash=sha256:39c7e2ec30515947ff4e87fb6f456dfc6e84857d34be479c9d4a4ba4bf46aa5d
pyasn1-modules==0.2.8 --hash=sha256:a50b808ffeb97cb3601dd25981f6b016cbb3d31fbf57a8b8a87428e6158d0c74
autobahn==0.10.9 --hash=sha256:3fecc1e2a26a0421128ddcfb4e577f0bc669dd65d0e0fdad1c773965cbcef75a
wsaccel==0.6.3 --hash=sha256:fdb27866bb6b6e7a29e45222778ff97938782a0ce92eff07dfb20af8fb9301c4
ujson==1.35 --hash=sha256:f66073e5506e91d204ab0c614a148d5aa938bdbf104751be66f8ad7a222f5f86
Jinja2==2.11.3 --hash=sha256:03e47ad063331dd6a3f04a43eddca8a966a26ba0c5b7207a9a9e4e08f1b29419
MarkupSafe==1.1.1 --hash=sha256:43a55c2930bbc139570ac2452adf3d70cdbb3cfe5912c71cdce1c2c6bbd9c5d1
Werkzeug==1.0.1 --hash=sha256:2de2a5db0baeae7b2d2664949077c2ac63fbd16d98da0ff71837f7d1dea3fd43
klein==17.10.0 --hash=sha256:8fcb5ee33906c9094bbf9edee19fbcb2d2cf864053def32e5d73946e8d275050
unittest2==1.1.0 --hash=sha256:13f77d0875db6d9b435e1d4f41e74ad4cc2eb6e1d5c824996092b3430f088bb8
traceback2==1.4.0 --hash=sha256:8253cebec4b19094d67cc5ed5af99bf1dba1285292226e98a31929f87a5d6b23
linecache2==1.0.0 --hash=sha256:e78be9c0a0dfcbac712fe04fbf92b96cddae80b1b842f24248214c8496f006ef
autobahntestsuite==25.10.1 --hash=sha256:b57ee6b22de624a03256878ad453c9897d2ad7ee08a4c38b35ee2847637e1383
EOF
WHEELS=$DL/wheels
mkdir -p "$WHEELS"
log "downloading the Python 2 packages from PyPI"
# --no-deps: the list above is complete; the platform flags select cp27mu wheels.
python3 -m pip download --disable-pip-version-check --no-deps --require-hashes \
    --python-version 2.7 --implementation cp --abi cp27mu \
    --platform manylinux2010_x86_64 --platform manylinux1_x86_64 --platform linux_x86_64 \
    -d "$WHEELS" -r "$REQS" >"$DL/pip-download.log" 2>&1 \
  || die "pip download failed; see $DL/pip-download.log: $(tail -3 "$DL/pip-download.log")"

# Build environment of the private interpreter: its own libssl1.1/libffi7 and
# headers (Debian's pyconfig.h includes <x86_64-linux-gnu/python2.7/pyconfig.h>).
export LD_LIBRARY_PATH=$PY2LIB
export CPATH=$PY2ROOT/usr/include/python2.7:$PY2ROOT/usr/include
export CC="$CC_BIN -pthread" LDSHARED="$CC_BIN -pthread -shared"
# ujson 1.35 uses C89-style `inline`; gcc 12 needs this to export its symbols.
export CFLAGS="-fgnu89-inline"
unset PYTHONPATH PYTHONHOME
PIP2=("$PY2" -E -s -m pip --isolated --disable-pip-version-check --no-cache-dir)
PIP2_INSTALL=(install --no-index --find-links "$WHEELS" --no-warn-script-location --require-hashes)

if ! "${PIP2[@]}" --version 2>/dev/null | grep -q '^pip 20\.3\.4 '; then
  log "bootstrapping pip 20.3.4 for Python 2.7"
  # A wheel is a zip archive, so pip can run straight from it.
  "$PY2" -E -s "$WHEELS/pip-20.3.4-py2.py3-none-any.whl/pip" install --isolated \
      --disable-pip-version-check --no-cache-dir --no-index --find-links "$WHEELS" \
      --no-warn-script-location pip==20.3.4 setuptools==44.0.0 wheel==0.36.2 >&2 \
    || die "pip bootstrap failed"
fi
log "installing wstest $TESTSUITE_VERSION and its dependencies into $PY2ROOT/usr/local"
# The sdists are built without build isolation, so their build requirements go in first.
grep -E '^(setuptools|wheel|incremental)==' "$REQS" > "$DL/requirements-build.txt"
"${PIP2[@]}" "${PIP2_INSTALL[@]}" -r "$DL/requirements-build.txt" >"$DL/pip-install.log" 2>&1 \
  || die "pip install (build requirements) failed; see $DL/pip-install.log: $(tail -3 "$DL/pip-install.log")"
"${PIP2[@]}" "${PIP2_INSTALL[@]}" --no-build-isolation -r "$REQS" >>"$DL/pip-install.log" 2>&1 \
  || die "pip install failed; see $DL/pip-install.log: $(tail -5 "$DL/pip-install.log")"
"${PIP2[@]}" check >&2 || die "pip check reports inconsistent Python 2 packages"

# ---------------------------------------------------------------------------
# 4. wrappers and checks
# ---------------------------------------------------------------------------
mkdir -p "$PREFIX/bin"
cat > "$WSTEST.tmp" <<'EOF'
#!/bin/sh
# wstest (Autobahn|Testsuite) on a private CPython 2.7; written by sockeye's tests/autobahn/setup.sh.
# WSTEST_BIND=ADDR makes the listening modes (fuzzingserver, ...) bind ADDR
# (e.g. 127.0.0.1) instead of all interfaces. Output is unbuffered (-u) so that
# the log shows the case in progress when a run is cut short.
here=$(CDPATH= cd -- "$(dirname -- "$0")/.." && pwd)
LD_LIBRARY_PATH="$here/py2/usr/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export LD_LIBRARY_PATH
exec "$here/py2/usr/bin/python2.7" -E -s -u -c '
import os, sys
sys.argv[0] = "wstest"
bind = os.environ.get("WSTEST_BIND")
if bind:
    import autobahntestsuite.choosereactor  # installs the epoll reactor first, as wstest does
    from twisted.internet import reactor
    _tcp, _ssl = reactor.listenTCP, reactor.listenSSL
    reactor.listenTCP = lambda port, factory, backlog=50, interface="": _tcp(port, factory, backlog, interface or bind)
    reactor.listenSSL = lambda port, factory, ctx, backlog=50, interface="": _ssl(port, factory, ctx, backlog, interface or bind)
from autobahntestsuite.wstest import run
sys.exit(run())' "$@"
EOF
cat > "$PREFIX/bin/python2.tmp" <<'EOF'
#!/bin/sh
# The private CPython 2.7 that runs wstest; written by sockeye's tests/autobahn/setup.sh.
here=$(CDPATH= cd -- "$(dirname -- "$0")/.." && pwd)
LD_LIBRARY_PATH="$here/py2/usr/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export LD_LIBRARY_PATH
exec "$here/py2/usr/bin/python2.7" -E -s "$@"
EOF
chmod 755 "$WSTEST.tmp" "$PREFIX/bin/python2.tmp"
mv "$WSTEST.tmp" "$WSTEST"
mv "$PREFIX/bin/python2.tmp" "$PREFIX/bin/python2"

versions=$("$WSTEST" --autobahnversion 2>&1) || die "wstest does not start: $versions"
log "$(echo "$versions" | tr '\n' ' ')"
accel=$("$PREFIX/bin/python2" -c '
import ujson, wsaccel.xormask, wsaccel.utf8validator
from autobahn.websocket import utf8validator
print(utf8validator.Utf8Validator.__module__)' 2>&1) \
  || die "the accelerators (wsaccel/ujson) do not import: $accel"
case "$accel" in
  wsaccel*) log "wsaccel acceleration active" ;;
  *) die "autobahn does not use wsaccel ($accel); runs would be very slow" ;;
esac
echo "$STAMP_WANT" > "$STAMP"
log "done; wstest is $WSTEST"
echo "$WSTEST"
