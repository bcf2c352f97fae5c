//! Every scenario against the real nats-server, over TCP and WebSocket
//! (with and without permessage-deflate): counts must be exact.

mod common;

use common::{run_ok, NatsServer};

/// The transports every scenario runs over: (url, extra flags).
fn transports(s: &NatsServer) -> Vec<(String, Vec<&'static str>)> {
    vec![
        (s.nats(), vec![]),
        (s.ws(), vec![]),
        (s.ws(), vec!["--compress"]),
    ]
}

fn words<'a>(base: &[&'a str], url: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut w = base.to_vec();
    w.extend(["--url", url, "--warmup", "0s", "--quiet"]);
    w.extend(extra);
    w
}

#[test]
fn pubsub_exact_over_tcp_and_ws() {
    let s = NatsServer::start();
    for (url, extra) in transports(&s) {
        let base = [
            "pubsub",
            "--count",
            "20000",
            "--publishers",
            "2",
            "--subscribers",
            "2",
            "--subjects",
            "2",
        ];
        let r = run_ok(&words(&base, &url, &extra));
        assert_eq!(r.sent, 20000);
        assert_eq!(r.expected, 40000);
        assert_eq!(r.connections, 4);
        let w = words(
            &[
                "pubsub",
                "--count",
                "5000",
                "--subscribers",
                "2",
                "--subjects",
                "3",
                "--wildcard",
            ],
            &url,
            &extra,
        );
        run_ok(&w);
    }
}

#[test]
fn ws_one_pub_per_frame() {
    let s = NatsServer::start();
    let ws = s.ws();
    for extra in [
        vec!["--ws-one-per-frame"],
        vec!["--ws-one-per-frame", "--compress"],
    ] {
        let r = run_ok(&words(
            &["pubsub", "--count", "10000", "--size", "64"],
            &ws,
            &extra,
        ));
        assert_eq!(r.ws_mode.as_deref(), Some("one-per-frame"));
        assert_eq!(r.compression, extra.contains(&"--compress"));
    }
}

#[test]
fn fanout_exact() {
    let s = NatsServer::start();
    for (url, extra) in transports(&s) {
        let r = run_ok(&words(
            &["fanout", "--count", "5000", "--subscribers", "5"],
            &url,
            &extra,
        ));
        assert_eq!(r.expected, 25000);
    }
}

#[test]
fn queue_each_message_once() {
    let s = NatsServer::start();
    for (url, extra) in transports(&s) {
        let r = run_ok(&words(
            &["queue", "--count", "20000", "--members", "3"],
            &url,
            &extra,
        ));
        let members = r.per_member.clone().unwrap();
        assert_eq!(members.len(), 3);
        assert_eq!(members.iter().sum::<u64>(), 20000);
        assert!(members.iter().all(|&m| m > 0), "{members:?}");
    }
}

#[test]
fn reqrep_latency() {
    let s = NatsServer::start();
    for (url, extra) in transports(&s) {
        let r = run_ok(&words(
            &[
                "reqrep",
                "--count",
                "300",
                "--rate",
                "3000",
                "--responders",
                "2",
            ],
            &url,
            &extra,
        ));
        let l = r.latency_us.unwrap();
        assert!(
            l.p50 > 0.0 && l.p50 <= l.p90 && l.p90 <= l.p99 && l.p99 <= l.p999 && l.p999 <= l.max,
            "{l:?}"
        );
        assert_eq!(r.sent, 300);
        let r = run_ok(&words(
            &["reqrep", "--count", "500", "--rate", "0", "--inflight", "4"],
            &url,
            &extra,
        ));
        assert!(r.latency_us.unwrap().p99 > 0.0);
    }
}

#[test]
fn conns_rss_per_connection() {
    let s = NatsServer::start();
    let pid = s.pid().to_string();
    for url in [s.nats(), s.ws()] {
        let r = run_ok(&words(
            &[
                "conns",
                "--connections",
                "300",
                "--pid",
                &pid,
                "--hold",
                "100ms",
            ],
            &url,
            &[],
        ));
        assert_eq!(r.connections, 300);
        let per = r.rss_per_conn_bytes.unwrap();
        assert!(per > 0.0, "rss per connection {per}");
    }
}

#[test]
fn warmup_is_not_counted_and_duration_mode_is_exact() {
    let s = NatsServer::start();
    for url in [s.nats(), s.ws()] {
        let w = [
            "pubsub",
            "--url",
            &url,
            "--duration",
            "300ms",
            "--warmup",
            "200ms",
            "--subscribers",
            "2",
            "--quiet",
        ];
        let r = run_ok(&w);
        assert!(r.seconds >= 0.3 && r.seconds < 2.0, "{}", r.seconds);
        assert_eq!(r.expected, r.sent * 2);
    }
}

#[test]
fn pub_and_sub_and_small_payloads() {
    let s = NatsServer::start();
    let url = s.nats();
    let r = run_ok(&words(
        &["pub", "--count", "50000", "--publishers", "2"],
        &url,
        &[],
    ));
    assert_eq!((r.sent, r.received, r.subscribers), (50000, 50000, 0));
    run_ok(&words(
        &["sub", "--count", "10000", "--subscribers", "2"],
        &url,
        &[],
    ));
    // No room for a sequence number: totals only, still exact.
    let r = run_ok(&words(
        &["pubsub", "--count", "10000", "--size", "4"],
        &url,
        &[],
    ));
    assert_eq!(r.received, 10000);
    let r = run_ok(&words(
        &["pubsub", "--count", "1000", "--size", "0"],
        &url,
        &[],
    ));
    assert_eq!(r.received, 1000);
    // Large messages.
    run_ok(&words(
        &["pubsub", "--count", "300", "--size", "100000"],
        &s.ws(),
        &[],
    ));
}

#[test]
fn binary_prints_one_json_object_and_exits_zero() {
    let s = NatsServer::start();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_loadtest"))
        .args([
            "fanout",
            "--url",
            &s.nats(),
            "--count",
            "2000",
            "--subscribers",
            "3",
            "--warmup",
            "0s",
            "--json",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    assert_eq!(text.lines().count(), 1, "{text}");
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["scenario"], "fanout");
    assert_eq!(v["transport"], "tcp");
    assert_eq!(v["received"], 6000);
    assert_eq!(v["expected"], 6000);
    assert!(v["latency_us"].is_null());
}

#[test]
fn oversized_payload_is_refused_before_running() {
    let s = NatsServer::start();
    let sc = loadtest::parse_args([
        "pubsub",
        "--url",
        &s.nats(),
        "--count",
        "1",
        "--size",
        "2000000",
        "--warmup",
        "0s",
    ])
    .unwrap();
    let e = loadtest::run(&sc).unwrap_err();
    assert!(e.to_string().contains("max_payload"), "{e}");
}
