//! Unpredictable numbers for masking keys and handshake nonces, without a dependency.
//!
//! RFC 6455 §10.3 asks for masking keys a script cannot predict, and §4.1 for a random
//! `Sec-WebSocket-Key`. std's `RandomState` is keyed from the operating system's random source
//! (once per thread, then varied per instance); SipHash under such a key is a pseudorandom
//! function, so hashing a per-process counter and the time with it gives values an outsider
//! cannot predict.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::SystemTime;

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// A fresh unpredictable 64-bit value.
pub fn u64() -> u64 {
    let mut hasher = RandomState::new().build_hasher();
    hasher.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    if let Ok(t) = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH) {
        hasher.write_u128(t.as_nanos());
    }
    hasher.finish()
}

/// 16 unpredictable bytes: the nonce of a `Sec-WebSocket-Key`.
pub fn nonce() -> [u8; 16] {
    let mut out = [0u8; 16];
    out[..8].copy_from_slice(&u64().to_ne_bytes());
    out[8..].copy_from_slice(&u64().to_ne_bytes());
    out
}

#[cfg(test)]
mod tests {
    use std::vec::Vec;

    #[test]
    fn values_differ() {
        let a: Vec<u64> = (0..64).map(|_| super::u64()).collect();
        let mut b = a.clone();
        b.sort_unstable();
        b.dedup();
        assert_eq!(a.len(), b.len());
        assert_ne!(super::nonce(), super::nonce());
    }
}
