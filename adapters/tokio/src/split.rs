//! The two halves of a split [`WebSocket`].

use std::fmt;
use std::future::poll_fn;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{ready, Context, Poll};

use futures_core::{FusedStream, Stream};
use futures_sink::Sink;
use sockeye_core::adapter::Error;
use sockeye_core::{CloseCode, Closure, Frame, Message, MessageKind};
use tokio::io::{AsyncRead, AsyncWrite};

use crate::inner::{poll_next_message, Half, Inner};
use crate::WebSocket;

/// What both halves hold.
#[derive(Debug)]
struct Shared<S> {
    /// Locked only while a half is polled, never across an `.await`.
    inner: Mutex<Inner<S>>,
    protocol: Option<String>,
}

impl<S> Shared<S> {
    fn lock(&self) -> MutexGuard<'_, Inner<S>> {
        // Nothing panics while holding the lock; a poisoned lock still holds consistent state.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

pub(crate) fn split<S: AsyncRead + AsyncWrite + Unpin>(
    mut inner: Inner<S>,
    protocol: Option<String>,
) -> (ReadHalf<S>, WriteHalf<S>) {
    inner.share_wakers();
    let shared = Arc::new(Shared {
        inner: Mutex::new(inner),
        protocol,
    });
    (
        ReadHalf {
            shared: shared.clone(),
            terminated: false,
        },
        WriteHalf { shared },
    )
}

/// The receiving half of a [`WebSocket`], from [`WebSocket::split`].
///
/// Besides returning messages, it answers Pings, sends keepalive Pings, replies to the peer's
/// Close and runs the timers: keep it polled for the connection to stay healthy, even when you
/// only send. [`recv`](Self::recv) and polling the [`Stream`] are cancel-safe.
#[derive(Debug)]
pub struct ReadHalf<S> {
    shared: Arc<Shared<S>>,
    terminated: bool,
}

/// The sending half of a [`WebSocket`], from [`WebSocket::split`].
///
/// Unlike the whole `WebSocket`, it flushes after every send: it cannot know when the read half
/// will next run. Use [`feed`](Self::feed) and [`flush`](Self::flush) (or
/// `SinkExt::send_all`) to write a batch at once. Sends wait while the write buffer is above
/// its high-water mark. [`flush`](Self::flush) is cancel-safe; the sends are not (a dropped
/// send may or may not have queued its frame, never half of it).
#[derive(Debug)]
pub struct WriteHalf<S> {
    shared: Arc<Shared<S>>,
}

impl<S: AsyncRead + AsyncWrite + Unpin> ReadHalf<S> {
    /// The next text or binary message, then `Err(Error::Closed(closure))` after the last,
    /// like [`WebSocket::recv`]. Cancel-safe.
    pub async fn recv(&mut self) -> Result<Message, Error> {
        poll_fn(|cx| self.shared.lock().poll_recv(cx)).await
    }

    /// How the connection ended, once it has.
    pub fn closure(&self) -> Option<Closure> {
        self.shared.lock().session.closure()
    }

    /// The subprotocol agreed in the opening handshake, if any.
    pub fn protocol(&self) -> Option<&str> {
        self.shared.protocol.as_deref()
    }

    /// Puts the halves back together, or gives them back if they come from different
    /// connections.
    pub fn reunite(self, write: WriteHalf<S>) -> Result<WebSocket<S>, ReuniteError<S>> {
        if !Arc::ptr_eq(&self.shared, &write.shared) {
            return Err(ReuniteError { read: self, write });
        }
        drop(write);
        match Arc::try_unwrap(self.shared) {
            Ok(shared) => {
                let inner = shared
                    .inner
                    .into_inner()
                    .unwrap_or_else(PoisonError::into_inner);
                Ok(WebSocket::from_parts(inner, shared.protocol))
            }
            // Both halves are consumed here, so no other reference exists.
            Err(shared) => Err(ReuniteError {
                read: ReadHalf {
                    shared: shared.clone(),
                    terminated: self.terminated,
                },
                write: WriteHalf { shared },
            }),
        }
    }
}

/// Text and binary messages, then `Err(Error::Closed(closure))` once, then the end.
impl<S: AsyncRead + AsyncWrite + Unpin> Stream for ReadHalf<S> {
    type Item = Result<Message, Error>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        let shared = &this.shared;
        poll_next_message(&mut this.terminated, || shared.lock().poll_recv(cx))
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> FusedStream for ReadHalf<S> {
    fn is_terminated(&self) -> bool {
        self.terminated
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> WriteHalf<S> {
    /// Sends a message and writes it out: text, binary, ping or pong; [`Message::Close`] starts
    /// the closing handshake like [`close`](Self::close).
    pub async fn send(&mut self, message: Message) -> Result<(), Error> {
        self.feed(message).await?;
        self.flush().await
    }

    /// Sends a text message from a borrowed string and writes it out.
    pub async fn send_text(&mut self, text: &str) -> Result<(), Error> {
        self.ready().await?;
        self.shared
            .lock()
            .encode(|session| session.send(Frame::Text(text)))?;
        self.flush().await
    }

    /// Sends a binary message from a borrowed slice and writes it out.
    pub async fn send_binary(&mut self, data: &[u8]) -> Result<(), Error> {
        self.ready().await?;
        self.shared
            .lock()
            .encode(|session| session.send(Frame::Binary(data)))?;
        self.flush().await
    }

    /// Sends one fragment of a message (RFC 6455 §5.4) and writes it out, like
    /// [`WebSocket::send_fragment`].
    pub async fn send_fragment(
        &mut self,
        kind: MessageKind,
        payload: &[u8],
        fin: bool,
    ) -> Result<(), Error> {
        self.ready().await?;
        self.shared
            .lock()
            .encode(|session| session.send_fragment(kind, payload, fin))?;
        self.flush().await
    }

    /// Sends a Ping (at most 125 bytes of payload) and writes it out.
    pub async fn ping(&mut self, payload: &[u8]) -> Result<(), Error> {
        self.ready().await?;
        self.shared
            .lock()
            .encode(|session| session.send(Frame::Ping(payload)))?;
        self.flush().await
    }

    /// Queues a message, waiting only while the write buffer is above its high-water mark.
    pub async fn feed(&mut self, message: Message) -> Result<(), Error> {
        self.ready().await?;
        self.shared.lock().encode_message(message)
    }

    /// Writes out everything queued. Cancel-safe.
    pub async fn flush(&mut self) -> Result<(), Error> {
        poll_fn(|cx| self.shared.lock().poll_flush(cx, Half::Writer)).await
    }

    /// Starts the closing handshake with `code` and `reason` and writes the Close frame out.
    /// The read half completes the handshake: its `recv` returns the remaining messages, then
    /// the closure.
    pub async fn close(&mut self, code: CloseCode, reason: &str) -> Result<(), Error> {
        self.shared.lock().start_close(code, reason)?;
        match self.flush().await {
            Ok(()) | Err(Error::Closed(_)) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// How the connection ended, once it has.
    pub fn closure(&self) -> Option<Closure> {
        self.shared.lock().session.closure()
    }

    /// Bytes queued and not yet written to the transport.
    pub fn buffered_amount(&self) -> usize {
        self.shared.lock().session.pending_write_len()
    }

    async fn ready(&mut self) -> Result<(), Error> {
        poll_fn(|cx| self.shared.lock().poll_ready(cx, Half::Writer)).await
    }
}

/// Messages to send; every `poll_flush` writes them out. `poll_close` sends a Close (1000)
/// and writes it out; the read half completes the handshake.
impl<S: AsyncRead + AsyncWrite + Unpin> Sink<Message> for WriteHalf<S> {
    type Error = Error;

    fn poll_ready(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        self.shared.lock().poll_ready(cx, Half::Writer)
    }

    fn start_send(self: Pin<&mut Self>, message: Message) -> Result<(), Error> {
        self.shared.lock().encode_message(message)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        self.shared.lock().poll_flush(cx, Half::Writer)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        let mut inner = self.shared.lock();
        inner.start_close(CloseCode::NORMAL, "")?;
        match ready!(inner.poll_flush(cx, Half::Writer)) {
            Ok(()) | Err(Error::Closed(_)) => Poll::Ready(Ok(())),
            Err(e) => Poll::Ready(Err(e)),
        }
    }
}

/// Two halves of different connections given to [`ReadHalf::reunite`]; both are handed back.
pub struct ReuniteError<S> {
    /// The read half given.
    pub read: ReadHalf<S>,
    /// The write half given.
    pub write: WriteHalf<S>,
}

impl<S> fmt::Debug for ReuniteError<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ReuniteError")
    }
}

impl<S> fmt::Display for ReuniteError<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the halves belong to different WebSocket connections")
    }
}

impl<S> std::error::Error for ReuniteError<S> {}
