#!/bin/sh
# Runs the four benches in table mode (interleaved contenders, medians, ratios within each
# group) pinned to one CPU, and prints the tables; they are also written to
# $CARGO_TARGET_DIR/bench-tables/{mask,decode,encode,echo}.md (target/ if unset). The benches
# are the sockeye-benches package (benches/Cargo.toml). See benches/README.md.
#
#   benches/run.sh                  everything (~25 min on 2 cores)
#   benches/run.sh mask decode      some of them
#
# Knobs: SOCKEYE_BENCH_CPU (1), SOCKEYE_BENCH_ROUNDS (9), SOCKEYE_BENCH_MS (40), and for the
# echo matrix SOCKEYE_ECHO_SIZES, _CONNS, _WINDOWS, _REPEATS (3), _SECS (1.5), _SERVERS.
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
    SOCKEYE_BENCH=table taskset -c "$cpu" cargo bench -q -p sockeye-benches --bench "$b" 2>/dev/null
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
