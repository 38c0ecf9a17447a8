//! The read path: bytes from the transport become [`Event`]s, unmasked in place. The frame
//! and message rules (§5.1–5.5, §8.1) are checked here; a violation is handed to `fail` in
//! `closing`, and the rest of the input is then skipped or ignored.

use super::closing::{PeerClose, State};
use super::{Connection, ControlPayload, DataChunk, Event, MessageKind, Read};
use crate::close::CloseFrame;
use crate::config::Role;
use crate::error::ProtocolError;
use crate::frame::{header_len, Decoded, FrameHeader, OpCode};
use crate::mask::apply_mask;
use crate::time::Instant;

/// What the receive side expects next.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Rx {
    /// A frame header; `header_len` bytes of it are buffered in `control`.
    Header,
    /// Payload of a data frame, delivered as it arrives.
    Data,
    /// Payload of a control frame, collected in `control`.
    Control,
    /// Payload of a frame we drop unread (draining after failing the connection).
    Skip,
    /// Nothing more is read: the peer's Close arrived.
    Discard,
    /// Nothing more is read: frame boundaries are unknown, or the frame is beyond the limit.
    /// Once our Close is out, the connection is over.
    Lost,
}

/// The inbound frame being received.
#[derive(Clone, Copy, Debug)]
pub(super) struct InFrame {
    pub(super) opcode: OpCode,
    pub(super) fin: bool,
    pub(super) mask: Option<[u8; 4]>,
    pub(super) len: u64,
    pub(super) done: u64,
}

/// The inbound message being received.
#[derive(Clone, Copy, Debug)]
pub(super) struct InMessage {
    pub(super) kind: MessageKind,
    pub(super) rsv: u8,
    /// Sum of the payload lengths of its frames so far (for the size limit).
    pub(super) len: u64,
    /// A chunk of it has been delivered (so the next one is not `first`).
    pub(super) delivered: bool,
}

/// An internal event whose payload is a range of the input, so that the borrow of the input can
/// be taken once, after the loop in `read`. Control payloads stay in `control` until `read`
/// builds the event, so this stays small on the stack.
enum Step {
    Data {
        start: usize,
        end: usize,
        last: bool,
        frame_end: bool,
        first: bool,
        kind: MessageKind,
        rsv: u8,
    },
    Ping,
    Pong,
    Close,
}

impl Step {
    /// The same step with its payload range moved `by` bytes later in the input.
    fn shifted(mut self, by: usize) -> Step {
        if let Step::Data { start, end, .. } = &mut self {
            *start += by;
            *end += by;
        }
        self
    }
}

/// What [`Connection::read_whole_message`] did.
enum Whole {
    /// Not its case: take the general path.
    No,
    /// A whole message, `len` bytes of input with its header.
    Message { len: usize, step: Step },
    /// A whole text message that was not UTF-8: the connection failed; `len` bytes consumed.
    Failed { len: usize },
}

impl Connection {
    /// Processes bytes received from the transport.
    ///
    /// Returns how many bytes were consumed and at most one event. Data payload is unmasked in
    /// place in `input` and the event borrows it, so call `read` again with
    /// `&mut input[consumed..]` after handling the event, until the event is `None` — which
    /// means every byte was consumed (partial headers and control frames are kept inside the
    /// engine). Protocol violations fail the connection: the engine queues a Close with the
    /// right code (see [`failure`](Self::failure)) and drains input until the peer answers.
    pub fn read<'a>(&mut self, input: &'a mut [u8], now: Instant) -> Read<'a> {
        if self.state == State::Closed {
            return Read {
                consumed: input.len(),
                event: None,
            };
        }
        if !input.is_empty() && !matches!(self.rx, Rx::Discard | Rx::Lost) {
            self.last_inbound = now;
            self.received_any = true;
            self.ping_outstanding = None;
        }
        let (consumed, step) = self.read_step(input, now);
        let event = step.map(|step| match step {
            Step::Data {
                start,
                end,
                last,
                frame_end,
                first,
                kind,
                rsv,
            } => Event::Data(DataChunk {
                kind,
                payload: &input[start..end],
                first,
                last,
                frame_end,
                rsv,
            }),
            Step::Ping => Event::Ping(self.control_payload()),
            Step::Pong => Event::Pong(self.control_payload()),
            Step::Close => Event::Close(self.peer_close()),
        });
        Read { consumed, event }
    }

    fn read_step(&mut self, input: &mut [u8], now: Instant) -> (usize, Option<Step>) {
        let mut pos = 0;
        loop {
            match self.rx {
                Rx::Discard | Rx::Lost => return (input.len(), None),
                Rx::Header => {
                    if pos == input.len() {
                        return (pos, None);
                    }
                    if self.header_len == 0 {
                        match self.read_whole_message(&mut input[pos..], now) {
                            Whole::Message { len, step } => {
                                return (pos + len, Some(step.shifted(pos)));
                            }
                            Whole::Failed { len } => {
                                pos += len;
                                continue;
                            }
                            Whole::No => {}
                        }
                    }
                    // The first header byte, for the opcode of a header that fails.
                    let first = if self.header_len == 0 {
                        input[pos]
                    } else {
                        self.control[0]
                    };
                    let decoded = if self.header_len == 0 {
                        match FrameHeader::decode(&input[pos..]) {
                            Ok(Decoded::Header(h, n)) => {
                                pos += n;
                                Ok(h)
                            }
                            Ok(Decoded::Incomplete { .. }) => {
                                let rest = &input[pos..];
                                self.control[..rest.len()].copy_from_slice(rest);
                                self.header_len = rest.len() as u8;
                                return (input.len(), None);
                            }
                            Err(e) => {
                                let skip = skip_len(&input[pos..]);
                                if let Some((hlen, _)) = skip {
                                    pos += hlen;
                                }
                                Err((e, skip))
                            }
                        }
                    } else {
                        let have = self.header_len as usize;
                        let needed = if have < 2 {
                            2
                        } else {
                            header_len([self.control[0], self.control[1]])
                        };
                        let take = (needed - have).min(input.len() - pos);
                        self.control[have..have + take].copy_from_slice(&input[pos..pos + take]);
                        self.header_len += take as u8;
                        pos += take;
                        if (self.header_len as usize) < needed {
                            continue;
                        }
                        let buffered = &self.control[..self.header_len as usize];
                        match FrameHeader::decode(buffered) {
                            Ok(Decoded::Header(h, _)) => {
                                self.header_len = 0;
                                Ok(h)
                            }
                            // The first two bytes just arrived and call for more.
                            Ok(Decoded::Incomplete { .. }) => continue,
                            Err(e) => {
                                let skip = skip_len(buffered);
                                self.header_len = 0;
                                Err((e, skip))
                            }
                        }
                    };
                    let result = decoded.and_then(|h| {
                        self.begin_frame(h)
                            .map_err(|e| (e, Some((0, h.payload_len))))
                    });
                    if let Err((e, skip)) = result {
                        self.fail(e, now);
                        if first & 0x0F == OpCode::Close.as_u8() {
                            // A Close too long or fragmented is still the peer's Close: it
                            // sends no other, as in `control_complete`.
                            self.peer_close_was_invalid(now);
                            continue;
                        }
                        match skip {
                            // Framing intact: drop the frame unread, look for the peer's Close.
                            Some((_, len)) if len <= self.config.max_frame_payload => {
                                self.skip(len)
                            }
                            // An unusable length, or more than we ever read in one frame.
                            _ => self.lose_framing(now),
                        }
                        continue;
                    }
                    if self.frame.len == 0 {
                        if let Some(step) = self.frame_complete(pos, pos, now) {
                            return (pos, Some(step));
                        }
                    }
                }
                Rx::Data => {
                    let avail = input.len() - pos;
                    if avail == 0 {
                        return (pos, None);
                    }
                    let n = (self.frame.len - self.frame.done).min(avail as u64) as usize;
                    let start = pos;
                    let chunk = &mut input[start..start + n];
                    if let Some(key) = self.frame.mask {
                        apply_mask(chunk, key, (self.frame.done % 4) as usize);
                    }
                    pos += n;
                    self.frame.done += n as u64;
                    let message = self.message.unwrap_or(InMessage {
                        kind: MessageKind::Binary,
                        rsv: 0,
                        len: 0,
                        delivered: false,
                    });
                    if message.kind == MessageKind::Text
                        && message.rsv == 0
                        && self.utf8.feed(chunk).is_err()
                    {
                        self.fail(ProtocolError::InvalidUtf8, now);
                        self.skip(self.frame.len - self.frame.done);
                        continue;
                    }
                    if self.frame.done == self.frame.len {
                        if let Some(step) = self.frame_complete(start, pos, now) {
                            return (pos, Some(step));
                        }
                        continue;
                    }
                    if let Some(m) = &mut self.message {
                        m.delivered = true;
                    }
                    return (
                        pos,
                        Some(Step::Data {
                            start,
                            end: pos,
                            last: false,
                            frame_end: false,
                            first: !message.delivered,
                            kind: message.kind,
                            rsv: message.rsv,
                        }),
                    );
                }
                Rx::Control => {
                    let avail = input.len() - pos;
                    if avail == 0 {
                        return (pos, None);
                    }
                    let have = self.control_len as usize;
                    let n = (self.frame.len as usize - have).min(avail);
                    self.control[have..have + n].copy_from_slice(&input[pos..pos + n]);
                    if let Some(key) = self.frame.mask {
                        apply_mask(&mut self.control[have..have + n], key, have);
                    }
                    self.control_len += n as u8;
                    self.frame.done += n as u64;
                    pos += n;
                    if self.frame.done == self.frame.len {
                        if let Some(step) = self.frame_complete(pos, pos, now) {
                            return (pos, Some(step));
                        }
                    }
                }
                Rx::Skip => {
                    let avail = (input.len() - pos) as u64;
                    let n = (self.frame.len - self.frame.done).min(avail);
                    pos += n as usize;
                    self.frame.done += n;
                    if self.frame.done == self.frame.len {
                        self.rx = Rx::Header;
                    } else {
                        return (pos, None);
                    }
                }
            }
        }
    }

    /// The fast path for the common case, taken at a frame boundary: a whole message in one
    /// frame (FIN, text or binary, no RSV bits, 7- or 16-bit length, masked as the role
    /// requires) whose payload is all in `input`, within the size limits, outside a fragmented
    /// message and with no failure pending. It leaves the connection exactly as the general
    /// path (`FrameHeader::decode`, `begin_frame`, `Rx::Data`, `frame_complete`) would, in one
    /// pass and without its per-frame bookkeeping; every other case returns [`Whole::No`] and
    /// takes the general path, which handles them all.
    #[inline(always)]
    fn read_whole_message(&mut self, input: &mut [u8], now: Instant) -> Whole {
        // Without the feature `fast-paths` (size-optimised firmware) the general path does all.
        if !cfg!(feature = "fast-paths") {
            return Whole::No;
        }
        let [b0, b1, ..] = *input else {
            return Whole::No;
        };
        let opcode = b0 & 0x0F;
        // FIN set, RSV clear (0x8_), a data opcode; a new message; not draining.
        if b0 & 0xF0 != 0x80
            || !(opcode == 0x1 || opcode == 0x2)
            || self.message.is_some()
            || self.failure.is_some()
        {
            return Whole::No;
        }
        let masked = b1 & 0x80 != 0;
        if masked != (self.role == Role::Server) {
            return Whole::No;
        }
        let (len, at) = match (b1 & 0x7F, input.get(2..4)) {
            (126, Some(&[hi, lo])) => (u16::from_be_bytes([hi, lo]) as usize, 4),
            (n, _) if n < 126 => (n as usize, 2),
            _ => return Whole::No,
        };
        // A 16-bit length must be at least 126 (§5.2, minimal encoding): else the general
        // path reports it.
        if at == 4 && len < 126
            || len as u64 > self.config.max_frame_payload
            || len as u64 > self.config.max_message_size
        {
            return Whole::No;
        }
        let (mask, start) = match (masked, input.get(at..at + 4)) {
            (true, Some(&[k0, k1, k2, k3])) => (Some([k0, k1, k2, k3]), at + 4),
            (false, _) => (None, at),
            _ => return Whole::No,
        };
        let end = start + len;
        let Some(payload) = input.get_mut(start..end) else {
            return Whole::No;
        };
        if let Some(key) = mask {
            apply_mask(payload, key, 0);
        }
        let (kind, opcode) = if opcode == 0x1 {
            (MessageKind::Text, OpCode::Text)
        } else {
            (MessageKind::Binary, OpCode::Binary)
        };
        self.frame = InFrame {
            opcode,
            fin: true,
            mask,
            len: len as u64,
            done: len as u64,
        };
        self.control_len = 0;
        self.utf8.reset();
        if kind == MessageKind::Text && !crate::utf8::is_valid(payload) {
            // As `Rx::Data` does: fail the connection; nothing of the frame is left to skip.
            self.fail(ProtocolError::InvalidUtf8, now);
            self.skip(0);
            return Whole::Failed { len: end };
        }
        Whole::Message {
            len: end,
            step: Step::Data {
                start,
                end,
                last: true,
                frame_end: true,
                first: true,
                kind,
                rsv: 0,
            },
        }
    }

    /// Applies the connection-level rules to a new frame's header (§5.1, §5.2, §5.4, limits)
    /// and prepares to receive its payload.
    fn begin_frame(&mut self, h: FrameHeader) -> Result<(), ProtocolError> {
        self.frame = InFrame {
            opcode: h.opcode,
            fin: h.fin,
            mask: h.mask,
            len: h.payload_len,
            done: 0,
        };
        self.control_len = 0;
        if self.failure.is_some() {
            // Draining after we failed the connection: only a Close matters now. A data frame
            // beyond the limit is not drained either: the caller then gives up on the framing.
            if h.opcode.is_control() {
                self.rx = Rx::Control;
            } else if h.payload_len > self.config.max_frame_payload {
                return Err(ProtocolError::FrameTooLarge {
                    len: h.payload_len,
                    max: self.config.max_frame_payload,
                });
            } else {
                self.rx = Rx::Skip;
            }
            return Ok(());
        }
        let allowed = if h.opcode == OpCode::Text || h.opcode == OpCode::Binary {
            self.config.extension_rsv
        } else {
            0
        };
        if h.rsv & !allowed != 0 {
            return Err(ProtocolError::ReservedBits(h.rsv & !allowed));
        }
        match (self.role, h.mask.is_some()) {
            (Role::Server, false) => return Err(ProtocolError::UnmaskedFrame),
            (Role::Client, true) => return Err(ProtocolError::MaskedFrame),
            _ => {}
        }
        if h.opcode.is_control() {
            self.rx = Rx::Control;
            return Ok(());
        }
        if h.payload_len > self.config.max_frame_payload {
            return Err(ProtocolError::FrameTooLarge {
                len: h.payload_len,
                max: self.config.max_frame_payload,
            });
        }
        let so_far = match (h.opcode, self.message) {
            (OpCode::Continuation, None) => return Err(ProtocolError::UnexpectedContinuation),
            (OpCode::Continuation, Some(m)) => m.len,
            (_, Some(_)) => return Err(ProtocolError::ExpectedContinuation),
            (_, None) => 0,
        };
        let total = so_far.saturating_add(h.payload_len);
        if total > self.config.max_message_size {
            return Err(ProtocolError::MessageTooLarge {
                max: self.config.max_message_size,
            });
        }
        match &mut self.message {
            Some(m) => m.len = total,
            None => {
                let kind = if h.opcode == OpCode::Text {
                    MessageKind::Text
                } else {
                    MessageKind::Binary
                };
                self.message = Some(InMessage {
                    kind,
                    rsv: h.rsv,
                    len: total,
                    delivered: false,
                });
                self.utf8.reset();
            }
        }
        self.rx = Rx::Data;
        Ok(())
    }

    /// A frame's payload is complete: `start..end` is its last chunk in the input (data frames).
    fn frame_complete(&mut self, start: usize, end: usize, now: Instant) -> Option<Step> {
        self.rx = Rx::Header;
        match self.frame.opcode {
            OpCode::Ping | OpCode::Pong | OpCode::Close => self.control_complete(now),
            _ => {
                let message = self.message?;
                if self.frame.fin {
                    if message.kind == MessageKind::Text
                        && message.rsv == 0
                        && !self.utf8.is_complete()
                    {
                        self.fail(ProtocolError::InvalidUtf8, now);
                        return None;
                    }
                    self.message = None;
                } else if start == end {
                    // An empty fragment that does not end the message: nothing to report.
                    return None;
                } else if let Some(m) = &mut self.message {
                    m.delivered = true;
                }
                Some(Step::Data {
                    start,
                    end,
                    last: self.frame.fin,
                    frame_end: true,
                    first: !message.delivered,
                    kind: message.kind,
                    rsv: message.rsv,
                })
            }
        }
    }

    /// The payload of the control frame just completed.
    pub(crate) fn control_payload(&self) -> ControlPayload {
        ControlPayload::from_slice(&self.control[..self.control_len as usize])
    }

    fn control_complete(&mut self, now: Instant) -> Option<Step> {
        let payload = &self.control[..self.control_len as usize];
        match self.frame.opcode {
            OpCode::Ping => {
                if self.failure.is_some() {
                    return None;
                }
                if self.state == State::Open {
                    self.outbox.clear();
                    // A control payload: at most 125 bytes, so it fits.
                    let _ = self.outbox.extend_from_slice(payload);
                    self.pong_due = true;
                }
                Some(Step::Ping)
            }
            OpCode::Pong => {
                if self.failure.is_some() {
                    return None;
                }
                if let (Some(sent), Ok(stamp)) = (self.last_ping, <[u8; 8]>::try_from(payload)) {
                    if u64::from_be_bytes(stamp) == sent.as_nanos() {
                        self.rtt = Some(now - sent);
                        self.last_ping = None;
                    }
                }
                Some(Step::Pong)
            }
            _ => {
                // The frame stays in `control`; `read` and the closure take it from there.
                let code = match CloseFrame::check_payload(payload) {
                    Ok(code) => code,
                    Err(e) => {
                        // Failing the connection if it was open; after our own Close, the
                        // violation is recorded and our Close stands.
                        self.fail(e, now);
                        self.peer_close_was_invalid(now);
                        return None;
                    }
                };
                self.peer_close = PeerClose::Valid;
                self.rx = Rx::Discard;
                if self.state == State::Open {
                    // §5.5.1: reply with a Close, echoing the status code.
                    self.queue_close(code, "", State::CloseReceived { since: now });
                }
                self.check_handshake(now);
                Some(Step::Close)
            }
        }
    }

    pub(super) fn skip(&mut self, remaining: u64) {
        self.frame.len = remaining;
        self.frame.done = 0;
        self.rx = if remaining == 0 { Rx::Header } else { Rx::Skip };
    }
}

/// Header and payload length of a frame whose header failed validation, so that its payload
/// can be skipped while draining. `None` when the length itself is unusable.
fn skip_len(buf: &[u8]) -> Option<(usize, u64)> {
    let (b0, b1) = match buf {
        [b0, b1, ..] => (*b0, *b1),
        _ => return None,
    };
    let len = header_len([b0, b1]);
    if buf.len() < len {
        return None;
    }
    let payload = match b1 & 0x7F {
        126 => u16::from_be_bytes([buf[2], buf[3]]) as u64,
        127 => {
            let mut b = [0u8; 8];
            b.copy_from_slice(&buf[2..10]);
            let v = u64::from_be_bytes(b);
            if v >> 63 != 0 {
                return None;
            }
            v
        }
        n => n as u64,
    };
    Some((len, payload))
}
