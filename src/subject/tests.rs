//! Behavior tests for the subject index, named after nats-server's
//! `sublist_test.go` where one corresponds.

use std::collections::BTreeMap;
use std::rc::Rc;

use super::*;

type Sid = u32;

fn sorted(mut v: Vec<Sid>) -> Vec<Sid> {
    v.sort_unstable();
    v
}

fn plain(r: &MatchResult<Sid>) -> Vec<Sid> {
    sorted(r.plain.clone())
}

/// Queue groups as name -> sorted members.
fn groups(r: &MatchResult<Sid>) -> BTreeMap<Vec<u8>, Vec<Sid>> {
    let mut m = BTreeMap::new();
    for g in &r.queues {
        assert!(!g.members.is_empty(), "empty queue group in result");
        let prev = m.insert(g.name.to_vec(), sorted(g.members.clone()));
        assert!(prev.is_none(), "queue group {:?} listed twice", g.name);
    }
    m
}

fn ins(s: &mut SubjectIndex<Sid>, subject: &str, v: Sid) {
    s.insert(subject.as_bytes(), None, v).unwrap();
}

fn qins(s: &mut SubjectIndex<Sid>, subject: &str, q: &str, v: Sid) {
    s.insert(subject.as_bytes(), Some(q.as_bytes()), v).unwrap();
}

fn m(s: &mut SubjectIndex<Sid>, subject: &str) -> Rc<MatchResult<Sid>> {
    s.matches(subject.as_bytes())
}

/// Every test body runs with the default cache and with no cache.
fn both(f: impl Fn(&mut SubjectIndex<Sid>)) {
    f(&mut SubjectIndex::new());
    f(&mut SubjectIndex::with_cache_capacity(0));
}

#[test]
fn sublist_init() {
    let s = SubjectIndex::<Sid>::new();
    assert_eq!(s.count(), 0);
    assert_eq!(s.node_count(), 0);
    assert!(s.is_empty());
    assert_eq!(s.cache_capacity(), DEFAULT_CACHE_CAPACITY);
}

#[test]
fn sublist_insert_count() {
    both(|s| {
        ins(s, "foo", 1);
        ins(s, "bar", 2);
        ins(s, "foo.bar", 3);
        assert_eq!(s.count(), 3);
        // Same entry again: no-op.
        ins(s, "foo", 1);
        assert_eq!(s.count(), 3);
        // Same value under another subject or queue is a new entry.
        qins(s, "foo", "q", 1);
        assert_eq!(s.count(), 4);
    });
}

#[test]
fn sublist_simple() {
    both(|s| {
        ins(s, "foo", 1);
        assert_eq!(plain(&m(s, "foo")), [1]);
        assert!(m(s, "bar").is_empty());
    });
}

#[test]
fn sublist_simple_multi_tokens() {
    both(|s| {
        ins(s, "foo.bar.baz", 1);
        assert_eq!(plain(&m(s, "foo.bar.baz")), [1]);
        assert!(m(s, "foo.bar").is_empty());
        assert!(m(s, "foo.bar.baz.qux").is_empty());
    });
}

#[test]
fn sublist_partial_wildcard() {
    both(|s| {
        ins(s, "a.b.c", 1);
        ins(s, "a.*.c", 2);
        assert_eq!(plain(&m(s, "a.b.c")), [1, 2]);
        assert_eq!(plain(&m(s, "a.x.c")), [2]);
        assert!(m(s, "a.b").is_empty());
        assert!(m(s, "a.b.c.d").is_empty());
    });
}

#[test]
fn sublist_partial_wildcard_at_end() {
    both(|s| {
        ins(s, "a.b.c", 1);
        ins(s, "a.b.*", 2);
        assert_eq!(plain(&m(s, "a.b.c")), [1, 2]);
        assert_eq!(plain(&m(s, "a.b.z")), [2]);
        assert!(m(s, "a.b").is_empty());
    });
}

#[test]
fn sublist_full_wildcard() {
    both(|s| {
        ins(s, "a.b.c", 1);
        ins(s, "a.>", 2);
        ins(s, ">", 3);
        assert_eq!(plain(&m(s, "a.b.c")), [1, 2, 3]);
        assert_eq!(plain(&m(s, "a.b")), [2, 3]);
        // `>` needs at least one token.
        assert_eq!(plain(&m(s, "a")), [3]);
        assert_eq!(plain(&m(s, "z")), [3]);
    });
}

#[test]
fn sublist_mixed_wildcards() {
    both(|s| {
        ins(s, "*.*.*", 1);
        ins(s, "*.b.>", 2);
        ins(s, "a.*.>", 3);
        ins(s, "*.>", 4);
        ins(s, "a.b.c", 5);
        ins(s, "*.*", 6);
        assert_eq!(plain(&m(s, "a.b.c")), [1, 2, 3, 4, 5]);
        assert_eq!(plain(&m(s, "a.b")), [4, 6]);
        assert_eq!(plain(&m(s, "x.b.y.z")), [2, 4]);
        assert_eq!(plain(&m(s, "a")), Vec::<Sid>::new());
    });
}

#[test]
fn sublist_two_token_pub_match_single_token_sub() {
    both(|s| {
        ins(s, "foo", 1);
        assert_eq!(plain(&m(s, "foo")), [1]);
        assert!(m(s, "foo.bar").is_empty());
    });
}

#[test]
fn sublist_insert_with_wildcards_as_literals() {
    both(|s| {
        for (i, subject) in ["foo.*-", "foo.>-", "foo.a*b", "foo.>x"]
            .into_iter()
            .enumerate()
        {
            ins(s, subject, i as Sid);
            assert!(m(s, "foo.bar").is_empty(), "{subject}");
            assert_eq!(plain(&m(s, subject)), [i as Sid]);
        }
    });
}

#[test]
fn sublist_remove_with_wildcards_as_literals() {
    both(|s| {
        for subject in ["foo.*-", "foo.>-"] {
            ins(s, subject, 1);
            assert!(!s.remove(b"foo.bar", None, 1));
            assert_eq!(s.count(), 1);
            assert!(s.remove(subject.as_bytes(), None, 1));
            assert_eq!(s.count(), 0);
            assert_eq!(s.node_count(), 0);
        }
    });
}

#[test]
fn sublist_publish_subject_with_wildcard_tokens() {
    // A published "foo.*" is taken literally: wildcards match it, "foo.bar"
    // does not (as in nats-server, which does not refuse such a publish
    // outside pedantic mode).
    both(|s| {
        ins(s, "foo.bar", 1);
        ins(s, "foo.*", 2);
        ins(s, "foo.>", 3);
        assert_eq!(plain(&m(s, "foo.*")), [2, 3]);
        assert_eq!(plain(&m(s, "foo.>")), [2, 3]);
    });
}

#[test]
fn sublist_invalid_publish_subjects_match_nothing() {
    let mut s = SubjectIndex::new();
    ins(&mut s, ">", 1);
    for subject in ["", ".", "foo.", ".foo", "foo..bar"] {
        assert!(m(&mut s, subject).is_empty(), "{subject:?}");
    }
    assert_eq!(s.cache_len(), 0, "invalid subjects must not be cached");
}

#[test]
fn sublist_remove() {
    both(|s| {
        ins(s, "a.b.c.d", 1);
        assert_eq!(s.count(), 1);
        assert_eq!(plain(&m(s, "a.b.c.d")), [1]);
        // Wrong value, wrong queue, wrong subject: nothing removed.
        assert!(!s.remove(b"a.b.c.d", None, 2));
        assert!(!s.remove(b"a.b.c.d", Some(b"q"), 1));
        assert!(!s.remove(b"a.b.c", None, 1));
        assert!(!s.remove(b"a.b.c.d.e", None, 1));
        assert_eq!(s.count(), 1);
        assert!(s.remove(b"a.b.c.d", None, 1));
        assert_eq!(s.count(), 0);
        assert!(m(s, "a.b.c.d").is_empty());
        assert!(!s.remove(b"a.b.c.d", None, 1));
    });
}

#[test]
fn sublist_remove_wildcard() {
    both(|s| {
        ins(s, "a.b.c.d", 11);
        ins(s, "a.b.*.d", 22);
        ins(s, "a.b.>", 33);
        assert_eq!(s.count(), 3);
        assert_eq!(plain(&m(s, "a.b.c.d")), [11, 22, 33]);
        assert!(s.remove(b"a.b.*.d", None, 22));
        assert!(s.remove(b"a.b.>", None, 33));
        assert_eq!(plain(&m(s, "a.b.c.d")), [11]);
        assert!(s.remove(b"a.b.c.d", None, 11));
        assert!(m(s, "a.b.c.d").is_empty());
        assert_eq!(s.node_count(), 0);
    });
}

#[test]
fn sublist_remove_cleanup() {
    both(|s| {
        assert_eq!(s.node_count(), 0);
        ins(s, "a.b.c.d.e.f", 1);
        assert_eq!(s.node_count(), 6);
        ins(s, "a.b.x", 2);
        assert_eq!(s.node_count(), 7);
        assert!(s.remove(b"a.b.c.d.e.f", None, 1));
        assert_eq!(s.node_count(), 3);
        assert!(s.remove(b"a.b.x", None, 2));
        assert_eq!(s.node_count(), 0);
    });
}

#[test]
fn sublist_remove_cleanup_wildcards() {
    both(|s| {
        ins(s, "a.b.*.d.e.>", 1);
        assert_eq!(s.node_count(), 6);
        ins(s, "a.b.*", 2);
        assert_eq!(s.node_count(), 6);
        assert!(s.remove(b"a.b.*.d.e.>", None, 1));
        assert_eq!(s.node_count(), 3);
        assert!(s.remove(b"a.b.*", None, 2));
        assert_eq!(s.node_count(), 0);
    });
}

#[test]
fn sublist_bad_subject_on_remove() {
    both(|s| {
        assert_eq!(
            s.insert(b"a.b..d", None, 1),
            Err(SubjectError::InvalidSubject)
        );
        assert!(!s.remove(b"a.b..d", None, 1));
        assert!(!s.remove(b"a.>.b", None, 1));
        assert!(!s.remove(b"", None, 1));
    });
}

#[test]
fn sublist_invalid_subjects_rejected() {
    both(|s| {
        for subject in [
            "",
            ".",
            ".foo",
            "foo.",
            "foo..bar",
            "foo.>.bar",
            ">.>",
            "foo bar",
            "foo\tbar",
            "foo\r\n",
        ] {
            assert_eq!(
                s.insert(subject.as_bytes(), None, 1),
                Err(SubjectError::InvalidSubject),
                "{subject:?}"
            );
        }
        for q in ["", "a b", "a\tb"] {
            assert_eq!(
                s.insert(b"foo", Some(q.as_bytes()), 1),
                Err(SubjectError::InvalidQueueName),
                "{q:?}"
            );
        }
        assert_eq!(s.count(), 0);
        assert_eq!(s.node_count(), 0);
    });
}

#[test]
fn sublist_basic_queue_results() {
    both(|s| {
        let subject = "foo";
        ins(s, subject, 1);
        qins(s, subject, "bar", 2);
        qins(s, subject, "baz", 3);
        let r = m(s, subject);
        assert_eq!(plain(&r), [1]);
        let g = groups(&r);
        assert_eq!(g.len(), 2);
        assert_eq!(g[&b"bar".to_vec()], [2]);
        assert_eq!(g[&b"baz".to_vec()], [3]);

        qins(s, subject, "bar", 4);
        qins(s, subject, "baz", 5);
        let r = m(s, subject);
        let g = groups(&r);
        assert_eq!(g[&b"bar".to_vec()], [2, 4]);
        assert_eq!(g[&b"baz".to_vec()], [3, 5]);
        assert_eq!(r.queue(b"bar").unwrap().members.len(), 2);
        assert_eq!(r.len(), 5);

        assert!(s.remove(subject.as_bytes(), None, 1));
        let r = m(s, subject);
        assert!(r.plain.is_empty());
        assert_eq!(groups(&r).len(), 2);

        assert!(s.remove(subject.as_bytes(), Some(b"bar"), 2));
        assert!(s.remove(subject.as_bytes(), Some(b"bar"), 4));
        let r = m(s, subject);
        let g = groups(&r);
        assert_eq!(g.len(), 1, "empty group must disappear");
        assert_eq!(g[&b"baz".to_vec()], [3, 5]);

        assert!(s.remove(subject.as_bytes(), Some(b"baz"), 3));
        assert!(s.remove(subject.as_bytes(), Some(b"baz"), 5));
        assert!(m(s, subject).is_empty());
        assert_eq!(s.node_count(), 0);
    });
}

#[test]
fn sublist_queue_groups_across_patterns() {
    // One entry per queue name, gathering members from every matching
    // subject: literal, `*` and `>`.
    both(|s| {
        qins(s, "orders.new", "workers", 1);
        qins(s, "orders.*", "workers", 2);
        qins(s, "orders.>", "workers", 3);
        qins(s, ">", "workers", 4);
        qins(s, "orders.*", "audit", 5);
        qins(s, "orders.old", "workers", 6);
        ins(s, "orders.*", 7);
        let r = m(s, "orders.new");
        assert_eq!(plain(&r), [7]);
        let g = groups(&r);
        assert_eq!(g.len(), 2);
        assert_eq!(g[&b"workers".to_vec()], [1, 2, 3, 4]);
        assert_eq!(g[&b"audit".to_vec()], [5]);
    });
}

#[test]
fn sublist_same_value_under_several_patterns() {
    both(|s| {
        ins(s, "a.b", 1);
        ins(s, "a.*", 1);
        ins(s, "a.>", 1);
        assert_eq!(plain(&m(s, "a.b")), [1, 1, 1]);
        assert!(s.remove(b"a.*", None, 1));
        assert_eq!(plain(&m(s, "a.b")), [1, 1]);
        assert!(s.remove(b"a.b", None, 1));
        assert_eq!(plain(&m(s, "a.b")), [1]);
    });
}

#[test]
fn sublist_large_node_index() {
    // Enough members on one node to switch to the hashed index, then back.
    both(|s| {
        for v in 0..200 {
            ins(s, "big", v);
            qins(s, "big", "q", v);
        }
        ins(s, "big", 5);
        assert_eq!(s.count(), 400);
        assert_eq!(plain(&m(s, "big")), (0..200).collect::<Vec<_>>());
        for v in (0..200).step_by(2) {
            assert!(s.remove(b"big", None, v));
            assert!(s.remove(b"big", Some(b"q"), v));
            assert!(!s.remove(b"big", None, v));
        }
        let odd: Vec<Sid> = (0..200).filter(|v| v % 2 == 1).collect();
        let r = m(s, "big");
        assert_eq!(plain(&r), odd);
        assert_eq!(groups(&r)[&b"q".to_vec()], odd);
        for v in odd {
            assert!(s.remove(b"big", None, v));
            assert!(s.remove(b"big", Some(b"q"), v));
        }
        assert_eq!(s.count(), 0);
        assert_eq!(s.node_count(), 0);
    });
}

#[test]
fn sublist_shared_empty_result() {
    let mut s = SubjectIndex::<Sid>::new();
    let r1 = m(&mut s, "foo");
    let r2 = m(&mut s, "bar");
    assert!(r1.is_empty());
    assert!(Rc::ptr_eq(&r1, &r2));
}

#[test]
fn sublist_cache_hit_returns_same_result() {
    let mut s = SubjectIndex::new();
    ins(&mut s, "foo.bar", 1);
    ins(&mut s, "foo.*", 2);
    let r1 = m(&mut s, "foo.bar");
    assert_eq!(s.cache_len(), 1);
    let r2 = m(&mut s, "foo.bar");
    assert!(Rc::ptr_eq(&r1, &r2));
    let st = s.stats();
    assert_eq!(st.matches, 2);
    assert_eq!(st.cache_hits, 1);
    assert_eq!(st.cache_entries, 1);
    assert_eq!(st.subscriptions, 2);
}

#[test]
fn sublist_no_cache() {
    let mut s = SubjectIndex::with_cache_capacity(0);
    ins(&mut s, "foo", 1);
    m(&mut s, "foo");
    m(&mut s, "foo");
    assert_eq!(s.cache_len(), 0);
    assert_eq!(s.stats().cache_hits, 0);
}

#[test]
fn sublist_cache_invalidation_on_literal_insert_and_remove() {
    let mut s = SubjectIndex::new();
    assert!(m(&mut s, "foo.bar").is_empty());
    let held = m(&mut s, "foo.bar");
    ins(&mut s, "foo.bar", 1);
    assert_eq!(plain(&m(&mut s, "foo.bar")), [1]);
    // A result handed out earlier does not change.
    assert!(held.is_empty());
    qins(&mut s, "foo.bar", "q", 2);
    assert_eq!(groups(&m(&mut s, "foo.bar"))[&b"q".to_vec()], [2]);
    // Other cached subjects are unaffected.
    assert!(m(&mut s, "foo.baz").is_empty());
    ins(&mut s, "foo.bar", 3);
    assert!(m(&mut s, "foo.baz").is_empty());

    let before = m(&mut s, "foo.bar");
    assert!(s.remove(b"foo.bar", None, 1));
    let after = m(&mut s, "foo.bar");
    assert_eq!(plain(&after), [3]);
    assert_eq!(plain(&before), [1, 3]);
    assert!(s.remove(b"foo.bar", Some(b"q"), 2));
    assert!(groups(&m(&mut s, "foo.bar")).is_empty());
    assert!(s.remove(b"foo.bar", None, 3));
    assert!(m(&mut s, "foo.bar").is_empty());
}

#[test]
fn sublist_cache_invalidation_on_wildcard_insert_and_remove() {
    let mut s = SubjectIndex::new();
    ins(&mut s, "foo.bar", 1);
    for subject in ["foo.bar", "foo.baz", "foo.bar.x", "other", "foo"] {
        m(&mut s, subject);
    }
    assert_eq!(s.cache_len(), 5);

    ins(&mut s, "foo.*", 2);
    assert_eq!(plain(&m(&mut s, "foo.bar")), [1, 2]);
    assert_eq!(plain(&m(&mut s, "foo.baz")), [2]);
    assert!(m(&mut s, "foo.bar.x").is_empty());
    assert!(m(&mut s, "foo").is_empty());

    ins(&mut s, "foo.>", 3);
    assert_eq!(plain(&m(&mut s, "foo.bar")), [1, 2, 3]);
    assert_eq!(plain(&m(&mut s, "foo.bar.x")), [3]);
    assert!(m(&mut s, "foo").is_empty());

    qins(&mut s, ">", "all", 4);
    assert_eq!(groups(&m(&mut s, "other"))[&b"all".to_vec()], [4]);
    assert_eq!(groups(&m(&mut s, "foo.bar"))[&b"all".to_vec()], [4]);
    assert_eq!(s.cache_len(), 5);

    assert!(s.remove(b"foo.*", None, 2));
    assert_eq!(plain(&m(&mut s, "foo.bar")), [1, 3]);
    assert!(plain(&m(&mut s, "foo.baz")) == [3]);
    assert!(s.remove(b"foo.>", None, 3));
    assert_eq!(plain(&m(&mut s, "foo.bar")), [1]);
    assert!(m(&mut s, "foo.bar.x").plain.is_empty());
    assert!(s.remove(b">", Some(b"all"), 4));
    assert!(m(&mut s, "other").is_empty());
    assert!(m(&mut s, "foo.bar.x").is_empty());
    assert_eq!(plain(&m(&mut s, "foo.bar")), [1]);
}

#[test]
fn sublist_cache_invalidation_large_results() {
    // Results past the edit limit are dropped on removal, then rebuilt.
    let mut s = SubjectIndex::new();
    for v in 0..300 {
        ins(&mut s, "fan.out", v);
    }
    ins(&mut s, "fan.*", 1000);
    assert_eq!(m(&mut s, "fan.out").len(), 301);
    assert!(s.remove(b"fan.*", None, 1000));
    assert_eq!(m(&mut s, "fan.out").len(), 300);
    assert!(s.remove(b"fan.out", None, 7));
    let r = m(&mut s, "fan.out");
    assert_eq!(r.len(), 299);
    assert!(!r.plain.contains(&7));
}

#[test]
fn sublist_cache_bounded() {
    let mut s = SubjectIndex::new();
    ins(&mut s, "foo.*", 1);
    for i in 0..5000 {
        let r = m(&mut s, &format!("foo.{i}"));
        assert_eq!(plain(&r), [1]);
        assert!(s.cache_len() <= DEFAULT_CACHE_CAPACITY);
    }
    assert!(s.cache_len() >= DEFAULT_CACHE_CAPACITY / 2);

    let mut small = SubjectIndex::with_cache_capacity(10);
    ins(&mut small, ">", 1);
    for i in 0..100 {
        m(&mut small, &format!("s{i}"));
        assert!(small.cache_len() <= 10);
    }
    // The sweep leaves half the capacity (plus later misses).
    assert!(small.cache_len() >= 5);
}

#[test]
fn sublist_prune_after_random_churn() {
    let mut rng = fastrand::Rng::with_seed(42);
    let mut s = SubjectIndex::new();
    let mut subs = Vec::new();
    for v in 0..10_000u32 {
        let subject = random_pattern(&mut rng, &["a", "b", "c", "d", "e", "f", "g"], 6);
        let queue = match rng.u8(..4) {
            0 => Some("q1"),
            1 => Some("q2"),
            _ => None,
        };
        s.insert(subject.as_bytes(), queue.map(str::as_bytes), v)
            .unwrap();
        subs.push((subject, queue, v));
        if v % 7 == 0 {
            m(&mut s, &random_literal(&mut rng, &["a", "b", "c"], 4));
        }
    }
    assert_eq!(s.count(), 10_000);
    assert!(s.node_count() > 0);
    rng.shuffle(&mut subs);
    for (i, (subject, queue, v)) in subs.iter().enumerate() {
        assert!(s.remove(subject.as_bytes(), queue.map(str::as_bytes), *v));
        if i % 7 == 0 {
            m(&mut s, &random_literal(&mut rng, &["a", "b", "c"], 4));
        }
    }
    assert_eq!(s.count(), 0);
    assert_eq!(s.node_count(), 0);
    // Everything still cached matches nothing.
    for i in 0..50 {
        assert!(
            m(&mut s, &random_literal(&mut rng, &["a", "b", "c"], 4)).is_empty(),
            "{i}"
        );
    }
}

#[test]
fn sublist_churn_does_not_grow() {
    let mut s = SubjectIndex::new();
    ins(&mut s, "keep.me", 0);
    let base = s.node_count();
    for round in 0..2000u32 {
        let subject = format!("churn.{}.x", round % 50);
        ins(&mut s, &subject, round);
        m(&mut s, &subject);
        assert!(s.remove(subject.as_bytes(), None, round));
        assert_eq!(s.node_count(), base);
    }
}

// ---- randomized comparison with a brute-force reference ----

fn random_literal(rng: &mut fastrand::Rng, alphabet: &[&str], max_tokens: usize) -> String {
    let n = rng.usize(1..=max_tokens);
    (0..n)
        .map(|_| alphabet[rng.usize(..alphabet.len())])
        .collect::<Vec<_>>()
        .join(".")
}

fn random_pattern(rng: &mut fastrand::Rng, alphabet: &[&str], max_tokens: usize) -> String {
    let n = rng.usize(1..=max_tokens);
    let mut toks = Vec::with_capacity(n);
    for i in 0..n {
        let t = match rng.u8(..10) {
            0 | 1 => "*",
            2 if i == n - 1 => ">",
            _ => alphabet[rng.usize(..alphabet.len())],
        };
        toks.push(t);
    }
    toks.join(".")
}

/// A list of entries matched one by one with `subject_matches_pattern`.
#[derive(Default)]
struct Reference {
    entries: Vec<(String, Option<String>, Sid)>,
}

impl Reference {
    fn insert(&mut self, subject: &str, queue: Option<&str>, v: Sid) {
        let e = (subject.to_owned(), queue.map(str::to_owned), v);
        if !self.entries.contains(&e) {
            self.entries.push(e);
        }
    }

    fn remove(&mut self, subject: &str, queue: Option<&str>, v: Sid) -> bool {
        let e = (subject.to_owned(), queue.map(str::to_owned), v);
        match self.entries.iter().position(|x| *x == e) {
            Some(i) => {
                self.entries.swap_remove(i);
                true
            }
            None => false,
        }
    }

    fn matches(&self, literal: &str) -> (Vec<Sid>, BTreeMap<Vec<u8>, Vec<Sid>>) {
        let mut p = Vec::new();
        let mut q: BTreeMap<Vec<u8>, Vec<Sid>> = BTreeMap::new();
        for (pattern, queue, v) in &self.entries {
            if subject_matches_pattern(literal.as_bytes(), pattern.as_bytes()) {
                match queue {
                    None => p.push(*v),
                    Some(name) => q.entry(name.as_bytes().to_vec()).or_default().push(*v),
                }
            }
        }
        for members in q.values_mut() {
            members.sort_unstable();
        }
        (sorted(p), q)
    }
}

fn randomized_against_reference(seed: u64, cache_capacity: usize, ops: usize) {
    let mut rng = fastrand::Rng::with_seed(seed);
    let alphabet = ["a", "b", "c", "dd"];
    let queues = [None, None, Some("q1"), Some("q2")];
    let mut s = SubjectIndex::with_cache_capacity(cache_capacity);
    let mut r = Reference::default();
    let mut non_empty = 0;
    for op in 0..ops {
        match rng.u8(..10) {
            0..=3 => {
                let subject = random_pattern(&mut rng, &alphabet, 4);
                let queue = queues[rng.usize(..queues.len())];
                let v = rng.u32(..64);
                s.insert(subject.as_bytes(), queue.map(str::as_bytes), v)
                    .unwrap();
                r.insert(&subject, queue, v);
            }
            4..=5 => {
                // Mostly remove something present, sometimes something absent.
                let (subject, queue, v) = if !r.entries.is_empty() && rng.u8(..4) != 0 {
                    let e = &r.entries[rng.usize(..r.entries.len())];
                    (e.0.clone(), e.1.clone(), e.2)
                } else {
                    let q = queues[rng.usize(..queues.len())].map(str::to_owned);
                    (random_pattern(&mut rng, &alphabet, 4), q, rng.u32(..64))
                };
                let got = s.remove(subject.as_bytes(), queue.as_deref().map(str::as_bytes), v);
                let want = r.remove(&subject, queue.as_deref(), v);
                assert_eq!(got, want, "op {op}: remove {subject} {queue:?} {v}");
            }
            _ => {
                let literal = random_literal(&mut rng, &["a", "b", "c", "dd", "e"], 5);
                let (want_plain, want_queues) = r.matches(&literal);
                if !want_plain.is_empty() || !want_queues.is_empty() {
                    non_empty += 1;
                }
                for pass in 0..2 {
                    let res = s.matches(literal.as_bytes());
                    assert_eq!(plain(&res), want_plain, "op {op} pass {pass}: {literal}");
                    assert_eq!(groups(&res), want_queues, "op {op} pass {pass}: {literal}");
                }
            }
        }
        assert_eq!(s.count(), r.entries.len(), "op {op}");
    }
    // The run must have exercised real matches and, with a cache, hits.
    assert!(non_empty > ops / 10, "only {non_empty} non-empty matches");
    if cache_capacity > 0 {
        assert!(s.stats().cache_hits > ops as u64 / 10);
    }
    // Drain; the trie must be empty afterwards.
    let entries = std::mem::take(&mut r.entries);
    for (subject, queue, v) in entries {
        assert!(s.remove(subject.as_bytes(), queue.as_deref().map(str::as_bytes), v));
    }
    assert_eq!(s.count(), 0);
    assert_eq!(s.node_count(), 0);
}

#[test]
fn sublist_randomized_against_reference() {
    for seed in 0..8 {
        randomized_against_reference(seed, DEFAULT_CACHE_CAPACITY, 4000);
    }
}

#[test]
fn sublist_randomized_against_reference_small_cache() {
    for seed in 100..108 {
        randomized_against_reference(seed, 16, 4000);
    }
}

#[test]
fn sublist_randomized_against_reference_no_cache() {
    for seed in 200..204 {
        randomized_against_reference(seed, 0, 4000);
    }
}
