#!/bin/sh
# Runs the four benches in table mode (interleaved contenders, medians, ratios within each
# group) pinned to one CPU, and prints the tables; they are also written to
# $CARGO_TARGET_DIR/bench-tables/{mask,decode,encode,echo}.md (target/ if unset). The benches
# are the sockeye-benches package (benches/Cargo.toml). See benches/README.md.
#
#   benches/run.sh                  everything (~25 min on 2 cores)
#   benches/run.sh mask decode      some of them
#   benches/run.sh scale            the idle-connections scale bench (~2 min, not in the
#                                   default list: two processes of N sockets each, unpinned;
#                                   writes bench-tables/scale.md)
#   benches/run.sh mask decode encode echo scale handshake deflate
#                                   every bench benches/README.md quotes, in one run (~30 min;
#                                   deflate needs the peers of tests/peers/setup.sh)
#
# Knobs: SOCKEYE_BENCH_CPU (1), SOCKEYE_BENCH_ROUNDS (9), SOCKEYE_BENCH_MS (40), and for the
# echo matrix SOCKEYE_ECHO_SIZES, _CONNS, _WINDOWS, _REPEATS (3), _SECS (1.5), _SERVERS; for
# scale SOCKEYE_SCALE_N (15000), _SOURCES, _PING_ROUNDS, _PING_SECS, _BURST_MSGS, _BURST_SIZE,
# _SETTLE_SECS, _PARALLEL, _SERVERS (see benches/README.md).
set -eu
cd "$(dirname "$0")/.."
cpu=${SOCKEYE_BENCH_CPU:-1}
benches=${*:-mask decode encode echo}
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)  ($(nproc) CPUs; measuring on CPU $cpu)"
for b in $benches; do
    cargo bench -p sockeye-benches --bench "$b" --no-run >/dev/null 2>&1 ||
        cargo bench -p sockeye-benches --bench "$b" --no-run
done
for b in $benches; do
    if [ "$b" = scale ]; then
        # Memory and keepalive CPU of a server process holding N connections: not pinned (the
        # server's runtime uses every CPU, the load runs beside it); stderr kept, it has the
        # progress lines and the reason if the open-file limit is too low.
        cargo bench -q -p sockeye-benches --bench scale
    else
        SOCKEYE_BENCH=table taskset -c "$cpu" cargo bench -q -p sockeye-benches --bench "$b" 2>/dev/null
    fi
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
