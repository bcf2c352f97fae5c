//! The endpoints against made-up shard reports: parameters, sorting,
//! paging, filters and nats-server's error texts.

use std::net::SocketAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::report::{Ask, ConnReport, ShardReport, SubReport, Totals};
use super::*;
use crate::config::Options;
use crate::conn::{About, Counters};

struct Fake {
    ctx: ServerContext,
    shards: Vec<Vec<ConnReport>>,
    closed: Vec<ConnReport>,
}

fn at(secs: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_700_000_000 + secs)
}

fn conn(cid: u64, out_msgs: u64, subs: &[&str]) -> ConnReport {
    ConnReport {
        cid,
        websocket: cid % 2 == 0,
        addr: SocketAddr::from(([127, 0, 0, 1], 40_000 + cid as u16)),
        start: at(cid),
        last_activity: at(100 - cid),
        stop: None,
        rtt: Duration::from_micros(cid * 10),
        pending: cid as usize,
        counters: Counters {
            in_msgs: 10 - cid,
            out_msgs,
            in_bytes: 100 * (10 - cid),
            out_bytes: 100 * out_msgs,
        },
        subscriptions: subs.len(),
        about: About {
            name: Some(format!("c{cid}")),
            user: Some(if cid < 3 { "alice" } else { "bob" }.into()),
            ..About::default()
        },
        account: if cid < 3 { "$G" } else { "B" }.into(),
        subs: subs
            .iter()
            .enumerate()
            .map(|(i, s)| SubReport {
                account: "$G".into(),
                subject: s.to_string(),
                queue: None,
                sid: (i + 1).to_string(),
                msgs: 0,
                max: None,
                cid,
            })
            .collect(),
    }
}

impl Fake {
    fn new() -> Fake {
        let mut closed = conn(7, 0, &["gone"]);
        closed.stop = Some((at(200), "Client Closed"));
        let mut closed2 = conn(8, 1, &[]);
        closed2.stop = Some((at(150), "Slow Consumer (Pending Bytes)"));
        Fake {
            ctx: ServerContext::new(Options::default(), 2, 4222, None),
            // cids 1, 3 on one shard, 2, 4 on the other.
            shards: vec![
                vec![conn(1, 5, &["a", "b.*"]), conn(3, 9, &[])],
                vec![conn(2, 7, &["a"]), conn(4, 1, &[])],
            ],
            closed: vec![closed, closed2],
        }
    }
}

impl Source for Fake {
    fn ctx(&self) -> &ServerContext {
        &self.ctx
    }

    fn ask(&self, ask: &Ask) -> Vec<ShardReport> {
        self.shards
            .iter()
            .map(|conns| {
                let mut totals = Totals {
                    connections: conns.len(),
                    total_connections: conns.len() as u64 + 1,
                    ..Totals::default()
                };
                for c in conns {
                    totals.counters += c.counters;
                    totals.index.subscriptions += c.subscriptions;
                }
                let subs = match &ask.subs {
                    None => Vec::new(),
                    Some(q) => conns
                        .iter()
                        .flat_map(|c| c.subs.iter().cloned())
                        .filter(|s| {
                            q.test.as_deref().is_none_or(|t| {
                                crate::subject::subject_matches_pattern(
                                    t.as_bytes(),
                                    s.subject.as_bytes(),
                                )
                            })
                        })
                        .collect(),
                };
                ShardReport {
                    totals,
                    conns: if ask.conns { conns.clone() } else { Vec::new() },
                    subs,
                }
            })
            .collect()
    }

    fn closed(&self) -> Vec<std::sync::Arc<ConnReport>> {
        self.closed
            .iter()
            .cloned()
            .map(std::sync::Arc::new)
            .collect()
    }

    fn loaded(&self) -> SystemTime {
        at(0)
    }

    fn process(&self) -> Process {
        Process {
            rss: 1 << 20,
            cpu: 1.234,
        }
    }
}

fn get(src: &Fake, target: &str) -> (u16, serde_json::Value, String) {
    let head = format!("GET {target} HTTP/1.1\r\n\r\n");
    let req = Request::parse(head.as_bytes()).unwrap();
    let r = answer(&req, src, &mut RequestStats::new());
    let text = String::from_utf8(r.body).unwrap();
    let json = serde_json::from_str(&text).unwrap_or_default();
    (r.status, json, text)
}

fn cids(v: &serde_json::Value) -> Vec<u64> {
    v["connections"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["cid"].as_u64().unwrap())
        .collect()
}

#[test]
fn connz_sorts_as_nats_server_sorts() {
    let f = Fake::new();
    let cases = [
        ("", vec![1, 2, 3, 4]),
        ("?sort=cid", vec![1, 2, 3, 4]),
        ("?sort=start", vec![1, 2, 3, 4]),
        ("?sort=msgs_to", vec![3, 2, 1, 4]),
        ("?sort=bytes_to", vec![3, 2, 1, 4]),
        ("?sort=msgs_from", vec![1, 2, 3, 4]),
        ("?sort=bytes_from", vec![1, 2, 3, 4]),
        ("?sort=pending", vec![4, 3, 2, 1]),
        ("?sort=subs", vec![1, 2, 3, 4]),
        ("?sort=last", vec![1, 2, 3, 4]),
        ("?sort=idle", vec![4, 3, 2, 1]),
        ("?sort=uptime", vec![4, 3, 2, 1]),
        ("?sort=rtt", vec![4, 3, 2, 1]),
        ("?state=closed&sort=stop", vec![7, 8]),
        ("?state=closed&sort=reason", vec![7, 8]),
        ("?state=all", vec![1, 2, 3, 4, 7, 8]),
    ];
    for (q, want) in cases {
        let (status, v, text) = get(&f, &format!("/connz{q}"));
        assert_eq!(status, 200, "{q}: {text}");
        assert_eq!(cids(&v), want, "{q}");
    }
}

#[test]
fn connz_pages_filters_and_refuses_as_nats_server_does() {
    let f = Fake::new();
    let (_, v, _) = get(&f, "/connz?limit=2&offset=1");
    assert_eq!(cids(&v), vec![2, 3]);
    assert_eq!(
        (v["total"].as_u64(), v["num_connections"].as_u64()),
        (Some(4), Some(2))
    );
    assert_eq!(
        (v["offset"].as_u64(), v["limit"].as_u64()),
        (Some(1), Some(2))
    );
    let (_, v, _) = get(&f, "/connz?offset=10");
    assert_eq!(cids(&v), Vec::<u64>::new());
    let (_, one, _) = get(&f, "/connz?cid=3");
    assert_eq!(one["connections"][0]["cid"], 3);
    // The total is counted before the cid and user filters.
    assert_eq!(
        (one["total"].as_u64(), one["limit"].as_u64()),
        (Some(4), Some(1))
    );
    assert_eq!(get(&f, "/connz?user=bob").1["total"], 4);
    assert_eq!(cids(&get(&f, "/connz?cid=7").1), Vec::<u64>::new());
    assert_eq!(cids(&get(&f, "/connz?cid=7&state=closed").1), vec![7]);
    assert_eq!(cids(&get(&f, "/connz?acc=B").1), vec![3, 4]);
    assert_eq!(cids(&get(&f, "/connz?user=alice").1), vec![1, 2]);

    let errors = [
        ("?sort=bogus", "invalid sorting option: bogus"),
        (
            "?sort=stop",
            "sort by stop only valid on closed connections",
        ),
        (
            "?sort=reason&state=all",
            "sort by reason only valid on closed connections",
        ),
        ("?state=sleepy", "Error decoding state for sleepy"),
        ("?limit=x", "Error decoding int for 'limit'"),
        ("?auth=maybe", "Error decoding boolean for 'auth'"),
        ("?cid=-1", "Error decoding uint64 for 'cid'"),
    ];
    for (q, text) in errors {
        let (status, _, body) = get(&f, &format!("/connz{q}"));
        assert_eq!(status, 400, "{q}");
        assert!(body.starts_with(text), "{q}: {body}");
    }
}

#[test]
fn connz_shows_subscriptions_users_and_closed_connections() {
    let f = Fake::new();
    let (_, v, _) = get(&f, "/connz");
    let c = &v["connections"][0];
    assert!(c.get("subscriptions_list").is_none());
    assert!(c.get("authorized_user").is_none());
    assert_eq!(c["type"], "nats");
    assert_eq!(v["connections"][1]["type"], "websocket");
    assert_eq!(c["kind"], "Client");
    assert_eq!(c["name"], "c1");
    assert_eq!(c["rtt"], "10µs");
    assert_eq!(c["start"], "2023-11-14T22:13:21Z");
    let (_, v, _) = get(&f, "/connz?subs=1&auth=true");
    let c = &v["connections"][0];
    assert_eq!(c["subscriptions_list"], serde_json::json!(["a", "b.*"]));
    assert_eq!(c["authorized_user"], "alice");
    // The global account is not named, as in nats-server.
    assert!(c.get("account").is_none());
    assert_eq!(v["connections"][2]["account"], "B");
    let (_, v, _) = get(&f, "/connz?subs=detail");
    let detail = &v["connections"][0]["subscriptions_list_detail"][1];
    assert_eq!(
        (&detail["subject"], &detail["sid"], &detail["cid"]),
        (
            &serde_json::json!("b.*"),
            &serde_json::json!("2"),
            &serde_json::json!(1)
        )
    );
    let (_, v, _) = get(&f, "/connz?state=closed&subs=1");
    let c = &v["connections"][0];
    assert_eq!(c["reason"], "Client Closed");
    assert_eq!(c["stop"], "2023-11-14T22:16:40Z");
    // Uptime runs from start to stop for a closed connection.
    assert_eq!(c["uptime"], "3m13s");
    assert_eq!(c["subscriptions_list"], serde_json::json!(["gone"]));
}

#[test]
fn varz_sums_the_shards_and_keeps_nats_servers_keys() {
    let f = Fake::new();
    let (status, v, _) = get(&f, "/varz");
    assert_eq!(status, 200);
    assert_eq!(v["connections"], 4);
    assert_eq!(v["total_connections"], 6);
    assert_eq!(v["out_msgs"], 22);
    assert_eq!(v["in_msgs"], 30);
    assert_eq!(v["subscriptions"], 3);
    assert_eq!(v["mem"], 1 << 20);
    assert_eq!(v["cpu"], 1.23);
    assert_eq!(v["ping_interval"], 120_000_000_000u64);
    assert_eq!(v["system_account"], "$SYS");
    let recorded: serde_json::Value = serde_json::from_str(include_str!(
        "../../tests/monitor/nats-server-2.9.10/varz.json"
    ))
    .unwrap();
    for key in recorded.as_object().unwrap().keys() {
        // `websocket` has keys only when a websocket block is set.
        assert!(v.get(key).is_some(), "/varz lacks {key}");
    }
}

#[test]
fn subsz_counts_lists_and_tests_subjects() {
    let f = Fake::new();
    let (_, v, _) = get(&f, "/subsz");
    assert_eq!(v["num_subscriptions"], 3);
    assert!(v.get("subscriptions_list").is_none());
    let (_, v, _) = get(&f, "/subsz?subs=1&test=b.x");
    let list = v["subscriptions_list"].as_array().unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["subject"], "b.*");
    assert_eq!(list[0]["account"], "$G");
    let (_, v, _) = get(&f, "/subsz?subs=1&limit=2&offset=1");
    assert_eq!(v["total"], 3);
    assert_eq!(v["subscriptions_list"].as_array().unwrap().len(), 2);
    let (status, _, body) = get(&f, "/subsz?subs=1&test=b.*");
    assert_eq!(status, 400);
    assert_eq!(
        body,
        "invalid test subject, must be valid publish subject: b.*"
    );
    let recorded: serde_json::Value = serde_json::from_str(include_str!(
        "../../tests/monitor/nats-server-2.9.10/subsz.json"
    ))
    .unwrap();
    for key in recorded.as_object().unwrap().keys() {
        assert!(v.get(key).is_some(), "/subsz lacks {key}");
    }
}

#[test]
fn the_small_endpoints_and_the_index() {
    let f = Fake::new();
    for (path, file) in [
        (
            "/accountz",
            include_str!("../../tests/monitor/nats-server-2.9.10/accountz.json"),
        ),
        (
            "/leafz",
            include_str!("../../tests/monitor/nats-server-2.9.10/leafz.json"),
        ),
        (
            "/routez",
            include_str!("../../tests/monitor/nats-server-2.9.10/routez.json"),
        ),
        (
            "/healthz",
            include_str!("../../tests/monitor/nats-server-2.9.10/healthz.json"),
        ),
    ] {
        let recorded: serde_json::Value = serde_json::from_str(file).unwrap();
        let (status, v, _) = get(&f, path);
        assert_eq!(status, 200, "{path}");
        for key in recorded.as_object().unwrap().keys() {
            assert!(v.get(key).is_some(), "{path} lacks {key}");
        }
    }
    let (_, v, _) = get(&f, "/accountz");
    assert_eq!(v["accounts"], serde_json::json!(["$G", "$SYS"]));
    assert!(v["leafs"].is_null());
    let (_, v, _) = get(&f, "/accountz?acc=$G");
    assert_eq!(v["account_detail"]["client_connections"], 2);
    assert_eq!(v["account_detail"]["subscriptions"], 3);
    let (status, _, body) = get(&f, "/accountz?acc=nope");
    assert_eq!(
        (status, body.as_str()),
        (400, "Account nope does not exist")
    );
    let (status, _, body) = get(&f, "/");
    assert_eq!(status, 200);
    assert!(body.contains("<a href=\"/connz\">connz</a>"));
    assert_eq!(get(&f, "/nothing").0, 404);
    assert_eq!(get(&f, "/varz/extra").0, 404);
}

#[test]
fn metrics_use_the_exporters_names() {
    let f = Fake::new();
    let (status, _, text) = get(&f, "/metrics");
    assert_eq!(status, 200);
    let id = &f.ctx.server_id;
    for line in [
        format!("gnatsd_varz_connections{{server_id=\"{id}\"}} 4"),
        format!("gnatsd_varz_in_msgs{{server_id=\"{id}\"}} 30"),
        format!("gnatsd_varz_version{{server_id=\"{id}\",value=\"2.9.10\"}} 1"),
        format!("gnatsd_connz_num_connections{{server_id=\"{id}\"}} 4"),
        format!("gnatsd_connz_out_msgs{{server_id=\"{id}\"}} 22"),
        format!("gnatsd_subsz_num_subscriptions{{server_id=\"{id}\"}} 3"),
        format!("gnatsd_connz_connections_by_type{{server_id=\"{id}\",type=\"websocket\"}} 2"),
        "# TYPE gnatsd_connz_in_bytes counter".to_string(),
    ] {
        assert!(text.lines().any(|l| l == line), "no {line:?} in\n{text}");
    }
}

#[test]
fn the_base_path_moves_every_endpoint() {
    let mut f = Fake::new();
    let opts = Options {
        http_base_path: "/nats".into(),
        ..Options::default()
    };
    f.ctx = ServerContext::new(opts, 2, 4222, None);
    assert_eq!(get(&f, "/nats/varz").0, 200);
    assert_eq!(get(&f, "/nats/").0, 200);
    assert_eq!(get(&f, "/varz").0, 404);
}
