//! Events decoded ahead of the caller: kept as ranges of the read buffer rather than borrows
//! of it, so that the session can read more while one waits.

use super::*;

/// A decoded event whose payload is a range of the read buffer rather than a borrow of it.
/// A control frame's payload is not copied: it stays in the engine, which reads nothing more
/// until the stashed event is taken, and is fetched from there (this keeps an idle session
/// small: a copy would be up to 128 bytes per connection).
#[derive(Clone, Copy, Debug)]
pub(super) enum Stashed {
    Data(ChunkAt),
    Ping,
    Pong,
    Close,
}

/// A [`DataChunk`] with its payload at `start..end` in the read buffer.
#[derive(Clone, Copy, Debug)]
pub(super) struct ChunkAt {
    pub(super) start: usize,
    pub(super) end: usize,
    pub(super) kind: MessageKind,
    pub(super) first: bool,
    pub(super) last: bool,
    pub(super) frame_end: bool,
    pub(super) rsv: u8,
    /// The payload is in the session's inflated-output buffer, not the read buffer
    /// (permessage-deflate).
    pub(super) inflated: bool,
}

impl Stashed {
    /// `base` is the address of the read buffer the event borrows from.
    pub(super) fn new(event: Event<'_>, base: usize) -> Stashed {
        match event {
            Event::Data(c) => {
                // The payload is a subslice of the read buffer: its offset is the difference
                // of the addresses (no pointer is dereferenced).
                let start = (c.payload.as_ptr() as usize).wrapping_sub(base);
                Stashed::Data(ChunkAt {
                    start,
                    end: start.wrapping_add(c.payload.len()),
                    kind: c.kind,
                    first: c.first,
                    last: c.last,
                    frame_end: c.frame_end,
                    rsv: c.rsv,
                    inflated: false,
                })
            }
            Event::Ping(_) => Stashed::Ping,
            Event::Pong(_) => Stashed::Pong,
            Event::Close(_) => Stashed::Close,
        }
    }

    /// The event again: data from the read buffer (or the inflated output), a control
    /// payload from the engine.
    pub(super) fn event<'r>(
        self,
        rbuf: &'r [u8],
        inflated: &'r [u8],
        conn: &Connection,
    ) -> Event<'r> {
        match self {
            Stashed::Data(at) => Event::Data(at.chunk(rbuf, inflated)),
            Stashed::Ping => Event::Ping(conn.control_payload()),
            Stashed::Pong => Event::Pong(conn.control_payload()),
            Stashed::Close => Event::Close(conn.peer_close()),
        }
    }
}

impl ChunkAt {
    pub(super) fn chunk<'r>(self, rbuf: &'r [u8], inflated: &'r [u8]) -> DataChunk<'r> {
        let source = if self.inflated { inflated } else { rbuf };
        DataChunk {
            kind: self.kind,
            // Always in bounds (the range came from a subslice); never panic regardless.
            payload: source.get(self.start..self.end).unwrap_or(&[]),
            first: self.first,
            last: self.last,
            frame_end: self.frame_end,
            rsv: self.rsv,
        }
    }
}
