//! Running the engine's timers while a transport read or write is in flight.
//!
//! An embedded task awaits one thing at a time, so the engine's deadline is raced against the
//! I/O future: if the deadline passes first, the engine handles it ([`Connection::handle_timeout`])
//! and, unless that ended the connection or queued a frame that must go out now, the *same* I/O
//! future keeps running — it is never dropped without need.

use core::future::{poll_fn, Future};
use core::pin::{pin, Pin};
use core::task::Poll;

use sockeye_core::{Connection, ConnectionState};

use crate::clock::Clock;

/// How a [`race`] ended.
pub(crate) enum Raced<T> {
    /// The I/O future completed.
    Done(T),
    /// A timer fired and the I/O future must be given up: the connection is over, or (reads
    /// only) the engine queued a keepalive Ping that must be written now.
    Timer,
}

/// Awaits `io` while keeping the engine's timers running.
///
/// `yield_to_transmit`: give up `io` when a timer queued a frame (true for reads, so that a
/// keepalive Ping can go out while the peer is silent; false for writes, which finish first).
///
/// `io` is a trait object (a read, a write or a flush, all reporting a byte count), so the
/// timer loop exists once in the firmware rather than once per kind of I/O.
pub(crate) async fn race<E, C: Clock>(
    conn: &mut Connection,
    clock: &C,
    mut io: Pin<&mut dyn Future<Output = Result<usize, E>>>,
    yield_to_transmit: bool,
) -> Raced<Result<usize, E>> {
    loop {
        let Some(deadline) = conn.poll_timeout() else {
            return Raced::Done(io.await);
        };
        let mut sleep = pin!(clock.sleep_until(deadline));
        let io_won = poll_fn(|cx| {
            if let Poll::Ready(out) = io.as_mut().poll(cx) {
                return Poll::Ready(Some(out));
            }
            sleep.as_mut().poll(cx).map(|()| None)
        })
        .await;
        if let Some(out) = io_won {
            return Raced::Done(out);
        }
        conn.handle_timeout(clock.now());
        if conn.state() == ConnectionState::Closed || (yield_to_transmit && conn.wants_transmit()) {
            return Raced::Timer;
        }
    }
}
