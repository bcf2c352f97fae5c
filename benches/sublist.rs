//! Subject index benchmarks: matching literal, `*` and `>` subscriptions,
//! cache hits against misses, an index of 10k subjects, and insert/remove
//! churn with a populated cache.
//!
//! `cargo bench --bench sublist`; `-- --test` runs each once.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use ringnats::subject::{subject_matches_pattern, SubjectIndex, DEFAULT_CACHE_CAPACITY};

type Sid = (u32, u32);

#[derive(Clone, Copy)]
enum Kind {
    /// 10k literal subscriptions `bench.<i/100>.<i%100>`, one each.
    Literal,
    /// The literals plus `bench.<i>.*` for each middle token and a queue
    /// group on `bench.*.7`.
    Pwc,
    /// The literals plus `>`, `bench.>` and `bench.<i>.>`.
    Fwc,
}

fn build(kind: Kind, cache_capacity: usize) -> SubjectIndex<Sid> {
    let mut s = SubjectIndex::with_cache_capacity(cache_capacity);
    for i in 0..10_000u32 {
        let subject = format!("bench.{}.{}", i / 100, i % 100);
        s.insert(subject.as_bytes(), None, (i, 1)).unwrap();
    }
    match kind {
        Kind::Literal => {}
        Kind::Pwc => {
            for i in 0..100u32 {
                let subject = format!("bench.{i}.*");
                s.insert(subject.as_bytes(), None, (20_000 + i, 1)).unwrap();
            }
            s.insert(b"bench.*.7", Some(b"workers"), (30_000, 1))
                .unwrap();
            s.insert(b"bench.*.7", Some(b"workers"), (30_001, 1))
                .unwrap();
        }
        Kind::Fwc => {
            s.insert(b">", None, (40_000, 1)).unwrap();
            s.insert(b"bench.>", None, (40_001, 1)).unwrap();
            for i in 0..100u32 {
                let subject = format!("bench.{i}.>");
                s.insert(subject.as_bytes(), None, (40_100 + i, 1)).unwrap();
            }
        }
    }
    s
}

fn literal_10k() -> SubjectIndex<Sid> {
    build(Kind::Literal, DEFAULT_CACHE_CAPACITY)
}

fn subjects(n: u32) -> Vec<Vec<u8>> {
    (0..n)
        .map(|i| format!("bench.{}.{}", (i / 100) % 100, i % 100).into_bytes())
        .collect()
}

fn bench_match(c: &mut Criterion) {
    let mut g = c.benchmark_group("match");
    g.throughput(Throughput::Elements(1));

    let hot = b"bench.42.7";
    for (name, kind) in [
        ("literal", Kind::Literal),
        ("pwc", Kind::Pwc),
        ("fwc", Kind::Fwc),
    ] {
        let mut s = build(kind, DEFAULT_CACHE_CAPACITY);
        // Cache hit: the same subject over and over.
        s.matches(hot);
        g.bench_function(format!("{name}/cache_hit"), |b| {
            b.iter(|| black_box(s.matches(black_box(hot))))
        });

        // Trie walk only.
        let mut nocache = build(kind, 0);
        g.bench_function(format!("{name}/no_cache"), |b| {
            b.iter(|| black_box(nocache.matches(black_box(hot))))
        });

        // Cache miss: cycle over 8192 distinct subjects, 8x the cache.
        let many = subjects(8192);
        let mut i = 0usize;
        g.bench_function(format!("{name}/cache_miss"), |b| {
            b.iter(|| {
                i = (i + 1) & 8191;
                black_box(s.matches(black_box(&many[i])))
            })
        });

        // Working set that fits the cache: 512 distinct subjects.
        let few = subjects(512);
        for subj in &few {
            s.matches(subj);
        }
        let mut j = 0usize;
        g.bench_function(format!("{name}/cache_hit_512"), |b| {
            b.iter(|| {
                j = (j + 1) & 511;
                black_box(s.matches(black_box(&few[j])))
            })
        });
    }

    // No interest at all (shared empty result), cached.
    let mut s = literal_10k();
    s.matches(b"nobody.listens.here");
    g.bench_function("no_interest/cache_hit", |b| {
        b.iter(|| black_box(s.matches(black_box(b"nobody.listens.here"))))
    });
    g.finish();
}

fn bench_churn(c: &mut Criterion) {
    let mut g = c.benchmark_group("churn");
    g.throughput(Throughput::Elements(1));

    // Insert then remove one subscription in a 10k index with a full cache.
    for (name, subject) in [
        ("literal", &b"bench.42.new"[..]),
        ("pwc", &b"bench.42.*"[..]),
        ("fwc", &b"bench.>"[..]),
    ] {
        let mut s = literal_10k();
        for subj in subjects(1024) {
            s.matches(&subj);
        }
        g.bench_function(format!("{name}/insert_remove_full_cache"), |b| {
            b.iter(|| {
                s.insert(black_box(subject), None, (99_999, 1)).unwrap();
                assert!(s.remove(black_box(subject), None, (99_999, 1)));
            })
        });
    }

    // Same, empty cache: the raw trie cost (with node creation and pruning).
    let mut s = literal_10k();
    g.bench_function("literal_new_path/insert_remove_no_cache", |b| {
        b.iter(|| {
            s.insert(black_box(b"fresh.path.here"), None, (99_999, 1))
                .unwrap();
            assert!(s.remove(black_box(b"fresh.path.here"), None, (99_999, 1)));
            s.clear_cache();
        })
    });

    // Build and tear down a 10k-subject index.
    let names: Vec<Vec<u8>> = (0..10_000u32)
        .map(|i| format!("bench.{}.{}", i / 100, i % 100).into_bytes())
        .collect();
    g.throughput(Throughput::Elements(10_000));
    g.bench_function("build_10k", |b| {
        b.iter_batched(
            SubjectIndex::<Sid>::new,
            |mut s| {
                for (i, n) in names.iter().enumerate() {
                    s.insert(n, None, (i as u32, 1)).unwrap();
                }
                s
            },
            BatchSize::LargeInput,
        )
    });
    g.bench_function("remove_10k", |b| {
        b.iter_batched(
            literal_10k,
            |mut s| {
                for (i, n) in names.iter().enumerate() {
                    s.remove(n, None, (i as u32, 1));
                }
                s
            },
            BatchSize::LargeInput,
        )
    });
    g.finish();
}

fn bench_pattern(c: &mut Criterion) {
    let mut g = c.benchmark_group("pattern");
    g.bench_function("subject_matches_pattern", |b| {
        b.iter(|| {
            black_box(subject_matches_pattern(
                black_box(b"orders.eu.west.created"),
                black_box(b"orders.*.west.>"),
            ))
        })
    });
    g.finish();
}

criterion_group!(benches, bench_match, bench_churn, bench_pattern);
criterion_main!(benches);
