//! Engine configuration: role, limits and timers.

use core::time::Duration;

/// Which end of the connection the engine plays. It decides the masking rules (§5.1, §5.3)
/// and who closes the transport first (§7.1.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Role {
    /// Masks every frame it sends, rejects masked frames, waits for the server to close TCP.
    Client,
    /// Sends unmasked frames, rejects unmasked frames, closes TCP after the closing handshake.
    Server,
}

/// Keepalive: detect a dead peer or half-open connection, and keep idle intermediaries from
/// cutting the connection.
///
/// After `interval` without any inbound byte the engine sends a Ping; if still nothing arrives
/// within `timeout`, the connection ends with 1006 and cause
/// [`KeepaliveTimeout`](crate::close::AbnormalCause::KeepaliveTimeout). Any inbound byte — data
/// as much as a Pong — proves the peer alive, so a peer busy sending large messages is never
/// declared dead. A dead link is detected within `interval + timeout` of the last byte.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Keepalive {
    /// Inbound silence after which a Ping is sent. Set it below any proxy idle timeout.
    pub interval: Duration,
    /// How long to wait for any byte after the Ping before giving up.
    pub timeout: Duration,
}

/// Limits and timers. `Config::default()` suits a server; embedded users set small limits.
///
/// ```
/// use core::time::Duration;
/// use sockeye_core::{Config, Keepalive};
/// let config = Config::default()
///     .with_max_message_size(64 * 1024)
///     .with_keepalive(Some(Keepalive { interval: Duration::from_secs(20), timeout: Duration::from_secs(10) }));
/// assert_eq!(config.max_message_size, 64 * 1024);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Config {
    /// Largest accepted data frame payload; a larger one fails the connection with 1009. Control
    /// frames are bounded at 125 bytes by RFC 6455 §5.5 instead.
    /// Default 16 MiB.
    pub max_frame_payload: u64,
    /// Largest accepted message (sum of its frames); a larger one fails with 1009. Default 64 MiB.
    pub max_message_size: u64,
    /// How long to wait for the peer's Close after ours, for our reply to go out after theirs,
    /// and (client) for the server to close the transport after the handshake. Default 5 s.
    pub close_timeout: Duration,
    /// Keepalive pings; `None` (the default) sends none.
    pub keepalive: Option<Keepalive>,
    /// RSV bits claimed by negotiated extensions (e.g. [`RSV1`](crate::frame::RSV1) for
    /// permessage-deflate). Frames with other RSV bits fail with 1002 (§5.2). Default 0.
    pub extension_rsv: u8,
}

impl Config {
    /// The defaults: 16 MiB frames, 64 MiB messages, 5 s close timeout, no keepalive.
    pub const fn new() -> Config {
        Config {
            max_frame_payload: 16 << 20,
            max_message_size: 64 << 20,
            close_timeout: Duration::from_secs(5),
            keepalive: None,
            extension_rsv: 0,
        }
    }

    /// Sets [`max_frame_payload`](Self::max_frame_payload).
    pub const fn with_max_frame_payload(mut self, max: u64) -> Config {
        self.max_frame_payload = max;
        self
    }

    /// Sets [`max_message_size`](Self::max_message_size).
    pub const fn with_max_message_size(mut self, max: u64) -> Config {
        self.max_message_size = max;
        self
    }

    /// Sets [`close_timeout`](Self::close_timeout).
    pub const fn with_close_timeout(mut self, timeout: Duration) -> Config {
        self.close_timeout = timeout;
        self
    }

    /// Sets [`keepalive`](Self::keepalive).
    pub const fn with_keepalive(mut self, keepalive: Option<Keepalive>) -> Config {
        self.keepalive = keepalive;
        self
    }

    /// Sets [`extension_rsv`](Self::extension_rsv).
    pub const fn with_extension_rsv(mut self, rsv: u8) -> Config {
        self.extension_rsv = rsv & 0b111;
        self
    }
}

impl Default for Config {
    fn default() -> Config {
        Config::new()
    }
}
