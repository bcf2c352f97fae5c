//! Cross-shard mailbox throughput: envelopes from one thread to another
//! through the SPSC ring, in batches as shards send them.

use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use ringnats::shard::mailbox::mesh;

fn transfer(total: u64, batch: u64) -> Duration {
    let mut m = mesh::<u64>(2);
    let (_, mut inbox) = m.pop().unwrap();
    let (mut outbox, _) = m.pop().unwrap();
    let start = Instant::now();
    let sender = std::thread::spawn(move || {
        let mut i = 0;
        while i < total {
            for _ in 0..batch {
                outbox.send(1, i, 8);
                i += 1;
            }
            outbox.flush();
        }
        while outbox.has_pending() {
            outbox.flush();
            std::hint::spin_loop();
        }
    });
    let mut got = 0;
    let mut sum = 0u64;
    while got < total {
        got += inbox.drain(|_, v| sum = sum.wrapping_add(v)) as u64;
    }
    sender.join().unwrap();
    std::hint::black_box(sum);
    start.elapsed()
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("mailbox");
    const PER_ITER: u64 = 100_000;
    for batch in [1u64, 16, 64] {
        g.throughput(Throughput::Elements(PER_ITER));
        g.bench_function(format!("envelopes_batch_{batch}"), |b| {
            b.iter_custom(|iters| (0..iters).map(|_| transfer(PER_ITER, batch)).sum())
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
