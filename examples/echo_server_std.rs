//! An echo server on blocking `std::net`, one thread per connection: every text and binary
//! message comes back as it was sent.
//!
//! ```text
//! cargo run --release --example echo_server_std -- [ADDR]      (default 127.0.0.1:9001)
//! ```
//!
//! The blocking twin of `echo_server` (the Autobahn|Testsuite runs it as `server-std`). Each
//! connection prints one line when it ends: the peer, the close code and the closure's
//! diagnosis.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::thread;

use sockeye_std::{Error, WebSocket};

fn main() -> std::io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:9001".into());
    let listener = TcpListener::bind(&addr)?;
    eprintln!(
        "echo_server_std: listening on ws://{}",
        listener.local_addr()?
    );
    for stream in listener.incoming() {
        match stream {
            Ok(stream) => {
                thread::spawn(move || serve(stream));
            }
            // E.g. out of file descriptors: keep serving the connections we have.
            Err(e) => eprintln!("echo_server_std: accept failed: {e}"),
        }
    }
    Ok(())
}

fn serve(stream: TcpStream) {
    let peer = match stream.peer_addr() {
        Ok(peer) => peer,
        Err(_) => SocketAddr::from(([0, 0, 0, 0], 0)),
    };
    let _ = stream.set_nodelay(true);
    let mut ws = match WebSocket::accept(stream) {
        Ok(ws) => ws,
        Err(e) => {
            println!("{peer} handshake failed: {e}");
            return;
        }
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
    println!("{peer} code={} {closure}", closure.code().as_u16());
}
