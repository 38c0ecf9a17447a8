//! Two [embassy-net](https://docs.rs/embassy-net) stacks in one process, joined by an
//! in-memory IP link, so that `sockeye-embedded` can be tested through the TCP stack that
//! firmware actually uses (smoltcp, with its retransmissions, windows, FIN and RST) without a
//! network, a device or root rights.
//!
//! [`link`] returns the two ends of a point-to-point link. Each end is an
//! [`embassy_net_driver::Driver`] for the IP medium (no Ethernet, no ARP): what one stack
//! transmits is queued for the other, in order, and wakes it. The [`Cut`] handle drops every
//! packet from then on in both directions, silently — a pulled cable somewhere on the path,
//! which neither TCP stack can see, so only the WebSocket keepalive can notice.
//!
//! Time is virtual: embassy-time's mock driver. [`run_virtual`] polls a test's future and,
//! whenever nothing is ready, moves the clock to the next millisecond, so that timers — the
//! stacks' retransmissions, the WebSocket keepalive and close timeout — fire in order, a
//! minute of protocol time passes in milliseconds, and every run is the same.
#![forbid(unsafe_code)]

use std::cell::RefCell;
use std::collections::VecDeque;
use std::future::Future;
use std::pin::pin;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};

use embassy_net_driver::{Capabilities, Driver, HardwareAddress, LinkState, RxToken, TxToken};

/// The IP MTU of the link.
pub const MTU: usize = 1500;

/// Packets queued towards one end before the link drops more, like a full device queue:
/// memory stays bounded whatever a stack sends, and TCP retransmits what was dropped.
pub const QUEUE_LIMIT: usize = 64;

#[derive(Default)]
struct Shared {
    /// Packets waiting to be received by end 0 and end 1.
    queues: [VecDeque<Vec<u8>>; 2],
    /// The wakers of the stacks waiting to receive at end 0 and end 1.
    wakers: [Option<Waker>; 2],
    cut: bool,
    /// Packets dropped because the link was cut.
    dropped: usize,
}

/// One end of the link: the network device of one embassy-net stack.
pub struct End {
    shared: Rc<RefCell<Shared>>,
    side: usize,
}

/// Cuts the link: from [`Cut::cut`] on, every packet is dropped in both directions.
#[derive(Clone)]
pub struct Cut(Rc<RefCell<Shared>>);

impl Cut {
    /// Drops every packet from now on, and those still queued.
    pub fn cut(&self) {
        let mut shared = self.0.borrow_mut();
        shared.cut = true;
        let queued: usize = shared.queues.iter().map(VecDeque::len).sum();
        shared.dropped += queued;
        shared.queues.iter_mut().for_each(VecDeque::clear);
    }

    /// How many packets the cut link has dropped so far.
    pub fn dropped(&self) -> usize {
        self.0.borrow().dropped
    }
}

/// A point-to-point IP link: its two ends and the handle that cuts it.
pub fn link() -> (End, End, Cut) {
    let shared = Rc::new(RefCell::new(Shared::default()));
    let end = |side| End {
        shared: shared.clone(),
        side,
    };
    (end(0), end(1), Cut(shared.clone()))
}

/// A received packet.
pub struct Rx(Vec<u8>);

impl RxToken for Rx {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(mut self, f: F) -> R {
        f(&mut self.0)
    }
}

/// Permission to send one packet towards the other end.
pub struct Tx {
    shared: Rc<RefCell<Shared>>,
    to: usize,
}

impl TxToken for Tx {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
        let mut packet = vec![0; len];
        let result = f(&mut packet);
        let mut shared = self.shared.borrow_mut();
        if shared.cut {
            shared.dropped += 1;
        } else if shared.queues[self.to].len() < QUEUE_LIMIT {
            shared.queues[self.to].push_back(packet);
            if let Some(waker) = shared.wakers[self.to].take() {
                waker.wake();
            }
        }
        result
    }
}

impl Driver for End {
    type RxToken<'a> = Rx;
    type TxToken<'a> = Tx;

    fn receive(&mut self, cx: &mut Context) -> Option<(Rx, Tx)> {
        let mut shared = self.shared.borrow_mut();
        match shared.queues[self.side].pop_front() {
            Some(packet) => Some((
                Rx(packet),
                Tx {
                    shared: self.shared.clone(),
                    to: 1 - self.side,
                },
            )),
            None => {
                shared.wakers[self.side] = Some(cx.waker().clone());
                None
            }
        }
    }

    fn transmit(&mut self, _cx: &mut Context) -> Option<Tx> {
        Some(Tx {
            shared: self.shared.clone(),
            to: 1 - self.side,
        })
    }

    fn link_state(&mut self, _cx: &mut Context) -> LinkState {
        // A cut further along the path is invisible to the device: the link stays up.
        LinkState::Up
    }

    fn capabilities(&self) -> Capabilities {
        let mut caps = Capabilities::default();
        caps.max_transmission_unit = MTU;
        caps
    }

    fn hardware_address(&self) -> HardwareAddress {
        HardwareAddress::Ip
    }
}

/// Set by the test future's waker.
struct Woken(AtomicBool);

impl Wake for Woken {
    fn wake(self: Arc<Self>) {
        self.0.store(true, Ordering::SeqCst);
    }
}

/// The step by which [`run_virtual`] advances the clock while nothing is ready.
pub const TICK: embassy_time::Duration = embassy_time::Duration::from_millis(1);

/// Polls in a row at one instant after which [`run_virtual`] advances the clock anyway.
pub const BUSY_POLLS: u32 = 64;

/// Runs `future` to completion in virtual time, and returns its output, or `None` if it was
/// still pending after `limit` of virtual time (a hang, reported instead of hanging the test).
///
/// The future is polled until it is neither ready nor woken; then the mock clock moves on by
/// [`TICK`], which wakes the timers that came due. Nothing else advances the clock, so the
/// tests that use it must not run in parallel in one process (they take a lock).
pub fn run_virtual<F: Future>(limit: embassy_time::Duration, future: F) -> Option<F::Output> {
    let woken = Arc::new(Woken(AtomicBool::new(false)));
    let waker = Waker::from(woken.clone());
    let mut cx = Context::from_waker(&waker);
    let mut future = pin!(future);
    let clock = embassy_time::MockDriver::get();
    let end = embassy_time::Instant::now() + limit;
    let mut busy = 0u32;
    loop {
        woken.0.store(false, Ordering::SeqCst);
        if let Poll::Ready(output) = future.as_mut().poll(&mut cx) {
            return Some(output);
        }
        // A stack that asks to be polled again at the same instant (smoltcp does, while it has
        // something to send) would otherwise stop the clock: time passes after BUSY_POLLS.
        busy += 1;
        if !woken.0.load(Ordering::SeqCst) || busy >= BUSY_POLLS {
            busy = 0;
            if embassy_time::Instant::now() >= end {
                return None;
            }
            clock.advance(TICK);
        }
    }
}
