//! What the in-memory engine tests (`pair.rs`, `faults.rs`) share: feeding bytes to an engine
//! and keeping what came out.

use sockeye_core::{Connection, Instant, Message, MessageAssembler};

/// Reads all of `bytes` into `conn` (the engine's contract: call `read` until it returns no
/// event, which means every byte was consumed), assembling messages and control frames into
/// `received`.
pub fn feed(
    conn: &mut Connection,
    asm: &mut MessageAssembler,
    received: &mut Vec<Message>,
    bytes: &mut [u8],
    now: Instant,
) {
    let mut pos = 0;
    loop {
        let r = conn.read(&mut bytes[pos..], now);
        pos += r.consumed;
        match r.event {
            Some(ev) => received.extend(asm.push(ev)),
            None => break,
        }
    }
    assert_eq!(pos, bytes.len(), "no event means all input was consumed");
}

/// The data messages in `received`, in order.
pub fn data(received: &[Message]) -> Vec<Message> {
    received.iter().filter(|m| m.is_data()).cloned().collect()
}
