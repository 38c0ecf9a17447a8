//! The timers: keepalive pings and the close timeout, the only way time alone moves the
//! connection on. An expired one ends the connection through `finish` in `closing`.

use super::closing::{Closing, Ending, State};
use super::Connection;
use crate::close::{AbnormalCause, FailureEnd};
use crate::time::Instant;

impl Connection {
    /// The next instant at which [`handle_timeout`](Self::handle_timeout) must be called, if any.
    ///
    /// Ask again after every call into the engine: deadlines move as bytes arrive.
    pub fn poll_timeout(&self) -> Option<Instant> {
        match self.state {
            State::Open => {
                let ka = self.config.keepalive?;
                Some(match self.ping_outstanding {
                    Some(sent) => sent + ka.timeout,
                    None => self.last_inbound + ka.interval,
                })
            }
            State::CloseSent { since }
            | State::CloseReceived { since }
            | State::AwaitingTransportClose { since, .. } => {
                Some(since + self.config.close_timeout)
            }
            State::Closed => None,
        }
    }

    /// Advances the timers to `now`: queues a keepalive Ping, or ends the connection when the
    /// keepalive or close timeout expired. Calling it early is harmless.
    pub fn handle_timeout(&mut self, now: Instant) {
        let Some(deadline) = self.poll_timeout() else {
            return;
        };
        if now < deadline {
            return;
        }
        match self.state {
            State::Open => {
                if self.ping_outstanding.is_some() {
                    self.finish(
                        Ending::Abnormal {
                            cause: AbnormalCause::KeepaliveTimeout,
                            closing: Closing::No,
                        },
                        now,
                    );
                } else {
                    self.ping_outstanding = Some(now);
                    self.ping_due = true;
                }
            }
            State::AwaitingTransportClose { initiator, .. } => {
                self.finish(self.handshake_ending(initiator, true), now);
            }
            State::CloseSent { .. } | State::CloseReceived { .. } => {
                let ending = match self.failure {
                    Some(_) => Ending::Failed {
                        end: FailureEnd::CloseTimeout,
                    },
                    None => Ending::Abnormal {
                        cause: AbnormalCause::CloseTimeout,
                        closing: self.closing(),
                    },
                };
                self.finish(ending, now);
            }
            State::Closed => {}
        }
    }
}
