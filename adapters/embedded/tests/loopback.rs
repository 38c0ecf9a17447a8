//! `sockeye-embedded` over a real loopback TCP socket (a host `TcpStream` behind the
//! `embedded-io-async` traits), against a raw server that sends what a broken peer sends and
//! checks the exact Close frame that comes back: the adapter writes the Close the engine owes
//! before it reports the closure, like the std and tokio adapters (`tests/failing.rs`).

use std::future::Future;
use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Wake};
use std::thread;
use std::time::Duration;

use embedded_io_async::ErrorKind;
use sockeye_embedded::{connect, ClientRequest, Clock, Config, Instant, Storage, Url};
use sockeye_test_support::read_close_then_eof;

/// A blocking `TcpStream` as an `embedded-io-async` transport: every call completes at once
/// (or fails), which is all a single-connection test needs.
struct Blocking(TcpStream);

impl embedded_io_async::ErrorType for Blocking {
    type Error = ErrorKind;
}

fn kind(e: std::io::Error) -> ErrorKind {
    match e.kind() {
        std::io::ErrorKind::ConnectionReset => ErrorKind::ConnectionReset,
        std::io::ErrorKind::BrokenPipe => ErrorKind::BrokenPipe,
        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut => ErrorKind::TimedOut,
        _ => ErrorKind::Other,
    }
}

impl embedded_io_async::Read for Blocking {
    async fn read(&mut self, buf: &mut [u8]) -> Result<usize, ErrorKind> {
        self.0.read(buf).map_err(kind)
    }
}

impl embedded_io_async::Write for Blocking {
    async fn write(&mut self, buf: &[u8]) -> Result<usize, ErrorKind> {
        self.0.write(buf).map_err(kind)
    }

    async fn flush(&mut self) -> Result<(), ErrorKind> {
        self.0.flush().map_err(kind)
    }
}

/// Wall-clock time; the test's timers never fire (no keepalive, and the close timeout is far
/// above what the exchange takes).
struct WallClock(std::time::Instant);

impl Clock for WallClock {
    fn now(&self) -> Instant {
        Instant::from_duration(self.0.elapsed())
    }

    async fn sleep_until(&self, deadline: Instant) {
        std::future::poll_fn(|cx| {
            if self.now() >= deadline {
                return Poll::Ready(());
            }
            cx.waker().wake_by_ref();
            Poll::Pending
        })
        .await
    }
}

struct Noop;

impl Wake for Noop {
    fn wake(self: Arc<Self>) {}
}

fn block_on<F: Future>(fut: F) -> F::Output {
    let waker = Arc::new(Noop).into();
    let mut cx = Context::from_waker(&waker);
    let mut fut = pin!(fut);
    loop {
        if let Poll::Ready(out) = fut.as_mut().poll(&mut cx) {
            return out;
        }
    }
}

/// A raw server: answers the handshake, writes `bytes`, and returns the code of the Close
/// frame it receives; then closes TCP.
fn raw_server(bytes: Vec<u8>) -> (String, thread::JoinHandle<u16>) {
    sockeye_test_support::raw_server(move |mut stream| {
        stream.write_all(&bytes).unwrap();
        read_close_then_eof(&mut stream, Duration::from_millis(200))
            .close_code
            .expect("our Close")
    })
}

fn client_closure(url: &str) -> sockeye_embedded::Closure {
    let url = Url::parse(url).unwrap();
    let stream = TcpStream::connect((url.host(), url.port())).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let clock = WallClock(std::time::Instant::now());
    let mut storage = Storage::<1024, 256>::new();
    block_on(async {
        let (mut ws, _) = connect(
            Blocking(stream),
            &clock,
            &mut storage,
            ClientRequest::new(&url),
            [7; 24],
            Config::new(),
        )
        .await
        .unwrap();
        loop {
            if ws.receive().await.is_err() {
                if let Some(closure) = ws.closure() {
                    return closure;
                }
            }
        }
    })
}

#[test]
fn the_close_the_engine_owes_reaches_the_wire() {
    let mut huge = vec![0x82, 127];
    huge.extend_from_slice(&(1u64 << 40).to_be_bytes());
    let cases: [(&str, Vec<u8>, u16); 4] = [
        ("one-byte Close", vec![0x88, 1, 0x03], 1002),
        ("close code 999", vec![0x88, 2, 0x03, 0xe7], 1002),
        (
            "close reason not UTF-8",
            vec![0x88, 3, 0x03, 0xe8, 0xff],
            1007,
        ),
        ("1 TiB frame", huge, 1009),
    ];
    for (what, bytes, expected) in cases {
        let (url, server) = raw_server(bytes);
        let closure = client_closure(&url);
        let sent = server.join().unwrap();
        println!("{what}: sent {sent}; {closure}");
        assert_eq!(sent, expected, "{what}: the code on the wire");
        assert_eq!(closure.code().as_u16(), expected, "{what}: {closure}");
    }
}
