//! Sequence numbers in payloads and the trackers that check them.
//!
//! A payload of 8 bytes or more starts with a little-endian u64: the
//! publisher's id in the top 16 bits, its message number in the low 48.
//! Subscribers that should see every message of a publisher in order use
//! [`InOrder`] (one compare on the fast path, gaps kept as ranges, so late
//! arrivals are told from duplicates); queue members, which each see a
//! subsequence, use [`Bits`] (one bit per message, merged over members at
//! the end).

use std::collections::BTreeMap;

pub const SEQ_BITS: u32 = 48;
pub const SEQ_MASK: u64 = (1 << SEQ_BITS) - 1;
/// Most publishers a run may have (ids are 16 bits).
pub const MAX_PUBLISHERS: usize = 1 << 16;

#[inline]
pub fn make_seq(publisher: u16, n: u64) -> u64 {
    ((publisher as u64) << SEQ_BITS) | (n & SEQ_MASK)
}

#[inline]
pub fn split_seq(seq: u64) -> (usize, u64) {
    ((seq >> SEQ_BITS) as usize, seq & SEQ_MASK)
}

/// What a publisher sent, for checking at the end: messages `[0, sent)`,
/// of which `[boundary, sent)` after the warm-up.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Sent {
    pub boundary: u64,
    pub sent: u64,
}

/// Totals for one subscriber or for all.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tally {
    /// Distinct messages received after the warm-up.
    pub received: u64,
    /// Messages never received (warm-up included).
    pub lost: u64,
    /// Messages received more than once.
    pub duplicated: u64,
    /// Messages received after a later one of the same publisher.
    pub reordered: u64,
    /// Messages that no publisher sent (a foreign id or number).
    pub unexpected: u64,
}

impl std::ops::AddAssign for Tally {
    fn add_assign(&mut self, o: Tally) {
        self.received += o.received;
        self.lost += o.lost;
        self.duplicated += o.duplicated;
        self.reordered += o.reordered;
        self.unexpected += o.unexpected;
    }
}

/// Expects every message of every publisher once, in order.
#[derive(Debug, Default, Clone)]
pub struct InOrder {
    next: Vec<u64>,
    missing: Vec<BTreeMap<u64, u64>>,
    /// Distinct messages so far (all traffic).
    pub unique: u64,
    pub duplicated: u64,
    pub reordered: u64,
}

impl InOrder {
    pub fn new(publishers: usize) -> Self {
        InOrder {
            next: vec![0; publishers],
            missing: vec![BTreeMap::new(); publishers],
            ..Default::default()
        }
    }

    #[inline]
    pub fn record(&mut self, seq: u64) {
        let (p, n) = split_seq(seq);
        if let Some(next) = self.next.get_mut(p) {
            if *next == n {
                *next += 1;
                self.unique += 1;
                return;
            }
        }
        self.slow(p, n);
    }

    #[cold]
    fn slow(&mut self, p: usize, n: u64) {
        if p >= self.next.len() {
            self.next.resize(p + 1, 0);
            self.missing.resize(p + 1, BTreeMap::new());
        }
        let next = self.next[p];
        if n > next {
            self.missing[p].insert(next, n);
            self.next[p] = n + 1;
            self.unique += 1;
            return;
        }
        // n < next: a late arrival filling a gap, or a duplicate.
        let m = &mut self.missing[p];
        let hit = m
            .range(..=n)
            .next_back()
            .map(|(&s, &e)| (s, e))
            .filter(|&(_, e)| n < e);
        match hit {
            Some((s, e)) => {
                m.remove(&s);
                if s < n {
                    m.insert(s, n);
                }
                if n + 1 < e {
                    m.insert(n + 1, e);
                }
                self.unique += 1;
                self.reordered += 1;
            }
            None => self.duplicated += 1,
        }
    }

    /// Checks against what each publisher sent (`sent[p]`).
    pub fn tally(&self, sent: &[Sent]) -> Tally {
        let mut t = Tally {
            duplicated: self.duplicated,
            reordered: self.reordered,
            ..Default::default()
        };
        for (p, s) in sent.iter().enumerate() {
            let next = self.next.get(p).copied().unwrap_or(0);
            let upto = next.min(s.sent);
            if next > s.sent {
                t.unexpected += next - s.sent;
            }
            let mut missing_total = 0;
            let mut missing_measured = 0;
            if let Some(m) = self.missing.get(p) {
                for (&a, &b) in m {
                    let b = b.min(upto);
                    if a >= b {
                        continue;
                    }
                    missing_total += b - a;
                    missing_measured += b.saturating_sub(a.max(s.boundary));
                }
            }
            t.lost += missing_total + (s.sent - upto);
            t.received += upto.saturating_sub(s.boundary) - missing_measured;
        }
        for p in sent.len()..self.next.len() {
            t.unexpected += self.next[p];
        }
        t
    }
}

/// One bit per message and publisher: for queue members, which each see a
/// subsequence; merged over the members at the end.
#[derive(Debug, Default, Clone)]
pub struct Bits {
    bits: Vec<Vec<u64>>,
    last: Vec<Option<u64>>,
    /// Distinct messages this member got (all traffic).
    pub unique: u64,
    pub duplicated: u64,
    pub reordered: u64,
}

impl Bits {
    pub fn new(publishers: usize) -> Self {
        Bits {
            bits: vec![Vec::new(); publishers],
            last: vec![None; publishers],
            ..Default::default()
        }
    }

    #[inline]
    pub fn record(&mut self, seq: u64) {
        let (p, n) = split_seq(seq);
        if p >= self.bits.len() {
            self.bits.resize(p + 1, Vec::new());
            self.last.resize(p + 1, None);
        }
        let words = &mut self.bits[p];
        let w = (n / 64) as usize;
        if w >= words.len() {
            words.resize((w + 1).max(words.len() * 2), 0);
        }
        let bit = 1u64 << (n % 64);
        if words[w] & bit != 0 {
            self.duplicated += 1;
            return;
        }
        words[w] |= bit;
        self.unique += 1;
        match self.last[p] {
            Some(l) if n < l => self.reordered += 1,
            _ => self.last[p] = Some(n),
        }
    }

    /// Received after the warm-up, for the per-member spread.
    pub fn measured(&self, sent: &[Sent]) -> u64 {
        let mut total = 0;
        for (p, s) in sent.iter().enumerate() {
            if let Some(words) = self.bits.get(p) {
                total += count_range(words, s.boundary, s.sent);
            }
        }
        total
    }

    /// Merges members: a message two members got is a duplicate.
    pub fn merge(members: &[&Bits], sent: &[Sent]) -> Tally {
        let mut t = Tally::default();
        for m in members {
            t.duplicated += m.duplicated;
            t.reordered += m.reordered;
        }
        let publishers = members
            .iter()
            .map(|m| m.bits.len())
            .max()
            .unwrap_or(0)
            .max(sent.len());
        for p in 0..publishers {
            let len = members
                .iter()
                .map(|m| m.bits.get(p).map_or(0, |b| b.len()))
                .max()
                .unwrap_or(0);
            let mut union = vec![0u64; len];
            let mut sum = 0u64;
            for m in members {
                if let Some(words) = m.bits.get(p) {
                    for (u, w) in union.iter_mut().zip(words) {
                        sum += w.count_ones() as u64;
                        *u |= w;
                    }
                }
            }
            let distinct: u64 = union.iter().map(|w| w.count_ones() as u64).sum();
            t.duplicated += sum - distinct;
            match sent.get(p) {
                Some(s) => {
                    let got_all = count_range(&union, 0, s.sent);
                    t.lost += s.sent - got_all;
                    t.received += count_range(&union, s.boundary, s.sent);
                    t.unexpected += distinct - got_all;
                }
                None => t.unexpected += distinct,
            }
        }
        t
    }
}

/// Set bits in `[from, to)`.
fn count_range(words: &[u64], from: u64, to: u64) -> u64 {
    let mut c = 0u64;
    let mut i = from;
    while i < to {
        let w = (i / 64) as usize;
        if w >= words.len() {
            break;
        }
        let lo = i % 64;
        let hi = ((to - (i - lo)).min(64)) as u32;
        let mut word = words[w] >> lo;
        let width = hi - lo as u32;
        if width < 64 {
            word &= (1u64 << width) - 1;
        }
        c += word.count_ones() as u64;
        i = (w as u64 + 1) * 64;
    }
    c
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn in_order_counts_loss_dup_reorder() {
        let mut t = InOrder::new(2);
        for n in 0..10 {
            t.record(make_seq(0, n));
        }
        // Publisher 1: 0..10 with 3,4 late, 7 lost, 5 duplicated.
        for n in [0, 1, 2, 5, 6, 3, 8, 9, 5, 4] {
            t.record(make_seq(1, n));
        }
        let sent = [
            Sent {
                boundary: 2,
                sent: 10,
            },
            Sent {
                boundary: 0,
                sent: 12,
            },
        ];
        let tally = t.tally(&sent);
        assert_eq!(tally.received, 8 + 9);
        assert_eq!(tally.lost, 1 + 2); // 7, and 10, 11 never came
        assert_eq!(tally.duplicated, 1);
        assert_eq!(tally.reordered, 2);
        assert_eq!(tally.unexpected, 0);
    }

    #[test]
    fn in_order_fast_path_exact() {
        let mut t = InOrder::new(1);
        for n in 0..1000 {
            t.record(make_seq(0, n));
        }
        let tally = t.tally(&[Sent {
            boundary: 100,
            sent: 1000,
        }]);
        assert_eq!(
            tally,
            Tally {
                received: 900,
                ..Default::default()
            }
        );
        let tally = t.tally(&[Sent {
            boundary: 100,
            sent: 1001,
        }]);
        assert_eq!(tally.lost, 1);
    }

    #[test]
    fn bits_merge_members() {
        let mut a = Bits::new(1);
        let mut b = Bits::new(1);
        for n in 0..200u64 {
            if n == 150 {
                continue; // lost
            }
            if n % 2 == 0 {
                a.record(make_seq(0, n));
            } else {
                b.record(make_seq(0, n));
            }
        }
        b.record(make_seq(0, 10)); // delivered to both
        let sent = [Sent {
            boundary: 50,
            sent: 200,
        }];
        let t = Bits::merge(&[&a, &b], &sent);
        assert_eq!(t.lost, 1);
        assert_eq!(t.duplicated, 1);
        assert_eq!(t.received, 149);
        assert_eq!(t.reordered, 1); // b saw 10 after 199
        assert_eq!(a.measured(&sent) + b.measured(&sent), 149);
    }

    #[test]
    fn count_range_edges() {
        let words = vec![u64::MAX; 4];
        assert_eq!(count_range(&words, 0, 256), 256);
        assert_eq!(count_range(&words, 3, 5), 2);
        assert_eq!(count_range(&words, 63, 65), 2);
        assert_eq!(count_range(&words, 10, 300), 246);
        assert_eq!(count_range(&words, 64, 128), 64);
    }
}
