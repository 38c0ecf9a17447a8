//! Events decoded ahead of the caller: kept as ranges of the read buffer rather than borrows
//! of it, so that the session can read more while one waits.

use super::*;

/// A decoded event whose payload is a range of the read buffer rather than a borrow of it.
#[derive(Clone, Copy, Debug)]
pub(super) enum Stashed {
    Data(ChunkAt),
    Ping(ControlPayload),
    Pong(ControlPayload),
    Close(CloseFrame),
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
                })
            }
            Event::Ping(p) => Stashed::Ping(p),
            Event::Pong(p) => Stashed::Pong(p),
            Event::Close(c) => Stashed::Close(c),
        }
    }

    pub(super) fn event(self, rbuf: &[u8]) -> Event<'_> {
        match self {
            Stashed::Data(at) => Event::Data(at.chunk(rbuf)),
            Stashed::Ping(p) => Event::Ping(p),
            Stashed::Pong(p) => Event::Pong(p),
            Stashed::Close(c) => Event::Close(c),
        }
    }
}

impl ChunkAt {
    pub(super) fn chunk(self, rbuf: &[u8]) -> DataChunk<'_> {
        DataChunk {
            kind: self.kind,
            // Always in bounds (the range came from a subslice); never panic regardless.
            payload: rbuf.get(self.start..self.end).unwrap_or(&[]),
            first: self.first,
            last: self.last,
            frame_end: self.frame_end,
            rsv: self.rsv,
        }
    }
}
