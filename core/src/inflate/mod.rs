//! permessage-deflate inflation without an allocator (feature `inflate`): received compressed
//! messages (RFC 7692 §7.2.2) inflated into a window the caller owns, for a client on a
//! microcontroller that offers permessage-deflate with a small `server_max_window_bits` and
//! never compresses what it sends (an uncompressed message is allowed per message, §6).
//!
//! The negotiation is [`handshake::deflate`](crate::handshake::deflate); the alloc-based
//! [`deflate`](https://docs.rs/sockeye-core/latest/sockeye_core/deflate/) module does both
//! directions for servers and desktop clients. This one only receives.
//!
//! # Theory of operation
//!
//! The peer compresses each message as part of one DEFLATE stream, removes the final
//! `00 00 ff ff` of its sync flush, and sets RSV1 on the message's first frame. The driver hands
//! every payload chunk of such a message to [`Inflater::inflate`] as it arrives; at the
//! message's last chunk the inflater appends `00 00 ff ff` itself (§7.2.2). Each call returns how
//! much input it used and a range of the window holding new output: the driver delivers that as
//! a chunk of the message and calls again — with the unused input, or none — until the input is
//! done ([`Inflated::input_done`]) or the message is complete ([`Inflated::complete`]).
//!
//! - **Memory.** The caller owns everything: an [`InflateState`] (miniz_oxide's decompressor,
//!   its Huffman tables and bit buffer: 10 500 bytes on 32-bit targets, see
//!   [`InflateState::SIZE`]) and the window, a power-of-two buffer of at least
//!   2^`server_max_window_bits` bytes that the decompressor writes around and reads its back
//!   references from. A client that offers `server_max_window_bits=9` needs a 512-byte window.
//!   Output is delivered from the window itself, so a chunk is at most the window long and
//!   never wraps; nothing is copied.
//! - **Context takeover.** The window and the decompressor carry over from one message to the
//!   next unless the server agreed to `server_no_context_takeover`, in which case both are reset
//!   after every message. A stream that ends with a final block (BFINAL) is reset too: the next
//!   message starts a new stream, and bytes after the final block fail with 1007.
//! - **Bounds.** Inflated bytes count against `max_message_size`: a message that inflates past
//!   it fails with 1009 ([`ProtocolError::MessageTooLarge`]) after at most one window of output.
//!   Data that is not a DEFLATE stream fails with 1007
//!   ([`ProtocolError::InvalidCompressedData`]).
//! - **UTF-8 after inflation.** The engine cannot check compressed text; the inflater validates
//!   the inflated bytes fail-fast, across chunks and frames ([`Utf8Validator`]), and a text that
//!   ends inside a code point fails with 1007 when the message completes.
//! - **What it cannot see.** miniz_oxide does not check back references against the window on
//!   a wrapping buffer: a server that breaks its own `server_max_window_bits` produces wrong bytes
//!   (caught for text by the UTF-8 check), never a panic or an access outside the window.
//! - The RSV rules (RSV1 only on a data message's first frame, never on a continuation or a
//!   control frame: 1002) are the engine's, once the driver calls
//!   [`Connection::allow_extension_rsv`](crate::Connection::allow_extension_rsv).
//!
//! ```
//! use sockeye_core::inflate::{InflateState, Inflater};
//! use sockeye_core::MessageKind;
//!
//! let mut state = InflateState::new();
//! let mut window = [0u8; 512];
//! // server_max_window_bits=9, context takeover, messages of up to 4 KiB.
//! let mut inflater = Inflater::new(&mut state, &mut window, 9, false, 4096).unwrap();
//! // "hello" compressed by zlib (raw DEFLATE, sync flush, `00 00 ff ff` removed).
//! let payload = [0xca, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00];
//! let mut text = [0u8; 16];
//! let (mut len, mut input) = (0, &payload[..]);
//! loop {
//!     let step = inflater.inflate(MessageKind::Text, input, true).unwrap();
//!     input = &input[step.consumed..];
//!     let out = inflater.output(step.output.clone());
//!     text[len..len + out.len()].copy_from_slice(out);
//!     len += out.len();
//!     if step.complete {
//!         break;
//!     }
//! }
//! assert_eq!(&text[..len], b"hello");
//! ```

use core::fmt;
use core::ops::Range;

use miniz_oxide::inflate::core::inflate_flags::TINFL_FLAG_HAS_MORE_INPUT;
use miniz_oxide::inflate::core::{decompress, DecompressorOxide};
use miniz_oxide::inflate::TINFLStatus;

use crate::connection::MessageKind;
use crate::error::ProtocolError;
use crate::handshake::deflate::{DeflateParams, MAX_WINDOW_BITS, MIN_WINDOW_BITS};
use crate::utf8::Utf8Validator;

/// The bytes a sync flush ends with, removed by the sender and appended by the receiver
/// (RFC 7692 §7.2.1–7.2.2).
const FLUSH_TAIL: [u8; 4] = [0x00, 0x00, 0xff, 0xff];

/// The decompressor's state (miniz_oxide's `DecompressorOxide`: Huffman tables, code lengths,
/// the bit buffer), owned by the caller so that it can live in a `static` or in a connection's
/// storage rather than on the stack. [`SIZE`](Self::SIZE) bytes; an [`Inflater`] resets it in
/// place for every new stream.
#[derive(Clone)]
pub struct InflateState(DecompressorOxide);

impl InflateState {
    /// `size_of::<InflateState>()`: 10 500 bytes on 32-bit targets (the Huffman tables).
    pub const SIZE: usize = core::mem::size_of::<InflateState>();

    /// A decompressor at the start of a stream.
    ///
    /// Out of line on purpose: the value is built in its return slot, so a caller that binds
    /// it to a local of a plain function (or returns it) gets it built where it stays. Moved
    /// into a `static` or into an async function's state it may pass through the stack once
    /// (measured on a Cortex-M0 for `StaticCell::init_with`): 10.5 KB there for a moment.
    #[inline(never)]
    pub fn new() -> InflateState {
        InflateState(DecompressorOxide::new())
    }
}

impl Default for InflateState {
    fn default() -> InflateState {
        InflateState::new()
    }
}

impl fmt::Debug for InflateState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InflateState").finish_non_exhaustive()
    }
}

/// Why a window cannot be used: miniz_oxide wraps around it with a bit mask, and the peer's
/// back references reach 2^`window_bits` bytes behind the current output.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WindowError {
    /// The window's length is not a power of two.
    NotPowerOfTwo,
    /// The window is shorter than 2^`window_bits` (`needed`) bytes.
    TooSmall {
        /// The bytes the negotiated window needs.
        needed: usize,
    },
}

impl fmt::Display for WindowError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WindowError::NotPowerOfTwo => f.write_str("the inflate window is not a power of two"),
            WindowError::TooSmall { needed } => {
                write!(f, "the inflate window needs {needed} bytes")
            }
        }
    }
}

impl core::error::Error for WindowError {}

/// The window bits a power-of-two buffer of `len` bytes can inflate: what a client offers as
/// `server_max_window_bits` for it (8 to 15; `None` below 256 bytes or not a power of two).
pub const fn window_bits_for(len: usize) -> Option<u8> {
    if !len.is_power_of_two() || len < 1 << MIN_WINDOW_BITS {
        return None;
    }
    let bits = len.trailing_zeros();
    Some(if bits > MAX_WINDOW_BITS as u32 {
        MAX_WINDOW_BITS
    } else {
        bits as u8
    })
}

/// What one [`Inflater::inflate`] call did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Inflated {
    /// Input bytes used; call again with the rest.
    pub consumed: usize,
    /// New output: a range of the window ([`Inflater::output`]), possibly empty.
    pub output: Range<usize>,
    /// All input was used and the inflater holds no more output for it: go on with the next
    /// chunk of the message. (Never set at the message's end: call until `complete`.)
    pub input_done: bool,
    /// The message is complete: `output` is its last piece.
    pub complete: bool,
}

/// Inflates the compressed messages of one connection, in a caller-owned window and
/// decompressor state (see the [module docs](self)).
pub struct Inflater<'a> {
    state: &'a mut InflateState,
    window: &'a mut [u8],
    /// Where the next output byte goes in the window.
    pos: usize,
    no_context_takeover: bool,
    max_message_size: u64,
    /// Inflated bytes of the current message.
    message_len: u64,
    utf8: Utf8Validator,
    /// All input of the message is in: the flush tail goes in now (`tail_fed` bytes of it did).
    finishing: bool,
    tail_fed: usize,
    /// The stream ended (a final block) inside the current message.
    ended: bool,
}

impl<'a> Inflater<'a> {
    /// An inflater for a peer that compresses with windows of 2^`window_bits` bytes (its
    /// `max_window_bits`, 8 to 15), resetting after each message if `no_context_takeover`, and
    /// failing messages that inflate past `max_message_size` bytes. `window` must be a power of
    /// two of at least 2^`window_bits` bytes.
    pub fn new(
        state: &'a mut InflateState,
        window: &'a mut [u8],
        window_bits: u8,
        no_context_takeover: bool,
        max_message_size: u64,
    ) -> Result<Inflater<'a>, WindowError> {
        if !window.len().is_power_of_two() {
            return Err(WindowError::NotPowerOfTwo);
        }
        let needed = 1usize << window_bits.clamp(MIN_WINDOW_BITS, MAX_WINDOW_BITS);
        if window.len() < needed {
            return Err(WindowError::TooSmall { needed });
        }
        state.0.init();
        Ok(Inflater {
            state,
            window,
            pos: 0,
            no_context_takeover,
            max_message_size,
            message_len: 0,
            utf8: Utf8Validator::new(),
            finishing: false,
            tail_fed: 0,
            ended: false,
        })
    }

    /// A client's inflater for the parameters the handshake agreed on (the server's window
    /// and context rule, [`ClientResponse::deflate`](crate::handshake::ClientResponse::deflate)).
    pub fn for_client(
        state: &'a mut InflateState,
        window: &'a mut [u8],
        params: DeflateParams,
        max_message_size: u64,
    ) -> Result<Inflater<'a>, WindowError> {
        Inflater::new(
            state,
            window,
            params.server_max_window_bits,
            params.server_no_context_takeover,
            max_message_size,
        )
    }

    /// The window's bytes at `range` (an [`Inflated::output`]); empty if out of range.
    pub fn output(&self, range: Range<usize>) -> &[u8] {
        self.window.get(range).unwrap_or(&[])
    }

    /// Inflates compressed bytes of a `kind` message: `input` is (the unused rest of) one
    /// payload chunk, `last` says the chunk ends the message. Returns what was used and
    /// produced; call again while neither [`Inflated::input_done`] nor
    /// [`Inflated::complete`] is set.
    ///
    /// Errors are the connection's failure, to hand to
    /// [`Connection::fail_incoming_message`](crate::Connection::fail_incoming_message):
    /// [`InvalidCompressedData`](ProtocolError::InvalidCompressedData) (1007),
    /// [`MessageTooLarge`](ProtocolError::MessageTooLarge) (1009) or
    /// [`InvalidUtf8`](ProtocolError::InvalidUtf8) (1007). After one the inflater is reset; it
    /// must not be used for the rest of that connection.
    pub fn inflate(
        &mut self,
        kind: MessageKind,
        input: &[u8],
        last: bool,
    ) -> Result<Inflated, ProtocolError> {
        let result = self.step(kind, input, last);
        if result.is_err() {
            self.reset();
        }
        result
    }

    fn step(
        &mut self,
        kind: MessageKind,
        input: &[u8],
        last: bool,
    ) -> Result<Inflated, ProtocolError> {
        let start = self.pos;
        let (used, wrote, status) = if self.ended {
            // Past the final block only the tail we append may follow: nothing of the peer's.
            if !input.is_empty() {
                return Err(ProtocolError::InvalidCompressedData);
            }
            (0, 0, None)
        } else {
            if !self.finishing && last && input.is_empty() {
                self.finishing = true;
            }
            let feed = if self.finishing {
                FLUSH_TAIL.get(self.tail_fed..).unwrap_or(&[])
            } else {
                input
            };
            let (status, used, wrote) = decompress(
                &mut self.state.0,
                feed,
                self.window,
                self.pos,
                TINFL_FLAG_HAS_MORE_INPUT,
            );
            (used, wrote, Some(status))
        };
        // One call writes `window[pos..pos + wrote]`, never past the window's end.
        let wrote = wrote.min(self.window.len() - start);
        self.pos = (start + wrote) & (self.window.len() - 1);
        let more_output = match status {
            None => false,
            Some(TINFLStatus::HasMoreOutput) => true,
            Some(TINFLStatus::NeedsMoreInput) => false,
            Some(TINFLStatus::Done) => {
                self.ended = true;
                if !self.finishing && used < input.len() {
                    return Err(ProtocolError::InvalidCompressedData);
                }
                false
            }
            Some(_) => return Err(ProtocolError::InvalidCompressedData),
        };
        let consumed = if self.finishing {
            self.tail_fed += used;
            0
        } else {
            used
        };
        self.message_len += wrote as u64;
        if self.message_len > self.max_message_size {
            return Err(ProtocolError::MessageTooLarge {
                max: self.max_message_size,
            });
        }
        let output = start..start + wrote;
        if kind == MessageKind::Text && self.utf8.feed(&self.window[output.clone()]).is_err() {
            return Err(ProtocolError::InvalidUtf8);
        }
        let all_in = consumed >= input.len() && !more_output;
        if all_in && last && !self.finishing {
            // The peer's bytes are in: the flush tail goes in on the next call.
            self.finishing = true;
            return Ok(Inflated {
                consumed,
                output,
                input_done: false,
                complete: false,
            });
        }
        let complete =
            self.finishing && !more_output && (self.ended || self.tail_fed >= FLUSH_TAIL.len());
        if complete {
            if kind == MessageKind::Text && !self.utf8.is_complete() {
                return Err(ProtocolError::InvalidUtf8);
            }
            let keep_window = !(self.no_context_takeover || self.ended);
            self.end_message();
            if !keep_window {
                self.reset();
            }
        }
        Ok(Inflated {
            consumed,
            output,
            input_done: all_in && !last,
            complete,
        })
    }

    fn end_message(&mut self) {
        self.message_len = 0;
        self.utf8.reset();
        self.finishing = false;
        self.tail_fed = 0;
        self.ended = false;
    }

    /// Forgets the current message and the window: the next message starts a new stream.
    fn reset(&mut self) {
        self.end_message();
        self.state.0.init();
        self.pos = 0;
    }
}

impl fmt::Debug for Inflater<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Inflater")
            .field("window", &self.window.len())
            .field("no_context_takeover", &self.no_context_takeover)
            .field("max_message_size", &self.max_message_size)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests;
