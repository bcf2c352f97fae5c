//! The core server with an official client (async-nats), over real sockets,
//! on both IO runtimes and two shards, so that connections land on
//! different shards and cross-shard delivery is exercised.
//!
//! async-nats's `flush()` returns before the server's PONG, so each test
//! awaits a round trip through the server (a request to itself) before it
//! expects delivery: the server holds a client's output after a SUB until
//! every shard has the subscription, so the reply means "live everywhere".

mod common;

use std::time::Duration;

use async_nats::{Client, HeaderMap};
use common::{next, sync, Io, Server, Start};
use futures::{FutureExt, StreamExt};

async fn connect(server: &Server) -> Client {
    async_nats::ConnectOptions::new()
        .connection_timeout(Duration::from_secs(10))
        .connect(server.url())
        .await
        .unwrap()
}

/// Several clients: with two shards the kernel spreads them, and the test
/// needs at least one on each.
async fn clients(server: &Server, n: usize) -> Vec<Client> {
    let mut out = Vec::new();
    for _ in 0..n {
        out.push(connect(server).await);
    }
    out
}

/// The shard a client's connection landed on, from the server's debug log.
fn shard_of(server: &Server, client: &Client) -> usize {
    let cid = client.server_info().client_id;
    let line = server.wait_for_log(&format!("cid:{cid} - Client connection created on shard "));
    line.rsplit(' ').next().unwrap().parse().unwrap()
}

io_tests! {
    pub_sub_across_connections => |io: Io| async move {
        let server = Server::new(io);
        let cs = clients(&server, 4).await;
        let mut subs = Vec::new();
        for c in &cs[1..] {
            subs.push(c.subscribe("greet.joe").await.unwrap());
            sync(c).await;
        }
        cs[0].publish("greet.joe", "hello".into()).await.unwrap();
        for s in &mut subs {
            let m = next(s).await;
            assert_eq!(m.subject.as_str(), "greet.joe");
            assert_eq!(&m.payload[..], b"hello");
        }
    };

    wildcards_star_and_greater => |io: Io| async move {
        let server = Server::new(io);
        let cs = clients(&server, 3).await;
        let mut star = cs[1].subscribe("a.*.c").await.unwrap();
        let mut gt = cs[2].subscribe("a.>").await.unwrap();
        sync(&cs[1]).await;
        sync(&cs[2]).await;
        for subject in ["a.b.c", "a.x.c", "a.b.d", "a.b.c.d", "b.b.c"] {
            cs[0].publish(subject, subject.into()).await.unwrap();
        }
        cs[0].publish("end", "".into()).await.unwrap();
        sync(&cs[0]).await;
        let got: Vec<String> = vec![next(&mut star).await, next(&mut star).await]
            .into_iter().map(|m| m.subject.to_string()).collect();
        assert_eq!(got, ["a.b.c", "a.x.c"]);
        let mut got = Vec::new();
        for _ in 0..4 {
            got.push(next(&mut gt).await.subject.to_string());
        }
        assert_eq!(got, ["a.b.c", "a.x.c", "a.b.d", "a.b.c.d"]);
        // Nothing more for either: a marker published after arrives next.
        cs[0].publish("a.z.c", "marker".into()).await.unwrap();
        assert_eq!(&next(&mut star).await.payload[..], b"marker");
        assert_eq!(&next(&mut gt).await.payload[..], b"marker");
    };

    queue_group_spreads_fairly_over_members_on_every_shard => |io: Io| async move {
        // -D: the log says which shard each connection landed on.
        let server = Start::new(io).args(&["-D"]).start();
        let mut on: [Vec<Client>; 2] = [Vec::new(), Vec::new()];
        while on[0].len() < 3 || on[1].len() < 3 {
            let c = connect(&server).await;
            let s = shard_of(&server, &c);
            on[s].push(c);
            assert!(on[0].len() + on[1].len() < 60, "the kernel never spread connections");
        }
        // One member where the publisher is, two on the other shard.
        let [here, there] = on;
        let member_clients = [&here[0], &there[0], &there[1]];
        let mut members = Vec::new();
        for c in member_clients {
            members.push(c.queue_subscribe("jobs", "workers".into()).await.unwrap());
            sync(c).await;
        }
        let mut plain = here[1].subscribe("jobs").await.unwrap();
        sync(&here[1]).await;
        let publisher = &here[2];
        const N: usize = 3000;
        for i in 0..N {
            publisher.publish("jobs", i.to_string().into()).await.unwrap();
        }
        sync(publisher).await;
        let mut seen = vec![0u32; N];
        for _ in 0..N {
            let m = next(&mut plain).await;
            let i: usize = std::str::from_utf8(&m.payload).unwrap().parse().unwrap();
            seen[i] += 1;
        }
        assert!(seen.iter().all(|&n| n == 1), "the plain subscriber gets every message once");
        // The members together: every message exactly once.
        let mut tagged = futures::stream::select_all(
            members.iter_mut().enumerate().map(|(k, s)| s.map(move |m| (k, m))),
        );
        let mut seen = vec![0u32; N];
        let mut per_member = [0usize; 3];
        for _ in 0..N {
            let (k, m) = tokio::time::timeout(Duration::from_secs(10), tagged.next())
                .await
                .expect("a message in time")
                .expect("subscriptions open");
            let i: usize = std::str::from_utf8(&m.payload).unwrap().parse().unwrap();
            seen[i] += 1;
            per_member[k] += 1;
        }
        drop(tagged);
        assert!(seen.iter().all(|&n| n == 1), "each message reaches one member");
        // And no more: whatever was sent before a round trip has arrived.
        for c in member_clients {
            sync(c).await;
        }
        for m in &mut members {
            assert!(m.next().now_or_never().is_none(), "a message reached two members");
        }
        for &n in &per_member {
            assert!(n >= N / 5, "every member gets its share: {per_member:?}");
        }
    };

    request_reply_across_shards => |io: Io| async move {
        let server = Server::new(io);
        let cs = clients(&server, 3).await;
        for (i, c) in cs[1..].iter().enumerate() {
            let mut svc = c.subscribe(format!("svc.{i}")).await.unwrap();
            let c2 = c.clone();
            tokio::spawn(async move {
                while let Some(m) = svc.next().await {
                    let mut body = b"re:".to_vec();
                    body.extend_from_slice(&m.payload);
                    c2.publish(m.reply.unwrap(), body.into()).await.unwrap();
                }
            });
            sync(c).await;
        }
        for i in 0..2 {
            for n in 0..20 {
                let r = cs[0].request(format!("svc.{i}"), n.to_string().into()).await.unwrap();
                assert_eq!(r.payload, format!("re:{n}").as_bytes());
            }
        }
    };

    headers_travel_with_messages => |io: Io| async move {
        let server = Server::new(io);
        let cs = clients(&server, 3).await;
        let mut subs = Vec::new();
        for c in &cs[1..] {
            subs.push(c.subscribe("h").await.unwrap());
            sync(c).await;
        }
        let mut headers = HeaderMap::new();
        headers.insert("X-Trace", "abc");
        headers.append("X-Multi", "1");
        headers.append("X-Multi", "2");
        cs[0].publish_with_headers("h", headers, "body".into()).await.unwrap();
        for s in &mut subs {
            let m = next(s).await;
            let h = m.headers.expect("headers");
            assert_eq!(h.get("X-Trace").unwrap().as_str(), "abc");
            assert_eq!(h.get_all("X-Multi").map(|v| v.as_str().to_string()).collect::<Vec<_>>(), ["1", "2"]);
            assert_eq!(&m.payload[..], b"body");
        }
    };

    request_without_responders_fails_fast => |io: Io| async move {
        let server = Server::new(io);
        let c = connect(&server).await;
        let err = c.request("nobody.home", "x".into()).await.unwrap_err();
        assert_eq!(err.kind(), async_nats::RequestErrorKind::NoResponders, "{err}");
    };

    auto_unsubscribe_after_n => |io: Io| async move {
        let server = Server::new(io);
        let cs = clients(&server, 2).await;
        let mut sub = cs[1].subscribe("limited").await.unwrap();
        sub.unsubscribe_after(3).await.unwrap();
        sync(&cs[1]).await;
        for i in 0..10 {
            cs[0].publish("limited", i.to_string().into()).await.unwrap();
        }
        cs[0].flush().await.unwrap();
        let mut got = Vec::new();
        while let Some(m) = tokio::time::timeout(Duration::from_secs(10), sub.next()).await.expect("stream ends") {
            got.push(String::from_utf8(m.payload.to_vec()).unwrap());
        }
        assert_eq!(got, ["0", "1", "2"]);
    };

    drain_delivers_what_was_sent_then_closes => |io: Io| async move {
        let server = Server::new(io);
        let cs = clients(&server, 2).await;
        let mut sub = cs[1].subscribe("d").await.unwrap();
        sync(&cs[1]).await;
        for i in 0..100 {
            cs[0].publish("d", i.to_string().into()).await.unwrap();
        }
        sync(&cs[0]).await;
        let mut seen = 0;
        while seen < 100 {
            next(&mut sub).await;
            seen += 1;
        }
        sub.drain().await.unwrap();
        // The client finishes a drain when its connection next wakes up.
        sync(&cs[1]).await;
        assert!(tokio::time::timeout(Duration::from_secs(10), sub.next()).await.unwrap().is_none());
        cs[1].drain().await.unwrap();
    };

    many_clients_see_every_message_once_in_order => |io: Io| async move {
        let server = Start::new(io).shards(2).start();
        let publishers = clients(&server, 3).await;
        let subscribers = clients(&server, 6).await;
        let mut subs = Vec::new();
        for c in &subscribers {
            subs.push(c.subscribe("fan.>").await.unwrap());
            sync(c).await;
        }
        const N: usize = 300;
        for (p, c) in publishers.iter().enumerate() {
            for i in 0..N {
                c.publish(format!("fan.{p}"), i.to_string().into()).await.unwrap();
            }
        }
        for c in &publishers {
            c.flush().await.unwrap();
        }
        for s in &mut subs {
            let mut next_expected = [0usize; 3];
            for _ in 0..3 * N {
                let m = next(s).await;
                let p: usize = m.subject.as_str()[4..].parse().unwrap();
                let i: usize = std::str::from_utf8(&m.payload).unwrap().parse().unwrap();
                assert_eq!(i, next_expected[p], "publisher {p} out of order");
                next_expected[p] += 1;
            }
            assert_eq!(next_expected, [N; 3]);
        }
    };

    unsubscribe_stops_delivery_everywhere => |io: Io| async move {
        let server = Server::new(io);
        let cs = clients(&server, 3).await;
        let mut a = cs[1].subscribe("u").await.unwrap();
        let mut b = cs[2].subscribe("u").await.unwrap();
        sync(&cs[1]).await;
        sync(&cs[2]).await;
        cs[0].publish("u", "1".into()).await.unwrap();
        assert_eq!(&next(&mut a).await.payload[..], b"1");
        assert_eq!(&next(&mut b).await.payload[..], b"1");
        a.unsubscribe().await.unwrap();
        sync(&cs[1]).await;
        cs[0].publish("u", "2".into()).await.unwrap();
        assert_eq!(&next(&mut b).await.payload[..], b"2");
        assert!(a.next().await.is_none());
    };
}

#[test]
fn sigterm_stops_the_server_cleanly() {
    for io in [Io::Uring, Io::Epoll] {
        let server = Server::new(io);
        let c = std::net::TcpStream::connect(server.addr()).unwrap();
        assert!(server.stop().success());
        drop(c);
    }
}
