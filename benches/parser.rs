//! Throughput of the client protocol parser and of the MSG encoder.
//!
//! Parsing: a few MiB of pipelined PUBs (16 B, 128 B, 1 KiB payloads) or
//! HPUBs, fed in 64 KiB chunks as a socket read loop would, reported both in
//! bytes/s and in operations/s. Encoding: MSG lines and whole MSGs appended to
//! an output buffer.

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use ringnats::protocol::encode::{self, Decimal};
use ringnats::protocol::{ClientOp, ClientParser, ParserLimits};

const CHUNK: usize = 64 * 1024;
const STREAM_BYTES: usize = 4 << 20;

/// A stream of PUBs (or HPUBs with a small header block) of `size`-byte
/// payloads, about `STREAM_BYTES` long. Returns it and its op count.
fn stream(size: usize, headers: bool) -> (Vec<u8>, u64) {
    let payload: Vec<u8> = (0..size).map(|i| b'a' + (i % 26) as u8).collect();
    let hdr = b"NATS/1.0\r\nX-Trace: abc\r\n\r\n";
    let mut one = Vec::new();
    if headers {
        let total = hdr.len() + size;
        one.extend_from_slice(
            format!("HPUB orders.eu.created _INBOX.r1 {} {total}\r\n", hdr.len()).as_bytes(),
        );
        one.extend_from_slice(hdr);
    } else {
        one.extend_from_slice(format!("PUB orders.eu.created {size}\r\n").as_bytes());
    }
    one.extend_from_slice(&payload);
    one.extend_from_slice(b"\r\n");
    let n = (STREAM_BYTES / one.len()).max(1);
    (one.repeat(n), n as u64)
}

fn parse_all(parser: &mut ClientParser, input: &[u8]) -> (u64, usize) {
    let mut ops = 0u64;
    let mut bytes = 0usize;
    for chunk in input.chunks(CHUNK) {
        parser
            .feed(chunk, &mut |op| {
                ops += 1;
                if let ClientOp::Pub { payload, .. }
                | ClientOp::HPub {
                    message: payload, ..
                } = op
                {
                    bytes += black_box(payload).len();
                }
                true
            })
            .expect("valid stream");
    }
    (ops, bytes)
}

fn bench_parse(c: &mut Criterion) {
    let cases = [
        ("pub_16B", 16, false),
        ("pub_128B", 128, false),
        ("pub_1KiB", 1024, false),
        ("hpub_128B", 128, true),
    ];
    let limits = ParserLimits::default();
    for (unit, per_bytes) in [("bytes", true), ("ops", false)] {
        let mut group = c.benchmark_group(format!("parse_{unit}"));
        group.measurement_time(Duration::from_secs(3));
        for (name, size, headers) in cases {
            let (input, n) = stream(size, headers);
            group.throughput(if per_bytes {
                Throughput::Bytes(input.len() as u64)
            } else {
                Throughput::Elements(n)
            });
            group.bench_with_input(BenchmarkId::from_parameter(name), &input, |b, input| {
                let mut parser = ClientParser::new(limits);
                b.iter(|| {
                    let (ops, _) = parse_all(&mut parser, input);
                    assert_eq!(ops, n);
                });
            });
        }
        group.finish();
    }
}

fn bench_encode(c: &mut Criterion) {
    const N: u64 = 10_000;
    let payload = vec![b'x'; 128];
    let mut group = c.benchmark_group("encode");
    group.measurement_time(Duration::from_secs(3));
    group.throughput(Throughput::Elements(N));
    let mut out = Vec::with_capacity(4 << 20);
    group.bench_function("msg_line", |b| {
        b.iter(|| {
            out.clear();
            for i in 0..N {
                encode::write_msg_line(
                    &mut out,
                    black_box(b"orders.eu.created"),
                    black_box(b"42"),
                    None,
                    black_box(128 + (i as usize & 7)),
                );
            }
            black_box(out.len())
        })
    });
    group.bench_function("msg_line_reply_digits", |b| {
        b.iter(|| {
            out.clear();
            let size = Decimal::new(black_box(128));
            for _ in 0..N {
                encode::write_msg_line_digits(
                    &mut out,
                    black_box(b"orders.eu.created"),
                    black_box(b"42"),
                    Some(black_box(b"_INBOX.abcdefgh.1")),
                    size.as_bytes(),
                );
            }
            black_box(out.len())
        })
    });
    group.bench_function("msg_128B", |b| {
        b.iter(|| {
            out.clear();
            for _ in 0..N {
                encode::write_msg(
                    &mut out,
                    black_box(b"orders.eu.created"),
                    black_box(b"42"),
                    None,
                    black_box(&payload),
                );
            }
            black_box(out.len())
        })
    });
    group.bench_function("hmsg_128B", |b| {
        let message = [&b"NATS/1.0\r\nX-Trace: abc\r\n\r\n"[..], &payload].concat();
        b.iter(|| {
            out.clear();
            for _ in 0..N {
                encode::write_hmsg(
                    &mut out,
                    black_box(b"orders.eu.created"),
                    black_box(b"42"),
                    Some(b"_INBOX.r1"),
                    26,
                    black_box(&message),
                );
            }
            black_box(out.len())
        })
    });
    group.finish();
}

criterion_group!(benches, bench_parse, bench_encode);
criterion_main!(benches);
