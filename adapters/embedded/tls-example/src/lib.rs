//! `wss://` on a microcontroller: [`sockeye_embedded`] over an [`embedded_tls`] session, which
//! is itself an `embedded-io-async` stream over the device's TCP socket (embassy-net's
//! `TcpSocket`, or any other).
//!
//! ```text
//! TCP socket ──> embedded_tls::TlsConnection (TLS 1.3, server verified against a CA in DER)
//!            ──> sockeye_embedded::connect (WebSocket upgrade, then frames, timers, close)
//! ```
//!
//! [`telemetry`] is what a sensor does: open TLS to the server (SNI = its name, ALPN
//! `http/1.1`, the server's certificate chain checked against the CA the firmware carries),
//! run the WebSocket handshake over it, send one reading, wait for the server's answer, close
//! with the full closing handshake, then close TLS (`close_notify`) and hand the socket back.
//! Everything lives in memory the caller owns: the TLS record buffers, the WebSocket
//! [`Storage`], the socket. No allocator, no `unsafe`.
//!
//! CI builds this crate for `thumbv7em-none-eabihf` (`../ci.sh`), which compiles embedded-tls and
//! its RustCrypto dependencies for the Cortex-M4F and type-checks [`telemetry`] against them
//! and against sockeye-embedded. It is generic over the socket, the clocks and the random
//! generator, so it is not linked into a firmware image here and not run under QEMU (a TLS
//! server for the emulated board would have to be reached through an emulated network).
#![no_std]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

use embedded_io_async::{Read, Write};
use embedded_tls::pki::CertVerifier;
use embedded_tls::{
    Aes128GcmSha256, Certificate, CryptoProvider, CryptoRngCore, TlsClock, TlsConfig,
    TlsConnection, TlsContext, TlsError, TlsVerifier,
};
use sockeye_embedded::{
    connect, ClientRequest, Clock, CloseCode, Closure, Config, HandshakeError, Message, Storage,
};

/// The ALPN protocol a WebSocket upgrade runs over (RFC 6455 §4.1: an HTTP/1.1 request).
const HTTP_1_1: &[&[u8]] = &[b"http/1.1"];

/// The largest server certificate (DER) the verifier keeps while checking the chain.
const MAX_CERT_SIZE: usize = 2048;

/// A crypto provider for embedded-tls: the device's random generator, and a verifier that
/// checks the server's chain (and its name) against one CA. `T` gives the wall-clock time for
/// the validity period (`embedded_tls::NoClock` skips that check on a device without one).
pub struct VerifyingProvider<'a, R, T: TlsClock> {
    rng: R,
    verifier: CertVerifier<'a, Aes128GcmSha256, T, MAX_CERT_SIZE>,
}

impl<'a, R: CryptoRngCore, T: TlsClock> VerifyingProvider<'a, R, T> {
    /// Trusts the CA certificate `ca_der` (DER, e.g. `include_bytes!("ca.der")`).
    pub fn new(rng: R, ca_der: &'a [u8]) -> Self {
        VerifyingProvider {
            rng,
            verifier: CertVerifier::new(Certificate::X509(ca_der)),
        }
    }
}

impl<R: CryptoRngCore, T: TlsClock> CryptoProvider for VerifyingProvider<'_, R, T> {
    type CipherSuite = Aes128GcmSha256;
    type Signature = &'static [u8];

    fn rng(&mut self) -> impl CryptoRngCore {
        &mut self.rng
    }

    fn verifier(&mut self) -> Result<&mut impl TlsVerifier<Aes128GcmSha256>, TlsError> {
        Ok(&mut self.verifier)
    }
}

/// Why [`telemetry`] failed.
#[derive(Debug)]
pub enum Error {
    /// The TLS session could not be opened or closed (embedded-tls' reason: e.g. the server's
    /// certificate does not verify against the CA, or the server refused the handshake).
    Tls(TlsError),
    /// The WebSocket opening handshake failed.
    Handshake(HandshakeError),
    /// The connection ended before the server answered; the closure says how.
    Closed(Closure),
    /// The WebSocket refused an operation (a message above the configured limits, …).
    WebSocket(sockeye_embedded::Error),
}

/// What the server answered, and how the connection ended.
#[derive(Debug)]
pub struct Report {
    /// The first message the server sent back, as its length in bytes.
    pub reply_len: usize,
    /// The end of the WebSocket connection (a clean closing handshake when all went well).
    pub closure: Closure,
}

/// Sends one reading to `wss://{host}{path}` over `socket` (connected to the server's TLS
/// port) and waits for the server's reply, then closes WebSocket, then TLS.
///
/// `tls_read` and `tls_write` are embedded-tls' record buffers (16 KiB + 256 each holds any
/// record; smaller works when the server honours a max fragment length). `random` must come
/// from the chip's RNG, like `rng` (see [`sockeye_embedded::connect`]).
#[allow(clippy::too_many_arguments)]
pub async fn telemetry<S, C, R, T, const RX: usize, const TX: usize>(
    socket: S,
    clock: C,
    rng: R,
    ca_der: &[u8],
    (host, path): (&str, &str),
    reading: &str,
    (tls_read, tls_write): (&mut [u8], &mut [u8]),
    storage: &mut Storage<RX, TX>,
    random: [u8; 24],
) -> Result<(Report, S), Error>
where
    S: Read + Write,
    C: Clock,
    R: CryptoRngCore,
    T: TlsClock,
{
    let config = TlsConfig::new().with_server_name(host).with_alpn(HTTP_1_1);
    let mut tls: TlsConnection<'_, S, Aes128GcmSha256> =
        TlsConnection::new(socket, tls_read, tls_write);
    let provider = VerifyingProvider::<R, T>::new(rng, ca_der);
    tls.open(TlsContext::new(&config, provider))
        .await
        .map_err(Error::Tls)?;

    let report = {
        let request = ClientRequest::from_parts(host, path);
        let (mut ws, _protocol) = connect(&mut tls, clock, storage, request, random, Config::new())
            .await
            .map_err(Error::Handshake)?;
        // Every failure after the upgrade ends in the connection's one closure, when it ended.
        let ended = |ws: &sockeye_embedded::WebSocket<'_, _, _>, e| match ws.closure() {
            Some(closure) => Error::Closed(closure),
            None => Error::WebSocket(e),
        };
        if let Err(e) = ws.send_text(reading).await {
            return Err(ended(&ws, e));
        }
        let reply_len = match ws.receive().await {
            Ok(Message::Text(text)) => text.len(),
            Ok(Message::Binary(data)) => data.len(),
            Err(e) => return Err(ended(&ws, e)),
        };
        let closure = match ws.close(CloseCode::NORMAL, "").await {
            Ok(closure) => closure,
            Err(e) => return Err(ended(&ws, e)),
        };
        Report { reply_len, closure }
    };
    // TLS close_notify, then the socket goes back to the caller (to close TCP).
    match tls.close().await {
        Ok(socket) => Ok((report, socket)),
        Err((_socket, e)) => Err(Error::Tls(e)),
    }
}
