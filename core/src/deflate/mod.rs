//! permessage-deflate (RFC 7692 §6–7.2), the compression itself (feature `deflate`): a
//! streaming compressor and a bounded, streaming inflater per connection, which
//! [`Session`](crate::session::Session) runs between the engine and the application. The
//! negotiation, which needs no allocator, is [`handshake::deflate`](crate::handshake::deflate).
//!
//! # Theory of operation
//!
//! A compressed message is one DEFLATE stream cut into frames: the sender compresses the
//! message's bytes, ends with a sync flush, removes the flush's final `00 00 ff ff`, and sets
//! RSV1 on the message's first frame only (§7.2.1, §6.1). The receiver inflates the frames'
//! payloads in order as they arrive, appends `00 00 ff ff` at the message's end, and so
//! recovers the bytes (§7.2.2). With *context takeover* the LZ77 window carries over from one
//! message to the next, so later messages may refer to earlier ones; a side that negotiated
//! `*_no_context_takeover` resets its compressor after each message.
//!
//! - **Bounded inflation.** The inflater writes into output chunks no larger than what the
//!   message may still grow by (`max_message_size`, and `max_frame_payload` per frame, count
//!   *inflated* bytes). A few kilobytes that would inflate to gigabytes fail the connection with
//!   1009 after at most one chunk. A flood of tiny or empty fragments costs one inflate call
//!   per frame with payload (the engine reports no event for an empty fragment).
//! - **UTF-8 after inflation.** Text is validated on the inflated bytes, fail-fast (1007),
//!   across chunks and frames. Data that is not a valid DEFLATE stream also fails with 1007
//!   ([`ProtocolError::InvalidCompressedData`](crate::ProtocolError::InvalidCompressedData)).
//! - **Per-message choice.** Messages below [`DeflateSettings::min_size`] go out uncompressed
//!   (RSV1 clear), as does any message the application sends with `send_uncompressed` — for
//!   secrets next to attacker-controlled data (CRIME-style attacks read lengths of compressed
//!   messages). A message handed to the compressor is always sent compressed, so the two
//!   contexts never diverge.
//!
//! # The library: zlib-rs
//!
//! Compression runs on [zlib-rs](https://docs.rs/zlib-rs), a memory-safe Rust port of zlib-ng
//! (no C, no `unsafe` in this crate, `no_std` with `alloc`). It was chosen by measurement over
//! miniz_oxide (`benches/` `deflate`, numbers in `benches/README.md`): faster on both sides for
//! JSON-like messages, and, unlike miniz_oxide, it compresses with any raw window from 2^9 to
//! 2^15 bytes, which `server_max_window_bits` / `client_max_window_bits` require; miniz_oxide
//! always compresses with a 2^15 window. A window of 2^8 is honoured by compressing with 2^9:
//! zlib-family compressors never reach farther back than the window minus 262 bytes, so with
//! 2^9 no distance exceeds 250, within a 256-byte window (a test inflates such output with an
//! exactly-sized window).
//!
//! # Memory per connection
//!
//! zlib's formulas: a compressor holds `2^(window_bits+2) + 2^(mem_level+9)` bytes, an inflater
//! `2^window_bits` bytes of window plus about 7 KiB of state. With context takeover both are
//! kept for the connection's life once the first compressed message went through; without it
//! (the [low-memory mode](DeflateSettings::low_memory)) they exist only while a message is
//! compressed or inflated and are freed after it, so an idle connection holds nothing.
//! zlib-rs allocates more than the formulas for small windows (at least 137 KB per compressor,
//! 47.5 KB per inflater, whatever the window): measured per connection, 419 KiB with context
//! takeover both ways at 2^15, 209 KiB at 2^12 and memLevel 5, 0.9 KiB without context
//! takeover (`benches/README.md`, "permessage-deflate").

use alloc::boxed::Box;
use alloc::vec::Vec;
use core::fmt;

use crate::config::Role;
use crate::handshake::deflate::{DeflateParams, MAX_WINDOW_BITS};

/// The bytes a sync flush ends with, removed from every compressed message by its sender and
/// appended again by its receiver (RFC 7692 §7.2.1–7.2.2).
const FLUSH_TAIL: [u8; 4] = [0x00, 0x00, 0xff, 0xff];

/// How this side compresses, beside what the handshake negotiated.
///
/// ```
/// use sockeye_core::deflate::DeflateSettings;
/// let settings = DeflateSettings::default().with_level(6).with_min_size(64);
/// assert_eq!(settings.level, 6);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct DeflateSettings {
    /// zlib's compression level, 0 (store) to 9 (best). Default 1: for the short, repetitive
    /// messages WebSockets carry it keeps most of the ratio of the default level 6 at a
    /// fraction of the CPU (`benches/README.md`, compressed echo).
    pub level: u8,
    /// zlib's `memLevel`, 1 to 9: the compressor's hash table and buffer sizes (2^(n+9) bytes
    /// in all). Default 8, zlib's default.
    pub mem_level: u8,
    /// Messages shorter than this go out uncompressed (RSV1 clear): compressing a few bytes
    /// costs CPU and rarely saves any. Default 32 bytes.
    pub min_size: usize,
}

impl DeflateSettings {
    /// Level 1, memLevel 8, messages of 32 bytes and more compressed.
    pub const fn new() -> DeflateSettings {
        DeflateSettings {
            level: 1,
            mem_level: 8,
            min_size: 32,
        }
    }

    /// For servers with many connections, together with
    /// [`DeflateConfig::low_memory`](crate::handshake::deflate::DeflateConfig::low_memory)
    /// (no context takeover either way, so no state is kept between messages): memLevel 5
    /// (a 16 KiB rather than 128 KiB hash table and buffer while a message is compressed).
    pub const fn low_memory() -> DeflateSettings {
        DeflateSettings {
            mem_level: 5,
            ..DeflateSettings::new()
        }
    }

    /// Sets [`level`](Self::level) (capped at 9).
    pub const fn with_level(mut self, level: u8) -> DeflateSettings {
        self.level = if level > 9 { 9 } else { level };
        self
    }

    /// Sets [`mem_level`](Self::mem_level) (kept within 1–9).
    pub const fn with_mem_level(mut self, mem_level: u8) -> DeflateSettings {
        self.mem_level = if mem_level < 1 {
            1
        } else if mem_level > 9 {
            9
        } else {
            mem_level
        };
        self
    }

    /// Sets [`min_size`](Self::min_size).
    pub const fn with_min_size(mut self, min_size: usize) -> DeflateSettings {
        self.min_size = min_size;
        self
    }
}

impl Default for DeflateSettings {
    fn default() -> DeflateSettings {
        DeflateSettings::new()
    }
}

/// Compressed data that does not inflate: not a DEFLATE stream, or data behind its end.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InvalidDeflateData;

impl fmt::Display for InvalidDeflateData {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the compressed payload is not a valid DEFLATE stream")
    }
}

impl core::error::Error for InvalidDeflateData {}

/// The permessage-deflate state of one connection: a compressor for what we send and an
/// inflater for what we receive, each with the window and context rule negotiated for its
/// direction.
pub struct PerMessageDeflate {
    params: DeflateParams,
    settings: DeflateSettings,
    compressor: Compressor,
    inflater: Inflater,
}

impl fmt::Debug for PerMessageDeflate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PerMessageDeflate")
            .field("params", &self.params)
            .field("settings", &self.settings)
            .field("compressor_allocated", &self.compressor.state.is_some())
            .field("inflater_allocated", &self.inflater.state.is_some())
            .finish()
    }
}

impl PerMessageDeflate {
    /// The state for an endpoint in `role` that agreed on `params`. Nothing is allocated until
    /// the first message is compressed or inflated.
    pub fn new(params: DeflateParams, role: Role, settings: DeflateSettings) -> PerMessageDeflate {
        let (ours, theirs) = match role {
            Role::Server => (
                (
                    params.server_max_window_bits,
                    params.server_no_context_takeover,
                ),
                (
                    params.client_max_window_bits,
                    params.client_no_context_takeover,
                ),
            ),
            Role::Client => (
                (
                    params.client_max_window_bits,
                    params.client_no_context_takeover,
                ),
                (
                    params.server_max_window_bits,
                    params.server_no_context_takeover,
                ),
            ),
        };
        PerMessageDeflate {
            params,
            settings,
            compressor: Compressor {
                state: None,
                // zlib cannot compress with a raw window of 2^8; 2^9 stays within it (above).
                window_bits: ours.0.clamp(9, MAX_WINDOW_BITS),
                no_context_takeover: ours.1,
                level: settings.level.min(9),
                mem_level: settings.mem_level.clamp(1, 9),
            },
            inflater: Inflater {
                state: None,
                window_bits: theirs.0.clamp(9, MAX_WINDOW_BITS),
                no_context_takeover: theirs.1,
                tail_fed: 0,
                ended: false,
            },
        }
    }

    /// The negotiated parameters.
    pub fn params(&self) -> DeflateParams {
        self.params
    }

    /// This side's compression settings.
    pub fn settings(&self) -> DeflateSettings {
        self.settings
    }

    /// Whether a message of `len` bytes is compressed by default ([`DeflateSettings::min_size`]).
    pub fn compresses(&self, len: usize) -> bool {
        len >= self.settings.min_size
    }

    /// Compresses one fragment of an outgoing message, appending the output to `out`. With
    /// `fin`, the message ends: its flush tail is removed, and the compressor is reset if this
    /// side does not take its context over.
    pub fn compress(&mut self, input: &[u8], fin: bool, out: &mut Vec<u8>) {
        self.compressor.compress(input, fin, out)
    }

    /// Inflates compressed bytes of an incoming message into `out`, returning how many input
    /// bytes were used and how many output bytes were written. All input is used unless `out`
    /// filled up; call again (with the unused input, or none) while it does.
    pub fn inflate(
        &mut self,
        input: &[u8],
        out: &mut [u8],
    ) -> Result<(usize, usize), InvalidDeflateData> {
        self.inflater.inflate(input, out)
    }

    /// Ends an incoming message: inflates the flush tail into `out`, returning the output
    /// written and whether the message is complete. Call again while it is not (`out` filled
    /// up); once it is, the inflater is ready for the next message.
    pub fn finish_inflate(&mut self, out: &mut [u8]) -> Result<(usize, bool), InvalidDeflateData> {
        self.inflater.finish(out)
    }

    /// Forgets an incoming message half inflated (the connection failed): the inflater is
    /// dropped, it will not be used again.
    pub fn abandon_inflate(&mut self) {
        self.inflater.state = None;
    }
}

/// The sending side: one zlib stream, kept across messages with context takeover.
struct Compressor {
    state: Option<Box<zlib_rs::Deflate>>,
    window_bits: u8,
    no_context_takeover: bool,
    level: u8,
    mem_level: u8,
}

impl Compressor {
    fn compress(&mut self, input: &[u8], fin: bool, out: &mut Vec<u8>) {
        let (level, bits, mem_level) = (self.level, self.window_bits, self.mem_level);
        let deflate = self.state.get_or_insert_with(|| {
            Box::new(zlib_rs::Deflate::new_with_config(zlib_rs::DeflateConfig {
                level: i32::from(level),
                // Negative: a raw DEFLATE stream, no zlib header (RFC 7692 §7.2.1).
                window_bits: -i32::from(bits),
                mem_level: i32::from(mem_level),
                ..zlib_rs::DeflateConfig::default()
            }))
        });
        let start = out.len();
        let mut input = input;
        loop {
            // Room for incompressible data (stored blocks add 5 bytes per 16 KiB) and the flush.
            let room = input.len() + input.len() / 1024 + 64;
            let at = out.len();
            out.resize(at + room, 0);
            let before_in = deflate.total_in();
            let before_out = deflate.total_out();
            // The arguments are always valid (a live stream, a flush mode zlib defines), so
            // zlib reports no error here; output then stays as far as it got.
            let _ = deflate.compress(input, &mut out[at..], zlib_rs::DeflateFlush::SyncFlush);
            let used = (deflate.total_in() - before_in) as usize;
            let wrote = (deflate.total_out() - before_out) as usize;
            out.truncate(at + wrote);
            input = &input[used.min(input.len())..];
            // Done when all input went in and the flush did not fill the space it was given.
            if input.is_empty() && wrote < room {
                break;
            }
        }
        if fin {
            if out[start..].ends_with(&FLUSH_TAIL) {
                out.truncate(out.len() - FLUSH_TAIL.len());
            } else if out.len() == start {
                // zlib had nothing to flush (no input since the last flush): the message ends
                // with an empty stored block all the same, whose first byte is 0x00 — the
                // receiver appends the other four (§7.2.3.6). An empty payload would leave
                // the peer's inflater inside a block.
                out.push(0x00);
            }
            if self.no_context_takeover {
                // Nothing carries over: free the state, so an idle connection holds none.
                self.state = None;
            }
        }
    }
}

/// The receiving side: one zlib stream, kept across messages with the peer's context takeover.
struct Inflater {
    state: Option<Box<zlib_rs::Inflate>>,
    window_bits: u8,
    no_context_takeover: bool,
    /// How much of the flush tail went in at the end of the current message.
    tail_fed: usize,
    /// The stream ended inside the current message (a final block, BFINAL): what follows must
    /// be nothing but the tail we append.
    ended: bool,
}

impl Inflater {
    fn stream(&mut self) -> &mut zlib_rs::Inflate {
        let bits = self.window_bits;
        self.state
            .get_or_insert_with(|| Box::new(zlib_rs::Inflate::new(false, bits)))
    }

    fn inflate(
        &mut self,
        input: &[u8],
        out: &mut [u8],
    ) -> Result<(usize, usize), InvalidDeflateData> {
        if self.ended {
            // Bytes after the final block of the stream.
            return if input.is_empty() {
                Ok((0, 0))
            } else {
                Err(InvalidDeflateData)
            };
        }
        let inflate = self.stream();
        let before_in = inflate.total_in();
        let before_out = inflate.total_out();
        let status = inflate.decompress(input, out, zlib_rs::InflateFlush::NoFlush);
        let used = (inflate.total_in() - before_in) as usize;
        let wrote = (inflate.total_out() - before_out) as usize;
        match status {
            Ok(zlib_rs::Status::StreamEnd) => {
                self.ended = true;
                if used < input.len() {
                    return Err(InvalidDeflateData);
                }
            }
            Ok(_) => {}
            Err(_) => return Err(InvalidDeflateData),
        }
        Ok((used, wrote))
    }

    fn finish(&mut self, out: &mut [u8]) -> Result<(usize, bool), InvalidDeflateData> {
        let mut wrote = 0;
        if !self.ended {
            let tail = &FLUSH_TAIL[self.tail_fed..];
            let (used, n) = self.inflate(tail, out)?;
            self.tail_fed += used;
            wrote = n;
            // Output may still be pending inside zlib when `out` filled up.
            if n == out.len() && !out.is_empty() && !self.ended {
                return Ok((wrote, false));
            }
            if self.tail_fed < FLUSH_TAIL.len() && !self.ended {
                return Ok((wrote, false));
            }
        }
        // The message is complete.
        self.tail_fed = 0;
        if self.ended || self.no_context_takeover {
            // After a final block the stream cannot go on; without context takeover nothing
            // carries over: free the state, so an idle connection holds none.
            self.state = None;
            self.ended = false;
        }
        Ok((wrote, true))
    }
}

#[cfg(test)]
mod tests;
