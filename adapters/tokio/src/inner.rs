//! The state of one connection and the poll functions both the whole [`WebSocket`] and its
//! split halves run: a [`Session`] moved along by a tokio stream and a tokio timer.
//!
//! [`WebSocket`]: crate::WebSocket

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{ready, Context, Poll, Wake, Waker};
use std::time::Duration;

use sockeye_core::adapter::upgrade::Upgraded;
use sockeye_core::adapter::{transport_end, Config, Error};
use sockeye_core::session::Session;
use sockeye_core::{Closure, Connection, Event, Instant, Message, SendError};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::Sleep;

use crate::pool;

/// The `Stream` rule the whole socket and its read half share: messages until the connection
/// ends, then its closure once (as `Err(Error::Closed)`), then the end of the stream.
pub(crate) fn poll_next_message(
    terminated: &mut bool,
    recv: impl FnOnce() -> Poll<Result<Message, Error>>,
) -> Poll<Option<Result<Message, Error>>> {
    if *terminated {
        return Poll::Ready(None);
    }
    let item = ready!(recv());
    if matches!(item, Err(Error::Closed(_))) {
        *terminated = true;
    }
    Poll::Ready(Some(item))
}

/// Which half polls: their wakers are kept apart so that both get woken when the transport
/// becomes writable or the connection ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Half {
    Reader = 0,
    Writer = 1,
}

/// The wakers of the two halves, woken together. A stream keeps one waker per direction, and
/// both halves write (the reader its Pongs and Close replies), so the stream is handed a
/// waker that wakes both.
#[derive(Debug, Default)]
pub(crate) struct Wakers {
    slots: Mutex<[Option<Waker>; 2]>,
}

impl Wakers {
    fn register(&self, half: Half, waker: &Waker) {
        let mut slots = self.slots.lock().unwrap_or_else(PoisonError::into_inner);
        let slot = &mut slots[half as usize];
        if !slot.as_ref().is_some_and(|w| w.will_wake(waker)) {
            *slot = Some(waker.clone());
        }
    }

    fn wake_all(&self) {
        let taken = {
            let mut slots = self.slots.lock().unwrap_or_else(PoisonError::into_inner);
            [slots[0].take(), slots[1].take()]
        };
        for waker in taken.into_iter().flatten() {
            waker.wake();
        }
    }
}

impl Wake for Wakers {
    fn wake(self: Arc<Self>) {
        self.wake_all();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.wake_all();
    }
}

/// The wakers of a split connection, and the waker that wakes both.
#[derive(Debug)]
struct Shared {
    wakers: Arc<Wakers>,
    both: Waker,
}

/// Closing the transport once the connection is over.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Finish {
    NotStarted,
    /// Writing the last frames and shutting down, until `deadline` at the latest.
    Lingering {
        deadline: Instant,
    },
    Done,
}

/// One connection: the session, the stream, the clock and the timer.
#[derive(Debug)]
pub(crate) struct Inner<S> {
    pub(crate) stream: S,
    pub(crate) session: Session,
    origin: tokio::time::Instant,
    /// The timer, made when first needed (inside a poll, so inside the runtime).
    sleep: Option<Pin<Box<Sleep>>>,
    /// The instant `sleep` is set for.
    sleep_at: Option<Instant>,
    finish: Finish,
    /// The closure was announced to both halves.
    announced: bool,
    pub(crate) transport_error: Option<io::Error>,
    shared: Option<Shared>,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Inner<S> {
    pub(crate) fn new(
        stream: S,
        connection: Connection,
        config: &Config,
        origin: tokio::time::Instant,
        upgraded: Upgraded,
    ) -> Inner<S> {
        let now = Instant::from_duration(origin.elapsed());
        let session = upgraded.into_session(connection, config, now);
        Inner {
            stream,
            session,
            origin,
            sleep: None,
            sleep_at: None,
            finish: Finish::NotStarted,
            announced: false,
            transport_error: None,
            shared: None,
        }
    }

    /// Prepares for being polled by two tasks.
    pub(crate) fn share_wakers(&mut self) {
        let wakers = Arc::new(Wakers::default());
        let both = Waker::from(wakers.clone());
        self.shared = Some(Shared { wakers, both });
    }

    pub(crate) fn now(&self) -> Instant {
        Instant::from_duration(self.origin.elapsed())
    }

    /// Sets the timer for `at` (unless it already is) and polls it with `cx`.
    fn poll_sleep(&mut self, cx: &mut Context<'_>, at: Instant) -> Poll<()> {
        let Some(when) = self.origin.checked_add(at.as_duration()) else {
            // Too far out to represent: it never comes.
            return Poll::Pending;
        };
        let sleep = match &mut self.sleep {
            Some(sleep) => {
                if self.sleep_at != Some(at) {
                    sleep.as_mut().reset(when);
                }
                sleep
            }
            None => self.sleep.insert(Box::pin(tokio::time::sleep_until(when))),
        };
        self.sleep_at = Some(at);
        sleep.as_mut().poll(cx)
    }

    /// Runs the engine's timers: `Ready` when a deadline passed (and was handled), else the
    /// timer is armed to wake this half — both halves when split, since either may be the one
    /// the application polls (a producer that only sends must still ping and notice a dead
    /// peer).
    fn poll_timers(&mut self, cx: &mut Context<'_>, half: Half) -> Poll<()> {
        let Some(deadline) = self.session.poll_timeout() else {
            return Poll::Pending;
        };
        let due = deadline <= self.now()
            || match &self.shared {
                Some(shared) => {
                    shared.wakers.register(half, cx.waker());
                    let both = shared.both.clone();
                    self.poll_sleep(&mut Context::from_waker(&both), deadline)
                        .is_ready()
                }
                None => self.poll_sleep(cx, deadline).is_ready(),
            };
        if due {
            let now = self.now();
            self.session.handle_timeout(now);
            return Poll::Ready(());
        }
        Poll::Pending
    }

    // ------------------------------------------------------------------ writing

    /// Writes out everything pending and flushes the stream. A write error ends the transport
    /// (reported to the engine); what was pending is then dropped.
    pub(crate) fn poll_write_pending(&mut self, cx: &mut Context<'_>, half: Half) -> Poll<()> {
        let mut wrote = false;
        loop {
            let pending = self.session.pending_write_len();
            if pending == 0 {
                break;
            }
            if self.transport_error.is_some() || self.finish == Finish::Done {
                self.session.written(pending);
                return Poll::Ready(());
            }
            let stream = Pin::new(&mut self.stream);
            let result = match &self.shared {
                Some(shared) => {
                    shared.wakers.register(half, cx.waker());
                    let cx = &mut Context::from_waker(&shared.both);
                    poll_write_parts(stream, cx, &self.session)
                }
                None => poll_write_parts(stream, cx, &self.session),
            };
            match result {
                Poll::Ready(Ok(0)) => self.write_failed(io::ErrorKind::WriteZero.into()),
                Poll::Ready(Ok(n)) => {
                    self.session.written(n);
                    wrote = true;
                }
                Poll::Ready(Err(e)) if e.kind() == io::ErrorKind::Interrupted => {}
                Poll::Ready(Err(e)) => self.write_failed(e),
                Poll::Pending => return Poll::Pending,
            }
        }
        if wrote && self.transport_error.is_none() {
            let stream = Pin::new(&mut self.stream);
            let result = match &self.shared {
                Some(shared) => {
                    shared.wakers.register(half, cx.waker());
                    stream.poll_flush(&mut Context::from_waker(&shared.both))
                }
                None => stream.poll_flush(cx),
            };
            match result {
                Poll::Ready(Ok(())) => {}
                Poll::Ready(Err(e)) => self.write_failed(e),
                // Flushed on the next write or flush; the bytes are in the stream's hands.
                Poll::Pending => {}
            }
        }
        Poll::Ready(())
    }

    fn write_failed(&mut self, error: io::Error) {
        let now = self.now();
        self.transport_failed(error, now);
    }

    fn transport_failed(&mut self, error: io::Error, now: Instant) {
        transport_end(&error).report_to(&mut self.session, now);
        if self.transport_error.is_none() {
            self.transport_error = Some(error);
        }
    }

    /// The error for a caller whose write failed: the closure if it is known, else the I/O
    /// error's kind (received input is still being delivered; `recv` ends with the closure).
    fn write_error(&self) -> Option<Error> {
        let kind = self.transport_error.as_ref()?.kind();
        Some(match self.session.closure() {
            Some(closure) => Error::closed(closure),
            None => Error::Io(kind.into()),
        })
    }

    /// Runs the session's timers if one is armed: no clock read per send on a connection
    /// without keepalive or a closing handshake under way.
    fn run_due_timers(&mut self) {
        if self.session.poll_timeout().is_some() {
            self.session.handle_timeout(self.now());
        }
    }

    /// Waits until the write buffer is below the high-water mark, writing it out.
    pub(crate) fn poll_ready(
        &mut self,
        cx: &mut Context<'_>,
        half: Half,
    ) -> Poll<Result<(), Error>> {
        // Timers run on the send paths too: a sender that never reads still pings and learns
        // that its peer is gone (`handle_timeout` before a deadline does nothing).
        self.run_due_timers();
        if let Some(closure) = self.session.closure() {
            return Poll::Ready(Err(Error::closed(closure)));
        }
        while self.session.is_write_full() {
            if self.poll_write_pending(cx, half).is_ready() {
                if let Some(e) = self.write_error() {
                    return Poll::Ready(Err(e));
                }
                break;
            }
            // Waiting for a peer that does not read: a keepalive or close timeout ends the
            // wait, whichever half is polled.
            if self.poll_timers(cx, half).is_pending() {
                return Poll::Pending;
            }
            if let Some(closure) = self.session.closure() {
                return Poll::Ready(Err(Error::closed(closure)));
            }
        }
        Poll::Ready(Ok(()))
    }

    /// Writes out everything queued.
    pub(crate) fn poll_flush(
        &mut self,
        cx: &mut Context<'_>,
        half: Half,
    ) -> Poll<Result<(), Error>> {
        // Timers run on the send paths too: a sender that never reads still pings and learns
        // that its peer is gone (`handle_timeout` before a deadline does nothing).
        self.run_due_timers();
        loop {
            if let Some(closure) = self.session.closure() {
                return Poll::Ready(Err(Error::closed(closure)));
            }
            if self.poll_write_pending(cx, half).is_ready() {
                return Poll::Ready(match self.write_error() {
                    Some(e) => Err(e),
                    None => Ok(()),
                });
            }
            // As in `poll_ready`: the timers bound the wait for a peer that does not read.
            if self.poll_timers(cx, half).is_pending() {
                return Poll::Pending;
            }
        }
    }

    /// Encodes with `encode`; the engine's refusal after the end is reported as the closure.
    pub(crate) fn encode(
        &mut self,
        encode: impl FnOnce(&mut Session) -> Result<(), SendError>,
    ) -> Result<(), Error> {
        if let Some(closure) = self.session.closure() {
            return Err(Error::closed(closure));
        }
        encode(&mut self.session).map_err(|e| match (e, self.session.closure()) {
            (SendError::Closing, Some(closure)) => Error::closed(closure),
            _ => Error::Send(e),
        })
    }

    /// Encodes a [`Message`], a large payload without copying it
    /// ([`Session::send_owned`]); the clock is read only for a Close.
    pub(crate) fn encode_message(&mut self, message: Message) -> Result<(), Error> {
        let origin = self.origin;
        self.encode(|session| {
            session.send_owned(message, || Instant::from_duration(origin.elapsed()))
        })
    }

    // ------------------------------------------------------------------ reading

    /// The next text or binary message, or the closure.
    pub(crate) fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Result<Message, Error>> {
        loop {
            if let Some(message) = self.session.poll_message() {
                // A Pong or Close reply the engine owes the peer goes out before the message
                // reaches the application, which may take its time. Best effort: if the
                // transport cannot take it now, the next poll writes it.
                if self.session.has_urgent_write() {
                    let _ = self.poll_write_pending(cx, Half::Reader);
                }
                return Poll::Ready(Ok(message));
            }
            if let Some(closure) = ready!(self.poll_advance(cx, Half::Reader))? {
                return Poll::Ready(Err(Error::closed(closure)));
            }
        }
    }

    /// Ready once an event is decoded and waiting in the session, or with the closure.
    pub(crate) fn poll_event_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        while !self.session.has_event() {
            if let Some(closure) = ready!(self.poll_advance(cx, Half::Reader))? {
                return Poll::Ready(Err(Error::closed(closure)));
            }
        }
        Poll::Ready(Ok(()))
    }

    /// Takes the event [`poll_event_ready`](Self::poll_event_ready) found.
    pub(crate) fn take_event(&mut self) -> Result<Event<'_>, Error> {
        match self.session.poll_event() {
            Some(event) => Ok(event),
            // `poll_event_ready` just decoded it; kept for completeness rather than a panic.
            None => Err(Error::Io(io::ErrorKind::WouldBlock.into())),
        }
    }

    /// Called once everything received is decoded: writes out what is pending, then waits for
    /// input or the engine's next deadline. `Ready(Ok(None))` means something happened (decode
    /// again); `Ready(Ok(Some(closure)))` that the connection is over and the transport closed.
    pub(crate) fn poll_advance(
        &mut self,
        cx: &mut Context<'_>,
        half: Half,
    ) -> Poll<Result<Option<Closure>, Error>> {
        if let Some(closure) = self.session.closure() {
            if !self.announced {
                // The other half may wait for a write that will never happen.
                self.announced = true;
                if let Some(shared) = &self.shared {
                    shared.wakers.wake_all();
                }
            }
            ready!(self.poll_finish(cx, half));
            return Poll::Ready(Ok(Some(closure)));
        }
        let flushed = self.poll_write_pending(cx, half);
        if self.session.closure().is_some() {
            return Poll::Ready(Ok(None));
        }
        if self.poll_timers(cx, half).is_ready() {
            return Poll::Ready(Ok(None));
        }
        if flushed.is_pending() && self.session.is_write_full() {
            // Backpressure: read no more while the peer does not take what we owe it. The
            // timers still run (set above), so a peer that stopped reading cannot hold a
            // closing handshake open past the close timeout.
            return Poll::Pending;
        }
        if self.session.needs_read_buffer() {
            let size = self.session.config().read_buffer_size;
            self.session.provide_read_buffer(pool::take(size));
        }
        let space = self.session.read_space();
        if space.is_empty() {
            // Only if undecoded input filled the buffer, which the callers never leave behind.
            return Poll::Ready(Ok(None));
        }
        let mut buf = ReadBuf::new(space);
        let result = Pin::new(&mut self.stream).poll_read(cx, &mut buf);
        let n = buf.filled().len();
        let now = self.now();
        match result {
            Poll::Ready(Ok(())) if n == 0 => self.session.handle_eof(now),
            Poll::Ready(Ok(())) => self.session.received(n, now),
            Poll::Ready(Err(e)) if e.kind() == io::ErrorKind::Interrupted => {}
            Poll::Ready(Err(e)) => self.transport_failed(e, now),
            Poll::Pending => {
                // Nothing to read: an idle connection keeps no buffers while it waits.
                if let Some(buf) = self.session.release_idle_buffers() {
                    pool::give(buf);
                }
                return Poll::Pending;
            }
        }
        Poll::Ready(Ok(None))
    }

    // ------------------------------------------------------------------ closing

    /// Starts the closing handshake.
    pub(crate) fn start_close(
        &mut self,
        code: sockeye_core::CloseCode,
        reason: &str,
    ) -> Result<(), Error> {
        if self.session.closure().is_some() {
            return Ok(());
        }
        let now = self.now();
        self.session.close(code, reason, now).map_err(Error::Send)
    }

    /// Drives the closing handshake to the closure, discarding messages that arrive meanwhile.
    pub(crate) fn poll_closed(&mut self, cx: &mut Context<'_>) -> Poll<Result<Closure, Error>> {
        loop {
            while self.session.poll_message().is_some() {}
            if let Some(closure) = ready!(self.poll_advance(cx, Half::Reader))? {
                return Poll::Ready(Ok(closure));
            }
        }
    }

    /// Closes the transport after the closure: writes out the final Close after a clean
    /// closing handshake (the peer is reading, waiting for it), then shuts the stream down —
    /// all bounded by the close timeout, so a peer that stopped reading cannot hold us.
    fn poll_finish(&mut self, cx: &mut Context<'_>, half: Half) -> Poll<()> {
        let deadline = match self.finish {
            Finish::Done => return Poll::Ready(()),
            Finish::Lingering { deadline } => deadline,
            Finish::NotStarted => {
                let linger = self.session.connection().config().close_timeout;
                let deadline = self.now() + linger.max(Duration::from_millis(1));
                self.finish = Finish::Lingering { deadline };
                deadline
            }
        };
        // Write what is pending, then close (the session's rule): the session keeps only what
        // the peer waits for, such as the Close that failed the connection.
        if self.poll_write_pending(cx, half).is_ready() {
            let stream = Pin::new(&mut self.stream);
            let shutdown = match &self.shared {
                Some(shared) => {
                    shared.wakers.register(half, cx.waker());
                    stream.poll_shutdown(&mut Context::from_waker(&shared.both))
                }
                None => stream.poll_shutdown(cx),
            };
            if shutdown.is_ready() {
                self.finish = Finish::Done;
                return Poll::Ready(());
            }
        }
        // The timer wakes both halves, whichever set it.
        let expired = match &self.shared {
            Some(shared) => {
                shared.wakers.register(half, cx.waker());
                let both = shared.both.clone();
                self.poll_sleep(&mut Context::from_waker(&both), deadline)
            }
            None => self.poll_sleep(cx, deadline),
        };
        if expired.is_ready() {
            self.finish = Finish::Done;
            return Poll::Ready(());
        }
        Poll::Pending
    }
}

/// Writes what the session has pending: a large message sent from its own buffer (header
/// and payload in two parts) in one vectored write where the stream supports it.
fn poll_write_parts<S: AsyncWrite + Unpin>(
    stream: Pin<&mut S>,
    cx: &mut Context<'_>,
    session: &Session,
) -> Poll<io::Result<usize>> {
    match session.pending_write_parts() {
        (header, payload)
            if !header.is_empty() && !payload.is_empty() && stream.is_write_vectored() =>
        {
            stream.poll_write_vectored(cx, &[io::IoSlice::new(header), io::IoSlice::new(payload)])
        }
        _ => stream.poll_write(cx, session.pending_write()),
    }
}
