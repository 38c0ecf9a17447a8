#!/usr/bin/env bash
# Runs sockeye's firmware test suites on emulated Cortex-M chips (QEMU + ARM semihosting).
#
#   ./run.sh            Cortex-M4F (mps2-an386): core, adapter and inflate suites with debug assertions,
#                       the adapter on embassy's executor, and the harness self-checks;
#                       Cortex-M3 (lm3s6965evb, 64 KiB RAM): the three suites, optimised;
#                       Cortex-M0 (microbit, no atomics, 16 KiB RAM): the three suites, optimised.
#
# Works on a fresh Debian 12 with rustup: installs qemu-system-arm (Debian package) and the
# thumb targets when they are missing. Exits non-zero on any failure: a failed assert or a
# panic exits QEMU with 1, a HardFault too, and a hang is killed by `timeout` (124).
set -euo pipefail
cd "$(dirname "$0")"
unset CARGO_TARGET_DIR # this project has its own target/ (see Cargo.toml)

if ! command -v qemu-system-arm >/dev/null; then
  echo "installing qemu-system-arm"
  if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends qemu-system-arm >/dev/null
fi
for t in thumbv7em-none-eabihf thumbv7m-none-eabi thumbv6m-none-eabi; do
  rustup target list --installed | grep -qx "$t" || rustup target add "$t"
done

echo "=== Cortex-M4F (thumbv7em-none-eabihf, mps2-an386), debug assertions on"
cargo test --target thumbv7em-none-eabihf

echo "=== Cortex-M3 (thumbv7m-none-eabi, lm3s6965evb: 64 KiB RAM), optimised"
cargo test --release --target thumbv7m-none-eabi

echo "=== Cortex-M0 (thumbv6m-none-eabi, microbit: no atomics, 16 KiB RAM), optimised"
cargo test --release --target thumbv6m-none-eabi

echo "=== the adapter on embassy-executor (Cortex-M4F)"
cargo run -q --release --target thumbv7em-none-eabihf --features embassy --example embassy

echo "=== the README's embassy-net example type-checks"
cargo check -q --target thumbv7em-none-eabihf --features readme --example readme

echo "=== harness self-checks: a failed assert and a HardFault must exit non-zero"
for ex in panics hardfault; do
  if cargo run -q --target thumbv7em-none-eabihf --example "$ex" >/dev/null 2>&1; then
    echo "ERROR: example '$ex' exited 0: failures would go unnoticed" >&2
    exit 1
  fi
  echo "example $ex failed as it must"
done
echo "qemu-test: all passed"
