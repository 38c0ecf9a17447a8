#!/usr/bin/env python3
"""Writes the small committed seed corpus of every fuzz target into fuzz/seeds/<target>/.

Run from anywhere: `python3 fuzz/seeds/generate.py`. The files are deterministic, so running it
again changes nothing; edit this script rather than the files.
"""
import os
import struct
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
KEY = bytes([0x37, 0xFA, 0x21, 0x3D])


def frame(opcode, payload=b"", fin=True, mask=None, rsv=0, length=None):
    """A frame as a peer puts it on the wire; `length` forces a length encoding (2, 4 or 10)."""
    b0 = opcode | (rsv << 4) | (0x80 if fin else 0)
    m = 0x80 if mask else 0
    n = len(payload)
    enc = length or (2 if n < 126 else 4 if n <= 0xFFFF else 10)
    if enc == 2:
        head = bytes([b0, m | n])
    elif enc == 4:
        head = bytes([b0, m | 126]) + struct.pack(">H", n)
    else:
        head = bytes([b0, m | 127]) + struct.pack(">Q", n)
    if mask:
        head += mask
        payload = bytes(c ^ mask[i % 4] for i, c in enumerate(payload))
    return head + payload


def client(opcode, payload=b"", **kw):
    return frame(opcode, payload, mask=KEY, **kw)


def close_payload(code, reason=b""):
    return struct.pack(">H", code) + reason


def streams(c):
    """Interesting streams from a peer; `c` builds one frame in the peer's role."""
    return {
        "hello": c(0x1, b"Hello"),
        "fragments_ping_close": c(0x1, b"Hel", fin=False)
        + c(0x9, b"ping")
        + c(0x0, b"lo \xe2\x82", fin=False)
        + c(0x0, b"\xac", fin=True)
        + c(0x8, close_payload(1000, b"bye")),
        "binary_16bit": c(0x2, bytes(range(256)) * 1 + b"x" * 44),
        "binary_64bit": c(0x2, b"\x00" * 70000)[:64],
        "pong_empty_close": c(0xA) + c(0x8),
        "invalid_utf8": c(0x1, b"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xf4\x90\x80\x80edited"),
        "reserved_opcode": c(0x3, b"x") + c(0x8, close_payload(1002)),
        "non_minimal": c(0x2, b"abc", length=4),
        "close_bad_code": c(0x8, close_payload(1005)),
        "close_1014": c(0x8, close_payload(1014, b"gw")),
        "empty_fragments": c(0x2, b"", fin=False) + c(0x0, b"", fin=False) + c(0x0, b"end"),
        "control_too_long": c(0x9, b"p" * 126),
    }


# The client role shares the decoder; a few of its streams are enough.
CLIENT_SEEDS = ("hello", "fragments_ping_close", "binary_16bit", "close_1014", "invalid_utf8")


def write(target, name, data):
    d = os.path.join(HERE, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def main():
    for role, flags, c in (("server", 1, client), ("client", 0, frame)):
        for name, wire in streams(c).items():
            if role == "client" and name not in CLIENT_SEEDS:
                continue
            # frame_decoder: [flags] [n] [n chunk lengths] [wire]
            write("frame_decoder", f"{role}_{name}", bytes([flags, 3, 1, 7, 0]) + wire)
            # differential: [flags] [wire], with the small limits preset for one of them.
            write("differential", f"{role}_{name}", bytes([flags]) + wire)
    write("differential", "server_small_limits", bytes([1 | 2]) + client(0x2, b"z" * 201))

    key = b"dGhlIHNhbXBsZSBub25jZQ=="
    request = (
        b"GET /chat?room=1 HTTP/1.1\r\nHost: server.example.com\r\nUpgrade: websocket\r\n"
        b"Connection: Upgrade\r\nSec-WebSocket-Key: " + key + b"\r\n"
        b"Origin: http://example.com\r\nSec-WebSocket-Protocol: chat, superchat\r\n"
        b"Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits, x-foo\r\n"
        b"Sec-WebSocket-Version: 13\r\n\r\n"
    )
    write("handshake_request", "rfc6455_sample", b"\x00" + request)
    write("handshake_request", "pipelined_frame", b"\x00" + request + client(0x1, b"hi"))
    write("handshake_request", "bare_lf", b"\x00" + request.replace(b"\r\n", b"\n"))
    write("handshake_request", "version_8", b"\x00" + request.replace(b"Version: 13", b"Version: 8"))
    write("handshake_request", "absolute_uri", b"\x00" + request.replace(b"GET /chat", b"GET ws://h/chat"))
    write("handshake_request", "small_limits", b"\x03" + request)

    accept = b"s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
    response = (
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Accept: " + accept + b"\r\nSec-WebSocket-Protocol: chat\r\n"
        b"Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover\r\n\r\n"
    )
    write("handshake_response", "rfc6455_sample", b"\x00" + response)
    write("handshake_response", "first_frame", b"\x00" + response + frame(0x1, b"welcome"))
    write("handshake_response", "bare_lf", b"\x00" + response.replace(b"\r\n", b"\n"))
    write("handshake_response", "refused_403", b"\x00HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")
    write("handshake_response", "wrong_accept", b"\x00" + response.replace(b"s3pP", b"AAAA"))
    write("handshake_response", "small_limits", b"\x03" + response)

    # session: `arbitrary` reads any bytes as operations; these give it a few long, varied runs.
    write("session", "zeros", b"\x00" * 256)
    write("session", "counting", bytes(range(256)))
    write("session", "text_heavy", b"\x01\x10\x00\x00" + b"\x00\x05hello\x05\x06\x01" * 24)
    write("session", "mixed", bytes((i * 37 + 11) % 256 for i in range(512)))

    # url: accepted forms (names, IPv4, IPv6, ports, query, percent-encoding) and refused ones.
    urls = {
        "name": "ws://example.com/",
        "secure_port_query": "wss://example.com:8443/chat?room=1",
        "ipv6": "ws://[::1]:9001/x",
        "ipv4_upper_scheme": "WS://127.0.0.1",
        "max_port_pct": "ws://host:65535/a/b?c=%20",
        "userinfo": "wss://user@host/",
        "fragment": "ws://host/#frag",
        "other_scheme": "http://host/",
    }
    for name, url in urls.items():
        write("url", name, url.encode())

    # deflate_negotiation: two policy bytes, then comma-separated extension elements.
    negotiations = {
        "browser": b"\x00\xff" + b"permessage-deflate; client_max_window_bits",
        "fallbacks": b"\x13\x21" + b"permessage-deflate; server_max_window_bits=10; client_max_window_bits, permessage-deflate",
        "low_memory": b"\x03\xf0" + b"permessage-deflate; server_no_context_takeover; client_no_context_takeover",
        "window_8": b"\x00\x01" + b"permessage-deflate; server_max_window_bits=8",
        "quoted": b"\x00\x00" + b'permessage-deflate; client_max_window_bits="12", x-foo; a=1',
        "bad": b"\x00\x00" + b"permessage-deflate; server_max_window_bits=08; bogus",
    }
    for name, data in negotiations.items():
        write("deflate_negotiation", name, data)

    # proxy_response: a proxy's answers to CONNECT.
    answers = {
        "ok": b"HTTP/1.1 200 Connection established\r\nProxy-Agent: tinyproxy/1.11.1\r\n\r\n",
        "ok_bare_lf": b"HTTP/1.0 200 OK\n\n",
        "auth": b"HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm=\"p\"\r\nContent-Length: 0\r\n\r\n",
        "forbidden": b"HTTP/1.1 403 Access violation\r\nContent-Type: text/html\r\n\r\n<html>",
        "not_http": b"SSH-2.0-OpenSSH_9.2\r\n\r\n",
    }
    for name, data in answers.items():
        write("proxy_response", name, data)

    # inflate: a setup byte (window 2^(8 + bits & 3), bit 2 text, bit 3 no context takeover),
    # then messages as a length byte, a chunk-size byte and the compressed payload — made by
    # zlib with the window the setup byte names, sync flush, `00 00 ff ff` removed.
    def compressed(bits, *messages):
        z = zlib.compressobj(6, zlib.DEFLATED, -bits, 8)
        out = b""
        for plain, chunk in messages:
            data = z.compress(plain) + z.flush(zlib.Z_SYNC_FLUSH)
            assert data.endswith(b"\x00\x00\xff\xff") and len(data) - 4 < 256
            out += bytes([len(data) - 4, chunk]) + data[:-4]
        return out

    telemetry = b'{"sensor":3,"temp":21.5,"ok":true}'
    seeds = {
        "hello": b"\x05" + compressed(9, (b"hello", 3)),
        "context_takeover": b"\x05" + compressed(9, (telemetry, 7), (telemetry, 1), (telemetry * 4, 16)),
        "utf8": b"\x06" + compressed(10, ("Grüße aus 東京 🦀".encode() * 3, 2)),
        "no_context_takeover": b"\x0d" + compressed(9, (telemetry, 5)) + compressed(9, (telemetry, 9)),
        "empty_message": b"\x01\x01\x01\x00",
        "final_stored_block": b"\x01\x07\x07\x01\x02\x00\xfd\xffhi",
        "reserved_block_type": b"\x01\x03\x01\xff\xff\xff",
    }
    for name, data in seeds.items():
        write("inflate", name, data)


if __name__ == "__main__":
    main()
