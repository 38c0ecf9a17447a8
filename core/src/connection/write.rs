//! The write path: application data and the engine's own control frames become frames in
//! caller buffers, masked by clients (§5.3).

use super::closing::State;
use super::{Connection, Frame, MessageKind};
use crate::config::Role;
use crate::error::SendError;
use crate::frame::{FrameHeader, OpCode, MAX_CONTROL_PAYLOAD, MAX_HEADER_LEN};
use crate::mask::mask_copy;
use crate::time::Instant;
use crate::utf8::Utf8Validator;

impl Connection {
    /// Bytes a frame with `payload_len` bytes of payload takes on the wire in this role.
    pub fn frame_len(&self, payload_len: usize) -> usize {
        let ext = if payload_len < 126 {
            0
        } else if payload_len <= u16::MAX as usize {
            2
        } else {
            8
        };
        let mask = if self.role == Role::Client { 4 } else { 0 };
        2 + ext + mask + payload_len
    }

    /// Encodes a complete message or a Ping/Pong into `out`, returning the bytes written.
    ///
    /// Clients mask the payload as they copy it. Fails without changing any state if the
    /// connection is closing, a fragmented message is in progress (for Text/Binary), a control
    /// payload exceeds 125 bytes, or `out` is too small ([`frame_len`](Self::frame_len) says
    /// how much is needed).
    pub fn encode(&mut self, frame: Frame<'_>, out: &mut [u8]) -> Result<usize, SendError> {
        self.check_can_send()?;
        let (opcode, payload) = match frame {
            Frame::Text(s) => (OpCode::Text, s.as_bytes()),
            Frame::Binary(b) => (OpCode::Binary, b),
            Frame::Ping(p) => (OpCode::Ping, p),
            Frame::Pong(p) => (OpCode::Pong, p),
        };
        if opcode.is_control() {
            if payload.len() > MAX_CONTROL_PAYLOAD {
                return Err(SendError::ControlPayloadTooLong { len: payload.len() });
            }
        } else if self.sending.is_some() {
            return Err(SendError::MessageInProgress);
        }
        self.write_frame(opcode, true, payload, out)
    }

    /// Encodes only the header of a complete text or binary message whose payload the caller
    /// owns and writes right after it, masking `payload` in place for a client: a large
    /// message goes out without being copied. Returns the header's length. Checks like
    /// [`encode`](Self::encode); the caller guarantees that a text payload is UTF-8 (it comes
    /// from a `String`).
    #[cfg(feature = "alloc")]
    pub(crate) fn encode_header_for(
        &mut self,
        kind: MessageKind,
        payload: &mut [u8],
        header: &mut [u8; MAX_HEADER_LEN],
    ) -> Result<usize, SendError> {
        self.check_can_send()?;
        if self.sending.is_some() {
            return Err(SendError::MessageInProgress);
        }
        let mask = self.client_mask();
        let h = FrameHeader {
            fin: true,
            rsv: 0,
            opcode: kind.opcode(),
            mask,
            payload_len: payload.len() as u64,
        }
        .encode(header);
        if let Some(key) = mask {
            crate::mask::apply_mask(payload, key, 0);
        }
        Ok(h)
    }

    /// Encodes one fragment of a message (§5.4): the first call starts a `kind` message, the
    /// call with `fin` ends it. Control frames may be sent between fragments. For text, the
    /// fragments together must be valid UTF-8; a code point may be split across them.
    pub fn encode_fragment(
        &mut self,
        kind: MessageKind,
        payload: &[u8],
        fin: bool,
        out: &mut [u8],
    ) -> Result<usize, SendError> {
        self.check_can_send()?;
        let (opcode, mut utf8) = match self.sending {
            None => (kind.opcode(), Utf8Validator::new()),
            Some(k) if k == kind => (OpCode::Continuation, self.send_utf8),
            Some(_) => return Err(SendError::MessageInProgress),
        };
        if kind == MessageKind::Text
            && (utf8.feed(payload).is_err() || (fin && !utf8.is_complete()))
        {
            return Err(SendError::InvalidUtf8);
        }
        let n = self.write_frame(opcode, fin, payload, out)?;
        self.sending = if fin { None } else { Some(kind) };
        self.send_utf8 = utf8;
        Ok(n)
    }

    /// Checks, without changing any state, that a fragment of `plain` bytes could be sent now
    /// with [`encode_extension_fragment`](Self::encode_extension_fragment): an extension
    /// (permessage-deflate) calls it before transforming the payload, so that a payload it
    /// transformed is never refused afterwards — its state would no longer match the peer's.
    pub fn check_fragment(
        &self,
        kind: MessageKind,
        plain: &[u8],
        fin: bool,
    ) -> Result<(), SendError> {
        self.check_can_send()?;
        let mut utf8 = match self.sending {
            None => Utf8Validator::new(),
            Some(k) if k == kind => self.send_utf8,
            Some(_) => return Err(SendError::MessageInProgress),
        };
        if kind == MessageKind::Text && (utf8.feed(plain).is_err() || (fin && !utf8.is_complete()))
        {
            return Err(SendError::InvalidUtf8);
        }
        Ok(())
    }

    /// Encodes one fragment of a message whose payload a negotiated extension transformed
    /// (RFC 6455 §5.8, §9): `payload` is what goes on the wire, `plain` what the application
    /// gave (checked like [`encode_fragment`](Self::encode_fragment): UTF-8 for text, message
    /// order), and `rsv` the extension's bits, set on the message's first frame only — RFC 7692
    /// §6.1 sets RSV1 there for a compressed message. A whole message is one call with `fin`.
    pub fn encode_extension_fragment(
        &mut self,
        kind: MessageKind,
        plain: &[u8],
        payload: &[u8],
        rsv: u8,
        fin: bool,
        out: &mut [u8],
    ) -> Result<usize, SendError> {
        self.check_can_send()?;
        let (opcode, mut utf8, rsv) = match self.sending {
            None => (kind.opcode(), Utf8Validator::new(), rsv & 0b111),
            Some(k) if k == kind => (OpCode::Continuation, self.send_utf8, 0),
            Some(_) => return Err(SendError::MessageInProgress),
        };
        if kind == MessageKind::Text && (utf8.feed(plain).is_err() || (fin && !utf8.is_complete()))
        {
            return Err(SendError::InvalidUtf8);
        }
        let needed = self.frame_len(payload.len());
        let out = out
            .get_mut(..needed)
            .ok_or(SendError::BufferTooSmall { needed })?;
        let mask = self.client_mask();
        encode_frame(opcode, fin, rsv, mask, payload, out);
        self.sending = if fin { None } else { Some(kind) };
        self.send_utf8 = utf8;
        Ok(needed)
    }

    /// Writes the frames the engine itself must send — a Pong for the latest Ping, a keepalive
    /// Ping, our Close — into `out`, returning the bytes written (0 when there is nothing).
    ///
    /// Call it after every `read`, `close` and `handle_timeout`, and write its output before
    /// any further data frames. Frames are never split: give it at least
    /// [`MAX_CONTROL_FRAME_LEN`](crate::frame::MAX_CONTROL_FRAME_LEN) bytes per frame, and call
    /// again if it filled `out`.
    pub fn poll_transmit(&mut self, out: &mut [u8], now: Instant) -> usize {
        let mut n = 0;
        if self.state == State::Open {
            if self.pong_due {
                match self.write_outbox(OpCode::Pong, &mut out[n..]) {
                    Ok(w) => {
                        n += w;
                        self.pong_due = false;
                    }
                    Err(_) => return n,
                }
            }
            if self.ping_due {
                let stamp = self.ping_outstanding.unwrap_or(now);
                match self.write_frame(
                    OpCode::Ping,
                    true,
                    &stamp.as_nanos().to_be_bytes(),
                    &mut out[n..],
                ) {
                    Ok(w) => {
                        n += w;
                        self.ping_due = false;
                        self.last_ping = Some(stamp);
                    }
                    Err(_) => return n,
                }
            }
        }
        if self.close_queued && !self.close_sent && self.state != State::Closed {
            if let Ok(w) = self.write_outbox(OpCode::Close, &mut out[n..]) {
                n += w;
                self.close_sent = true;
                self.check_handshake(now);
            }
        }
        n
    }

    /// Whether `poll_transmit` has something to write.
    pub fn wants_transmit(&self) -> bool {
        (self.state == State::Open && (self.pong_due || self.ping_due))
            || (self.close_queued && !self.close_sent && self.state != State::Closed)
    }

    fn check_can_send(&self) -> Result<(), SendError> {
        if self.state == State::Open {
            Ok(())
        } else {
            Err(SendError::Closing)
        }
    }

    fn write_frame(
        &mut self,
        opcode: OpCode,
        fin: bool,
        payload: &[u8],
        out: &mut [u8],
    ) -> Result<usize, SendError> {
        let needed = self.frame_len(payload.len());
        let out = out
            .get_mut(..needed)
            .ok_or(SendError::BufferTooSmall { needed })?;
        let mask = self.client_mask();
        encode_frame(opcode, fin, 0, mask, payload, out);
        Ok(needed)
    }

    /// Writes the control frame whose payload waits in the outbox (our Pong or Close).
    fn write_outbox(&mut self, opcode: OpCode, out: &mut [u8]) -> Result<usize, SendError> {
        let needed = self.frame_len(self.outbox.len());
        let out = out
            .get_mut(..needed)
            .ok_or(SendError::BufferTooSmall { needed })?;
        let mask = self.client_mask();
        encode_frame(opcode, true, 0, mask, &self.outbox, out);
        Ok(needed)
    }

    /// A fresh masking key for a client's frame (§5.3); servers do not mask.
    fn client_mask(&mut self) -> Option<[u8; 4]> {
        match self.role {
            Role::Client => Some(self.next_mask()),
            Role::Server => None,
        }
    }

    /// SplitMix64: fast, and unpredictable to a script that cannot see the seed (§10.3 asks
    /// that masks not be predictable by the application choosing payloads).
    fn next_mask(&mut self) -> [u8; 4] {
        self.rng = self.rng.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.rng;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        (z as u32).to_ne_bytes()
    }
}

/// Encodes a frame with `payload` into `out`, which is exactly as long as the frame.
fn encode_frame(
    opcode: OpCode,
    fin: bool,
    rsv: u8,
    mask: Option<[u8; 4]>,
    payload: &[u8],
    out: &mut [u8],
) {
    let header = FrameHeader {
        fin,
        rsv,
        opcode,
        mask,
        payload_len: payload.len() as u64,
    };
    let limit = MAX_HEADER_LEN.min(out.len());
    let h = header.encode(&mut out[..limit]);
    let body = &mut out[h..];
    match mask {
        // One pass: mask while copying.
        Some(key) => mask_copy(body, payload, key),
        None => crate::copy::copy(body, payload),
    }
}
