//! An echo server on tokio: every text and binary message comes back as it was sent.
//!
//! ```text
//! cargo run --release --example echo_server -- [ADDR]      (default 127.0.0.1:9001)
//! cargo run --release --example echo_server -- [ADDR] --tls CERT KEY   (wss://, PEM files)
//! cargo run --release --example echo_server -- [ADDR] --no-deflate | --deflate-low-memory
//! ```
//!
//! permessage-deflate (RFC 7692) is accepted when a client offers it — with context takeover,
//! as browsers ask — unless `--no-deflate`; `--deflate-low-memory` asks clients for no context
//! takeover either way. The log line names the extension when it was in use.
//!
//! It is the server the Autobahn|Testsuite runs against (`tests/autobahn/run.sh server`), and
//! it is written as the plain loop an application would write — receive, send back — because
//! the adapter does the batching: replies to a burst of messages leave in one write. Each
//! connection prints one line when it ends: the peer, the close code and the closure's
//! diagnosis.

use std::net::SocketAddr;

use sockeye_tokio::tls::tls_accept;
use sockeye_tokio::{Compression, Config, Decision, Error, TlsAcceptor, WebSocket};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let mut addr = "127.0.0.1:9001".to_owned();
    // `--tls CERT KEY`: serve wss:// with this certificate chain and private key (PEM).
    let mut tls: Option<TlsAcceptor> = None;
    let mut compression = Some(Compression::new());
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        if arg == "--no-deflate" {
            compression = None;
        } else if arg == "--deflate-low-memory" {
            compression = Some(Compression::low_memory());
        } else if arg == "--tls" {
            let (Some(cert), Some(key)) = (args.next(), args.next()) else {
                eprintln!("echo_server: --tls takes two files: CERT KEY (PEM)");
                std::process::exit(2);
            };
            let read = |path: &str| {
                std::fs::read(path).unwrap_or_else(|e| {
                    eprintln!("echo_server: cannot read {path}: {e}");
                    std::process::exit(2)
                })
            };
            match TlsAcceptor::from_pem(&read(&cert), &read(&key)) {
                Ok(acceptor) => tls = Some(acceptor),
                Err(e) => {
                    eprintln!("echo_server: --tls {cert} {key}: {e}");
                    std::process::exit(2);
                }
            }
        } else {
            addr = arg;
        }
    }
    let listener = TcpListener::bind(&addr).await?;
    let scheme = if tls.is_some() { "wss" } else { "ws" };
    eprintln!(
        "echo_server: listening on {scheme}://{}",
        listener.local_addr()?
    );
    loop {
        match listener.accept().await {
            Ok((stream, peer)) => {
                let _ = stream.set_nodelay(true);
                let config = Config::default().with_compression(compression);
                match tls.clone() {
                    None => {
                        tokio::spawn(serve(stream, peer, config));
                    }
                    Some(acceptor) => {
                        tokio::spawn(async move {
                            match tls_accept(stream, &acceptor, &config).await {
                                Ok(stream) => serve(stream, peer, config).await,
                                Err(e) => println!("{peer} TLS handshake failed: {e}"),
                            }
                        });
                    }
                }
            }
            // E.g. out of file descriptors: keep serving the connections we have.
            Err(e) => eprintln!("echo_server: accept failed: {e}"),
        }
    }
}

async fn serve<S: AsyncRead + AsyncWrite + Unpin>(stream: S, peer: SocketAddr, config: Config) {
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
