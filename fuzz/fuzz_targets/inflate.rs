//! `inflate`: arbitrary "compressed" payloads into the no-alloc inflater (feature `inflate`),
//! as a microcontroller client receives them (RFC 7692 §7.2.2).
//!
//! The input's first byte chooses the window (2^8 to 2^11), the context rule and text or
//! binary; the rest is cut into messages and chunks by its own bytes: each message is a length
//! byte, a chunk size byte and that many bytes of payload, fed in chunks as a driver would.
//!
//! Invariants:
//! - no panic, whatever the input;
//! - every call returns (a message completes or fails in a bounded number of calls);
//! - output ranges lie in the window, and no message inflates past `max_message_size`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sockeye_core::inflate::{InflateState, Inflater};
use sockeye_core::MessageKind;

const MAX_MESSAGE: u64 = 4096;

fuzz_target!(|data: &[u8]| {
    let Some((&setup, mut rest)) = data.split_first() else {
        return;
    };
    let bits = 8 + (setup & 3);
    let kind = if setup & 4 != 0 {
        MessageKind::Text
    } else {
        MessageKind::Binary
    };
    let mut state = InflateState::new();
    let mut window = [0u8; 2048];
    let window = &mut window[..1 << bits];
    let window_len = window.len();
    let mut inf = Inflater::new(&mut state, window, bits, setup & 8 != 0, MAX_MESSAGE).unwrap();
    while let [len, chunk, tail @ ..] = rest {
        let n = usize::from(*len).min(tail.len());
        let (payload, after) = tail.split_at(n);
        rest = after;
        let chunk = usize::from(*chunk).max(1);
        let pieces: Vec<&[u8]> = if payload.is_empty() {
            vec![&[][..]]
        } else {
            payload.chunks(chunk).collect()
        };
        let count = pieces.len();
        let mut inflated = 0u64;
        'message: for (i, piece) in pieces.into_iter().enumerate() {
            let last = i + 1 == count;
            let mut input = piece;
            // Each call uses input or produces output; the bound is far above what a valid
            // stream needs (one call per window of output, plus the tail).
            for _ in 0..10_000 {
                match inf.inflate(kind, input, last) {
                    Ok(step) => {
                        assert!(step.output.end <= window_len);
                        assert!(step.consumed <= input.len());
                        inflated += step.output.len() as u64;
                        assert!(inflated <= MAX_MESSAGE);
                        input = &input[step.consumed..];
                        if step.complete {
                            break 'message;
                        }
                        if step.input_done {
                            continue 'message;
                        }
                    }
                    // The connection would fail here; the inflater was reset.
                    Err(_) => break 'message,
                }
            }
            panic!("the inflater made no progress");
        }
    }
});
