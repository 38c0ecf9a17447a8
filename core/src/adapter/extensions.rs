//! Which WebSocket extensions a server accepts (RFC 6455 §9.1): the one decision that every
//! server adapter — the plain ones through [`upgrade::answer`](super::upgrade::answer), the
//! hyper/axum integration through its own response — takes from here, so that they
//! negotiate alike.
//!
//! The one extension is permessage-deflate (RFC 7692): accepted when
//! [`Config::compression`](super::Config) allows one of the client's offers (feature
//! `deflate`; without it every offer is declined, which RFC 6455 §9.1 allows).

use crate::handshake::deflate::Accepted;

use super::Config;

/// The permessage-deflate offer a server accepts of the client's `offers` (one item per
/// offer, as [`Request::extensions`](crate::handshake::Request::extensions) yields them)
/// under `config`, or `None` to accept no extension. Pass it to
/// [`Accept::with_deflate`](crate::handshake::Accept::with_deflate), and its parameters to the
/// session ([`Upgraded::deflate`](super::upgrade::Upgraded::deflate)).
///
/// ```
/// use sockeye_core::adapter::{negotiate_extensions, Config};
///
/// let offers = ["permessage-deflate; client_max_window_bits"];
/// // Compression is opted into: without it, every offer is declined.
/// assert_eq!(negotiate_extensions(offers.into_iter(), &Config::default()), None);
/// ```
pub fn negotiate_extensions<'o>(
    offers: impl Iterator<Item = &'o str>,
    config: &Config,
) -> Option<Accepted> {
    #[cfg(feature = "deflate")]
    if let Some(compression) = config.compression {
        return crate::handshake::deflate::negotiate(offers, &compression.accept);
    }
    let _ = (offers, config);
    None
}
