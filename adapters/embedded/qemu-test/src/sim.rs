//! A virtual clock and `join` for driving connections in memory (no_std, no alloc).
//!
//! [`TickClock`] advances by one tick each time a pending `sleep_until` is polled, so virtual
//! time passes only while every task waits — like a simulation's event loop — and a peer that
//! has something to do always gets to do it before a timer fires. Shared by the QEMU firmware
//! and the adapter's host tests.

use core::cell::Cell;
use core::future::{poll_fn, Future};
use core::pin::pin;
use core::task::Poll;
use core::time::Duration;

use sockeye_embedded::{Clock, Instant};

/// Virtual time: starts at zero, moves one `tick` per poll of a pending sleep.
pub struct TickClock {
    now: Cell<u64>,
    tick: u64,
}

impl TickClock {
    /// A clock at zero that moves `tick` per idle poll.
    pub const fn new(tick: Duration) -> TickClock {
        TickClock {
            now: Cell::new(0),
            tick: tick.as_nanos() as u64,
        }
    }
}

impl Clock for TickClock {
    fn now(&self) -> Instant {
        Instant::from_nanos(self.now.get())
    }

    async fn sleep_until(&self, deadline: Instant) {
        poll_fn(|cx| {
            if self.now.get() >= deadline.as_nanos() {
                return Poll::Ready(());
            }
            self.now.set(self.now.get() + self.tick);
            cx.waker().wake_by_ref();
            Poll::Pending
        })
        .await
    }
}

/// Runs two futures concurrently until both complete.
pub async fn join<A: Future, B: Future>(a: A, b: B) -> (A::Output, B::Output) {
    let mut a = pin!(a);
    let mut b = pin!(b);
    let mut ra = None;
    let mut rb = None;
    poll_fn(|cx| {
        if ra.is_none() {
            if let Poll::Ready(v) = a.as_mut().poll(cx) {
                ra = Some(v);
            }
        }
        if rb.is_none() {
            if let Poll::Ready(v) = b.as_mut().poll(cx) {
                rb = Some(v);
            }
        }
        if ra.is_some() && rb.is_some() {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    })
    .await;
    match (ra, rb) {
        (Some(a), Some(b)) => (a, b),
        _ => unreachable!(),
    }
}
