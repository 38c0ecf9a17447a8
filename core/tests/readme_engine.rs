//! The "driving the engine by hand" example from README.md, kept compiling and passing.

use sockeye_core::{CloseCode, Config, Connection, Event, Frame, Instant};

#[test]
fn readme_example() {
    let now = Instant::ZERO;
    let mut client = Connection::client(Config::default(), now, 0x1234_5678);
    let mut server = Connection::server(Config::default(), now);

    // The client encodes a message into its own buffer (masked, as clients must).
    let mut wire = [0u8; 256];
    let n = client.encode(Frame::Text("hello"), &mut wire).unwrap();

    // The server reads whatever arrived; payload is unmasked in place and borrowed.
    let mut pos = 0;
    loop {
        let read = server.read(&mut wire[pos..n], now);
        pos += read.consumed;
        match read.event {
            Some(Event::Data(chunk)) => assert_eq!(chunk.payload, b"hello"),
            Some(other) => println!("{other:?}"),
            None => break, // all input consumed
        }
    }

    // Closing: the server starts, the client answers, the server then closes TCP.
    server.close(CloseCode::NORMAL, "done", now).unwrap();
    let mut out = [0u8; 256];
    let n = server.poll_transmit(&mut out, now);
    let read = client.read(&mut out[..n], now);
    assert!(matches!(read.event, Some(Event::Close(_))));
    let n = client.poll_transmit(&mut out, now); // the client's reply
    server.read(&mut out[..n], now);
    let closure = server.poll_closure().unwrap();
    assert!(closure.is_clean());
    println!("{closure}");
}
