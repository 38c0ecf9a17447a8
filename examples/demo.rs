//! sockeye in one process: a clean conversation, then a connection cut in the middle of a
//! message — and what each side says about how its connection ended.
//!
//! ```text
//! cargo run --example demo
//! ```
//!
//! 1. A tokio server and client on loopback exchange a text message, a binary message and a
//!    ping, and close cleanly; both print their `Closure`.
//! 2. The client connects again, through a small TCP relay standing in for a proxy. The server
//!    starts sending an 8 MiB message; after 1 MiB the relay dies and resets both of its
//!    connections. Both sides report a 1006 with its cause and where in the protocol it hit.

use std::net::SocketAddr;
use std::time::Duration;

use sockeye_tokio::{CloseCode, Closure, Error, Event, Message, MessageKind, WebSocket};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let server = tokio::spawn(serve(listener));

    println!("== 1. a clean conversation (server on ws://{addr})");
    conversation(addr).await?;

    println!();
    println!("== 2. the connection is cut in the middle of a message");
    let relay = TcpListener::bind("127.0.0.1:0").await?;
    let relay_addr = relay.local_addr()?;
    let relay = tokio::spawn(cutting_relay(relay, addr, 1 << 20));
    cut_short(relay_addr).await?;
    relay.await??;
    server.await??;
    Ok(())
}

/// The server: echoes the first connection; on the second, sends one large message.
async fn serve(listener: TcpListener) -> Result<(), Error> {
    let (stream, _) = listener.accept().await?;
    let mut ws = WebSocket::accept(stream).await?;
    let closure = loop {
        match ws.recv().await {
            Ok(message) => {
                println!("server: echoing {}", describe(&message));
                ws.send(message).await?;
            }
            Err(Error::Closed(closure)) => break *closure,
            Err(e) => return Err(e),
        }
    };
    report("server", &closure);

    let (stream, _) = listener.accept().await?;
    let mut ws = WebSocket::accept(stream).await?;
    let big = vec![0x5a; 8 << 20];
    println!("server: sending an 8 MiB message");
    let closure = match ws.send_binary(&big).await {
        // The send may outlive the cut (the kernel took the bytes); then `recv` reports it.
        Ok(()) => match ws.recv().await {
            Err(Error::Closed(closure)) => *closure,
            other => return Err(unexpected(other)),
        },
        Err(Error::Closed(closure)) => *closure,
        Err(e) => {
            // A write error while input is pending: the closure comes with `recv`.
            println!("server: send failed: {e}");
            match ws.recv().await {
                Err(Error::Closed(closure)) => *closure,
                other => return Err(unexpected(other)),
            }
        }
    };
    report("server", &closure);
    Ok(())
}

/// The client of part 1: text, binary, ping, then a clean close.
async fn conversation(addr: SocketAddr) -> Result<(), Error> {
    let mut ws = WebSocket::connect(&format!("ws://{addr}/demo")).await?;
    ws.send_text("hello, sockeye").await?;
    ws.send_binary(&[0xde, 0xad, 0xbe, 0xef]).await?;
    ws.ping(b"are you there?").await?;
    let (mut echoes, mut pong) = (0, false);
    while echoes < 2 || !pong {
        match ws.recv_event().await? {
            Event::Pong(payload) => {
                pong = true;
                println!("client: pong {:?}", String::from_utf8_lossy(&payload));
            }
            // Small messages arrive in one chunk.
            Event::Data(chunk) => {
                echoes += 1;
                match chunk.kind {
                    MessageKind::Text => {
                        println!("client: echo {:?}", String::from_utf8_lossy(chunk.payload))
                    }
                    MessageKind::Binary => println!("client: echo {:02x?}", chunk.payload),
                }
            }
            _ => {}
        }
    }
    let closure = ws.close(CloseCode::NORMAL, "bye").await?;
    report("client", &closure);
    Ok(())
}

/// The client of part 2: receives until the connection ends.
async fn cut_short(relay: SocketAddr) -> Result<(), Error> {
    let mut ws = WebSocket::connect(&format!("ws://{relay}/big")).await?;
    let closure = match ws.recv().await {
        Err(Error::Closed(closure)) => *closure,
        other => return Err(unexpected(other)),
    };
    report("client", &closure);
    Ok(())
}

/// A TCP relay that forwards one connection both ways, and dies with a reset of both sides
/// after forwarding `cut_after` bytes from the server.
async fn cutting_relay(
    listener: TcpListener,
    server: SocketAddr,
    cut_after: usize,
) -> std::io::Result<()> {
    let (mut downstream, _) = listener.accept().await?;
    let mut upstream = TcpStream::connect(server).await?;
    {
        let (mut client_read, mut client_write) = downstream.split();
        let (mut server_read, mut server_write) = upstream.split();
        let up = tokio::io::copy(&mut client_read, &mut server_write);
        let down = async {
            let mut buf = vec![0; 16 * 1024];
            let mut forwarded = 0;
            while forwarded < cut_after {
                let n = server_read.read(&mut buf).await?;
                if n == 0 {
                    break;
                }
                client_write.write_all(&buf[..n]).await?;
                forwarded += n;
            }
            println!("relay: dying after forwarding {forwarded} bytes");
            Ok::<_, std::io::Error>(())
        };
        tokio::select! {
            result = up => { result?; }
            result = down => result?,
        }
    }
    for stream in [&downstream, &upstream] {
        // A zero linger makes closing send a reset (and never blocks).
        #[allow(deprecated)]
        stream.set_linger(Some(Duration::ZERO))?;
    }
    Ok(())
}

fn report(side: &str, closure: &Closure) {
    println!("{side}: code={} {closure}", closure.code().as_u16());
}

fn describe(message: &Message) -> String {
    match message {
        Message::Text(text) => format!("text {text:?}"),
        Message::Binary(data) => format!("{} binary bytes", data.len()),
        other => format!("{other:?}"),
    }
}

fn unexpected<T: std::fmt::Debug>(what: Result<T, Error>) -> Error {
    Error::Io(std::io::Error::other(format!("unexpected {what:?}")))
}
