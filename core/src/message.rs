//! Whole messages, for drivers that have an allocator (feature `alloc`).
//!
//! The engine streams payload as borrowed [`DataChunk`]s; most applications want complete
//! messages. [`MessageAssembler`] collects chunks into a [`Message`]. Memory stays bounded by
//! [`Config::max_message_size`](crate::Config::max_message_size), which the engine enforces
//! before a byte of an oversized message is delivered.

use alloc::string::String;
use alloc::vec::Vec;

use crate::close::CloseFrame;
use crate::connection::{DataChunk, Event, MessageKind};

/// A complete message or control frame from the peer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Message {
    /// A text message (validated UTF-8).
    Text(String),
    /// A binary message.
    Binary(Vec<u8>),
    /// A Ping; the engine already queued the Pong.
    Ping(Vec<u8>),
    /// A Pong.
    Pong(Vec<u8>),
    /// The peer's Close frame; the connection's [`Closure`](crate::Closure) follows.
    Close(CloseFrame),
}

impl Message {
    /// The payload bytes (the reason for Close).
    pub fn as_bytes(&self) -> &[u8] {
        match self {
            Message::Text(s) => s.as_bytes(),
            Message::Binary(b) | Message::Ping(b) | Message::Pong(b) => b,
            Message::Close(c) => c.reason().as_bytes(),
        }
    }

    /// Whether this is a text or binary message.
    pub fn is_data(&self) -> bool {
        matches!(self, Message::Text(_) | Message::Binary(_))
    }
}

/// Collects the chunks of a message.
#[derive(Clone, Debug, Default)]
pub struct MessageAssembler {
    buf: Vec<u8>,
}

impl MessageAssembler {
    /// An empty assembler.
    pub const fn new() -> Self {
        MessageAssembler { buf: Vec::new() }
    }

    /// Takes one engine event; returns a message when one is complete.
    pub fn push(&mut self, event: Event<'_>) -> Option<Message> {
        match event {
            Event::Data(chunk) => self.push_chunk(chunk),
            Event::Ping(p) => Some(Message::Ping(p.to_vec())),
            Event::Pong(p) => Some(Message::Pong(p.to_vec())),
            Event::Close(c) => Some(Message::Close(c)),
        }
    }

    /// Takes one data chunk; returns the message when `chunk.last` completes it.
    pub fn push_chunk(&mut self, chunk: DataChunk<'_>) -> Option<Message> {
        if chunk.first {
            self.buf.clear();
        }
        if !chunk.last {
            crate::copy::extend(&mut self.buf, chunk.payload);
            return None;
        }
        if self.buf.is_empty() {
            // A one-chunk message gets an exact-size buffer, not one with a capacity left over
            // from an earlier, larger message.
            self.buf = Vec::with_capacity(chunk.payload.len());
        }
        crate::copy::extend(&mut self.buf, chunk.payload);
        let data = core::mem::take(&mut self.buf);
        Some(match chunk.kind {
            MessageKind::Binary => Message::Binary(data),
            // The engine validated the text already (unless an extension claimed the message,
            // in which case the extension hands over decoded text); check again rather than
            // trust, since this costs one fast pass.
            MessageKind::Text => match String::from_utf8(data) {
                Ok(s) => Message::Text(s),
                Err(e) => Message::Binary(e.into_bytes()),
            },
        })
    }

    /// Makes room for `additional` more bytes of the message being assembled, so that a large
    /// message is copied once into a buffer of the right size rather than into a growing one.
    pub fn reserve(&mut self, additional: usize) {
        self.buf.reserve(additional);
    }

    /// Bytes of an incomplete message held so far.
    pub fn pending(&self) -> usize {
        self.buf.len()
    }

    /// Drops an incomplete message (e.g. after the connection failed).
    pub fn clear(&mut self) {
        self.buf.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Config, Connection, Frame, Instant};

    #[test]
    fn assembles_fragmented_text_and_passes_control_frames() {
        let now = Instant::ZERO;
        let mut c = Connection::client(Config::default(), now, 3);
        let mut s = Connection::server(Config::default(), now);
        let mut wire = alloc::vec![0u8; 256];
        let mut n = 0;
        n += c
            .encode_fragment(
                MessageKind::Text,
                "hé".as_bytes().get(..2).unwrap(),
                false,
                &mut wire[n..],
            )
            .unwrap();
        n += c.encode(Frame::Ping(b"p"), &mut wire[n..]).unwrap();
        n += c
            .encode_fragment(
                MessageKind::Text,
                &"hé".as_bytes()[2..],
                true,
                &mut wire[n..],
            )
            .unwrap();
        n += c
            .encode(Frame::Binary(b"\x00\x01"), &mut wire[n..])
            .unwrap();
        let mut asm = MessageAssembler::new();
        let mut got = Vec::new();
        let mut pos = 0;
        while let Some(ev) = {
            let r = s.read(&mut wire[pos..n], now);
            pos += r.consumed;
            r.event
        } {
            got.extend(asm.push(ev));
        }
        assert_eq!(
            got,
            alloc::vec![
                Message::Ping(b"p".to_vec()),
                Message::Text("hé".into()),
                Message::Binary(alloc::vec![0, 1])
            ]
        );
    }
}
