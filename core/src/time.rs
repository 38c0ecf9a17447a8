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
        duration_from_nanos(self.nanos)
    }

    /// Time from `earlier` to `self`, or zero if `earlier` is later.
    pub const fn saturating_duration_since(self, earlier: Instant) -> Duration {
        duration_from_nanos(self.nanos.saturating_sub(earlier.nanos))
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

/// `Duration::from_nanos`, without a 64-bit division.
///
/// On 32-bit targets `u64 / 1_000_000_000` calls a software division routine of about 0.9 KB
/// that nothing else in the engine needs. Here `nanos / 10⁹ = (nanos >> 9) / 1_953_125` is
/// done as schoolbook long division in 11-bit digits, so every step is a 32-bit division
/// (one instruction on a Cortex-M3/M4): the remainder stays below the 21-bit divisor, so a
/// remainder and the next digit fit in 32 bits.
const fn duration_from_nanos(nanos: u64) -> Duration {
    const DIVISOR: u32 = 1_953_125; // 10⁹ / 2⁹
    let n = nanos >> 9; // 55 bits: five 11-bit digits
    let (mut secs, mut rem, mut shift) = (0u64, 0u32, 55);
    while shift > 0 {
        shift -= 11;
        let cur = (rem << 11) | ((n >> shift) & 0x7FF) as u32;
        secs = (secs << 11) | (cur / DIVISOR) as u64;
        rem = cur % DIVISOR;
    }
    // The nanoseconds are what the quotient leaves of the input: rem·2⁹ + the 9 low bits.
    Duration::new(secs, (rem << 9) | (nanos & 0x1FF) as u32)
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
    fn durations_from_nanos_are_exact() {
        let mut n: u64 = 0x9E37_79B9_7F4A_7C15;
        let edges = [
            0,
            1,
            999_999_999,
            1_000_000_000,
            1_000_000_001,
            u32::MAX as u64,
            (u32::MAX as u64) << 32,
            u64::MAX / 2,
            u64::MAX - 1,
            u64::MAX,
        ];
        for i in 0..100_000u64 {
            // Edges, multiples of a second around them, and a spread of pseudo-random values.
            n = n
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let v = match i {
                0..=9 => edges[i as usize],
                10..=999 => (i * 1_000_000_000).wrapping_add(i % 3).wrapping_sub(1),
                _ => n >> (i % 64),
            };
            assert_eq!(duration_from_nanos(v), Duration::from_nanos(v), "{v}");
        }
    }

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
