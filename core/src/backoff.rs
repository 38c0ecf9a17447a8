//! Reconnect policy: which closures invite a retry, and how long to wait (sans-IO, `no_std`).
//!
//! Adapters (tokio, embedded) run the loop — connect, run, wait, reconnect — with their own
//! timers; the decisions live here so that every adapter behaves the same and tests need no
//! clock. Delays grow exponentially with *full jitter* (a uniformly random delay between zero
//! and the exponential bound), which spreads a crowd of clients that lost the same server —
//! RFC 6455 §7.2.3 asks clients to randomise their first reconnect delay for exactly that reason.

use core::time::Duration;

use crate::close::{CloseCode, Closure, ClosureKind, Initiator};

/// When to reconnect and how long to wait.
#[derive(Clone, Copy, Debug)]
#[non_exhaustive]
pub struct BackoffConfig {
    /// Upper bound of the first delay (the delay itself is random below it). Default 1 s.
    pub first: Duration,
    /// Growth of the bound per failed attempt. Default 2.
    pub factor: u32,
    /// Largest bound. Default 60 s.
    pub max: Duration,
    /// A connection that stayed up at least this long resets the attempt count. Default 30 s.
    pub reset_after: Duration,
    /// Whether a closure invites a retry. Default [`default_retry`].
    pub retry: fn(&Closure) -> bool,
}

impl BackoffConfig {
    /// The defaults listed on each field.
    pub const fn new() -> BackoffConfig {
        BackoffConfig {
            first: Duration::from_secs(1),
            factor: 2,
            max: Duration::from_secs(60),
            reset_after: Duration::from_secs(30),
            retry: default_retry,
        }
    }
}

impl BackoffConfig {
    /// Sets [`first`](Self::first).
    pub const fn with_first(mut self, first: Duration) -> Self {
        self.first = first;
        self
    }

    /// Sets [`factor`](Self::factor).
    pub const fn with_factor(mut self, factor: u32) -> Self {
        self.factor = factor;
        self
    }

    /// Sets [`max`](Self::max).
    pub const fn with_max(mut self, max: Duration) -> Self {
        self.max = max;
        self
    }

    /// Sets [`reset_after`](Self::reset_after).
    pub const fn with_reset_after(mut self, reset_after: Duration) -> Self {
        self.reset_after = reset_after;
        self
    }

    /// Sets [`retry`](Self::retry).
    pub const fn with_retry(mut self, retry: fn(&Closure) -> bool) -> Self {
        self.retry = retry;
        self
    }
}

impl Default for BackoffConfig {
    fn default() -> Self {
        BackoffConfig::new()
    }
}

/// The default retry rule: reconnect after an abnormal closure (1006) and after codes the peer
/// sent to say "come back later" — 1001 going away, 1011 internal error, 1012 service restart,
/// 1013 try again later, 1014 bad gateway. Never after 1000 (done), nor after the codes that say
/// retrying would fail the same way: 1002, 1003, 1007, 1008, 1009, 1010, or an application
/// code; and never after a closing handshake we started ourselves (the peer only echoed our code).
pub fn default_retry(closure: &Closure) -> bool {
    match closure.kind() {
        ClosureKind::Abnormal { .. } => true,
        ClosureKind::Failed { .. } => false,
        ClosureKind::Clean {
            initiator: Initiator::Local,
            ..
        } => false,
        _ => matches!(
            closure.code(),
            CloseCode::GOING_AWAY
                | CloseCode::INTERNAL_ERROR
                | CloseCode::SERVICE_RESTART
                | CloseCode::TRY_AGAIN_LATER
                | CloseCode::BAD_GATEWAY
        ),
    }
}

/// What to do after a connection ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Reconnect after this delay.
    Retry(Duration),
    /// Do not reconnect: the closure says retrying would not help (or the user is done).
    Stop,
}

/// Exponential backoff with full jitter.
///
/// ```
/// use core::time::Duration;
/// use sockeye_core::backoff::{Backoff, BackoffConfig, Decision};
/// use sockeye_core::{AbnormalCause, Closure, ClosureKind, Phase};
///
/// let mut backoff = Backoff::new(BackoffConfig::default(), 0xfeed);
/// let dropped = Closure::new(
///     ClosureKind::Abnormal { cause: AbnormalCause::Eof, phase: Phase::FrameBoundary },
///     Duration::ZERO,
/// );
/// match backoff.after_closure(&dropped, Duration::from_secs(2)) {
///     Decision::Retry(delay) => assert!(delay <= Duration::from_secs(1)),
///     Decision::Stop => unreachable!(),
/// }
/// ```
#[derive(Clone, Debug)]
pub struct Backoff {
    config: BackoffConfig,
    attempt: u32,
    rng: u64,
}

impl Backoff {
    /// A policy seeded for jitter (any value; different clients should use different seeds).
    pub fn new(config: BackoffConfig, seed: u64) -> Backoff {
        Backoff {
            config,
            attempt: 0,
            rng: seed,
        }
    }

    /// Failed attempts since the last reset.
    pub fn attempt(&self) -> u32 {
        self.attempt
    }

    /// Decides after a connection that was up for `connected_for` ended with `closure`.
    pub fn after_closure(&mut self, closure: &Closure, connected_for: Duration) -> Decision {
        if connected_for >= self.config.reset_after {
            self.attempt = 0;
        }
        if (self.config.retry)(closure) {
            Decision::Retry(self.next_delay())
        } else {
            Decision::Stop
        }
    }

    /// The delay before the next attempt after a failed connect (refused, handshake error…),
    /// growing the bound.
    pub fn next_delay(&mut self) -> Duration {
        let bound = self.bound();
        self.attempt = self.attempt.saturating_add(1);
        let nanos = bound.as_nanos().min(u64::MAX as u128) as u64;
        if nanos == 0 {
            return Duration::ZERO;
        }
        Duration::from_nanos(self.random() % (nanos + 1))
    }

    /// Forgets past failures (e.g. after a successful connection).
    pub fn reset(&mut self) {
        self.attempt = 0;
    }

    /// `min(max, first * factor^attempt)`.
    pub fn bound(&self) -> Duration {
        let mut bound = self.config.first;
        for _ in 0..self.attempt {
            bound = bound.saturating_mul(self.config.factor);
            if bound >= self.config.max {
                return self.config.max;
            }
        }
        bound.min(self.config.max)
    }

    fn random(&mut self) -> u64 {
        self.rng = self.rng.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.rng;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::close::{AbnormalCause, CloseFrame, FailureEnd, Phase};
    use crate::error::ProtocolError;

    fn clean(code: u16) -> Closure {
        Closure::new(
            ClosureKind::Clean {
                initiator: Initiator::Peer,
                received: CloseFrame::new(CloseCode::new(code), "").unwrap(),
                peer_kept_transport_open: false,
            },
            Duration::ZERO,
        )
    }

    fn abnormal() -> Closure {
        Closure::new(
            ClosureKind::Abnormal {
                cause: AbnormalCause::Eof,
                phase: Phase::FrameBoundary,
            },
            Duration::ZERO,
        )
    }

    #[test]
    fn retries_on_1006_and_come_back_later_codes_only() {
        assert!(default_retry(&abnormal()));
        for code in [1001, 1011, 1012, 1013, 1014] {
            assert!(default_retry(&clean(code)), "{code}");
        }
        for code in [1000, 1002, 1003, 1007, 1008, 1009, 1010, 3000, 4000] {
            assert!(!default_retry(&clean(code)), "{code}");
        }
        let failed = Closure::new(
            ClosureKind::Failed {
                error: ProtocolError::InvalidUtf8,
                sent: CloseCode::INVALID_PAYLOAD,
                end: FailureEnd::Acknowledged,
            },
            Duration::ZERO,
        );
        assert!(!default_retry(&failed));
        // A close we started is not retried, whatever code it carried.
        let ours = Closure::new(
            ClosureKind::Clean {
                initiator: Initiator::Local,
                received: CloseFrame::new(CloseCode::GOING_AWAY, "").unwrap(),
                peer_kept_transport_open: false,
            },
            Duration::ZERO,
        );
        assert!(!default_retry(&ours));
    }

    #[test]
    fn bound_grows_exponentially_to_the_cap_and_delays_stay_below_it() {
        let mut b = Backoff::new(BackoffConfig::default(), 1);
        let mut bounds = [0u64; 9];
        for bound in &mut bounds {
            *bound = b.bound().as_secs();
            let d = b.next_delay();
            assert!(d <= Duration::from_secs(*bound));
        }
        assert_eq!(bounds, [1, 2, 4, 8, 16, 32, 60, 60, 60]);
    }

    #[test]
    fn full_jitter_spreads_first_delays() {
        // 1000 clients with different seeds: first delays spread over [0, 1 s].
        let mut low = 0;
        let mut high = 0;
        for seed in 0..1000u64 {
            let d = Backoff::new(
                BackoffConfig::default(),
                seed.wrapping_mul(0x2545_F491_4F6C_DD1D),
            )
            .next_delay();
            assert!(d <= Duration::from_secs(1));
            if d < Duration::from_millis(250) {
                low += 1;
            }
            if d > Duration::from_millis(750) {
                high += 1;
            }
        }
        assert!(low > 150 && high > 150, "{low} {high}");
    }

    #[test]
    fn a_long_connection_resets_the_attempts() {
        let mut b = Backoff::new(BackoffConfig::default(), 3);
        for _ in 0..5 {
            b.next_delay();
        }
        assert_eq!(b.attempt(), 5);
        assert!(
            matches!(b.after_closure(&abnormal(), Duration::from_secs(31)), Decision::Retry(d) if d <= Duration::from_secs(1))
        );
        assert_eq!(b.attempt(), 1);
        assert_eq!(
            b.after_closure(&clean(1000), Duration::ZERO),
            Decision::Stop
        );
    }
}
