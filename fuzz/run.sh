#!/usr/bin/env bash
# Smoke run of every fuzz target, for CI: builds them all, then runs each for a short time
# (default 30 s) seeded from fuzz/seeds/<target> with the WebSocket dictionary. Exits non-zero
# on the first crash, leak, timeout or invariant violation (the artifact is in
# fuzz/artifacts/<target>/).
#
#   bash fuzz/run.sh [SECONDS]       # per target; FUZZ_TARGETS="a b" limits the targets
#
# Needs the nightly toolchain (libFuzzer instrumentation); installs cargo-fuzz if missing.
set -euo pipefail

SECONDS_PER_TARGET="${1:-30}"
CARGO_FUZZ_VERSION="0.13.2"
TARGETS="${FUZZ_TARGETS:-frame_decoder differential session handshake_request handshake_response url deflate_negotiation deflate_session proxy_response inflate}"

cd "$(dirname "$0")"

if ! cargo fuzz --version 2>/dev/null | grep -q "$CARGO_FUZZ_VERSION"; then
    echo "fuzz: installing cargo-fuzz $CARGO_FUZZ_VERSION"
    cargo install cargo-fuzz --locked --version "$CARGO_FUZZ_VERSION"
fi

# No AddressSanitizer: the core's only unsafe code calls safe code compiled for AVX2, and ASan
# halves the speed. Overflow checks and debug assertions stay on (cargo-fuzz's default).
FLAGS=(--sanitizer none)

echo "fuzz: building all targets"
cargo +nightly fuzz build "${FLAGS[@]}"

status=0
for target in $TARGETS; do
    mkdir -p "corpus/$target"
    echo "fuzz: $target for ${SECONDS_PER_TARGET}s"
    # New inputs go to corpus/ (gitignored); seeds/ is only read.
    if ! cargo +nightly fuzz run "${FLAGS[@]}" "$target" "corpus/$target" "seeds/$target" -- \
        -max_total_time="$SECONDS_PER_TARGET" -dict=websocket.dict -max_len=4096 \
        -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 >"corpus/$target.log" 2>&1; then
        echo "fuzz: $target FAILED"
        grep -v '^"' "corpus/$target.log" | tail -60
        status=1
        continue
    fi
    grep -E '^(stat::number_of_executed_units|stat::peak_rss_mb)|DONE' "corpus/$target.log" | sed "s/^/fuzz: $target: /"
done

if [ "$status" -eq 0 ]; then
    echo "fuzz: all targets passed"
fi
exit "$status"
