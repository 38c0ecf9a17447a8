"""Python `websockets` as a peer for sockeye's tests (see ../README.md for the protocol).

    python3 peer.py server PORT          echo server, prints "listening PORT"
    python3 peer.py client URL [PROTO...] echo client, prints "open protocol=P"

Both echo every message, obey "cmd:" text messages, and print "closed code=N reason=R".

TLS: with PEER_TLS_CERT and PEER_TLS_KEY (PEM files) the server speaks wss://; with PEER_TLS_CA
the client trusts that CA (PEM) for a wss:// URL.
"""

import asyncio
import os
import ssl
import sys

from websockets.asyncio.client import connect
from websockets.asyncio.server import serve
from websockets.exceptions import ConnectionClosed
from websockets.extensions.permessage_deflate import (
    ClientPerMessageDeflateFactory,
    ServerPerMessageDeflateFactory,
)


def say(line):
    print(line, flush=True)


MODE = sys.argv[1] if len(sys.argv) > 1 else ""


def raw_frame(header, payload):
    """A frame written behind the library's back. RFC 6455 §5.1: a client masks every frame it
    sends (a server fails the connection on an unmasked one), so the client masks it too."""
    if MODE != "client":
        return bytes(header + payload)
    key = [0x37, 0xFA, 0x21, 0x3D]
    masked = [b ^ key[i % 4] for i, b in enumerate(payload)]
    return bytes([header[0], header[1] | 0x80] + header[2:] + key + masked)


# Tasks waiting for a Pong (asyncio keeps only weak references to tasks).
PENDING = set()


async def report_pong(pong, data):
    try:
        await pong
    except ConnectionClosed:
        return
    say(f"pong {data}")


async def command(ws, cmd):
    name, _, rest = cmd.partition(":")
    if name == "close":
        code, _, reason = rest.partition(":")
        await ws.close(int(code), reason)
    elif name == "ping":
        pong = await ws.ping(rest.encode())
        task = asyncio.create_task(report_pong(pong, rest))
        PENDING.add(task)
        task.add_done_callback(PENDING.discard)
    elif name == "fragment":
        await ws.send(["frag", "men", "ted"])
    elif name == "kill-mid-message":
        # Header of a 4096-byte binary frame, then 3 bytes of it, then the process dies.
        ws.transport.write(raw_frame([0x82, 0x7E, 0x10, 0x00], [1, 2, 3]))
        await asyncio.sleep(0.05)
        os._exit(0)
    elif name == "close-keep-tcp":
        # A Close written behind the library's back; then stop reading so that nothing ever
        # closes the TCP connection.
        ws.transport.pause_reading()
        ws.transport.write(raw_frame([0x88, 0x02], [0x03, 0xE8]))
        await asyncio.sleep(3600)
    elif name == "raw":
        # A frame (header and payload in hex) written behind the library's back.
        header, _, payload = rest.partition(":")
        ws.transport.write(raw_frame(list(bytes.fromhex(header)), list(bytes.fromhex(payload))))
    else:
        await ws.send(f"unknown command {cmd}")


def pick_subprotocol(connection, offered):
    """`chat.v2`, else `chat`, else none, like the Node peer. (Given `subprotocols=`, the library
    would refuse with 400 a client that offers none.)"""
    for protocol in ("chat.v2", "chat"):
        if protocol in offered:
            return protocol
    return None


def deflate_options(server):
    """permessage-deflate, from PEER_DEFLATE: unset = the library's default (on both sides),
    `off`, `on` (context takeover), `nct` (no context takeover either way), `bits` (server
    window 2^10, client window 2^9)."""
    mode = os.environ.get("PEER_DEFLATE")
    if mode is None:
        return {}
    if mode == "off":
        return {"compression": None}
    params = {
        "on": {},
        "nct": {"server_no_context_takeover": True, "client_no_context_takeover": True},
        "bits": {"server_max_window_bits": 10, "client_max_window_bits": 9},
    }[mode]
    factory = ServerPerMessageDeflateFactory if server else ClientPerMessageDeflateFactory
    return {"compression": None, "extensions": [factory(**params)]}


async def echo(ws):
    say(f"open protocol={ws.subprotocol or ''}")
    if os.environ.get("PEER_DEFLATE") is not None:
        say(f"extensions {ws.response.headers.get('Sec-WebSocket-Extensions', '')}")
    try:
        async for message in ws:
            if isinstance(message, str) and message.startswith("cmd:"):
                await command(ws, message[4:])
            else:
                await ws.send(message)
    except ConnectionClosed:
        pass
    finally:
        code = ws.close_code if ws.close_code is not None else 1006
        say(f"closed code={code} reason={ws.close_reason or ''}")


async def main():
    if len(sys.argv) < 3:
        print("usage: peer.py server PORT | client URL [PROTOCOL...]", file=sys.stderr)
        sys.exit(2)
    mode, arg, protocols = sys.argv[1], sys.argv[2], sys.argv[3:]
    tls = None
    if mode == "server" and os.environ.get("PEER_TLS_CERT"):
        tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        tls.load_cert_chain(os.environ["PEER_TLS_CERT"], os.environ["PEER_TLS_KEY"])
    elif mode == "client" and os.environ.get("PEER_TLS_CA"):
        tls = ssl.create_default_context(cafile=os.environ["PEER_TLS_CA"])
    if mode == "server":
        async with serve(
            echo,
            "127.0.0.1",
            int(arg),
            select_subprotocol=pick_subprotocol,
            max_size=None,
            ping_interval=None,
            ssl=tls,
            **deflate_options(server=True),
        ) as server:
            say(f"listening {server.sockets[0].getsockname()[1]}")
            await asyncio.Future()
    else:
        async with connect(
            arg,
            subprotocols=protocols or None,
            max_size=None,
            ping_interval=None,
            ssl=tls,
            **deflate_options(server=False),
        ) as ws:
            await echo(ws)


if __name__ == "__main__":
    asyncio.run(main())
