//! Shared tiny runtime for the footprint firmwares (identical in every bin): cortex-m-rt, a
//! semihosting exit, stack painting, a HardFault-to-exit handler, `block_on`, and the test
//! data every workload uses. Taken from the embedded harness's size anchors so that the
//! baselines agree; `Script` and `IdleClock` were added for the sockeye adapter.
#![no_std]

use core::panic::PanicInfo;
use cortex_m_semihosting::debug;

pub use core::hint::black_box;

/// Exit QEMU through semihosting: 0 = success, 1 = failure.
pub fn exit(ok: bool) -> ! {
    debug::exit(if ok {
        debug::EXIT_SUCCESS
    } else {
        debug::EXIT_FAILURE
    });
    loop {
        cortex_m::asm::bkpt();
    }
}

/// `check!(cond)`: like assert!, but without formatting machinery (keeps size honest).
#[macro_export]
macro_rules! check {
    ($c:expr) => {
        if !$c {
            $crate::fail(line!())
        }
    };
}

#[inline(never)]
pub fn fail(_line: u32) -> ! {
    #[cfg(feature = "report")]
    cortex_m_semihosting::hprintln!("check failed at line {}", _line);
    exit(false)
}

#[panic_handler]
fn panic(_info: &PanicInfo) -> ! {
    #[cfg(feature = "report")]
    cortex_m_semihosting::hprintln!("panic: {}", _info);
    exit(false)
}

// ---- stack high-water mark (stack painting) -------------------------------
extern "C" {
    static mut _stack_end: u32; // lowest address the stack may grow to (== __sheap)
    static _stack_start: u32; // initial SP (top of RAM)
}
const PAINT: u32 = 0xDEAD_BEEF;

/// Fill the unused stack (below the current SP minus a guard) with a pattern.
#[inline(never)]
pub fn paint_stack() {
    let sp = cortex_m::register::msp::read() as usize - 16;
    let mut p = core::ptr::addr_of_mut!(_stack_end) as usize;
    while p < sp {
        unsafe { core::ptr::write_volatile(p as *mut u32, PAINT) };
        p += 4;
    }
}

/// Lowest stack address written since the last `paint_stack`.
#[inline(never)]
pub fn stack_low_water() -> usize {
    let top = core::ptr::addr_of!(_stack_start) as usize;
    let mut p = core::ptr::addr_of_mut!(_stack_end) as usize;
    while p < top && unsafe { core::ptr::read_volatile(p as *const u32) } == PAINT {
        p += 4;
    }
    p
}

/// Run `f` on a painted stack and print (via semihosting, without core::fmt):
///   "<name>: stack <W> bytes (total since reset <T>)"
/// W = bytes below `measure`'s SP touched by `f` (f runs in a non-inlined trampoline),
/// T = bytes from the top of RAM down to the lowest touched word (whole program).
/// Only *written* stack is seen: untouched parts of big uninitialised buffers are not.
#[inline(never)]
pub fn measure<R>(name: &str, f: impl FnOnce() -> R) -> R {
    let sp0 = cortex_m::register::msp::read() as usize;
    paint_stack();
    let r = trampoline(f);
    let low = stack_low_water();
    let top = core::ptr::addr_of!(_stack_start) as usize;
    say(name.as_bytes());
    say(b": stack ");
    say_num(sp0.saturating_sub(low));
    say(b" bytes (total since reset ");
    say_num(top - low);
    say(b")\n");
    r
}

#[inline(never)]
fn trampoline<R>(f: impl FnOnce() -> R) -> R {
    f()
}

/// Write bytes to the host's stdout (semihosting); ignores errors.
pub fn say(b: &[u8]) {
    if let Ok(mut out) = cortex_m_semihosting::hio::hstdout() {
        let _ = out.write_all(b);
    }
}

pub fn say_num(mut n: usize) {
    let mut buf = [0u8; 10];
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    say(&buf[i..]);
}

// ---- minimal async support ---------------------------------------------------

/// Poll a future to completion with a no-op waker (fine for in-memory I/O).
pub fn block_on<F: core::future::Future>(fut: F) -> F::Output {
    use core::task::{Context, Poll, RawWaker, RawWakerVTable, Waker};
    static VTABLE: RawWakerVTable = RawWakerVTable::new(
        |_| RawWaker::new(core::ptr::null(), &VTABLE),
        |_| {},
        |_| {},
        |_| {},
    );
    let waker = unsafe { Waker::from_raw(RawWaker::new(core::ptr::null(), &VTABLE)) };
    let mut cx = Context::from_waker(&waker);
    let mut fut = core::pin::pin!(fut);
    loop {
        if let Poll::Ready(v) = fut.as_mut().poll(&mut cx) {
            return v;
        }
    }
}

/// A scripted peer: reads return `input` (then EOF, `Ok(0)`), and the first bytes of each of
/// the first writes are kept for checking (one write per frame with this transport).
pub struct Script {
    input: &'static [u8],
    pos: usize,
    /// The first 32 bytes of each of the first 4 writes.
    pub writes: [[u8; 32]; 4],
    /// The length of each of the first 4 writes.
    pub lens: [usize; 4],
    /// How many writes there were.
    pub count: usize,
}

impl Script {
    pub const fn new(input: &'static [u8]) -> Self {
        Script {
            input,
            pos: 0,
            writes: [[0; 32]; 4],
            lens: [0; 4],
            count: 0,
        }
    }
}

impl embedded_io_async::ErrorType for Script {
    type Error = core::convert::Infallible;
}

impl embedded_io_async::Read for Script {
    async fn read(&mut self, out: &mut [u8]) -> Result<usize, Self::Error> {
        let rest = &self.input[self.pos..];
        let n = out.len().min(rest.len());
        out[..n].copy_from_slice(&rest[..n]);
        self.pos += n;
        Ok(n)
    }
}

impl embedded_io_async::Write for Script {
    async fn write(&mut self, data: &[u8]) -> Result<usize, Self::Error> {
        if let (Some(w), Some(l)) = (
            self.writes.get_mut(self.count),
            self.lens.get_mut(self.count),
        ) {
            let n = data.len().min(32);
            w[..n].copy_from_slice(&data[..n]);
            *l = data.len();
        }
        self.count += 1;
        Ok(data.len())
    }

    async fn flush(&mut self) -> Result<(), Self::Error> {
        Ok(())
    }
}

/// The cheapest clock a device can offer: a fixed time and sleeps that never end (the
/// scripted peer never makes the connection wait, so no timer is due). The timer code is
/// still linked: deadlines are computed and raced against every read and write.
pub struct IdleClock;

impl sockeye_embedded::Clock for IdleClock {
    fn now(&self) -> sockeye_core::Instant {
        sockeye_core::Instant::from_millis(black_box(0))
    }

    async fn sleep_until(&self, _deadline: sockeye_core::Instant) {
        core::future::pending::<()>().await
    }
}

/// xorshift32, seeded through black_box so nothing constant-folds.
pub struct XorShift(pub u32);

impl XorShift {
    pub fn next(&mut self) -> u32 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        self.0 = x;
        x
    }
}

impl rand_core::RngCore for XorShift {
    fn next_u32(&mut self) -> u32 {
        self.next()
    }
    fn next_u64(&mut self) -> u64 {
        (self.next() as u64) << 32 | self.next() as u64
    }
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        for chunk in dest.chunks_mut(4) {
            let v = self.next().to_le_bytes();
            chunk.copy_from_slice(&v[..chunk.len()]);
        }
    }
    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand_core::Error> {
        self.fill_bytes(dest);
        Ok(())
    }
}

pub const SEED: u32 = 0x1234_5678;
/// Text payload sent by every workload.
pub const TEXT: &[u8] = b"Hello, WebSocket!";
/// The same, as `&str`.
pub const TEXT_STR: &str = "Hello, WebSocket!";
/// An unmasked server->client text frame: FIN|Text, len 5, "world".
pub const SERVER_FRAME: &[u8] = &[0x81, 0x05, b'w', b'o', b'r', b'l', b'd'];

/// A fault ends the run with exit status 1 instead of hanging until the runner's timeout.
#[cortex_m_rt::exception]
unsafe fn HardFault(_ef: &cortex_m_rt::ExceptionFrame) -> ! {
    exit(false)
}

/// The server's handshake response to the key the client derives from `XorShift(SEED)`.
pub const RESPONSE: &[u8] = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\
Connection: Upgrade\r\nSec-WebSocket-Accept: yiWTyZ5TYfn3nqZRB0hK8Pd7XaU=\r\n\r\n";

/// An unmasked server Close frame with code 1000.
pub const SERVER_CLOSE: &[u8] = &[0x88, 0x02, 0x03, 0xe8];

/// What the scripted server sends: the response, one text frame ("world"), its Close; then EOF.
pub static SERVER_SCRIPT: [u8; SCRIPT_LEN] = concat3(RESPONSE, SERVER_FRAME, SERVER_CLOSE);
const SCRIPT_LEN: usize = RESPONSE.len() + SERVER_FRAME.len() + SERVER_CLOSE.len();

/// `a`, `b` and `c` one after the other, at compile time (`N` is their total length).
pub const fn concat3<const N: usize>(a: &[u8], b: &[u8], c: &[u8]) -> [u8; N] {
    let mut out = [0u8; N];
    let mut i = 0;
    while i < a.len() {
        out[i] = a[i];
        i += 1;
    }
    let mut j = 0;
    while j < b.len() {
        out[a.len() + j] = b[j];
        j += 1;
    }
    let mut k = 0;
    while k < c.len() {
        out[a.len() + b.len() + k] = c[k];
        k += 1;
    }
    out
}
