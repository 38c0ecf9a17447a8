#!/usr/bin/env bash
# CI for sockeye on microcontrollers, in one run (a few minutes cold on 2 cores):
#   1. sockeye-embedded on the host: tests (the end-to-end scenarios, and through embassy-net
#      in sockeye-embedded-net-test; with feature deflate the inflating client, and the
#      core's no-alloc inflater), the core without fast-paths, clippy and docs;
#   2. sockeye-embedded built for Cortex-M4F, Cortex-M3 and Cortex-M0 (no atomics), with and
#      without its features (embassy-time, defmt, deflate), and sockeye-core's `inflate`
#      without an allocator;
#   3. the firmware test suites under QEMU (qemu-test/run.sh);
#   4. the footprint table, sockeye next to embedded-websocket (footprint/size-report.sh);
#   5. wss:// on a Cortex-M4F: tls-example/ (sockeye-embedded over embedded-tls) built and
#      linted for thumbv7em-none-eabihf (~1 min cold: embedded-tls and RustCrypto).
# Needs a Debian 12 machine with rustup; installs qemu-system-arm, binutils-arm-none-eabi and
# the thumb targets when missing. Exits non-zero on any failure.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
start=$SECONDS

for t in thumbv7em-none-eabihf thumbv7m-none-eabi thumbv6m-none-eabi; do
  rustup target list --installed | grep -qx "$t" || rustup target add "$t"
done
missing=()
command -v qemu-system-arm >/dev/null || missing+=(qemu-system-arm)
command -v arm-none-eabi-size >/dev/null || missing+=(binutils-arm-none-eabi)
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
  echo "installing ${missing[*]}"
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

echo "=== sockeye-embedded: host tests and clippy"
cd "$here"
cargo test -p sockeye-embedded
cargo test -p sockeye-embedded --features embassy-time --test embassy_clock
# Through embassy-net (smoltcp): two TCP/IP stacks joined in memory, in virtual time (~1 s).
cargo test -p sockeye-embedded-net-test
# permessage-deflate without an allocator: the inflating client (the QEMU scenarios on the
# host, and a stream compressed by zlib-rs at run time), its README example, and the core's
# inflater without alloc; the QEMU suite's frames must match their generator.
cargo test -p sockeye-embedded --features deflate --test inflate
cargo test -p sockeye-embedded --features deflate --doc
cargo test -p sockeye-core --no-default-features --features inflate --lib inflate
python3 "$here/qemu-test/tools/gen_inflate_frames.py" --check
# The core without its default feature fast-paths, as the footprint firmwares build it: the
# byte-at-a-time masking and the general decoder must give the same results (~10 s).
cargo test -p sockeye-core --no-default-features --lib
if cargo clippy --version >/dev/null 2>&1; then
  cargo clippy -q -p sockeye-embedded --all-targets --all-features -- -D warnings
fi
RUSTDOCFLAGS="-D warnings" cargo doc -q -p sockeye-embedded --no-deps --features deflate

echo "=== sockeye-embedded: builds for Cortex-M4F, Cortex-M3 and Cortex-M0"
for t in thumbv7em-none-eabihf thumbv7m-none-eabi thumbv6m-none-eabi; do
  cargo build -q -p sockeye-embedded --target "$t"
  cargo build -q -p sockeye-embedded --target "$t" --features embassy-time,defmt
  cargo build -q -p sockeye-embedded --target "$t" --features deflate
  cargo build -q -p sockeye-core --target "$t" --no-default-features --features inflate
  echo "built for $t (default features; embassy-time + defmt; deflate; the core's inflate alone)"
done

echo "=== firmware tests under QEMU"
"$here/qemu-test/run.sh"

echo "=== footprint (Cortex-M4F): sockeye vs embedded-websocket"
"$here/footprint/size-report.sh" thumbv7em-none-eabihf

echo "=== wss:// example: sockeye-embedded over embedded-tls, for Cortex-M4F"
(
  cd "$here/tls-example"
  cargo build -q --release --target thumbv7em-none-eabihf
  if cargo clippy --version >/dev/null 2>&1; then
    cargo clippy -q --release --target thumbv7em-none-eabihf -- -D warnings
  fi
)

echo "=== embedded CI passed in $((SECONDS - start)) s"
