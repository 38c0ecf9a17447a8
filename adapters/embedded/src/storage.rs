//! [`Storage`]: the memory of one connection, owned by the caller.

use embedded_io_async::{Read, Write};
use sockeye_core::Connection;

use crate::clock::Clock;
use crate::websocket::WebSocket;
use crate::websocket::MIN_TX_BUFFER;

/// The memory one connection needs, owned by the caller: the receive buffer (`RX` bytes),
/// the transmit buffer (`TX` bytes, at least [`MIN_TX_BUFFER`](crate::MIN_TX_BUFFER)) and the
/// engine's state (a [`Connection`], about 0.5 KB).
///
/// Put it where the application wants its RAM: on the task's stack, or in a `static` — with
/// `static_cell::ConstStaticCell`, `Storage::new()` is evaluated at compile time and nothing
/// is copied at run time. The [`WebSocket`](crate::WebSocket) that [`connect`](crate::connect)
/// and [`accept`](crate::accept) return only borrows it, so it stays small and cheap to move
/// through async code. A `Storage` can be reused for the next connection.
///
/// `RX` bounds the handshake head the peer may send and the largest message
/// [`receive`](crate::WebSocket::receive) assembles; larger messages can still be streamed with
/// [`receive_event`](crate::WebSocket::receive_event). `TX` bounds the handshake request or
/// response; larger messages are sent as several fragments.
pub struct Storage<const RX: usize, const TX: usize> {
    pub(crate) rx: [u8; RX],
    pub(crate) tx: [u8; TX],
    pub(crate) engine: Engine,
}

/// The slot for the engine. With `repr(u8)` the empty slot is a zero tag (no niche in the
/// `Connection`), so an empty `Storage` is all zero bytes and a `static` one goes to `.bss`
/// instead of taking its size again in flash as `.data`.
#[repr(u8)]
#[allow(clippy::large_enum_variant)] // it is the storage: the space is meant to be there
pub(crate) enum Engine {
    Empty = 0,
    Ready(Connection),
}

impl Engine {
    /// Puts a fresh engine in the slot.
    pub(crate) fn insert(&mut self, conn: Connection) -> &mut Connection {
        *self = Engine::Ready(conn);
        match self {
            Engine::Ready(conn) => conn,
            Engine::Empty => unreachable!(),
        }
    }
}

impl<const RX: usize, const TX: usize> Storage<RX, TX> {
    /// Empty storage (usable in a `static`). Sizes that cannot work (`RX` of 0, `TX` below
    /// [`MIN_TX_BUFFER`](crate::MIN_TX_BUFFER)) are refused at compile time.
    pub const fn new() -> Self {
        const {
            assert!(RX > 0, "Storage: the receive buffer cannot be empty");
            assert!(
                TX >= MIN_TX_BUFFER,
                "Storage: the transmit buffer needs MIN_TX_BUFFER bytes"
            );
        }
        Storage {
            rx: [0; RX],
            tx: [0; TX],
            engine: Engine::Empty,
        }
    }
}

impl<const RX: usize, const TX: usize> Storage<RX, TX> {
    /// Drives `conn`, a [`Connection`] whose opening handshake the caller did, over
    /// `transport` with this storage's buffers. (The engine is moved into the storage.)
    pub fn attach<T: Read + Write, C: Clock>(
        &mut self,
        transport: T,
        clock: C,
        conn: Connection,
    ) -> WebSocket<'_, T, C> {
        let conn = self.engine.insert(conn);
        WebSocket::new(transport, clock, conn, &mut self.rx, &mut self.tx)
    }
}

impl<const RX: usize, const TX: usize> Default for Storage<RX, TX> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const RX: usize, const TX: usize> core::fmt::Debug for Storage<RX, TX> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Storage")
            .field("rx", &RX)
            .field("tx", &TX)
            .field("in_use", &matches!(self.engine, Engine::Ready(_)))
            .finish()
    }
}
