//! Choosing which member of a queue group gets a message.
//!
//! A queue group delivers each message to one member, chosen at random
//! (`fastrand`, thread-local, no allocation). The members may be of different
//! kinds — say an enum of local connections and remote shards — and the
//! helpers below let the caller pick uniformly, prefer one kind, weight
//! members (a remote shard standing for several subscribers), spread the
//! pick over local members and weighted remote entries, or walk all
//! members from a random start to fall back when a delivery fails.

/// One member chosen uniformly at random, `None` if the group is empty.
#[inline]
pub fn pick<T: Copy>(members: &[T]) -> Option<T> {
    match members.len() {
        0 => None,
        1 => Some(members[0]),
        n => Some(members[fastrand::usize(..n)]),
    }
}

/// One member chosen uniformly among those for which `preferred` holds;
/// if none does, one chosen uniformly among all members.
///
/// For example prefer local connections and only hand the message to a
/// remote shard when no local member exists (what nats-server does for
/// routes). Two passes over `members`, no allocation.
pub fn pick_preferred<T: Copy>(members: &[T], mut preferred: impl FnMut(T) -> bool) -> Option<T> {
    let n = members.iter().filter(|&&m| preferred(m)).count();
    if n == 0 {
        return pick(members);
    }
    let k = fastrand::usize(..n);
    members.iter().copied().filter(|&m| preferred(m)).nth(k)
}

/// One member chosen with probability proportional to `weight(member)`;
/// members of weight 0 are never chosen. `None` if the total weight is 0.
///
/// For example a remote shard entry weighted by the number of subscribers
/// it stands for, so every subscriber of the group is equally likely.
pub fn pick_weighted<T: Copy>(members: &[T], mut weight: impl FnMut(T) -> u32) -> Option<T> {
    let total: u64 = members.iter().map(|&m| u64::from(weight(m))).sum();
    if total == 0 {
        return None;
    }
    let mut r = fastrand::u64(..total);
    for &m in members {
        let w = u64::from(weight(m));
        if r < w {
            return Some(m);
        }
        r -= w;
    }
    None
}

/// Where [`pick_spread`] found the member.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Spread<T> {
    /// The local member at this index.
    Local(usize),
    /// A remote entry: it picks one of the members it stands for.
    Remote(T),
}

/// One member of a group spread over places: `local` members here, and
/// remote entries each standing for `weight(entry)` members. Every member
/// is equally likely wherever it is (so a place with two members gets
/// twice the messages of a place with one). `None` when there is none.
pub fn pick_spread<T: Copy>(
    local: usize,
    remote: &[T],
    mut weight: impl FnMut(T) -> u32,
) -> Option<Spread<T>> {
    if remote.is_empty() {
        return match local {
            0 => None,
            1 => Some(Spread::Local(0)),
            n => Some(Spread::Local(fastrand::usize(..n))),
        };
    }
    let remote_total: u64 = remote.iter().map(|&m| u64::from(weight(m))).sum();
    let total = local as u64 + remote_total;
    if total == 0 {
        return None;
    }
    let mut r = fastrand::u64(..total);
    if r < local as u64 {
        return Some(Spread::Local(r as usize));
    }
    r -= local as u64;
    for &m in remote {
        let w = u64::from(weight(m));
        if r < w {
            return Some(Spread::Remote(m));
        }
        r -= w;
    }
    None
}

/// All members, each once, starting at a random index and wrapping around.
///
/// For a caller that tries members in turn until a delivery succeeds (for
/// example skipping closed connections); the first item is a uniform pick.
pub fn rotation<T: Copy>(members: &[T]) -> impl Iterator<Item = T> + '_ {
    let start = if members.is_empty() {
        0
    } else {
        fastrand::usize(..members.len())
    };
    members[start..]
        .iter()
        .chain(members[..start].iter())
        .copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    enum Member {
        Local(u32),
        Remote(u16),
    }

    #[test]
    fn pick_empty_and_single() {
        assert_eq!(pick::<u32>(&[]), None);
        assert_eq!(pick(&[7u32]), Some(7));
    }

    #[test]
    fn pick_reaches_every_member() {
        let members = [1u32, 2, 3, 4];
        let mut seen = [0usize; 5];
        for _ in 0..4000 {
            seen[pick(&members).unwrap() as usize] += 1;
        }
        for &c in &seen[1..] {
            assert!(c > 700, "distribution too skewed: {seen:?}");
        }
    }

    #[test]
    fn pick_preferred_prefers_and_falls_back() {
        let mixed = [
            Member::Remote(1),
            Member::Local(10),
            Member::Remote(2),
            Member::Local(11),
        ];
        let local = |m: Member| matches!(m, Member::Local(_));
        let mut seen = [false; 2];
        for _ in 0..500 {
            match pick_preferred(&mixed, local).unwrap() {
                Member::Local(10) => seen[0] = true,
                Member::Local(11) => seen[1] = true,
                other => panic!("picked non-preferred {other:?}"),
            }
        }
        assert!(seen[0] && seen[1]);

        let remote_only = [Member::Remote(1), Member::Remote(2)];
        assert!(matches!(
            pick_preferred(&remote_only, local),
            Some(Member::Remote(_))
        ));
        assert_eq!(pick_preferred::<Member>(&[], local), None);
    }

    #[test]
    fn pick_weighted_follows_weights() {
        let members = [Member::Local(1), Member::Remote(9), Member::Remote(0)];
        let weight = |m: Member| match m {
            Member::Local(_) => 1,
            Member::Remote(n) => u32::from(n),
        };
        let mut remote = 0;
        for _ in 0..10_000 {
            match pick_weighted(&members, weight).unwrap() {
                Member::Remote(9) => remote += 1,
                Member::Local(1) => {}
                other => panic!("weight 0 member picked: {other:?}"),
            }
        }
        // Expect 90%.
        assert!((8700..9300).contains(&remote), "remote picked {remote}");
        assert_eq!(pick_weighted(&[Member::Remote(0)], weight), None);
        assert_eq!(pick_weighted::<Member>(&[], weight), None);
    }

    #[test]
    fn pick_spread_makes_every_member_equally_likely() {
        // 1 here, 2 behind one remote entry, 3 behind another: 6 members.
        let remote = [(7u16, 2u32), (8, 3)];
        let mut here = 0;
        let mut at = [0usize; 2];
        for _ in 0..60_000 {
            match pick_spread(1, &remote, |(_, w)| w).unwrap() {
                Spread::Local(0) => here += 1,
                Spread::Remote((7, _)) => at[0] += 1,
                Spread::Remote((8, _)) => at[1] += 1,
                other => panic!("{other:?}"),
            }
        }
        // Expect 10k, 20k, 30k; 5 standard deviations is under 600.
        assert!((9_400..10_600).contains(&here), "{here}");
        assert!((19_300..20_700).contains(&at[0]), "{at:?}");
        assert!((29_300..30_700).contains(&at[1]), "{at:?}");
    }

    #[test]
    fn pick_spread_with_members_on_one_side_only() {
        assert_eq!(pick_spread::<u8>(0, &[], |_| 1), None);
        assert_eq!(pick_spread(0, &[(1u8, 0u32)], |(_, w)| w), None);
        assert_eq!(pick_spread::<u8>(1, &[], |_| 1), Some(Spread::Local(0)));
        for _ in 0..100 {
            assert!(matches!(pick_spread::<u8>(3, &[], |_| 1), Some(Spread::Local(i)) if i < 3));
            assert_eq!(
                pick_spread(0, &[(5u8, 0u32), (6, 2)], |(_, w)| w),
                Some(Spread::Remote((6, 2)))
            );
        }
    }

    #[test]
    fn rotation_visits_all_once() {
        let members = [1u32, 2, 3, 4, 5];
        for _ in 0..50 {
            let mut got: Vec<u32> = rotation(&members).collect();
            assert_eq!(got.len(), 5);
            got.sort_unstable();
            assert_eq!(got, members);
        }
        assert_eq!(rotation::<u32>(&[]).count(), 0);
    }
}
