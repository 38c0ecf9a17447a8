//! Harness code shared by the fuzz targets: driving a [`Connection`] through a read buffer while
//! checking the contract of [`Connection::read`], turning its events into a chunking-independent
//! trace, and an independent checker for the frames an engine emits.
//!
//! Everything here panics on a violated invariant: a panic is what libFuzzer reports.

use sockeye_core::frame::MAX_CONTROL_PAYLOAD;
use sockeye_core::{Config, Connection, Event, Instant, MessageKind, Role};

/// One logical thing the peer sent, independent of how the bytes were chunked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Item {
    /// A complete data message: kind, RSV bits of its first frame, payload length of each
    /// frame that carried bytes (plus the final frame), and the whole payload.
    Message {
        kind: MessageKind,
        rsv: u8,
        frames: Vec<usize>,
        payload: Vec<u8>,
    },
    Ping(Vec<u8>),
    Pong(Vec<u8>),
    /// Close code (`None`: no code) and reason.
    Close(Option<u16>, String),
}

/// A data message whose last chunk never came (the stream ended, or the connection failed).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Partial {
    pub kind: Option<MessageKind>,
    pub payload: Vec<u8>,
}

type InProgress = (MessageKind, u8, Vec<usize>, usize, Vec<u8>);

/// Collects the events of one connection into [`Item`]s, checking the event contract.
#[derive(Debug)]
pub struct Collector {
    pub items: Vec<Item>,
    /// The message in progress: kind, rsv, frame lengths so far, bytes of the current frame
    /// so far, payload so far.
    current: Option<InProgress>,
    max_frame: u64,
    max_message: u64,
    saw_close: bool,
    /// Payloads of every Ping received, for checking our Pongs.
    pub pings: Vec<Vec<u8>>,
}

impl Collector {
    pub fn new(config: &Config) -> Collector {
        Collector {
            items: Vec::new(),
            current: None,
            max_frame: config.max_frame_payload,
            max_message: config.max_message_size,
            saw_close: false,
            pings: Vec::new(),
        }
    }

    /// The message in progress, if any (abandoned by a failure or cut by the end of input).
    pub fn partial(&self) -> Partial {
        match &self.current {
            Some((kind, _, _, _, payload)) => Partial {
                kind: Some(*kind),
                payload: payload.clone(),
            },
            None => Partial::default(),
        }
    }

    pub fn saw_close(&self) -> bool {
        self.saw_close
    }

    /// Takes one event. `failed` says whether the connection had already failed before the
    /// `read` that produced it: after a failure the engine drains input and reports only a
    /// Close.
    pub fn push(&mut self, event: &Event<'_>, failed_before: bool) {
        assert!(!self.saw_close, "event after the peer's Close: {event:?}");
        if failed_before {
            assert!(
                matches!(event, Event::Close(_)),
                "event other than Close while draining after a failure: {event:?}"
            );
        }
        match event {
            Event::Data(chunk) => {
                if chunk.first {
                    assert!(
                        self.current.is_none(),
                        "first chunk of a new message while one is in progress"
                    );
                    self.current = Some((chunk.kind, chunk.rsv, Vec::new(), 0, Vec::new()));
                }
                let Some((kind, rsv, frames, frame_bytes, payload)) = &mut self.current else {
                    panic!("continuation chunk without a first chunk: {chunk:?}");
                };
                assert_eq!(*kind, chunk.kind, "kind changed within a message");
                assert_eq!(*rsv, chunk.rsv, "rsv changed within a message");
                assert!(
                    chunk.frame_end || !chunk.payload.is_empty(),
                    "empty chunk that ends neither a frame nor the message"
                );
                assert!(
                    !chunk.last || chunk.frame_end,
                    "last chunk not at a frame end"
                );
                payload.extend_from_slice(chunk.payload);
                *frame_bytes += chunk.payload.len();
                assert!(
                    *frame_bytes as u64 <= self.max_frame,
                    "delivered {} bytes of a frame, limit {}",
                    frame_bytes,
                    self.max_frame
                );
                assert!(
                    payload.len() as u64 <= self.max_message,
                    "delivered {} bytes of a message, limit {}",
                    payload.len(),
                    self.max_message
                );
                if chunk.frame_end {
                    frames.push(*frame_bytes);
                    *frame_bytes = 0;
                }
                if chunk.last {
                    let (kind, rsv, frames, _, payload) = self.current.take().unwrap();
                    if kind == MessageKind::Text && rsv == 0 {
                        assert!(
                            std::str::from_utf8(&payload).is_ok(),
                            "text message delivered with invalid UTF-8"
                        );
                    }
                    self.items.push(Item::Message {
                        kind,
                        rsv,
                        frames,
                        payload,
                    });
                }
            }
            Event::Ping(p) => {
                assert!(p.len() <= MAX_CONTROL_PAYLOAD);
                self.pings.push(p.to_vec());
                self.items.push(Item::Ping(p.to_vec()));
            }
            Event::Pong(p) => {
                assert!(p.len() <= MAX_CONTROL_PAYLOAD);
                self.items.push(Item::Pong(p.to_vec()));
            }
            Event::Close(c) => {
                let code = c.code().map(|c| c.as_u16());
                if let Some(code) = code {
                    assert!(
                        c.code().unwrap().is_sendable(),
                        "accepted close code {code}"
                    );
                }
                assert!(c.reason().len() <= 123);
                self.saw_close = true;
                self.items.push(Item::Close(code, c.reason().to_owned()));
            }
        }
    }

    /// Called when the connection failed: the message in progress is abandoned.
    pub fn abandon(&mut self) -> Partial {
        let p = self.partial();
        self.current = None;
        p
    }
}

/// Feeds `buf` to `conn` with `read` until it returns no event, checking the contract of `read`:
/// `consumed <= input.len()`, every event consumes at least one byte and its payload lies within
/// the consumed bytes, and no event means everything was consumed. Returns the bytes consumed
/// while the connection was not yet closed (bytes given to a closed engine are ignored by it).
pub fn read_all(
    conn: &mut Connection,
    buf: &mut [u8],
    now: Instant,
    sink: &mut Collector,
    abandoned: &mut Option<Partial>,
) -> usize {
    let mut pos = 0;
    let mut live = 0;
    loop {
        let was_closed = conn.state() == sockeye_core::ConnectionState::Closed;
        let failed_before = conn.failure().is_some();
        let input = &mut buf[pos..];
        let len = input.len();
        let base = input.as_ptr() as usize;
        let r = conn.read(input, now);
        assert!(r.consumed <= len, "consumed {} of {len}", r.consumed);
        if !was_closed {
            live += r.consumed;
        }
        match r.event {
            None => {
                assert_eq!(r.consumed, len, "no event, but input left unconsumed");
                pos += r.consumed;
                break;
            }
            Some(event) => {
                assert!(!was_closed, "event from a closed connection: {event:?}");
                assert!(r.consumed > 0, "event without consuming input: {event:?}");
                if let Event::Data(chunk) = &event {
                    let start = chunk.payload.as_ptr() as usize;
                    // An empty payload may point anywhere; only a non-empty one must lie inside.
                    if !chunk.payload.is_empty() {
                        assert!(
                            start >= base && start + chunk.payload.len() <= base + r.consumed,
                            "payload outside the consumed input"
                        );
                    }
                }
                sink.push(&event, failed_before);
                pos += r.consumed;
            }
        }
        if conn.failure().is_some() && !failed_before && abandoned.is_none() {
            *abandoned = Some(sink.abandon());
        }
    }
    if conn.failure().is_some() && abandoned.is_none() {
        *abandoned = Some(sink.abandon());
    }
    assert_eq!(pos, buf.len());
    live
}

/// Close codes that may appear on the wire (RFC 6455 §7.4, IANA registry).
pub fn sendable(code: u16) -> bool {
    matches!(code, 1000..=1003 | 1007..=1014 | 3000..=4999)
}

/// An independent, strict parser of the bytes an engine emits: every frame must be valid for the
/// peer (RFC 6455 §5), frames are never split across writes, and nothing follows a Close.
#[derive(Debug)]
pub struct WireChecker {
    sender: Role,
    message: Option<(MessageKind, Vec<usize>, Vec<u8>)>,
    closed: bool,
    /// Everything parsed so far, each with the offset just past its last frame in the stream
    /// (as counted by the caller of `push`).
    pub items: Vec<(Item, usize)>,
    /// The receiver's limits (frame payload, message size): a sender cannot know them.
    limits: (u64, u64),
    /// Stream offset of the first data frame beyond the receiver's limits.
    pub over_limit_at: Option<usize>,
}

impl WireChecker {
    pub fn new(sender: Role) -> WireChecker {
        WireChecker {
            sender,
            message: None,
            closed: false,
            items: Vec::new(),
            limits: (u64::MAX, u64::MAX),
            over_limit_at: None,
        }
    }

    /// Records where the stream first exceeds the receiver's limits (see `over_limit_at`).
    pub fn with_limits(mut self, config: &Config) -> WireChecker {
        self.limits = (config.max_frame_payload, config.max_message_size);
        self
    }

    /// Whether a Close frame was emitted.
    pub fn closed(&self) -> bool {
        self.closed
    }

    /// Parses one write of the engine (whole frames only). `base` is the stream offset of its
    /// first byte.
    pub fn push(&mut self, mut bytes: &[u8], base: usize) {
        let mut at = base;
        while !bytes.is_empty() {
            assert!(
                !self.closed,
                "{:?} sent a frame after its Close",
                self.sender
            );
            let n = self.frame(bytes, at);
            bytes = &bytes[n..];
            at += n;
        }
    }

    fn frame(&mut self, b: &[u8], base: usize) -> usize {
        assert!(b.len() >= 2, "split frame header");
        let fin = b[0] & 0x80 != 0;
        assert_eq!(b[0] & 0x70, 0, "RSV bits set without an extension");
        let opcode = b[0] & 0x0F;
        let masked = b[1] & 0x80 != 0;
        assert_eq!(
            masked,
            self.sender == Role::Client,
            "{:?} frame masking wrong (§5.1)",
            self.sender
        );
        let (len, mut at) = match b[1] & 0x7F {
            126 => {
                assert!(b.len() >= 4, "split frame header");
                let v = u16::from_be_bytes([b[2], b[3]]) as u64;
                assert!(v >= 126, "non-minimal 16-bit length");
                (v, 4)
            }
            127 => {
                assert!(b.len() >= 10, "split frame header");
                let v = u64::from_be_bytes(b[2..10].try_into().unwrap());
                assert!(v >> 63 == 0 && v > 0xFFFF, "bad 64-bit length {v}");
                (v, 10)
            }
            n => (n as u64, 2),
        };
        let mut key = [0u8; 4];
        if masked {
            assert!(b.len() >= at + 4, "split frame header");
            key.copy_from_slice(&b[at..at + 4]);
            at += 4;
        }
        let end = at + usize::try_from(len).unwrap();
        assert!(b.len() >= end, "frame split across writes");
        let mut payload = b[at..end].to_vec();
        if masked {
            for (i, x) in payload.iter_mut().enumerate() {
                *x ^= key[i % 4];
            }
        }
        let item = match opcode {
            0x0..=0x2 => {
                let kind = match (opcode, &mut self.message) {
                    (0x0, Some((kind, _, _))) => *kind,
                    (0x0, None) => panic!("continuation without a message"),
                    (_, Some(_)) => panic!("new message inside a fragmented one"),
                    (0x1, None) => MessageKind::Text,
                    _ => MessageKind::Binary,
                };
                let (_, frames, data) = self.message.get_or_insert((kind, Vec::new(), Vec::new()));
                if fin || !payload.is_empty() {
                    frames.push(payload.len());
                }
                data.extend_from_slice(&payload);
                if payload.len() as u64 > self.limits.0 || data.len() as u64 > self.limits.1 {
                    self.over_limit_at.get_or_insert(base);
                }
                if fin {
                    let (kind, frames, payload) = self.message.take().unwrap();
                    if kind == MessageKind::Text {
                        assert!(
                            std::str::from_utf8(&payload).is_ok(),
                            "sent text message with invalid UTF-8"
                        );
                    }
                    Some(Item::Message {
                        kind,
                        rsv: 0,
                        frames,
                        payload,
                    })
                } else {
                    None
                }
            }
            0x8..=0xA => {
                assert!(fin, "fragmented control frame");
                assert!(
                    payload.len() <= MAX_CONTROL_PAYLOAD,
                    "control frame too long"
                );
                Some(match opcode {
                    0x9 => Item::Ping(payload),
                    0xA => Item::Pong(payload),
                    _ => {
                        self.closed = true;
                        match payload.as_slice() {
                            [] => Item::Close(None, String::new()),
                            [_] => panic!("1-byte close payload"),
                            [hi, lo, reason @ ..] => {
                                let code = u16::from_be_bytes([*hi, *lo]);
                                assert!(sendable(code), "sent close code {code}");
                                let reason = std::str::from_utf8(reason)
                                    .expect("close reason not UTF-8")
                                    .to_owned();
                                Item::Close(Some(code), reason)
                            }
                        }
                    }
                })
            }
            op => panic!("reserved opcode {op:#x} sent"),
        };
        if let Some(item) = item {
            self.items.push((item, base + end));
        }
        end
    }
}
