//! An echo server on tokio: every text and binary message comes back as it was sent.
//!
//! ```text
//! cargo run --release --example echo_server -- [ADDR]      (default 127.0.0.1:9001)
//! ```
//!
//! It is the server the Autobahn|Testsuite runs against (`tests/autobahn/run.sh server`), and
//! it is written as the plain loop an application would write — receive, send back — because
//! the adapter does the batching: replies to a burst of messages leave in one write. Each
//! connection prints one line when it ends: the peer, the close code and the closure's
//! diagnosis.

use std::net::SocketAddr;

use sockeye_tokio::{Error, WebSocket};
use tokio::net::{TcpListener, TcpStream};

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:9001".into());
    let listener = TcpListener::bind(&addr).await?;
    eprintln!("echo_server: listening on ws://{}", listener.local_addr()?);
    loop {
        match listener.accept().await {
            Ok((stream, peer)) => {
                tokio::spawn(serve(stream, peer));
            }
            // E.g. out of file descriptors: keep serving the connections we have.
            Err(e) => eprintln!("echo_server: accept failed: {e}"),
        }
    }
}

async fn serve(stream: TcpStream, peer: SocketAddr) {
    let _ = stream.set_nodelay(true);
    let mut ws = match WebSocket::accept(stream).await {
        Ok(ws) => ws,
        Err(e) => {
            println!("{peer} handshake failed: {e}");
            return;
        }
    };
    let closure = loop {
        match ws.recv().await {
            Ok(message) => match ws.send(message).await {
                Ok(()) => {}
                Err(Error::Closed(closure)) => break *closure,
                // The peer's Close arrived meanwhile: `recv` reports the end next.
                Err(_) => {}
            },
            Err(Error::Closed(closure)) => break *closure,
            Err(e) => {
                println!("{peer} error: {e}");
                return;
            }
        }
    };
    println!("{peer} code={} {closure}", closure.code().as_u16());
}
