//! `deflate_negotiation`: arbitrary `Sec-WebSocket-Extensions` elements through the
//! permessage-deflate negotiation (RFC 7692), both sides.
//!
//! Invariants:
//! - no panic, whatever the input;
//! - a server never accepts what its policy forbids (a window below its floor, a client window
//!   above its limit when the client can be limited);
//! - whatever a server accepts, the response it writes is accepted by the client that made the
//!   offer, with the very same parameters;
//! - an offer a client writes parses back to itself.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sockeye_core::handshake::deflate::{negotiate, DeflateConfig, DeflateOffer};

fuzz_target!(|data: &[u8]| {
    let [a, b, rest @ ..] = data else {
        return;
    };
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    let mut config = DeflateConfig::new();
    config.server_no_context_takeover = a & 1 != 0;
    config.client_no_context_takeover = a & 2 != 0;
    config.server_max_window_bits = 8 + (a >> 4) % 8;
    config.client_max_window_bits = 8 + (b >> 4) % 8;
    config.min_window_bits = 8 + b % 2;
    let items: Vec<&str> = text.split(',').collect();
    if let Some(accepted) = negotiate(items.iter().copied(), &config) {
        let params = accepted.params();
        assert!(params.server_max_window_bits >= config.min_window_bits);
        assert!(params.server_max_window_bits <= config.server_max_window_bits.max(config.min_window_bits));
        assert!(params.client_max_window_bits <= config.client_max_window_bits.max(8));
        let mut out = [0u8; 512];
        let n = accepted.write_response(&mut out).expect("a response fits 512 bytes");
        let response = std::str::from_utf8(&out[..n]).unwrap();
        let offer = accepted.offer();
        assert_eq!(offer.check_response(response), Ok(params), "{response}");
        let n = offer.write(&mut out).expect("an offer fits 512 bytes");
        let written = std::str::from_utf8(&out[..n]).unwrap();
        assert_eq!(DeflateOffer::parse(written), Ok(Some(offer)), "{written}");
    }
    for item in &items {
        let _ = DeflateOffer::parse(item);
        let _ = DeflateOffer::new().check_response(item);
        let _ = DeflateOffer::low_memory().check_response(item);
    }
});
