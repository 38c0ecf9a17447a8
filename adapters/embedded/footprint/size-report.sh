#!/usr/bin/env bash
# Flash, static RAM and stack of sockeye on a Cortex-M4F, next to embedded-websocket doing the
# same job, all built in this run with opt-level "z", LTO, one codegen unit and panic=abort.
#
#   ./size-report.sh [TARGET]        (default thumbv7em-none-eabihf)
#
# Every firmware shares the runtime of src/lib.rs (cortex-m-rt, semihosting exit, stack
# painting), so   d_flash = flash - flash(baseline)   is what the workload adds. Each one
# checks its own results and runs under QEMU (when qemu-system-arm is installed), which also
# measures the stack it writes by painting. Sizes come from llvm-size/arm-none-eabi-size.
set -euo pipefail
cd "$(dirname "$0")"
unset CARGO_TARGET_DIR # this project has its own target/
TARGET=${1:-thumbv7em-none-eabihf}
rustup target list --installed | grep -qx "$TARGET" || rustup target add "$TARGET"

# name | workload
BINS=(
  "baseline|runtime only (subtracted from the others)"
  "ew_client|embedded-websocket 0.9: handshake, encode 1 frame, decode 1 frame (no I/O)"
  "sockeye_core_client|sockeye-core: the same job as ew_client (no I/O)"
  "sockeye_client|sockeye-embedded: connect, send 1, receive 1, close (async I/O, timers)"
  "sockeye_client_static|the same, its Storage (buffers + engine) in a static"
  "sockeye_server|sockeye-embedded server: accept, receive 1, send 1, answer the Close"
  "ew_frames|embedded-websocket: encode + decode 1 frame (state forced open)"
  "sockeye_frames|sockeye-core: encode + decode 1 frame on an open connection"
)

if command -v rust-size >/dev/null; then SIZE=rust-size
elif command -v arm-none-eabi-size >/dev/null; then SIZE=arm-none-eabi-size
else SIZE=$(ls "$(rustc --print sysroot)"/lib/rustlib/*/bin/llvm-size 2>/dev/null | head -1 || true)
fi
if [ -z "${SIZE:-}" ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "installing binutils-arm-none-eabi (for arm-none-eabi-size)"
    apt-get update -qq && apt-get install -y -qq --no-install-recommends binutils-arm-none-eabi >/dev/null
    SIZE=arm-none-eabi-size
  else
    echo "need arm-none-eabi-size (apt-get install binutils-arm-none-eabi) or llvm-size" >&2
    exit 1
  fi
fi

cargo build -q --release --target "$TARGET" --bins
DIR=target/$TARGET/release
sec() { "$SIZE" -A "$1" | awk -v s="$2" '$1==s {print $2; f=1} END {if(!f) print 0}'; }

printf '\n%-22s %6s %6s %5s %5s %7s %8s %6s %6s  %s\n' \
  firmware text rodata data bss flash d_flash static stack workload
base_flash=0
failed=0
# row NAME ELF WHAT [CARGO ARGS]: one line of the table; runs the firmware under QEMU.
row() {
  local b=$1 f=$2 what=$3
  shift 3
  vt=$(sec "$f" .vector_table); tx=$(sec "$f" .text); ro=$(sec "$f" .rodata)
  da=$(sec "$f" .data); bs=$(sec "$f" .bss)
  flash=$((vt + tx + ro + da))
  [ "$b" = baseline ] && base_flash=$flash
  stack=-
  if command -v qemu-system-arm >/dev/null; then
    out=$(cargo run -q --release --target "$TARGET" "$@" --bin "$b" 2>/dev/null) && rc=0 || rc=$?
    stack=$(echo "$out" | sed -n 's/.*: stack \([0-9]*\) bytes.*/\1/p')
    if [ "$rc" != 0 ]; then stack="FAIL($rc)"; failed=1; fi
  fi
  printf '%-22s %6d %6d %5d %5d %7d %8d %6d %6s  %s\n' \
    "$b" "$tx" "$ro" "$da" "$bs" "$flash" $((flash - base_flash)) $((da + bs)) "$stack" "$what"
}
for entry in "${BINS[@]}"; do
  row "${entry%%|*}" "$DIR/${entry%%|*}" "${entry#*|}"
done
# The inflating client (sockeye-embedded's `deflate`), in its own target dir: the firmwares
# above are built exactly as without the feature.
INFLATE_DIR=target/deflate/$TARGET/release
cargo build -q --release --target "$TARGET" --features deflate --target-dir target/deflate \
  --bin sockeye_client_inflate
row sockeye_client_inflate "$INFLATE_DIR/sockeye_client_inflate" \
  "sockeye_client + permessage-deflate: 2 compressed messages in (512 B window), 1 out" \
  --features deflate --target-dir target/deflate
echo "(bytes; flash = vector table + .text + .rodata + .data; d_flash = flash - baseline;"
echo " static = .data + .bss; stack = bytes of stack the workload writes, measured under QEMU"
echo " by painting; buffers and engine state are on the stack, except in sockeye_client_static;"
echo " sockeye_client_inflate's stack includes its InflateStorage<512, 256>: the decompressor"
echo " state, the window and the message buffer, 11268 B on 32-bit targets)"

# What sockeye-core's default features add: these firmwares are built without them, as
# size-conscious firmware would be. fast-paths: word-at-a-time masking and one-pass decoding
# of whole messages; close-reasons: a reason text in the Close sent on a protocol violation.
echo
echo "with sockeye-core's default features (the std and tokio adapters have both):"
for features in close-reasons fast-paths fast-paths,close-reasons; do
  cargo build -q --release --target "$TARGET" --features "$features" --target-dir "target/$features" \
    --bin sockeye_core_client --bin sockeye_client
  for b in sockeye_core_client sockeye_client; do
    f=target/$features/$TARGET/release/$b
    flash=$(( $(sec "$f" .vector_table) + $(sec "$f" .text) + $(sec "$f" .rodata) + $(sec "$f" .data) ))
    without=$(( $(sec "$DIR/$b" .vector_table) + $(sec "$DIR/$b" .text) + $(sec "$DIR/$b" .rodata) + $(sec "$DIR/$b" .data) ))
    printf '  %-26s %-22s d_flash %6d  (+%d)\n' "$features" "$b" $((flash - base_flash)) $((flash - without))
  done
done

# Flash by capability: each instruction charged, through the debug information, to the
# project source file it came from (capabilities.py says how).
if command -v python3 >/dev/null && command -v arm-none-eabi-addr2line >/dev/null; then
  echo
  python3 capabilities.py "$DIR/sockeye_core_client" "$DIR/sockeye_client" "$DIR/sockeye_server" \
    "$INFLATE_DIR/sockeye_client_inflate"
fi

# Where sockeye_client's flash goes: its largest functions (inlined callees count in the caller).
echo
echo "largest symbols of sockeye_client (bytes):"
NM=${SIZE%size}nm
if command -v "$NM" >/dev/null; then
  "$NM" --size-sort -S -C -t d "$DIR/sockeye_client" | tail -15 |
    awk '{ n = $2 + 0; $1 = ""; $2 = ""; $3 = ""; sub(/^ +/, ""); printf "  %6d  %s\n", n, $0 }'
fi

if command -v qemu-system-arm >/dev/null; then
  # Struct and future sizes: a separate build with core::fmt, never used for the sizes above.
  echo
  for b in sockeye_client ew_client; do
    cargo run -q --release --target "$TARGET" --features report --target-dir target/report --bin "$b" 2>/dev/null |
      grep '^size_of' || { echo "report build of $b failed" >&2; failed=1; }
  done
  cargo run -q --release --target "$TARGET" --features report,deflate --target-dir target/report-deflate \
    --bin sockeye_client_inflate 2>/dev/null |
    grep '^size_of' || { echo "report build of sockeye_client_inflate failed" >&2; failed=1; }
fi
exit $failed
