//! bcrypt-hashed passwords and tokens, over TCP and WebSocket, on both IO
//! runtimes: the right secret logs in, anything else (the hash itself
//! included) is an Authorization Violation, and what a client sends right
//! behind its CONNECT waits for the login's verdict.

mod common;

use common::{open, Conn, Server, Start};

/// Cost 4 keeps the tests quick; the check is the same at any cost.
fn hash(secret: &str) -> String {
    bcrypt::hash(secret, 4).unwrap()
}

/// CONNECT with `creds` (JSON members), then PING: the first answer.
fn login(server: &Server, ws: bool, creds: &str) -> String {
    let mut c = open(server, ws);
    c.send(format!("CONNECT {{\"verbose\":false,{creds}}}\r\nPING\r\n").as_bytes());
    c.line()
}

const DENIED: &str = "-ERR 'Authorization Violation'";
const WS: &str = "websocket { host: 127.0.0.1, port: -1, no_tls: true }";

io_tests! {
    users_with_hashed_passwords => |io| async move {
        let (ha, hb) = (hash("pa"), hash("pb"));
        let config = format!(
            "authorization {{ users [ {{user: a, password: \"{ha}\"}}, {{user: b, password: {hb}}} ] }}\n{WS}\n"
        );
        let server = Start::new(io).config(&config).start();
        for ws in [false, true] {
            assert_eq!(login(&server, ws, r#""user":"a","pass":"pa""#), "PONG", "ws {ws}");
            assert_eq!(login(&server, ws, r#""user":"b","pass":"pb""#), "PONG", "unquoted hash");
            for creds in [
                r#""user":"a","pass":"pb""#.to_string(),
                r#""user":"a","pass":"""#.to_string(),
                r#""user":"a""#.to_string(),
                format!(r#""user":"a","pass":"{ha}""#),
                r#""user":"A","pass":"pa""#.to_string(),
            ] {
                assert_eq!(login(&server, ws, &creds), DENIED, "ws {ws}: {creds}");
            }
        }
    };

    a_single_user_and_a_token_hashed => |io| async move {
        let config = format!("authorization {{ user: u, password: \"{}\" }}\n{WS}\n", hash("pw"));
        let server = Start::new(io).config(&config).start();
        for ws in [false, true] {
            assert_eq!(login(&server, ws, r#""user":"u","pass":"pw""#), "PONG");
            assert_eq!(login(&server, ws, r#""user":"u","pass":"nope""#), DENIED);
        }
        drop(server);
        let config = format!("authorization {{ token: \"{}\" }}\n{WS}\n", hash("t0k3n"));
        let server = Start::new(io).config(&config).start();
        for ws in [false, true] {
            assert_eq!(login(&server, ws, r#""auth_token":"t0k3n""#), "PONG");
            assert_eq!(login(&server, ws, r#""auth_token":"t0k3N""#), DENIED);
            assert_eq!(login(&server, ws, r#""user":"t0k3n""#), DENIED);
        }
        drop(server);
        // From the command line too.
        let h = hash("flag");
        let args = ["--user", "f", "--pass", h.as_str()];
        let server = Start::new(io).args(&args).start();
        assert_eq!(login(&server, false, r#""user":"f","pass":"flag""#), "PONG");
        assert_eq!(login(&server, false, r#""user":"f","pass":"flag ""#), DENIED);
    };

    what_follows_connect_waits_for_the_verdict => |io| async move {
        let config = format!(
            "authorization {{ users [ {{user: a, password: \"{}\"}}, {{user: free, password: free}} ] }}\n{WS}\n",
            hash("pa")
        );
        let server = Start::new(io).config(&config).start();
        for ws in [false, true] {
            let mut listener = open(&server, ws);
            listener.send(b"CONNECT {\"verbose\":false,\"user\":\"free\",\"pass\":\"free\"}\r\nSUB x 1\r\nPING\r\n");
            assert_eq!(listener.line(), "PONG");
            // Granted: the SUB, PUB and PING behind the CONNECT run after it,
            // in order (the PUB reaches the SUB made just before it).
            let mut c = open(&server, ws);
            c.send(b"CONNECT {\"verbose\":false,\"user\":\"a\",\"pass\":\"pa\"}\r\nSUB y 7\r\nPUB y 2\r\nhi\r\nPUB x 5\r\nfirst\r\nPING\r\n");
            assert_eq!(c.line(), "MSG y 7 2");
            assert_eq!(c.line(), "hi");
            assert_eq!(c.line(), "PONG");
            // Refused: nothing behind the CONNECT is carried out.
            let mut bad = open(&server, ws);
            bad.send(b"CONNECT {\"verbose\":false,\"user\":\"a\",\"pass\":\"guess\"}\r\nPUB x 6\r\nsneaky\r\nPING\r\n");
            assert_eq!(bad.line(), DENIED);
            // A later message from a good client is the next one the
            // listener sees after "first".
            c.send(b"PUB x 4\r\nlast\r\nPING\r\n");
            assert_eq!(c.line(), "PONG");
            for payload in ["first", "last"] {
                assert_eq!(listener.line(), format!("MSG x 1 {}", payload.len()), "ws {ws}");
                assert_eq!(listener.line(), payload);
            }
        }
        server.wait_for_log("authentication error - User \"a\"");
    };

    many_logins_at_once_all_get_their_answer => |io| async move {
        let config = format!(
            "authorization {{ users [ {{user: a, password: \"{}\"}} ] }}\n",
            hash("pa")
        );
        let server = Start::new(io).config(&config).start();
        let mut conns: Vec<(Box<dyn Conn>, bool)> = (0..60)
            .map(|i| {
                let good = i % 3 != 0;
                let mut c = open(&server, false);
                let pass = if good { "pa" } else { "wrong" };
                c.send(format!("CONNECT {{\"verbose\":false,\"user\":\"a\",\"pass\":\"{pass}\"}}\r\nPING\r\n").as_bytes());
                (c, good)
            })
            .collect();
        for (c, good) in conns.iter_mut() {
            assert_eq!(c.line(), if *good { "PONG" } else { DENIED });
        }
    };
}
