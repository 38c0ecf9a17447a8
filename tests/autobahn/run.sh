#!/usr/bin/env bash
# Autobahn|Testsuite conformance runs for sockeye.
#
# Usage: tests/autobahn/run.sh [all|server|server-std|client|axum]     (default: all)
#
#   server      wstest -m fuzzingclient  -> examples/echo_server     on 127.0.0.1:9001
#   server-std  wstest -m fuzzingclient  -> examples/echo_server_std on 127.0.0.1:9002
#   client      examples/autobahn_client -> wstest -m fuzzingserver  on 127.0.0.1:9003
#   axum        wstest -m fuzzingclient  -> examples/axum_echo       on 127.0.0.1:9004/ws
#               (the axum app over HTTP/1.1, built with --features axum-example)
#
# It installs wstest if needed (setup.sh), builds the examples once in release
# mode, runs the selected runs one after another, prints a per-section table and
# the wall time of each, and exits 0 only if every run passes (see summarize.py:
# every case OK, or INFORMATIONAL where autobahn marks it so; nothing
# UNIMPLEMENTED: 12.* and 13.* are permessage-deflate, which sockeye implements). Reports go to tests/autobahn/reports/<run>/ (index.html there).
#
# Environment (all optional):
#   AUTOBAHN_CASES           case patterns to run                  (default "*")
#   AUTOBAHN_EXCLUDE         case patterns to skip                 (default none)
#   AUTOBAHN_TIMEOUT         limit for each run, in seconds        (default 300)
#   AUTOBAHN_REPORTS         report directory                      (default tests/autobahn/reports)
#   AUTOBAHN_PREFIX          where setup.sh installs wstest        (default /opt/autobahn)
#   AUTOBAHN_SKIP_SETUP=1    do not call setup.sh (wstest must be installed)
#   AUTOBAHN_SKIP_BUILD=1    do not run cargo build
#   AUTOBAHN_CARGO_ARGS      extra `cargo build` arguments, e.g. "--features tokio"
#   AUTOBAHN_SERVER_CMD      command line used instead of the echo_server example
#   AUTOBAHN_SERVER_STD_CMD  command line used instead of the echo_server_std example
#   AUTOBAHN_CLIENT_CMD      command line used instead of the autobahn_client example
#   AUTOBAHN_AXUM_CMD        command line used instead of the axum_echo example
# An override command line is run by bash with the example's arguments appended:
# the listen address (servers), or the fuzzing server's URL and the agent name (client).
#
# Exit status: 0 all selected runs pass; 1 a run fails (failing or missing cases,
# the testee exits early or fails, timeout); 2 usage, setup or build error.
set -euo pipefail
trap 'echo "autobahn: ERROR: line $LINENO: $BASH_COMMAND failed" >&2' ERR
set -o errtrace

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)

# What to run. Case patterns use wstest's syntax ("6.4.*", "9.*", "1.1.1").
read -r -a CASES <<< "${AUTOBAHN_CASES:-*}"
read -r -a EXCLUDE <<< "${AUTOBAHN_EXCLUDE-}"
UNIMPLEMENTED_OK=""  # sections where UNIMPLEMENTED passes: none (strict)
TIMEOUT=${AUTOBAHN_TIMEOUT:-300}
REPORTS=${AUTOBAHN_REPORTS:-$HERE/reports}
PREFIX=${AUTOBAHN_PREFIX:-/opt/autobahn}
WSTEST=$PREFIX/bin/wstest
PY2=$PREFIX/bin/python2  # the interpreter wstest runs on (written by setup.sh)
read -r -a CARGO_ARGS <<< "${AUTOBAHN_CARGO_ARGS:-}"

# Loopback only. The fuzzing server is bound to it through setup.sh's wstest wrapper.
SERVER_ADDR=127.0.0.1:9001
SERVER_STD_ADDR=127.0.0.1:9002
FUZZINGSERVER_ADDR=127.0.0.1:9003
AXUM_ADDR=127.0.0.1:9004
export WSTEST_BIND=127.0.0.1
CLIENT_AGENT=sockeye  # agent name the client reports its results under

WAIT_PORT_S=30     # how long a server may take to accept connections
STOP_GRACE_S=5     # SIGTERM -> SIGKILL grace period when stopping a process group

log() { echo "autobahn: $*" >&2; }
die() { echo "autobahn: ERROR: $*" >&2; exit 2; }
usage() { sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//' >&2; exit 2; }
now() { date +%s%N; }
since() { # since START : seconds since START (from now), one decimal
  local d=$((($(date +%s%N) - $1) / 100000000))
  echo "$((d / 10)).$((d % 10))"
}

MODE=${1:-all}
[ $# -le 1 ] || usage
case "$MODE" in
  all) RUNS=(server server-std client axum) ;;
  server|server-std|client|axum) RUNS=("$MODE") ;;
  -h|--help|help) usage ;;
  *) log "unknown run '$MODE'"; usage ;;
esac
[[ "$TIMEOUT" =~ ^[1-9][0-9]*$ ]] || die "AUTOBAHN_TIMEOUT must be a positive number of seconds"
command -v python3 >/dev/null || die "python3 is needed (spec files and summarize.py)"

# ---------------------------------------------------------------- processes
# Every process started here gets a session and process group of its own
# (setsid), whose id is its pid. On exit, whatever the reason, the groups still
# running are stopped: SIGTERM, then SIGKILL after STOP_GRACE_S.
GROUP_PIDS=()
start_group() { # start_group DIR LOGFILE CMD... : runs CMD in DIR in the background; sets STARTED_PID
  local dir=$1 logfile=$2
  shift 2
  # The subshell is not a group leader, so setsid(1) makes it one in place (no fork):
  # $! is the new group's id.
  (cd "$dir" && exec setsid "$@") >> "$logfile" 2>&1 < /dev/null &
  STARTED_PID=$!
  GROUP_PIDS+=("$STARTED_PID")
}
forget_group() { # forget_group PID
  local p keep=()
  for p in "${GROUP_PIDS[@]}"; do [ "$p" = "$1" ] || keep+=("$p"); done
  GROUP_PIDS=("${keep[@]}")
}
wait_group() { # wait_group PID : waits for the leader, then sweeps its group; sets WAIT_RC
  WAIT_RC=0
  wait "$1" || WAIT_RC=$?
  kill -KILL -- "-$1" 2>/dev/null || true
  forget_group "$1"
}
stop_group() { # stop_group PID
  local i
  kill -TERM -- "-$1" 2>/dev/null || true
  for ((i = 0; i < STOP_GRACE_S * 10; i++)); do
    kill -0 -- "-$1" 2>/dev/null || break
    sleep 0.1
  done
  kill -KILL -- "-$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
  forget_group "$1"
}
stop_all() {
  local pid
  for pid in "${GROUP_PIDS[@]}"; do stop_group "$pid"; done
}
trap stop_all EXIT
trap 'log "interrupted"; exit 130' INT
trap 'log "terminated"; exit 143' TERM

port_open() { # port_open HOST:PORT : whether it accepts TCP connections (loopback: never blocks)
  (: <> "/dev/tcp/${1%:*}/${1##*:}") 2>/dev/null
}
wait_port() { # wait_port HOST:PORT PID : until HOST:PORT accepts connections; fails if PID exits first
  local i
  for ((i = 0; i < WAIT_PORT_S * 5; i++)); do
    kill -0 "$2" 2>/dev/null || return 1
    port_open "$1" && return 0
    sleep 0.2
  done
  return 1
}

# ---------------------------------------------------------------- wstest input and output
# The spec files are generated (not committed) so that the case selection lives
# in one place, CASES/EXCLUDE above; each run keeps its spec in its report directory.
write_spec() { # write_spec FILE OUTDIR url|servers URL [AGENT]
  SPEC_CASES="${CASES[*]}" SPEC_EXCLUDE="${EXCLUDE[*]}" python3 - "$@" <<'EOF'
import json, os, sys
path, outdir, key, url = sys.argv[1:5]
spec = {
    "outdir": outdir,
    "cases": os.environ["SPEC_CASES"].split(),
    "exclude-cases": os.environ["SPEC_EXCLUDE"].split(),
    "exclude-agent-cases": {},
}
spec[key] = url if key == "url" else [{"agent": sys.argv[5], "url": url}]
with open(path, "w") as f:
    json.dump(spec, f, indent=2)
    f.write("\n")
EOF
}
list_cases() { # list_cases SPEC : the case ids the spec selects, by wstest's own matcher
  "$PY2" -c '
import json, sys
from autobahntestsuite.case import Cases, CaseCategories, CaseSubCategories, CaseSetname, CaseBasename
from autobahntestsuite.caseset import CaseSet
cs = CaseSet(CaseSetname, CaseBasename, Cases, CaseCategories, CaseSubCategories)
sys.stdout.write("".join(c + "\n" for c in cs.parseSpecCases(json.load(open(sys.argv[1])))))' "$1"
}
prepare() { # prepare DIR SPECNAME url|servers URL [AGENT] : spec + DIR/cases.txt (the expected case ids)
  local dir=$1 spec=$2
  shift 2
  write_spec "$dir/$spec" "$dir" "$@"
  list_cases "$dir/$spec" > "$dir/cases.txt" || die "cannot list the cases of $dir/$spec"
  # wstest hangs when no case matches, so refuse that here.
  [ -s "$dir/cases.txt" ] \
    || die "no case matches AUTOBAHN_CASES='${CASES[*]}' minus AUTOBAHN_EXCLUDE='${EXCLUDE[*]}'"
}
section_spec() { # section_spec DIR SECTION : fuzzingclient-section-N.json with that section's cases
  SECTION=$2 python3 - "$1" <<'EOF'
import json, os, sys
d, sec = sys.argv[1], os.environ["SECTION"]
spec = json.load(open(os.path.join(d, "fuzzingclient.json")))
spec["cases"] = [c for c in open(os.path.join(d, "cases.txt")).read().split() if c.split(".")[0] == sec]
spec["exclude-cases"] = []
with open(os.path.join(d, "fuzzingclient-section-%s.json" % sec), "w") as f:
    json.dump(spec, f, indent=2)
EOF
}
merge_section() { # merge_section DIR SECTION : folds the section's index.json into index.json
  SECTION=$2 python3 - "$1" <<'EOF'
import json, os, sys
d, sec = sys.argv[1], os.environ["SECTION"]
part, merged = os.path.join(d, "index.json"), os.path.join(d, ".index-merged.json")
acc = json.load(open(merged)) if os.path.exists(merged) else {}
if os.path.exists(part):
    for agent, cases in json.load(open(part)).items():
        acc.setdefault(agent, {}).update(cases)
    os.remove(part)
with open(merged, "w") as f:
    json.dump(acc, f, indent=2, sort_keys=True)
if os.path.exists(os.path.join(d, "index.html")):
    os.rename(os.path.join(d, "index.html"), os.path.join(d, "index-section-%s.html" % sec))
want = [c for c in open(os.path.join(d, "cases.txt")).read().split() if c.split(".")[0] == sec]
done = set(c for cases in acc.values() for c in cases)
lost = [c for c in want if c not in done]
print("    section %-3s %3d of %3d cases reported%s"
      % (sec, len(want) - len(lost), len(want), " (first without a result: %s)" % lost[0] if lost else ""))
EOF
}
finish_server_reports() { # finish_server_reports DIR TITLE : index.json + an index.html linking the sections
  local dir=$1 f
  if [ -f "$dir/.index-merged.json" ]; then mv "$dir/.index-merged.json" "$dir/index.json"; fi
  {
    echo "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>Autobahn|Testsuite: $2</title></head><body>"
    echo "<h1>Autobahn|Testsuite: $2</h1><p><a href=\"summary.txt\">summary.txt</a></p><ul>"
    for f in "$dir"/index-section-*.html; do
      [ -f "$f" ] && echo "<li><a href=\"${f##*/}\">${f##*/}</a></li>"
    done
    echo "</ul></body></html>"
  } > "$dir/index.html"
}
# Asks a running fuzzingserver to write its reports (when the client under test
# stopped before /updateReports): a bare WebSocket handshake, python3 stdlib only.
request_reports() { # request_reports HOST:PORT AGENT
  timeout 120 python3 - "${1%:*}" "${1##*:}" "$2" <<'EOF'
import base64, os, socket, sys
host, port, agent = sys.argv[1], int(sys.argv[2]), sys.argv[3]
s = socket.create_connection((host, port), timeout=110)
key = base64.b64encode(os.urandom(16)).decode()
s.sendall(("GET /updateReports?agent=%s HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\n"
           "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n"
           % (agent, host, port, key)).encode())
data = b""
while True:  # the server writes the reports, sends a close frame and drops the connection
    try:
        chunk = s.recv(65536)
    except ConnectionResetError:
        break
    if not chunk:
        break
    data += chunk
if b" 101 " not in data.split(b"\r\n", 1)[0]:
    sys.exit("updateReports handshake failed: %r" % data[:200])
EOF
}

# ---------------------------------------------------------------- bookkeeping of runs
declare -A RESULT=() WALL=() NOTE=()
new_run_dir() { # new_run_dir RUN
  rm -rf "${REPORTS:?}/$1"
  mkdir -p "$REPORTS/$1"
}
fail_run() { # fail_run RUN REASON
  RESULT[$1]=FAIL
  NOTE[$1]="${NOTE[$1]:+${NOTE[$1]}; }$2"
  log "$1: $2"
}
summarize() { # summarize RUN DIR AGENT : prints the table, fails the run unless every case passes
  local rc=0 failing
  if [ ! -f "$2/index.json" ]; then
    fail_run "$1" "wstest wrote no report"
    return 0
  fi
  python3 "$HERE/summarize.py" "$2" --agent "$3" --title "$1" --expect-cases "$2/cases.txt" \
      --unimplemented-ok "$UNIMPLEMENTED_OK" --json "$2/summary.json" > "$2/summary.txt" || rc=$?
  cat "$2/summary.txt"
  if [ "$rc" -ne 0 ]; then
    failing=$(python3 -c '
import json, sys
v = json.load(open(sys.argv[1])).popitem()[1]
print("%d of %d cases failing" % (len(v["failing"]), v["counts"]["total"]))' "$2/summary.json" 2>/dev/null) \
      || failing="the report cannot be judged"
    RESULT[$1]=FAIL
    NOTE[$1]="${NOTE[$1]:+${NOTE[$1]}; }$failing"
  fi
}
finish_run() { # finish_run RUN START
  WALL[$1]=$(since "$2")
  : "${RESULT[$1]:=PASS}"
  echo "autobahn $1: ${RESULT[$1]}, wall time ${WALL[$1]}s${NOTE[$1]:+ (${NOTE[$1]})}"
  echo
}

# ---------------------------------------------------------------- server runs
# wstest's fuzzingclient writes its reports only after its last case, so it is
# run once per section (about 0.7 s each): a crash or a timeout then keeps the
# sections already done, and the cases not reached count as missing.
run_server() { # run_server RUN ADDR AGENT CMD [PATH]
  local run=$1 addr=$2 agent=$3 cmd=$4 path=${5:-}
  local start deadline dir=$REPORTS/$1 sut sec left
  start=$(now)
  deadline=$((start / 1000000000 + TIMEOUT))
  new_run_dir "$run"
  echo "=== autobahn $run: wstest -m fuzzingclient against ws://$addr$path (testee: $cmd $addr)"
  prepare "$dir" fuzzingclient.json servers "ws://$addr$path" "$agent"
  if port_open "$addr"; then
    fail_run "$run" "something already listens on $addr"
    finish_run "$run" "$start"
    return 0
  fi
  start_group "$ROOT" "$dir/testee.log" bash -c "$cmd \"\$@\"" "$run" "$addr"
  sut=$STARTED_PID
  if ! wait_port "$addr" "$sut"; then
    if kill -0 "$sut" 2>/dev/null; then
      fail_run "$run" "the server under test does not accept connections on $addr after ${WAIT_PORT_S}s"
    else
      wait_group "$sut"
      fail_run "$run" "the server under test exited with status $WAIT_RC before accepting connections"
    fi
    tail -n 20 "$dir/testee.log" >&2
    stop_all
    finish_run "$run" "$start"
    return 0
  fi
  for sec in $(cut -d. -f1 "$dir/cases.txt" | uniq); do
    left=$((deadline - $(date +%s)))
    if [ "$left" -le 0 ]; then
      fail_run "$run" "timeout (${TIMEOUT}s) before section $sec"
      break
    fi
    section_spec "$dir" "$sec"
    echo "=== section $sec" >> "$dir/wstest.log"
    start_group "$dir" "$dir/wstest.log" timeout -k 5 "$left" \
      "$WSTEST" -m fuzzingclient -s "fuzzingclient-section-$sec.json"
    wait_group "$STARTED_PID"
    merge_section "$dir" "$sec"
    if [ "$WAIT_RC" -eq 124 ] || [ "$WAIT_RC" -eq 137 ]; then
      fail_run "$run" "timeout (${TIMEOUT}s) in section $sec"
      break
    elif [ "$WAIT_RC" -ne 0 ]; then
      fail_run "$run" "wstest exited with status $WAIT_RC in section $sec (see wstest.log)"
    fi
    if ! kill -0 "$sut" 2>/dev/null; then
      break
    fi
  done
  if ! kill -0 "$sut" 2>/dev/null; then
    wait_group "$sut"
    fail_run "$run" "the server under test exited with status $WAIT_RC during the run (see testee.log)"
    tail -n 20 "$dir/testee.log" >&2
  fi
  stop_all
  finish_server_reports "$dir" "$run"
  summarize "$run" "$dir" "$agent"
  finish_run "$run" "$start"
}

# ---------------------------------------------------------------- client run
run_client() { # run_client RUN ADDR AGENT CMD
  local run=$1 addr=$2 agent=$3 cmd=$4
  local start deadline dir=$REPORTS/$1 fuzzer left
  start=$(now)
  deadline=$((start / 1000000000 + TIMEOUT))
  new_run_dir "$run"
  echo "=== autobahn $run: $cmd ws://$addr $agent, against wstest -m fuzzingserver"
  prepare "$dir" fuzzingserver.json url "ws://$addr"
  if port_open "$addr"; then
    fail_run "$run" "something already listens on $addr"
    finish_run "$run" "$start"
    return 0
  fi
  start_group "$dir" "$dir/wstest.log" "$WSTEST" -m fuzzingserver -s fuzzingserver.json
  fuzzer=$STARTED_PID
  if ! wait_port "$addr" "$fuzzer"; then
    fail_run "$run" "wstest fuzzingserver does not accept connections on $addr"
    tail -n 20 "$dir/wstest.log" >&2
    stop_all
    finish_run "$run" "$start"
    return 0
  fi
  left=$((deadline - $(date +%s)))
  [ "$left" -gt 0 ] || left=1  # (timeout 0 would mean no limit)
  start_group "$ROOT" "$dir/testee.log" timeout -k 5 "$left" bash -c "$cmd \"\$@\"" "$run" "ws://$addr" "$agent"
  wait_group "$STARTED_PID"
  if [ "$WAIT_RC" -eq 124 ] || [ "$WAIT_RC" -eq 137 ]; then
    fail_run "$run" "timeout (${TIMEOUT}s); the client was stopped"
  elif [ "$WAIT_RC" -ne 0 ]; then
    fail_run "$run" "the client exited with status $WAIT_RC (see testee.log)"
    tail -n 20 "$dir/testee.log" >&2
  fi
  if [ ! -f "$dir/index.json" ] && kill -0 "$fuzzer" 2>/dev/null; then
    log "$run: the client did not ask for /updateReports; requesting the reports of the cases it ran"
    request_reports "$addr" "$agent" || log "$run: the fuzzing server did not write its reports"
  fi
  stop_all
  summarize "$run" "$dir" "$agent"
  finish_run "$run" "$start"
}

# ================================================================ main
if [ "${AUTOBAHN_SKIP_SETUP:-0}" != 1 ]; then
  "$HERE/setup.sh" > /dev/null || die "setup.sh failed"
fi
if [ ! -x "$WSTEST" ] || [ ! -x "$PY2" ]; then
  die "no wstest in $PREFIX; run $HERE/setup.sh (or set AUTOBAHN_PREFIX)"
fi

# The examples under test, built once; an override command replaces its example.
declare -A EXAMPLE=([server]=echo_server [server-std]=echo_server_std [client]=autobahn_client
                    [axum]=axum_echo)
declare -A OVERRIDE=([server]=${AUTOBAHN_SERVER_CMD:-} [server-std]=${AUTOBAHN_SERVER_STD_CMD:-}
                     [client]=${AUTOBAHN_CLIENT_CMD:-} [axum]=${AUTOBAHN_AXUM_CMD:-})
BUILD=()
for run in "${RUNS[@]}"; do
  [ -n "${OVERRIDE[$run]}" ] || BUILD+=(--example "${EXAMPLE[$run]}")
  # The axum example's crates are optional dependencies behind this feature.
  if [ "$run" = axum ] && [ -z "${OVERRIDE[$run]}" ]; then BUILD+=(--features axum-example); fi
done
TARGET_DIR=${CARGO_TARGET_DIR:-target}
[[ "$TARGET_DIR" == /* ]] || TARGET_DIR=$ROOT/$TARGET_DIR  # cargo resolves it from ROOT
EXAMPLES_DIR=$TARGET_DIR/release/examples
if [ ${#BUILD[@]} -gt 0 ] && [ "${AUTOBAHN_SKIP_BUILD:-0}" != 1 ]; then
  log "cargo build --release ${BUILD[*]} ${CARGO_ARGS[*]}"
  build_start=$(now)
  (cd "$ROOT" && cargo build --release "${BUILD[@]}" "${CARGO_ARGS[@]}") || die "cargo build failed"
  log "built in $(since "$build_start")s"
fi
declare -A COMMAND=()
for run in "${RUNS[@]}"; do
  COMMAND[$run]=${OVERRIDE[$run]:-$(printf '%q' "$EXAMPLES_DIR/${EXAMPLE[$run]}")}
  if [ -z "${OVERRIDE[$run]}" ] && [ ! -x "$EXAMPLES_DIR/${EXAMPLE[$run]}" ]; then
    die "$EXAMPLES_DIR/${EXAMPLE[$run]} does not exist (build it, or drop AUTOBAHN_SKIP_BUILD)"
  fi
done

mkdir -p "$REPORTS"
REPORTS=$(cd "$REPORTS" && pwd)
log "$("$WSTEST" --autobahnversion 2>&1 | tr '\n' ' '); cases: ${CASES[*]}; excluded: ${EXCLUDE[*]:-none}; timeout ${TIMEOUT}s per run"
echo
for run in "${RUNS[@]}"; do
  case "$run" in
    server) run_server server "$SERVER_ADDR" sockeye-server "${COMMAND[$run]}" ;;
    server-std) run_server server-std "$SERVER_STD_ADDR" sockeye-server-std "${COMMAND[$run]}" ;;
    client) run_client client "$FUZZINGSERVER_ADDR" "$CLIENT_AGENT" "${COMMAND[$run]}" ;;
    axum) run_server axum "$AXUM_ADDR" sockeye-axum "${COMMAND[$run]}" /ws ;;
  esac
done

status=0
echo "=== autobahn: overview (reports in $REPORTS)"
printf '%-12s %-6s %9s  %s\n' run result wall note
for run in "${RUNS[@]}"; do
  printf '%-12s %-6s %8ss%s\n' "$run" "${RESULT[$run]}" "${WALL[$run]}" "${NOTE[$run]:+  ${NOTE[$run]}}"
  [ "${RESULT[$run]}" = PASS ] || status=1
done
exit "$status"
