//! [`InflateStorage`]: the memory for receiving compressed messages (feature `deflate`).

use sockeye_core::handshake::deflate::DeflateOffer;
use sockeye_core::inflate::{window_bits_for, InflateState};

/// The memory a client needs to receive permessage-deflate messages (RFC 7692) without an
/// allocator, owned by the caller next to its [`Storage`](crate::Storage):
///
/// - the decompressor's state ([`InflateState`], 10 500 bytes on 32-bit targets: Huffman
///   tables);
/// - the LZ77 window, `WINDOW` bytes, a power of two from 256 to 32 768. It sets the
///   `server_max_window_bits` that [`connect_deflate`](crate::connect_deflate) offers: 512
///   bytes → 9, 1 KiB → 10. Inflated chunks are handed out from it, so it also bounds a chunk
///   of [`receive_event`](crate::WebSocket::receive_event);
/// - the message buffer, `MESSAGE` bytes, where [`receive`](crate::WebSocket::receive)
///   assembles an inflated message that came out in more than one piece. A compressed message
///   that inflates to more fails the connection with 1009. `MESSAGE` may be 0 for a firmware
///   that only uses [`receive_owned`](crate::WebSocket::receive_owned) or `receive_event`.
///
/// `new` is not `const` (miniz_oxide's decompressor has none), so the storage cannot be laid
/// out at compile time like a [`Storage`](crate::Storage). Bound to a local of a plain
/// function — `main`'s frame, which lives as long as the firmware, then lent to the code that
/// connects — it is built in place. Put in a `static` (`StaticCell::init_with`) or into an
/// async task's state it may pass through the stack once on the way, 11 KB for a moment at
/// start-up: budget for that, or use the first way on a chip with 16 KiB of RAM.
pub struct InflateStorage<const WINDOW: usize, const MESSAGE: usize> {
    pub(crate) state: InflateState,
    pub(crate) window: [u8; WINDOW],
    pub(crate) message: [u8; MESSAGE],
}

impl<const WINDOW: usize, const MESSAGE: usize> InflateStorage<WINDOW, MESSAGE> {
    /// The window bits of `WINDOW`: what the client offers as `server_max_window_bits`.
    pub const WINDOW_BITS: u8 = match window_bits_for(WINDOW) {
        Some(bits) => bits,
        None => panic!("InflateStorage: WINDOW must be a power of two of at least 256 bytes"),
    };

    /// Empty storage. A `WINDOW` that is not a power of two of at least 256 bytes is refused
    /// at compile time.
    #[inline(never)]
    pub fn new() -> Self {
        let _ = Self::WINDOW_BITS;
        InflateStorage {
            state: InflateState::new(),
            window: [0; WINDOW],
            message: [0; MESSAGE],
        }
    }

    /// The offer [`connect_deflate`](crate::connect_deflate) makes: the server's window limited
    /// to `WINDOW` (`server_max_window_bits`), and `client_no_context_takeover`, since the
    /// client never compresses (RFC 7692 §7.1.1.2, §7.1.2).
    pub const fn offer() -> DeflateOffer {
        DeflateOffer {
            server_no_context_takeover: false,
            client_no_context_takeover: true,
            server_max_window_bits: Some(Self::WINDOW_BITS),
            client_max_window_bits: None,
        }
    }
}

impl<const WINDOW: usize, const MESSAGE: usize> Default for InflateStorage<WINDOW, MESSAGE> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const WINDOW: usize, const MESSAGE: usize> core::fmt::Debug
    for InflateStorage<WINDOW, MESSAGE>
{
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("InflateStorage")
            .field("window", &WINDOW)
            .field("message", &MESSAGE)
            .finish()
    }
}
