//! An echo server on blocking `std::net`, one thread per connection: every text and binary
//! message comes back as it was sent.
//!
//! ```text
//! cargo run --release --example echo_server_std -- [ADDR] [--no-deflate | --deflate-low-memory]
//! ```
//!
//! ADDR defaults to 127.0.0.1:9001. permessage-deflate (RFC 7692) is accepted when a client
//! offers it — with context takeover, as browsers ask — unless `--no-deflate`;
//! `--deflate-low-memory` asks clients for no context takeover either way.
//!
//! The blocking twin of `echo_server` (the Autobahn|Testsuite runs it as `server-std`). Each
//! connection prints one line when it ends: the peer, the close code and the closure's
//! diagnosis.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::thread;

use sockeye_std::{Compression, Config, Decision, Error, WebSocket};

fn main() -> std::io::Result<()> {
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
    let listener = TcpListener::bind(&addr)?;
    eprintln!(
        "echo_server_std: listening on ws://{}",
        listener.local_addr()?
    );
    for stream in listener.incoming() {
        match stream {
            Ok(stream) => {
                thread::spawn(move || serve(stream, config));
            }
            // E.g. out of file descriptors: keep serving the connections we have.
            Err(e) => eprintln!("echo_server_std: accept failed: {e}"),
        }
    }
    Ok(())
}

fn serve(stream: TcpStream, config: Config) {
    let peer = match stream.peer_addr() {
        Ok(peer) => peer,
        Err(_) => SocketAddr::from(([0, 0, 0, 0], 0)),
    };
    let _ = stream.set_nodelay(true);
    let mut ws = match WebSocket::accept_with(stream, config, |_| Decision::accept()) {
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
        match ws.recv() {
            Ok(message) => match ws.send(message) {
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
