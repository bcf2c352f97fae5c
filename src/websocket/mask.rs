//! Unmasking client frames in place: every payload byte XORed with the
//! frame's 4-byte key, the key's phase carried across calls so a payload
//! split over several reads unmasks piece by piece.
//!
//! The wide paths XOR 32 (AVX2) or 16 (SSE2, NEON) bytes a step with the key
//! repeated to that width; the instruction set is chosen once at run time.
//! The byte loop handles what is left and every other target.

/// Unmasks `buf` in place with `key`, starting at key byte `phase` (0..4);
/// returns the phase for the bytes that follow.
#[inline]
pub fn unmask(buf: &mut [u8], key: [u8; 4], phase: usize) -> usize {
    let phase = phase & 3;
    if buf.len() < 16 {
        return unmask_bytes(buf, key, phase);
    }
    // The key rotated so that it starts at `phase`: every wide step begins
    // at a multiple of 4 bytes from here, so it stays in phase.
    let rotated = u32::from_le_bytes(key)
        .rotate_right(8 * phase as u32)
        .to_le_bytes();
    let done = wide::unmask(buf, rotated);
    unmask_bytes(&mut buf[done..], key, (phase + done) & 3)
}

/// The byte loop: the reference, and the tail of the wide paths.
#[inline]
pub fn unmask_bytes(buf: &mut [u8], key: [u8; 4], phase: usize) -> usize {
    let mut p = phase & 3;
    for b in buf.iter_mut() {
        *b ^= key[p];
        p = (p + 1) & 3;
    }
    p
}

/// Eight bytes a step with the key as a u64: what a target without SIMD gets.
fn unmask_words(buf: &mut [u8], key: [u8; 4]) -> usize {
    let k = u64::from_ne_bytes([
        key[0], key[1], key[2], key[3], key[0], key[1], key[2], key[3],
    ]);
    let mut chunks = buf.chunks_exact_mut(8);
    for c in &mut chunks {
        let w = u64::from_ne_bytes(c[..8].try_into().unwrap()) ^ k;
        c.copy_from_slice(&w.to_ne_bytes());
    }
    buf.len() / 8 * 8
}

#[cfg(target_arch = "x86_64")]
mod wide {
    use std::arch::x86_64::*;
    use std::sync::atomic::{AtomicU8, Ordering};

    const UNKNOWN: u8 = 0;
    const AVX2: u8 = 1;
    const SSE2: u8 = 2;
    static CHOSEN: AtomicU8 = AtomicU8::new(UNKNOWN);

    /// Unmasks the longest prefix the wide path covers; returns its length
    /// (a multiple of 4, so the phase is unchanged after it).
    #[inline]
    pub fn unmask(buf: &mut [u8], key: [u8; 4]) -> usize {
        let chosen = match CHOSEN.load(Ordering::Relaxed) {
            UNKNOWN => {
                let c = if is_x86_feature_detected!("avx2") {
                    AVX2
                } else {
                    SSE2
                };
                CHOSEN.store(c, Ordering::Relaxed);
                c
            }
            c => c,
        };
        // SAFETY: AVX2 only when the CPU has it; SSE2 is part of x86-64.
        unsafe {
            if chosen == AVX2 {
                avx2(buf, key)
            } else {
                sse2(buf, key)
            }
        }
    }

    #[target_feature(enable = "avx2")]
    unsafe fn avx2(buf: &mut [u8], key: [u8; 4]) -> usize {
        let k = _mm256_set1_epi32(i32::from_le_bytes(key));
        let n = buf.len() / 32 * 32;
        let p = buf.as_mut_ptr();
        let mut i = 0;
        while i < n {
            // SAFETY: i + 32 <= n <= buf.len(); unaligned loads and stores.
            let v = _mm256_loadu_si256(p.add(i) as *const __m256i);
            _mm256_storeu_si256(p.add(i) as *mut __m256i, _mm256_xor_si256(v, k));
            i += 32;
        }
        n + sse2(&mut buf[n..], key)
    }

    #[target_feature(enable = "sse2")]
    unsafe fn sse2(buf: &mut [u8], key: [u8; 4]) -> usize {
        let k = _mm_set1_epi32(i32::from_le_bytes(key));
        let n = buf.len() / 16 * 16;
        let p = buf.as_mut_ptr();
        let mut i = 0;
        while i < n {
            // SAFETY: i + 16 <= n <= buf.len(); unaligned loads and stores.
            let v = _mm_loadu_si128(p.add(i) as *const __m128i);
            _mm_storeu_si128(p.add(i) as *mut __m128i, _mm_xor_si128(v, k));
            i += 16;
        }
        n
    }
}

#[cfg(target_arch = "aarch64")]
mod wide {
    use std::arch::aarch64::*;

    /// NEON is part of aarch64: no detection needed.
    #[inline]
    pub fn unmask(buf: &mut [u8], key: [u8; 4]) -> usize {
        let n = buf.len() / 16 * 16;
        let p = buf.as_mut_ptr();
        // SAFETY: NEON is always present on aarch64; i + 16 <= n <= buf.len().
        unsafe {
            let k = vreinterpretq_u8_u32(vdupq_n_u32(u32::from_le_bytes(key)));
            let mut i = 0;
            while i < n {
                let v = vld1q_u8(p.add(i));
                vst1q_u8(p.add(i), veorq_u8(v, k));
                i += 16;
            }
        }
        n
    }
}

#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
mod wide {
    #[inline]
    pub fn unmask(buf: &mut [u8], key: [u8; 4]) -> usize {
        super::unmask_words(buf, key)
    }
}

/// For the benchmark: the portable word loop, beside the byte loop.
pub fn unmask_portable(buf: &mut [u8], key: [u8; 4], phase: usize) -> usize {
    let phase = phase & 3;
    let rotated = u32::from_le_bytes(key)
        .rotate_right(8 * phase as u32)
        .to_le_bytes();
    let done = unmask_words(buf, rotated);
    unmask_bytes(&mut buf[done..], key, (phase + done) & 3)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_length_alignment_and_phase_matches_the_byte_loop() {
        let key = [0x37, 0xfa, 0x21, 0x3d];
        let data: Vec<u8> = (0..4096 + 64).map(|i| (i * 31 % 251) as u8).collect();
        for len in 0..=4096usize {
            // Alignments 0..32 at small lengths, a few at large ones (time).
            let offsets: &[usize] = if len < 300 {
                &[0, 1, 2, 3, 5, 7, 13, 31]
            } else {
                &[0, 3, 17]
            };
            for &off in offsets {
                for phase in 0..4 {
                    let mut a = data[off..off + len].to_vec();
                    let mut b = a.clone();
                    let pa = unmask(&mut a, key, phase);
                    let pb = unmask_bytes(&mut b, key, phase);
                    assert_eq!(pa, pb, "phase after len {len} off {off} phase {phase}");
                    assert!(a == b, "bytes at len {len} off {off} phase {phase}");
                    let mut c = data[off..off + len].to_vec();
                    assert_eq!(unmask_portable(&mut c, key, phase), pb);
                    assert!(c == b, "portable at len {len} off {off} phase {phase}");
                }
            }
        }
    }

    #[test]
    fn a_payload_split_anywhere_unmasks_as_a_whole() {
        let key = [1, 2, 3, 250];
        let whole: Vec<u8> = (0..1000).map(|i| i as u8).collect();
        let mut expect = whole.clone();
        unmask_bytes(&mut expect, key, 0);
        for cut in [0, 1, 3, 15, 16, 17, 100, 999, 1000] {
            let mut got = whole.clone();
            let (a, b) = got.split_at_mut(cut);
            let p = unmask(a, key, 0);
            unmask(b, key, p);
            assert_eq!(got, expect, "cut at {cut}");
        }
    }
}
