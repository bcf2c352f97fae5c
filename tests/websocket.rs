//! WebSocket clients, as nats-server's `websocket {}` block serves them:
//! the official Rust client over ws://, beside TCP clients; the upgrade's
//! rules and statuses, frame rules and close codes, compression and the
//! handshake timeout with raw sockets. Both IO runtimes, two shards.

mod common;

use std::time::Duration;

use common::ws::{client_deflate, inflate, masked_frame, request, WsRaw};
use common::{next, sync, Io, Server, Start};

const WS: &str = "websocket { host: 127.0.0.1, port: -1, no_tls: true }";
const WS_COMPRESSION: &str =
    "websocket { host: 127.0.0.1, port: -1, no_tls: true, compression: true }";

fn start(io: Io, config: &str) -> Server {
    Start::new(io).config(config).args(&["-D"]).start()
}

async fn ws_client(server: &Server) -> async_nats::Client {
    async_nats::ConnectOptions::new()
        .connection_timeout(Duration::from_secs(10))
        .connect(server.ws_url())
        .await
        .unwrap()
}

async fn tcp_client(server: &Server) -> async_nats::Client {
    async_nats::ConnectOptions::new()
        .connection_timeout(Duration::from_secs(10))
        .connect(server.url())
        .await
        .unwrap()
}

io_tests! {
    async_nats_over_ws_talks_to_tcp_clients_both_ways => |io| async move {
        let server = start(io, WS);
        // Several of each, so that both shards hold both kinds.
        let mut ws = Vec::new();
        let mut tcp = Vec::new();
        for _ in 0..3 {
            ws.push(ws_client(&server).await);
            tcp.push(tcp_client(&server).await);
        }
        for (i, (w, t)) in ws.iter().zip(&tcp).enumerate() {
            let mut from_tcp = w.subscribe(format!("to.ws.{i}")).await.unwrap();
            let mut from_ws = t.subscribe(format!("to.tcp.{i}")).await.unwrap();
            sync(w).await;
            sync(t).await;
            for (sender, subject) in [(t, format!("to.ws.{i}")), (w, format!("to.tcp.{i}"))] {
                for n in 0..50 {
                    sender.publish(subject.clone(), format!("m{n}").into()).await.unwrap();
                }
                sender.flush().await.unwrap();
            }
            for n in 0..50 {
                assert_eq!(next(&mut from_tcp).await.payload, format!("m{n}").as_bytes());
                assert_eq!(next(&mut from_ws).await.payload, format!("m{n}").as_bytes());
            }
        }
    };

    requests_cross_between_ws_and_tcp => |io| async move {
        let server = start(io, WS);
        let w = ws_client(&server).await;
        let t = tcp_client(&server).await;
        for (responder, requester) in [(&w, &t), (&t, &w)] {
            let mut service = responder.subscribe("svc").await.unwrap();
            sync(responder).await;
            let r = responder.clone();
            let answer = tokio::spawn(async move {
                for _ in 0..20 {
                    let m = next(&mut service).await;
                    let mut reply = b"re:".to_vec();
                    reply.extend_from_slice(&m.payload);
                    r.publish(m.reply.unwrap(), reply.into()).await.unwrap();
                }
                r.flush().await.unwrap();
            });
            for n in 0..20 {
                let resp = requester.request("svc", format!("q{n}").into()).await.unwrap();
                assert_eq!(resp.payload, format!("re:q{n}").as_bytes());
            }
            answer.await.unwrap();
        }
    };

    megabyte_messages_cross_both_ways => |io| async move {
        let server = start(io, WS);
        let w = ws_client(&server).await;
        let t = tcp_client(&server).await;
        let big: Vec<u8> = (0..(1024 * 1024 - 64)).map(|i| (i % 251) as u8).collect();
        let mut at_ws = w.subscribe("big.ws").await.unwrap();
        let mut at_tcp = t.subscribe("big.tcp").await.unwrap();
        sync(&w).await;
        sync(&t).await;
        t.publish("big.ws", big.clone().into()).await.unwrap();
        w.publish("big.tcp", big.clone().into()).await.unwrap();
        assert!(next(&mut at_ws).await.payload == big);
        assert!(next(&mut at_tcp).await.payload == big);
    };

    info_names_the_websocket_listener_and_the_upgrade_answers_in_order => |io| async move {
        let server = start(io, WS);
        let mut ws = WsRaw::open(&server.ws_addr(), &request(&[]));
        let head = ws.response();
        assert_eq!(
            head,
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n"
        );
        let info = ws.line();
        let json: serde_json::Value = serde_json::from_str(info.strip_prefix("INFO ").unwrap()).unwrap();
        assert_eq!(json["port"], server.ws_port.unwrap());
        assert_eq!(json["host"], "127.0.0.1");
        assert!(json.get("tls_required").is_none());
        server.wait_for_log(&format!("cid:{} - Websocket connection created", json["client_id"]));
    };

    many_commands_in_one_frame_and_one_command_over_many_frames => |io| async move {
        let server = start(io, WS);
        let (mut ws, _) = WsRaw::upgrade(&server.ws_addr(), &[]);
        ws.send(b"CONNECT {\"verbose\":false}\r\nSUB a 1\r\nPUB a 5\r\nhello\r\nPUB a 5\r\nworld\r\n");
        assert_eq!(ws.round_trip(), ["MSG a 1 5", "hello", "MSG a 1 5", "world"]);
        // One byte per frame, with text and binary frames mixed.
        for (i, b) in b"PUB a 3\r\nabc\r\n".iter().enumerate() {
            ws.send_frame(if i % 2 == 0 { 0x81 } else { 0x82 }, &[*b]);
        }
        assert_eq!(ws.round_trip(), ["MSG a 1 3", "abc"]);
        // One message in fragments, a PING between them.
        ws.send_frame(0x02, b"PUB a 2\r");
        ws.send_frame(0x89, b"are you there");
        ws.send_frame(0x00, b"\nhi");
        ws.send_frame(0x80, b"\r\n");
        let pong = ws.frame();
        assert_eq!((pong.opcode(), pong.payload.as_slice()), (0xA, &b"are you there"[..]));
        assert_eq!(ws.round_trip(), ["MSG a 1 2", "hi"]);
    };

    a_close_is_echoed_with_its_code => |io| async move {
        let server = start(io, WS);
        let (mut ws, _) = WsRaw::upgrade(&server.ws_addr(), &[]);
        let mut body = 4001u16.to_be_bytes().to_vec();
        body.extend_from_slice(b"done");
        ws.send_frame(0x88, &body);
        let f = ws.frame();
        assert_eq!(f.close_code(), 4001);
        assert_eq!(&f.payload[2..], b"done");
        assert!(ws.closed());
    };

    each_frame_violation_closes_with_its_code => |io| async move {
        let server = start(io, WS);
        let cases: Vec<(&str, Vec<u8>, u16)> = vec![
            ("RSV2", masked_frame(0xA2, b"PING\r\n"), 1002),
            ("RSV1 without compression", masked_frame(0xC2, b"x"), 1002),
            ("opcode 3", masked_frame(0x83, b"x"), 1002),
            ("long control frame", masked_frame(0x89, &[b'p'; 126]), 1002),
            ("fragmented control frame", masked_frame(0x09, b""), 1002),
            ("continuation of nothing", masked_frame(0x80, b"x"), 1002),
            ("1-byte close", masked_frame(0x88, b"\x03"), 1002),
            ("reserved close code", masked_frame(0x88, &1005u16.to_be_bytes()), 1002),
            ("close reason not UTF-8", masked_frame(0x88, &[0x03, 0xe8, 0xff]), 1007),
            ("NATS bytes the parser refuses", masked_frame(0x82, b"HELLO\r\n"), 1002),
        ];
        for (what, bytes, code) in cases {
            let (mut ws, _) = WsRaw::upgrade(&server.ws_addr(), &[]);
            use std::io::Write;
            ws.stream.write_all(&bytes).unwrap();
            let (got, _) = ws.until_close();
            assert_eq!(got, code, "{what}");
            assert!(ws.closed(), "{what}: the connection ends");
        }
        // An unmasked frame: the connection is dropped (a CLOSE may precede).
        let (mut ws, _) = WsRaw::upgrade(&server.ws_addr(), &[]);
        use std::io::Write;
        ws.stream.write_all(&[0x82, 0x06, b'P', b'I', b'N', b'G', b'\r', b'\n']).unwrap();
        assert!(ws.closed());
        // A new message while one is unfinished.
        let (mut ws, _) = WsRaw::upgrade(&server.ws_addr(), &[]);
        ws.send_frame(0x02, b"PI");
        ws.send_frame(0x82, b"NG\r\n");
        assert_eq!(ws.until_close().0, 1002);
        // The server still serves.
        let (mut ok, _) = WsRaw::upgrade(&server.ws_addr(), &[]);
        assert!(ok.round_trip().is_empty());
    };

    server_initiated_closes_carry_nats_servers_codes => |io| async move {
        let server = start(io, "max_payload: 100\nauthorization { token: s3cret }\nwebsocket { host: 127.0.0.1, port: -1, no_tls: true }");
        let (mut ws, info) = WsRaw::upgrade(&server.ws_addr(), &[]);
        assert!(info.contains("\"auth_required\":true"), "{info}");
        ws.send(b"CONNECT {\"auth_token\":\"wrong\"}\r\n");
        let (code, text) = ws.until_close();
        assert_eq!(code, 1008);
        assert!(text.contains("-ERR 'Authorization Violation'"), "{text}");

        let (mut ws, _) = WsRaw::upgrade(&server.ws_addr(), &[]);
        ws.send(b"CONNECT {\"auth_token\":\"s3cret\",\"verbose\":false}\r\n");
        ws.send(format!("PUB a 101\r\n{}\r\n", "x".repeat(101)).as_bytes());
        let (code, text) = ws.until_close();
        assert_eq!(code, 1009);
        assert!(text.contains("-ERR 'Maximum Payload Violation'"), "{text}");
    };

    every_handshake_fault_gets_its_status => |io| async move {
        let server = start(io, "websocket { host: 127.0.0.1, port: -1, no_tls: true, allowed_origins: [\"http://app.example.com:3000\"] }");
        let status = |req: String| {
            let mut ws = WsRaw::open(&server.ws_addr(), &req);
            let head = ws.response();
            let status = head.split(' ').nth(1).unwrap().parse::<u16>().unwrap();
            if status != 101 {
                assert!(ws.closed(), "a refused upgrade ends the connection");
            }
            status
        };
        let good = request(&[]);
        assert_eq!(status(good.replacen("GET", "POST", 1)), 405);
        assert_eq!(status(good.replacen("Host: 127.0.0.1\r\n", "", 1)), 400);
        assert_eq!(status(good.replacen("Upgrade: websocket", "Upgrade: h2c", 1)), 400);
        assert_eq!(status(good.replacen("Connection: Upgrade", "Connection: close", 1)), 400);
        assert_eq!(status(good.replacen(common::ws::KEY, "c2hvcnQ=", 1)), 400);
        assert_eq!(status(good.replacen("Version: 13", "Version: 8", 1)), 400);
        assert_eq!(status(request(&["Origin: http://evil.example.com:3000"])), 403);
        assert_eq!(status(request(&["Origin: http://app.example.com:3001"])), 403);
        assert_eq!(status(request(&["Origin: http://app.example.com:3000"])), 101);
        // No Origin: not a browser, accepted.
        assert_eq!(status(good), 101);
        let refused = {
            let mut ws = WsRaw::open(&server.ws_addr(), &request(&["Origin: http://evil.example.com"]));
            ws.response()
        };
        assert!(refused.contains("\r\nSec-Websocket-Version: 13\r\n"), "{refused}");
    };

    same_origin_compares_with_the_host => |io| async move {
        let server = start(io, "websocket { host: 127.0.0.1, port: -1, no_tls: true, same_origin: true }");
        let host = format!("Host: {}", server.ws_addr());
        let with = |origin: &str| {
            let req = request(&[&format!("Origin: {origin}")]).replacen("Host: 127.0.0.1", &host, 1);
            let mut ws = WsRaw::open(&server.ws_addr(), &req);
            ws.response().split(' ').nth(1).unwrap().parse::<u16>().unwrap()
        };
        assert_eq!(with(&format!("http://{}", server.ws_addr())), 101);
        assert_eq!(with(&format!("https://{}", server.ws_addr())), 403);
        assert_eq!(with("http://127.0.0.1:1"), 403);
    };

    compression_both_ways_and_a_bomb_is_refused => |io| async move {
        let server = start(io, WS_COMPRESSION);
        let ext = "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits";
        let mut ws = WsRaw::open(&server.ws_addr(), &request(&[ext]));
        let head = ws.response();
        assert!(head.contains("\r\nSec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover; client_no_context_takeover\r\n"), "{head}");
        assert!(ws.line().starts_with("INFO "));
        let payload = "compressible ".repeat(40);
        let text = format!("CONNECT {{\"verbose\":false}}\r\nSUB z 1\r\nPUB z {}\r\n{payload}\r\nPING\r\n", payload.len());
        ws.send_frame(0xC2, &client_deflate(text.as_bytes()));
        // The MSG and PONG come back in one compressed frame.
        let f = ws.frame();
        assert_eq!(f.b0, 0xC2, "a compressed binary frame");
        let back = String::from_utf8(inflate(&f.payload)).unwrap();
        assert_eq!(back, format!("MSG z 1 {}\r\n{payload}\r\nPONG\r\n", payload.len()));
        // Small batches stay plain.
        ws.send_frame(0xC2, &client_deflate(b"PING\r\n"));
        let f = ws.frame();
        assert_eq!((f.b0, f.payload.as_slice()), (0x82, &b"PONG\r\n"[..]));

        // 64 MiB of zeros in a few hundred KiB: closed with 1009.
        let bomb = client_deflate(&vec![0u8; 64 << 20]);
        ws.send_frame(0xC2, &bomb);
        assert_eq!(ws.until_close().0, 1009);
        // Without an offer, no compression.
        let mut plain = WsRaw::open(&server.ws_addr(), &request(&[]));
        assert!(!plain.response().contains("Extensions"));
    };

    browsers_get_frames_of_at_most_4096_bytes => |io| async move {
        let server = start(io, WS);
        let ua = "User-Agent: Mozilla/5.0 (X11; Linux x86_64) Chrome/120.0 Safari/537.36";
        let (mut ws, _) = WsRaw::upgrade(&server.ws_addr(), &[ua]);
        ws.send(b"CONNECT {\"verbose\":false}\r\nSUB b 1\r\n");
        ws.round_trip();
        ws.frames_seen.clear();
        let big = "y".repeat(20_000);
        ws.send(format!("PUB b {}\r\n{big}\r\n", big.len()).as_bytes());
        assert_eq!(ws.line(), "MSG b 1 20000");
        assert_eq!(ws.payload(20_000), big.as_bytes());
        assert!(ws.frames_seen.len() >= 5, "{:?}", ws.frames_seen);
        assert!(ws.frames_seen.iter().all(|&(b0, len)| b0 == 0x82 && len <= 4096), "{:?}", ws.frames_seen);
    };

    bytes_sent_right_after_the_upgrade_request_are_read => |io| async move {
        let server = start(io, WS);
        let mut req = request(&[]).into_bytes();
        req.extend(masked_frame(0x82, b"CONNECT {\"verbose\":false}\r\nPING\r\n"));
        let mut ws = WsRaw::open(&server.ws_addr(), std::str::from_utf8(&[]).unwrap());
        use std::io::Write;
        ws.stream.write_all(&req).unwrap();
        assert!(ws.response().starts_with("HTTP/1.1 101"));
        assert!(ws.line().starts_with("INFO "));
        assert_eq!(ws.line(), "PONG");
    };

    slow_upgrades_are_cut_at_the_handshake_timeout_while_clients_work => |io| async move {
        let server = start(io, "websocket { host: 127.0.0.1, port: -1, no_tls: true, handshake_timeout: \"1s\" }");
        let mut slow: Vec<WsRaw> = (0..200)
            .map(|_| WsRaw::open(&server.ws_addr(), "GET / HTTP/1.1\r\nHost: x\r\n"))
            .collect();
        // A normal client is served meanwhile, over ws:// and TCP.
        let w = ws_client(&server).await;
        sync(&w).await;
        let t = tcp_client(&server).await;
        sync(&t).await;
        let all_closed = tokio::task::spawn_blocking(move || slow.iter_mut().all(|s| s.closed()));
        assert!(all_closed.await.unwrap(), "every slow upgrade is closed");
        sync(&w).await;
    };

    the_default_handshake_timeout_cuts_a_silent_upgrade => |io| async move {
        let server = start(io, WS);
        let mut slow = WsRaw::open(&server.ws_addr(), "GET / HTTP/1.1\r\n");
        slow.stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        let closed = tokio::task::spawn_blocking(move || slow.closed());
        assert!(closed.await.unwrap());
    };

    connection_types_tell_websocket_from_tcp => |io| async move {
        let server = start(io, "authorization { users: [ {user: tcp, password: p, allowed_connection_types: [STANDARD]}, {user: web, password: p, allowed_connection_types: [\"websocket\"]} ] }\nwebsocket { host: 127.0.0.1, port: -1, no_tls: true }");
        let try_ws = |user: &str| {
            let (mut ws, _) = WsRaw::upgrade(&server.ws_addr(), &[]);
            ws.send(format!("CONNECT {{\"user\":\"{user}\",\"pass\":\"p\",\"verbose\":false}}\r\nPING\r\n").as_bytes());
            ws.line()
        };
        assert_eq!(try_ws("web"), "PONG");
        assert_eq!(try_ws("tcp"), "-ERR 'Authorization Violation'");
        let (mut raw, _) = common::Raw::connect(&server);
        raw.send(b"CONNECT {\"user\":\"web\",\"pass\":\"p\",\"verbose\":false}\r\nPING\r\n");
        assert_eq!(raw.line(), "-ERR 'Authorization Violation'");
    };

    the_websocket_block_has_its_own_credentials => |io| async move {
        let server = start(io, "authorization { token: main }\nwebsocket { host: 127.0.0.1, port: -1, no_tls: true, authorization { username: wsuser, password: wspass } }");
        let try_ws = |connect: &str| {
            let (mut ws, _) = WsRaw::upgrade(&server.ws_addr(), &[]);
            ws.send(format!("CONNECT {connect}\r\nPING\r\n").as_bytes());
            ws.line()
        };
        assert_eq!(try_ws("{\"user\":\"wsuser\",\"pass\":\"wspass\",\"verbose\":false}"), "PONG");
        assert_eq!(try_ws("{\"auth_token\":\"main\",\"verbose\":false}"), "-ERR 'Authorization Violation'");
        let (mut raw, _) = common::Raw::connect(&server);
        raw.send(b"CONNECT {\"auth_token\":\"main\",\"verbose\":false}\r\nPING\r\n");
        assert_eq!(raw.line(), "PONG");
    };

    the_websocket_block_sets_its_own_ping_interval => |io| async move {
        let server = start(io, "websocket { host: 127.0.0.1, port: -1, no_tls: true, ping_interval: \"200ms\" }");
        let (mut ws, _) = WsRaw::upgrade(&server.ws_addr(), &[]);
        ws.send(b"CONNECT {\"verbose\":false}\r\n");
        assert_eq!(ws.line(), "PING", "the server pings a websocket client at its interval");
        ws.send(b"PONG\r\n");
        assert!(ws.round_trip().is_empty());
    };

    credentials_from_cookies_when_connect_has_none => |io| async move {
        let server = start(io, "websocket { host: 127.0.0.1, port: -1, no_tls: true, token_cookie: tok, authorization { token: t0k } }");
        let (mut ws, _) = WsRaw::upgrade(&server.ws_addr(), &["Cookie: other=1; tok=t0k"]);
        ws.send(b"CONNECT {\"verbose\":false}\r\nPING\r\n");
        assert_eq!(ws.line(), "PONG");
        let (mut ws, _) = WsRaw::upgrade(&server.ws_addr(), &["Cookie: tok=wrong"]);
        ws.send(b"CONNECT {\"verbose\":false}\r\nPING\r\n");
        assert_eq!(ws.line(), "-ERR 'Authorization Violation'");
    };
}
