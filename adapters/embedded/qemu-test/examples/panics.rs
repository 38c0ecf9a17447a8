//! Harness self-check: a failing assertion must make QEMU exit non-zero (run.sh expects 1).
#![no_std]
#![no_main]

use cortex_m_rt::entry;
use panic_semihosting as _;
use sockeye_qemu_test::{run_tests, tests};

fn fails() {
    let got = core::hint::black_box(41);
    assert_eq!(got, 42, "deliberately failing check");
}

#[entry]
fn main() -> ! {
    run_tests(tests![fails])
}
