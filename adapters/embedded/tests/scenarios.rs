//! The adapter's end-to-end scenarios (`qemu-test/src/scenarios.rs`) on the host. The same
//! scenarios run on an emulated Cortex-M with `qemu-test/run.sh`.

#[path = "../qemu-test/src/duplex.rs"]
mod duplex;
#[path = "../qemu-test/src/scenarios.rs"]
mod scenarios;
#[path = "../qemu-test/src/sim.rs"]
mod sim;

use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Wake};

struct Noop;

impl Wake for Noop {
    fn wake(self: Arc<Self>) {}
}

/// Polls `fut` to completion; a scenario that stops making progress fails instead of hanging.
fn block_on<F: Future>(fut: F) -> F::Output {
    let waker = Arc::new(Noop).into();
    let mut cx = Context::from_waker(&waker);
    let mut fut = pin!(fut);
    for _ in 0..2_000_000 {
        if let Poll::Ready(out) = fut.as_mut().poll(&mut cx) {
            return out;
        }
    }
    panic!("the scenario stalled");
}

macro_rules! scenarios {
    ($($name:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                block_on(scenarios::$name());
            }
        )*
    };
}

scenarios![
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
    handshakes_then_echo_and_close,
    server_keeps_pipelined_frame,
    handshake_failures,
    receive_owned_fits_or_closes_with_1009,
];
