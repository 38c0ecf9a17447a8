//! Negotiating permessage-deflate (RFC 7692 §5–7) in the opening handshake, without an
//! allocator: parsing offers and responses, the server's choice, and writing both headers.
//!
//! The extension is negotiated in `Sec-WebSocket-Extensions`: a client lists one or more
//! offers in its order of preference (e.g. `permessage-deflate; client_max_window_bits`, then
//! a plain `permessage-deflate` as a fallback), and a server accepts at most one of them with
//! the parameters both ends will use. Four parameters exist (§7.1):
//!
//! | parameter | in an offer | in the response |
//! |---|---|---|
//! | `server_no_context_takeover` | the client asks the server to reset its compressor after each message | the server will; it may say so unasked, and must when asked |
//! | `client_no_context_takeover` | a hint: the client will reset its compressor anyway | the client must reset it |
//! | `server_max_window_bits=N` (8–15) | the server must compress with a window of at most 2^N | the window the server will use, at most the offer's; it may limit itself unasked |
//! | `client_max_window_bits[=N]` | the client can limit its window (to N, a hint) | the window the client must use; only if offered, and then with a value |
//!
//! A server *declines* an offer it cannot take — an unknown, duplicated or malformed
//! parameter, a value out of range, or a limit its compressor cannot honour — and moves on to
//! the next offer: a bad offer never fails the handshake. A client *fails* the connection when
//! the response is not one it can accept ([`DeflateError`]).
//!
//! Window bits 8 to 15 parse. zlib-family compressors cannot compress with a raw window of
//! 2^8 (their smallest is 2^9), but with 2^9 they never reach back more than 250 bytes, within
//! a 256-byte window: the `deflate` feature's compressor honours 8 that way, so the default
//! floor ([`DeflateConfig::min_window_bits`]) is 8. A server whose compressor cannot do that
//! sets the floor to 9 and declines offers asking for less.
//!
//! This module only negotiates; compressing and inflating with the agreed
//! [`DeflateParams`] is the `deflate` feature's engine extension (RFC 7692 §6–7.2).
//!
//! ```
//! use sockeye_core::handshake::deflate::{negotiate, DeflateConfig, DeflateOffer};
//!
//! // What a browser sends:
//! let offers = ["permessage-deflate; client_max_window_bits"];
//! let accepted = negotiate(offers.into_iter(), &DeflateConfig::default()).unwrap();
//! assert_eq!(accepted.params().client_max_window_bits, 15);
//! let mut out = [0u8; 128];
//! let n = accepted.write_response(&mut out).unwrap();
//! assert_eq!(&out[..n], b"permessage-deflate");
//!
//! // A client offering the low-memory mode, then checking the server's answer:
//! let offer = DeflateOffer::low_memory();
//! let n = offer.write(&mut out).unwrap();
//! assert_eq!(
//!     &out[..n],
//!     &b"permessage-deflate; server_no_context_takeover; client_no_context_takeover"[..]
//! );
//! let params = offer
//!     .check_response("permessage-deflate; server_no_context_takeover; client_no_context_takeover")
//!     .unwrap();
//! assert!(params.server_no_context_takeover && params.client_no_context_takeover);
//! ```

use core::fmt;

use super::headers::{is_token, trim_ows};
use super::WriteError;

/// The extension's name in `Sec-WebSocket-Extensions`.
pub const PERMESSAGE_DEFLATE: &str = "permessage-deflate";

/// The largest LZ77 window, 2^15 bytes: the default when a side is not limited.
pub const MAX_WINDOW_BITS: u8 = 15;

/// The smallest window a peer may ask for (§7.1.2).
pub const MIN_WINDOW_BITS: u8 = 8;

/// The parameters both ends use once permessage-deflate is agreed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct DeflateParams {
    /// The server resets its compressor after every message (and the client its inflater).
    pub server_no_context_takeover: bool,
    /// The client resets its compressor after every message (and the server its inflater).
    pub client_no_context_takeover: bool,
    /// The server compresses with a window of at most 2^N bytes; the client's inflater needs
    /// that much.
    pub server_max_window_bits: u8,
    /// The client compresses with a window of at most 2^N bytes; the server's inflater needs
    /// that much.
    pub client_max_window_bits: u8,
}

/// What a server accepts (its policy), for [`negotiate`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct DeflateConfig {
    /// Reset our compressor after every message even if the client does not ask: no
    /// compression state is kept per connection between messages (the low-memory mode).
    pub server_no_context_takeover: bool,
    /// Ask the client to reset its compressor after every message, so that our inflater keeps
    /// no window between messages either.
    pub client_no_context_takeover: bool,
    /// The largest window we compress with.
    pub server_max_window_bits: u8,
    /// The largest window we inflate with: we limit the client to it when it offers
    /// `client_max_window_bits`, and decline its offers that do not when this is below 15.
    pub client_max_window_bits: u8,
    /// The smallest window our compressor can honour: offers asking for less are declined.
    /// 8 by default (the `deflate` feature compresses with 2^9 and stays within 256 bytes);
    /// 9 for a zlib-family compressor used directly, which cannot compress with a raw 2^8.
    pub min_window_bits: u8,
}

impl DeflateConfig {
    /// The best-ratio defaults: context takeover both ways, 32 KiB windows, 8-bit floor.
    pub const fn new() -> DeflateConfig {
        DeflateConfig {
            server_no_context_takeover: false,
            client_no_context_takeover: false,
            server_max_window_bits: MAX_WINDOW_BITS,
            client_max_window_bits: MAX_WINDOW_BITS,
            min_window_bits: MIN_WINDOW_BITS,
        }
    }

    /// The low-memory mode for servers with many connections: no context takeover either way.
    pub const fn low_memory() -> DeflateConfig {
        DeflateConfig {
            server_no_context_takeover: true,
            client_no_context_takeover: true,
            ..DeflateConfig::new()
        }
    }
}

impl Default for DeflateConfig {
    fn default() -> DeflateConfig {
        DeflateConfig::new()
    }
}

/// One permessage-deflate offer: what a client sends, or what a server parsed from it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct DeflateOffer {
    /// The client asks the server to reset its compressor after every message.
    pub server_no_context_takeover: bool,
    /// The client will reset its compressor after every message (a hint).
    pub client_no_context_takeover: bool,
    /// The client limits the server's window to 2^N.
    pub server_max_window_bits: Option<u8>,
    /// `None`: the client cannot limit its window; `Some(None)`: it can (the server may limit
    /// it); `Some(Some(n))`: it can, and will not use more than 2^n anyway.
    pub client_max_window_bits: Option<Option<u8>>,
}

impl DeflateOffer {
    /// The offer browsers make: `permessage-deflate; client_max_window_bits`.
    pub const fn new() -> DeflateOffer {
        DeflateOffer {
            server_no_context_takeover: false,
            client_no_context_takeover: false,
            server_max_window_bits: None,
            client_max_window_bits: Some(None),
        }
    }

    /// No context takeover either way: neither end keeps a window between messages.
    pub const fn low_memory() -> DeflateOffer {
        DeflateOffer {
            server_no_context_takeover: true,
            client_no_context_takeover: true,
            server_max_window_bits: None,
            client_max_window_bits: None,
        }
    }

    /// Parses one element of `Sec-WebSocket-Extensions`: `Ok(None)` if it is another
    /// extension, an error if it is a permessage-deflate offer that must be declined.
    pub fn parse(item: &str) -> Result<Option<DeflateOffer>, DeflateError> {
        match parse_item(item)? {
            Some(params) => collect(params, Side::Offer).map(Some),
            None => Ok(None),
        }
    }

    /// Writes the offer as one `Sec-WebSocket-Extensions` element into `out`, returning its
    /// length. Values outside 8–15 are refused.
    pub fn write(&self, out: &mut [u8]) -> Result<usize, WriteError> {
        let mut w = Writer::new(out);
        w.push(PERMESSAGE_DEFLATE)?;
        if self.server_no_context_takeover {
            w.push("; server_no_context_takeover")?;
        }
        if self.client_no_context_takeover {
            w.push("; client_no_context_takeover")?;
        }
        if let Some(bits) = self.server_max_window_bits {
            w.push("; server_max_window_bits=")?;
            w.bits(bits)?;
        }
        match self.client_max_window_bits {
            None => {}
            Some(None) => w.push("; client_max_window_bits")?,
            Some(Some(bits)) => {
                w.push("; client_max_window_bits=")?;
                w.bits(bits)?;
            }
        }
        Ok(w.len)
    }

    /// Checks the server's response element (the client's side, §7.1): `Ok` with the
    /// parameters to use, or the reason to fail the connection.
    pub fn check_response(&self, item: &str) -> Result<DeflateParams, DeflateError> {
        let params = parse_item(item)?.ok_or(DeflateError::NotPermessageDeflate)?;
        let got = collect(params, Side::Response)?;
        // §7.1.1.1: asked for, the server must accept it (declining means declining the offer).
        if self.server_no_context_takeover && !got.server_no_context_takeover {
            return Err(DeflateError::NotAccepted);
        }
        let server_bits = match (self.server_max_window_bits, got.server_max_window_bits) {
            (Some(_), None) => return Err(DeflateError::NotAccepted),
            (Some(asked), Some(bits)) if bits > asked => return Err(DeflateError::NotOffered),
            (_, bits) => bits.unwrap_or(MAX_WINDOW_BITS),
        };
        let client_bits = match (self.client_max_window_bits, got.client_max_window_bits) {
            (None, Some(_)) => return Err(DeflateError::NotOffered),
            (Some(Some(hint)), Some(Some(bits))) => bits.min(hint),
            (Some(None), Some(Some(bits))) => bits,
            (Some(Some(hint)), _) => hint,
            _ => MAX_WINDOW_BITS,
        };
        Ok(DeflateParams {
            server_no_context_takeover: got.server_no_context_takeover,
            client_no_context_takeover: got.client_no_context_takeover
                || self.client_no_context_takeover,
            server_max_window_bits: server_bits,
            client_max_window_bits: client_bits,
        })
    }
}

/// The server's choice: the offer it accepted and the parameters that follow.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Accepted {
    params: DeflateParams,
    offer: DeflateOffer,
}

impl Accepted {
    /// The parameters both ends use.
    pub const fn params(&self) -> DeflateParams {
        self.params
    }

    /// The offer that was accepted.
    pub const fn offer(&self) -> DeflateOffer {
        self.offer
    }

    /// Writes the response element for `Sec-WebSocket-Extensions` into `out`, returning its
    /// length: the parameters the client must know, and those the RFC requires to be echoed.
    pub fn write_response(&self, out: &mut [u8]) -> Result<usize, WriteError> {
        let p = &self.params;
        let mut w = Writer::new(out);
        w.push(PERMESSAGE_DEFLATE)?;
        if p.server_no_context_takeover {
            w.push("; server_no_context_takeover")?;
        }
        if p.client_no_context_takeover {
            w.push("; client_no_context_takeover")?;
        }
        if self.offer.server_max_window_bits.is_some() || p.server_max_window_bits < MAX_WINDOW_BITS
        {
            w.push("; server_max_window_bits=")?;
            w.bits(p.server_max_window_bits)?;
        }
        let hint = match self.offer.client_max_window_bits {
            Some(hint) => hint.unwrap_or(MAX_WINDOW_BITS),
            None => MAX_WINDOW_BITS,
        };
        if self.offer.client_max_window_bits.is_some() && p.client_max_window_bits < hint {
            w.push("; client_max_window_bits=")?;
            w.bits(p.client_max_window_bits)?;
        }
        Ok(w.len)
    }
}

/// The server's side (§5): the first permessage-deflate offer among `items` (the elements of
/// every `Sec-WebSocket-Extensions` field, in order) that `config` can accept, or `None` —
/// then the connection goes on without compression. Offers it cannot take are declined, never
/// an error.
pub fn negotiate<'a>(
    items: impl Iterator<Item = &'a str>,
    config: &DeflateConfig,
) -> Option<Accepted> {
    items
        .filter_map(|item| DeflateOffer::parse(item).ok().flatten())
        .find_map(|offer| accept(offer, config))
}

/// The parameters for `offer` under `config`, or `None` to decline it.
fn accept(offer: DeflateOffer, config: &DeflateConfig) -> Option<Accepted> {
    let floor = config
        .min_window_bits
        .clamp(MIN_WINDOW_BITS, MAX_WINDOW_BITS);
    let server_bits = match offer.server_max_window_bits {
        Some(asked) if asked < floor => return None,
        Some(asked) => asked.min(config.server_max_window_bits),
        None => config.server_max_window_bits,
    }
    .clamp(floor, MAX_WINDOW_BITS);
    let client_bits = match offer.client_max_window_bits {
        // The client cannot limit its window: we must inflate with the full one.
        None if config.client_max_window_bits < MAX_WINDOW_BITS => return None,
        None => MAX_WINDOW_BITS,
        Some(hint) => hint
            .unwrap_or(MAX_WINDOW_BITS)
            .min(config.client_max_window_bits)
            .max(MIN_WINDOW_BITS),
    };
    Some(Accepted {
        params: DeflateParams {
            server_no_context_takeover: offer.server_no_context_takeover
                || config.server_no_context_takeover,
            client_no_context_takeover: offer.client_no_context_takeover
                || config.client_no_context_takeover,
            server_max_window_bits: server_bits,
            client_max_window_bits: client_bits,
        },
        offer,
    })
}

/// Why a permessage-deflate offer was declined, or a response refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DeflateError {
    /// The element names another extension.
    NotPermessageDeflate,
    /// A parameter RFC 7692 does not define.
    UnknownParameter,
    /// A parameter given twice.
    DuplicateParameter,
    /// A parameter that takes no value has one, or the element is not `name *(; param)`.
    Malformed,
    /// A window-bits parameter without the value it needs here.
    MissingValue,
    /// A window-bits value that is not a number from 8 to 15 written without leading zeros.
    InvalidWindowBits,
    /// The response contains what the offer did not allow (`client_max_window_bits` not
    /// offered, or a server window above the one asked for).
    NotOffered,
    /// The response leaves out what the offer required (`server_no_context_takeover` or
    /// `server_max_window_bits` asked for and not granted).
    NotAccepted,
}

impl fmt::Display for DeflateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DeflateError::NotPermessageDeflate => "the extension is not permessage-deflate",
            DeflateError::UnknownParameter => {
                "a permessage-deflate parameter RFC 7692 does not define"
            }
            DeflateError::DuplicateParameter => "a permessage-deflate parameter given twice",
            DeflateError::Malformed => "a malformed permessage-deflate parameter",
            DeflateError::MissingValue => "a window-bits parameter without its value",
            DeflateError::InvalidWindowBits => {
                "a window-bits value that is not 8 to 15 (RFC 7692 §7.1.2)"
            }
            DeflateError::NotOffered => {
                "the server's permessage-deflate response goes beyond the offer (RFC 7692 §7.1)"
            }
            DeflateError::NotAccepted => {
                "the server's permessage-deflate response leaves out a parameter the offer required (RFC 7692 §7.1)"
            }
        })
    }
}

impl core::error::Error for DeflateError {}

// ------------------------------------------------------------------------------ parsing

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Name {
    ServerNoContextTakeover,
    ClientNoContextTakeover,
    ServerMaxWindowBits,
    ClientMaxWindowBits,
}

/// A parameter value, unquoted: at most two digits are ever valid, so a small copy suffices.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Value {
    bytes: [u8; 2],
    len: u8,
}

/// `Ok(None)` when `item` names another extension; otherwise its parameters, lazily.
fn parse_item(item: &str) -> Result<Option<Params<'_>>, DeflateError> {
    let mut parts = SemicolonSplit {
        rest: item.as_bytes(),
    };
    let name = trim_ows(parts.next().unwrap_or(&[]));
    if !name.eq_ignore_ascii_case(PERMESSAGE_DEFLATE.as_bytes()) {
        return Ok(None);
    }
    Ok(Some(Params { parts }))
}

/// The parameters of one element, each parsed as it is reached.
struct Params<'a> {
    parts: SemicolonSplit<'a>,
}

impl Iterator for Params<'_> {
    type Item = Result<(Name, Option<Value>), DeflateError>;

    fn next(&mut self) -> Option<Self::Item> {
        self.parts.next().map(parse_param)
    }
}

fn parse_param(param: &[u8]) -> Result<(Name, Option<Value>), DeflateError> {
    let param = trim_ows(param);
    let (name, value) = match param.iter().position(|&b| b == b'=') {
        Some(i) => (
            trim_ows(&param[..i]),
            Some(trim_ows(param.get(i + 1..).unwrap_or(&[]))),
        ),
        None => (param, None),
    };
    let name = match name {
        n if n.eq_ignore_ascii_case(b"server_no_context_takeover") => Name::ServerNoContextTakeover,
        n if n.eq_ignore_ascii_case(b"client_no_context_takeover") => Name::ClientNoContextTakeover,
        n if n.eq_ignore_ascii_case(b"server_max_window_bits") => Name::ServerMaxWindowBits,
        n if n.eq_ignore_ascii_case(b"client_max_window_bits") => Name::ClientMaxWindowBits,
        n if is_token(n) => return Err(DeflateError::UnknownParameter),
        _ => return Err(DeflateError::Malformed),
    };
    let value = match value {
        None => None,
        Some(v) => Some(unquote(v)?),
    };
    Ok((name, value))
}

/// A `token` or a `quoted-string` (RFC 7230 §3.2.6), unquoted. Longer than two bytes it cannot
/// be a valid window size, which is reported as such.
fn unquote(v: &[u8]) -> Result<Value, DeflateError> {
    let mut out = Value {
        bytes: [0; 2],
        len: 0,
    };
    let mut push = |b: u8| {
        if out.len as usize >= out.bytes.len() {
            return Err(DeflateError::InvalidWindowBits);
        }
        out.bytes[out.len as usize] = b;
        out.len += 1;
        Ok(())
    };
    match v {
        [b'"', inner @ .., b'"'] => {
            let mut escaped = false;
            for &b in inner {
                match (escaped, b) {
                    (false, b'\\') => escaped = true,
                    (false, b'"') => return Err(DeflateError::Malformed),
                    _ => {
                        escaped = false;
                        push(b)?;
                    }
                }
            }
            if escaped {
                return Err(DeflateError::Malformed);
            }
        }
        v if is_token(v) => {
            for &b in v {
                push(b)?;
            }
        }
        _ => return Err(DeflateError::Malformed),
    }
    Ok(out)
}

/// §7.1.2: `1*DIGIT` without leading zeros, 8 to 15.
fn window_bits(v: Value) -> Result<u8, DeflateError> {
    match &v.bytes[..v.len as usize] {
        [d @ b'8'..=b'9'] => Ok(d - b'0'),
        [b'1', d @ b'0'..=b'5'] => Ok(10 + d - b'0'),
        _ => Err(DeflateError::InvalidWindowBits),
    }
}

/// Whether parameters come in an offer or in a response: they differ in one rule.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Side {
    Offer,
    Response,
}

/// The parameters of one element, each at most once, with valid values.
fn collect(params: Params<'_>, side: Side) -> Result<DeflateOffer, DeflateError> {
    let mut got = DeflateOffer::default();
    for param in params {
        let (name, value) = param?;
        match name {
            Name::ServerNoContextTakeover => set_flag(&mut got.server_no_context_takeover, value)?,
            Name::ClientNoContextTakeover => set_flag(&mut got.client_no_context_takeover, value)?,
            Name::ServerMaxWindowBits => set_bits(
                &mut got.server_max_window_bits,
                value.ok_or(DeflateError::MissingValue)?,
            )?,
            Name::ClientMaxWindowBits => {
                if got.client_max_window_bits.is_some() {
                    return Err(DeflateError::DuplicateParameter);
                }
                got.client_max_window_bits = Some(match (value, side) {
                    (Some(v), _) => Some(window_bits(v)?),
                    (None, Side::Offer) => None,
                    // §7.1.2.2: in a response it carries a value.
                    (None, Side::Response) => return Err(DeflateError::MissingValue),
                });
            }
        }
    }
    Ok(got)
}

fn set_flag(flag: &mut bool, value: Option<Value>) -> Result<(), DeflateError> {
    if value.is_some() {
        return Err(DeflateError::Malformed);
    }
    if *flag {
        return Err(DeflateError::DuplicateParameter);
    }
    *flag = true;
    Ok(())
}

fn set_bits(slot: &mut Option<u8>, value: Value) -> Result<(), DeflateError> {
    if slot.is_some() {
        return Err(DeflateError::DuplicateParameter);
    }
    *slot = Some(window_bits(value)?);
    Ok(())
}

/// Splits at `;` outside quoted strings.
struct SemicolonSplit<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for SemicolonSplit<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        if self.rest.is_empty() {
            return None;
        }
        let (mut quoted, mut escaped) = (false, false);
        let mut end = self.rest.len();
        for (i, &b) in self.rest.iter().enumerate() {
            if escaped {
                escaped = false;
            } else if quoted && b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                quoted = !quoted;
            } else if b == b';' && !quoted {
                end = i;
                break;
            }
        }
        let part = self.rest.get(..end).unwrap_or(&[]);
        self.rest = match self.rest.get(end..) {
            Some([b';', rest @ ..]) => {
                // A trailing `;` leaves an empty parameter: malformed, reported by the parser.
                if rest.is_empty() {
                    b" "
                } else {
                    rest
                }
            }
            _ => &[],
        };
        Some(part)
    }
}

/// Writes ASCII into a caller buffer, failing when it is too small.
struct Writer<'o> {
    out: &'o mut [u8],
    len: usize,
}

impl<'o> Writer<'o> {
    fn new(out: &'o mut [u8]) -> Self {
        Writer { out, len: 0 }
    }

    fn push(&mut self, s: &str) -> Result<(), WriteError> {
        let end = self.len + s.len();
        let dst = self
            .out
            .get_mut(self.len..end)
            .ok_or(WriteError::BufferTooSmall { needed: end })?;
        dst.copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }

    fn bits(&mut self, bits: u8) -> Result<(), WriteError> {
        const NAMES: [&str; 8] = ["8", "9", "10", "11", "12", "13", "14", "15"];
        match bits
            .checked_sub(MIN_WINDOW_BITS)
            .and_then(|i| NAMES.get(i as usize))
        {
            Some(s) => self.push(s),
            None => Err(WriteError::InvalidExtension { index: 0 }),
        }
    }
}

#[cfg(test)]
mod tests;
