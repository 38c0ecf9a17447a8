//! The adapter on embassy's executor (thread mode, Cortex-M), with real wakers: the pipe and
//! the virtual clock wake the task, the executor sleeps in WFE between polls.
#![no_std]
#![no_main]

use embassy_executor::Spawner;
use panic_semihosting as _;
use sockeye_qemu_test::{exit, hprintln, scenarios, stack_used};

#[embassy_executor::task]
async fn run() {
    scenarios::handshakes_then_echo_and_close().await;
    hprintln!("embassy: handshakes, echo, clean close ... ok");
    scenarios::keepalive_pings_and_times_out().await;
    hprintln!("embassy: keepalive ... ok");
    scenarios::eof_mid_frame_is_abnormal().await;
    hprintln!("embassy: EOF mid-frame is 1006 ... ok");
    hprintln!("stack high-water mark: {} bytes", stack_used());
    exit(true);
}

#[embassy_executor::main]
async fn main(spawner: Spawner) {
    sockeye_qemu_test::paint_stack();
    spawner.spawn(run().unwrap());
}
