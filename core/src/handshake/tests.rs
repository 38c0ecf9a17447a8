//! Tests that involve both sides: the RFC example, round trips, and property tests.

use super::*;
use crate::url::Url;
use proptest::prelude::*;
use std::format;
use std::string::ToString;
use std::vec::Vec;

#[test]
fn accept_key_matches_rfc6455_section_1_3() {
    let accept = accept_key(b"dGhlIHNhbXBsZSBub25jZQ==");
    assert_eq!(accept.as_str(), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    assert_eq!(accept.as_bytes(), b"s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    assert_eq!(accept.to_string(), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    assert_eq!(
        format!("{accept:?}"),
        "AcceptKey(\"s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\")"
    );
}

#[test]
fn client_nonce_of_rfc_example_yields_rfc_accept() {
    // "the sample nonce" is what the RFC's example key decodes to.
    let url = Url::parse("ws://server.example.com/chat").unwrap();
    let hs = ClientHandshake::new(ClientRequest::new(&url), *b"the sample nonce");
    assert_eq!(hs.key(), "dGhlIHNhbXBsZSBub25jZQ==");
    assert_eq!(
        hs.expected_accept().as_str(),
        "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
    );
}

#[test]
fn round_trip_with_subprotocol_and_first_frame() {
    let url = Url::parse("ws://[::1]:9001/chat?room=7").unwrap();
    let request = ClientRequest::new(&url)
        .with_origin("http://localhost")
        .with_protocols(&["v2.chat", "chat"])
        .with_extensions(&["permessage-deflate; client_max_window_bits"])
        .with_headers(&[("Authorization", "Bearer x")]);
    let mut client = ClientHandshake::new(request, [0x5a; 16]);
    let mut wire = [0u8; 512];
    let request_len = client.write_request(&mut wire).unwrap();

    let mut server = ServerHandshake::new();
    let req = server.read_request(&wire[..request_len]).unwrap().unwrap();
    assert_eq!(req.path(), "/chat");
    assert_eq!(req.query(), Some("room=7"));
    assert_eq!(req.host(), "[::1]:9001");
    assert_eq!(req.origin(), Some("http://localhost"));
    assert_eq!(req.key(), client.key());
    assert_eq!(req.header("authorization"), Some(&b"Bearer x"[..]));
    assert!(req
        .extensions()
        .eq(["permessage-deflate; client_max_window_bits"]));
    assert_eq!(req.consumed(), request_len);
    assert!(req.remainder().is_empty());

    // The server prefers "chat" if offered.
    let chosen = req.protocols().find(|p| *p == "chat").unwrap();
    let mut reply = [0u8; 512];
    let reply_len = req
        .accept(
            &Accept::new()
                .with_protocol(chosen)
                .with_extensions("permessage-deflate; server_no_context_takeover"),
            &mut reply,
        )
        .unwrap();
    // The server's first frame travels in the same packet as the 101.
    let frame = b"\x81\x05hello";
    reply[reply_len..reply_len + frame.len()].copy_from_slice(frame);
    let received = &reply[..reply_len + frame.len()];

    let response = client.read_response(received).unwrap().unwrap();
    assert_eq!(response.consumed(), reply_len);
    assert_eq!(response.remainder(), frame);
    assert_eq!(response.protocol(), Some("chat"));
    assert!(response
        .extensions()
        .eq(["permessage-deflate; server_no_context_takeover"]));
    assert_eq!(
        response.header("Sec-WebSocket-Accept"),
        Some(client.expected_accept().as_bytes().as_slice())
    );
}

#[test]
fn round_trip_delivered_in_small_pieces() {
    let url = Url::parse("ws://example.com/").unwrap();
    let mut client = ClientHandshake::new(ClientRequest::new(&url), [1; 16]);
    let mut wire = [0u8; 512];
    let len = client.write_request(&mut wire).unwrap();

    let mut server = ServerHandshake::new();
    let mut accepted = None;
    for end in (0..=len).step_by(7).chain([len]) {
        if let Some(req) = server.read_request(&wire[..end]).unwrap() {
            accepted = Some(req);
            break;
        }
    }
    let req = accepted.unwrap();
    let mut reply = [0u8; 256];
    let reply_len = req.accept(&Accept::new(), &mut reply).unwrap();
    for end in 0..reply_len {
        assert_eq!(client.read_response(&reply[..end]), Ok(None));
    }
    let response = client.read_response(&reply[..reply_len]).unwrap().unwrap();
    assert_eq!(response.protocol(), None);
    assert_eq!(response.consumed(), reply_len);
}

#[test]
fn pipelined_client_frame_is_not_lost() {
    let url = Url::parse("ws://example.com/").unwrap();
    let client = ClientHandshake::new(ClientRequest::new(&url), [2; 16]);
    let mut wire = [0u8; 512];
    let len = client.write_request(&mut wire).unwrap();
    // A masked text frame "Hello" (RFC 6455 §5.7) sent right behind the request.
    let frame = b"\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58";
    wire[len..len + frame.len()].copy_from_slice(frame);
    let mut server = ServerHandshake::new();
    let req = server
        .read_request(&wire[..len + frame.len()])
        .unwrap()
        .unwrap();
    assert_eq!(req.consumed(), len);
    assert_eq!(req.remainder(), frame);
}

#[test]
fn version_mismatch_round_trip() {
    // An old client speaking draft version 8 learns which version to retry with.
    let request = b"GET / HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
        Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 8\r\n\r\n";
    let err = ServerHandshake::new().read_request(request).unwrap_err();
    let mut out = [0u8; 512];
    let len = err.write_response(&mut out).unwrap();

    let url = Url::parse("ws://h/").unwrap();
    let mut client = ClientHandshake::new(ClientRequest::new(&url), [3; 16]);
    let failure = client.read_response(&out[..len]).unwrap_err();
    assert_eq!(failure, ResponseError::Status(426));
}

/// What a server makes of `buf`, as something comparable across buffers.
fn server_verdict(buf: &[u8], chunks: &[usize]) -> Result<Option<usize>, RequestError> {
    let mut hs = ServerHandshake::new();
    for &end in chunks {
        match hs.read_request(&buf[..end]) {
            Ok(None) => {}
            other => return other.map(|r| r.map(|r| r.consumed())),
        }
    }
    hs.read_request(buf).map(|r| r.map(|r| r.consumed()))
}

fn client_verdict(
    buf: &[u8],
    chunks: &[usize],
) -> Result<Option<(usize, Option<std::string::String>)>, ResponseError> {
    let url = Url::parse("ws://h/").unwrap();
    let request = ClientRequest::new(&url)
        .with_protocols(&["chat"])
        .with_extensions(&["permessage-deflate"]);
    let mut hs = ClientHandshake::new(request, *b"the sample nonce");
    let summary = |r: ClientResponse<'_>| (r.consumed(), r.protocol().map(|p| p.to_string()));
    for &end in chunks {
        match hs.read_response(&buf[..end]) {
            Ok(None) => {}
            other => return other.map(|r| r.map(summary)),
        }
    }
    hs.read_response(buf).map(|r| r.map(summary))
}

/// Exercises every accessor of a parsed request; none may panic.
fn poke_request(req: &Request<'_>) {
    let _ = (req.path(), req.query(), req.host(), req.origin(), req.key());
    let _ = req.protocols().count() + req.extensions().count() + req.headers().count();
    let _ = req.header("host");
    let mut out = [0u8; 256];
    let _ = req.accept(&Accept::new(), &mut out);
    if let Some(p) = req.protocols().next() {
        let _ = req.accept(&Accept::new().with_protocol(p), &mut out);
    }
    if let Some(e) = req.extensions().next() {
        let _ = req.accept(&Accept::new().with_extensions(e), &mut out);
    }
}

const VALID_REQUEST: &[u8] = b"GET /chat?x=1 HTTP/1.1\r\nHost: server.example.com\r\n\
    Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
    Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: chat, superchat\r\n\
    Sec-WebSocket-Extensions: permessage-deflate; a=\"1,2\"\r\nOrigin: http://o\r\n\r\n\x81\x80";

const VALID_RESPONSE: &[u8] = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\
    Connection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\
    Sec-WebSocket-Protocol: chat\r\nSec-WebSocket-Extensions: permessage-deflate\r\n\r\n\x81\x00";

/// Applies (position, byte, kind) edits: 0 replaces, 1 inserts, 2 deletes.
fn mutate(base: &[u8], edits: &[(usize, u8, u8)]) -> Vec<u8> {
    let mut out = base.to_vec();
    for &(pos, byte, kind) in edits {
        let pos = pos % (out.len() + 1);
        match kind % 3 {
            0 if pos < out.len() => out[pos] = byte,
            1 => out.insert(pos, byte),
            _ if pos < out.len() => {
                out.remove(pos);
            }
            _ => {}
        }
    }
    out
}

/// Sorted, deduplicated cut points within `len`.
fn cuts(len: usize, raw: &[usize]) -> Vec<usize> {
    let mut cuts: Vec<usize> = raw.iter().map(|c| c % (len + 1)).collect();
    cuts.sort_unstable();
    cuts.dedup();
    cuts
}

fn edits() -> impl Strategy<Value = Vec<(usize, u8, u8)>> {
    prop::collection::vec((any::<usize>(), any::<u8>(), any::<u8>()), 0..6)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn server_verdict_ignores_chunking(
        bytes in prop::collection::vec(any::<u8>(), 0..400),
        raw_cuts in prop::collection::vec(any::<usize>(), 0..8),
    ) {
        let whole = server_verdict(&bytes, &[]);
        let bytewise: Vec<usize> = (0..=bytes.len()).collect();
        prop_assert_eq!(&whole, &server_verdict(&bytes, &bytewise));
        prop_assert_eq!(&whole, &server_verdict(&bytes, &cuts(bytes.len(), &raw_cuts)));
    }

    #[test]
    fn server_survives_mutated_requests(
        edits in edits(),
        raw_cuts in prop::collection::vec(any::<usize>(), 0..8),
    ) {
        let bytes = mutate(VALID_REQUEST, &edits);
        let whole = server_verdict(&bytes, &[]);
        let bytewise: Vec<usize> = (0..=bytes.len()).collect();
        prop_assert_eq!(&whole, &server_verdict(&bytes, &bytewise));
        prop_assert_eq!(&whole, &server_verdict(&bytes, &cuts(bytes.len(), &raw_cuts)));
        if let Ok(Some(req)) = ServerHandshake::new().read_request(&bytes) {
            poke_request(&req);
            prop_assert!(req.consumed() <= bytes.len());
        }
        if let Err(e) = whole {
            let mut out = [0u8; 512];
            prop_assert!(e.write_response(&mut out).is_ok());
        }
    }

    #[test]
    fn client_verdict_ignores_chunking(
        bytes in prop::collection::vec(any::<u8>(), 0..400),
        raw_cuts in prop::collection::vec(any::<usize>(), 0..8),
    ) {
        let whole = client_verdict(&bytes, &[]);
        let bytewise: Vec<usize> = (0..=bytes.len()).collect();
        prop_assert_eq!(&whole, &client_verdict(&bytes, &bytewise));
        prop_assert_eq!(&whole, &client_verdict(&bytes, &cuts(bytes.len(), &raw_cuts)));
    }

    #[test]
    fn client_survives_mutated_responses(
        edits in edits(),
        raw_cuts in prop::collection::vec(any::<usize>(), 0..8),
    ) {
        let bytes = mutate(VALID_RESPONSE, &edits);
        let whole = client_verdict(&bytes, &[]);
        let bytewise: Vec<usize> = (0..=bytes.len()).collect();
        prop_assert_eq!(&whole, &client_verdict(&bytes, &bytewise));
        prop_assert_eq!(&whole, &client_verdict(&bytes, &cuts(bytes.len(), &raw_cuts)));
        if let Ok(Some((consumed, _))) = whole {
            prop_assert!(consumed <= bytes.len());
        }
    }

    #[test]
    fn printable_text_never_panics_either_parser(text in "[ -~\r\n\t]{0,300}") {
        let _ = server_verdict(text.as_bytes(), &[]);
        let _ = client_verdict(text.as_bytes(), &[]);
    }

    #[test]
    fn client_writes_what_the_server_accepts(
        path in "/[a-zA-Z0-9._~!$&'()*+,;=:@/-]{0,20}",
        query in proptest::option::of("[a-zA-Z0-9=&/?-]{0,20}"),
        host in "[a-z][a-z0-9-]{0,15}(\\.[a-z]{2,5})?",
        port in 1u16..,
        protocols in prop::collection::btree_set("[a-z][a-z0-9.]{0,8}", 0..4),
        nonce in any::<[u8; 16]>(),
    ) {
        let text = match &query {
            Some(q) => format!("ws://{host}:{port}{path}?{q}"),
            None => format!("ws://{host}:{port}{path}"),
        };
        let url = Url::parse(&text).unwrap();
        let protocols: Vec<&str> = protocols.iter().map(|p| p.as_str()).collect();
        let mut client = ClientHandshake::new(
            ClientRequest::new(&url).with_protocols(&protocols),
            nonce,
        );
        let mut wire = [0u8; 1024];
        let len = client.write_request(&mut wire).unwrap();
        let mut server = ServerHandshake::new();
        let req = server.read_request(&wire[..len]).unwrap().unwrap();
        prop_assert_eq!(req.path(), url.path());
        prop_assert_eq!(req.query(), url.query());
        prop_assert!(req.protocols().eq(protocols.iter().copied()));
        let accept = match protocols.last() {
            Some(p) => Accept::new().with_protocol(p),
            None => Accept::new(),
        };
        let mut reply = [0u8; 512];
        let reply_len = req.accept(&accept, &mut reply).unwrap();
        let response = client.read_response(&reply[..reply_len]).unwrap().unwrap();
        prop_assert_eq!(response.protocol(), protocols.last().copied());
    }

    #[test]
    fn url_parser_never_panics(text in "\\PC{0,60}") {
        let _ = Url::parse(&text);
    }

    #[test]
    fn url_parser_survives_url_like_text(
        text in "(ws|wss|WS|http)://[a-z0-9:\\[\\]./?#@%-]{0,40}",
    ) {
        if let Ok(url) = Url::parse(&text) {
            let _ = (url.host_header().to_string(), url.resource().to_string(), url.to_string());
            prop_assert!(url.port() != 0);
            prop_assert!(url.path().starts_with('/'));
        }
    }
}

/// RFC 7692 §5–7 through both handshakes: the client's typed offer, the server's choice in
/// its 101, and the client's check of that answer.
#[test]
fn permessage_deflate_is_negotiated_through_both_handshakes() {
    use deflate::{DeflateConfig, DeflateError, DeflateOffer};

    let url = Url::parse("ws://example.com/").unwrap();
    let request = ClientRequest::new(&url)
        .with_extensions(&["x-other"])
        .with_deflate(DeflateOffer::new());
    let mut wire = [0u8; 512];
    let client = ClientHandshake::new(request, [7; 16]);
    let n = client.write_request(&mut wire).unwrap();
    let text = core::str::from_utf8(&wire[..n]).unwrap();
    assert!(
        text.contains(
            "\r\nSec-WebSocket-Extensions: permessage-deflate; client_max_window_bits, x-other\r\n"
        ),
        "{text}"
    );
    let mut server = ServerHandshake::new();
    let req = server.read_request(&wire[..n]).unwrap().unwrap();
    let accepted = req
        .negotiate_deflate(&DeflateConfig::low_memory())
        .expect("the offer is acceptable");
    let mut response = [0u8; 512];
    let m = req
        .accept(&Accept::new().with_deflate(accepted), &mut response)
        .unwrap();
    let head = core::str::from_utf8(&response[..m]).unwrap();
    assert!(
        head.contains(
            "\r\nSec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover; client_no_context_takeover\r\n"
        ),
        "{head}"
    );
    let mut client = client;
    let answer = client.read_response(&response[..m]).unwrap().unwrap();
    let params = answer.deflate().expect("the client sees it accepted");
    assert_eq!(params, accepted.params());

    // A response the offer does not allow fails the client's handshake with a typed error.
    let accept = accept_key(client.key().as_bytes());
    for (extensions, error) in [
        // client_max_window_bits was not offered.
        (
            "permessage-deflate; client_max_window_bits=10",
            DeflateError::NotOffered,
        ),
        (
            "permessage-deflate; server_max_window_bits=7",
            DeflateError::InvalidWindowBits,
        ),
        (
            "permessage-deflate; mystery",
            DeflateError::UnknownParameter,
        ),
        (
            "permessage-deflate, permessage-deflate",
            DeflateError::DuplicateParameter,
        ),
    ] {
        let offer = DeflateOffer {
            client_max_window_bits: None,
            ..DeflateOffer::new()
        };
        let request = ClientRequest::new(&url).with_deflate(offer);
        let mut c = ClientHandshake::new(request, [7; 16]);
        let reply = format!(
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Accept: {accept}\r\nSec-WebSocket-Extensions: {extensions}\r\n\r\n"
        );
        assert_eq!(
            c.read_response(reply.as_bytes())
                .map(|r| r.map(|r| r.deflate())),
            Err(ResponseError::Deflate(error)),
            "{extensions}"
        );
    }
    // Without an offer, permessage-deflate in the response is an extension not offered.
    let mut c = ClientHandshake::new(ClientRequest::new(&url), [7; 16]);
    let reply = format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Accept: {accept}\r\nSec-WebSocket-Extensions: permessage-deflate\r\n\r\n"
    );
    assert_eq!(
        c.read_response(reply.as_bytes())
            .map(|r| r.map(|r| r.deflate())),
        Err(ResponseError::ExtensionNotOffered)
    );
}
