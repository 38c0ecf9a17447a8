//! Harness self-check: a hard fault must make QEMU exit non-zero, not hang (run.sh expects 1).
#![no_std]
#![no_main]

use cortex_m_rt::entry;
use panic_semihosting as _;
use sockeye_qemu_test::{run_tests, tests};

fn faults() {
    cortex_m::asm::udf(); // permanently undefined instruction -> HardFault
}

#[entry]
fn main() -> ! {
    run_tests(tests![faults])
}
