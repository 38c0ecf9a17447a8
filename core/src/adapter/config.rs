//! Configuration: the engine's limits and timers, buffer sizes, handshake limits, and what a
//! client asks for or a server answers in the opening handshake.

use std::time::Duration;

use crate::handshake::DEFAULT_MAX_HEAD_SIZE;
use crate::session::SessionConfig;

use super::proxy::ProxySetting;

/// Everything an adapter needs to run a connection.
///
/// ```
/// use std::time::Duration;
/// use sockeye_core::adapter::Config;
/// use sockeye_core::Keepalive;
///
/// let config = Config::default()
///     .with_engine(
///         sockeye_core::Config::default()
///             .with_max_message_size(1 << 20)
///             .with_keepalive(Some(Keepalive {
///                 interval: Duration::from_secs(20),
///                 timeout: Duration::from_secs(10),
///             })),
///     )
///     .with_read_buffer_size(16 * 1024);
/// assert_eq!(config.engine.max_message_size, 1 << 20);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Config {
    /// The engine's limits (frame and message size) and timers (close timeout, keepalive).
    pub engine: crate::Config,
    /// Size of the read buffer: the most one read of the transport takes in. Default 64 KiB.
    pub read_buffer_size: usize,
    /// High-water mark of the write buffer: above it, sending writes the buffer out (and waits
    /// for it to drain) before queuing more, so memory stays bounded when the peer reads
    /// slowly. Default 128 KiB.
    pub write_high_water: usize,
    /// Largest HTTP head accepted in the opening handshake (request for a server, response for
    /// a client), in bytes. Default 8 KiB. A head may have at most 64 header fields.
    pub max_handshake_size: usize,
    /// How long the opening handshake may take, from the first byte read to the last byte of
    /// the peer's head; `None` waits indefinitely. Default 10 s, which keeps a server from
    /// holding connections open for clients that never finish their request.
    pub handshake_timeout: Option<Duration>,
    /// permessage-deflate (RFC 7692, feature `deflate`): what a client offers and a server
    /// accepts, and how this side compresses. `None` (the default) neither offers nor accepts
    /// it: compression costs memory per connection (see [`Compression`]), so it is opted into.
    #[cfg(feature = "deflate")]
    pub compression: Option<Compression>,
}

/// permessage-deflate settings for an adapter (feature `deflate`), in
/// [`Config::compression`].
///
/// Two presets: [`Compression::new`], the best ratio — context takeover both ways, which is
/// what browsers offer — and [`Compression::low_memory`] for servers with many connections,
/// which asks for no context takeover either way so that no compression state outlives a
/// message. Measured heap per connection: about 419 KiB for the first while compression state
/// is live (zlib-rs's compressor and inflater), 0.9 KiB for the second
/// (`benches/README.md`, "permessage-deflate").
///
/// ```
/// use sockeye_core::adapter::{Compression, Config};
/// let server = Config::default().with_compression(Some(Compression::low_memory()));
/// # let _ = server;
/// ```
#[cfg(feature = "deflate")]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Compression {
    /// What a client offers in its handshake.
    pub offer: crate::handshake::deflate::DeflateOffer,
    /// What a server accepts of a client's offers.
    pub accept: crate::handshake::deflate::DeflateConfig,
    /// How this side compresses: level, memory, the size below which messages go out
    /// uncompressed.
    pub settings: crate::deflate::DeflateSettings,
}

#[cfg(feature = "deflate")]
impl Compression {
    /// The best ratio: the offer browsers make (`permessage-deflate; client_max_window_bits`),
    /// context takeover both ways with 32 KiB windows, level 1.
    pub const fn new() -> Compression {
        Compression {
            offer: crate::handshake::deflate::DeflateOffer::new(),
            accept: crate::handshake::deflate::DeflateConfig::new(),
            settings: crate::deflate::DeflateSettings::new(),
        }
    }

    /// No context takeover either way (a client offers it, a server asks for it), and a
    /// smaller compressor while a message is compressed: no state between messages.
    pub const fn low_memory() -> Compression {
        Compression {
            offer: crate::handshake::deflate::DeflateOffer::low_memory(),
            accept: crate::handshake::deflate::DeflateConfig::low_memory(),
            settings: crate::deflate::DeflateSettings::low_memory(),
        }
    }

    /// Sets [`offer`](Self::offer).
    pub const fn with_offer(
        mut self,
        offer: crate::handshake::deflate::DeflateOffer,
    ) -> Compression {
        self.offer = offer;
        self
    }

    /// Sets [`accept`](Self::accept).
    pub const fn with_accept(
        mut self,
        accept: crate::handshake::deflate::DeflateConfig,
    ) -> Compression {
        self.accept = accept;
        self
    }

    /// Sets [`settings`](Self::settings).
    pub const fn with_settings(mut self, settings: crate::deflate::DeflateSettings) -> Compression {
        self.settings = settings;
        self
    }
}

#[cfg(feature = "deflate")]
impl Default for Compression {
    fn default() -> Compression {
        Compression::new()
    }
}

impl Config {
    /// The defaults listed on each field.
    pub const fn new() -> Config {
        let session = SessionConfig::new();
        Config {
            engine: crate::Config::new(),
            read_buffer_size: session.read_buffer_size,
            write_high_water: session.write_high_water,
            max_handshake_size: DEFAULT_MAX_HEAD_SIZE,
            handshake_timeout: Some(Duration::from_secs(10)),
            #[cfg(feature = "deflate")]
            compression: None,
        }
    }

    /// Sets [`engine`](Self::engine).
    pub const fn with_engine(mut self, engine: crate::Config) -> Config {
        self.engine = engine;
        self
    }

    /// Sets [`read_buffer_size`](Self::read_buffer_size) (0 is taken as 1).
    pub const fn with_read_buffer_size(mut self, bytes: usize) -> Config {
        self.read_buffer_size = bytes;
        self
    }

    /// Sets [`write_high_water`](Self::write_high_water).
    pub const fn with_write_high_water(mut self, bytes: usize) -> Config {
        self.write_high_water = bytes;
        self
    }

    /// Sets [`max_handshake_size`](Self::max_handshake_size).
    pub const fn with_max_handshake_size(mut self, bytes: usize) -> Config {
        self.max_handshake_size = bytes;
        self
    }

    /// Sets [`handshake_timeout`](Self::handshake_timeout).
    pub const fn with_handshake_timeout(mut self, timeout: Option<Duration>) -> Config {
        self.handshake_timeout = timeout;
        self
    }

    /// Sets [`compression`](Self::compression) (feature `deflate`).
    #[cfg(feature = "deflate")]
    pub const fn with_compression(mut self, compression: Option<Compression>) -> Config {
        self.compression = compression;
        self
    }

    /// The buffer sizes, as the [`Session`](crate::Session) takes them.
    pub const fn session(&self) -> SessionConfig {
        SessionConfig::new()
            .with_read_buffer_size(self.read_buffer_size)
            .with_write_high_water(self.write_high_water)
    }
}

impl Default for Config {
    fn default() -> Config {
        Config::new()
    }
}

/// What a client asks for in the opening handshake, and the [`Config`] it runs with.
///
/// ```
/// use sockeye_core::adapter::ClientOptions;
/// let options = ClientOptions::new()
///     .with_protocols(&["chat.v2", "chat"])
///     .with_headers(&[("Authorization", "Bearer abc")])
///     .with_origin("https://example.com");
/// # let _ = options;
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClientOptions<'a> {
    /// Limits, buffers and timers.
    pub config: Config,
    /// Subprotocols to offer, in order of preference (`Sec-WebSocket-Protocol`).
    pub protocols: &'a [&'a str],
    /// Extra header fields, e.g. `Authorization` or `Cookie`.
    pub headers: &'a [(&'a str, &'a str)],
    /// The `Origin` field, which browsers send and servers may check; none by default.
    pub origin: Option<&'a str>,
    /// Through which HTTP proxy to connect (`connect` only; `client` runs over a stream you
    /// opened). Direct by default; [`ProxySetting::FromEnv`] reads `https_proxy` and friends.
    pub proxy: ProxySetting<'a>,
    /// The TLS settings for `wss://` (`connect` only): a private CA, client certificates,
    /// pinning. `None`: the roots of the enabled feature (`TlsConnector::with_default_roots`).
    /// The field exists in every build; without the feature `rustls` it can only be `None`.
    pub tls: Option<&'a super::tls::TlsConnector>,
}

impl<'a> ClientOptions<'a> {
    /// Default [`Config`], no subprotocols, no extra headers, no `Origin`.
    pub const fn new() -> ClientOptions<'a> {
        ClientOptions {
            config: Config::new(),
            protocols: &[],
            headers: &[],
            origin: None,
            proxy: ProxySetting::Direct,
            tls: None,
        }
    }

    /// Sets [`config`](Self::config).
    pub const fn with_config(mut self, config: Config) -> ClientOptions<'a> {
        self.config = config;
        self
    }

    /// Sets [`protocols`](Self::protocols).
    pub const fn with_protocols(mut self, protocols: &'a [&'a str]) -> ClientOptions<'a> {
        self.protocols = protocols;
        self
    }

    /// Sets [`headers`](Self::headers).
    pub const fn with_headers(mut self, headers: &'a [(&'a str, &'a str)]) -> ClientOptions<'a> {
        self.headers = headers;
        self
    }

    /// Sets [`proxy`](Self::proxy).
    pub const fn with_proxy(mut self, proxy: ProxySetting<'a>) -> ClientOptions<'a> {
        self.proxy = proxy;
        self
    }

    /// Sets [`tls`](Self::tls).
    #[cfg(feature = "rustls")]
    pub const fn with_tls(mut self, tls: &'a super::tls::TlsConnector) -> ClientOptions<'a> {
        self.tls = Some(tls);
        self
    }

    /// Sets [`origin`](Self::origin).
    pub const fn with_origin(mut self, origin: &'a str) -> ClientOptions<'a> {
        self.origin = Some(origin);
        self
    }
}

impl Default for ClientOptions<'_> {
    fn default() -> Self {
        ClientOptions::new()
    }
}

/// A server's answer to an opening-handshake request, returned by the callback of
/// `accept_with`: accept (optionally choosing one of the offered subprotocols) or reject with
/// an HTTP status.
///
/// ```
/// use sockeye_core::adapter::Decision;
/// use sockeye_core::handshake::Request;
///
/// fn decide<'r>(request: &Request<'r>) -> Decision<'r> {
///     if request.path() != "/chat" {
///         return Decision::reject(404);
///     }
///     match request.protocols().find(|p| *p == "chat.v2") {
///         Some(protocol) => Decision::accept().with_protocol(protocol),
///         None => Decision::reject(400).with_body(b"chat.v2 required\n"),
///     }
/// }
/// # let _ = decide;
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision<'a> {
    /// Answer `101 Switching Protocols`.
    #[non_exhaustive]
    Accept {
        /// The subprotocol chosen; it must be one the client offered.
        protocol: Option<&'a str>,
        /// Extra header fields, e.g. `Set-Cookie`.
        headers: &'a [(&'a str, &'a str)],
    },
    /// Refuse the upgrade with an HTTP response and close the connection.
    #[non_exhaustive]
    Reject {
        /// The status, 200–599 (e.g. 401, 403, 404).
        status: u16,
        /// Extra header fields, e.g. `WWW-Authenticate` or `Location`.
        headers: &'a [(&'a str, &'a str)],
        /// The response body.
        body: &'a [u8],
    },
}

impl<'a> Decision<'a> {
    /// Accept, without a subprotocol.
    pub const fn accept() -> Decision<'a> {
        Decision::Accept {
            protocol: None,
            headers: &[],
        }
    }

    /// Reject with `status` (200–599) and an empty body.
    pub const fn reject(status: u16) -> Decision<'a> {
        Decision::Reject {
            status,
            headers: &[],
            body: &[],
        }
    }

    /// Chooses a subprotocol (accepting only; a rejection is left as it is).
    pub const fn with_protocol(self, protocol: &'a str) -> Decision<'a> {
        match self {
            Decision::Accept { headers, .. } => Decision::Accept {
                protocol: Some(protocol),
                headers,
            },
            reject => reject,
        }
    }

    /// Adds header fields to the response.
    pub const fn with_headers(self, headers: &'a [(&'a str, &'a str)]) -> Decision<'a> {
        match self {
            Decision::Accept { protocol, .. } => Decision::Accept { protocol, headers },
            Decision::Reject { status, body, .. } => Decision::Reject {
                status,
                headers,
                body,
            },
        }
    }

    /// Sets the body of a rejection (an acceptance has none and is left as it is).
    pub const fn with_body(self, body: &'a [u8]) -> Decision<'a> {
        match self {
            Decision::Reject {
                status, headers, ..
            } => Decision::Reject {
                status,
                headers,
                body,
            },
            accept => accept,
        }
    }
}
