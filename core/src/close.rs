//! Close codes, Close frames, and how a connection ended ([`Closure`]).
//!
//! Every connection ends with exactly one [`Closure`]. It says whether the closing handshake
//! completed ([`ClosureKind::Clean`]), whether we failed the connection because the peer broke
//! the protocol ([`ClosureKind::Failed`]), or whether the transport ended without a closing
//! handshake ([`ClosureKind::Abnormal`], close code 1006, which is never sent on the wire —
//! RFC 6455 §7.1.5). An abnormal closure carries its *cause* and the *phase* of the protocol it
//! happened in, and its `Display` is one sentence with a hint a user can act on.

use core::fmt;
use core::time::Duration;

use crate::error::{ProtocolError, SendError};
use crate::frame::OpCode;
use crate::utf8::Utf8Validator;

/// A close status code (RFC 6455 §7.4).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CloseCode(u16);

impl CloseCode {
    /// 1000: the purpose of the connection was fulfilled.
    pub const NORMAL: CloseCode = CloseCode(1000);
    /// 1001: the endpoint is going away (server shutdown, page navigation).
    pub const GOING_AWAY: CloseCode = CloseCode(1001);
    /// 1002: protocol error.
    pub const PROTOCOL_ERROR: CloseCode = CloseCode(1002);
    /// 1003: a data type the endpoint cannot accept.
    pub const UNSUPPORTED_DATA: CloseCode = CloseCode(1003);
    /// 1005: no status code was present. Never sent on the wire.
    pub const NO_STATUS: CloseCode = CloseCode(1005);
    /// 1006: the connection closed without a Close frame. Never sent on the wire.
    pub const ABNORMAL: CloseCode = CloseCode(1006);
    /// 1007: data inconsistent with its type (invalid UTF-8 in text).
    pub const INVALID_PAYLOAD: CloseCode = CloseCode(1007);
    /// 1008: a message violated the endpoint's policy.
    pub const POLICY_VIOLATION: CloseCode = CloseCode(1008);
    /// 1009: a message too big to process.
    pub const MESSAGE_TOO_BIG: CloseCode = CloseCode(1009);
    /// 1010: the client expected the server to negotiate an extension.
    pub const MANDATORY_EXTENSION: CloseCode = CloseCode(1010);
    /// 1011: the server met an unexpected condition.
    pub const INTERNAL_ERROR: CloseCode = CloseCode(1011);
    /// 1012: the service is restarting (IANA registry).
    pub const SERVICE_RESTART: CloseCode = CloseCode(1012);
    /// 1013: try again later (IANA registry).
    pub const TRY_AGAIN_LATER: CloseCode = CloseCode(1013);
    /// 1014: a gateway got an invalid response upstream (IANA registry).
    pub const BAD_GATEWAY: CloseCode = CloseCode(1014);
    /// 1015: the TLS handshake failed. Never sent on the wire.
    pub const TLS_HANDSHAKE: CloseCode = CloseCode(1015);

    /// A close code with any value; see [`is_sendable`](Self::is_sendable) for which may go on the wire.
    pub const fn new(code: u16) -> CloseCode {
        CloseCode(code)
    }

    /// The numeric value.
    pub const fn as_u16(self) -> u16 {
        self.0
    }

    /// Whether this code may appear in a Close frame (§7.4.1, §7.4.2, IANA registry):
    /// 1000–1003, 1007–1014 and 3000–4999. 1004 is reserved, 1005, 1006 and 1015 are for
    /// reporting only, and the rest of 0–2999 is unassigned.
    pub const fn is_sendable(self) -> bool {
        matches!(self.0, 1000..=1003 | 1007..=1014 | 3000..=4999)
    }

    /// A short description of a registered code, for diagnostics.
    pub const fn description(self) -> &'static str {
        match self.0 {
            1000 => "normal closure",
            1001 => "going away",
            1002 => "protocol error",
            1003 => "unsupported data",
            1005 => "no status code",
            1006 => "abnormal closure",
            1007 => "invalid payload data",
            1008 => "policy violation",
            1009 => "message too big",
            1010 => "mandatory extension missing",
            1011 => "internal server error",
            1012 => "service restart",
            1013 => "try again later",
            1014 => "bad gateway",
            1015 => "TLS handshake failure",
            3000..=3999 => "registered application code",
            4000..=4999 => "private application code",
            _ => "unassigned code",
        }
    }
}

impl fmt::Display for CloseCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.0, self.description())
    }
}

impl From<CloseCode> for u16 {
    fn from(c: CloseCode) -> u16 {
        c.0
    }
}

/// Largest close reason: a control payload of 125 bytes minus the 2-byte code (§5.5).
pub const MAX_REASON_LEN: usize = 123;

/// The content of a Close frame: an optional code and a UTF-8 reason of at most 123 bytes.
///
/// Stored inline (no allocation), so it can be queued, reported and copied freely.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct CloseFrame {
    code: Option<CloseCode>,
    reason: [u8; MAX_REASON_LEN],
    reason_len: u8,
}

impl CloseFrame {
    /// A Close frame with no status code (received as 1005).
    pub const EMPTY: CloseFrame = CloseFrame {
        code: None,
        reason: [0; MAX_REASON_LEN],
        reason_len: 0,
    };

    /// A Close frame to send, checking the code may go on the wire and the reason fits.
    pub fn new(code: CloseCode, reason: &str) -> Result<CloseFrame, SendError> {
        CloseFrame::check(code, reason)?;
        let mut frame = CloseFrame {
            code: Some(code),
            ..CloseFrame::EMPTY
        };
        frame.reason[..reason.len()].copy_from_slice(reason.as_bytes());
        frame.reason_len = reason.len() as u8;
        Ok(frame)
    }

    /// The checks of [`new`](Self::new), without building the frame.
    pub(crate) fn check(code: CloseCode, reason: &str) -> Result<(), SendError> {
        if !code.is_sendable() {
            return Err(SendError::InvalidCloseCode(code.0));
        }
        if reason.len() > MAX_REASON_LEN {
            return Err(SendError::ReasonTooLong { len: reason.len() });
        }
        Ok(())
    }

    /// Parses a received Close payload (§5.5.1, §7.4).
    pub fn parse(payload: &[u8]) -> Result<CloseFrame, ProtocolError> {
        CloseFrame::check_payload(payload)?;
        Ok(CloseFrame::parse_or_empty(payload))
    }

    /// [`parse`](Self::parse), with [`EMPTY`](Self::EMPTY) for an invalid payload. (Built in
    /// place: no `Result` around the 128-byte frame on the stack.)
    pub(crate) fn parse_or_empty(payload: &[u8]) -> CloseFrame {
        let mut frame = CloseFrame::EMPTY;
        if let (Ok(Some(code)), Some(reason)) =
            (CloseFrame::check_payload(payload), payload.get(2..))
        {
            frame.code = Some(code);
            frame.reason[..reason.len()].copy_from_slice(reason);
            frame.reason_len = reason.len() as u8;
        }
        frame
    }

    /// The checks of [`parse`](Self::parse), without building the frame: the code, if any.
    pub(crate) fn check_payload(payload: &[u8]) -> Result<Option<CloseCode>, ProtocolError> {
        match payload {
            [] => Ok(None),
            [_] => Err(ProtocolError::InvalidClosePayload),
            [hi, lo, reason @ ..] => {
                let code = CloseCode(u16::from_be_bytes([*hi, *lo]));
                if !code.is_sendable() {
                    return Err(ProtocolError::InvalidCloseCode(code.0));
                }
                if reason.len() > MAX_REASON_LEN {
                    return Err(ProtocolError::ControlFrameTooLong);
                }
                let mut v = Utf8Validator::new();
                if v.feed(reason).is_err() || !v.is_complete() {
                    return Err(ProtocolError::InvalidUtf8);
                }
                Ok(Some(code))
            }
        }
    }

    /// The status code, or `None` when the frame had none.
    pub const fn code(&self) -> Option<CloseCode> {
        self.code
    }

    /// The status code as reported to applications: 1005 when the frame had none (§7.1.5).
    pub fn reported_code(&self) -> CloseCode {
        self.code.unwrap_or(CloseCode::NO_STATUS)
    }

    /// The reason text (may be empty).
    pub fn reason(&self) -> &str {
        // Only valid UTF-8 is ever stored: `new` takes a `&str`, `parse` validates.
        core::str::from_utf8(&self.reason[..self.reason_len as usize]).unwrap_or("")
    }

    /// Writes the frame's payload (code and reason) into `out`, returning its length (≤ 125).
    /// (The engine writes its own Close payloads in place; tests check frames with this.)
    #[cfg(test)]
    pub(crate) fn write_payload(&self, out: &mut [u8]) -> usize {
        match self.code {
            None => 0,
            Some(code) => {
                out[..2].copy_from_slice(&code.0.to_be_bytes());
                let n = self.reason_len as usize;
                out[2..2 + n].copy_from_slice(&self.reason[..n]);
                2 + n
            }
        }
    }
}

impl fmt::Debug for CloseFrame {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CloseFrame")
            .field("code", &self.code)
            .field("reason", &self.reason())
            .finish()
    }
}

impl fmt::Display for CloseFrame {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.code {
            None => f.write_str("no status code"),
            Some(code) if self.reason_len == 0 => write!(f, "{code}"),
            Some(code) => write!(f, "{code}, reason {:?}", self.reason()),
        }
    }
}

/// Which side started the closing handshake.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Initiator {
    /// We sent the first Close frame.
    Local,
    /// The peer sent the first Close frame.
    Peer,
}

/// How the transport failed, as reported by the driver. Mirrors the `std::io::ErrorKind`s that
/// matter for a connection, so that `no_std` drivers can report them too.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TransportError {
    /// The peer reset the connection (TCP RST).
    ConnectionReset,
    /// The connection was aborted locally or by an intermediary.
    ConnectionAborted,
    /// Writing failed because the connection is gone.
    BrokenPipe,
    /// The operating system gave up on the connection (e.g. TCP retransmission timeout).
    TimedOut,
    /// The network or host became unreachable.
    Unreachable,
    /// The TLS layer failed (bad record, alert).
    Tls,
    /// The TCP connection under TLS ended without the peer's TLS `close_notify` alert: the
    /// stream was cut, not closed (RFC 8446 §6.1 calls this truncation).
    TlsTruncated,
    /// Any other transport failure.
    Other,
    /// The WebSocket was carried on an HTTP/2 stream (RFC 8441) and that stream was reset
    /// (`RST_STREAM`) with this HTTP/2 error code (RFC 9113 §7), while the HTTP/2 connection
    /// itself may still be up, with its other streams.
    Http2StreamReset {
        /// The error code of the `RST_STREAM` frame (e.g. `CANCEL`, `INTERNAL_ERROR`).
        code: Http2ErrorCode,
    },
    /// The WebSocket was carried on an HTTP/2 stream (RFC 8441) and the whole HTTP/2
    /// connection went away (`GOAWAY`, or its TCP or TLS connection ended or failed), ending
    /// every stream on it.
    Http2ConnectionLost,
}

impl TransportError {
    const fn describe(self) -> &'static str {
        match self {
            TransportError::ConnectionReset => "the connection was reset (TCP RST)",
            TransportError::ConnectionAborted => "the connection was aborted",
            TransportError::BrokenPipe => {
                "writing failed because the connection is gone (broken pipe)"
            }
            TransportError::TimedOut => "the operating system timed the connection out",
            TransportError::Unreachable => "the network or host became unreachable",
            TransportError::Tls => "the TLS layer failed",
            TransportError::TlsTruncated => {
                "the TLS session ended without close_notify (TCP closed under TLS)"
            }
            TransportError::Other => "the transport failed",
            TransportError::Http2StreamReset { .. } => {
                "the HTTP/2 stream carrying the WebSocket was reset (RST_STREAM)"
            }
            TransportError::Http2ConnectionLost => {
                "the HTTP/2 connection carrying the WebSocket went away (GOAWAY, or its TCP/TLS \
                 connection ended), taking all its streams"
            }
        }
    }
}

/// An HTTP/2 error code (RFC 9113 §7), as carried by the `RST_STREAM` that ended a WebSocket
/// over HTTP/2 ([`TransportError::Http2StreamReset`]). One byte, so that the engine's state
/// stays small.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Http2ErrorCode {
    /// 0x0 `NO_ERROR`.
    NoError,
    /// 0x1 `PROTOCOL_ERROR`.
    ProtocolError,
    /// 0x2 `INTERNAL_ERROR`.
    InternalError,
    /// 0x3 `FLOW_CONTROL_ERROR`.
    FlowControlError,
    /// 0x4 `SETTINGS_TIMEOUT`.
    SettingsTimeout,
    /// 0x5 `STREAM_CLOSED`.
    StreamClosed,
    /// 0x6 `FRAME_SIZE_ERROR`.
    FrameSizeError,
    /// 0x7 `REFUSED_STREAM`.
    RefusedStream,
    /// 0x8 `CANCEL`.
    Cancel,
    /// 0x9 `COMPRESSION_ERROR`.
    CompressionError,
    /// 0xa `CONNECT_ERROR`.
    ConnectError,
    /// 0xb `ENHANCE_YOUR_CALM`.
    EnhanceYourCalm,
    /// 0xc `INADEQUATE_SECURITY`.
    InadequateSecurity,
    /// 0xd `HTTP_1_1_REQUIRED`.
    Http11Required,
    /// A code outside the registry of RFC 9113 §7.
    Unknown,
}

impl Http2ErrorCode {
    /// The code for the 32-bit value of a frame.
    pub const fn from_u32(code: u32) -> Self {
        use Http2ErrorCode as C;
        match code {
            0x0 => C::NoError,
            0x1 => C::ProtocolError,
            0x2 => C::InternalError,
            0x3 => C::FlowControlError,
            0x4 => C::SettingsTimeout,
            0x5 => C::StreamClosed,
            0x6 => C::FrameSizeError,
            0x7 => C::RefusedStream,
            0x8 => C::Cancel,
            0x9 => C::CompressionError,
            0xa => C::ConnectError,
            0xb => C::EnhanceYourCalm,
            0xc => C::InadequateSecurity,
            0xd => C::Http11Required,
            _ => C::Unknown,
        }
    }

    /// The name RFC 9113 §7 gives the code.
    pub const fn name(self) -> &'static str {
        use Http2ErrorCode as C;
        match self {
            C::NoError => "NO_ERROR",
            C::ProtocolError => "PROTOCOL_ERROR",
            C::InternalError => "INTERNAL_ERROR",
            C::FlowControlError => "FLOW_CONTROL_ERROR",
            C::SettingsTimeout => "SETTINGS_TIMEOUT",
            C::StreamClosed => "STREAM_CLOSED",
            C::FrameSizeError => "FRAME_SIZE_ERROR",
            C::RefusedStream => "REFUSED_STREAM",
            C::Cancel => "CANCEL",
            C::CompressionError => "COMPRESSION_ERROR",
            C::ConnectError => "CONNECT_ERROR",
            C::EnhanceYourCalm => "ENHANCE_YOUR_CALM",
            C::InadequateSecurity => "INADEQUATE_SECURITY",
            C::Http11Required => "HTTP_1_1_REQUIRED",
            C::Unknown => "an unregistered code",
        }
    }
}

impl core::fmt::Display for Http2ErrorCode {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.name())
    }
}

/// Why a connection ended without a closing handshake.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum AbnormalCause {
    /// The peer closed the transport (a read returned end of stream).
    Eof,
    /// The transport reported an error.
    Transport(TransportError),
    /// We sent (or were replying with) Close and the peer did not complete the handshake within
    /// the close timeout.
    CloseTimeout,
    /// Keepalive: nothing arrived within the pong timeout after our ping, which we sent after
    /// the ping interval of silence. The peer or the path to it is dead (half-open connection).
    KeepaliveTimeout,
}

/// Where in the protocol a connection was when it ended abnormally.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Phase {
    /// Not a single byte had arrived since the connection opened.
    BeforeFirstFrame,
    /// Between frames, with no message in progress.
    FrameBoundary,
    /// Between the frames of a fragmented message.
    BetweenFragments {
        /// Message payload bytes received so far.
        message_bytes: u64,
    },
    /// Inside a frame header.
    FrameHeader {
        /// Header bytes received.
        received: u8,
    },
    /// Inside a frame's payload.
    FramePayload {
        /// The frame's opcode.
        opcode: OpCode,
        /// Payload bytes received.
        received: u64,
        /// The frame's payload length.
        expected: u64,
    },
    /// We had sent (or queued) our Close and were waiting for the peer's.
    AfterCloseSent,
    /// The peer had sent Close; our reply was not yet handed to the transport.
    AfterCloseReceived {
        /// The peer's close code (`None`: its Close had no code).
        code: Option<CloseCode>,
    },
}

/// How a failed connection ended after we sent our Close (§7.1.7); see
/// [`ClosureKind::Failed`].
///
/// Which one happens is decided by whether frame boundaries are still known after the
/// violation: the table in the `connection` module documentation lists every case.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum FailureEnd {
    /// The peer answered our Close with a valid Close of its own.
    Acknowledged,
    /// The peer's Close frame was itself invalid (a 1-byte payload, a code that may not be
    /// sent, a reason that is not UTF-8, too long or fragmented). It sends no other Close, so
    /// the handshake ended with our Close.
    PeerCloseInvalid,
    /// Frame boundaries were lost (a length that cannot be used) or the frame was larger than
    /// we read (above the frame limit): nothing the peer sends can be understood any more, so we
    /// closed the transport as soon as our Close was written, without waiting for an answer.
    FramingLost,
    /// The peer did not answer our Close within the close timeout.
    CloseTimeout,
    /// The transport ended (end of stream or an error) before the peer answered our Close.
    TransportEnded,
}

impl FailureEnd {
    /// Whether the peer answered our Close (validly).
    pub const fn is_acknowledged(self) -> bool {
        matches!(self, FailureEnd::Acknowledged)
    }

    /// What happened, as the end of a sentence.
    const fn describe(self) -> &'static str {
        match self {
            FailureEnd::Acknowledged => "the peer answered our Close",
            FailureEnd::PeerCloseInvalid => {
                "the peer's Close frame was itself invalid, so there was no answer to wait for"
            }
            FailureEnd::FramingLost => {
                "frame boundaries were lost (or the frame was beyond our limit), so we closed the \
                 transport as soon as our Close was sent"
            }
            FailureEnd::CloseTimeout => "the peer never answered our Close (close timeout)",
            FailureEnd::TransportEnded => "the transport ended before the peer answered our Close",
        }
    }
}

/// What kind of end a connection had; see [`Closure`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ClosureKind {
    /// The closing handshake completed (§7.1.4 "closed cleanly").
    Clean {
        /// Who sent the first Close.
        initiator: Initiator,
        /// The Close frame the peer sent; its code is the connection's close code (§7.1.5).
        received: CloseFrame,
        /// The client waited the close timeout for the server to close the transport and then
        /// closed it itself (§7.1.1 asks the server to close first).
        peer_kept_transport_open: bool,
    },
    /// The peer violated the protocol (§7.1.7). If the connection was open we failed it with
    /// the violation's close code; if our own Close had already gone out, that Close stands.
    Failed {
        /// The first violation.
        error: ProtocolError,
        /// The code of the Close frame we sent: the violation's code, or the code of the Close
        /// we had already sent when the violation came after it.
        sent: CloseCode,
        /// What happened after our Close.
        end: FailureEnd,
    },
    /// The transport ended before the closing handshake completed: close code 1006.
    Abnormal {
        /// What ended it.
        cause: AbnormalCause,
        /// Where in the protocol it happened.
        phase: Phase,
    },
}

/// How a connection ended. Exactly one is produced per connection.
///
/// `Display` gives one sentence a user can act on:
///
/// ```
/// # use sockeye_core::close::*;
/// # use core::time::Duration;
/// let c = Closure::new(
///     ClosureKind::Abnormal { cause: AbnormalCause::Eof, phase: Phase::FrameBoundary },
///     Duration::from_secs(60),
/// );
/// assert_eq!(c.code().as_u16(), 1006);
/// assert!(c.to_string().contains("60.0 s"));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Closure {
    kind: ClosureKind,
    idle: Duration,
    deflate: bool,
}

impl Closure {
    /// A closure of `kind`, `idle` after the last byte received from the peer.
    pub const fn new(kind: ClosureKind, idle: Duration) -> Closure {
        Closure {
            kind,
            idle,
            deflate: false,
        }
    }

    /// The same closure of a connection that ran permessage-deflate (RFC 7692), or not: the
    /// `Display` then says so, since a failure may come from the compressed stream.
    pub const fn with_permessage_deflate(mut self, in_use: bool) -> Closure {
        self.deflate = in_use;
        self
    }

    /// Whether the connection ran permessage-deflate.
    pub const fn permessage_deflate(&self) -> bool {
        self.deflate
    }

    /// What kind of end it was.
    pub const fn kind(&self) -> &ClosureKind {
        &self.kind
    }

    /// The connection's close code: the peer's code after a clean close (1005 if it gave none),
    /// the code of the Close we sent when the peer violated the protocol (the violation's code,
    /// or our own if our Close had gone out before), and 1006 for an abnormal closure.
    pub fn code(&self) -> CloseCode {
        match &self.kind {
            ClosureKind::Clean { received, .. } => received.reported_code(),
            ClosureKind::Failed { sent, .. } => *sent,
            ClosureKind::Abnormal { .. } => CloseCode::ABNORMAL,
        }
    }

    /// The peer's close reason after a clean close, else empty.
    pub fn reason(&self) -> &str {
        match &self.kind {
            ClosureKind::Clean { received, .. } => received.reason(),
            _ => "",
        }
    }

    /// Whether the closing handshake completed.
    pub const fn is_clean(&self) -> bool {
        matches!(self.kind, ClosureKind::Clean { .. })
    }

    /// Whether the connection ended without a closing handshake (code 1006).
    pub const fn is_abnormal(&self) -> bool {
        matches!(self.kind, ClosureKind::Abnormal { .. })
    }

    /// Time between the last byte received from the peer and the closure.
    pub const fn idle(&self) -> Duration {
        self.idle
    }

    /// What to check, in a few words.
    pub fn hint(&self) -> &'static str {
        match &self.kind {
            ClosureKind::Clean { peer_kept_transport_open: true, .. } => {
                "the server did not close the TCP connection after the closing handshake (RFC 6455 §7.1.1); \
                 harmless, but it holds the connection open for the close timeout"
            }
            ClosureKind::Clean { .. } => "nothing to do",
            ClosureKind::Failed {
                error: ProtocolError::FrameTooLarge { .. } | ProtocolError::MessageTooLarge { .. },
                ..
            } => {
                "the peer sent more than this endpoint accepts; if such messages are legitimate, raise \
                 max_frame_payload / max_message_size"
            }
            ClosureKind::Failed { .. } => "the peer's WebSocket implementation is broken or is not speaking WebSocket",
            ClosureKind::Abnormal { cause, phase } => abnormal_hint(*cause, *phase, self.idle),
        }
    }
}

/// The description of [`TransportError::Http2StreamReset`], completed with its code.
const fn reset_description() -> &'static str {
    TransportError::Http2StreamReset {
        code: Http2ErrorCode::NoError,
    }
    .describe()
}

fn abnormal_hint(cause: AbnormalCause, phase: Phase, idle: Duration) -> &'static str {
    match cause {
        AbnormalCause::KeepaliveTimeout => {
            "the peer or the network path is gone without a FIN or RST (half-open connection: crashed host, \
             NAT or proxy state dropped, cable pulled); reconnect"
        }
        AbnormalCause::CloseTimeout => {
            "the peer is stuck or the link is half-open; it never completed the closing handshake"
        }
        _ if matches!(phase, Phase::AfterCloseSent) => {
            "the peer closed the transport instead of answering our Close; its implementation skips the closing handshake"
        }
        _ if matches!(phase, Phase::AfterCloseReceived { .. }) => {
            "the peer closed the transport before our reply to its Close went out; usually harmless"
        }
        _ if idle >= PROXY_IDLE_HINT && !matches!(phase, Phase::FrameHeader { .. } | Phase::FramePayload { .. }) => {
            "a drop after this long a silence is typical of a proxy, NAT or load-balancer idle timeout \
             (often 30, 60 or 100 s); enable keepalive pings with a shorter interval"
        }
        AbnormalCause::Transport(TransportError::ConnectionReset) => {
            "the peer process died or an intermediary (proxy, firewall, load balancer) aborted the connection"
        }
        AbnormalCause::Transport(TransportError::TlsTruncated) => {
            "the peer, or a TLS terminator in front of it, closed TCP without shutting TLS down: it crashed, \
             or its TLS layer skips close_notify; a cut connection looks the same"
        }
        AbnormalCause::Transport(TransportError::Http2StreamReset { .. }) => {
            "the peer or an intermediary cancelled this one stream (handler error, \
             timeout, the page navigated away); the HTTP/2 connection and its other streams \
             may still be up"
        }
        AbnormalCause::Transport(TransportError::Http2ConnectionLost) => {
            "every WebSocket on that HTTP/2 connection ended with it; check the peer's or the \
             proxy's logs for a shutdown, GOAWAY or connection limit, and the network path"
        }
        AbnormalCause::Transport(_) => "check the network path to the peer",
        AbnormalCause::Eof => match phase {
            Phase::BeforeFirstFrame => "the peer accepted the connection and then dropped it; check its logs",
            Phase::FrameHeader { .. } | Phase::FramePayload { .. } | Phase::BetweenFragments { .. } => {
                "the peer process or the network died while sending; check the peer's logs and resources"
            }
            _ => "the peer process exited or crashed, or an intermediary dropped the connection",
        },
    }
}

/// A closure is what ends every operation on a connection that is over (adapters return it as
/// their `Closed` error), so it is an error type too, with the violation as its source when the
/// peer broke the protocol.
impl core::error::Error for Closure {
    fn source(&self) -> Option<&(dyn core::error::Error + 'static)> {
        match &self.kind {
            ClosureKind::Failed { error, .. } => Some(error),
            _ => None,
        }
    }
}

/// Silence after which a drop is worth blaming on an intermediary's idle timeout.
const PROXY_IDLE_HINT: Duration = Duration::from_secs(25);

/// Writes a duration as seconds with one decimal, without floating point.
struct Secs(Duration);

impl fmt::Display for Secs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{} s", self.0.as_secs(), self.0.subsec_millis() / 100)
    }
}

impl fmt::Display for Closure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.describe(f)?;
        if self.deflate {
            f.write_str(" [permessage-deflate]")?;
        }
        Ok(())
    }
}

impl Closure {
    /// The sentence `Display` prints, without the extension in use.
    fn describe(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let idle = Secs(self.idle);
        match &self.kind {
            ClosureKind::Clean {
                initiator,
                received,
                peer_kept_transport_open,
            } => {
                let who = match initiator {
                    Initiator::Local => "we closed the connection and the peer answered with",
                    Initiator::Peer => "the peer closed the connection with",
                };
                write!(f, "closed cleanly: {who} {received}")?;
                if *peer_kept_transport_open {
                    write!(f, "; {}", self.hint())?;
                }
                Ok(())
            }
            ClosureKind::Failed { error, sent, end } => {
                if *sent == error.close_code() {
                    write!(f, "we failed the connection with {sent}: {error}")?;
                } else {
                    write!(
                        f,
                        "we had sent Close with {sent} when the peer violated the protocol: {error}"
                    )?;
                }
                write!(f, "; {}; hint: {}", end.describe(), self.hint())
            }
            ClosureKind::Abnormal { cause, phase } => {
                f.write_str("closed abnormally (1006): ")?;
                match cause {
                    AbnormalCause::Eof => {
                        f.write_str("the peer closed the transport without a Close frame")?
                    }
                    AbnormalCause::Transport(TransportError::Http2StreamReset { code }) => {
                        write!(f, "{} with error code {code}", reset_description())?
                    }
                    AbnormalCause::Transport(e) => f.write_str(e.describe())?,
                    AbnormalCause::CloseTimeout => {
                        f.write_str("the closing handshake timed out")?
                    }
                    AbnormalCause::KeepaliveTimeout => f.write_str(
                        "keepalive timeout: no data and no pong arrived after our ping",
                    )?,
                }
                match phase {
                    Phase::BeforeFirstFrame => f.write_str(" before any frame arrived")?,
                    Phase::FrameBoundary => f.write_str(" between frames")?,
                    Phase::BetweenFragments { message_bytes } => {
                        write!(f, " in the middle of a fragmented message ({message_bytes} bytes received)")?
                    }
                    Phase::FrameHeader { received } => {
                        write!(f, " in the middle of a frame header ({received} bytes received)")?
                    }
                    Phase::FramePayload {
                        opcode,
                        received,
                        expected,
                    } => write!(
                        f,
                        " in the middle of a {} frame ({received} of {expected} payload bytes received)",
                        opcode.name()
                    )?,
                    Phase::AfterCloseSent => f.write_str(" after we sent Close, before the peer answered")?,
                    Phase::AfterCloseReceived { code } => match code {
                        Some(code) => write!(f, " after the peer's Close ({code}), before our reply was sent")?,
                        None => f.write_str(" after the peer's Close, before our reply was sent")?,
                    },
                }
                write!(
                    f,
                    ", {idle} after the last byte from the peer; hint: {}",
                    self.hint()
                )
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::string::ToString;

    #[test]
    fn http2_stream_reset_and_connection_loss_read_differently() {
        let closure = |error| {
            Closure::new(
                ClosureKind::Abnormal {
                    cause: AbnormalCause::Transport(error),
                    phase: Phase::FrameBoundary,
                },
                Duration::from_millis(100),
            )
            .to_string()
        };
        let reset = closure(TransportError::Http2StreamReset {
            code: Http2ErrorCode::from_u32(0x2),
        });
        assert!(
            reset.contains("HTTP/2 stream carrying the WebSocket was reset (RST_STREAM) with error code INTERNAL_ERROR"),
            "{reset}"
        );
        assert!(reset.contains("other streams may still be up"), "{reset}");
        let lost = closure(TransportError::Http2ConnectionLost);
        assert!(
            lost.contains("HTTP/2 connection carrying the WebSocket went away"),
            "{lost}"
        );
        assert!(
            lost.contains("every WebSocket on that HTTP/2 connection"),
            "{lost}"
        );
        assert_eq!(Http2ErrorCode::from_u32(0x8), Http2ErrorCode::Cancel);
        assert_eq!(Http2ErrorCode::from_u32(0x1234), Http2ErrorCode::Unknown);
        assert_eq!(core::mem::size_of::<TransportError>(), 1);
    }

    #[test]
    fn rfc6455_7_4_sendable_codes() {
        for ok in [
            1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 3999,
            4000, 4999,
        ] {
            assert!(CloseCode(ok).is_sendable(), "{ok}");
        }
        for bad in [
            0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535,
        ] {
            assert!(!CloseCode(bad).is_sendable(), "{bad}");
        }
    }

    #[test]
    fn rfc6455_5_5_1_close_payload_parsing() {
        assert_eq!(CloseFrame::parse(&[]).unwrap().code(), None);
        assert_eq!(
            CloseFrame::parse(&[3]),
            Err(ProtocolError::InvalidClosePayload)
        );
        assert_eq!(
            CloseFrame::parse(&[0x03, 0xED]),
            Err(ProtocolError::InvalidCloseCode(1005))
        );
        let f = CloseFrame::parse(b"\x03\xe8bye").unwrap();
        assert_eq!((f.code(), f.reason()), (Some(CloseCode::NORMAL), "bye"));
        assert_eq!(
            CloseFrame::parse(b"\x03\xe8\xff"),
            Err(ProtocolError::InvalidUtf8)
        );
        // A reason cut in the middle of a code point is invalid too.
        assert_eq!(
            CloseFrame::parse(b"\x03\xe8\xe2\x82"),
            Err(ProtocolError::InvalidUtf8)
        );
    }

    #[test]
    fn close_frame_new_validates() {
        assert_eq!(
            CloseFrame::new(CloseCode::ABNORMAL, ""),
            Err(SendError::InvalidCloseCode(1006))
        );
        let long = "x".repeat(124);
        assert_eq!(
            CloseFrame::new(CloseCode::NORMAL, &long),
            Err(SendError::ReasonTooLong { len: 124 })
        );
        let f = CloseFrame::new(CloseCode::GOING_AWAY, "restart").unwrap();
        let mut buf = [0u8; 125];
        let n = f.write_payload(&mut buf);
        assert_eq!(&buf[..n], b"\x03\xe9restart");
        assert_eq!(CloseFrame::parse(&buf[..n]).unwrap(), f);
    }

    #[test]
    fn display_names_cause_phase_idle_and_hint() {
        let c = Closure::new(
            ClosureKind::Abnormal {
                cause: AbnormalCause::Eof,
                phase: Phase::FramePayload {
                    opcode: OpCode::Binary,
                    received: 512,
                    expected: 4096,
                },
            },
            Duration::from_millis(1234),
        );
        let s = c.to_string();
        assert!(
            s.contains("1006") && s.contains("512 of 4096") && s.contains("1.2 s"),
            "{s}"
        );
        let proxy = Closure::new(
            ClosureKind::Abnormal {
                cause: AbnormalCause::Eof,
                phase: Phase::FrameBoundary,
            },
            Duration::from_millis(60_020),
        );
        assert!(proxy.to_string().contains("idle timeout"), "{proxy}");
        let clean = Closure::new(
            ClosureKind::Clean {
                initiator: Initiator::Peer,
                received: CloseFrame::new(CloseCode::GOING_AWAY, "bye").unwrap(),
                peer_kept_transport_open: false,
            },
            Duration::ZERO,
        );
        assert_eq!(clean.code(), CloseCode::GOING_AWAY);
        assert_eq!(
            clean.to_string(),
            "closed cleanly: the peer closed the connection with 1001 (going away), reason \"bye\""
        );
    }
}
