//! Which WebSocket extensions a server accepts (RFC 6455 §9.1): the one decision that every
//! server adapter — the plain ones through [`upgrade::answer`](super::upgrade::answer), the
//! hyper/axum integration through its own response — takes from here, so that they
//! negotiate alike.
//!
//! sockeye implements no extension yet, so every offer is declined, which RFC 6455 §9.1
//! allows (a server accepts only the extensions it supports, and a client must not use one
//! the server did not accept). **permessage-deflate (RFC 7692) plugs in here**: its
//! negotiation is `handshake::deflate::negotiate`; when compression lands, this function
//! returns the `Sec-WebSocket-Extensions` value it produces, and the connection's
//! configuration follows from it.

use std::string::String;

/// The `Sec-WebSocket-Extensions` value a server answers to the client's `offers` (one item
/// per offer, as [`Request::extensions`](crate::handshake::Request::extensions) yields
/// them), or `None` to accept no extension.
///
/// ```
/// use sockeye_core::adapter::negotiate_extensions;
///
/// // No extension is implemented yet: every offer is declined.
/// assert_eq!(negotiate_extensions(["permessage-deflate; client_max_window_bits"].into_iter()), None);
/// ```
pub fn negotiate_extensions<'o>(offers: impl Iterator<Item = &'o str>) -> Option<String> {
    // Declining is a complete answer: the response simply carries no
    // Sec-WebSocket-Extensions field. The offers are consumed so that the deflate
    // negotiation, when it lands, is a change of this body only.
    offers.for_each(drop);
    None
}
