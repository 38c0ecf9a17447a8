//! A tiny test runner for firmware under QEMU with ARM semihosting, plus the shared pieces the
//! tests use: an in-memory duplex stream ([`duplex`]), a virtual clock ([`sim`]) and the
//! adapter's end-to-end [`scenarios`] (which the host tests run too).
//!
//! Each `tests/*.rs` file is a `#![no_main]` firmware calling [`run_tests`]. A test passes
//! when it returns. A failed `assert!` panics: `panic-semihosting` (feature `exit`) prints the
//! message and QEMU exits with status 1; a HardFault does the same, and a hang is ended by the
//! runner's `timeout` (status 124). So any failure is a non-zero exit.
#![no_std]

pub mod duplex;
pub mod inflate_frames;
pub mod inflate_scenarios;
pub mod scenarios;
pub mod sim;

use core::future::Future;
use core::pin::pin;
use core::task::{Context, Poll, Waker};

pub use cortex_m_semihosting::{debug, hprint, hprintln};

/// A named test function.
pub struct Test {
    /// Printed before the result.
    pub name: &'static str,
    /// Panics on failure.
    pub f: fn(),
}

/// `tests![a, b]` → `&[Test]`.
#[macro_export]
macro_rules! tests {
    ($($f:path),* $(,)?) => {
        &[$($crate::Test { name: stringify!($f), f: $f }),*]
    };
}

/// Runs the tests, printing libtest-style lines with each test's stack use (measured by
/// painting the stack before it), and exits QEMU with 0 when all passed.
pub fn run_tests(tests: &[Test]) -> ! {
    hprintln!("\nrunning {} tests", tests.len());
    let mut deepest = 0;
    for t in tests {
        hprint!("test {} ... ", t.name);
        paint_stack();
        (t.f)();
        let used = stack_used();
        deepest = deepest.max(used);
        hprintln!("ok (stack {} B)", used);
    }
    hprintln!("deepest stack: {} bytes", deepest);
    hprintln!("\ntest result: ok. {} passed; 0 failed", tests.len());
    exit(true)
}

/// Ends the emulation with exit status 0 (`true`) or 1.
pub fn exit(success: bool) -> ! {
    debug::exit(if success {
        debug::EXIT_SUCCESS
    } else {
        debug::EXIT_FAILURE
    });
    // Only reached without semihosting.
    loop {
        cortex_m::asm::bkpt();
    }
}

/// Polls `fut` to completion with a no-op waker; fails the test if it stalls.
pub fn block_on<F: Future>(fut: F) -> F::Output {
    let mut cx = Context::from_waker(Waker::noop());
    let mut fut = pin!(fut);
    for _ in 0..5_000_000u32 {
        if let Poll::Ready(out) = fut.as_mut().poll(&mut cx) {
            return out;
        }
    }
    panic!("block_on: the future stalled");
}

// ---- stack painting -----------------------------------------------------------------------

extern "C" {
    static mut _stack_end: u32; // lowest address the stack may grow to (cortex-m-rt)
    static _stack_start: u32; // initial SP (top of RAM)
}

const PAINT: u32 = 0xDEAD_BEEF;

/// Fills the unused stack (below the current SP) with a pattern.
#[inline(never)]
pub fn paint_stack() {
    let sp = cortex_m::register::msp::read() as usize - 64;
    let mut p = core::ptr::addr_of_mut!(_stack_end) as usize;
    while p < sp {
        // SAFETY: `p` is in [_stack_end, SP): unused stack, word-aligned, owned by nobody.
        unsafe { core::ptr::write_volatile(p as *mut u32, PAINT) };
        p += 4;
    }
}

/// Bytes of stack written since reset: from the top of RAM down to the lowest overwritten word.
#[inline(never)]
pub fn stack_used() -> usize {
    let top = core::ptr::addr_of!(_stack_start) as usize;
    let mut p = core::ptr::addr_of_mut!(_stack_end) as usize;
    // SAFETY: reads of stack words below the live frames, aligned and inside RAM.
    while p < top && unsafe { core::ptr::read_volatile(p as *const u32) } == PAINT {
        p += 4;
    }
    top - p
}

/// Any fault (bad access, undefined instruction, stack overflow into invalid memory) ends the
/// run with exit status 1 instead of hanging until the runner's timeout.
#[cortex_m_rt::exception]
unsafe fn HardFault(ef: &cortex_m_rt::ExceptionFrame) -> ! {
    hprintln!("HardFault: {:?}", ef);
    exit(false)
}
