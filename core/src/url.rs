//! `ws://` and `wss://` URLs (RFC 6455 §3), parsed without allocation.
//!
//! [`Url`] borrows the string it was parsed from and answers the three questions a client needs
//! before it can connect: where to connect ([`Url::host`], [`Url::port`], [`Url::ip`]), whether
//! to wrap the connection in TLS ([`Url::is_secure`]), and what to put in the handshake's
//! request line and `Host` field ([`Url::resource`], [`Url::host_header`]).
//!
//! The parser is deliberately strict. It accepts what RFC 6455 §3 and RFC 3986 define and
//! rejects the rest with a [`UrlError`] saying why, rather than guessing: there is no
//! allocation to percent-encode stray characters into, and a silently "fixed" URL would make
//! the request differ from what the caller wrote. Internationalised names must be given in
//! their ASCII (punycode, percent-encoded) form.
//!
//! ```
//! use sockeye_core::url::Url;
//!
//! let url = Url::parse("wss://[::1]:9001/chat?room=1").unwrap();
//! assert!(url.is_secure());
//! assert_eq!(url.host(), "::1");
//! assert_eq!(url.port(), 9001);
//! assert_eq!(url.path(), "/chat");
//! assert_eq!(url.query(), Some("room=1"));
//! ```

use core::fmt;
use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// The port of `ws://` URLs without one (RFC 6455 §3).
pub const DEFAULT_PORT: u16 = 80;

/// The port of `wss://` URLs without one (RFC 6455 §3).
pub const DEFAULT_SECURE_PORT: u16 = 443;

/// A parsed `ws://` or `wss://` URL, borrowing the string it came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Url<'a> {
    secure: bool,
    host: &'a str,
    ip: Option<IpAddr>,
    port: u16,
    path: &'a str,
    query: Option<&'a str>,
}

/// Why a string is not a usable WebSocket URL.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum UrlError {
    /// The string has no `scheme:` prefix, or the scheme contains invalid characters.
    MissingScheme,
    /// The scheme is not `ws` or `wss` (RFC 6455 §3 defines only these two).
    UnsupportedScheme,
    /// The scheme is not followed by `//` and an authority, so there is no host to connect to.
    MissingAuthority,
    /// The authority contains `user@`. RFC 6455 §3 has no userinfo, and sending credentials in
    /// a URL is deprecated (RFC 3986 §3.2.1); put them in a header instead.
    UserInfo,
    /// The host is empty.
    EmptyHost,
    /// The host is not a valid registered name, IPv4 address or bracketed IPv6 address.
    /// IPv6 zone identifiers and `IPvFuture` literals are not supported.
    InvalidHost,
    /// The port is empty, not decimal digits, or outside 1–65535.
    InvalidPort,
    /// The URL has a `#fragment`; RFC 6455 §3 forbids fragment identifiers in WebSocket URIs.
    Fragment,
    /// A character that RFC 3986 does not allow at this position: whitespace, a control
    /// character, non-ASCII, or a delimiter out of place.
    InvalidCharacter {
        /// Byte offset of the character in the input.
        index: usize,
    },
}

impl fmt::Display for UrlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            UrlError::MissingScheme => f.write_str("URL has no valid scheme"),
            UrlError::UnsupportedScheme => f.write_str("URL scheme must be ws or wss"),
            UrlError::MissingAuthority => f.write_str("URL has no '//' followed by a host"),
            UrlError::UserInfo => f.write_str("URL contains user information (user@host)"),
            UrlError::EmptyHost => f.write_str("URL host is empty"),
            UrlError::InvalidHost => f.write_str("URL host is not a valid name or IP address"),
            UrlError::InvalidPort => f.write_str("URL port is not a number from 1 to 65535"),
            UrlError::Fragment => f.write_str("WebSocket URLs must not contain a #fragment"),
            UrlError::InvalidCharacter { index } => {
                write!(f, "URL contains an invalid character at byte {index}")
            }
        }
    }
}

impl core::error::Error for UrlError {}

/// RFC 3986 §2.3 `unreserved`.
const fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

/// RFC 3986 §2.2 `sub-delims`.
const fn is_sub_delim(b: u8) -> bool {
    matches!(
        b,
        b'!' | b'$' | b'&' | b'\'' | b'(' | b')' | b'*' | b'+' | b',' | b';' | b'='
    )
}

/// Checks that `s` consists of `unreserved`, `sub-delims`, valid `pct-encoded` triplets and the
/// characters in `extra`; returns the offset of the first offending byte otherwise.
fn check_chars(s: &str, extra: &[u8]) -> Result<(), usize> {
    let bytes = s.as_bytes();
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b == b'%' {
            match (bytes.get(i + 1), bytes.get(i + 2)) {
                (Some(h), Some(l)) if h.is_ascii_hexdigit() && l.is_ascii_hexdigit() => i += 3,
                _ => return Err(i),
            }
        } else if is_unreserved(b) || is_sub_delim(b) || extra.contains(&b) {
            i += 1;
        } else {
            return Err(i);
        }
    }
    Ok(())
}

impl<'a> Url<'a> {
    /// Parses a WebSocket URL.
    ///
    /// Accepted: `ws` or `wss` in any case, `//`, a host (registered name, IPv4, or IPv6 in
    /// brackets), an optional `:port`, an optional path starting with `/` (default `/`), and
    /// an optional `?query`. Rejected, each with its own [`UrlError`]: other schemes,
    /// `user@`, empty hosts and ports, `#fragment`s, and whitespace, control or non-ASCII
    /// characters anywhere.
    pub fn parse(input: &'a str) -> Result<Self, UrlError> {
        // Whitespace and controls are refused everywhere first, so that no later step can be
        // fooled by a line break (request-line injection) or a stray space.
        if let Some(index) = input.bytes().position(|b| b <= b' ' || b >= 0x7f) {
            return Err(UrlError::InvalidCharacter { index });
        }
        if input.contains('#') {
            return Err(UrlError::Fragment);
        }

        let (scheme, rest) = input.split_once(':').ok_or(UrlError::MissingScheme)?;
        let scheme_ok = scheme
            .as_bytes()
            .first()
            .is_some_and(u8::is_ascii_alphabetic)
            && scheme
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'));
        if !scheme_ok {
            return Err(UrlError::MissingScheme);
        }
        let secure = if scheme.eq_ignore_ascii_case("ws") {
            false
        } else if scheme.eq_ignore_ascii_case("wss") {
            true
        } else {
            return Err(UrlError::UnsupportedScheme);
        };
        let rest = rest.strip_prefix("//").ok_or(UrlError::MissingAuthority)?;

        let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
        let (authority, tail) = rest.split_at_checked(authority_end).unwrap_or((rest, ""));
        if authority.contains('@') {
            return Err(UrlError::UserInfo);
        }
        let (host, ip, port_text) = Self::split_authority(authority)?;
        let port = match port_text {
            None => {
                if secure {
                    DEFAULT_SECURE_PORT
                } else {
                    DEFAULT_PORT
                }
            }
            Some(text) => parse_port(text)?,
        };

        let (path, query) = match tail.split_once('?') {
            Some((path, query)) => (path, Some(query)),
            None => (tail, None),
        };
        // `tail` and `query` are suffixes of `input`, which gives their offsets for errors.
        check_chars(path, b":@/").map_err(|i| UrlError::InvalidCharacter {
            index: input.len() - tail.len() + i,
        })?;
        if let Some(query) = query {
            check_chars(query, b":@/?").map_err(|i| UrlError::InvalidCharacter {
                index: input.len() - query.len() + i,
            })?;
        }
        let path = if path.is_empty() { "/" } else { path };

        Ok(Url {
            secure,
            host,
            ip,
            port,
            path,
            query,
        })
    }

    /// Splits `host[:port]` and validates the host.
    fn split_authority(
        authority: &'a str,
    ) -> Result<(&'a str, Option<IpAddr>, Option<&'a str>), UrlError> {
        if let Some(bracketed) = authority.strip_prefix('[') {
            let (literal, after) = bracketed.split_once(']').ok_or(UrlError::InvalidHost)?;
            let ip: Ipv6Addr = literal.parse().map_err(|_| UrlError::InvalidHost)?;
            let port = match after {
                "" => None,
                _ => Some(after.strip_prefix(':').ok_or(UrlError::InvalidHost)?),
            };
            return Ok((literal, Some(IpAddr::V6(ip)), port));
        }
        if authority.bytes().filter(|&b| b == b':').count() > 1 {
            // An IPv6 address without the brackets RFC 3986 §3.2.2 requires.
            return Err(UrlError::InvalidHost);
        }
        let (host, port) = match authority.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        };
        if host.is_empty() {
            return Err(UrlError::EmptyHost);
        }
        // RFC 3986 §3.2.2 `reg-name`; a dotted quad is also a valid reg-name.
        check_chars(host, b"").map_err(|_| UrlError::InvalidHost)?;
        let ip = host.parse::<Ipv4Addr>().ok().map(IpAddr::V4);
        Ok((host, ip, port))
    }

    /// `true` for `wss://`: the connection must be wrapped in TLS before the handshake.
    pub fn is_secure(&self) -> bool {
        self.secure
    }

    /// `"ws"` or `"wss"`, in lower case whatever the input used.
    pub fn scheme(&self) -> &'static str {
        if self.secure {
            "wss"
        } else {
            "ws"
        }
    }

    /// The host to connect to, without the brackets of an IPv6 literal
    /// (`"example.com"`, `"192.0.2.1"`, `"::1"`). Also the name to verify a TLS certificate
    /// against.
    pub fn host(&self) -> &'a str {
        self.host
    }

    /// The host as an IP address, if it is an IPv4 or IPv6 literal: such a host needs no name
    /// resolution, which matters on small targets without a resolver.
    pub fn ip(&self) -> Option<IpAddr> {
        self.ip
    }

    /// The port to connect to: the explicit one, or 80 for `ws` and 443 for `wss`.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The path, `/` when the URL has none.
    pub fn path(&self) -> &'a str {
        self.path
    }

    /// The query without its `?`, if the URL has one (possibly empty).
    pub fn query(&self) -> Option<&'a str> {
        self.query
    }

    /// The request target for the handshake's request line: path and `?query`
    /// (RFC 6455 §3, "resource name"). Formats as e.g. `/chat?room=1`.
    pub fn resource(&self) -> Resource<'a> {
        Resource {
            path: self.path,
            query: self.query,
        }
    }

    /// The value of the handshake's `Host` field (RFC 6455 §4.1 item 4): the host, in
    /// brackets if it is IPv6, followed by `:port` unless the port is the scheme's default.
    pub fn host_header(&self) -> HostHeader<'a> {
        let default = if self.secure {
            DEFAULT_SECURE_PORT
        } else {
            DEFAULT_PORT
        };
        HostHeader {
            host: self.host,
            port: (self.port != default).then_some(self.port),
            bracketed: matches!(self.ip, Some(IpAddr::V6(_))),
        }
    }
}

impl<'a> TryFrom<&'a str> for Url<'a> {
    type Error = UrlError;

    fn try_from(input: &'a str) -> Result<Self, UrlError> {
        Url::parse(input)
    }
}

/// Normalised form: lower-case scheme, port only when not the default.
impl fmt::Display for Url<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}://{}{}",
            self.scheme(),
            self.host_header(),
            self.resource()
        )
    }
}

/// Parses a decimal port in 1–65535. Port 0 means "any port" to socket APIs and cannot be
/// connected to.
fn parse_port(text: &str) -> Result<u16, UrlError> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(UrlError::InvalidPort);
    }
    match text.parse::<u16>() {
        Ok(0) | Err(_) => Err(UrlError::InvalidPort),
        Ok(port) => Ok(port),
    }
}

/// A request target: a path and an optional query, written as `path?query`.
///
/// Returned by [`Url::resource`]. It is a pair rather than one string because a URL without a
/// path (`ws://host?x`) has no contiguous `/?x` to borrow.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Resource<'a> {
    path: &'a str,
    query: Option<&'a str>,
}

impl<'a> Resource<'a> {
    /// The path, always starting with `/`.
    pub fn path(&self) -> &'a str {
        self.path
    }

    /// The query without its `?`.
    pub fn query(&self) -> Option<&'a str> {
        self.query
    }
}

impl fmt::Display for Resource<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.path)?;
        if let Some(query) = self.query {
            f.write_str("?")?;
            f.write_str(query)?;
        }
        Ok(())
    }
}

/// The value of a `Host` header field: `host`, `[v6 literal]`, optionally `:port`.
///
/// Returned by [`Url::host_header`]; formats with [`Display`](fmt::Display).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct HostHeader<'a> {
    host: &'a str,
    port: Option<u16>,
    bracketed: bool,
}

impl<'a> HostHeader<'a> {
    /// A `Host` value used exactly as given, for callers that have no [`Url`].
    pub(crate) fn verbatim(value: &'a str) -> Self {
        HostHeader {
            host: value,
            port: None,
            bracketed: false,
        }
    }

    /// The host part, without brackets.
    pub fn host(&self) -> &'a str {
        self.host
    }

    /// The port, present only when it is not the scheme's default.
    pub fn port(&self) -> Option<u16> {
        self.port
    }

    /// Whether the host is written in brackets (IPv6 literals, RFC 3986 §3.2.2).
    pub fn is_bracketed(&self) -> bool {
        self.bracketed
    }
}

impl fmt::Display for HostHeader<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.bracketed {
            write!(f, "[{}]", self.host)?;
        } else {
            f.write_str(self.host)?;
        }
        if let Some(port) = self.port {
            write!(f, ":{port}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::string::ToString;

    #[test]
    fn ws_defaults_to_port_80_and_root_path() {
        let url = Url::parse("ws://example.com").unwrap();
        assert!(!url.is_secure());
        assert_eq!(url.scheme(), "ws");
        assert_eq!(url.host(), "example.com");
        assert_eq!(url.port(), 80);
        assert_eq!(url.path(), "/");
        assert_eq!(url.query(), None);
        assert_eq!(url.ip(), None);
        assert_eq!(url.resource().to_string(), "/");
        assert_eq!(url.host_header().to_string(), "example.com");
    }

    #[test]
    fn wss_defaults_to_port_443() {
        let url = Url::parse("wss://example.com/chat").unwrap();
        assert!(url.is_secure());
        assert_eq!(url.port(), 443);
        assert_eq!(url.path(), "/chat");
    }

    #[test]
    fn scheme_is_case_insensitive() {
        assert!(Url::parse("WSS://Example.COM/").unwrap().is_secure());
        assert!(!Url::parse("Ws://h").unwrap().is_secure());
        assert_eq!(Url::parse("wSs://h/").unwrap().to_string(), "wss://h/");
    }

    #[test]
    fn explicit_ports() {
        let url = Url::parse("ws://example.com:8080/a/b").unwrap();
        assert_eq!(url.port(), 8080);
        assert_eq!(url.host_header().to_string(), "example.com:8080");
        assert_eq!(url.host_header().port(), Some(8080));
        // An explicit default port is left out of the Host field.
        assert_eq!(
            Url::parse("ws://h:80/").unwrap().host_header().to_string(),
            "h"
        );
        assert_eq!(
            Url::parse("wss://h:443/")
                .unwrap()
                .host_header()
                .to_string(),
            "h"
        );
        // The other scheme's default is not.
        assert_eq!(
            Url::parse("wss://h:80/").unwrap().host_header().to_string(),
            "h:80"
        );
        assert_eq!(Url::parse("ws://h:65535").unwrap().port(), 65535);
        assert_eq!(Url::parse("ws://h:00081").unwrap().port(), 81);
    }

    #[test]
    fn ipv6_literal_is_stored_without_brackets() {
        let url = Url::parse("ws://[::1]:9001/x?y=1").unwrap();
        assert_eq!(url.host(), "::1");
        assert_eq!(url.ip(), Some(IpAddr::V6(Ipv6Addr::LOCALHOST)));
        assert_eq!(url.port(), 9001);
        assert_eq!(url.path(), "/x");
        assert_eq!(url.query(), Some("y=1"));
        assert!(url.host_header().is_bracketed());
        assert_eq!(url.host_header().to_string(), "[::1]:9001");
        assert_eq!(url.resource().to_string(), "/x?y=1");
        assert_eq!(url.to_string(), "ws://[::1]:9001/x?y=1");
        assert_eq!(
            Url::parse("wss://[2001:db8::7]")
                .unwrap()
                .host_header()
                .to_string(),
            "[2001:db8::7]"
        );
    }

    #[test]
    fn ipv4_literal_is_recognised() {
        let url = Url::parse("ws://192.0.2.1:81").unwrap();
        assert_eq!(url.ip(), Some(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1))));
        assert_eq!(url.host(), "192.0.2.1");
        // Not a dotted quad: a (strange but valid) registered name.
        assert_eq!(Url::parse("ws://1.2.3/").unwrap().ip(), None);
    }

    #[test]
    fn path_less_and_query_only() {
        let url = Url::parse("ws://h?token=abc").unwrap();
        assert_eq!(url.path(), "/");
        assert_eq!(url.query(), Some("token=abc"));
        assert_eq!(url.resource().to_string(), "/?token=abc");
        let url = Url::parse("ws://h:81?").unwrap();
        assert_eq!(url.port(), 81);
        assert_eq!(url.query(), Some(""));
        assert_eq!(url.resource().to_string(), "/?");
        let url = Url::parse("ws://h/p?a=1?b=/c:d@e").unwrap();
        assert_eq!(url.path(), "/p");
        assert_eq!(url.query(), Some("a=1?b=/c:d@e"));
    }

    #[test]
    fn percent_encoding_is_checked_not_decoded() {
        let url = Url::parse("ws://h/a%20b?q=%7E").unwrap();
        assert_eq!(url.path(), "/a%20b");
        assert_eq!(
            Url::parse("ws://h/a%2"),
            Err(UrlError::InvalidCharacter { index: 8 })
        );
        assert_eq!(
            Url::parse("ws://h/?%zz"),
            Err(UrlError::InvalidCharacter { index: 8 })
        );
    }

    #[test]
    fn errors_say_what_is_wrong() {
        for (input, err) in [
            ("", UrlError::MissingScheme),
            ("example.com", UrlError::MissingScheme),
            ("://h", UrlError::MissingScheme),
            ("1ws://h", UrlError::MissingScheme),
            ("http://h/", UrlError::UnsupportedScheme),
            ("wsx://h/", UrlError::UnsupportedScheme),
            ("ws:h/", UrlError::MissingAuthority),
            ("ws:/h/", UrlError::MissingAuthority),
            ("ws://user@h/", UrlError::UserInfo),
            ("ws://user:pw@h/", UrlError::UserInfo),
            ("ws://", UrlError::EmptyHost),
            ("ws:///path", UrlError::EmptyHost),
            ("ws://:80/", UrlError::EmptyHost),
            ("ws://h_^/", UrlError::InvalidHost),
            ("ws://[::1/", UrlError::InvalidHost),
            ("ws://[::1]x/", UrlError::InvalidHost),
            ("ws://[not-v6]/", UrlError::InvalidHost),
            ("ws://[fe80::1%25eth0]/", UrlError::InvalidHost),
            ("ws://[]/", UrlError::InvalidHost),
            ("ws://::1/", UrlError::InvalidHost),
            ("ws://h:/", UrlError::InvalidPort),
            ("ws://h:0/", UrlError::InvalidPort),
            ("ws://h:65536/", UrlError::InvalidPort),
            ("ws://h:99999999999999999999/", UrlError::InvalidPort),
            ("ws://h:8o/", UrlError::InvalidPort),
            ("ws://h:+80/", UrlError::InvalidPort),
            ("ws://[::1]:/", UrlError::InvalidPort),
            ("ws://h/#frag", UrlError::Fragment),
            ("ws://h#", UrlError::Fragment),
            (" ws://h/", UrlError::InvalidCharacter { index: 0 }),
            ("ws://h/a b", UrlError::InvalidCharacter { index: 8 }),
            ("ws://h/\r\nX: y", UrlError::InvalidCharacter { index: 7 }),
            ("ws://h/\t", UrlError::InvalidCharacter { index: 7 }),
            ("ws://h/caf\u{e9}", UrlError::InvalidCharacter { index: 10 }),
            ("ws://h/a<b", UrlError::InvalidCharacter { index: 8 }),
            ("ws://h/?a\"b", UrlError::InvalidCharacter { index: 9 }),
            ("ws://h/[x]", UrlError::InvalidCharacter { index: 7 }),
        ] {
            assert_eq!(Url::parse(input), Err(err), "{input:?}");
            assert!(!err.to_string().is_empty());
        }
    }

    #[test]
    fn try_from_matches_parse() {
        assert_eq!(Url::try_from("ws://h/x"), Url::parse("ws://h/x"));
    }
}
