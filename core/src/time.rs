//! Time as an input.
//!
//! The engine never reads a clock: every method that depends on time takes an [`Instant`] from
//! the caller. This keeps the engine deterministic (tests drive a virtual clock) and usable on
//! targets without `std::time` — an embedded caller converts its timer ticks, a `std` caller
//! measures from any fixed starting point.

use core::ops::{Add, Sub};
use core::time::Duration;

/// A point on the caller's monotonic clock, in nanoseconds since an arbitrary origin.
///
/// Only differences between instants matter, so the origin can be the program start, the
/// connection start, or a hardware timer's reset.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Instant {
    nanos: u64,
}

impl Instant {
    /// The origin of the caller's clock.
    pub const ZERO: Instant = Instant { nanos: 0 };

    /// An instant `nanos` nanoseconds after the origin.
    pub const fn from_nanos(nanos: u64) -> Self {
        Instant { nanos }
    }

    /// An instant `micros` microseconds after the origin (saturating).
    pub const fn from_micros(micros: u64) -> Self {
        Instant {
            nanos: micros.saturating_mul(1_000),
        }
    }

    /// An instant `millis` milliseconds after the origin (saturating).
    pub const fn from_millis(millis: u64) -> Self {
        Instant {
            nanos: millis.saturating_mul(1_000_000),
        }
    }

    /// An instant `d` after the origin (saturating).
    pub const fn from_duration(d: Duration) -> Self {
        Instant::ZERO.saturating_add(d)
    }

    /// Nanoseconds since the origin.
    pub const fn as_nanos(self) -> u64 {
        self.nanos
    }

    /// The time elapsed since the origin.
    pub const fn as_duration(self) -> Duration {
        Duration::from_nanos(self.nanos)
    }

    /// Time from `earlier` to `self`, or zero if `earlier` is later.
    pub const fn saturating_duration_since(self, earlier: Instant) -> Duration {
        Duration::from_nanos(self.nanos.saturating_sub(earlier.nanos))
    }

    /// `self + d`, clamped to the largest representable instant (about 584 years).
    pub const fn saturating_add(self, d: Duration) -> Instant {
        let add = d.as_nanos();
        let add = if add > u64::MAX as u128 {
            u64::MAX
        } else {
            add as u64
        };
        Instant {
            nanos: self.nanos.saturating_add(add),
        }
    }
}

impl Add<Duration> for Instant {
    type Output = Instant;
    /// Saturating: time that far out never comes, which is what a deadline wants.
    fn add(self, rhs: Duration) -> Instant {
        self.saturating_add(rhs)
    }
}

impl Sub<Instant> for Instant {
    type Output = Duration;
    /// Saturating at zero, like [`Instant::saturating_duration_since`].
    fn sub(self, rhs: Instant) -> Duration {
        self.saturating_duration_since(rhs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arithmetic_saturates() {
        let a = Instant::from_millis(1500);
        assert_eq!(a.as_nanos(), 1_500_000_000);
        assert_eq!(a - Instant::from_millis(1000), Duration::from_millis(500));
        assert_eq!(Instant::ZERO - a, Duration::ZERO);
        assert_eq!((a + Duration::MAX).as_nanos(), u64::MAX);
        assert_eq!(Instant::from_micros(u64::MAX).as_nanos(), u64::MAX);
        assert_eq!(
            Instant::from_duration(Duration::from_secs(2)),
            Instant::from_millis(2000)
        );
    }
}
