//! Inputs shared by the decode and encode benches: pre-encoded frames, an in-memory stream the
//! other crates read from and write to, and an allocation counter.

use std::alloc::{GlobalAlloc, Layout, System};
use std::io::{Read, Write};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use super::Rng;

/// Distinct payloads in a corpus; message `i` carries payload `i % DISTINCT`.
pub const DISTINCT: usize = 64;

/// Size of the reads the engine is fed with, and of each read from the stream.
pub const READ_SIZE: usize = 128 * 1024;

/// Pre-encoded masked client frames.
pub struct Corpus {
    pub wire: Vec<u8>,
    pub payloads: Vec<Vec<u8>>,
    pub n: u64,
    pub size: usize,
    pub text: bool,
}

impl Corpus {
    /// About `total` bytes of single-frame masked client messages of `size` bytes (a different
    /// masking key per frame), binary or valid UTF-8 text.
    pub fn new(size: usize, total: usize, text: bool) -> Corpus {
        let mut rng = Rng(0x1234_5678_9abc_def1);
        let payloads: Vec<Vec<u8>> = (0..DISTINCT)
            .map(|_| {
                if text {
                    rng.text(size)
                } else {
                    rng.bytes(size)
                }
            })
            .collect();
        let frame_len = size + super::payload_offset(size);
        let n = (total / frame_len).max(16);
        let mut wire = Vec::with_capacity(n * frame_len);
        for i in 0..n {
            let p = &payloads[i % DISTINCT];
            let key = (rng.next() as u32 | 0x0101_0101).to_ne_bytes();
            wire.push(if text { 0x81 } else { 0x82 });
            if size < 126 {
                wire.push(0x80 | size as u8);
            } else if size <= 0xFFFF {
                wire.push(0x80 | 126);
                wire.extend_from_slice(&(size as u16).to_be_bytes());
            } else {
                wire.push(0x80 | 127);
                wire.extend_from_slice(&(size as u64).to_be_bytes());
            }
            wire.extend_from_slice(&key);
            wire.extend(p.iter().enumerate().map(|(j, b)| b ^ key[j & 3]));
        }
        Corpus {
            wire,
            payloads,
            n: n as u64,
            size,
            text,
        }
    }

    pub fn bytes(&self) -> u64 {
        self.n * self.size as u64
    }
}

/// An in-memory "socket": reads serve a buffer, writes are counted and dropped.
pub struct MemStream<'a> {
    data: &'a [u8],
    pos: usize,
    pub written: u64,
}

impl<'a> MemStream<'a> {
    pub fn new(data: &'a [u8]) -> Self {
        MemStream {
            data,
            pos: 0,
            written: 0,
        }
    }
}

impl Read for MemStream<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = buf.len().min(self.data.len() - self.pos);
        buf[..n].copy_from_slice(&self.data[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

impl Write for MemStream<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.written += buf.len() as u64;
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl AsyncRead for MemStream<'_> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let n = buf.remaining().min(self.data.len() - self.pos);
        let p = self.pos;
        buf.put_slice(&self.data[p..p + n]);
        self.pos += n;
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for MemStream<'_> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        self.written += buf.len() as u64;
        Poll::Ready(Ok(buf.len()))
    }
    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let n: usize = bufs.iter().map(|b| b.len()).sum();
        self.written += n as u64;
        Poll::Ready(Ok(n))
    }
    fn is_write_vectored(&self) -> bool {
        true
    }
    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

/// The system allocator, counting allocations while [`count_allocs`] runs. Outside it the
/// cost is one relaxed load of a flag, so timed runs are unaffected.
pub struct CountingAlloc;

static COUNTING: AtomicBool = AtomicBool::new(false);
static ALLOCS: AtomicU64 = AtomicU64::new(0);

// SAFETY: defers to `System` for every operation; only counts on the side.
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if COUNTING.load(Ordering::Relaxed) {
            ALLOCS.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if COUNTING.load(Ordering::Relaxed) {
            ALLOCS.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if COUNTING.load(Ordering::Relaxed) {
            ALLOCS.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

/// Runs `f` and returns its result with the number of allocations (and reallocations) made
/// meanwhile by this process. Single-threaded benches only.
pub fn count_allocs<R>(f: impl FnOnce() -> R) -> (R, u64) {
    let before = ALLOCS.load(Ordering::Relaxed);
    COUNTING.store(true, Ordering::Relaxed);
    let r = f();
    COUNTING.store(false, Ordering::Relaxed);
    (r, ALLOCS.load(Ordering::Relaxed) - before)
}

/// `dst = src ^ key` in one pass, for the ceilings: 32-byte AVX2 vectors where the CPU has them
/// (run-time detection, as the reference loop), 8-byte words otherwise and for the tail.
pub fn xor_copy(dst: &mut [u8], src: &[u8], key: [u8; 4]) {
    assert_eq!(dst.len(), src.len());
    let mut done = 0;
    #[cfg(target_arch = "x86_64")]
    if std::is_x86_feature_detected!("avx2") {
        // SAFETY: AVX2 was just detected; the lengths are equal (asserted).
        done = unsafe { xor_copy_avx2(dst, src, key) };
    }
    let k = u32::from_ne_bytes(key) as u64;
    let k = k | (k << 32);
    let (dst, src) = (&mut dst[done..], &src[done..]);
    let mut d8 = dst.chunks_exact_mut(8);
    let mut s8 = src.chunks_exact(8);
    for (d, s) in (&mut d8).zip(&mut s8) {
        d.copy_from_slice(&(u64::from_ne_bytes(s.try_into().unwrap()) ^ k).to_ne_bytes());
    }
    for (i, (d, s)) in d8
        .into_remainder()
        .iter_mut()
        .zip(s8.remainder())
        .enumerate()
    {
        *d = s ^ key[i & 3];
    }
}

/// The whole 32-byte blocks of `src` into `dst`, masked; returns how many bytes it did (a
/// multiple of 32, so the key phase is unchanged after them).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn xor_copy_avx2(dst: &mut [u8], src: &[u8], key: [u8; 4]) -> usize {
    use std::arch::x86_64::*;
    let n = src.len().min(dst.len()) / 32 * 32;
    let k = _mm256_set1_epi32(i32::from_ne_bytes(key));
    let (s, d) = (src.as_ptr(), dst.as_mut_ptr());
    let mut i = 0;
    while i < n {
        // SAFETY: i + 32 <= n <= both lengths; unaligned loads and stores.
        unsafe {
            let v = _mm256_loadu_si256(s.add(i) as *const __m256i);
            _mm256_storeu_si256(d.add(i) as *mut __m256i, _mm256_xor_si256(v, k));
        }
        i += 32;
    }
    n
}
