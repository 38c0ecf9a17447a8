//! Time for the engine's timers, from whatever timer the firmware has.
//!
//! The engine's close timeout and keepalive are deadlines ([`Connection::poll_timeout`]); the
//! adapter waits for the earliest one alongside every transport read and write, and calls
//! [`Connection::handle_timeout`] when it passes. All it needs from the platform is "what time is
//! it" and "wake me at that time": the [`Clock`] trait. It is not tied to an executor; the
//! `embassy-time` feature provides `EmbassyClock`.
//!
//! [`Connection::poll_timeout`]: sockeye_core::Connection::poll_timeout
//! [`Connection::handle_timeout`]: sockeye_core::Connection::handle_timeout

use sockeye_core::Instant;

/// A monotonic clock that can wait until a deadline.
///
/// `now` must never go backwards, and `sleep_until` must not complete before `now()` reaches
/// `deadline` (completing late is fine: the timer simply fires late). A `sleep_until` future may
/// be dropped before it completes, whenever a read or write finishes first.
///
/// Only differences between instants matter, so the origin can be anything (boot, a hardware
/// timer's reset).
#[allow(async_fn_in_trait)] // like embedded-io-async: executors on one core do not need `Send`
pub trait Clock {
    /// The current time.
    fn now(&self) -> Instant;

    /// Completes once `now()` is at or after `deadline`.
    async fn sleep_until(&self, deadline: Instant);
}

impl<C: Clock + ?Sized> Clock for &C {
    fn now(&self) -> Instant {
        (**self).now()
    }

    async fn sleep_until(&self, deadline: Instant) {
        (**self).sleep_until(deadline).await
    }
}

/// The clock of `embassy-time` (feature `embassy-time`): `embassy_time::Instant::now()` and
/// `embassy_time::Timer::at`.
///
/// Instants are converted through microseconds, rounding deadlines up so that a timer never
/// fires before the engine's deadline.
#[cfg(feature = "embassy-time")]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct EmbassyClock;

#[cfg(feature = "embassy-time")]
impl Clock for EmbassyClock {
    fn now(&self) -> Instant {
        Instant::from_micros(embassy_time::Instant::now().as_micros())
    }

    async fn sleep_until(&self, deadline: Instant) {
        let micros = deadline.as_nanos().div_ceil(1_000);
        // A deadline beyond embassy's range never comes: wait for the end of time.
        let mut at =
            embassy_time::Instant::try_from_micros(micros).unwrap_or(embassy_time::Instant::MAX);
        // `try_from_micros` rounds down to a tick; round up instead, so that `now()` has
        // reached the deadline when the timer fires (else the engine would find it early and
        // the adapter would wait again, spinning until the next tick).
        if at.as_micros() < micros {
            at = at
                .checked_add(embassy_time::Duration::from_ticks(1))
                .unwrap_or(at);
        }
        embassy_time::Timer::at(at).await
    }
}
