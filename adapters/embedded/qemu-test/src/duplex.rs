//! An in-memory, full-duplex byte stream implementing `embedded_io_async::{Read, Write}`, for
//! running a client and a server against each other without a network (no_std, no alloc).
//!
//! Each direction is a [`Channel`]: a ring buffer with a "writer shut down" flag (the reader
//! then gets EOF, `Ok(0)`, once the data is drained) and an injectable error (reported as an `embedded_io` `ErrorKind`). A channel can
//! also limit how many bytes move per call, to exercise partial reads and writes. Readers and
//! writers that must wait register their waker, so it works on embassy's executor as well as
//! on a spinning `block_on`.
//!
//! Shared by the QEMU firmware (`qemu-test/`) and the adapter's host tests (`tests/`).

use core::cell::RefCell;
use core::future::poll_fn;
use core::task::{Poll, Waker};

use embedded_io_async::{ErrorKind, ErrorType, Read, Write};

struct State<const N: usize> {
    buf: [u8; N],
    head: usize,
    len: usize,
    shut: bool,
    error: Option<ErrorKind>,
    max_chunk: usize,
    reader: Option<Waker>,
    writer: Option<Waker>,
}

/// One direction of a duplex stream, holding up to `N` bytes in flight.
pub struct Channel<const N: usize> {
    state: RefCell<State<N>>,
}

impl<const N: usize> Default for Channel<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> Channel<N> {
    /// An empty, open channel.
    pub const fn new() -> Self {
        Channel {
            state: RefCell::new(State {
                buf: [0; N],
                head: 0,
                len: 0,
                shut: false,
                error: None,
                max_chunk: usize::MAX,
                reader: None,
                writer: None,
            }),
        }
    }

    /// At most `n` bytes per `read` or `write` call (n ≥ 1): partial I/O.
    pub fn set_max_chunk(&self, n: usize) {
        self.state.borrow_mut().max_chunk = n.max(1);
    }

    /// The writer is gone: the reader gets EOF once the buffered bytes are read.
    pub fn shutdown(&self) {
        let mut s = self.state.borrow_mut();
        s.shut = true;
        wake(&mut s.reader);
    }

    /// The next `read` and every `write` fail with `kind` (like a TCP reset).
    pub fn fail(&self, kind: ErrorKind) {
        let mut s = self.state.borrow_mut();
        s.error = Some(kind);
        wake(&mut s.reader);
        wake(&mut s.writer);
    }

    /// Copies out (without consuming) the buffered bytes into `out`, returning how many.
    pub fn peek(&self, out: &mut [u8]) -> usize {
        let s = self.state.borrow();
        let n = s.len.min(out.len());
        for (i, b) in out[..n].iter_mut().enumerate() {
            *b = s.buf[(s.head + i) % N];
        }
        n
    }

    /// Appends bytes directly (a scripted peer); returns how many fit.
    pub fn push(&self, data: &[u8]) -> usize {
        let mut s = self.state.borrow_mut();
        let n = data.len().min(N - s.len);
        for &b in &data[..n] {
            let at = (s.head + s.len) % N;
            s.buf[at] = b;
            s.len += 1;
        }
        wake(&mut s.reader);
        n
    }

    fn poll_read(&self, out: &mut [u8], waker: &Waker) -> Poll<Result<usize, ErrorKind>> {
        let mut s = self.state.borrow_mut();
        if let Some(kind) = s.error {
            return Poll::Ready(Err(kind));
        }
        if s.len == 0 {
            if s.shut || out.is_empty() {
                return Poll::Ready(Ok(0));
            }
            s.reader = Some(waker.clone());
            return Poll::Pending;
        }
        let n = s.len.min(out.len()).min(s.max_chunk);
        for b in &mut out[..n] {
            *b = s.buf[s.head];
            s.head = (s.head + 1) % N;
            s.len -= 1;
        }
        wake(&mut s.writer);
        Poll::Ready(Ok(n))
    }

    fn poll_write(&self, data: &[u8], waker: &Waker) -> Poll<Result<usize, ErrorKind>> {
        let mut s = self.state.borrow_mut();
        if let Some(kind) = s.error {
            return Poll::Ready(Err(kind));
        }
        if s.shut {
            return Poll::Ready(Err(ErrorKind::BrokenPipe));
        }
        if data.is_empty() {
            return Poll::Ready(Ok(0));
        }
        if s.len == N {
            s.writer = Some(waker.clone());
            return Poll::Pending;
        }
        let n = data.len().min(N - s.len).min(s.max_chunk);
        for &b in &data[..n] {
            let at = (s.head + s.len) % N;
            s.buf[at] = b;
            s.len += 1;
        }
        wake(&mut s.reader);
        Poll::Ready(Ok(n))
    }
}

fn wake(w: &mut Option<Waker>) {
    if let Some(w) = w.take() {
        w.wake();
    }
}

/// One end of a duplex stream: reads from `rx`, writes to `tx`.
pub struct End<'a, const N: usize> {
    /// What this end reads.
    pub rx: &'a Channel<N>,
    /// What this end writes.
    pub tx: &'a Channel<N>,
}

impl<'a, const N: usize> End<'a, N> {
    /// The two ends of a stream made of the channels `a` (first end to second) and `b`.
    pub fn pair(a: &'a Channel<N>, b: &'a Channel<N>) -> (End<'a, N>, End<'a, N>) {
        (End { rx: b, tx: a }, End { rx: a, tx: b })
    }

    /// Closes this end's sending direction (TCP FIN): the peer reads EOF.
    pub fn shutdown(&self) {
        self.tx.shutdown();
    }
}

impl<const N: usize> ErrorType for End<'_, N> {
    type Error = ErrorKind;
}

impl<const N: usize> Read for End<'_, N> {
    async fn read(&mut self, out: &mut [u8]) -> Result<usize, ErrorKind> {
        poll_fn(|cx| self.rx.poll_read(out, cx.waker())).await
    }
}

impl<const N: usize> Write for End<'_, N> {
    async fn write(&mut self, data: &[u8]) -> Result<usize, ErrorKind> {
        poll_fn(|cx| self.tx.poll_write(data, cx.waker())).await
    }

    async fn flush(&mut self) -> Result<(), ErrorKind> {
        Ok(())
    }
}
