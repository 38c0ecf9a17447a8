//! The opening handshake over the transport: [`connect`] (client) and [`accept`] (server).
//!
//! Both use the connection's [`Storage`]: the request or response is written in its transmit
//! buffer, the peer's head is read into its receive buffer, and whatever followed the head in the same reads (a server's
//! first message, a client's pipelined first frame) stays there for the engine — nothing is
//! lost. Every check is the core's ([`sockeye_core::handshake`]); this module moves the bytes.
//!
//! The handshake has no timer of its own: bound it with the executor's timeout if the peer may
//! stall (`embassy_time::with_timeout`).

use core::fmt;

use embedded_io_async::{Error as _, Read, Write};
use sockeye_core::handshake::{
    Accept, ClientConfig, ClientHandshake, ClientRequest, Reject, Request, RequestError,
    ResponseError, ServerConfig, ServerHandshake, WriteError,
};
use sockeye_core::{Config, Connection, Instant, Role, TransportError};

use crate::clock::Clock;
use crate::error::transport_error;
#[cfg(feature = "deflate")]
use crate::inflate::InflateStorage;
use crate::storage::{Engine, Storage};
use crate::websocket::WebSocket;
#[cfg(feature = "deflate")]
use sockeye_core::handshake::deflate::DeflateParams;

/// The most header fields a server's handshake response may have. Responses are short (the
/// three required fields, perhaps `Date`, `Server`, a subprotocol); each allowed field costs
/// 16 bytes of stack while the response is parsed. More is
/// [`ResponseError::TooManyHeaders`].
pub const MAX_RESPONSE_HEADERS: usize = 16;

/// The most header fields a client's handshake request may have: browsers send about 15.
/// Each costs 16 bytes of stack while the request is parsed; more is
/// [`RequestError::TooManyHeaders`].
pub const MAX_REQUEST_HEADERS: usize = 32;

/// Why the opening handshake failed. The transport should be closed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum HandshakeError {
    /// The peer closed the transport before the handshake completed.
    Eof,
    /// The transport failed.
    Transport(TransportError),
    /// Client: the server's response is not a valid `101 Switching Protocols` for our request
    /// (RFC 6455 §4.1); it may be a refusal ([`ResponseError::Status`]).
    Response(ResponseError),
    /// Server: the request is not a valid opening handshake (§4.2.1). The HTTP error response
    /// ([`RequestError::write_response`]) was sent.
    Request(RequestError),
    /// Server: the application refused the request; its [`Reject`] response was sent.
    Rejected,
    /// Our own request or response could not be written: a header string is invalid, or `tx`
    /// is too small (`BufferTooSmall` says how much is needed).
    Write(WriteError),
}

impl fmt::Display for HandshakeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HandshakeError::Eof => {
                f.write_str("the peer closed the connection during the opening handshake")
            }
            HandshakeError::Transport(e) => {
                write!(
                    f,
                    "the transport failed during the opening handshake: {e:?}"
                )
            }
            HandshakeError::Response(e) => write!(f, "opening handshake failed: {e}"),
            HandshakeError::Request(e) => write!(f, "invalid opening handshake request: {e}"),
            HandshakeError::Rejected => f.write_str("the application rejected the request"),
            HandshakeError::Write(e) => write!(f, "cannot write the opening handshake: {e}"),
        }
    }
}

impl core::error::Error for HandshakeError {}

#[cfg(feature = "defmt")]
impl defmt::Format for HandshakeError {
    fn format(&self, f: defmt::Formatter<'_>) {
        match self {
            HandshakeError::Eof => defmt::write!(f, "Eof"),
            HandshakeError::Transport(_) => defmt::write!(f, "Transport"),
            HandshakeError::Response(ResponseError::Status(s)) => {
                defmt::write!(f, "Response(status {=u16})", s)
            }
            HandshakeError::Response(_) => defmt::write!(f, "Response"),
            HandshakeError::Request(e) => defmt::write!(f, "Request(status {=u16})", e.status()),
            HandshakeError::Rejected => defmt::write!(f, "Rejected"),
            HandshakeError::Write(_) => defmt::write!(f, "Write"),
        }
    }
}

/// Connects as a client: sends the upgrade request for `request`, validates the server's
/// `101` response, and returns the [`WebSocket`] with the subprotocol the server selected
/// (one of `request`'s offers, or `None`).
///
/// `random` must come from a cryptographically secure generator (the chip's RNG): its first
/// 16 bytes are the `Sec-WebSocket-Key` nonce (§4.1), the last 8 seed the masking keys
/// (§10.3). The [`Storage`]'s receive buffer must hold the server's whole response head, its
/// transmit buffer the request. Pass `&mut socket` as the transport to keep the socket, for
/// example to close it after an error.
pub async fn connect<'b, 'r, T, C, const RX: usize, const TX: usize>(
    mut transport: T,
    clock: C,
    storage: &'b mut Storage<RX, TX>,
    request: ClientRequest<'r>,
    random: [u8; 24],
    config: Config,
) -> Result<(WebSocket<'b, T, C>, Option<&'r str>), HandshakeError>
where
    T: Read + Write,
    C: Clock,
{
    let Storage { rx, tx, engine } = storage;
    let (mut handshake, seed) = start(request, random, RX);
    // The engine is set up first, so that `config` is not carried across the awaits below.
    let conn = install(engine, Role::Client, config, clock.now(), seed);
    let len = write_request(&handshake, tx)?;
    send(&mut transport, &tx[..len]).await?;
    let mut filled = 0;
    let (consumed, protocol) = loop {
        filled += receive(&mut transport, rx, filled).await?;
        if let Some(done) = read_response(&mut handshake, &rx[..filled])? {
            break done;
        }
    };
    log_open("client");
    let ws = WebSocket::new(transport, clock, conn, rx, tx).with_received(consumed..filled);
    Ok((ws, protocol))
}

/// Connects as a client that receives compressed messages (permessage-deflate, RFC 7692)
/// without an allocator: as [`connect`], with the permessage-deflate offer of
/// [`InflateStorage::offer`] in the request — the server's window limited to `WINDOW`
/// (`server_max_window_bits`, 9 for 512 bytes) and `client_no_context_takeover`, since this
/// client never compresses. A deflate offer already in `request`
/// ([`ClientRequest::with_deflate`]) is kept, its `server_max_window_bits` capped to `WINDOW`.
///
/// The server's answer is checked against the offer (a response that breaks it is
/// [`HandshakeError::Response`]). If it accepted, the [`WebSocket`] inflates every compressed
/// message into `inflate` (see [`WebSocket::with_inflater`]); if it declined, messages arrive
/// uncompressed as with [`connect`] ([`WebSocket::inflates`] says which). What we send is
/// never compressed, which RFC 7692 allows per message.
#[cfg(feature = "deflate")]
#[allow(clippy::too_many_arguments)]
pub async fn connect_deflate<
    'b,
    'r,
    T,
    C,
    const RX: usize,
    const TX: usize,
    const WINDOW: usize,
    const MESSAGE: usize,
>(
    mut transport: T,
    clock: C,
    storage: &'b mut Storage<RX, TX>,
    inflate: &'b mut InflateStorage<WINDOW, MESSAGE>,
    request: ClientRequest<'r>,
    random: [u8; 24],
    config: Config,
) -> Result<(WebSocket<'b, T, C>, Option<&'r str>), HandshakeError>
where
    T: Read + Write,
    C: Clock,
{
    let cap = InflateStorage::<WINDOW, MESSAGE>::WINDOW_BITS;
    let mut offer = request
        .deflate()
        .unwrap_or(InflateStorage::<WINDOW, MESSAGE>::offer());
    offer.server_max_window_bits = Some(offer.server_max_window_bits.map_or(cap, |b| b.min(cap)));
    let request = request.with_deflate(offer);
    let Storage { rx, tx, engine } = storage;
    let (mut handshake, seed) = start(request, random, RX);
    let max_message_size = config.max_message_size;
    let conn = install(engine, Role::Client, config, clock.now(), seed);
    let len = write_request(&handshake, tx)?;
    send(&mut transport, &tx[..len]).await?;
    let mut filled = 0;
    let (consumed, protocol, deflate) = loop {
        filled += receive(&mut transport, rx, filled).await?;
        if let Some(done) = read_deflate_response(&mut handshake, &rx[..filled])? {
            break done;
        }
    };
    log_open("client");
    let ws = WebSocket::new(transport, clock, conn, rx, tx).with_received(consumed..filled);
    let InflateStorage {
        state,
        window,
        message,
    } = inflate;
    // The server's window is at most what we offered (the response check refuses more), so
    // the inflater always fits `WINDOW`; were it not to, compressed frames would fail with
    // 1002 (RSV1 not allowed) rather than inflate wrongly.
    let inflater = deflate.and_then(|params| {
        sockeye_core::inflate::Inflater::for_client(state, window, params, max_message_size).ok()
    });
    Ok(match inflater {
        Some(inflater) => (ws.with_inflater(inflater, message), protocol),
        None => (ws, protocol),
    })
}

/// As `read_response`, with the permessage-deflate parameters the server accepted.
#[cfg(feature = "deflate")]
#[inline(never)]
#[allow(clippy::type_complexity)]
fn read_deflate_response<'r>(
    handshake: &mut ClientHandshake<'r, MAX_RESPONSE_HEADERS>,
    received: &[u8],
) -> Result<Option<(usize, Option<&'r str>, Option<DeflateParams>)>, HandshakeError> {
    let Some(response) = handshake
        .read_response(received)
        .map_err(HandshakeError::Response)?
    else {
        return Ok(None);
    };
    let chosen = response.protocol();
    let offers = handshake.request().protocols();
    let protocol = offers.iter().copied().find(|p| Some(*p) == chosen);
    Ok(Some((response.consumed(), protocol, response.deflate())))
}

/// Accepts a client as a server: reads and validates the upgrade request, lets `choose`
/// inspect it (path, `Origin`, offered subprotocols…) and answer with an [`Accept`] (possibly
/// selecting a subprotocol) or a [`Reject`], sends the response and returns the [`WebSocket`].
///
/// An invalid request is answered with the matching HTTP error and a rejection with its
/// response before the error is returned. The [`Storage`]'s receive buffer must hold the
/// whole request head, its transmit buffer the response.
pub async fn accept<'b, T, C, F, const RX: usize, const TX: usize>(
    mut transport: T,
    clock: C,
    storage: &'b mut Storage<RX, TX>,
    config: Config,
    choose: F,
) -> Result<WebSocket<'b, T, C>, HandshakeError>
where
    T: Read + Write,
    C: Clock,
    F: FnOnce(&Request<'_>) -> Result<Accept<'static>, Reject<'static>>,
{
    let Storage { rx, tx, engine } = storage;
    let conn = install(engine, Role::Server, config, clock.now(), 0);
    let mut handshake: ServerHandshake<MAX_REQUEST_HEADERS> =
        ServerHandshake::with_config(ServerConfig::new().with_max_request_size(RX));
    let mut filled = 0;
    let mut choose = Some(choose);
    let (len, outcome) = loop {
        filled += receive(&mut transport, rx, filled).await?;
        if let Some(answer) = answer_request(&mut handshake, &rx[..filled], tx, &mut choose)? {
            break answer;
        }
    };
    send(&mut transport, &tx[..len]).await?;
    let consumed = outcome?;
    log_open("server");
    Ok(WebSocket::new(transport, clock, conn, rx, tx).with_received(consumed..filled))
}

// The synchronous steps below are kept out of line on purpose: their temporaries (the parsed
// head, with an array of `httparse` headers) then only occupy the stack while they run, not
// for as long as the async state machine that calls them is waiting.

/// Puts a fresh engine in the storage. (Out of line: the 0.5 KB value is built here.)
#[inline(never)]
fn install(
    slot: &mut Engine,
    role: Role,
    config: Config,
    now: Instant,
    seed: u64,
) -> &mut Connection {
    slot.insert(Connection::new(role, config, now, seed))
}

/// The client's handshake (its key and the accept value it expects: base64 and SHA-1) and the
/// mask seed, from the 24 random bytes.
#[inline(never)]
fn start<'r>(
    request: ClientRequest<'r>,
    random: [u8; 24],
    max_head: usize,
) -> (ClientHandshake<'r, MAX_RESPONSE_HEADERS>, u64) {
    let mut nonce = [0u8; 16];
    nonce.copy_from_slice(&random[..16]);
    let mut seed = [0u8; 8];
    seed.copy_from_slice(&random[16..]);
    let limits = ClientConfig::new().with_max_response_size(max_head);
    (
        ClientHandshake::with_config(request, nonce, limits),
        u64::from_le_bytes(seed),
    )
}

#[inline(never)]
fn write_request(
    handshake: &ClientHandshake<'_, MAX_RESPONSE_HEADERS>,
    tx: &mut [u8],
) -> Result<usize, HandshakeError> {
    handshake.write_request(tx).map_err(HandshakeError::Write)
}

/// `Some((head length, selected subprotocol))` once the whole response is in.
#[inline(never)]
fn read_response<'r>(
    handshake: &mut ClientHandshake<'r, MAX_RESPONSE_HEADERS>,
    received: &[u8],
) -> Result<Option<(usize, Option<&'r str>)>, HandshakeError> {
    let Some(response) = handshake
        .read_response(received)
        .map_err(HandshakeError::Response)?
    else {
        return Ok(None);
    };
    // The selection is one of our offers: return ours, which outlives `rx`.
    let chosen = response.protocol();
    let offers = handshake.request().protocols();
    let protocol = offers.iter().copied().find(|p| Some(*p) == chosen);
    Ok(Some((response.consumed(), protocol)))
}

/// Once the whole request is in: the response written to `tx` (its length), and the head
/// length if the request was accepted or why not.
#[allow(clippy::type_complexity)]
#[inline(never)]
fn answer_request<F>(
    handshake: &mut ServerHandshake<MAX_REQUEST_HEADERS>,
    received: &[u8],
    tx: &mut [u8],
    choose: &mut Option<F>,
) -> Result<Option<(usize, Result<usize, HandshakeError>)>, HandshakeError>
where
    F: FnOnce(&Request<'_>) -> Result<Accept<'static>, Reject<'static>>,
{
    match handshake.read_request(received) {
        Ok(None) => Ok(None),
        Ok(Some(request)) => {
            let Some(choose) = choose.take() else {
                return Ok(None);
            };
            Ok(Some(match choose(&request) {
                Ok(answer) => (
                    request.accept(&answer, tx).map_err(HandshakeError::Write)?,
                    Ok(request.consumed()),
                ),
                Err(reject) => (
                    reject.write(tx).map_err(HandshakeError::Write)?,
                    Err(HandshakeError::Rejected),
                ),
            }))
        }
        Err(e) => {
            // Answer with the error's status when it fits; the connection ends either way.
            let len = e.write_response(tx).unwrap_or(0);
            Ok(Some((len, Err(HandshakeError::Request(e)))))
        }
    }
}

/// Writes all of `data` and flushes.
async fn send<T: Write>(transport: &mut T, data: &[u8]) -> Result<(), HandshakeError> {
    let mut rest = data;
    while !rest.is_empty() {
        match transport.write(rest).await {
            Ok(0) => return Err(HandshakeError::Transport(TransportError::BrokenPipe)),
            Ok(n) => rest = rest.get(n..).unwrap_or(&[]),
            Err(e) => return Err(HandshakeError::Transport(transport_error(e.kind()))),
        }
    }
    transport
        .flush()
        .await
        .map_err(|e| HandshakeError::Transport(transport_error(e.kind())))
}

/// Reads more of the peer's head into `rx[filled..]`, returning how many bytes came.
async fn receive<T: Read>(
    transport: &mut T,
    rx: &mut [u8],
    filled: usize,
) -> Result<usize, HandshakeError> {
    let Some(space) = rx.get_mut(filled..).filter(|s| !s.is_empty()) else {
        // The core's head limit is `rx.len()`, so it reports a full buffer first; this is a
        // safety net against reading into an empty slice, which would look like EOF.
        return Err(HandshakeError::Transport(TransportError::Other));
    };
    match transport.read(space).await {
        Ok(0) => Err(HandshakeError::Eof),
        Ok(n) => Ok(n),
        Err(e) => Err(HandshakeError::Transport(transport_error(e.kind()))),
    }
}

fn log_open(_role: &str) {
    #[cfg(feature = "defmt")]
    defmt::info!("websocket open ({=str})", _role);
}
