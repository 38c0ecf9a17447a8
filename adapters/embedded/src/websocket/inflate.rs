//! Compressed messages in the [`WebSocket`] (feature `deflate`): the engine's RSV1 chunks go
//! through the core's [`Inflater`] before the application sees them.
//!
//! The engine reports a compressed chunk like any other: its payload lies in `rx`. Inflating
//! it may take several steps (each fills at most the rest of the window); meanwhile its unused
//! input stays in `rx` at `pending`, and the driver's loop runs the next step before it reads
//! anything more, so that input is never overwritten. Each step's output is a range of the
//! window, delivered as a chunk with RSV1 set; `receive` copies the pieces of a message that
//! came out in several into the message buffer.

use core::ops::Range;

use embedded_io_async::{Read, Write};
use sockeye_core::frame::RSV1;
use sockeye_core::inflate::Inflater;
use sockeye_core::{DataChunk, Event, MessageKind, ProtocolError};

use super::{Keep, WebSocket};
use crate::clock::Clock;

/// The receiving side of permessage-deflate.
pub(super) struct Receiving<'b> {
    inflater: Inflater<'b>,
    /// Where `receive` assembles an inflated message that came in several pieces.
    message: &'b mut [u8],
    /// `message[..message_len]`: what is assembled so far.
    message_len: usize,
    /// The compressed chunk being inflated: its unused input in `rx`.
    pending: Option<Pending>,
    /// A chunk of the current message was delivered (the next is not `first`).
    delivered: bool,
}

/// A compressed chunk from the engine, partly inflated.
#[derive(Clone, Copy)]
struct Pending {
    start: usize,
    end: usize,
    kind: MessageKind,
    last: bool,
    frame_end: bool,
}

/// Where `receive` finds an inflated message.
pub(super) enum Assembled {
    /// In the window (the message came out in one piece).
    Window(Range<usize>),
    /// In the message buffer.
    Message(Range<usize>),
    /// Not complete yet, or it did not fit (the connection is failing).
    NotYet,
}

impl<'b> Receiving<'b> {
    pub(super) fn new(inflater: Inflater<'b>, message: &'b mut [u8]) -> Self {
        Receiving {
            inflater,
            message,
            message_len: 0,
            pending: None,
            delivered: false,
        }
    }
}

impl<'b, T: Read + Write, C: Clock> WebSocket<'b, T, C> {
    /// Inflates received permessage-deflate messages with `inflater` (the parameters the
    /// opening handshake agreed on, [`Inflater::for_client`]), assembling those that come
    /// out in several pieces into `message` for [`receive`](Self::receive), and lets the
    /// engine accept RSV1 on a data message's first frame. [`connect_deflate`](crate::connect_deflate)
    /// calls this when the server accepted the offer.
    pub fn with_inflater(mut self, inflater: Inflater<'b>, message: &'b mut [u8]) -> Self {
        self.conn.allow_extension_rsv(RSV1);
        self.inflate = Some(Receiving::new(inflater, message));
        self
    }

    /// Whether received compressed messages are inflated: the opening handshake agreed on
    /// permessage-deflate ([`connect_deflate`](crate::connect_deflate)).
    pub fn inflates(&self) -> bool {
        self.inflate.is_some()
    }

    /// Whether a compressed chunk is still being inflated: its input must stay in `rx`.
    pub(super) fn inflating(&self) -> bool {
        self.inflate.as_ref().is_some_and(|r| r.pending.is_some())
    }

    /// A chunk from the engine: compressed ones start inflating (`None`: nothing to deliver
    /// yet), others pass.
    pub(super) fn take_chunk<K: Keep>(
        &mut self,
        chunk: &DataChunk<'_>,
        range: Range<usize>,
    ) -> Option<Option<(K::Out, Range<usize>)>> {
        let receiving = self.inflate.as_mut()?;
        if chunk.rsv & RSV1 == 0 {
            return None;
        }
        receiving.pending = Some(Pending {
            start: range.start,
            end: range.end,
            kind: chunk.kind,
            last: chunk.last,
            frame_end: chunk.frame_end,
        });
        Some(self.inflate_step::<K>())
    }

    /// One inflation step of the pending chunk: its output as an event with RSV1 and a range
    /// of the window, or `None` if it produced nothing (or the connection failed).
    #[inline(never)]
    pub(super) fn inflate_step<K: Keep>(&mut self) -> Option<(K::Out, Range<usize>)> {
        let now = self.clock.now();
        let receiving = self.inflate.as_mut()?;
        let mut at = receiving.pending?;
        let input = self.rx.get(at.start..at.end).unwrap_or(&[]);
        match receiving.inflater.inflate(at.kind, input, at.last) {
            Ok(step) => {
                at.start += step.consumed;
                let chunk_done = step.complete || step.input_done;
                receiving.pending = if chunk_done { None } else { Some(at) };
                if step.output.is_empty() && !step.complete {
                    return None;
                }
                let first = !receiving.delivered;
                receiving.delivered = !step.complete;
                let chunk = DataChunk {
                    kind: at.kind,
                    payload: &[],
                    first,
                    last: step.complete,
                    frame_end: at.frame_end && chunk_done,
                    rsv: RSV1,
                };
                K::keep(Event::Data(chunk)).map(|out| (out, step.output))
            }
            Err(error) => {
                self.fail_inflated(error, now);
                None
            }
        }
    }

    /// Fails the connection for a message the inflater refused (1007, 1009): nothing more of
    /// it is delivered, the engine sends our Close and drains.
    fn fail_inflated(&mut self, error: ProtocolError, now: sockeye_core::Instant) {
        if let Some(receiving) = self.inflate.as_mut() {
            receiving.pending = None;
            receiving.delivered = false;
            receiving.message_len = 0;
        }
        self.conn.fail_incoming_message(error, now);
    }

    /// The bytes of an inflated chunk (a range of the window).
    pub(super) fn inflated(&self, range: Range<usize>) -> &[u8] {
        match &self.inflate {
            Some(receiving) => receiving.inflater.output(range),
            None => &[],
        }
    }

    /// `receive`'s assembly of an inflated message: a message in one piece stays in the
    /// window; otherwise its pieces are copied into the message buffer. One that does not fit
    /// fails the connection with 1009 (message too big, RFC 6455 §7.4.1).
    pub(super) fn assemble_inflated(
        &mut self,
        chunk: &DataChunk<'_>,
        range: Range<usize>,
    ) -> Assembled {
        let Some(receiving) = self.inflate.as_mut() else {
            return Assembled::NotYet;
        };
        if chunk.first && chunk.last {
            return Assembled::Window(range);
        }
        if chunk.first {
            receiving.message_len = 0;
        }
        let piece = receiving.inflater.output(range);
        let at = receiving.message_len;
        let Some(space) = receiving.message.get_mut(at..at + piece.len()) else {
            let max = receiving.message.len() as u64;
            let now = self.clock.now();
            self.fail_inflated(ProtocolError::MessageTooLarge { max }, now);
            return Assembled::NotYet;
        };
        space.copy_from_slice(piece);
        receiving.message_len += piece.len();
        if chunk.last {
            Assembled::Message(0..core::mem::take(&mut receiving.message_len))
        } else {
            Assembled::NotYet
        }
    }

    /// The assembled message's bytes (a range of the message buffer).
    pub(super) fn assembled(&self, range: Range<usize>) -> &[u8] {
        match &self.inflate {
            Some(receiving) => receiving.message.get(range).unwrap_or(&[]),
            None => &[],
        }
    }
}
