//! The write side of a session and the end of a connection: the one write buffer where the
//! engine's control frames and the application's frames queue, and the rule every driver
//! follows once the connection is over — write what is pending, then close.

use super::*;

/// How the transport ended, when it ended with input still undecoded.
#[derive(Clone, Copy, Debug)]
pub(super) enum TransportEnd {
    Eof,
    Error(TransportError),
}

/// Everything but the read buffer, so that an event can borrow the read buffer while the
/// engine and the write buffer are used.
#[derive(Debug)]
pub(super) struct Core {
    pub(super) conn: Connection,
    /// Encoded frames; `wbuf[wpos..]` is not written yet.
    pub(super) wbuf: Vec<u8>,
    pub(super) wpos: usize,
    /// The payload of a large message sent from an owned buffer, written after `wbuf` (its
    /// header ends `wbuf`) instead of being copied into it; `tail[tpos..]` is not written
    /// yet. Only ever the last thing queued: anything queued after it moves it into `wbuf`.
    pub(super) tail: Vec<u8>,
    pub(super) tpos: usize,
    /// `wbuf[..urgent_end]` ends with control frames the engine owes the peer (a Pong, a
    /// Close): they should leave now, not when the application next calls in.
    pub(super) urgent_end: usize,
    pub(super) high_water: usize,
    /// A transport end reported while input was still buffered: applied once it is decoded,
    /// so that the messages it completes come before the closure.
    pub(super) pending_end: Option<(TransportEnd, Instant)>,
    /// The engine's closure was taken: the connection is over (`Session::closure` asks the
    /// engine for it).
    pub(super) over: bool,
    /// After the closure, the deadline for writing out what the peer still waits for.
    pub(super) linger_until: Option<Instant>,
}

impl Core {
    /// Takes the control frames the engine owes the peer (Pong, keepalive Ping, Close) into
    /// the write buffer, then the closure if the connection just ended.
    pub(super) fn transmit(&mut self, now: Instant) {
        while self.conn.wants_transmit() {
            // Room for a Pong, a Ping and a Close, the most the engine queues at once.
            let start = self.reserve(3 * MAX_CONTROL_FRAME_LEN);
            let n = self.conn.poll_transmit(&mut self.wbuf[start..], now);
            self.wbuf.truncate(start + n);
            if n == 0 {
                break;
            }
            self.urgent_end = start + n;
        }
        if !self.over {
            if let Some(closure) = self.conn.poll_closure() {
                self.over = true;
                self.connection_over(closure, now);
            }
        }
    }

    /// The one rule every driver follows at the end: *write out what is pending, then close
    /// the transport*. What is pending is decided here: when the peer waits for our final
    /// Close (the handshake completed, or we failed the connection and it is reading) it stays,
    /// to be written within the close timeout; after a transport end or a timeout nobody reads
    /// it, and it is dropped, so that a peer that stopped reading cannot hold us.
    pub(super) fn connection_over(&mut self, closure: Closure, now: Instant) {
        let peer_reads = match closure.kind() {
            ClosureKind::Clean {
                peer_kept_transport_open,
                ..
            } => !peer_kept_transport_open,
            ClosureKind::Failed { end, .. } => matches!(
                end,
                FailureEnd::Acknowledged | FailureEnd::PeerCloseInvalid | FailureEnd::FramingLost
            ),
            _ => false,
        };
        if peer_reads && self.pending_len() > 0 {
            self.linger_until = Some(now + self.conn.config().close_timeout);
        } else {
            self.discard_pending();
        }
    }

    pub(super) fn discard_pending(&mut self) {
        self.wbuf.clear();
        self.wpos = 0;
        self.urgent_end = 0;
        self.tail = Vec::new();
        self.tpos = 0;
    }

    /// Bytes queued and not written yet.
    pub(super) fn pending_len(&self) -> usize {
        self.wbuf.len() - self.wpos + self.tail.len() - self.tpos
    }

    /// Queues a complete message whose payload is `owned`: its header in `wbuf`, the payload
    /// itself as the tail, not copied (a client masks it in place).
    pub(super) fn encode_owned(
        &mut self,
        kind: MessageKind,
        mut owned: Vec<u8>,
    ) -> Result<(), SendError> {
        if !self.is_open() {
            return Err(SendError::Closing);
        }
        let mut header = [0u8; MAX_HEADER_LEN];
        let h = self.conn.encode_header_for(kind, &mut owned, &mut header)?;
        let start = self.reserve(h);
        self.wbuf[start..].copy_from_slice(&header[..h]);
        self.tail = owned;
        self.tpos = 0;
        Ok(())
    }

    /// Grows the write buffer by `len` zeroed bytes, returning where they start. Bytes already
    /// written are dropped first when they make up half of the buffer, so the buffer never
    /// holds more than twice what is pending.
    pub(super) fn reserve(&mut self, len: usize) -> usize {
        if self.tpos < self.tail.len() {
            // What is queued now goes after the tail: the tail joins the buffer.
            crate::copy::extend(&mut self.wbuf, &self.tail[self.tpos..]);
        }
        self.tail = Vec::new();
        self.tpos = 0;
        if self.wpos > 0 && self.wpos >= self.wbuf.len() / 2 {
            self.wbuf.drain(..self.wpos);
            self.urgent_end = self.urgent_end.saturating_sub(self.wpos);
            self.wpos = 0;
        }
        let start = self.wbuf.len();
        self.wbuf.resize(start.saturating_add(len), 0);
        start
    }

    /// Encodes one frame of `payload_len` bytes with `encode`.
    pub(super) fn encode(
        &mut self,
        payload_len: usize,
        encode: impl FnOnce(&mut Connection, &mut [u8]) -> Result<usize, SendError>,
    ) -> Result<(), SendError> {
        if !self.is_open() {
            return Err(SendError::Closing);
        }
        let start = self.reserve(self.conn.frame_len(payload_len));
        match encode(&mut self.conn, &mut self.wbuf[start..]) {
            Ok(n) => {
                self.wbuf.truncate(start + n);
                Ok(())
            }
            Err(e) => {
                self.wbuf.truncate(start);
                Err(e)
            }
        }
    }

    /// Whether data can still be sent: no Close sent or received, and the transport is up.
    pub(super) fn is_open(&self) -> bool {
        self.conn.is_open() && self.pending_end.is_none()
    }

    /// Whether a message in progress can no longer complete: we failed the connection (the
    /// rest is drained unread) or the peer's Close arrived.
    pub(super) fn message_abandoned(&self) -> bool {
        self.conn.failure().is_some()
            || matches!(
                self.conn.state(),
                ConnectionState::CloseReceived
                    | ConnectionState::AwaitingTransportClose
                    | ConnectionState::Closed
            )
    }

    /// All input was decoded: a transport end reported meanwhile takes effect now.
    pub(super) fn drained(&mut self) {
        if let Some((end, at)) = self.pending_end.take() {
            self.end_transport(end, at);
        }
    }

    pub(super) fn end_transport(&mut self, end: TransportEnd, now: Instant) {
        match end {
            TransportEnd::Eof => self.conn.handle_eof(now),
            TransportEnd::Error(e) => self.conn.handle_transport_error(e, now),
        }
        self.transmit(now);
    }
}
