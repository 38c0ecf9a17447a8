//! `EmbassyClock` (feature `embassy-time`) against embassy-time's mock driver: the engine's
//! nanosecond instants map to embassy's ticks, and a sleep ends exactly when `now()` reaches
//! the deadline, never before.

use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Wake};

use embassy_time::{Duration, MockDriver};
use sockeye_embedded::{Clock, EmbassyClock, Instant};

struct Noop;

impl Wake for Noop {
    fn wake(self: Arc<Self>) {}
}

// One test: the mock driver's time is global to the process, and tests run in parallel.
#[test]
fn sleeps_until_now_reaches_the_deadline_never_before() {
    let driver = MockDriver::get();
    let clock = EmbassyClock;
    let start = clock.now();
    // A deadline between two microseconds: the sleep must not end before it.
    let deadline = Instant::from_nanos(start.as_nanos() + 1_500_500);
    let waker = Arc::new(Noop).into();
    let mut cx = Context::from_waker(&waker);
    let mut sleep = pin!(clock.sleep_until(deadline));
    assert!(sleep.as_mut().poll(&mut cx).is_pending());
    driver.advance(Duration::from_micros(1_500));
    assert!(
        sleep.as_mut().poll(&mut cx).is_pending(),
        "1.5 ms < 1.5005 ms"
    );
    assert!(clock.now() < deadline);
    driver.advance(Duration::from_micros(1));
    assert_eq!(sleep.as_mut().poll(&mut cx), Poll::Ready(()));
    assert!(clock.now() >= deadline);

    // A deadline beyond embassy's range never comes.
    let mut never = pin!(clock.sleep_until(Instant::from_nanos(u64::MAX)));
    assert!(never.as_mut().poll(&mut cx).is_pending());
    driver.advance(Duration::from_secs(3600));
    assert!(never.as_mut().poll(&mut cx).is_pending());
}
