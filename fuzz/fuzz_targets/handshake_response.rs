//! `handshake_response`: arbitrary bytes as a server's answer, read by
//! `ClientHandshake::read_response` delivered whole and byte by byte (the same buffer, grown by
//! one byte per call).
//!
//! The client uses the RFC 6455 §1.3 sample nonce, so its expected `Sec-WebSocket-Accept` is
//! `s3pPLMBiTxaQ9kYGzzhZRbK+xOo=` (in the dictionary and the seeds), and offers the subprotocols
//! `chat` and `superchat` and the extensions `permessage-deflate` and `x-foo; a=1`.
//!
//! Invariants:
//! - no panic;
//! - both deliveries reach the same verdict: the same error, or the same response (head length,
//!   subprotocol, extensions, headers), and an incomplete head stays incomplete;
//! - an accepted response is a `101` whose subprotocol is one the client offered, whose
//!   extensions all carry an offered name, whose `head` and `remainder` split the buffer at
//!   `consumed`, and which a second parse of just its head accepts identically.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sockeye_core::handshake::{
    ClientConfig, ClientHandshake, ClientRequest, ClientResponse, ResponseError,
};

const NONCE: [u8; 16] = *b"the sample nonce";
const PROTOCOLS: &[&str] = &["chat", "superchat"];
const EXTENSIONS: &[&str] = &["permessage-deflate", "x-foo; a=1"];

#[derive(Debug, PartialEq, Eq)]
struct Seen {
    consumed: usize,
    protocol: Option<String>,
    extensions: Vec<String>,
    headers: Vec<(String, Vec<u8>)>,
}

fn seen(r: &ClientResponse<'_>) -> Seen {
    Seen {
        consumed: r.consumed(),
        protocol: r.protocol().map(str::to_owned),
        extensions: r.extensions().map(str::to_owned).collect(),
        headers: r
            .headers()
            .map(|h| (h.name.to_owned(), h.value.to_vec()))
            .collect(),
    }
}

fn verdict(
    r: Result<Option<ClientResponse<'_>>, ResponseError>,
) -> Result<Option<Seen>, ResponseError> {
    r.map(|o| o.as_ref().map(seen))
}

fn handshake(config: ClientConfig) -> ClientHandshake<'static> {
    let request = ClientRequest::from_parts("example.com", "/chat")
        .with_protocols(PROTOCOLS)
        .with_extensions(EXTENSIONS);
    let hs = ClientHandshake::with_config(request, NONCE, config);
    assert_eq!(
        hs.expected_accept().as_str(),
        "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
    );
    hs
}

fn extension_name(item: &str) -> &str {
    item.split(';')
        .next()
        .unwrap_or("")
        .trim_matches([' ', '\t'])
}

fuzz_target!(|data: &[u8]| {
    let Some((&limit, data)) = data.split_first() else {
        return;
    };
    let config = if limit & 1 == 0 {
        ClientConfig::new()
    } else {
        ClientConfig::new().with_max_response_size(64 + limit as usize * 4)
    };

    let mut whole_hs = handshake(config);
    let whole = whole_hs.read_response(data);

    let mut bytewise_hs = handshake(config);
    let mut bytewise = Ok(None);
    for end in 1..=data.len() {
        bytewise = verdict(bytewise_hs.read_response(&data[..end]));
        match &bytewise {
            Ok(None) => {}
            Ok(Some(s)) => {
                assert_eq!(s.consumed, end, "head complete only at its last byte");
                break;
            }
            Err(_) => break,
        }
    }
    assert_eq!(verdict(whole), bytewise, "whole vs byte by byte");

    if let Ok(Some(r)) = whole {
        let n = r.consumed();
        assert_eq!(r.head(), &data[..n]);
        assert_eq!(r.remainder(), &data[n..]);
        if let Some(p) = r.protocol() {
            assert!(PROTOCOLS.contains(&p), "subprotocol {p:?} was not offered");
        }
        for item in r.extensions() {
            let name = extension_name(item);
            assert!(
                EXTENSIONS.iter().any(|offer| extension_name(offer) == name),
                "extension {item:?} was not offered"
            );
        }
        let mut again = handshake(config);
        let head_only = verdict(again.read_response(&data[..n]));
        let whole_seen = seen(&r);
        assert_eq!(
            head_only,
            Ok(Some(whole_seen)),
            "the head alone reads differently"
        );
    }
});
