//! permessage-deflate on the emulated chip: `connect_deflate` and compressed messages from a
//! real deflater (pre-generated frames), inflated without an allocator in a 512-byte window;
//! and the failures (1007, 1009, 1002) with our Close on the wire. The scenarios are shared
//! with the host tests (`src/inflate_scenarios.rs`).
//!
//! The `InflateStorage` (10.5 KB of decompressor state, the window, the message buffer) is a
//! local of `main`, built in place (`InflateStorage::new` returns it in its slot) and lent to
//! each test: on the Cortex-M0's 16 KiB there is no room to build it on the stack and copy it
//! into a `static`. The stack figures printed therefore include it.
#![no_std]
#![no_main]

use cortex_m_rt::entry;
use panic_semihosting as _;
use sockeye_embedded::InflateStorage;
use sockeye_qemu_test::inflate_scenarios::{self, MESSAGE, WINDOW};
use sockeye_qemu_test::{block_on, exit, hprint, hprintln, paint_stack, stack_used};

type Inflate = InflateStorage<WINDOW, MESSAGE>;

fn inflate_messages_with_context_takeover(inflate: &mut Inflate) {
    block_on(inflate_scenarios::inflate_messages_with_context_takeover(
        inflate,
    ))
}

fn inflate_failures_close_with_the_right_code(inflate: &mut Inflate) {
    block_on(inflate_scenarios::inflate_failures_close_with_the_right_code(inflate))
}

#[entry]
fn main() -> ! {
    let mut inflate = InflateStorage::new();
    let tests: [(&str, fn(&mut Inflate)); 2] = [
        (
            "inflate_messages_with_context_takeover",
            inflate_messages_with_context_takeover,
        ),
        (
            "inflate_failures_close_with_the_right_code",
            inflate_failures_close_with_the_right_code,
        ),
    ];
    hprintln!(
        "\nInflateStorage<{}, {}>: {} B (InflateState {} B), in main's frame",
        WINDOW,
        MESSAGE,
        core::mem::size_of::<Inflate>(),
        sockeye_core::inflate::InflateState::SIZE
    );
    hprintln!("running {} tests", tests.len());
    let mut deepest = 0;
    for (name, f) in tests {
        hprint!("test {} ... ", name);
        paint_stack();
        f(&mut inflate);
        let used = stack_used();
        deepest = deepest.max(used);
        hprintln!("ok (stack {} B, with the InflateStorage)", used);
    }
    hprintln!("deepest stack: {} bytes", deepest);
    hprintln!("\ntest result: ok. {} passed; 0 failed", tests.len());
    exit(true)
}
