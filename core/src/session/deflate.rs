//! permessage-deflate in the session (feature `deflate`): compressed chunks from the engine
//! are inflated into bounded output chunks before the application sees them, and outgoing
//! messages are compressed on their way into the write buffer. The rules — bounds, UTF-8
//! after inflation, the per-message choice — are in the [`deflate`](crate::deflate) module
//! docs.
//!
//! Inflating one compressed chunk may take several calls (each fills at most one output
//! chunk); meanwhile its unused input stays in the read buffer at `pending`, which, like a
//! stashed event, keeps the read buffer from being compacted or released.

use alloc::vec::Vec;

use super::stash::{ChunkAt, Stashed};
use super::Session;
use crate::connection::MessageKind;
use crate::deflate::PerMessageDeflate;
use crate::error::{ProtocolError, SendError};
use crate::frame::RSV1;
use crate::utf8::Utf8Validator;

/// The most inflated bytes one event carries: small enough that a bomb is stopped early,
/// large enough that inflating is not dominated by per-call costs.
const INFLATE_CHUNK: usize = 16 * 1024;

/// The permessage-deflate state of a session.
#[derive(Debug)]
pub(super) struct Deflate {
    pub(super) pmd: PerMessageDeflate,
    /// The compressed chunk being inflated: its unused input in the read buffer, its flags.
    pub(super) pending: Option<ChunkAt>,
    /// All input of `pending` is in and it ends the message: the flush tail goes in next.
    finishing: bool,
    /// The current output chunk, which inflated events borrow.
    pub(super) out: Vec<u8>,
    /// Inflated bytes of the current message and of its current frame.
    message_len: u64,
    frame_len: u64,
    /// Inflated text is validated here (the engine sees only compressed bytes).
    utf8: Utf8Validator,
    /// A chunk of the current message went out (so the next is not `first`).
    delivered: bool,
    /// Compressed output of the message being sent, before it is framed.
    scratch: Vec<u8>,
}

impl Deflate {
    pub(super) fn new(pmd: PerMessageDeflate) -> Deflate {
        Deflate {
            pmd,
            pending: None,
            finishing: false,
            out: Vec::new(),
            message_len: 0,
            frame_len: 0,
            utf8: Utf8Validator::new(),
            delivered: false,
            scratch: Vec::new(),
        }
    }

    /// Lets an idle connection hold no buffers (`release_idle_buffers`).
    pub(super) fn release_buffers(&mut self) {
        if self.pending.is_none() {
            self.out = Vec::new();
        }
        self.scratch = Vec::new();
    }

    fn end_message(&mut self) {
        self.pending = None;
        self.finishing = false;
        self.message_len = 0;
        self.frame_len = 0;
        self.utf8.reset();
        self.delivered = false;
    }
}

impl Session {
    /// A compressed chunk from the engine: start inflating it. Returns the first inflated
    /// event, or `None` if it produced nothing yet (or the connection failed).
    pub(super) fn start_inflating(&mut self, at: ChunkAt) -> Option<Stashed> {
        let d = self.deflate.as_mut()?;
        d.pending = Some(at);
        self.inflate_next()
    }

    /// Inflates the pending chunk into one output chunk, checks it, and returns it as an
    /// event (or `None` if there was nothing to deliver).
    pub(super) fn inflate_next(&mut self) -> Option<Stashed> {
        let now = self.rx_time;
        let d = self.deflate.as_mut()?;
        let mut at = d.pending?;
        let config = *self.core.conn.config();
        // Never more output than the message may still grow by, plus one byte to notice.
        let allowed = config.max_message_size.saturating_sub(d.message_len);
        let room = (allowed.saturating_add(1)).min(INFLATE_CHUNK as u64) as usize;
        if d.out.len() < room {
            d.out.resize(room, 0);
        }
        let mut wrote = 0;
        let mut chunk_done = false;
        let mut complete = false;
        let mut result = Ok(());
        if !d.finishing {
            let input = self.rbuf.get(at.start..at.end).unwrap_or(&[]);
            match d.pmd.inflate(input, &mut d.out[..room]) {
                Ok((used, n)) => {
                    at.start += used;
                    wrote = n;
                    // All input in, and zlib holds no more output for it.
                    if at.start >= at.end && n < room {
                        if at.last {
                            d.finishing = true;
                        } else {
                            chunk_done = true;
                        }
                    }
                }
                Err(_) => result = Err(ProtocolError::InvalidCompressedData),
            }
        }
        if result.is_ok() && d.finishing && wrote < room {
            match d.pmd.finish_inflate(&mut d.out[wrote..room]) {
                Ok((n, done)) => {
                    wrote += n;
                    complete = done;
                }
                Err(_) => result = Err(ProtocolError::InvalidCompressedData),
            }
        }
        d.message_len += wrote as u64;
        d.frame_len += wrote as u64;
        let produced = &d.out[..wrote];
        let result = result.and_then(|()| {
            if d.message_len > config.max_message_size {
                Err(ProtocolError::MessageTooLarge {
                    max: config.max_message_size,
                })
            } else if d.frame_len > config.max_frame_payload {
                Err(ProtocolError::FrameTooLarge {
                    len: d.frame_len,
                    max: config.max_frame_payload,
                })
            } else if at.kind == MessageKind::Text
                && (d.utf8.feed(produced).is_err() || (complete && !d.utf8.is_complete()))
            {
                Err(ProtocolError::InvalidUtf8)
            } else {
                Ok(())
            }
        });
        if let Err(error) = result {
            // Nothing of the message reaches the application beyond what it already has; the
            // engine sends our Close and drains.
            d.end_message();
            d.pmd.abandon_inflate();
            self.core.conn.fail_incoming_message(error, now);
            self.core.transmit(now);
            return None;
        }
        let frame_end = at.frame_end && (chunk_done || complete);
        if frame_end {
            d.frame_len = 0;
        }
        let first = !d.delivered;
        if complete {
            d.end_message();
        } else {
            d.pending = if chunk_done { None } else { Some(at) };
            if wrote == 0 {
                return None;
            }
            d.delivered = true;
        }
        Some(Stashed::Data(ChunkAt {
            start: 0,
            end: wrote,
            kind: at.kind,
            first,
            last: complete,
            frame_end,
            rsv: at.rsv,
            inflated: true,
        }))
    }

    /// Encodes a message or fragment, compressed: checked by the engine first, so that what
    /// the compressor took in is always sent (the peer's inflater must see the same stream).
    pub(super) fn send_compressed(
        &mut self,
        kind: MessageKind,
        plain: &[u8],
        fin: bool,
    ) -> Result<(), SendError> {
        let Some(d) = self.deflate.as_mut() else {
            return Err(SendError::Closing);
        };
        if !self.core.is_open() {
            return Err(SendError::Closing);
        }
        self.core.conn.check_fragment(kind, plain, fin)?;
        let mut payload = core::mem::take(&mut d.scratch);
        payload.clear();
        d.pmd.compress(plain, fin, &mut payload);
        let result = self.core.encode(payload.len(), |conn, out| {
            conn.encode_extension_fragment(kind, plain, &payload, RSV1, fin, out)
        });
        if let Some(d) = self.deflate.as_mut() {
            d.scratch = payload;
        }
        result
    }
}
