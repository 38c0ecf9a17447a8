#!/usr/bin/env python3
"""Generates ../src/inflate_frames.rs: what a permessage-deflate server sends to the embedded
client of the `inflate_*` scenarios, compressed by a real deflater (zlib, raw DEFLATE with a
2^9 window, as `server_max_window_bits=9` asks; RFC 7692 §7.2.1: sync flush, `00 00 ff ff`
removed, RSV1 on the first frame).

    python3 tools/gen_inflate_frames.py          # rewrites the file
    python3 tools/gen_inflate_frames.py --check  # exits 1 if the checked-in file differs

The output is checked in: the firmware has no deflater, and the bytes are the test's input.
Deterministic (zlib level 6, memLevel 8), so running it again gives the same file for the
same zlib version; `ci.sh` runs `--check`, which says so and passes when the local zlib is
another version (its bytes may legitimately differ).
"""
import base64
import hashlib
import os
import sys
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "src", "inflate_frames.rs")

# The client's random bytes in the scenarios (`RANDOM`): the first 16 are the key's nonce.
RANDOM = b"0123456789abcdef-masks!!"
KEY = base64.b64encode(RANDOM[:16]).decode()
ACCEPT = base64.b64encode(
    hashlib.sha1((KEY + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").encode()).digest()
).decode()

RESPONSE = (
    "HTTP/1.1 101 Switching Protocols\r\n"
    "Upgrade: websocket\r\n"
    "Connection: Upgrade\r\n"
    f"Sec-WebSocket-Accept: {ACCEPT}\r\n"
    "Sec-WebSocket-Extensions: permessage-deflate; server_max_window_bits=9; "
    "client_no_context_takeover\r\n"
    "\r\n"
).encode()


def frame(opcode, payload, fin=True, rsv1=False):
    b0 = (0x80 if fin else 0) | (0x40 if rsv1 else 0) | opcode
    n = len(payload)
    if n < 126:
        head = bytes([b0, n])
    elif n < 65536:
        head = bytes([b0, 126]) + n.to_bytes(2, "big")
    else:
        head = bytes([b0, 127]) + n.to_bytes(8, "big")
    return head + payload


class Server:
    """One compressor for the connection: context takeover, window 2^9."""

    def __init__(self):
        self.z = zlib.compressobj(6, zlib.DEFLATED, -9, 8)

    def compress(self, plain):
        out = self.z.compress(plain) + self.z.flush(zlib.Z_SYNC_FLUSH)
        assert out.endswith(b"\x00\x00\xff\xff")
        return out[:-4]


def telemetry(seed, size):
    s = b""
    i = seed
    while len(s) < size:
        s += b'{"sensor":%d,"temp":%d.5,"ok":true},' % (i % 7, i % 40)
        i += 1
    return s[:size]


def check(wire, plain):
    """The wire payload inflates back (zlib, window 2^9) to the plain bytes."""
    d = zlib.decompressobj(-9)
    assert d.decompress(wire + b"\x00\x00\xff\xff") == plain


def main():
    items = []  # (rust name, doc, bytes)
    consts = []  # (rust name, doc, bytes) — plain texts the firmware compares against

    s = Server()
    inflater = zlib.decompressobj(-9)  # the client's view, to check context takeover

    def message(opcode, plain, pieces=1):
        wire = s.compress(plain)
        assert inflater.decompress(wire + b"\x00\x00\xff\xff") == plain
        if pieces == 1:
            return wire, frame(opcode, wire, rsv1=True)
        cut = [len(wire) * k // pieces for k in range(pieces + 1)]
        out = b""
        for k in range(pieces):
            part = wire[cut[k] : cut[k + 1]]
            out += frame(opcode if k == 0 else 0, part, fin=k == pieces - 1, rsv1=k == 0)
        return wire, out

    first = telemetry(0, 200)
    w1, f1 = message(1, first)
    # The same text again: a few bytes of back references into the previous message.
    w2, f2 = message(1, first)
    assert len(w2) < 16, len(w2)
    big = telemetry(3, 1500)  # three windows long: the output wraps around the window
    w3, f3 = message(2, big)
    plain_text = b"uncompressed, RSV1 clear"
    f4 = frame(1, plain_text)
    frag = telemetry(9, 600)
    w5, f5 = message(1, frag, pieces=3)
    # About 150 bytes: it starts 452 bytes into the window and so comes out in two pieces.
    utf8 = "Grüße aus 東京 🦀 — ünïcödé, €, 😀. ".encode() * 3
    w6, f6 = message(1, utf8)
    w7, f7 = message(1, utf8)
    session = f1 + f2 + f3 + f4 + f5 + f6 + f7

    consts.append(("FIRST", "The first message (text, 200 bytes), sent twice.", first))
    consts.append(("BIG", "A binary message of 1500 bytes: about three windows.", big))
    consts.append(("PLAIN", "An uncompressed text message between compressed ones.", plain_text))
    consts.append(("FRAGMENTED", "A 600-byte text, compressed, in three frames.", frag))
    consts.append(("UTF8", "Text with 2-, 3- and 4-byte UTF-8 sequences (%d bytes)." % len(utf8), utf8))
    items.append(
        (
            "SESSION",
            "The server's frames, in order: FIRST, FIRST again (%d compressed bytes: the window "
            "carried over), BIG, PLAIN, FRAGMENTED in three frames, UTF8 twice." % len(w2),
            session,
        )
    )

    items.append(("FIRST_FRAME", "FIRST alone, the start of a fresh stream (SESSION's first frame).", f1))

    # Failures, each on a fresh connection, after FIRST_FRAME.
    garbage = frame(1, b"\xff\xff\xff\xff", rsv1=True)  # block type 3: reserved (RFC 1951)
    items.append(("GARBAGE", "A compressed text whose payload is not DEFLATE: 1007.", garbage))
    bomb_plain = b"A" * 4000
    bomb = Server().compress(bomb_plain)
    check(bomb, bomb_plain)
    items.append(
        (
            "OVER_LIMIT",
            "A %d-byte compressed binary that inflates to 4000 bytes (the client allows 1024): 1009."
            % len(bomb),
            frame(2, bomb, rsv1=True),
        )
    )
    bad_utf8 = Server().compress(b"ok \xc0 not UTF-8")
    items.append(
        ("BAD_UTF8", "Compressed text that inflates to invalid UTF-8: 1007.", frame(1, bad_utf8, rsv1=True))
    )
    cont = Server().compress(b"two frames")
    rsv_cont = frame(1, cont[:3], fin=False, rsv1=True) + frame(0, cont[3:], fin=True, rsv1=True)
    items.append(
        ("RSV1_ON_CONTINUATION", "RSV1 on a continuation frame (RFC 7692 §6.1): 1002.", rsv_cont)
    )

    def rust_bytes(b):
        lines = []
        for i in range(0, len(b), 16):
            lines.append("    " + " ".join("0x%02x," % x for x in b[i : i + 16]))
        return "\n".join(lines)

    out = [
        "//! Generated by `tools/gen_inflate_frames.py` (zlib %s, raw DEFLATE, window 2^9): the"
        % zlib.ZLIB_VERSION,
        "//! frames a permessage-deflate server sends in the `inflate_*` scenarios. Do not edit.",
        "",
        "/// The server's `101` response: accept key for the scenarios' `RANDOM`, and",
        "/// `permessage-deflate; server_max_window_bits=9; client_no_context_takeover`.",
        "pub const RESPONSE: &[u8] = b\"%s\";"
        % RESPONSE.decode().replace("\r", "\\r").replace("\n", "\\n"),
        "",
    ]
    for name, doc, b in consts:
        escaped = b.decode().replace("\\", "\\\\").replace('"', '\\"')
        kind, prefix = ("&[u8]", "b") if name == "BIG" else ("&str", "")
        out.append("/// %s" % doc)
        out.append('pub const %s: %s = %s"%s";' % (name, kind, prefix, escaped))
        out.append("")
    for name, doc, b in items:
        out.append("/// %s" % doc)
        out.append("pub const %s: &[u8] = &[" % name)
        out.append(rust_bytes(b))
        out.append("];")
        out.append("")
    text = "\n".join(out)
    if "--check" in sys.argv:
        with open(OUT) as f:
            current = f.read()
        if ("(zlib %s," % zlib.ZLIB_VERSION) not in current.splitlines()[0]:
            print("inflate_frames.rs: made with another zlib than %s, not compared" % zlib.ZLIB_VERSION)
            return
        if current != text:
            print("inflate_frames.rs is stale: run tools/gen_inflate_frames.py", file=sys.stderr)
            sys.exit(1)
        print("inflate_frames.rs matches its generator")
        return
    with open(OUT, "w") as f:
        f.write(text)
    print("wrote", os.path.normpath(OUT), len(session), "bytes of session frames")


if __name__ == "__main__":
    main()
