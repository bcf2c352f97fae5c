//! Streams and services exported by one account and imported by another,
//! over TCP and WebSocket, on one shard and on two, on both IO runtimes:
//! subjects mapped as nats-server maps them, nothing crossing where nothing
//! is imported, responses finding their way back to the requester.
//!
//! Absence is checked with a sentinel: the publisher sends, after the
//! message that must not arrive, one that must; messages of one publisher
//! keep their order whichever accounts and shards they cross, so a leaked
//! one would show before the sentinel.

mod common;

use common::{next, open, Conn, Io, Server, Start};

/// A exports streams (one only to C) and services; B imports them under
/// other names; C imports the private stream.
const CONFIG: &str = r#"
accounts {
  A {
    users [{user: a, password: p}, {user: a2, password: p}]
    exports [
      {stream: "pub.>"}
      {stream: "private.>", accounts: [C]}
      {service: "help.*"}
      {service: "feed", response_type: stream}
    ]
  }
  B {
    users [{user: b, password: p}]
    imports [
      {stream: {account: A, subject: "pub.>"}, prefix: "froma"}
      {stream: {account: A, subject: "pub.x.*"}, to: "mine.$1"}
      {service: {account: A, subject: "help.*"}, to: "ahelp.*"}
      {service: {account: A, subject: "feed"}}
    ]
  }
  C {
    users [{user: c, password: p}]
    imports [{stream: {account: A, subject: "private.>"}}]
  }
}
websocket { host: 127.0.0.1, port: -1, no_tls: true }
"#;

/// A logged-in connection of `user` (password "p"), headers on.
fn login(server: &Server, user: &str, ws: bool) -> Box<dyn Conn> {
    let mut c = open(server, ws);
    c.send(
        format!(
            "CONNECT {{\"verbose\":false,\"user\":\"{user}\",\"pass\":\"p\",\"headers\":true,\"no_responders\":true}}\r\n"
        )
        .as_bytes(),
    );
    assert_eq!(c.round_trip(), Vec::<String>::new(), "{user} logs in");
    c
}

/// `user` subscribed to `subjects` (sids 1, 2, ...).
fn subscriber(server: &Server, user: &str, subjects: &[&str], ws: bool) -> Box<dyn Conn> {
    let mut c = login(server, user, ws);
    for (i, s) in subjects.iter().enumerate() {
        c.send(format!("SUB {s} {}\r\n", i + 1).as_bytes());
    }
    assert!(c.round_trip().is_empty());
    c
}

/// The next message without headers: "subject sid [reply] payload".
fn msg(c: &mut dyn Conn) -> String {
    let l = c.line();
    let f: Vec<&str> = l.split(' ').collect();
    assert_eq!(f[0], "MSG", "{l}");
    format!("{} {}", f[1..f.len() - 1].join(" "), c.line())
}

/// A request's arrival at a header-speaking responder: (subject, reply or
/// "", header lines, payload).
fn hmsg(c: &mut dyn Conn) -> (String, String, Vec<String>, String) {
    let l = c.line();
    let f: Vec<&str> = l.split(' ').collect();
    assert!(f[0] == "HMSG" && (5..=6).contains(&f.len()), "{l}");
    assert_eq!(c.line(), "NATS/1.0");
    let mut headers = Vec::new();
    loop {
        let h = c.line();
        if h.is_empty() {
            break;
        }
        headers.push(h);
    }
    let reply = if f.len() == 6 { f[3] } else { "" };
    (f[1].to_string(), reply.to_string(), headers, c.line())
}

/// Runs `check` over TCP and WebSocket on a server of one shard and then
/// one of two (connections then land on either).
fn each_transport(io: Io, check: impl Fn(&Server, bool)) {
    for shards in [1, 2] {
        let server = Start::new(io).shards(shards).config(CONFIG).start();
        for ws in [false, true] {
            check(&server, ws);
        }
    }
}

io_tests! {
    stream_imports_map_subjects_into_the_importing_account => |io| async move {
        each_transport(io, |server, ws| {
            let mut b = subscriber(server, "b", &["froma.>", "mine.*", "pub.>", "private.>"], ws);
            let mut c = subscriber(server, "c", &[">"], ws);
            let mut a = login(server, "a", ws);
            a.send(b"PUB pub.x.y r.1 2\r\nhi\r\nPUB private.z 2\r\nho\r\n");
            a.send(b"PUB pub.end 1\r\nx\r\nPUB private.end 1\r\nx\r\n");
            assert!(a.round_trip().is_empty());
            // The prefix, the `to` mapping with its wildcard, the reply kept;
            // not under A's own subject, and not the stream exported to C.
            assert_eq!(msg(&mut *b), "froma.pub.x.y 1 r.1 hi", "ws {ws}");
            assert_eq!(msg(&mut *b), "mine.y 2 r.1 hi");
            assert_eq!(msg(&mut *b), "froma.pub.end 1 x");
            // C sees only the stream it imports, under the same subject.
            assert_eq!(msg(&mut *c), "private.z 1 ho");
            assert_eq!(msg(&mut *c), "private.end 1 x");
        });
    };

    nothing_crosses_accounts_that_import_nothing_from_the_publisher => |io| async move {
        each_transport(io, |server, ws| {
            let mut a = subscriber(server, "a", &["pub.>", "froma.>", "help.*"], ws);
            let mut c = subscriber(server, "c", &[">"], ws);
            let mut b = login(server, "b", ws);
            // B's publishes stay in B (A exports, it does not import) but
            // for the service B imports.
            b.send(b"PUB pub.q 1\r\nb\r\nPUB froma.pub.q 1\r\nb\r\nPUB private.q 1\r\nb\r\n");
            b.send(b"PUB ahelp.end 1\r\nx\r\n");
            assert!(b.round_trip().is_empty());
            let (subject, _, _, payload) = hmsg(&mut *a);
            assert_eq!((subject.as_str(), payload.as_str()), ("help.end", "x"), "ws {ws}");
            // C hears from neither B nor A's streams it does not import.
            let mut a2 = login(server, "a2", ws);
            a2.send(b"PUB pub.q 1\r\na\r\nPUB private.end 1\r\nx\r\n");
            assert!(a2.round_trip().is_empty());
            assert_eq!(msg(&mut *c), "private.end 1 x");
        });
    };

    a_service_request_crosses_accounts_and_one_response_comes_back => |io| async move {
        each_transport(io, |server, ws| {
            let mut b = subscriber(server, "b", &["inbox.1", "froma.>"], ws);
            let mut a = subscriber(server, "a", &["help.*"], ws);
            let mut plain = open(server, ws);
            plain.send(b"CONNECT {\"verbose\":false,\"user\":\"a2\",\"pass\":\"p\"}\r\nSUB help.* 7\r\n");
            assert!(plain.round_trip().is_empty());

            b.send(b"PUB ahelp.q inbox.1 3\r\nreq\r\n");
            let (subject, reply, headers, payload) = hmsg(&mut *a);
            assert_eq!((subject.as_str(), payload.as_str()), ("help.q", "req"), "ws {ws}");
            // A reply subject of A's own, not B's inbox, and who asked.
            assert!(reply.starts_with("_R_.") && reply.len() > 10, "{reply}");
            assert_eq!(headers, ["Nats-Request-Info: {\"acc\":\"B\"}"]);
            // A client without headers gets the request without them.
            assert_eq!(msg(&mut *plain), format!("help.q 7 {reply} req"));

            // A singleton service: the first response reaches the requester,
            // a second one nobody.
            a.send(format!("PUB {reply} 2\r\nok\r\nPUB {reply} 5\r\nagain\r\n").as_bytes());
            a.send(b"PUB pub.end 1\r\nx\r\n");
            assert!(a.round_trip().is_empty());
            assert_eq!(msg(&mut *b), "inbox.1 1 ok");
            assert_eq!(msg(&mut *b), "froma.pub.end 2 x");
        });
    };

    a_stream_service_lets_every_response_through => |io| async move {
        each_transport(io, |server, ws| {
            let mut b = subscriber(server, "b", &["inbox.2", "froma.>"], ws);
            let mut a = subscriber(server, "a", &["feed"], ws);
            b.send(b"PUB feed inbox.2 3\r\nreq\r\n");
            let (subject, reply, _, _) = hmsg(&mut *a);
            assert_eq!(subject, "feed", "ws {ws}");
            a.send(format!("PUB {reply} 1\r\n1\r\nPUB {reply} 1\r\n2\r\nPUB pub.end 1\r\nx\r\n").as_bytes());
            assert!(a.round_trip().is_empty());
            assert_eq!(msg(&mut *b), "inbox.2 1 1");
            assert_eq!(msg(&mut *b), "inbox.2 1 2");
            assert_eq!(msg(&mut *b), "froma.pub.end 2 x");
        });
    };

    response_subjects_nobody_owes_reach_nobody => |io| async move {
        each_transport(io, |server, ws| {
            let mut b = subscriber(server, "b", &[">"], ws);
            let mut a = login(server, "a", ws);
            // Guessed response subjects, and one B might think is its own.
            a.send(b"PUB _R_.abcdef.0123456789 1\r\ng\r\nPUB _R_.abcdef 1\r\ng\r\nPUB inbox.1 1\r\ng\r\n");
            a.send(b"PUB pub.end 1\r\nx\r\n");
            assert!(a.round_trip().is_empty());
            assert_eq!(msg(&mut *b), "froma.pub.end 1 x", "ws {ws}");
        });
    };

    an_imported_service_with_no_responder_sends_no_503 => |io| async move {
        // nats-server counts a service import as interest: the requester
        // waits for its own timeout rather than hearing "no responders".
        each_transport(io, |server, ws| {
            let mut b = subscriber(server, "b", &["inbox.3"], ws);
            b.send(b"PUB ahelp.q inbox.3 3\r\nreq\r\nPUB inbox.3 1\r\nx\r\n");
            assert_eq!(msg(&mut *b), "inbox.3 1 x", "ws {ws}");
            // A request on a subject nothing imports still gets its 503.
            b.send(b"PUB nowhere inbox.3 3\r\nreq\r\n");
            let l = b.line();
            assert!(l.starts_with("HMSG inbox.3 1 "), "{l}");
            assert_eq!(b.line(), "NATS/1.0 503");
        });
    };

    official_client_requests_a_service_of_another_account => |io| async move {
        for shards in [1, 2] {
            let server = Start::new(io).shards(shards).config(CONFIG).start();
            for url in [server.url(), server.ws_url()] {
                let connect = |user: &'static str| {
                    async_nats::ConnectOptions::with_user_and_password(user.into(), "p".into())
                        .connect(url.clone())
                };
                let a = connect("a").await.unwrap();
                let b = connect("b").await.unwrap();
                let mut requests = a.subscribe("help.*").await.unwrap();
                common::sync(&a).await;
                let responder = tokio::spawn({
                    let a = a.clone();
                    async move {
                        for _ in 0..3 {
                            let m = next(&mut requests).await;
                            let who = m
                                .headers
                                .as_ref()
                                .and_then(|h| h.get("Nats-Request-Info"))
                                .map(|v| v.to_string())
                                .unwrap_or_default();
                            let body = format!("{} for {who}", String::from_utf8_lossy(&m.payload));
                            a.publish(m.reply.expect("a reply subject"), body.into())
                                .await
                                .unwrap();
                        }
                    }
                });
                for i in 0..3 {
                    let got = b
                        .request(format!("ahelp.{i}"), format!("q{i}").into())
                        .await
                        .expect("an answer across accounts");
                    assert_eq!(
                        String::from_utf8_lossy(&got.payload),
                        format!("q{i} for {{\"acc\":\"B\"}}"),
                        "{url}"
                    );
                }
                responder.await.unwrap();
            }
        }
    };
}

/// nats-server ignores a `prefix` on a service import; so do we, but say so
/// at the start instead of dropping it unseen, and the service keeps its
/// subject.
#[test]
fn a_prefix_on_a_service_import_is_ignored_with_a_warning() {
    let config = r#"
accounts {
  A { users [{user: a, password: p}], exports [{service: "help"}] }
  B {
    users [{user: b, password: p}]
    imports [{service: {account: A, subject: "help"}, prefix: "x"}]
  }
}
"#;
    let server = Start::new(Io::Epoll).config(config).start();
    let line = server.wait_for_log("'prefix' applies to stream imports only");
    assert!(line.contains(":6:"), "the warning names where: {line}");
    let mut a = subscriber(&server, "a", &["help", "x.help"], false);
    let mut b = login(&server, "b", false);
    b.send(b"PUB help 1\r\nq\r\n");
    assert!(b.round_trip().is_empty());
    let (subject, ..) = hmsg(&mut *a);
    assert_eq!(subject, "help");
}
