//! HTTP CONNECT proxies for clients (RFC 9110 §9.3.6), sans-IO: which proxy to use (an
//! explicit URL, or the environment's `http_proxy` / `https_proxy` / `all_proxy` / `no_proxy`
//! as curl reads them), the `CONNECT` request with Basic authentication, and a bounded,
//! strict reading of the proxy's answer. The adapters move the bytes: they connect to the proxy,
//! write [`Proxy::connect_request`], feed the answer to [`TunnelResponse`] and, once the tunnel
//! is open, run the WebSocket handshake through it as if connected to the server.
//!
//! ```
//! use sockeye_core::adapter::proxy::{Proxy, TunnelResponse};
//!
//! let proxy = Proxy::parse("http://alice:secret@127.0.0.1:3128").unwrap();
//! let request = proxy.connect_request("example.com", 443);
//! assert!(request.starts_with(b"CONNECT example.com:443 HTTP/1.1\r\n"));
//! let mut answer = TunnelResponse::new();
//! assert_eq!(answer.push(b"HTTP/1.1 200 Connection established\r\n\r\n"), Ok(true));
//! ```

use std::string::String;
use std::vec::Vec;
use std::{fmt, format};

use crate::handshake::scan::{HeadScanner, Scan};

/// The longest proxy answer head we read: like every head we parse, bounded.
pub const MAX_RESPONSE_HEAD: usize = 8 * 1024;

/// Which proxy a client uses; part of
/// [`ClientOptions`](crate::adapter::ClientOptions).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ProxySetting<'a> {
    /// Connect to the server directly (the default).
    #[default]
    Direct,
    /// Use the proxy the environment names for the URL's scheme (`http_proxy` for `ws://`,
    /// `https_proxy` for `wss://`, then `all_proxy`; upper-case names too), unless `no_proxy`
    /// exempts the host.
    FromEnv,
    /// Use this proxy: `http://[user[:password]@]host[:port]` (port 80 by default).
    Url(&'a str),
}

/// An HTTP proxy to tunnel through.
#[derive(Clone, PartialEq, Eq)]
pub struct Proxy {
    host: String,
    port: u16,
    /// `user:password` in base64, for `Proxy-Authorization: Basic`.
    credentials: Option<String>,
}

impl fmt::Debug for Proxy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never print the credentials.
        f.debug_struct("Proxy")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("authenticated", &self.credentials.is_some())
            .finish()
    }
}

impl Proxy {
    /// Parses `http://[user[:password]@]host[:port][/]`. Percent-encoded user and password are
    /// decoded. Other schemes (`https://` proxies, SOCKS) are refused with a typed error.
    pub fn parse(url: &str) -> Result<Proxy, ProxyError> {
        let url = url.trim();
        let rest = match url.split_once("://") {
            Some((scheme, rest)) if scheme.eq_ignore_ascii_case("http") => rest,
            Some(_) => return Err(ProxyError::UnsupportedScheme),
            // `host:port` alone, as some environments set it.
            None => url,
        };
        let authority = rest.strip_suffix('/').unwrap_or(rest);
        if authority.contains(['/', '?', '#']) || authority.bytes().any(|b| b <= b' ' || b >= 0x7f)
        {
            return Err(ProxyError::InvalidUrl);
        }
        let (userinfo, hostport) = match authority.rsplit_once('@') {
            Some((userinfo, hostport)) => (Some(userinfo), hostport),
            None => (None, authority),
        };
        let (host, port) = split_host_port(hostport).ok_or(ProxyError::InvalidUrl)?;
        let credentials = match userinfo {
            None => None,
            Some(userinfo) => {
                let (user, password) = userinfo.split_once(':').unwrap_or((userinfo, ""));
                let plain = format!(
                    "{}:{}",
                    percent_decode(user).ok_or(ProxyError::InvalidUrl)?,
                    percent_decode(password).ok_or(ProxyError::InvalidUrl)?
                );
                Some(crate::handshake::base64::encode_string(plain.as_bytes()))
            }
        };
        Ok(Proxy {
            host: String::from(host),
            port: port.unwrap_or(80),
            credentials,
        })
    }

    /// The proxy the environment names for a connection to `host` (`secure`: `wss://`), or
    /// `None` for a direct connection. `var` reads a variable (`std::env::var` in practice;
    /// tests pass their own).
    pub fn from_env_with(
        host: &str,
        secure: bool,
        var: impl Fn(&str) -> Option<String>,
    ) -> Result<Option<Proxy>, ProxyError> {
        let get = |name: &str| {
            var(&name.to_ascii_lowercase())
                .or_else(|| var(name))
                .filter(|v| !v.trim().is_empty())
        };
        if let Some(exempt) = get("NO_PROXY") {
            if no_proxy_matches(&exempt, host) {
                return Ok(None);
            }
        }
        let scheme_var = if secure { "HTTPS_PROXY" } else { "HTTP_PROXY" };
        match get(scheme_var).or_else(|| get("ALL_PROXY")) {
            Some(url) => Proxy::parse(&url).map(Some),
            None => Ok(None),
        }
    }

    /// [`from_env_with`](Self::from_env_with) over the process environment.
    pub fn from_env(host: &str, secure: bool) -> Result<Option<Proxy>, ProxyError> {
        Proxy::from_env_with(host, secure, |name| std::env::var(name).ok())
    }

    /// The proxy `setting` selects for a connection to `host`.
    pub fn resolve(
        setting: &ProxySetting<'_>,
        host: &str,
        secure: bool,
    ) -> Result<Option<Proxy>, ProxyError> {
        match setting {
            ProxySetting::Direct => Ok(None),
            ProxySetting::FromEnv => Proxy::from_env(host, secure),
            ProxySetting::Url(url) => Proxy::parse(url).map(Some),
        }
    }

    /// The proxy's host name or address (without brackets for IPv6).
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The proxy's port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The `CONNECT` request that opens a tunnel to `host:port`.
    pub fn connect_request(&self, host: &str, port: u16) -> Vec<u8> {
        let authority = if host.contains(':') {
            format!("[{host}]:{port}")
        } else {
            format!("{host}:{port}")
        };
        let mut request = format!("CONNECT {authority} HTTP/1.1\r\nHost: {authority}\r\n");
        if let Some(credentials) = &self.credentials {
            request.push_str("Proxy-Authorization: Basic ");
            request.push_str(credentials);
            request.push_str("\r\n");
        }
        request.push_str("\r\n");
        request.into_bytes()
    }
}

/// Where a client opens its TCP connection for a URL: to the proxy its setting selects, or
/// to the server itself; and, through a proxy, which server to ask the tunnel for.
#[derive(Clone, Debug)]
pub struct Route<'u> {
    proxy: Option<Proxy>,
    host: &'u str,
    port: u16,
}

impl<'u> Route<'u> {
    /// The route for `url` under `setting`.
    pub fn new(
        setting: &ProxySetting<'_>,
        url: &crate::url::Url<'u>,
    ) -> Result<Route<'u>, ProxyError> {
        Ok(Route {
            proxy: Proxy::resolve(setting, url.host(), url.is_secure())?,
            host: url.host(),
            port: url.port(),
        })
    }

    /// The address to connect to: the proxy's, or the server's.
    pub fn connect_to(&self) -> (&str, u16) {
        match &self.proxy {
            Some(proxy) => (proxy.host(), proxy.port()),
            None => (self.host, self.port),
        }
    }

    /// The proxy to open a tunnel through, if any.
    pub fn proxy(&self) -> Option<&Proxy> {
        self.proxy.as_ref()
    }

    /// The server: the tunnel's end.
    pub fn server(&self) -> (&'u str, u16) {
        (self.host, self.port)
    }
}

/// Reads a proxy's answer to `CONNECT`, a byte string at a time, bounded by
/// [`MAX_RESPONSE_HEAD`]. Read the answer one byte per call (or in pieces that cannot go past
/// the head): whatever follows the head belongs to the tunnel.
#[derive(Clone, Debug)]
pub struct TunnelResponse {
    head: Vec<u8>,
    /// The handshake's incremental head scanner: each byte is looked at once however the
    /// answer is cut, and a byte no HTTP head may contain fails at once.
    scanner: HeadScanner,
    /// The head's length once complete.
    end: Option<usize>,
}

impl Default for TunnelResponse {
    fn default() -> TunnelResponse {
        TunnelResponse::new()
    }
}

impl TunnelResponse {
    /// An empty answer.
    pub const fn new() -> TunnelResponse {
        TunnelResponse {
            head: Vec::new(),
            scanner: HeadScanner::new(),
            end: None,
        }
    }

    /// Adds received bytes: `Ok(true)` once the head is complete and the tunnel is open (a 2xx
    /// status), `Ok(false)` while more is needed, or why the proxy would not open it.
    pub fn push(&mut self, bytes: &[u8]) -> Result<bool, ProxyError> {
        self.head.extend_from_slice(bytes);
        let end = match self.scanner.scan(&self.head, MAX_RESPONSE_HEAD) {
            Scan::Partial => return Ok(false),
            Scan::TooLarge => return Err(ProxyError::TooLarge),
            Scan::InvalidByte => return Err(ProxyError::Malformed),
            Scan::Complete(end) => end,
        };
        self.end = Some(end);
        let mut headers = [httparse::EMPTY_HEADER; 32];
        let mut response = httparse::Response::new(&mut headers);
        let status = match response.parse(&self.head[..end]) {
            Ok(httparse::Status::Complete(_)) => response.code.ok_or(ProxyError::Malformed)?,
            Ok(httparse::Status::Partial) | Err(_) => return Err(ProxyError::Malformed),
        };
        match status {
            200..=299 => Ok(true),
            // 407 is the proxy's own status; some proxies (tinyproxy) answer bad credentials 401.
            401 | 407 => Err(ProxyError::AuthenticationRequired),
            status => Err(ProxyError::Refused { status }),
        }
    }

    /// Bytes received past the head (none when read a byte at a time): the tunnel's first bytes.
    pub fn leftover(&self) -> &[u8] {
        match self.end {
            Some(end) => self.head.get(end..).unwrap_or(&[]),
            None => &[],
        }
    }
}

/// Why a proxy could not be used.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ProxyError {
    /// The proxy URL is not `http://[user[:password]@]host[:port]`.
    InvalidUrl,
    /// Only plain HTTP proxies are supported (not `https://` proxies or SOCKS).
    UnsupportedScheme,
    /// The proxy wants credentials, or refused the ones given (407, or 401 from some proxies):
    /// give `user:password@` in the proxy URL, or check them.
    AuthenticationRequired,
    /// The proxy refused to open the tunnel with this status (403: the target or its port is
    /// not allowed; 502/504: the proxy could not reach the server).
    Refused {
        /// The proxy's status code.
        status: u16,
    },
    /// The proxy's answer is not an HTTP response.
    Malformed,
    /// The proxy's answer head is longer than [`MAX_RESPONSE_HEAD`].
    TooLarge,
    /// The proxy closed the connection before answering.
    Eof,
}

impl fmt::Display for ProxyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProxyError::InvalidUrl => {
                f.write_str("the proxy URL is not http://[user[:password]@]host[:port]")
            }
            ProxyError::UnsupportedScheme => f.write_str(
                "only plain HTTP proxies (http://) are supported, not https:// proxies or SOCKS",
            ),
            ProxyError::AuthenticationRequired => f.write_str(
                "the proxy requires authentication (407) or refused the credentials: put user:password@ in the proxy URL, or check them",
            ),
            ProxyError::Refused { status } => write!(
                f,
                "the proxy refused to open a tunnel to the server (status {status}): {}",
                match status {
                    403 => "the proxy does not allow this host or port",
                    502 | 504 => "the proxy could not reach the server",
                    _ => "check the proxy's rules and logs",
                }
            ),
            ProxyError::Malformed => f.write_str("the proxy's answer is not an HTTP response"),
            ProxyError::TooLarge => write!(
                f,
                "the proxy's answer head is longer than {MAX_RESPONSE_HEAD} bytes"
            ),
            ProxyError::Eof => f.write_str("the proxy closed the connection before answering"),
        }
    }
}

impl core::error::Error for ProxyError {}

/// `host[:port]` or `[v6][:port]`.
fn split_host_port(s: &str) -> Option<(&str, Option<u16>)> {
    let (host, port) = if let Some(rest) = s.strip_prefix('[') {
        let (host, after) = rest.split_once(']')?;
        match after {
            "" => (host, None),
            _ => (host, Some(after.strip_prefix(':')?)),
        }
    } else {
        match s.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (s, None),
        }
    };
    if host.is_empty() || host.contains(['[', ']', '@']) {
        return None;
    }
    let port = match port {
        None => None,
        Some(p) => Some(p.parse::<u16>().ok().filter(|&p| p != 0)?),
    };
    Some((host, port))
}

fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = core::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// curl's `no_proxy`: `*`, or comma-separated names matched as the host or a domain suffix
/// (a leading `.` or `*.` is the same), an optional `:port` ignored; IP addresses match exactly.
fn no_proxy_matches(list: &str, host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    list.split(',').map(str::trim).any(|entry| {
        if entry == "*" {
            return true;
        }
        let entry = entry.trim_start_matches("*.").trim_start_matches('.');
        let entry = match entry.strip_prefix('[') {
            Some(v6) => v6.split(']').next().unwrap_or(v6),
            None => match entry.rsplit_once(':') {
                Some((name, port))
                    if port.bytes().all(|b| b.is_ascii_digit()) && !name.contains(':') =>
                {
                    name
                }
                _ => entry,
            },
        };
        !entry.is_empty()
            && (host.eq_ignore_ascii_case(entry)
                || host.len().checked_sub(entry.len() + 1).is_some_and(|at| {
                    host.as_bytes()[at] == b'.' && host[at + 1..].eq_ignore_ascii_case(entry)
                }))
    })
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::string::ToString;

    use super::*;

    #[test]
    fn proxy_urls_parse_with_credentials_and_defaults() {
        let p = Proxy::parse("http://alice:s%40cret@proxy.example:3128/").unwrap();
        assert_eq!((p.host(), p.port()), ("proxy.example", 3128));
        let request = String::from_utf8(p.connect_request("example.com", 9001)).unwrap();
        // "alice:s@cret" in base64.
        assert_eq!(
            request,
            "CONNECT example.com:9001 HTTP/1.1\r\nHost: example.com:9001\r\n\
             Proxy-Authorization: Basic YWxpY2U6c0BjcmV0\r\n\r\n"
        );
        assert!(
            !std::format!("{p:?}").contains("YWxp"),
            "no credentials in Debug"
        );
        let p = Proxy::parse("127.0.0.1:8080").unwrap();
        assert_eq!((p.host(), p.port()), ("127.0.0.1", 8080));
        assert_eq!(Proxy::parse("http://[::1]").unwrap().port(), 80);
        assert!(Proxy::parse("http://[::1]:81")
            .unwrap()
            .connect_request("::1", 1)
            .starts_with(b"CONNECT [::1]:1 "));
        assert_eq!(
            Proxy::parse("https://p:443"),
            Err(ProxyError::UnsupportedScheme)
        );
        assert_eq!(
            Proxy::parse("socks5://p:1080"),
            Err(ProxyError::UnsupportedScheme)
        );
        for bad in [
            "http://",
            "http://:80",
            "http://p:0",
            "http://p:99999",
            "http://p/x",
            "http://p q",
            "http://a:%zz@p",
        ] {
            assert_eq!(Proxy::parse(bad), Err(ProxyError::InvalidUrl), "{bad}");
        }
    }

    #[test]
    fn the_environment_picks_the_proxy_by_scheme_and_no_proxy_exempts() {
        let env: HashMap<&str, &str> = [
            ("http_proxy", "http://plain:3128"),
            ("HTTPS_PROXY", "http://secure:3129"),
            ("no_proxy", "localhost, .internal.example, 10.0.0.1:8080"),
        ]
        .into_iter()
        .collect();
        let var = |name: &str| env.get(name).map(|v| v.to_string());
        let host_of = |host: &str, secure: bool| {
            Proxy::from_env_with(host, secure, var)
                .unwrap()
                .map(|p| p.host().to_string())
        };
        assert_eq!(host_of("example.com", false).as_deref(), Some("plain"));
        assert_eq!(host_of("example.com", true).as_deref(), Some("secure"));
        assert_eq!(host_of("localhost", false), None);
        assert_eq!(host_of("api.internal.example", true), None);
        assert_eq!(host_of("internal.example", true), None);
        assert_eq!(
            host_of("notinternal.example", true).as_deref(),
            Some("secure")
        );
        assert_eq!(host_of("10.0.0.1", false), None);
        let all = |name: &str| (name == "ALL_PROXY").then(|| "http://all:1".to_string());
        assert_eq!(
            Proxy::from_env_with("x", true, all)
                .unwrap()
                .unwrap()
                .host(),
            "all"
        );
        let star = |name: &str| match name {
            "ALL_PROXY" => Some("http://all:1".to_string()),
            "NO_PROXY" => Some("*".to_string()),
            _ => None,
        };
        assert_eq!(Proxy::from_env_with("x", true, star).unwrap(), None);
        assert_eq!(Proxy::from_env_with("x", true, |_| None).unwrap(), None);
    }

    #[test]
    fn the_answer_is_read_strictly_and_bounded() {
        let mut ok = TunnelResponse::new();
        for b in b"HTTP/1.1 200 Connection established\r\nProxy-Agent: x\r\n\r\n" {
            assert!(ok.push(core::slice::from_ref(b)).is_ok());
        }
        assert!(ok.leftover().is_empty());
        let mut ok = TunnelResponse::new();
        assert_eq!(ok.push(b"HTTP/1.0 200 OK\n\nxyz"), Ok(true));
        assert_eq!(ok.leftover(), b"xyz");
        let answer = |text: &[u8]| TunnelResponse::new().push(text);
        assert_eq!(
            answer(b"HTTP/1.1 407 Proxy Authentication Required\r\n\r\n"),
            Err(ProxyError::AuthenticationRequired)
        );
        assert_eq!(
            answer(b"HTTP/1.1 403 Forbidden\r\n\r\n"),
            Err(ProxyError::Refused { status: 403 })
        );
        assert_eq!(
            answer(b"SSH-2.0-OpenSSH\r\n\r\n"),
            Err(ProxyError::Malformed)
        );
        let mut big = TunnelResponse::new();
        let line = [b'a'; 1024];
        let mut result = Ok(false);
        for _ in 0..9 {
            result = big.push(&line);
        }
        assert_eq!(result, Err(ProxyError::TooLarge));
        assert!(ProxyError::Refused { status: 403 }
            .to_string()
            .contains("does not allow"));
    }
}
