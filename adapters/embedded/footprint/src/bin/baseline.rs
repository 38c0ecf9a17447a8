//! Runtime only (cortex-m-rt, semihosting exit, stack painting, HardFault->exit) plus
//! memcpy/memset, which any real firmware links anyway: subtract from the others.
#![no_std]
#![no_main]

use cortex_m_rt::entry;
use sockeye_footprint::*;

fn run() -> u32 {
    let mut buf = [0u8; 64];
    let n = black_box(TEXT.len());
    buf[..n].copy_from_slice(&black_box(TEXT)[..n]); // memcpy
    buf[n..black_box(48)].fill(black_box(0)); // memset
    black_box(&mut buf);
    XorShift(black_box(SEED)).next() ^ buf[0] as u32
}

#[entry]
fn main() -> ! {
    let r = measure("baseline", run);
    check!(black_box(r) != 0);
    exit(true)
}
