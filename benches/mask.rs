//! Throughput of unmasking client WebSocket payloads in place.
//!
//! `unmask/simd` is `mask::unmask` (AVX2, SSE2 or NEON, chosen at run
//! time); `unmask/byte_loop` is `mask::unmask_bytes`, the byte-at-a-time
//! loop it replaces and is tested against (it stays scalar: LLVM does not
//! vectorise its key lookup); `unmask/word_loop` is `mask::unmask_portable`,
//! the u64 loop a target without SIMD gets, though on x86-64 LLVM
//! vectorises it with SSE2. Sizes run from a small message to a whole
//! 64 KiB read.
//!
//! `cargo bench --bench mask`; `-- --test` runs each once.

use std::hint::black_box;

use criterion::measurement::WallTime;
use criterion::{
    criterion_group, criterion_main, BenchmarkGroup, BenchmarkId, Criterion, Throughput,
};
use ringnats::websocket::mask;

const SIZES: [usize; 4] = [64, 1024, 4096, 64 * 1024];
const KEY: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

/// Generic over the function, not a fn pointer: each is called directly
/// (and inlined as it would be in the decoder), not through an indirect call.
fn way(
    g: &mut BenchmarkGroup<'_, WallTime>,
    name: &str,
    size: usize,
    unmask: impl Fn(&mut [u8], [u8; 4], usize) -> usize,
) {
    let mut buf: Vec<u8> = (0..size).map(|i| (i * 31 % 251) as u8).collect();
    g.bench_function(BenchmarkId::new(name, size), |b| {
        // The buffer flips between masked and unmasked each iteration; the
        // work is the same. black_box keeps buffer, key and phase opaque so
        // nothing is folded away or hoisted out of the loop.
        b.iter(|| unmask(black_box(&mut buf), black_box(KEY), black_box(1)))
    });
}

fn bench_unmask(c: &mut Criterion) {
    let mut g = c.benchmark_group("unmask");
    for size in SIZES {
        g.throughput(Throughput::Bytes(size as u64));
        way(&mut g, "simd", size, mask::unmask);
        way(&mut g, "byte_loop", size, mask::unmask_bytes);
        way(&mut g, "word_loop", size, mask::unmask_portable);
    }
    g.finish();
}

criterion_group!(benches, bench_unmask);
criterion_main!(benches);
