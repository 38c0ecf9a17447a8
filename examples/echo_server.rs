//! An echo server on tokio: every text and binary message comes back as it was sent.
//!
//! ```text
//! cargo run --release --example echo_server -- [ADDR] [--no-deflate | --deflate-low-memory]
//! ```
//!
//! ADDR defaults to 127.0.0.1:9001. permessage-deflate (RFC 7692) is accepted when a client
//! offers it — with context takeover, as browsers ask — unless `--no-deflate`;
//! `--deflate-low-memory` asks clients for no context takeover either way.
//!
//! It is the server the Autobahn|Testsuite runs against (`tests/autobahn/run.sh server`), and
//! it is written as the plain loop an application would write — receive, send back — because
//! the adapter does the batching: replies to a burst of messages leave in one write. Each
//! connection prints one line when it ends: the peer, the close code and the closure's
//! diagnosis.

use std::net::SocketAddr;

use sockeye_tokio::{Compression, Config, Decision, Error, WebSocket};
use tokio::net::{TcpListener, TcpStream};

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let mut addr = "127.0.0.1:9001".to_string();
    let mut compression = Some(Compression::new());
    for arg in std::env::args().skip(1) {
        match arg.as_str() {
            "--no-deflate" => compression = None,
            "--deflate-low-memory" => compression = Some(Compression::low_memory()),
            _ => addr = arg,
        }
    }
    let config = Config::default().with_compression(compression);
    let listener = TcpListener::bind(&addr).await?;
    eprintln!("echo_server: listening on ws://{}", listener.local_addr()?);
    loop {
        match listener.accept().await {
            Ok((stream, peer)) => {
                tokio::spawn(serve(stream, peer, config));
            }
            // E.g. out of file descriptors: keep serving the connections we have.
            Err(e) => eprintln!("echo_server: accept failed: {e}"),
        }
    }
}

async fn serve(stream: TcpStream, peer: SocketAddr, config: Config) {
    let _ = stream.set_nodelay(true);
    let mut ws = match WebSocket::accept_with(stream, config, |_| Decision::accept()).await {
        Ok(ws) => ws,
        Err(e) => {
            println!("{peer} handshake failed: {e}");
            return;
        }
    };
    let extension = if ws.deflate().is_some() {
        " permessage-deflate"
    } else {
        ""
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
    println!(
        "{peer}{extension} code={} {closure}",
        closure.code().as_u16()
    );
}
