//! HTTP monitoring against a known workload over TCP and WebSocket, on both
//! IO backends and two shards: exact message and byte counts in /varz and
//! /connz, the connections' types, subscriptions and close reasons, the
//! closed-connections ring, /subsz, /metrics, and the key sets nats-server
//! 2.9.10 answers with (recorded in tests/monitor).

mod common;

use std::time::{Duration, Instant};

use common::ws::WsRaw;
use common::{http_get, http_json, monitor_port, Io, Raw, Server, Start};
use serde_json::Value;

const CONFIG: &str = "http_port: -1\nwebsocket { port: -1, no_tls: true }\n";

fn recorded(name: &str) -> Value {
    let path = format!(
        "{}/tests/monitor/nats-server-2.9.10/{name}.json",
        env!("CARGO_MANIFEST_DIR")
    );
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// Every key of `theirs` is in `ours`.
fn has_keys_of(ours: &Value, theirs: &Value, what: &str) {
    for key in theirs.as_object().unwrap().keys() {
        assert!(ours.get(key).is_some(), "{what} lacks {key}: {ours}");
    }
}

/// Polls `path` until `done` holds of its JSON (the server changes state
/// on its own threads: a close is seen a moment after the socket ends).
fn wait_for(port: u16, path: &str, done: impl Fn(&Value) -> bool) -> Value {
    let start = Instant::now();
    loop {
        let v = http_json(port, path);
        if done(&v) {
            return v;
        }
        assert!(start.elapsed() < Duration::from_secs(10), "{path}: {v}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn connection(connz: &Value, name: &str) -> Value {
    connz["connections"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no {name} in {connz}"))
        .clone()
}

fn server(io: Io) -> (Server, u16) {
    let server = Start::new(io).shards(2).config(CONFIG).start();
    let port = monitor_port(&server);
    (server, port)
}

io_tests! {
    // A TCP subscriber, a WebSocket publisher: 3 plain messages of 5 bytes
    // and one with headers (15 bytes in all), counted as nats-server
    // counts them, on each connection and in the totals, also after the
    // publisher is gone.
    counters_are_exact_over_tcp_and_websocket => |io| async move {
        let (server, port) = server(io);
        let (mut sub, _) = Raw::connect(&server);
        sub.send(b"CONNECT {\"verbose\":false,\"name\":\"sub\",\"lang\":\"raw\",\"version\":\"1.0\"}\r\nSUB foo 1\r\nSUB bar.* q 2\r\nPING\r\n");
        assert_eq!(sub.line(), "PONG");
        let (mut publisher, _) = WsRaw::upgrade(&server.ws_addr(), &[]);
        publisher.send(b"CONNECT {\"verbose\":false,\"headers\":true,\"name\":\"pub\"}\r\n");
        publisher.send(b"PUB foo 5\r\nhello\r\nPUB foo 5\r\nhello\r\nPUB foo 5\r\nhello\r\nHPUB foo 12 15\r\nNATS/1.0\r\n\r\nabc\r\nPING\r\n");
        assert_eq!(publisher.line(), "PONG");
        for _ in 0..3 {
            assert_eq!(sub.line(), "MSG foo 1 5");
            assert_eq!(sub.line(), "hello");
        }
        // The subscriber did not ask for headers: it gets the message
        // without them, counted so on the connection (18 bytes), while the
        // server's total counts the whole message (30), as nats-server does.
        assert_eq!(sub.line(), "MSG foo 1 3");
        assert_eq!(sub.line(), "abc");

        let varz = http_json(port, "/varz");
        has_keys_of(&varz, &recorded("varz"), "/varz");
        assert_eq!(varz["in_msgs"], 4);
        assert_eq!(varz["out_msgs"], 4);
        assert_eq!(varz["in_bytes"], 30);
        assert_eq!(varz["out_bytes"], 30);
        assert_eq!(varz["connections"], 2);
        assert_eq!(varz["total_connections"], 2);
        assert_eq!(varz["subscriptions"], 2);
        assert_eq!(varz["port"], server.port);
        assert_eq!(varz["http_port"], port);
        assert_eq!(varz["websocket"]["port"], server.ws_port.unwrap());
        assert_eq!(varz["websocket"]["no_tls"], true);
        assert!(varz["mem"].as_u64().unwrap() > 0);

        let connz = http_json(port, "/connz?subs=1");
        let theirs = recorded("connz");
        has_keys_of(&connz, &theirs, "/connz");
        assert_eq!((connz["num_connections"].as_u64(), connz["total"].as_u64()), (Some(2), Some(2)));
        let s = connection(&connz, "sub");
        has_keys_of(&s, &theirs["connections"][0], "a /connz entry");
        assert_eq!(s["type"], "nats");
        assert_eq!((s["lang"].as_str(), s["version"].as_str()), (Some("raw"), Some("1.0")));
        assert_eq!((s["out_msgs"].as_u64(), s["out_bytes"].as_u64()), (Some(4), Some(18)));
        assert_eq!((s["in_msgs"].as_u64(), s["in_bytes"].as_u64()), (Some(0), Some(0)));
        let mut list: Vec<&str> = s["subscriptions_list"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
        list.sort();
        assert_eq!(list, ["bar.*", "foo"]);
        let p = connection(&connz, "pub");
        assert_eq!(p["type"], "websocket");
        assert_eq!((p["in_msgs"].as_u64(), p["in_bytes"].as_u64()), (Some(4), Some(30)));
        assert_eq!(p["ip"], "127.0.0.1");

        // The publisher leaves: its counters stay in the totals, and it is
        // in the closed ring with nats-server's reason.
        drop(publisher);
        let closed = wait_for(port, "/connz?state=closed", |v| v["total"] == 1);
        let gone = connection(&closed, "pub");
        assert_eq!(gone["reason"], "Client Closed");
        assert!(gone["stop"].is_string());
        assert_eq!(gone["in_msgs"], 4);
        let varz = http_json(port, "/varz");
        assert_eq!((varz["in_msgs"].as_u64(), varz["connections"].as_u64()), (Some(4), Some(1)));
        assert_eq!(varz["total_connections"], 2);
        let all = http_json(port, "/connz?state=all");
        assert_eq!(all["total"], 2);
    };

    // nats-server's reasons for closed connections, and `cid=`.
    closed_connections_keep_why_they_closed => |io| async move {
        let (server, port) = server(io);
        let (mut bad, info) = Raw::connect(&server);
        let info: Value = serde_json::from_str(info.trim_start_matches("INFO ")).unwrap();
        let cid = info["client_id"].as_u64().unwrap();
        bad.send(b"CONNECT {\"verbose\":false,\"name\":\"bad\"}\r\nBOGUS\r\n");
        assert!(bad.until_closed().contains("-ERR 'Unknown Protocol Operation'"));
        let (mut ws, _) = WsRaw::upgrade(&server.ws_addr(), &[]);
        ws.send(b"CONNECT {\"verbose\":false,\"name\":\"ws\"}\r\nPING\r\n");
        assert_eq!(ws.line(), "PONG");
        // Opcode 3 is reserved: a protocol violation.
        ws.send_frame(0x83, b"x");
        ws.until_close();
        let closed = wait_for(port, "/connz?state=closed&sort=reason", |v| v["total"] == 2);
        assert_eq!(connection(&closed, "bad")["reason"], "Protocol Violation");
        assert_eq!(connection(&closed, "ws")["reason"], "Read Error");
        let one = http_json(port, &format!("/connz?state=closed&cid={cid}"));
        assert_eq!(one["connections"][0]["name"], "bad");
        assert_eq!(one["limit"], 1);
        let (status, body) = http_get(port, "/connz?sort=stop");
        assert_eq!((status, body.as_str()), (400, "sort by stop only valid on closed connections"));
        let (status, body) = http_get(port, "/connz?sort=bogus");
        assert_eq!((status, body.as_str()), (400, "invalid sorting option: bogus"));
    };

    // /subsz counts the subscriptions of every shard and tests a subject
    // against them; /metrics carries the same figures.
    subsz_and_metrics_see_every_shard => |io| async move {
        let (server, port) = server(io);
        // Enough connections that both shards hold some.
        let mut clients = Vec::new();
        for i in 0..8 {
            let (mut c, _) = Raw::connect(&server);
            c.send(format!("CONNECT {{\"verbose\":false,\"name\":\"c{i}\"}}\r\nSUB s.{i} {i}\r\nSUB all.> a{i}\r\nPING\r\n").as_bytes());
            assert_eq!(c.line(), "PONG");
            clients.push(c);
        }
        let subsz = http_json(port, "/subsz");
        has_keys_of(&subsz, &recorded("subsz"), "/subsz");
        assert_eq!(subsz["num_subscriptions"], 16);
        let test = http_json(port, "/subsz?subs=1&test=s.3");
        let list = test["subscriptions_list"].as_array().unwrap();
        assert_eq!(list.len(), 1, "{test}");
        assert_eq!((list[0]["subject"].as_str(), list[0]["sid"].as_str()), (Some("s.3"), Some("3")));
        assert_eq!(http_json(port, "/subsz?subs=1&test=all.x")["total"], 8);
        for (name, file) in [("/accountz", "accountz"), ("/leafz", "leafz"), ("/routez", "routez"), ("/healthz", "healthz")] {
            has_keys_of(&http_json(port, name), &recorded(file), name);
        }
        let (status, metrics) = http_get(port, "/metrics");
        assert_eq!(status, 200);
        let sample = |name: &str| -> f64 {
            metrics
                .lines()
                .find(|l| l.starts_with(&format!("{name}{{")))
                .unwrap_or_else(|| panic!("no {name} in\n{metrics}"))
                .rsplit(' ')
                .next()
                .unwrap()
                .parse()
                .unwrap()
        };
        assert_eq!(sample("gnatsd_varz_connections"), 8.0);
        assert_eq!(sample("gnatsd_varz_subscriptions"), 16.0);
        assert_eq!(sample("gnatsd_connz_num_connections"), 8.0);
        assert_eq!(sample("gnatsd_subsz_num_subscriptions"), 16.0);
        let varz = http_json(port, "/varz");
        assert!(varz["http_req_stats"]["/metrics"].as_u64() >= Some(1));
    };

    // A subscriber that stops reading is cut at max_pending: counted in
    // /varz's slow_consumers and closed with nats-server's reason.
    slow_consumers_are_counted => |io| async move {
        let server = Start::new(io)
            .shards(2)
            .config("http_port: -1\nmax_pending: 65536\nmax_payload: 65536\n")
            .start();
        let port = monitor_port(&server);
        let (mut slow, _) = Raw::connect(&server);
        slow.send(b"CONNECT {\"verbose\":false,\"name\":\"slow\"}\r\nSUB big 1\r\nPING\r\n");
        assert_eq!(slow.line(), "PONG");
        let (mut publisher, _) = Raw::connect(&server);
        publisher.send(b"CONNECT {\"verbose\":false}\r\n");
        let payload = vec![b'x'; 60_000];
        let mut frame = b"PUB big 60000\r\n".to_vec();
        frame.extend_from_slice(&payload);
        frame.extend_from_slice(b"\r\n");
        let start = Instant::now();
        while http_json(port, "/varz")["slow_consumers"] == 0 {
            for _ in 0..32 {
                publisher.send(&frame);
            }
            assert!(publisher.round_trip().is_empty());
            assert!(start.elapsed() < Duration::from_secs(20), "never cut");
        }
        let closed = wait_for(port, "/connz?state=closed", |v| v["total"] == 1);
        assert_eq!(connection(&closed, "slow")["reason"], "Slow Consumer (Pending Bytes)");
    };

    // A connection refused at max_connections is counted and kept with
    // nats-server's reason; /connz filters on the user a client gave,
    // also where no authentication is asked for.
    refusals_are_recorded_and_users_are_shown => |io| async move {
        let server = Start::new(io)
            .shards(2)
            .config("http_port: -1\nmax_connections: 1\n")
            .start();
        let port = monitor_port(&server);
        let (mut one, _) = Raw::connect(&server);
        one.send(b"CONNECT {\"verbose\":false,\"name\":\"one\",\"user\":\"u1\",\"lang\":\"go\"}\r\nPING\r\n");
        assert_eq!(one.line(), "PONG");
        let (mut two, _) = Raw::connect(&server);
        assert!(two.until_closed().contains("-ERR 'maximum connections exceeded'"));
        let closed = wait_for(port, "/connz?state=closed", |v| v["total"] == 1);
        assert_eq!(closed["connections"][0]["reason"], "Maximum Connections Exceeded");
        assert_eq!(http_json(port, "/varz")["total_connections"], 2);
        let by_user = http_json(port, "/connz?user=u1&auth=1");
        assert_eq!(by_user["connections"][0]["name"], "one");
        assert_eq!(by_user["connections"][0]["authorized_user"], "u1");
        assert_eq!(http_json(port, "/connz?user=nobody")["num_connections"], 0);
    };

    // `https_port` serves the same endpoints over TLS with the tls block's
    // certificate; nats-server's start rules hold.
    https_monitoring_uses_the_tls_block => |io| async move {
        use std::io::{Read, Write};
        let pki = common::tls::pki();
        let server = Start::new(io).shards(2).config(&format!("https_port: -1\n{}\n", pki.block(""))).start();
        let line = server.wait_for_log("Starting https monitor on ");
        let port: u16 = line.rsplit(':').next().unwrap().trim().parse().unwrap();
        let tcp = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let config = pki.client_config(&pki.client_cert, &pki.client_key);
        let mut tls = common::tls::over(tcp, config);
        tls.write_all(b"GET /varz HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
        let mut out = String::new();
        tls.read_to_string(&mut out).unwrap();
        assert!(out.starts_with("HTTP/1.1 200 OK\r\n"), "{out}");
        let body: Value = serde_json::from_str(out.split_once("\r\n\r\n").unwrap().1).unwrap();
        assert_eq!(body["https_port"], port);
        assert_eq!(body["http_port"], 0);
        for (config, said) in [
            ("port: -1\nhttps_port: -1\n".to_string(), "TLS cert and key required for HTTPS"),
            (format!("port: -1\nhttp_port: 8222\nhttps_port: 8443\n{}\n", pki.block("")), "can't specify both HTTP (8222) and HTTPs (8443) ports"),
        ] {
            let out = std::process::Command::new(common::binary()).args(["-c", &write_temp(&config)]).output().unwrap();
            assert!(!out.status.success());
            assert!(String::from_utf8_lossy(&out.stderr).contains(said), "{}", String::from_utf8_lossy(&out.stderr));
        }
    };
}

fn write_temp(text: &str) -> String {
    let path = std::env::temp_dir().join(format!(
        "monitoring-{}-{}.conf",
        std::process::id(),
        text.len()
    ));
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}
