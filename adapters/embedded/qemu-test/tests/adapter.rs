//! `sockeye-embedded` end to end on the emulated chip: both opening handshakes, echo, clean
//! closes, fragments and partial I/O, timers, and abrupt transport ends reported as 1006 with
//! their cause. The scenarios are shared with the host tests (`src/scenarios.rs`).
#![no_std]
#![no_main]

use cortex_m_rt::entry;
use panic_semihosting as _;
use sockeye_qemu_test::{block_on, run_tests, scenarios, tests};

macro_rules! on_chip {
    ($($name:ident),* $(,)?) => {
        $(fn $name() { block_on(scenarios::$name()) })*
    };
}

on_chip![
    handshakes_then_echo_and_close,
    server_keeps_pipelined_frame,
    handshake_failures,
    echo_then_clean_close,
    server_initiated_close,
    fragments_and_partial_io,
    large_messages_stream_as_chunks,
    ping_is_answered,
    eof_mid_frame_is_abnormal,
    eof_before_first_frame_is_abnormal,
    transport_error_is_abnormal,
    keepalive_pings_and_times_out,
    close_timeout_when_peer_is_silent,
    protocol_violations_fail_fast,
    received_bytes_are_processed_first,
    receive_is_cancel_safe,
    receive_owned_fits_or_closes_with_1009,
];

#[entry]
fn main() -> ! {
    run_tests(tests![
        handshakes_then_echo_and_close,
        server_keeps_pipelined_frame,
        handshake_failures,
        echo_then_clean_close,
        server_initiated_close,
        fragments_and_partial_io,
        large_messages_stream_as_chunks,
        ping_is_answered,
        eof_mid_frame_is_abnormal,
        eof_before_first_frame_is_abnormal,
        transport_error_is_abnormal,
        keepalive_pings_and_times_out,
        close_timeout_when_peer_is_silent,
        protocol_violations_fail_fast,
        received_bytes_are_processed_first,
        receive_is_cancel_safe,
    receive_owned_fits_or_closes_with_1009,
    ])
}
