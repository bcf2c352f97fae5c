//! Publish and subscribe permissions, over TCP and WebSocket, on both IO
//! runtimes: what is allowed flows, what is not gets nats-server's `-ERR`
//! and nothing else happens (the connection stays, the message is dropped,
//! the subscription is not made).

mod common;

use common::{next, next_error, open, with_server_errors, Conn, Io, Raw, Server, Start};

/// Users `pub` (may publish only to orders.> and status, never to
/// orders.secret.*), `sub` (may subscribe to orders.* and to jobs.> in the
/// queue group `workers`), `free` (no permissions), `dflt` (the block's
/// default_permissions) and `acc` (in account A, its default_permissions).
const CONFIG: &str = r#"
authorization {
  default_permissions: { publish: "defaults.>" }
  users [
    {user: pub, password: p, permissions: {publish: {allow: ["orders.>", "status"], deny: "orders.secret.*"}}}
    {user: sub, password: p, permissions: {subscribe: ["orders.*", "jobs.> workers"]}}
    {user: free, password: p, permissions: {}}
    {user: dflt, password: p}
    {user: guarded, password: p, permissions: {subscribe: {allow: ["orders.>", "jobs.>"], deny: ["orders.secret.*", "jobs.> thieves"]}}}
    {user: responder, password: p, permissions: {subscribe: "svc.>", allow_responses: true}}
    {user: twice, password: p, permissions: {subscribe: "svc.>", publish: "status", allow_responses: {max: 2, expires: "1m"}}}
  ]
}
accounts {
  A {
    users [ {user: acc, password: p}, {user: acc2, password: p} ]
    default_permissions: { publish: { deny: "a.private" } }
  }
}
websocket { host: 127.0.0.1, port: -1, no_tls: true }
"#;

fn start(io: Io) -> Server {
    Start::new(io).config(CONFIG).start()
}

/// A logged-in connection of `user`, over WebSocket when `ws`.
fn login(server: &Server, user: &str, ws: bool) -> Box<dyn Conn> {
    let mut c = open(server, ws);
    c.send(
        format!("CONNECT {{\"verbose\":false,\"user\":\"{user}\",\"pass\":\"p\"}}\r\n").as_bytes(),
    );
    assert_eq!(c.round_trip(), Vec::<String>::new(), "{user} logs in");
    c
}

/// A subscriber of `free` on `subject` (sid 1).
fn listener(server: &Server, subject: &str, ws: bool) -> Box<dyn Conn> {
    let mut c = login(server, "free", ws);
    c.send(format!("SUB {subject} 1\r\n").as_bytes());
    assert!(c.round_trip().is_empty());
    c
}

/// Publishes `subjects` (payload "x") and then PINGs: the lines before the
/// PONG.
fn publish_all(c: &mut dyn Conn, subjects: &[&str]) -> Vec<String> {
    for s in subjects {
        c.send(format!("PUB {s} 1\r\nx\r\n").as_bytes());
    }
    c.round_trip()
}

fn publish_err(subject: &str) -> String {
    format!("-ERR 'Permissions Violation for Publish to \"{subject}\"'")
}

fn sub_err(subject: &str) -> String {
    format!("-ERR 'Permissions Violation for Subscription to \"{subject}\"'")
}

/// The next `n` messages `c` receives: "subject sid" each. Messages of one
/// publisher keep their order, so one wrongly let through shows here
/// before the last expected one.
fn received(c: &mut dyn Conn, n: usize) -> Vec<String> {
    (0..n)
        .map(|_| {
            let l = c.line();
            let f: Vec<&str> = l.split(' ').collect();
            assert_eq!(f[0], "MSG", "{l}");
            assert_eq!(c.line(), "x");
            format!("{} {}", f[1], f[2])
        })
        .collect()
}

/// Runs `check` over TCP and over WebSocket against a server of one shard
/// and then one of two (connections then land on either); returns the
/// second.
fn each_transport(io: Io, check: impl Fn(&Server, bool)) -> Server {
    let mut last = None;
    for shards in [1, 2] {
        let server = Start::new(io).shards(shards).config(CONFIG).start();
        for ws in [false, true] {
            check(&server, ws);
        }
        last = Some(server);
    }
    last.expect("a server")
}

io_tests! {
    publish_allow_and_deny_rules_drop_only_what_they_refuse => |io| async move {
        let server = each_transport(io, |server, ws| {
            let mut all = listener(server, ">", ws);
            let mut p = login(server, "pub", ws);
            let errs = publish_all(
                &mut *p,
                &["orders.new", "other", "orders.secret.x", "status", "orders.secret.x.y", "orders"],
            );
            assert_eq!(
                errs,
                [publish_err("other"), publish_err("orders.secret.x"), publish_err("orders")],
                "ws {ws}"
            );
            // Refused again from the connection's remembered decision.
            assert_eq!(publish_all(&mut *p, &["other", "status"]), [publish_err("other")]);
            assert_eq!(
                received(&mut *all, 4),
                ["orders.new 1", "status 1", "orders.secret.x.y 1", "status 1"],
                "ws {ws}"
            );
        });
        server.wait_for_log("Publish Violation - User \"pub\", Subject \"other\"");
    };

    subscribe_allow_rules_refuse_the_subscription_not_the_connection => |io| async move {
        let server = each_transport(io, |server, ws| {
            let mut s = login(server, "sub", ws);
            s.send(b"SUB orders.* 1\r\nSUB orders.> 2\r\nSUB secret 3\r\nSUB jobs.a workers 4\r\n");
            s.send(b"SUB jobs.a thieves 5\r\nSUB jobs.a 6\r\nSUB orders.new 7\r\n");
            assert_eq!(
                s.round_trip(),
                [
                    sub_err("orders.>"),
                    sub_err("secret"),
                    "-ERR 'Permissions Violation for Subscription to \"jobs.a\" using queue \"thieves\"'".to_string(),
                    sub_err("jobs.a"),
                ],
                "ws {ws}"
            );
            let mut p = login(server, "free", ws);
            assert!(publish_all(&mut *p, &["orders.x.y", "secret", "jobs.a", "orders.new"]).is_empty());
            // sid 1 (orders.*) and 7 (orders.new) get orders.new; sid 4 gets
            // jobs.a; the refused subscriptions get nothing.
            let mut sids = received(&mut *s, 3);
            sids.sort();
            assert_eq!(sids, ["jobs.a 4", "orders.new 1", "orders.new 7"], "ws {ws}");
        });
        server.wait_for_log("Subscription Violation - User \"sub\", Subject \"jobs.a\", Queue: \"thieves\", SID 5");
    };

    default_permissions_go_to_users_without_their_own => |io| async move {
        let _server = each_transport(io, |server, ws| {
            let mut d = login(server, "dflt", ws);
            assert_eq!(publish_all(&mut *d, &["defaults.a", "orders.new"]), [publish_err("orders.new")]);
            let mut f = login(server, "free", ws);
            assert!(publish_all(&mut *f, &["defaults.a", "orders.new", "anything"]).is_empty());
            // Account A's default applies to its users, inside the account.
            let mut a2 = login(server, "acc2", ws);
            a2.send(b"SUB > 1\r\n");
            assert!(a2.round_trip().is_empty());
            let mut a = login(server, "acc", ws);
            assert_eq!(
                publish_all(&mut *a, &["a.public", "a.private", "a.end"]),
                [publish_err("a.private")]
            );
            assert_eq!(received(&mut *a2, 2), ["a.public 1", "a.end 1"], "ws {ws}");
        });
    };

    a_wildcard_publish_subject_is_reported_before_the_permissions_decide => |io| async move {
        // As nats-server 2.9.10 answers: the subject's fault first, then the
        // permission's; a wildcard subject is matched as plain tokens.
        let server = start(io);
        let mut all = listener(&server, ">", false);
        let mut p = login(&server, "pub", false);
        assert_eq!(
            publish_all(&mut *p, &["a.*", "orders.*", "status"]),
            [
                "-ERR 'Invalid Publish Subject'".to_string(),
                publish_err("a.*"),
                "-ERR 'Invalid Publish Subject'".to_string(),
            ]
        );
        assert_eq!(received(&mut *all, 2), ["orders.* 1", "status 1"]);
    };

    async_nats_hears_the_violation_and_keeps_its_connection => |io| async move {
        let server = start(io);
        for url in [server.url(), server.ws_url()] {
            let (options, mut errors) = with_server_errors(
                async_nats::ConnectOptions::with_user_and_password("pub".into(), "p".into()),
            );
            let publisher = options.connect(&url).await.unwrap();
            let free = async_nats::ConnectOptions::with_user_and_password("free".into(), "p".into())
                .connect(&url)
                .await
                .unwrap();
            let mut sub = free.subscribe("orders.>").await.unwrap();
            free.flush().await.unwrap();
            // The subscription is live everywhere once its own round trip is.
            free.publish("orders.ready", "".into()).await.unwrap();
            assert_eq!(next(&mut sub).await.subject.as_str(), "orders.ready");
            publisher.publish("other", "no".into()).await.unwrap();
            publisher.publish("orders.new", "yes".into()).await.unwrap();
            let m = next(&mut sub).await;
            assert_eq!((m.subject.as_str(), &m.payload[..]), ("orders.new", &b"yes"[..]), "{url}");
            let e = next_error(&mut errors).await;
            assert!(e.contains("Permissions Violation for Publish to \"other\""), "{url}: {e}");
            assert_eq!(publisher.connection_state(), async_nats::connection::State::Connected);
        }
    };

    subscribe_deny_rules_refuse_subscriptions_and_filter_wildcards => |io| async move {
        let server = each_transport(io, |server, ws| {
            let mut g = login(server, "guarded", ws);
            g.send(b"SUB orders.secret.x 1\r\nSUB orders.> 2\r\nSUB jobs.a thieves 3\r\nSUB jobs.a workers 4\r\n");
            assert_eq!(
                g.round_trip(),
                [
                    sub_err("orders.secret.x"),
                    "-ERR 'Permissions Violation for Subscription to \"jobs.a\" using queue \"thieves\"'".to_string(),
                ],
                "ws {ws}"
            );
            let mut p = login(server, "free", ws);
            let subjects = ["orders.a", "orders.secret.x", "orders.secret.x.y", "jobs.a", "orders.b"];
            assert!(publish_all(&mut *p, &subjects).is_empty());
            // The wildcard subscription gets all but the denied subject.
            assert_eq!(
                received(&mut *g, 4),
                ["orders.a 2", "orders.secret.x.y 2", "jobs.a 4", "orders.b 2"],
                "ws {ws}"
            );
        });
        server.wait_for_log("Subscription Violation - User \"guarded\", Subject \"orders.secret.x\", SID 1");
    };

    responders_may_answer_what_they_were_asked_and_no_more => |io| async move {
        each_transport(io, |server, ws| {
            for (user, answers) in [("responder", 1), ("twice", 2)] {
                let mut r = login(server, user, ws);
                r.send(b"SUB svc.q 1\r\n");
                assert!(r.round_trip().is_empty());
                let mut asker = listener(server, "_INBOX.ask", ws);
                asker.send(b"PUB svc.q _INBOX.ask 1\r\nx\r\n");
                assert!(asker.round_trip().is_empty());
                assert_eq!(r.line(), "MSG svc.q 1 _INBOX.ask 1");
                assert_eq!(r.line(), "x");
                let mut errs = publish_all(&mut *r, &["_INBOX.ask"; 3]);
                // Without an allow list of its own, only replies; `twice`
                // may also publish status.
                errs.extend(publish_all(&mut *r, &["_INBOX.other", "status"]));
                let mut want = vec![publish_err("_INBOX.ask"); 3 - answers];
                want.push(publish_err("_INBOX.other"));
                if user == "responder" {
                    want.push(publish_err("status"));
                }
                assert_eq!(errs, want, "{user}, ws {ws}");
                // The asker got as many answers as were allowed, then a
                // marker from an unrestricted publisher.
                let mut free = login(server, "free", ws);
                assert!(publish_all(&mut *free, &["_INBOX.ask"]).is_empty());
                assert_eq!(received(&mut *asker, answers + 1), vec!["_INBOX.ask 1"; answers + 1]);
            }
        });
    };

    verbose_clients_get_the_error_instead_of_ok => |io| async move {
        let server = start(io);
        let (mut c, _) = Raw::connect(&server);
        c.send(b"CONNECT {\"user\":\"pub\",\"pass\":\"p\",\"verbose\":true}\r\n");
        assert_eq!(c.line(), "+OK");
        c.send(b"PUB status 1\r\nx\r\nPUB other 1\r\nx\r\nSUB orders.new 1\r\n");
        assert_eq!(c.line(), "+OK");
        assert_eq!(c.line(), publish_err("other"));
        assert_eq!(c.line(), "+OK", "subscribing is not restricted for pub");
    };
}

/// An account's `limits {}` in the file: its connections counted across
/// the shards, its subscription and payload limits held per connection,
/// with nats-server's texts, over TCP and WebSocket.
mod account_limits {
    use super::common::{open, Start};
    use crate::io_tests;

    const CONFIG: &str = r#"
accounts {
  A {
    users [{user: a, password: p}]
    limits { max_connections: 2, max_subscriptions: 2, max_payload: 10 }
  }
  B { users [{user: b, password: p}], limits { max_conn: -1 } }
}
websocket { host: 127.0.0.1, port: -1, no_tls: true }
"#;

    const LOGIN_A: &[u8] = b"CONNECT {\"verbose\":false,\"user\":\"a\",\"pass\":\"p\"}\r\nPING\r\n";

    io_tests! {
        are_held_for_every_connection_of_the_account => |io| async move {
          for shards in [1, 2] {
            let server = Start::new(io).shards(shards).config(CONFIG).start();
            for ws in [false, true] {
                let mut c = open(&server, ws);
                c.send(LOGIN_A);
                assert_eq!(c.line(), "PONG");
                c.send(b"SUB a 1\r\nSUB b 2\r\nSUB c 3\r\n");
                assert_eq!(c.round_trip(), ["-ERR 'maximum subscriptions exceeded'"]);
                c.send(b"PUB a 10\r\n0123456789\r\n");
                assert_eq!(c.line(), "MSG a 1 10");
                assert_eq!(c.line(), "0123456789");
                c.send(b"PUB a 11\r\n0123456789x\r\n");
                assert_eq!(c.line(), "-ERR 'Maximum Payload Violation'");
            }
            // Two at a time in A, whichever shard and transport each is on;
            // B is not limited.
            let mut held = Vec::new();
            for ws in [false, true] {
                let mut c = open(&server, ws);
                c.send(LOGIN_A);
                assert_eq!(c.line(), "PONG");
                held.push(c);
            }
            for ws in [false, true] {
                let mut c = open(&server, ws);
                c.send(LOGIN_A);
                assert_eq!(c.line(), "-ERR 'maximum account active connections exceeded'");
            }
            for _ in 0..4 {
                let mut c = open(&server, false);
                c.send(b"CONNECT {\"verbose\":false,\"user\":\"b\",\"pass\":\"p\"}\r\nPING\r\n");
                assert_eq!(c.line(), "PONG");
                held.push(c);
            }
          }
        };
    }

    #[test]
    fn unknown_limits_are_errors() {
        let f = tempfile::Builder::new().suffix(".conf").tempfile().unwrap();
        std::fs::write(f.path(), "accounts { A { limits { max_widgets: 3 } } }\n").unwrap();
        let out = std::process::Command::new(super::common::binary())
            .arg("-t")
            .arg("-c")
            .arg(f.path())
            .output()
            .unwrap();
        assert!(!out.status.success());
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains("Unknown field \"max_widgets\" parsing account limits"),
            "{stderr}"
        );
    }
}
