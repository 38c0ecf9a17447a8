//! `handshake_request`: arbitrary bytes as a client's opening handshake, read by
//! `ServerHandshake::read_request` delivered whole and byte by byte (the same buffer, grown by
//! one byte per call, as a server re-offers its receive buffer after every read).
//!
//! Invariants:
//! - no panic, and no work beyond the head: byte by byte stops at the first complete head or
//!   error;
//! - both deliveries reach the same verdict: the same error, or the same request (head length,
//!   path, query, host, key, origin, offered subprotocols and extensions), and an incomplete
//!   head stays incomplete;
//! - an accepted request's `head` and `remainder` split the buffer at `consumed`;
//! - an accepted request always produces a response that a strict client accepts: the server
//!   answers with `Request::accept` (selecting the first offered subprotocol and extension
//!   when `accept` agrees to), and a `ClientHandshake` built with the request's key and offers
//!   must accept that response, with the selected subprotocol and nothing left over;
//! - a rejected request's error response (`RequestError::write_response`) is read by the client
//!   as a refusal with the same status;
//! - the parts path reaches the same verdict: the head's method, version and header pairs (as
//!   an HTTP library hands them over) through `handshake::parts::check_request` are accepted
//!   exactly when the raw parser accepts, and refused with the same error (syntax, size and
//!   request-target errors are the raw parser's alone).
#![no_main]

use base64::Engine as _;
use libfuzzer_sys::fuzz_target;
use sockeye_core::handshake::parts::{check_request, HttpVersion};
use sockeye_core::handshake::{
    Accept, ClientHandshake, ClientRequest, Request, RequestError, ResponseError, ServerConfig,
    ServerHandshake,
};

/// What a request says, owned, for comparing the two deliveries.
#[derive(Debug, PartialEq, Eq)]
struct Seen {
    consumed: usize,
    path: String,
    query: Option<String>,
    host: String,
    key: String,
    origin: Option<String>,
    protocols: Vec<String>,
    extensions: Vec<String>,
}

fn seen(r: &Request<'_>) -> Seen {
    Seen {
        consumed: r.consumed(),
        path: r.path().to_owned(),
        query: r.query().map(str::to_owned),
        host: r.host().to_owned(),
        key: r.key().to_owned(),
        origin: r.origin().map(str::to_owned),
        protocols: r.protocols().map(str::to_owned).collect(),
        extensions: r.extensions().map(str::to_owned).collect(),
    }
}

/// The parts path on the head at the start of `data`: httparse's method, version and header
/// pairs through `check_request`. `None` when httparse does not parse a complete head.
fn parts_verdict(data: &[u8]) -> Option<Result<(), RequestError>> {
    let mut storage = [httparse::EMPTY_HEADER; 64];
    let mut request = httparse::Request::new(&mut storage);
    match request.parse(data) {
        Ok(httparse::Status::Complete(_)) => {}
        _ => return None,
    }
    let version = match request.version {
        Some(1) => HttpVersion::Http11,
        _ => HttpVersion::Http10,
    };
    let pairs: Vec<(&str, &[u8])> = request.headers.iter().map(|h| (h.name, h.value)).collect();
    Some(check_request(version, request.method?, None, pairs.iter().copied()).map(|_| ()))
}

fn verdict(r: Result<Option<Request<'_>>, RequestError>) -> Result<Option<Seen>, RequestError> {
    r.map(|o| o.as_ref().map(seen))
}

/// Runs a strict client with this request's key and offers on `response`.
fn client_reads(
    request: &Seen,
    response: &[u8],
) -> Result<Option<(usize, Option<String>)>, ResponseError> {
    let mut nonce = [0u8; 16];
    let n = base64::engine::general_purpose::STANDARD
        .decode_slice(request.key.as_bytes(), &mut nonce)
        .expect("an accepted key is base64");
    assert_eq!(n, 16, "an accepted key decodes to 16 bytes");
    let protocols: Vec<&str> = request.protocols.iter().map(String::as_str).collect();
    let extensions: Vec<&str> = request.extensions.iter().map(String::as_str).collect();
    let client_request = ClientRequest::from_parts("example.com", "/")
        .with_protocols(&protocols)
        .with_extensions(&extensions);
    let mut client = ClientHandshake::new(client_request, nonce);
    assert_eq!(
        client.key(),
        request.key,
        "the key round-trips through its 16 bytes"
    );
    client
        .read_response(response)
        .map(|o| o.map(|r| (r.consumed(), r.protocol().map(str::to_owned))))
}

fuzz_target!(|data: &[u8]| {
    // The first byte picks a small head limit and a small header count sometimes, to reach
    // `TooLarge` and `TooManyHeaders` cheaply.
    let Some((&limit, data)) = data.split_first() else {
        return;
    };
    let config = if limit & 1 == 0 {
        ServerConfig::new()
    } else {
        ServerConfig::new().with_max_request_size(64 + limit as usize * 4)
    };

    if limit & 2 == 0 {
        check::<{ sockeye_core::handshake::DEFAULT_MAX_HEADERS }>(config, data);
    } else {
        check::<4>(config, data);
    }
});

fn check<const MAX_HEADERS: usize>(config: ServerConfig, data: &[u8]) {
    let mut whole_hs = ServerHandshake::<MAX_HEADERS>::with_config(config);
    let whole = whole_hs.read_request(data);
    if let Ok(Some(r)) = &whole {
        assert!(r.consumed() <= data.len());
        assert_eq!(r.head(), &data[..r.consumed()]);
        assert_eq!(r.remainder(), &data[r.consumed()..]);
    }

    let mut bytewise_hs = ServerHandshake::<MAX_HEADERS>::with_config(config);
    let mut bytewise = Ok(None);
    for end in 1..=data.len() {
        bytewise = verdict(bytewise_hs.read_request(&data[..end]));
        match &bytewise {
            Ok(None) => {}
            Ok(Some(s)) => {
                assert_eq!(s.consumed, end, "head complete only at its last byte");
                break;
            }
            Err(_) => break,
        }
    }
    assert_eq!(
        verdict(whole),
        bytewise,
        "whole vs byte by byte ({} bytes)",
        data.len()
    );

    match &whole {
        Ok(Some(r)) => assert_eq!(
            parts_verdict(r.head()),
            Some(Ok(())),
            "the parts path refused what the raw parser accepted"
        ),
        // The raw parser's own errors: nothing to compare.
        Err(
            RequestError::Malformed(_)
            | RequestError::TooLarge { .. }
            | RequestError::TooManyHeaders { .. }
            | RequestError::InvalidTarget,
        ) => {}
        Err(e) => {
            if let Some(parts) = parts_verdict(data) {
                assert_eq!(parts, Err(*e), "the parts path and the raw parser disagree");
            }
        }
        Ok(None) => {}
    }

    let mut out = vec![0u8; 16 * 1024];
    match whole {
        Ok(None) => {}
        Ok(Some(request)) => {
            let s = seen(&request);
            // Try the richest answer the server may give, then plainer ones; `accept` refuses
            // (without writing a broken response) what the client could not accept.
            let protocol = s.protocols.first().map(String::as_str);
            let extension = s.extensions.first().map(String::as_str);
            let mut answers = vec![];
            if let (Some(p), Some(e)) = (protocol, extension) {
                answers.push((Accept::new().with_protocol(p).with_extensions(e), protocol));
            }
            if let Some(p) = protocol {
                answers.push((Accept::new().with_protocol(p), protocol));
            }
            if let Some(e) = extension {
                answers.push((Accept::new().with_extensions(e), None));
            }
            answers.push((Accept::new(), None));
            let plain = answers.len() - 1;
            for (i, (answer, chosen)) in answers.into_iter().enumerate() {
                let n = match request.accept(&answer, &mut out) {
                    Ok(n) => n,
                    Err(e) if i == plain => panic!("plain accept failed: {e:?}"),
                    Err(_) => continue,
                };
                let chosen = chosen.map(str::to_owned);
                match client_reads(&s, &out[..n]) {
                    Ok(Some((consumed, got))) => {
                        assert_eq!(consumed, n, "client left part of the response");
                        assert_eq!(got, chosen, "client saw another subprotocol");
                    }
                    other => panic!(
                        "a strict client refused the server's answer {answer:?}: {other:?}\n{}",
                        String::from_utf8_lossy(&out[..n])
                    ),
                }
            }
        }
        Err(e) => {
            let n = e
                .write_response(&mut out)
                .expect("error response fits 16 KiB");
            let mut client =
                ClientHandshake::new(ClientRequest::from_parts("example.com", "/"), [0; 16]);
            match client.read_response(&out[..n]) {
                Err(ResponseError::Status(status)) => assert_eq!(status, e.status()),
                other => panic!("error response {e:?} read as {other:?}"),
            }
        }
    }
}
