//! The opening handshake (RFC 6455 §4), for both client and server, without I/O or allocation.
//!
//! # Theory of operation
//!
//! A WebSocket connection starts life as HTTP/1.1: the client sends a `GET` request asking to
//! upgrade, the server answers `101 Switching Protocols`, and from the byte after the server's
//! blank line on, both directions carry WebSocket frames. This module does the HTTP part and
//! nothing else; the caller moves the bytes.
//!
//! ```text
//!  client                                          server
//!  ClientHandshake::write_request ──── GET ────▶   ServerHandshake::read_request
//!                                                  Request::accept / Reject / RequestError
//!  ClientHandshake::read_response ◀─── 101 ─────
//!  frames ◀──────────────────────────────────────▶ frames
//! ```
//!
//! Three rules shape the API:
//!
//! * **Caller-owned memory.** Requests and responses are written into `&mut [u8]` buffers; a
//!   buffer that is too small is an error that says how many bytes were needed. Parsed messages
//!   ([`Request`], [`ClientResponse`]) borrow the caller's receive buffer.
//! * **Incremental input, bounded work.** `read_request` and `read_response` are called again
//!   with the *same, grown* buffer after every read. `Ok(None)` means "need more bytes". The
//!   search for the end of the head resumes where it stopped, so dribbled input costs linear
//!   time, and a head larger than the configured limit is an error rather than a hang.
//! * **Nothing lost.** A peer may send WebSocket bytes right behind its handshake (a server its
//!   first message, a client a pipelined first frame). The parsed message reports how many bytes
//!   the HTTP head took (`consumed`) and hands back the rest (`remainder`); those bytes belong
//!   to the WebSocket engine and must be fed to it before anything read later.
//!
//! Both sides follow the RFC's checklists: §4.1 (what a client sends and must verify), §4.2.1
//! (what a server must find in a request) and §4.2.2 (what it answers). Each failed check is its
//! own error variant, so a log line says exactly which rule the peer broke.

pub(crate) mod base64;
mod client;
pub mod deflate;
mod headers;
pub mod parts;
pub(crate) mod scan;
mod server;
mod sha1;
mod status;
mod write;

pub use client::{ClientConfig, ClientHandshake, ClientRequest, ClientResponse, ResponseError};
pub use headers::{Header, Headers, ListItems};
pub use server::{Accept, Reject, Request, RequestError, ServerConfig, ServerHandshake};

/// RFC 6455 §1.3 / §4.2.2: the fixed GUID that the server appends to the client's key before
/// hashing. Its only purpose is to prove that the server understood the WebSocket handshake,
/// as opposed to an HTTP server that echoes headers.
pub const WEBSOCKET_GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// RFC 6455 §4.1: the only `Sec-WebSocket-Version` this crate speaks.
pub const WEBSOCKET_VERSION: &str = "13";

/// Default limit on the size of a request or response head, in bytes.
///
/// Browsers' handshakes are well under 1 KiB; 8 KiB leaves room for cookies while keeping the
/// receive buffer a peer can make us fill small.
pub const DEFAULT_MAX_HEAD_SIZE: usize = 8192;

/// Default limit on the number of header fields in a request or response head.
///
/// It is the length of the `httparse::Header` array placed on the stack while a complete head
/// is parsed (16 bytes per entry on 32-bit targets, 32 on 64-bit ones).
pub const DEFAULT_MAX_HEADERS: usize = 32;

/// The value of `Sec-WebSocket-Accept`: 28 base64 characters.
///
/// RFC 6455 §4.2.2 step 5.4: `base64(SHA-1(key ++ GUID))`. The server sends it and the client
/// checks it (§4.1, response rule 4), so both sides compute it with [`accept_key`].
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct AcceptKey([u8; 28]);

impl AcceptKey {
    /// The accept value as text.
    pub fn as_str(&self) -> &str {
        // Base64 output is ASCII, so this never falls back.
        core::str::from_utf8(&self.0).unwrap_or("")
    }

    /// The accept value as bytes.
    pub fn as_bytes(&self) -> &[u8; 28] {
        &self.0
    }
}

impl core::fmt::Debug for AcceptKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_tuple("AcceptKey").field(&self.as_str()).finish()
    }
}

impl core::fmt::Display for AcceptKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Computes the `Sec-WebSocket-Accept` value for a `Sec-WebSocket-Key` (RFC 6455 §4.2.2).
///
/// `key` is the key exactly as it appears in the header, i.e. the 24 base64 characters, not
/// the 16 bytes they decode to.
///
/// ```
/// use sockeye_core::handshake::accept_key;
/// // The example of RFC 6455 §1.3.
/// assert_eq!(accept_key(b"dGhlIHNhbXBsZSBub25jZQ==").as_str(), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
/// ```
pub fn accept_key(key: &[u8]) -> AcceptKey {
    let digest = sha1::digest(&[key, WEBSOCKET_GUID.as_bytes()]);
    let mut out = [0u8; 28];
    // A 20-byte digest always encodes to exactly 28 padded characters, so the buffer fits.
    let written = base64::encode(&digest, &mut out);
    debug_assert_eq!(written, Some(28));
    AcceptKey(out)
}

/// Why an HTTP head could not be parsed at all.
///
/// Carried by [`RequestError::Malformed`] and [`ResponseError::Malformed`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SyntaxError {
    /// A byte no HTTP/1.1 head may contain: a control character other than HTAB, or a CR not
    /// followed by LF. Typical of binary data (such as a TLS handshake) on a plain-text port.
    InvalidByte,
    /// The request line or status line is malformed.
    StartLine,
    /// The HTTP version is neither `HTTP/1.0` nor `HTTP/1.1`.
    Version,
    /// A header field name contains a character that is not allowed in a token.
    HeaderName,
    /// A header field value contains a forbidden character.
    HeaderValue,
    /// A line ending is malformed.
    NewLine,
}

impl SyntaxError {
    fn from_httparse(e: httparse::Error) -> Self {
        match e {
            httparse::Error::HeaderName => SyntaxError::HeaderName,
            httparse::Error::HeaderValue => SyntaxError::HeaderValue,
            httparse::Error::NewLine => SyntaxError::NewLine,
            httparse::Error::Version => SyntaxError::Version,
            // `TooManyHeaders` is reported as its own error by both callers before they get
            // here; the remaining kinds are all about the first line.
            httparse::Error::Status | httparse::Error::Token | httparse::Error::TooManyHeaders => {
                SyntaxError::StartLine
            }
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            SyntaxError::InvalidByte => "a byte that is not allowed in an HTTP head",
            SyntaxError::StartLine => "a malformed first line",
            SyntaxError::Version => "an unknown HTTP version",
            SyntaxError::HeaderName => "an invalid header name",
            SyntaxError::HeaderValue => "an invalid header value",
            SyntaxError::NewLine => "a malformed line ending",
        }
    }
}

impl core::fmt::Display for SyntaxError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl core::error::Error for SyntaxError {}

/// Why a handshake message could not be written.
///
/// Writing never leaves a partially valid message behind that could be mistaken for a complete
/// one: on error, discard whatever is in the output buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum WriteError {
    /// The output buffer is too small; `needed` bytes would have been written.
    BufferTooSmall {
        /// Exact size of the message that did not fit.
        needed: usize,
    },
    /// The host given to [`ClientRequest::from_parts`] is empty or contains whitespace or
    /// control characters.
    InvalidHost,
    /// The resource given to [`ClientRequest::from_parts`] does not start with `/` or contains
    /// whitespace, control or non-ASCII characters (RFC 7230 §5.3.1 origin-form).
    InvalidResource,
    /// The origin contains characters that are not allowed in a header value.
    InvalidOrigin,
    /// A subprotocol is not an RFC 7230 token (RFC 6455 §4.1: U+0021–U+007E, no separators).
    /// `index` is its position in the list supplied (0 for [`Accept::with_protocol`]).
    InvalidProtocol {
        /// Position of the offending subprotocol.
        index: usize,
    },
    /// A subprotocol is offered twice; RFC 6455 §4.1 requires the offers to be unique.
    DuplicateProtocol {
        /// Position of the second occurrence.
        index: usize,
    },
    /// The server tried to select a subprotocol the client did not offer (RFC 6455 §4.2.2).
    ProtocolNotOffered,
    /// An extension string is empty or contains characters not allowed in a header value.
    /// `index` is its position in the list supplied (0 for [`Accept::with_extensions`]).
    InvalidExtension {
        /// Position of the offending extension string.
        index: usize,
    },
    /// The server tried to accept an extension the client did not offer (RFC 6455 §9.1).
    ExtensionNotOffered,
    /// An extra header's name is not an RFC 7230 token (this includes names containing CR/LF).
    InvalidHeaderName {
        /// Position of the header in the slice supplied.
        index: usize,
    },
    /// An extra header's value contains CR, LF or another control character.
    InvalidHeaderValue {
        /// Position of the header in the slice supplied.
        index: usize,
    },
    /// An extra header is one the handshake writes itself (such as `Upgrade` or
    /// `Content-Length`); a second copy would contradict the first.
    ReservedHeader {
        /// Position of the header in the slice supplied.
        index: usize,
    },
    /// A rejection status outside 200–599. Informational codes (1xx) are not final responses,
    /// and 101 would claim the upgrade succeeded.
    InvalidStatus {
        /// The status code supplied.
        status: u16,
    },
}

impl core::fmt::Display for WriteError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match *self {
            WriteError::BufferTooSmall { needed } => {
                write!(f, "output buffer too small: {needed} bytes needed")
            }
            WriteError::InvalidHost => {
                f.write_str("host is empty or contains whitespace or control characters")
            }
            WriteError::InvalidResource => f.write_str(
                "resource must start with '/' and contain only visible ASCII characters",
            ),
            WriteError::InvalidOrigin => {
                f.write_str("origin contains characters not allowed in a header value")
            }
            WriteError::InvalidProtocol { index } => {
                write!(f, "subprotocol #{index} is not an HTTP token")
            }
            WriteError::DuplicateProtocol { index } => {
                write!(f, "subprotocol #{index} repeats an earlier one")
            }
            WriteError::ProtocolNotOffered => {
                f.write_str("the chosen subprotocol was not offered by the client")
            }
            WriteError::InvalidExtension { index } => write!(
                f,
                "extension #{index} is empty or contains characters not allowed in a header value"
            ),
            WriteError::ExtensionNotOffered => {
                f.write_str("an accepted extension was not offered by the client")
            }
            WriteError::InvalidHeaderName { index } => {
                write!(f, "header #{index} has a name that is not an HTTP token")
            }
            WriteError::InvalidHeaderValue { index } => write!(
                f,
                "header #{index} has a value containing CR, LF or another control character"
            ),
            WriteError::ReservedHeader { index } => write!(
                f,
                "header #{index} is one the handshake writes itself and may not be repeated"
            ),
            WriteError::InvalidStatus { status } => {
                write!(f, "status {status} cannot reject a handshake (use 200-599)")
            }
        }
    }
}

impl core::error::Error for WriteError {}

#[cfg(test)]
mod tests;
