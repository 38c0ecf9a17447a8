//! Errors: the peer's protocol violations, and misuse of the sending side.

use core::fmt;

use crate::close::CloseCode;

/// A violation of RFC 6455 by the peer. The engine fails the connection (§7.1.7) with the
/// close code from [`close_code`](Self::close_code).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProtocolError {
    /// §5.2: an opcode reserved for future use (3–7, 11–15).
    ReservedOpcode(u8),
    /// §5.2: an RSV bit that no negotiated extension defines (the bits, RSV1 = `0b100`).
    ReservedBits(u8),
    /// §5.5: a control frame without FIN.
    FragmentedControlFrame,
    /// §5.5: a control frame with more than 125 bytes of payload.
    ControlFrameTooLong,
    /// §5.2: a payload length not in the minimal number of bytes.
    NonMinimalLength,
    /// §5.2: a 64-bit payload length with its most significant bit set.
    LengthMsbSet,
    /// §5.1: a client sent a frame without masking it.
    UnmaskedFrame,
    /// §5.1: a server sent a masked frame.
    MaskedFrame,
    /// §5.4: a continuation frame with no fragmented message in progress.
    UnexpectedContinuation,
    /// §5.4: a new text or binary frame while a fragmented message is still in progress.
    ExpectedContinuation,
    /// §8.1: a text message (or a close reason) that is not valid UTF-8.
    InvalidUtf8,
    /// §5.5.1: a Close frame with a 1-byte payload.
    InvalidClosePayload,
    /// §7.4: a close code that may not be sent on the wire.
    InvalidCloseCode(u16),
    /// A frame longer than the configured maximum frame payload.
    FrameTooLarge {
        /// The frame's payload length.
        len: u64,
        /// The configured limit.
        max: u64,
    },
    /// A message longer than the configured maximum message size.
    MessageTooLarge {
        /// The configured limit.
        max: u64,
    },
    /// RFC 7692 §7.2.2: a compressed message (permessage-deflate) whose payload does not
    /// inflate — not a DEFLATE stream, or bytes after its final block.
    InvalidCompressedData,
}

impl ProtocolError {
    /// The close code the engine sends when failing the connection for this error (§7.4.1).
    pub const fn close_code(&self) -> CloseCode {
        match self {
            ProtocolError::InvalidUtf8 | ProtocolError::InvalidCompressedData => {
                CloseCode::INVALID_PAYLOAD
            }
            ProtocolError::FrameTooLarge { .. } | ProtocolError::MessageTooLarge { .. } => {
                CloseCode::MESSAGE_TOO_BIG
            }
            _ => CloseCode::PROTOCOL_ERROR,
        }
    }

    /// A short reason, sent in our Close frame (at most 123 bytes, ASCII).
    pub const fn reason(&self) -> &'static str {
        match self {
            ProtocolError::ReservedOpcode(_) => "reserved opcode",
            ProtocolError::ReservedBits(_) => "reserved bits set",
            ProtocolError::FragmentedControlFrame => "fragmented control frame",
            ProtocolError::ControlFrameTooLong => "control frame too long",
            ProtocolError::NonMinimalLength => "non-minimal length encoding",
            ProtocolError::LengthMsbSet => "payload length MSB set",
            ProtocolError::UnmaskedFrame => "client frame not masked",
            ProtocolError::MaskedFrame => "server frame masked",
            ProtocolError::UnexpectedContinuation => "continuation without a message",
            ProtocolError::ExpectedContinuation => "new message inside a fragmented one",
            ProtocolError::InvalidUtf8 => "invalid UTF-8",
            ProtocolError::InvalidClosePayload => "1-byte close payload",
            ProtocolError::InvalidCloseCode(_) => "invalid close code",
            ProtocolError::FrameTooLarge { .. } => "frame too large",
            ProtocolError::MessageTooLarge { .. } => "message too large",
            ProtocolError::InvalidCompressedData => "invalid compressed data",
        }
    }
}

impl fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProtocolError::ReservedOpcode(op) => write!(f, "the peer used reserved opcode {op:#x} (RFC 6455 §5.2)"),
            ProtocolError::ReservedBits(bits) => write!(
                f,
                "the peer set reserved bits {bits:#05b} that no negotiated extension defines (RFC 6455 §5.2)"
            ),
            ProtocolError::FragmentedControlFrame => f.write_str("the peer fragmented a control frame (RFC 6455 §5.5)"),
            ProtocolError::ControlFrameTooLong => {
                f.write_str("the peer sent a control frame longer than 125 bytes (RFC 6455 §5.5)")
            }
            ProtocolError::NonMinimalLength => {
                f.write_str("the peer encoded a payload length in more bytes than needed (RFC 6455 §5.2)")
            }
            ProtocolError::LengthMsbSet => {
                f.write_str("the peer sent a 64-bit payload length with the most significant bit set (RFC 6455 §5.2)")
            }
            ProtocolError::UnmaskedFrame => f.write_str("the client sent an unmasked frame (RFC 6455 §5.1)"),
            ProtocolError::MaskedFrame => f.write_str("the server sent a masked frame (RFC 6455 §5.1)"),
            ProtocolError::UnexpectedContinuation => {
                f.write_str("the peer sent a continuation frame with no message in progress (RFC 6455 §5.4)")
            }
            ProtocolError::ExpectedContinuation => f.write_str(
                "the peer started a new message before finishing its fragmented one (RFC 6455 §5.4)",
            ),
            ProtocolError::InvalidUtf8 => f.write_str("the peer sent text that is not valid UTF-8 (RFC 6455 §8.1)"),
            ProtocolError::InvalidClosePayload => {
                f.write_str("the peer sent a Close frame with a 1-byte payload (RFC 6455 §5.5.1)")
            }
            ProtocolError::InvalidCloseCode(code) => {
                write!(f, "the peer sent close code {code}, which is not allowed on the wire (RFC 6455 §7.4)")
            }
            ProtocolError::FrameTooLarge { len, max } => {
                write!(f, "the peer sent a {len}-byte frame, above the {max}-byte limit")
            }
            ProtocolError::MessageTooLarge { max } => {
                write!(f, "the peer sent a message larger than the {max}-byte limit")
            }
            ProtocolError::InvalidCompressedData => f.write_str(
                "the peer sent a compressed message whose payload does not inflate (RFC 7692 §7.2.2)",
            ),
        }
    }
}

impl core::error::Error for ProtocolError {}

/// Why the engine refused to encode an outgoing frame. The connection state is unchanged.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SendError {
    /// A Close frame was already sent or received: RFC 6455 §5.5.1 allows no data after it.
    Closing,
    /// The output buffer is too small for the frame; `needed` bytes would fit it.
    BufferTooSmall {
        /// Bytes the encoded frame needs.
        needed: usize,
    },
    /// Control frame payloads are limited to 125 bytes (§5.5).
    ControlPayloadTooLong {
        /// The payload length given.
        len: usize,
    },
    /// A fragmented message is being sent: finish it before starting another (§5.4).
    MessageInProgress,
    /// The fragments of a text message do not form valid UTF-8 (§8.1).
    InvalidUtf8,
    /// This close code may not be sent (§7.4): 1005, 1006, 1015 and unassigned codes.
    InvalidCloseCode(u16),
    /// A close reason is limited to 123 bytes (§5.5: 125 minus the 2-byte code).
    ReasonTooLong {
        /// The reason length given.
        len: usize,
    },
}

impl fmt::Display for SendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SendError::Closing => f.write_str("cannot send: the closing handshake has started"),
            SendError::BufferTooSmall { needed } => {
                write!(f, "output buffer too small: the frame needs {needed} bytes")
            }
            SendError::ControlPayloadTooLong { len } => {
                write!(f, "control frame payload of {len} bytes exceeds 125 bytes")
            }
            SendError::MessageInProgress => {
                f.write_str("a fragmented message is in progress: finish it first")
            }
            SendError::InvalidUtf8 => f.write_str("text fragments are not valid UTF-8"),
            SendError::InvalidCloseCode(code) => write!(f, "close code {code} may not be sent"),
            SendError::ReasonTooLong { len } => {
                write!(f, "close reason of {len} bytes exceeds 123 bytes")
            }
        }
    }
}

impl core::error::Error for SendError {}
