//! The closing handshake and failing the connection (§7, §7.1.7). Every way the connection
//! ends goes through `finish` here, so this is where its single [`Closure`](crate::Closure) is
//! settled: where 1006 is decided when the transport ends early (`transport_ended`) and where
//! its phase is derived (`phase`). Expired timers end it through the same `finish`.

use super::read::Rx;
use super::Connection;
use crate::close::{
    AbnormalCause, CloseCode, CloseFrame, FailureEnd, Initiator, Phase, TransportError,
    MAX_REASON_LEN,
};
use crate::config::Role;
use crate::error::{ProtocolError, SendError};
use crate::time::Instant;

// Theory of operation: the closing handshake (RFC 6455 §5.5.1, §7).
//
// A connection starts Open. It leaves Open in one of four ways:
//
// - We close (the user calls `close`, or the peer broke the protocol and we fail the connection,
//   §7.1.7): our Close is queued and we move to CloseSent. Data may still arrive and is
//   delivered (or, after a failure, drained unread) until the peer's Close comes.
// - The peer's Close arrives: we queue a reply echoing its code and move to CloseReceived.
//   Nothing but that reply is sent from now on, and further input is discarded.
// - The transport ends (EOF or error) or a keepalive times out: the connection is Closed at
//   once with an abnormal closure (1006) that records the phase it was in.
//
// The handshake is complete once our Close has been handed to the transport AND the peer's
// Close has been received, whichever came last. Then a server is Closed and closes the
// transport first (§7.1.1); a client moves to AwaitingTransportClose and waits for the server's
// EOF, closing the transport itself after the close timeout. In CloseSent and CloseReceived the
// close timeout bounds the wait for the other half of the handshake.
//
// Entering Closed produces the connection's single Closure, taken with `poll_closure`. Every
// path ends there exactly once; later EOFs, errors and timeouts are ignored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum State {
    Open,
    CloseSent {
        since: Instant,
    },
    CloseReceived {
        since: Instant,
    },
    AwaitingTransportClose {
        since: Instant,
        initiator: Initiator,
    },
    Closed,
}

/// Whether the peer's Close frame arrived.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum PeerClose {
    None,
    /// Its payload stays in `control`.
    Valid,
    /// Malformed; it counts as the peer's Close all the same (it sends no other).
    Invalid,
}

/// How the connection ended, kept small; the full [`Closure`](crate::Closure) is built when
/// it is polled.
#[derive(Clone, Copy, Debug)]
pub(super) enum Ending {
    Clean {
        initiator: Initiator,
        kept_open: bool,
    },
    /// The error is in `failure`, the code we sent in `outbox`.
    Failed { end: FailureEnd },
    /// The phase is derived when the closure is built: the receive state is kept as it was.
    Abnormal {
        cause: AbnormalCause,
        closing: Closing,
    },
}

/// How far the closing handshake had got when the transport ended.
#[derive(Clone, Copy, Debug)]
pub(super) enum Closing {
    No,
    Sent,
    Received,
}

impl Connection {
    /// Fails the connection (§7.1.7): records the first violation and, if the connection is
    /// open, queues a Close with its code. The caller then says what becomes of the input:
    /// framing intact, the frame is skipped and input drained until the peer's Close
    /// ([`skip`](Self::skip)); framing lost, [`lose_framing`](Self::lose_framing); the frame was
    /// the peer's Close, [`peer_close_was_invalid`](Self::peer_close_was_invalid). The same
    /// rules apply whether the violation came before or after our own Close.
    #[cold]
    #[inline(never)]
    pub(super) fn fail(&mut self, error: ProtocolError, now: Instant) {
        self.message = None;
        self.failure.get_or_insert(error);
        if self.state == State::Open {
            self.queue_close(
                Some(error.close_code()),
                // Without the feature `close-reasons`: the code alone, for flash.
                if cfg!(feature = "close-reasons") {
                    error.reason()
                } else {
                    ""
                },
                State::CloseSent { since: now },
            );
        }
    }

    /// Fails the connection for a message that a negotiated extension found invalid after the
    /// engine delivered its chunks — permessage-deflate inflating past `max_message_size`
    /// (1009), data that does not inflate or inflated text that is not UTF-8 (1007). Like any
    /// failure (see the table in the module docs), our Close goes out with the error's code and
    /// the rest of the message is skipped while the engine drains towards the peer's Close.
    pub fn fail_incoming_message(&mut self, error: ProtocolError, now: Instant) {
        if self.state == State::Closed {
            return;
        }
        self.fail(error, now);
        if self.rx == Rx::Data {
            self.skip(self.frame.len - self.frame.done);
        }
    }

    /// Frame boundaries are unknown, or the frame is larger than we ever read: nothing more
    /// can be understood. The connection ends as soon as our Close is handed to the transport
    /// (at once if it already was), with no wait for a reply that could not be found.
    #[cold]
    #[inline(never)]
    pub(super) fn lose_framing(&mut self, now: Instant) {
        self.rx = Rx::Lost;
        self.check_handshake(now);
    }

    /// The peer's Close frame was malformed (the violation is recorded by `fail`). It is the
    /// peer's Close all the same — it sends no other — so our Close completes the handshake,
    /// after which a server closes the transport at once (§7.1.1, §7.1.7).
    #[cold]
    #[inline(never)]
    pub(super) fn peer_close_was_invalid(&mut self, now: Instant) {
        self.control_len = 0;
        self.peer_close = PeerClose::Invalid;
        self.rx = Rx::Discard;
        self.check_handshake(now);
    }

    /// Queues our Close with `code` (none: an empty Close) and `reason`, both checked by the
    /// caller (a sendable code, at most 123 bytes), written straight into the outbox.
    pub(super) fn queue_close(&mut self, code: Option<CloseCode>, reason: &str, state: State) {
        self.outbox.clear();
        if let Some(code) = code {
            let reason = &reason.as_bytes()[..reason.len().min(MAX_REASON_LEN)];
            // 2 + at most 123 bytes: always fits.
            let _ = self.outbox.extend_from_slice(&code.as_u16().to_be_bytes());
            let _ = self.outbox.extend_from_slice(reason);
        }
        self.close_queued = true;
        self.state = state;
        self.pong_due = false;
        self.ping_due = false;
        self.sending = None;
    }

    /// Starts the closing handshake (§7.1.2) with `code` and a reason of at most 123 bytes.
    ///
    /// The Close frame comes out of [`poll_transmit`](Self::poll_transmit); after this no data
    /// can be sent. Calling it when the handshake is already under way does nothing and
    /// returns `Ok`: the handshake in progress completes as it is.
    pub fn close(&mut self, code: CloseCode, reason: &str, now: Instant) -> Result<(), SendError> {
        CloseFrame::check(code, reason)?;
        if self.state == State::Open {
            self.queue_close(Some(code), reason, State::CloseSent { since: now });
        }
        Ok(())
    }

    /// Completes the handshake once our Close went out and the peer's came in — or, when
    /// framing was lost, as soon as our Close went out.
    pub(super) fn check_handshake(&mut self, now: Instant) {
        if !self.close_sent {
            return;
        }
        if self.rx == Rx::Lost {
            self.finish(
                Ending::Failed {
                    end: FailureEnd::FramingLost,
                },
                now,
            );
            return;
        }
        if self.peer_close == PeerClose::None {
            return;
        }
        let initiator = match self.state {
            State::CloseSent { .. } => Initiator::Local,
            State::CloseReceived { .. } => Initiator::Peer,
            _ => return,
        };
        match self.role {
            Role::Server => self.finish(self.handshake_ending(initiator, false), now),
            Role::Client => {
                self.state = State::AwaitingTransportClose {
                    since: now,
                    initiator,
                }
            }
        }
    }

    pub(super) fn handshake_ending(&self, initiator: Initiator, kept_open: bool) -> Ending {
        match self.failure {
            Some(_) if self.peer_close == PeerClose::Invalid => Ending::Failed {
                end: FailureEnd::PeerCloseInvalid,
            },
            Some(_) => Ending::Failed {
                end: FailureEnd::Acknowledged,
            },
            None => Ending::Clean {
                initiator,
                kept_open,
            },
        }
    }

    pub(super) fn finish(&mut self, ending: Ending, now: Instant) {
        if self.state == State::Closed {
            return;
        }
        // `rx` stays as it was so that `phase` can tell where the stream stopped; `read`
        // ignores input once Closed.
        self.state = State::Closed;
        self.pong_due = false;
        self.ping_due = false;
        self.ending = Some((ending, now));
    }

    /// The transport reached end of stream (a read returned 0 bytes).
    ///
    /// Process every byte received before it with [`read`](Self::read) first, so complete
    /// messages are delivered before the closure. Outside the end of a closing handshake this is
    /// an abnormal closure (1006) recording where the stream stopped.
    pub fn handle_eof(&mut self, now: Instant) {
        self.transport_ended(AbnormalCause::Eof, now);
    }

    /// The transport failed (reset, broken pipe, …). Like [`handle_eof`](Self::handle_eof).
    pub fn handle_transport_error(&mut self, error: TransportError, now: Instant) {
        self.transport_ended(AbnormalCause::Transport(error), now);
    }

    fn transport_ended(&mut self, cause: AbnormalCause, now: Instant) {
        let ending = match self.state {
            State::Closed => return,
            State::AwaitingTransportClose { initiator, .. } => {
                self.handshake_ending(initiator, false)
            }
            _ => match self.failure {
                Some(_) => Ending::Failed {
                    end: FailureEnd::TransportEnded,
                },
                None => Ending::Abnormal {
                    cause,
                    closing: self.closing(),
                },
            },
        };
        self.finish(ending, now);
    }

    pub(super) fn closing(&self) -> Closing {
        match self.state {
            State::CloseSent { .. } => Closing::Sent,
            State::CloseReceived { .. } => Closing::Received,
            _ => Closing::No,
        }
    }

    /// Where the connection was, for an abnormal closure. The receive state is left as it was
    /// when the connection closed, so this can be derived afterwards.
    pub(super) fn phase(&self, closing: Closing) -> Phase {
        match closing {
            Closing::Sent => return Phase::AfterCloseSent,
            Closing::Received => {
                return Phase::AfterCloseReceived {
                    code: self.peer_close().code(),
                }
            }
            Closing::No => {}
        }
        if !self.received_any {
            return Phase::BeforeFirstFrame;
        }
        match self.rx {
            Rx::Header if self.header_len > 0 => Phase::FrameHeader {
                received: self.header_len,
            },
            Rx::Data | Rx::Control | Rx::Skip => Phase::FramePayload {
                opcode: self.frame.opcode,
                received: self.frame.done,
                expected: self.frame.len,
            },
            _ => match self.message {
                Some(m) => Phase::BetweenFragments {
                    message_bytes: m.len,
                },
                None => Phase::FrameBoundary,
            },
        }
    }

    /// The code of the Close we queued or sent, if any (it stays in the outbox: once a Close
    /// is queued, nothing else is written there).
    pub(super) fn sent_close_code(&self) -> Option<CloseCode> {
        match (self.close_queued, self.outbox.as_slice()) {
            (true, [hi, lo, ..]) => Some(CloseCode::new(u16::from_be_bytes([*hi, *lo]))),
            _ => None,
        }
    }

    pub(crate) fn peer_close(&self) -> CloseFrame {
        let len = if self.peer_close == PeerClose::Valid {
            self.control_len as usize
        } else {
            0
        };
        CloseFrame::parse_or_empty(&self.control[..len])
    }
}
