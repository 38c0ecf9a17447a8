#!/usr/bin/env bash
# Builds each library crate with the Rust version it declares (`rust-version`), against
# dependency versions that support it, so the MSRV we publish is one we have checked.
#
#   bash .ci/msrv.sh
#
# For each group of crates with one MSRV it lays out a scratch workspace holding just their
# library targets (dev-dependencies and tests left out: only what users build must build),
# resolves it with cargo's MSRV-aware resolver (newest versions whose `rust-version` fits),
# installs that toolchain if missing, and runs `cargo check` for every feature set we document.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)

msrv_of() { sed -n 's/^rust-version = "\(.*\)"/\1/p' "$root/$1/Cargo.toml" | head -1; }
# The workspace's rust-version, for crates that inherit it.
workspace_msrv=$(sed -n 's/^rust-version = "\(.*\)"/\1/p' "$root/Cargo.toml" | head -1)

# check GROUP-MSRV DIR... -- CHECKS...
check() {
  local msrv=$1; shift
  local dirs=()
  while [ "$1" != "--" ]; do dirs+=("$1"); shift; done
  shift
  local scratch
  scratch=$(mktemp -d)
  local members=()
  for d in "${dirs[@]}"; do
    local name
    name=$(basename "$d")
    [ "$d" = . ] && name=sockeye
    mkdir -p "$scratch/$name"
    cp -r "$root/$d/src" "$root/$d/Cargo.toml" "$scratch/$name/"
    [ -f "$root/$d/README.md" ] && cp "$root/$d/README.md" "$scratch/$name/"
    members+=("\"$name\"")
  done
  python3 - "$scratch" "$msrv" "${dirs[@]}" <<'PY'
import os, re, sys
scratch, msrv, dirs = sys.argv[1], sys.argv[2], sys.argv[3:]
def name_of(d):
    return "sockeye" if d == "." else os.path.basename(d)
names = {name_of(d) for d in dirs}
for d in dirs:
    name = name_of(d)
    path = os.path.join(scratch, name, "Cargo.toml")
    out, skip = [], False
    for line in open(path):
        if re.match(r"^\[", line):
            header = line.strip()
            skip = header in ("[dev-dependencies]",) or header.startswith(("[workspace", "[profile", "[[test]]", "[[bench]]", "[[example]]"))
        if skip:
            continue
        # Path dependencies on sibling crates point into the scratch workspace.
        line = re.sub(r'path = "(?:[^"]*/)?(core|std|tokio|embedded|hyper)"', lambda m: f'path = "../{m.group(1)}"', line)
        out.append(line)
    open(path, "w").write("".join(out))
with open(os.path.join(scratch, "Cargo.toml"), "w") as f:
    f.write(f"""[workspace]
members = [{", ".join('"%s"' % n for n in sorted(names))}]
resolver = "2"

[workspace.package]
version = "0.1.0"
edition = "2021"
rust-version = "{msrv}"
license = "MIT OR Apache-2.0"
repository = "https://example.invalid/sockeye"
authors = ["sockeye developers"]
""")
PY
  echo "msrv: ${dirs[*]} with Rust $msrv"
  rustup toolchain list | grep -q "^$msrv" || rustup toolchain install "$msrv" --profile minimal
  (
    cd "$scratch"
    CARGO_RESOLVER_INCOMPATIBLE_RUST_VERSIONS=fallback cargo generate-lockfile -q
    while [ $# -gt 0 ]; do
      echo "msrv: cargo +$msrv check $1"
      # shellcheck disable=SC2086
      cargo "+$msrv" check -q $1
      shift
    done
  )
  rm -rf "$scratch"
}

core_msrv=$(msrv_of core); core_msrv=${core_msrv:-$workspace_msrv}
embedded_msrv=$(msrv_of adapters/embedded); embedded_msrv=${embedded_msrv:-$workspace_msrv}
std_msrv=$(msrv_of adapters/std); std_msrv=${std_msrv:-$workspace_msrv}
tokio_msrv=$(msrv_of adapters/tokio); tokio_msrv=${tokio_msrv:-$workspace_msrv}
hyper_msrv=$(msrv_of adapters/hyper); hyper_msrv=${hyper_msrv:-$workspace_msrv}

check "$core_msrv" core -- \
  "-p sockeye-core" "-p sockeye-core --no-default-features" "-p sockeye-core --features alloc" \
  "-p sockeye-core --features std" "-p sockeye-core --no-default-features --features inflate"
check "$embedded_msrv" core adapters/embedded -- \
  "-p sockeye-embedded" "-p sockeye-embedded --no-default-features" \
  "-p sockeye-embedded --features embassy-time,defmt" "-p sockeye-embedded --features deflate"
check "$std_msrv" core adapters/std -- "-p sockeye-std" \
  "-p sockeye-std --features webpki-roots,platform-verifier"
check "$tokio_msrv" core adapters/tokio -- "-p sockeye-tokio" \
  "-p sockeye-tokio --features webpki-roots,platform-verifier"
check "$hyper_msrv" core adapters/tokio adapters/hyper -- \
  "-p sockeye-hyper" "-p sockeye-hyper --features axum"
root_msrv=$workspace_msrv
check "$root_msrv" . core adapters/std adapters/tokio adapters/embedded adapters/hyper -- \
  "-p sockeye" "-p sockeye --features tokio,embedded,axum" \
  "-p sockeye --features tokio,tls-webpki-roots,tls-platform-verifier"
echo "msrv: every library crate builds with its declared rust-version"
