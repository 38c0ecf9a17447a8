//! In-place XOR masking (RFC 6455 §5.3) of 16 B … 1 MiB: sockeye's `apply_mask` next to
//! `fastwebsockets::unmask`, the loops the other crates use internally (their masking functions
//! are private, so the same approach stands in for them), and a memcpy of the same size.
//!
//! The buffer starts where a payload starts inside a masked client frame (6, 8 or 14 bytes into
//! the read buffer), so it is never 8-byte aligned, as in a real server.
//!
//! `SOCKEYE_BENCH=table cargo bench -p sockeye-benches --bench mask` for the interleaved table;
//! see `benches/README.md`.

mod common;

use std::hint::black_box;

use common::{payload_offset, size_name, Group, Harness, Kind};

const KEY: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

/// Byte at a time: the definition.
fn mask_bytes(buf: &mut [u8], key: [u8; 4]) {
    for (i, b) in buf.iter_mut().enumerate() {
        *b ^= key[i & 3];
    }
}

/// 8-byte words through unaligned loads and stores, bytes for the tail.
fn mask_u64(buf: &mut [u8], key: [u8; 4]) {
    let k = u32::from_ne_bytes(key) as u64;
    let k = k | (k << 32);
    let mut words = buf.chunks_exact_mut(8);
    for w in &mut words {
        let v = u64::from_ne_bytes(w.try_into().unwrap()) ^ k;
        w.copy_from_slice(&v.to_ne_bytes());
    }
    mask_bytes(words.into_remainder(), key);
}

/// 4-byte aligned words with bytes at both ends (tungstenite's approach).
fn mask_u32_aligned(buf: &mut [u8], key: [u8; 4]) {
    // SAFETY: every bit pattern is a valid u32.
    let (pre, mid, post) = unsafe { buf.align_to_mut::<u32>() };
    let head = pre.len();
    mask_bytes(pre, key);
    let k = u32::from_ne_bytes([
        key[head & 3],
        key[(head + 1) & 3],
        key[(head + 2) & 3],
        key[(head + 3) & 3],
    ]);
    for w in mid.iter_mut() {
        *w ^= k;
    }
    let off = head + mid.len() * 4;
    for (i, b) in post.iter_mut().enumerate() {
        *b ^= key[(off + i) & 3];
    }
}

/// 32-byte AVX2 loop with runtime detection (tokio-websockets' approach), u64 words after.
fn mask_avx2(buf: &mut [u8], key: [u8; 4]) {
    #[cfg(target_arch = "x86_64")]
    {
        #[target_feature(enable = "avx2")]
        unsafe fn inner(buf: &mut [u8], key: [u8; 4]) {
            use std::arch::x86_64::*;
            let k = _mm256_set1_epi32(i32::from_ne_bytes(key));
            let n = buf.len() / 32 * 32;
            let p = buf.as_mut_ptr();
            let mut i = 0;
            while i < n {
                // SAFETY: i + 32 <= n <= buf.len(); unaligned loads and stores.
                unsafe {
                    let v = _mm256_loadu_si256(p.add(i) as *const __m256i);
                    _mm256_storeu_si256(p.add(i) as *mut __m256i, _mm256_xor_si256(v, k));
                }
                i += 32;
            }
            mask_u64(&mut buf[n..], key); // n is a multiple of 4: the key phase is unchanged
        }
        if std::is_x86_feature_detected!("avx2") {
            // SAFETY: AVX2 was just detected.
            return unsafe { inner(buf, key) };
        }
    }
    mask_u64(buf, key)
}

fn check() {
    type MaskFn = fn(&mut [u8], [u8; 4]);
    let fns: [(&str, MaskFn); 5] = [
        ("sockeye", |b, k| sockeye_core::mask::apply_mask(b, k, 0)),
        ("u64", mask_u64),
        ("u32", mask_u32_aligned),
        ("avx2", mask_avx2),
        ("fastwebsockets", fastwebsockets::unmask),
    ];
    for len in 0..300 {
        for off in 0..8 {
            let base: Vec<u8> = (0..len + off).map(|i| (i * 7 + 3) as u8).collect();
            let mut want = base.clone();
            mask_bytes(&mut want[off..], KEY);
            for (name, f) in fns {
                let mut got = base.clone();
                f(&mut got[off..], KEY);
                assert_eq!(got, want, "{name}: len {len}, offset {off}");
            }
        }
    }
}

fn main() {
    check();
    let mut h = Harness::from_env("mask");
    for size in [16usize, 125, 1024, 64 << 10, 1 << 20] {
        let off = payload_offset(size);
        let mut bufs: Vec<Vec<u8>> = (0..7).map(|i| vec![i as u8; size + off]).collect();
        let src = vec![7u8; size + off];
        let mut g = Group::new(format!("mask/{}", size_name(size)), size as u64, 0);
        let mut it = bufs.iter_mut().map(|b| &mut b[off..]);
        let (b0, b1, b2, b3, b4, b5) = (
            it.next().unwrap(),
            it.next().unwrap(),
            it.next().unwrap(),
            it.next().unwrap(),
            it.next().unwrap(),
            it.next().unwrap(),
        );
        let src = &src[off..];
        g.add("memcpy (same size; reference)", Kind::Ceiling, move || {
            black_box(&mut *b0).copy_from_slice(black_box(src));
        });
        g.add("sockeye apply_mask", Kind::Sockeye, move || {
            sockeye_core::mask::apply_mask(black_box(&mut *b1), black_box(KEY), 0);
        });
        g.add("fastwebsockets::unmask", Kind::Other, move || {
            fastwebsockets::unmask(black_box(&mut *b2), black_box(KEY));
        });
        g.add("u64 word loop", Kind::Other, move || {
            mask_u64(black_box(&mut *b3), black_box(KEY));
        });
        g.add(
            "AVX2 32-byte loop (tokio-websockets' approach)",
            Kind::Other,
            move || {
                mask_avx2(black_box(&mut *b4), black_box(KEY));
            },
        );
        g.add(
            "u32 aligned loop (tungstenite's approach)",
            Kind::Other,
            move || {
                mask_u32_aligned(black_box(&mut *b5), black_box(KEY));
            },
        );
        h.run(g);
    }
    h.finish();
}
