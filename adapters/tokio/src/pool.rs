//! Read buffers shared by the connections of one thread: a connection holds a read buffer
//! only while it has bytes to decode, and gives it back here when a read would wait, so that
//! thousands of idle connections hold none (the session's `release_idle_buffers`). Taking one
//! back costs a pop, not an allocation and a 64 KiB memset.
//!
//! Bounded: at most [`MAX_POOLED`] buffers stay per thread; more are freed.

use std::cell::RefCell;

/// Buffers kept per thread beyond those in use: enough for the connections a worker thread
/// serves in one burst of wakeups, small next to what they would hold if each kept its own.
const MAX_POOLED: usize = 32;

thread_local! {
    static FREE: RefCell<Vec<Vec<u8>>> = const { RefCell::new(Vec::new()) };
}

/// A buffer of `size` bytes (contents unspecified): a pooled one if there is one of that size.
pub(crate) fn take(size: usize) -> Vec<u8> {
    let pooled = FREE.try_with(|free| free.borrow_mut().pop()).ok().flatten();
    match pooled {
        Some(buf) if buf.len() == size => buf,
        _ => vec![0; size],
    }
}

/// Gives `buf` back for another connection of this thread (freed if the pool is full).
pub(crate) fn give(buf: Vec<u8>) {
    let _ = FREE.try_with(|free| {
        let mut free = free.borrow_mut();
        if free.len() < MAX_POOLED {
            free.push(buf);
        }
    });
}

#[cfg(test)]
mod tests {
    #[test]
    fn buffers_are_reused_by_size_and_the_pool_is_bounded() {
        let a = super::take(1024);
        let ptr = a.as_ptr();
        super::give(a);
        let b = super::take(1024);
        assert_eq!(b.as_ptr(), ptr, "the same buffer again");
        super::give(b);
        assert_eq!(
            super::take(2048).len(),
            2048,
            "another size: a fresh buffer"
        );
        for _ in 0..2 * super::MAX_POOLED {
            super::give(vec![0; 16]);
        }
        assert!(super::FREE.with(|f| f.borrow().len()) <= super::MAX_POOLED);
    }
}

#[cfg(test)]
mod size {
    /// What an idle connection costs beyond its socket and task: the state the adapter keeps
    /// (engine, session, timers' slot); the buffers are released while idle. Reported, and
    /// bounded so that a regression shows.
    #[test]
    fn idle_connection_state_is_small() {
        let ws = core::mem::size_of::<crate::WebSocket<tokio::net::TcpStream>>();
        let session = core::mem::size_of::<sockeye_core::Session>();
        let engine = core::mem::size_of::<sockeye_core::Connection>();
        std::println!(
            "size_of WebSocket<TcpStream> = {ws} B (Session {session} B, Connection {engine} B)"
        );
        assert!(ws <= 1024, "{ws}");
    }
}
