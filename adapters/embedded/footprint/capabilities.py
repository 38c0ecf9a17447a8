#!/usr/bin/env python3
"""Flash of a firmware by capability, from its debug information.

    capabilities.py ELF...

Every instruction of .text is charged to a source file of this project, the innermost one
on its inline chain (addr2line -i): code inlined from a callee counts for the callee's file,
and library code (slice iterators, comparisons) inlined into ours counts for the file that
used it. Each file belongs to one capability. Read-only data is left out (it has no line information): string
constants, lookup tables. The runtime shared by every firmware (src/lib.rs, cortex-m-rt,
compiler_builtins' memcpy) is in 'runtime and core library'. Needs arm-none-eabi-objdump and
arm-none-eabi-addr2line (binutils-arm-none-eabi).
"""
import collections
import re
import subprocess
import sys

# (capability, substrings of the source path); the first match wins.
GROUPS = [
    ("HTTP head parser (httparse)", ["/httparse-"]),
    ("server role: request checks, 101 response", ["handshake/server.rs"]),
    ("opening handshake: request, response checks, SHA-1, base64",
     ["core/src/handshake/", "core/src/url.rs", "embedded/src/handshake.rs", "/sha1_smol-",
      "/base64-"]),
    ("UTF-8 validation (fail-fast, across chunks)", ["core/src/utf8.rs", "/str/validations.rs",
                                                     "/str/converts.rs"]),
    ("close machine: closing handshake, failing, Closure",
     ["connection/closing.rs", "core/src/close.rs", "core/src/error.rs"]),
    ("timers: keepalive and close timeout",
     ["connection/timers.rs", "core/src/time.rs", "embedded/src/timer.rs", "embedded/src/clock.rs"]),
    ("receive path: frame decoding, unmasking, events",
     ["connection/read.rs", "core/src/frame.rs", "core/src/mask.rs"]),
    ("send path: frame encoding, masking keys", ["connection/write.rs"]),
    ("engine setup and state", ["connection/mod.rs", "core/src/config.rs", "heapless"]),
    ("permessage-deflate: miniz_oxide inflater and its glue",
     ["core/src/inflate/", "/miniz_oxide-", "/adler2-", "embedded/src/inflate.rs",
      "embedded/src/websocket/inflate.rs"]),
    ("adapter: async send/receive/close over embedded-io-async",
     ["embedded/src/", "embedded-io"]),
    ("the firmware's own test code", ["footprint/src/bin/"]),
]
OTHER = "runtime and core library (memcpy, slices, iterators, panics)"


def group_of(chain):
    """The capability of the innermost frame that is ours (library code inlined into our
    functions, such as slice iterators, counts for the function that used it)."""
    for f in chain:
        for name, parts in GROUPS:
            if any(part in f for part in parts):
                return name
    return OTHER


def charge(elf):
    nm = subprocess.run(["arm-none-eabi-nm", "-S", elf], capture_output=True, text=True,
                        check=True).stdout
    funcs = []
    for line in nm.splitlines():
        p = line.split()
        if len(p) == 4 and p[2] in "tT":
            funcs.append((int(p[0], 16) & ~1, int(p[1], 16)))
    totals = collections.Counter()
    for start, size in funcs:
        dis = subprocess.run(["arm-none-eabi-objdump", "-d", "--no-show-raw-insn",
                              f"--start-address={start}", f"--stop-address={start + size}", elf],
                             capture_output=True, text=True, check=True).stdout
        addrs = [int(m.group(1), 16) for m in re.finditer(r"^\s+([0-9a-f]+):\s", dis, re.M)]
        if not addrs:
            continue
        out = subprocess.run(["arm-none-eabi-addr2line", "-e", elf, "-i", "-a"]
                             + [hex(a) for a in addrs], capture_output=True, text=True,
                             check=True).stdout
        chains = []
        for line in out.splitlines():
            if line.startswith("0x"):
                chains.append([])
            elif chains:
                chains[-1].append(line.split(":")[0])
        ends = addrs[1:] + [start + size]
        for chain, a, b in zip(chains, addrs, ends):
            totals[group_of(chain)] += b - a
    return totals


def main():
    elfs = sys.argv[1:]
    tables = [charge(e) for e in elfs]
    names = [n for n, _ in GROUPS] + [OTHER]
    heads = [e.rsplit("/", 1)[-1] for e in elfs]
    widths = [max(16, len(h) + 2) for h in heads]
    print("%-62s" % "code by capability (bytes of .text)"
          + "".join("%*s" % (w, h) for w, h in zip(widths, heads)))
    for n in names:
        if any(t[n] for t in tables):
            print("%-62s" % n + "".join("%*d" % (w, t[n]) for w, t in zip(widths, tables)))
    print("%-62s" % "total .text"
          + "".join("%*d" % (w, sum(t.values())) for w, t in zip(widths, tables)))


if __name__ == "__main__":
    main()
