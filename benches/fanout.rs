//! Fan-out on one shard, without sockets: one publisher, 100 subscribers
//! on the subject, messages published in batches as one read delivers
//! them, then the flush that ends the read, then the subscribers' buffers
//! emptied as their writers would. A batch of 1 is a run of one
//! message each time: what fan-out cost before messages were gathered.

use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Instant;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use ringnats::config::options::ConnectionType;
use ringnats::config::Options;
use ringnats::conn::Client;
use ringnats::server::ServerContext;
use ringnats::shard::mailbox::mesh;
use ringnats::shard::Shard;

const SUBSCRIBERS: usize = 100;
const MESSAGES: usize = 1000;

fn bench(c: &mut Criterion) {
    let ctx = Arc::new(ServerContext::new(Options::default(), 1, 4222, None));
    let (outbox, _inbox) = mesh(1).pop().unwrap();
    let ctx_policy = ctx.liveness;
    let shard = Shard::new(0, ctx, outbox);
    let addr: SocketAddr = "127.0.0.1:1".parse().unwrap();
    let client = || {
        let c = Rc::new(Client::new(
            1,
            addr,
            ConnectionType::Standard,
            Instant::now(),
            &ctx_policy,
            None,
        ));
        shard.register(&c);
        c
    };
    let subs: Vec<Rc<Client>> = (0..SUBSCRIBERS).map(|_| client()).collect();
    for s in &subs {
        shard.subscribe(s, b"bench.fan", None, b"1").unwrap();
    }
    let publisher = client();
    let payload = vec![b'x'; 128];

    let mut g = c.benchmark_group("fanout_100_128B");
    g.throughput(Throughput::Elements((MESSAGES * SUBSCRIBERS) as u64));
    for batch in [1usize, 16, 256] {
        g.bench_function(format!("deliveries_batch_{batch}"), |b| {
            b.iter(|| {
                for _ in 0..MESSAGES / batch {
                    for _ in 0..batch {
                        shard.publish(&publisher, b"bench.fan", None, 0, &payload);
                    }
                    shard.flush();
                    subs.iter().for_each(|s| s.out().clear());
                }
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
