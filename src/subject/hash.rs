//! A small, fast, seeded hasher for short byte strings and small keys.
//!
//! Each 8-byte word is mixed in with a folded 64x64->128 multiply, so every
//! input bit reaches the low bits hashbrown uses for bucket selection (a
//! plain FxHash leaves differences in a final word's high bytes in the high
//! bits only). The seed is random per [`FastHashBuilder::new`], which keeps
//! bucket layouts unpredictable across instances; it is not a keyed PRF and
//! makes no HashDoS guarantee beyond that.

use std::hash::{BuildHasher, Hasher};

const MUL: u64 = 0x9E37_79B9_7F4A_7C15;

#[inline(always)]
fn fold_mul(a: u64, b: u64) -> u64 {
    let p = (a as u128).wrapping_mul(b as u128);
    (p as u64) ^ ((p >> 64) as u64)
}

#[inline(always)]
fn read_u64(b: &[u8], i: usize) -> u64 {
    let mut w = [0u8; 8];
    w.copy_from_slice(&b[i..i + 8]);
    u64::from_le_bytes(w)
}

#[inline(always)]
fn read_u32(b: &[u8], i: usize) -> u32 {
    let mut w = [0u8; 4];
    w.copy_from_slice(&b[i..i + 4]);
    u32::from_le_bytes(w)
}

/// The hasher built by [`FastHashBuilder`].
#[derive(Clone, Copy, Debug)]
pub struct FastHasher {
    h: u64,
}

impl FastHasher {
    #[inline(always)]
    fn add(&mut self, w: u64) {
        self.h = fold_mul(self.h ^ w, MUL);
    }
}

impl Hasher for FastHasher {
    /// Whole 8-byte words, then the tail as one overlapping word (or, under
    /// 8 bytes, overlapping halves), with no variable-length copy. Which
    /// bytes overlap depends only on the length, which `Hash for [u8]`
    /// hashes first, so equal-length inputs never alias.
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let n = bytes.len();
        if n >= 8 {
            let mut i = 0;
            while i + 8 <= n {
                self.add(read_u64(bytes, i));
                i += 8;
            }
            if i < n {
                self.add(read_u64(bytes, n - 8));
            }
        } else if n >= 4 {
            let lo = read_u32(bytes, 0) as u64;
            let hi = read_u32(bytes, n - 4) as u64;
            self.add(lo | (hi << 32));
        } else if n > 0 {
            let w = bytes[0] as u64 | (bytes[n / 2] as u64) << 8 | (bytes[n - 1] as u64) << 16;
            self.add(w);
        }
    }

    #[inline]
    fn write_u8(&mut self, i: u8) {
        self.add(i as u64);
    }

    #[inline]
    fn write_u16(&mut self, i: u16) {
        self.add(i as u64);
    }

    #[inline]
    fn write_u32(&mut self, i: u32) {
        self.add(i as u64);
    }

    #[inline]
    fn write_u64(&mut self, i: u64) {
        self.add(i);
    }

    #[inline]
    fn write_u128(&mut self, i: u128) {
        self.add(i as u64);
        self.add((i >> 64) as u64);
    }

    #[inline]
    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }

    #[inline]
    fn finish(&self) -> u64 {
        self.h
    }
}

/// Builds [`FastHasher`]s from a per-instance random seed.
#[derive(Clone, Copy, Debug)]
pub struct FastHashBuilder {
    seed: u64,
}

impl FastHashBuilder {
    /// A builder with a random seed.
    pub fn new() -> Self {
        Self::with_seed(fastrand::u64(..))
    }

    /// A builder with a fixed seed (reproducible layouts, for tests).
    pub fn with_seed(seed: u64) -> Self {
        Self { seed }
    }
}

impl Default for FastHashBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl BuildHasher for FastHashBuilder {
    type Hasher = FastHasher;

    #[inline]
    fn build_hasher(&self) -> FastHasher {
        FastHasher { h: self.seed }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn equal_inputs_hash_equal() {
        let b = FastHashBuilder::with_seed(7);
        assert_eq!(
            b.hash_one(b"foo.bar" as &[u8]),
            b.hash_one(b"foo.bar" as &[u8])
        );
        assert_ne!(
            b.hash_one(b"foo.bar" as &[u8]),
            b.hash_one(b"foo.baz" as &[u8])
        );
        // The length prefix separates overlapping reads of different lengths.
        assert_ne!(b.hash_one(b"ab" as &[u8]), b.hash_one(b"abb" as &[u8]));
        assert_ne!(
            b.hash_one(b"abcdefgh" as &[u8]),
            b.hash_one(b"abcdefghh" as &[u8])
        );
    }

    #[test]
    fn every_byte_position_counts() {
        let b = FastHashBuilder::with_seed(3);
        for len in 1..40 {
            let base = vec![b'x'; len];
            let h0 = b.hash_one(&base[..]);
            for i in 0..len {
                let mut k = base.clone();
                k[i] = b'y';
                assert_ne!(b.hash_one(&k[..]), h0, "len {len} byte {i} ignored");
            }
        }
    }

    #[test]
    fn last_byte_differences_reach_low_bits() {
        // 16-byte keys differing only in their final byte must still spread
        // over the low bits (bucket index).
        let b = FastHashBuilder::with_seed(0);
        let mut low = HashSet::new();
        for c in 0u8..=255 {
            let mut key = *b"sensor.reading.A";
            key[15] = c;
            low.insert(b.hash_one(&key[..]) & 0x3ff);
        }
        assert!(
            low.len() > 180,
            "only {} distinct low-bit buckets",
            low.len()
        );
    }
}
