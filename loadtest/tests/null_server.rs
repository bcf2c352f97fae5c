//! The null server relays exactly: the generator's counts stay exact
//! against it, over TCP and WebSocket.

mod common;

use common::run_ok;

fn words<'a>(base: &[&'a str], url: &'a str) -> Vec<&'a str> {
    let mut w = base.to_vec();
    w.extend(["--url", url, "--warmup", "0s", "--quiet"]);
    w
}

#[test]
fn scenarios_against_the_null_server() {
    let tcp = loadtest::null_server::spawn(0, false).unwrap();
    let ws = loadtest::null_server::spawn(0, true).unwrap();
    let urls = [
        format!("nats://127.0.0.1:{}", tcp.port),
        format!("ws://127.0.0.1:{}", ws.port),
    ];
    for url in &urls {
        run_ok(&words(
            &[
                "pubsub",
                "--count",
                "50000",
                "--publishers",
                "2",
                "--subscribers",
                "2",
                "--subjects",
                "2",
            ],
            url,
        ));
        run_ok(&words(
            &["pubsub", "--count", "5000", "--subjects", "2", "--wildcard"],
            url,
        ));
        run_ok(&words(
            &["fanout", "--count", "5000", "--subscribers", "4"],
            url,
        ));
        let r = run_ok(&words(&["queue", "--count", "9000", "--members", "3"], url));
        assert_eq!(r.per_member.unwrap(), vec![3000, 3000, 3000]);
        let r = run_ok(&words(
            &["reqrep", "--count", "200", "--rate", "0", "--inflight", "2"],
            url,
        ));
        assert!(r.latency_us.is_some());
        run_ok(&words(&["pub", "--count", "20000"], url));
    }
    run_ok(&words(
        &["pubsub", "--count", "5000", "--ws-one-per-frame"],
        &urls[1],
    ));
    let stats = tcp.stop().unwrap();
    assert!(stats.pubs >= 50000 + 5000 + 5000 + 9000 + 200 + 20000);
    ws.stop().unwrap();
}
