//! Both opening handshakes and then the engine, in memory: the bytes that follow each HTTP head
//! in the same buffer (a pipelined first frame, a server's first frame sent with its 101) reach
//! the engine, so nothing is lost at the switch of protocols.

use sockeye_core::handshake::{Accept, ClientHandshake, ClientRequest, ServerHandshake};
use sockeye_core::url::Url;
use sockeye_core::{Config, Connection, Event, Frame, Instant};

/// Reads every event from `bytes`, returning the text of the data chunks.
fn texts(conn: &mut Connection, bytes: &mut [u8]) -> Vec<String> {
    let mut out = Vec::new();
    let mut pos = 0;
    loop {
        let r = conn.read(&mut bytes[pos..], Instant::ZERO);
        pos += r.consumed;
        match r.event {
            Some(Event::Data(c)) => out.push(String::from_utf8(c.payload.to_vec()).unwrap()),
            Some(_) => {}
            None => return out,
        }
    }
}

#[test]
fn handshakes_then_engine_with_first_frames_in_the_same_buffers() {
    let now = Instant::ZERO;
    let url = Url::parse("ws://example.com:8080/chat?room=1").unwrap();
    let protocols = ["chat.v2", "chat"];
    let request = ClientRequest::new(&url)
        .with_protocols(&protocols)
        .with_origin("http://example.com");
    let mut client_hs = ClientHandshake::new(request, [7; 16]);
    let mut client = Connection::client(Config::default(), now, 99);

    // The client pipelines its first frame right behind the request.
    let mut c2s = vec![0u8; 1024];
    let mut n = client_hs.write_request(&mut c2s).unwrap();
    n += client
        .encode(Frame::Text("first from client"), &mut c2s[n..])
        .unwrap();
    c2s.truncate(n);

    // The server sees the request arrive one byte at a time.
    let mut server_hs = ServerHandshake::new();
    let mut server = Connection::server(Config::default(), now);
    let mut s2c = vec![0u8; 1024];
    let mut consumed = 0;
    for end in 1..=c2s.len() {
        if let Some(req) = server_hs.read_request(&c2s[..end]).unwrap() {
            assert_eq!(
                (req.path(), req.query(), req.host()),
                ("/chat", Some("room=1"), "example.com:8080")
            );
            assert_eq!(req.protocols().collect::<Vec<_>>(), ["chat.v2", "chat"]);
            let n = req
                .accept(&Accept::new().with_protocol("chat"), &mut s2c)
                .unwrap();
            s2c.truncate(n);
            assert!(req.remainder().is_empty());
            consumed = req.consumed();
            break;
        }
    }
    // The request is complete as soon as its head is; the bytes after it are the engine's.
    assert!(consumed > 0 && consumed < c2s.len());
    let mut leftover = c2s[consumed..].to_vec();
    assert_eq!(texts(&mut server, &mut leftover), ["first from client"]);

    // The server sends its first frame in the same write as the 101 response.
    let mut frame = vec![0u8; 64];
    let n = server
        .encode(Frame::Text("first from server"), &mut frame)
        .unwrap();
    s2c.extend_from_slice(&frame[..n]);
    let mut response_len = 0;
    let mut rest = Vec::new();
    for end in 1..=s2c.len() {
        if let Some(resp) = client_hs.read_response(&s2c[..end]).unwrap() {
            assert_eq!(resp.protocol(), Some("chat"));
            response_len = resp.consumed();
            rest = resp.remainder().to_vec();
            break;
        }
    }
    assert!(response_len > 0 && response_len < s2c.len());
    // Whatever followed the response in the buffer, plus whatever arrived after, feeds the engine.
    rest.extend_from_slice(&s2c[response_len + rest.len()..]);
    assert_eq!(texts(&mut client, &mut rest), ["first from server"]);
}

#[test]
fn whole_buffer_delivery_hands_back_the_first_frame() {
    let url = Url::parse("ws://[::1]:9001/").unwrap();
    let mut client_hs = ClientHandshake::new(ClientRequest::new(&url), [1; 16]);
    let mut buf = vec![0u8; 512];
    let n = client_hs.write_request(&mut buf).unwrap();
    let mut server_hs = ServerHandshake::new();
    let req = server_hs.read_request(&buf[..n]).unwrap().unwrap();
    assert_eq!(req.host(), "[::1]:9001");
    assert_eq!(req.remainder(), &[] as &[u8]);
    let mut s2c = vec![0u8; 512];
    let m = req.accept(&Accept::new(), &mut s2c).unwrap();
    let mut server = Connection::server(Config::default(), Instant::ZERO);
    let f = server.encode(Frame::Text("hi"), &mut s2c[m..]).unwrap();
    let resp = client_hs.read_response(&s2c[..m + f]).unwrap().unwrap();
    assert_eq!(resp.consumed(), m);
    let mut rest = resp.remainder().to_vec();
    let mut client = Connection::client(Config::default(), Instant::ZERO, 2);
    assert_eq!(texts(&mut client, &mut rest), ["hi"]);
}
