//! The load generator against ringnats itself: its counts must be exact
//! (nothing lost or duplicated reported as throughput), and ringnats must
//! deliver everything, across shards, under load.

mod common;

use common::{Io, Start};

fn run(args: &[String]) -> loadtest::Report {
    let scenario = loadtest::parse_args(args.iter().map(String::as_str)).unwrap();
    let report = loadtest::run(&scenario).unwrap();
    assert!(report.ok(), "{:?}", report.problems());
    report
}

fn check_all(io: Io) {
    let server = Start::new(io).shards(2).start();
    let url = server.url();
    let common = ["--url", &url, "--warmup", "0s", "--quiet"];
    let with = |extra: &[&'static str]| -> Vec<String> {
        extra
            .iter()
            .chain(common.iter())
            .map(|s| s.to_string())
            .collect()
    };

    let a = with(&[
        "pubsub",
        "--count",
        "20000",
        "--size",
        "64",
        "--publishers",
        "2",
        "--subscribers",
        "3",
    ]);
    let r = run(&a);
    assert_eq!(r.received, r.expected);
    assert_eq!(r.expected, 20_000 * 3);
    assert_eq!((r.lost, r.duplicated, r.reordered), (0, 0, 0));

    let a = with(&[
        "fanout",
        "--count",
        "5000",
        "--size",
        "128",
        "--subscribers",
        "10",
    ]);
    let r = run(&a);
    assert_eq!(r.received, 50_000);

    let a = with(&[
        "queue",
        "--count",
        "10000",
        "--size",
        "32",
        "--members",
        "4",
    ]);
    let r = run(&a);
    assert_eq!(r.received, 10_000, "each message once across the group");
    assert_eq!(r.duplicated, 0);

    let a = with(&["reqrep", "--count", "500", "--size", "16", "--rate", "2000"]);
    let r = run(&a);
    let lat = r.latency_us.expect("latency");
    assert!(lat.p50 > 0.0 && lat.p99 >= lat.p50 && lat.max >= lat.p99);

    // Requester and two responders polled by one thread.
    let a = with(&[
        "reqrep",
        "--count",
        "500",
        "--size",
        "16",
        "--rate",
        "2000",
        "--responders",
        "2",
        "--busy-poll",
    ]);
    let r = run(&a);
    assert_eq!((r.sent, r.received, r.lost), (500, 500, 0));

    let a = with(&["conns", "--connections", "200"]);
    let r = run(&a);
    assert_eq!(r.connections, 200);

    assert!(server.stop().success());
}

#[test]
fn loadtest_counts_are_exact_on_io_uring() {
    check_all(Io::Uring);
}

#[test]
fn loadtest_counts_are_exact_on_epoll() {
    check_all(Io::Epoll);
}
