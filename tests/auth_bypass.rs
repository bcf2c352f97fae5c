//! Attempts to get in where the configuration says no, each refused, on
//! both IO runtimes; the server goes on serving everyone else.

mod common;

use common::ws::WsRaw;
use common::{Raw, Server, Start};

const DENIED: &str = "-ERR 'Authorization Violation'";

fn start(io: common::Io) -> Server {
    Start::new(io)
        .config(
            "authorization {\n  users [\n    {user: \"caf\u{e9}\", password: p}\n    {user: tcp, password: p, allowed_connection_types: [\"STANDARD\"]}\n    {user: ok, password: p}\n  ]\n}\nwebsocket { host: 127.0.0.1, port: -1, no_tls: true }\n",
        )
        .start()
}

fn login(server: &Server, creds: &str) -> String {
    let (mut c, _) = Raw::connect(server);
    c.send(format!("CONNECT {{\"verbose\":false,{creds}}}\r\nPING\r\n").as_bytes());
    c.line()
}

io_tests! {
    a_user_name_is_matched_exactly => |io| async move {
        let server = start(io);
        assert_eq!(login(&server, "\"user\":\"caf\u{e9}\",\"pass\":\"p\""), "PONG");
        for name in ["cafe\u{301}", "CAF\u{c9}", "Caf\u{e9}", "caf\u{e9} ", "caf"] {
            let creds = format!("\"user\":\"{name}\",\"pass\":\"p\"");
            assert_eq!(login(&server, &creds), DENIED, "{name:?}");
        }
    };

    a_websocket_client_cannot_be_a_standard_only_user => |io| async move {
        let server = start(io);
        assert_eq!(login(&server, r#""user":"tcp","pass":"p""#), "PONG");
        let (mut ws, _) = WsRaw::upgrade(&server.ws_addr(), &[]);
        ws.send(b"CONNECT {\"verbose\":false,\"user\":\"tcp\",\"pass\":\"p\"}\r\nPING\r\n");
        assert_eq!(ws.line(), DENIED);
        // Nor can a forwarded-for header make it look like a local client.
        let (mut ws, _) = WsRaw::upgrade(&server.ws_addr(), &["X-Forwarded-For: 127.0.0.1"]);
        ws.send(b"CONNECT {\"verbose\":false,\"user\":\"tcp\",\"pass\":\"p\"}\r\nPING\r\n");
        assert_eq!(ws.line(), DENIED);
    };

    a_connect_of_a_mebibyte_is_refused_and_others_go_on => |io| async move {
        let server = start(io);
        let (mut c, _) = Raw::connect(&server);
        let pad = "x".repeat(1 << 20);
        let big = format!("CONNECT {{\"verbose\":false,\"user\":\"ok\",\"pass\":\"p\",\"name\":\"{pad}\"}}\r\nPING\r\n");
        // The server may close before it has read all of it.
        let _ = std::io::Write::write_all(&mut c.stream, big.as_bytes());
        let said = c.until_closed();
        assert!(said.starts_with("-ERR 'maximum control line exceeded'"), "{said:?}");
        assert_eq!(login(&server, r#""user":"ok","pass":"p""#), "PONG");
    };

    a_thousand_failed_logins_and_the_server_serves_on => |io| async move {
        let server = start(io);
        let (mut good, _) = Raw::connect(&server);
        good.send(b"CONNECT {\"verbose\":false,\"user\":\"ok\",\"pass\":\"p\"}\r\nSUB x 1\r\nPING\r\n");
        assert_eq!(good.line(), "PONG");
        for i in 0..1000 {
            let creds = format!("\"user\":\"ok\",\"pass\":\"guess{i}\"");
            assert_eq!(login(&server, &creds), DENIED);
        }
        good.send(b"PUB x 2\r\nhi\r\nPING\r\n");
        assert_eq!(good.line(), "MSG x 1 2");
        assert_eq!(good.line(), "hi");
        assert_eq!(good.line(), "PONG");
        let failures = server.wait_for_log_lines("authentication error - User \"ok\"", 1000);
        assert_eq!(failures, 1000, "each failure is logged, as nats-server logs it");
    };
}
