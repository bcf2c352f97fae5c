//! Edge cases of the NATS client protocol, over raw TCP sockets against the
//! built server, under both IO runtimes. The reference is nats-server 2.9.10
//! (every expectation below was checked against it), with the project's
//! rules where they differ: a malformed argument gets an -ERR naming the
//! fault before the close (nats-server closes silently).

mod common;

use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::time::Duration;

use common::{Raw, Server, Start};

/// Starts a server on `io`, with a configuration file holding `config`.
fn start(io: common::Io, config: &str) -> Server {
    Start::new(io).config(config).start()
}

/// A client that sent `CONNECT <json>` (which must turn verbose off) and
/// got its PONG with nothing before it.
fn client(server: &Server, json: &str) -> Raw {
    let (mut raw, _info) = Raw::connect(server);
    raw.stream.set_nodelay(true).unwrap();
    raw.send(format!("CONNECT {json}\r\n").as_bytes());
    assert_eq!(
        raw.round_trip(),
        Vec::<String>::new(),
        "after CONNECT {json}"
    );
    raw
}

/// A quiet client: no +OK, headers on.
fn quiet(server: &Server) -> Raw {
    client(server, r#"{"verbose":false,"headers":true}"#)
}

/// Reads until the server closes the connection and checks that what came
/// is exactly `expected`.
fn assert_closed_with(raw: &mut Raw, expected: &str) {
    let got = raw.until_closed();
    assert_eq!(got, expected, "expected {expected:?} then the close");
}

/// Reads until the server closes the connection and checks that what came
/// is one `-ERR '...'` line (naming the fault), whatever its text.
fn assert_err_then_closed(raw: &mut Raw, sent: &str) {
    let got = raw.until_closed();
    assert!(
        got.starts_with("-ERR '") && got.ends_with("'\r\n") && got.matches("\r\n").count() == 1,
        "after {sent:?}: expected one -ERR line then the close, got {got:?}"
    );
}

/// A round trip that also waits for every other shard: a SUB on a fresh
/// subject makes the PONG wait until each shard has applied it, and each
/// shard applies it after everything it sent this connection's shard
/// before (the mailboxes are FIFO). So a message published (and round-
/// tripped by its publisher) before the fence has been delivered here by
/// the time the PONG comes. Returns the lines before the PONG.
fn fence(raw: &mut Raw) -> Vec<String> {
    raw.send(b"SUB _fence.x 999999\r\nUNSUB 999999\r\n");
    raw.round_trip()
}

/// Reads one MSG or HMSG: its control line and payload.
fn msg(raw: &mut Raw) -> (String, Vec<u8>) {
    let line = raw.line();
    let size: usize = line
        .rsplit(' ')
        .next()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("not a message: {line:?}"));
    assert!(
        line.starts_with("MSG ") || line.starts_with("HMSG "),
        "{line:?}"
    );
    let payload = raw.payload(size);
    (line, payload)
}

/// Reads exactly `n` bytes from the socket (nothing must be buffered in
/// `raw` yet).
fn read_exact(raw: &mut Raw, n: usize) -> Vec<u8> {
    let mut got = vec![0u8; n];
    raw.stream.read_exact(&mut got).expect("read (timeout?)");
    got
}

// ---------------------------------------------------------------------------
// Split reads

/// A stream of every client operation, with a payload holding CRLF, and
/// nats-server 2.9.10's exact reply to it. It ends by leaving its queue
/// group, so the PONG comes once every shard knows: the next connection
/// of a test finds no member of an earlier one (a member on another shard
/// would be as likely to get the HMSG as its own, and later).
const STREAM: &[u8] = b"CONNECT {\"verbose\":true,\"headers\":true}\r\n\
SUB foo 1\r\n\
SUB bar q 2\r\n\
PUB foo reply.x 4\r\na\r\nb\r\n\
HPUB bar 12 17\r\nNATS/1.0\r\n\r\nhello\r\n\
UNSUB 1\r\n\
PUB foo 2\r\nzz\r\n\
UNSUB 2\r\n\
PING\r\n";
const REPLY: &[u8] = b"+OK\r\n+OK\r\n+OK\r\n+OK\r\n\
MSG foo 1 reply.x 4\r\na\r\nb\r\n+OK\r\n\
HMSG bar 2 12 17\r\nNATS/1.0\r\n\r\nhello\r\n+OK\r\n+OK\r\n+OK\r\nPONG\r\n";

/// Long enough for the server to read what was sent before more arrives
/// (with TCP_NODELAY each write leaves at once); only makes the split
/// likely, nothing depends on it.
const READ_GAP: Duration = Duration::from_millis(1);

/// Sends STREAM in the given pieces and checks the reply is REPLY, and
/// nothing after it.
fn send_in_pieces(server: &Server, pieces: &[&[u8]], what: &str) {
    let (mut raw, _) = Raw::connect(server);
    raw.stream.set_nodelay(true).unwrap();
    for (i, piece) in pieces.iter().enumerate() {
        if i > 0 {
            std::thread::sleep(READ_GAP);
        }
        raw.stream.write_all(piece).unwrap();
    }
    let got = read_exact(&mut raw, REPLY.len());
    assert_eq!(
        String::from_utf8_lossy(&got),
        String::from_utf8_lossy(REPLY),
        "{what}"
    );
    assert_eq!(
        raw.round_trip(),
        Vec::<String>::new(),
        "{what}: more than expected"
    );
}

// ---------------------------------------------------------------------------
// Slow consumer helpers

/// Connects a client whose receive buffer is as small as the kernel allows,
/// so that the server's output to it backs up at once when it stops reading.
fn connect_small_window(server: &Server) -> TcpStream {
    use socket2::{Domain, Socket, Type};
    let addr: std::net::SocketAddr = server.addr().parse().unwrap();
    let socket = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    socket.connect(&addr.into()).unwrap();
    let stream: TcpStream = socket.into();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    stream
}

/// Reads from `stream` until `needle` has come; returns everything read.
fn read_until(stream: &mut TcpStream, needle: &[u8]) -> Vec<u8> {
    let mut got = Vec::new();
    let mut chunk = [0u8; 4096];
    while !got.windows(needle.len()).any(|w| w == needle) {
        let n = stream.read(&mut chunk).expect("read (timeout?)");
        assert!(n > 0, "closed; had {:?}", String::from_utf8_lossy(&got));
        got.extend_from_slice(&chunk[..n]);
    }
    got
}

/// Reads until EOF (or reset); panics if the server keeps it open.
fn read_to_close(stream: &mut TcpStream) -> Vec<u8> {
    let mut got = Vec::new();
    let mut chunk = [0u8; 65536];
    loop {
        match stream.read(&mut chunk) {
            Ok(0) => return got,
            Ok(n) => got.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return got,
            Err(e) => panic!(
                "the server did not close the connection: {e} ({} bytes read)",
                got.len()
            ),
        }
    }
}

io_tests! {
    // -----------------------------------------------------------------------
    // Reads split anywhere

    split_read_at_every_byte_gives_the_same_replies => |io| async move {
        let server = Start::new(io).start();
        // The stream in one write, as a baseline.
        send_in_pieces(&server, &[STREAM], "in one write");
        for at in 1..STREAM.len() {
            let (a, b) = STREAM.split_at(at);
            send_in_pieces(&server, &[a, b], &format!("split at {at}: {:?}", String::from_utf8_lossy(a)));
        }
    };

    one_byte_at_a_time_gives_the_same_replies => |io| async move {
        let server = Start::new(io).start();
        let pieces: Vec<&[u8]> = STREAM.chunks(1).collect();
        send_in_pieces(&server, &pieces, "one byte at a time");
    };

    // -----------------------------------------------------------------------
    // verbose and pedantic

    verbose_acks_every_op_before_what_it_delivers => |io| async move {
        let server = Start::new(io).start();
        let (mut c, _) = Raw::connect(&server);
        c.send(b"CONNECT {\"verbose\":true}\r\nSUB a 1\r\nPUB a 2\r\nhi\r\nUNSUB 1\r\nPUB a 2\r\nno\r\n");
        let lines = c.round_trip();
        // nats-server: the PUB's +OK comes before the MSG it delivers to
        // the publisher itself.
        assert_eq!(lines, ["+OK", "+OK", "+OK", "MSG a 1 2", "hi", "+OK", "+OK"]);
    };

    verbose_and_pedantic_are_on_before_connect_and_when_connect_omits_them => |io| async move {
        let server = Start::new(io).start();
        let (mut c, _) = Raw::connect(&server);
        // Before any CONNECT: verbose (+OK) and pedantic (-ERR, then +OK).
        c.send(b"SUB a 1\r\nPUB a 1\r\nx\r\nPUB a.* 1\r\ny\r\n");
        assert_eq!(
            c.round_trip(),
            ["+OK", "+OK", "MSG a 1 1", "x", "-ERR 'Invalid Publish Subject'", "+OK"]
        );
        // A CONNECT that leaves them out keeps them on.
        c.send(b"CONNECT {\"name\":\"n\"}\r\nPUB a.> 1\r\nz\r\n");
        assert_eq!(c.round_trip(), ["+OK", "-ERR 'Invalid Publish Subject'", "+OK"]);
        // And turning them off is heard.
        c.send(b"CONNECT {\"verbose\":false,\"pedantic\":false}\r\nPUB a.> 1\r\nz\r\nSUB b 2\r\n");
        assert_eq!(c.round_trip(), Vec::<String>::new());
    };

    pedantic_wildcard_publish_is_reported_and_still_delivered => |io| async move {
        let server = Start::new(io).start();
        let mut c = client(&server, r#"{"verbose":false,"pedantic":true}"#);
        c.send(b"SUB > 1\r\nPUB a.* 1\r\nx\r\n");
        // nats-server 2.9.10 reports it, delivers it, and goes on.
        assert_eq!(c.round_trip(), ["-ERR 'Invalid Publish Subject'", "MSG a.* 1 1", "x"]);
        c.send(b"PUB a.b 1\r\ny\r\n");
        assert_eq!(c.round_trip(), ["MSG a.b 1 1", "y"]);
        // A malformed subject is reported too, and goes nowhere; a wildcard
        // reply subject is fine.
        c.send(b"PUB a..b 1\r\nx\r\nPUB .a 1\r\nx\r\nPUB a r.* 1\r\nz\r\n");
        assert_eq!(
            c.round_trip(),
            [
                "-ERR 'Invalid Publish Subject'",
                "-ERR 'Invalid Publish Subject'",
                "MSG a 1 r.* 1",
                "z",
            ]
        );
        // Without pedantic: no report (and still nowhere to go for a..b).
        let mut d = client(&server, r#"{"verbose":false,"pedantic":false}"#);
        d.send(b"SUB > 1\r\nPUB a.* 1\r\nx\r\nPUB a..b 1\r\ny\r\n");
        assert_eq!(d.round_trip(), ["MSG a.* 1 1", "x"]);
    };

    invalid_subscription_subject_is_reported_and_not_fatal => |io| async move {
        let server = Start::new(io).start();
        for json in [r#"{"verbose":false,"pedantic":true}"#, r#"{"verbose":false,"pedantic":false}"#] {
            let mut c = client(&server, json);
            c.send(b"SUB a..b 1\r\nSUB a.>.c 2\r\nSUB .a 3\r\nSUB a 4\r\nPUB a 1\r\nx\r\n");
            assert_eq!(
                c.round_trip(),
                [
                    "-ERR 'Invalid Subject'",
                    "-ERR 'Invalid Subject'",
                    "-ERR 'Invalid Subject'",
                    "MSG a 4 1",
                    "x",
                ],
                "{json}"
            );
        }
        // With verbose: the -ERR instead of the +OK. Literal `*` and `>`
        // inside a token, and `>` after `*`, are fine.
        let (mut v, _) = Raw::connect(&server);
        v.send(b"CONNECT {}\r\nSUB a. 1\r\nSUB a* 2\r\nSUB a> 3\r\nSUB *.> 4\r\nSUB >.a 5\r\n");
        assert_eq!(
            v.round_trip(),
            ["+OK", "-ERR 'Invalid Subject'", "+OK", "+OK", "+OK", "-ERR 'Invalid Subject'"]
        );
    };

    unusual_but_valid_syntax_is_accepted => |io| async move {
        let server = Start::new(io).start();
        let (mut c, _) = Raw::connect(&server);
        // Bare LF line ends, tabs and runs of blanks between arguments,
        // lower-case verbs, an empty payload, a second CONNECT: all as
        // nats-server 2.9.10 takes them.
        c.send(b"CONNECT {}\r\nconnect {\"verbose\":false,\"headers\":true}\n");
        c.send(b"sub\ta\t 1\nPUB  a\t1\nx\r\npub a 0\r\n\r\nhpub a 12 12\r\nNATS/1.0\r\n\r\n\r\n");
        c.send(b"UNSUB 1 \nPUB a 1\r\nz\r\nPING\n");
        let mut lines = Vec::new();
        loop {
            let l = c.line();
            if l == "PONG" {
                break;
            }
            lines.push(l);
        }
        assert_eq!(
            lines,
            ["+OK", "MSG a 1 1", "x", "MSG a 1 0", "", "HMSG a 1 12 12", "NATS/1.0", "", ""]
        );
    };

    // -----------------------------------------------------------------------
    // Fatal errors: the -ERR, then the close

    control_line_too_long_is_fatal => |io| async move {
        let server = start(io, "max_control_line: 256\n");
        // Arguments of exactly 256 bytes are fine, whole or split.
        let mut c = quiet(&server);
        let subject = "a".repeat(254);
        c.send(format!("SUB {subject} 1\r\nPUB {subject} 1\r\nx\r\n").as_bytes());
        assert_eq!(c.round_trip(), [format!("MSG {subject} 1 1"), "x".to_string()]);
        c.send(format!("PUB {subject}").as_bytes());
        std::thread::sleep(READ_GAP);
        c.send(b" 1\r");
        std::thread::sleep(READ_GAP);
        c.send(b"\ny\r\n");
        assert_eq!(c.round_trip(), [format!("MSG {subject} 1 1"), "y".to_string()]);
        // One byte more is not: a whole line...
        let long = "a".repeat(255);
        for line in [format!("PUB {long} 1\r\nx\r\n"), format!("SUB {long} 1\r\n")] {
            let mut c = quiet(&server);
            c.send(line.as_bytes());
            assert_closed_with(&mut c, "-ERR 'maximum control line exceeded'\r\n");
        }
        // ...a line completed in a later read...
        let mut c = quiet(&server);
        c.send(format!("SUB {long}").as_bytes());
        std::thread::sleep(READ_GAP);
        c.send(b" 1\r\n");
        assert_closed_with(&mut c, "-ERR 'maximum control line exceeded'\r\n");
        // ...and a line still incomplete, as soon as it is too long.
        let mut c = quiet(&server);
        c.send(format!("SUB {}", "a".repeat(300)).as_bytes());
        assert_closed_with(&mut c, "-ERR 'maximum control line exceeded'\r\n");
    };

    payload_over_max_payload_is_fatal => |io| async move {
        let server = start(io, "max_payload: 1024\n");
        let mut c = quiet(&server);
        assert!(c.round_trip().is_empty());
        // Exactly max_payload is fine.
        c.send(b"SUB a 1\r\nPUB a 1024\r\n");
        c.send(&[b'x'; 1024]);
        c.send(b"\r\n");
        let (line, payload) = msg(&mut c);
        assert_eq!(line, "MSG a 1 1024");
        assert_eq!(payload, vec![b'x'; 1024]);
        assert!(c.round_trip().is_empty());
        // One more is not: refused on the control line, before the payload.
        c.send(b"PUB a 1025\r\n");
        assert_closed_with(&mut c, "-ERR 'Maximum Payload Violation'\r\n");
        // HPUB counts headers and payload together.
        let mut c = quiet(&server);
        c.send(b"HPUB a 12 1025\r\n");
        assert_closed_with(&mut c, "-ERR 'Maximum Payload Violation'\r\n");
    };

    unknown_operation_is_fatal => |io| async move {
        let server = Start::new(io).start();
        for sent in ["FOO\r\n", "PUBX a 1\r\n", "SUBSCRIBE a 1\r\n"] {
            let mut c = quiet(&server);
            c.send(sent.as_bytes());
            let got = c.until_closed();
            assert_eq!(got, "-ERR 'Unknown Protocol Operation'\r\n", "after {sent:?}");
        }
    };

    payload_not_followed_by_crlf_is_fatal => |io| async move {
        let server = Start::new(io).start();
        let mut c = quiet(&server);
        c.send(b"SUB s 1\r\n");
        // Two bytes announced, three sent: nothing is delivered.
        c.send(b"PUB s 2\r\nabc\r\n");
        assert_closed_with(&mut c, "-ERR 'Unknown Protocol Operation'\r\n");
        // The same with the payload and its (wrong) end in separate reads.
        let mut c = quiet(&server);
        c.send(b"PUB s 2\r\nab");
        std::thread::sleep(READ_GAP);
        c.send(b"c\r\n");
        assert_closed_with(&mut c, "-ERR 'Unknown Protocol Operation'\r\n");
        // A bare LF after the payload is no CRLF either.
        let mut c = quiet(&server);
        c.send(b"PUB s 2\r\nab\n");
        assert_closed_with(&mut c, "-ERR 'Unknown Protocol Operation'\r\n");
    };

    malformed_pub_arguments_get_an_err_and_the_close => |io| async move {
        let server = Start::new(io).start();
        for sent in [
            "PUB s -1\r\n",
            "PUB s x\r\n",
            "PUB s r t 1\r\n",
            "PUB s\r\n",
            "PUB s 1234567890\r\n",
            "HPUB s 5 2\r\n",
            "HPUB s 2\r\n",
        ] {
            // nats-server closes silently; we name the fault first.
            let mut c = quiet(&server);
            c.send(sent.as_bytes());
            assert_err_then_closed(&mut c, sent);
        }
    };

    hpub_without_headers_in_connect_is_fatal => |io| async move {
        let server = Start::new(io).start();
        let mut c = client(&server, r#"{"verbose":false}"#);
        c.send(b"SUB s 1\r\nHPUB s 12 14\r\nNATS/1.0\r\n\r\nhi\r\n");
        assert_err_then_closed(&mut c, "HPUB without headers");
    };

    bad_connect_json_is_fatal => |io| async move {
        let server = Start::new(io).start();
        for sent in ["CONNECT {\r\n", "CONNECT [1]\r\n", "CONNECT {\"verbose\":\"yes\"}\r\n"] {
            let (mut c, _) = Raw::connect(&server);
            c.send(sent.as_bytes());
            assert_err_then_closed(&mut c, sent);
        }
    };

    unknown_client_protocol_is_fatal => |io| async move {
        let server = Start::new(io).start();
        let (mut c, _) = Raw::connect(&server);
        c.send(b"CONNECT {\"verbose\":false,\"protocol\":99}\r\n");
        assert_closed_with(&mut c, "-ERR 'invalid client protocol'\r\n");
    };

    // -----------------------------------------------------------------------
    // PING and PONG

    ping_gets_pong_and_pong_gets_nothing => |io| async move {
        let server = Start::new(io).start();
        let (mut c, _) = Raw::connect(&server);
        // Before CONNECT too, in any case, with anything up to the line end.
        c.send(b"ping\r\nPiNg\r\nPING extra\r\nPONG\r\n");
        assert_eq!(c.line(), "PONG");
        assert_eq!(c.line(), "PONG");
        assert_eq!(c.line(), "PONG");
        c.send(b"CONNECT {\"verbose\":false}\r\nPONG\r\n");
        assert_eq!(c.round_trip(), Vec::<String>::new());
    };

    connections_quiet_between_ops_are_read_again => |io| async move {
        // A pause longer than a conversation (50 ms) makes the server wait
        // for readiness without a read buffer; what comes next must still
        // be read, whole, in order, also when it arrives in pieces.
        let server = Start::new(io).start();
        let mut sub = quiet(&server);
        sub.send(b"SUB q 1\r\n");
        assert!(fence(&mut sub).is_empty());
        let mut publisher = quiet(&server);
        for i in 0..3 {
            std::thread::sleep(Duration::from_millis(80));
            publisher.send(b"PUB q 5\r\nhel");
            std::thread::sleep(Duration::from_millis(80));
            publisher.send(format!("l{i}\r\n").as_bytes());
            assert!(publisher.round_trip().is_empty());
            let (line, payload) = msg(&mut sub);
            assert_eq!(line, "MSG q 1 5");
            assert_eq!(payload, format!("hell{i}").as_bytes());
        }
    };

    unanswered_server_pings_close_a_stale_connection => |io| async move {
        let server = start(io, "ping_interval: \"200ms\"\nping_max: 2\n");
        let (mut c, _) = Raw::connect(&server);
        c.send(b"CONNECT {\"verbose\":false}\r\n");
        // ping_max PINGs go unanswered, then the connection is stale.
        assert_closed_with(&mut c, "PING\r\nPING\r\n-ERR 'Stale Connection'\r\n");
    };

    a_client_answering_pings_stays_connected => |io| async move {
        let server = start(io, "ping_interval: \"200ms\"\nping_max: 2\n");
        let (mut c, _) = Raw::connect(&server);
        c.send(b"CONNECT {\"verbose\":false}\r\n");
        // More intervals than ping_max + 1: without the PONGs resetting the
        // count, the connection would be closed before the fourth PING.
        for _ in 0..4 {
            assert_eq!(c.line(), "PING");
            c.send(b"PONG\r\n");
        }
        c.send(b"SUB a 1\r\nPUB a 1\r\nx\r\nPING\r\n");
        let mut lines = Vec::new();
        loop {
            match c.line().as_str() {
                "PONG" => break,
                "PING" => c.send(b"PONG\r\n"),
                l => lines.push(l.to_string()),
            }
        }
        assert_eq!(lines, ["MSG a 1 1", "x"]);
    };

    // -----------------------------------------------------------------------
    // Authentication

    authentication_timeout_closes_a_silent_client => |io| async move {
        let server = start(io, "authorization { user: a, password: b, timeout: 0.5 }\n");
        let (mut c, info) = Raw::connect(&server);
        assert!(info.contains("\"auth_required\":true"), "{info}");
        assert_closed_with(&mut c, "-ERR 'Authentication Timeout'\r\n");
    };

    bad_password_is_an_authorization_violation => |io| async move {
        let server = start(io, "authorization { user: a, password: b, timeout: 0.5 }\n");
        for json in [
            r#"{"verbose":false,"user":"a","pass":"x"}"#,
            r#"{"verbose":false,"user":"b","pass":"b"}"#,
            r#"{"verbose":false}"#,
        ] {
            let (mut c, _) = Raw::connect(&server);
            c.send(format!("CONNECT {json}\r\n").as_bytes());
            assert_closed_with(&mut c, "-ERR 'Authorization Violation'\r\n");
        }
    };

    a_second_connect_with_bad_credentials_is_an_authorization_violation => |io| async move {
        let server = start(io, "authorization { user: a, password: b, timeout: 0.5 }\n");
        let mut c = client(&server, r#"{"verbose":false,"user":"a","pass":"b"}"#);
        c.send(b"CONNECT {\"verbose\":false,\"user\":\"a\",\"pass\":\"x\"}\r\n");
        assert_closed_with(&mut c, "-ERR 'Authorization Violation'\r\n");
    };

    op_before_connect_is_an_authorization_violation_when_auth_is_required => |io| async move {
        let server = start(io, "authorization { user: a, password: b, timeout: 0.5 }\n");
        for sent in ["SUB a 1\r\n", "PUB a 1\r\nx\r\n", "PING\r\n"] {
            let (mut c, _) = Raw::connect(&server);
            c.send(sent.as_bytes());
            assert_closed_with(&mut c, "-ERR 'Authorization Violation'\r\n");
        }
    };

    good_login_works => |io| async move {
        let server = start(io, "authorization { user: a, password: b, timeout: 0.5 }\n");
        let mut c = client(&server, r#"{"verbose":false,"user":"a","pass":"b"}"#);
        c.send(b"SUB a 1\r\nPUB a 1\r\nx\r\n");
        assert_eq!(c.round_trip(), ["MSG a 1 1", "x"]);
        // Still connected past the authentication timeout: a client that
        // connected after it has timed out.
        let (mut late, _) = Raw::connect(&server);
        assert_closed_with(&mut late, "-ERR 'Authentication Timeout'\r\n");
        c.send(b"PUB a 1\r\ny\r\n");
        assert_eq!(c.round_trip(), ["MSG a 1 1", "y"]);
    };

    accounts_keep_subjects_apart => |io| async move {
        let server = start(
            io,
            "accounts { A { users [ {user: a, password: a} ] }, B { users [ {user: b, password: b} ] } }\n",
        );
        let mut a1 = client(&server, r#"{"verbose":false,"user":"a","pass":"a"}"#);
        let mut a2 = client(&server, r#"{"verbose":false,"user":"a","pass":"a"}"#);
        let mut b1 = client(&server, r#"{"verbose":false,"user":"b","pass":"b"}"#);
        for c in [&mut a2, &mut b1] {
            c.send(b"SUB x 1\r\nSUB > 2\r\n");
            assert!(fence(c).is_empty());
        }
        a1.send(b"PUB x 2\r\nhi\r\n");
        assert!(a1.round_trip().is_empty());
        // A's other client gets it on both subscriptions.
        let mut got = vec![msg(&mut a2), msg(&mut a2)];
        got.sort();
        assert_eq!(
            got,
            [("MSG x 1 2".to_string(), b"hi".to_vec()), ("MSG x 2 2".to_string(), b"hi".to_vec())]
        );
        // B's never does, wherever its shard is.
        assert_eq!(fence(&mut b1), Vec::<String>::new());
        // And the other way round.
        b1.send(b"PUB x 2\r\nbb\r\n");
        let mut got = vec![msg(&mut b1), msg(&mut b1)];
        got.sort();
        assert_eq!(
            got,
            [("MSG x 1 2".to_string(), b"bb".to_vec()), ("MSG x 2 2".to_string(), b"bb".to_vec())]
        );
        assert_eq!(fence(&mut a2), Vec::<String>::new());
    };

    // -----------------------------------------------------------------------
    // Pipelining and abrupt ends

    pipelined_pubs_arrive_in_order_before_the_pong => |io| async move {
        let server = Start::new(io).start();
        let mut other = quiet(&server);
        other.send(b"SUB p 1\r\n");
        assert!(fence(&mut other).is_empty());
        let mut c = quiet(&server);
        let mut batch = b"SUB p 1\r\n".to_vec();
        for i in 0..500 {
            let body = i.to_string();
            batch.extend_from_slice(format!("PUB p {}\r\n{body}\r\n", body.len()).as_bytes());
        }
        batch.extend_from_slice(b"PING\r\n");
        c.send(&batch);
        let lines = {
            let mut lines = Vec::new();
            loop {
                let l = c.line();
                if l == "PONG" {
                    break lines;
                }
                lines.push(l);
            }
        };
        let expected: Vec<String> = (0..500)
            .flat_map(|i: usize| [format!("MSG p 1 {}", i.to_string().len()), i.to_string()])
            .collect();
        assert_eq!(lines, expected);
        // Another connection (maybe on another shard) gets them in order too.
        for i in 0..500usize {
            let (line, payload) = msg(&mut other);
            assert_eq!(line, format!("MSG p 1 {}", i.to_string().len()));
            assert_eq!(payload, i.to_string().as_bytes());
        }
    };

    fan_out_keeps_order_across_subjects_and_auto_unsubscribe_limits => |io| async move {
        // One shard, so the publisher and the subscribers meet where runs of
        // messages on one subject are gathered for the fan-out.
        let server = Start::new(io).shards(1).start();
        let mut subs: Vec<Raw> = (0..6).map(|_| quiet(&server)).collect();
        subs[0].send(b"SUB a 1\r\nSUB b 2\r\n");
        subs[1].send(b"SUB a 7\r\nUNSUB 7 3\r\n");
        for s in &mut subs[2..] {
            s.send(b"SUB a 1\r\n");
        }
        for s in &mut subs {
            assert!(s.round_trip().is_empty());
        }
        let mut publisher = quiet(&server);
        let mut batch = Vec::new();
        let a = |i: usize| format!("PUB a {}\r\nm{i}\r\n", format!("m{i}").len());
        (0..5).for_each(|i| batch.extend_from_slice(a(i).as_bytes()));
        batch.extend_from_slice(b"PUB b 2\r\nb0\r\n");
        (5..10).for_each(|i| batch.extend_from_slice(a(i).as_bytes()));
        publisher.send(&batch);
        assert!(publisher.round_trip().is_empty());
        let on_a = |sid: u32, range: std::ops::Range<usize>| -> Vec<String> {
            let m = |i: usize| format!("m{i}");
            range.flat_map(|i| [format!("MSG a {sid} {}", m(i).len()), m(i)]).collect()
        };
        let mut both = on_a(1, 0..5);
        both.extend(["MSG b 2 2".to_string(), "b0".to_string()]);
        both.extend(on_a(1, 5..10));
        assert_eq!(subs[0].round_trip(), both, "a and b interleaved as published");
        assert_eq!(subs[1].round_trip(), on_a(7, 0..3), "three, then unsubscribed");
        for s in &mut subs[2..] {
            assert_eq!(s.round_trip(), on_a(1, 0..10));
        }
        // A publisher among the subscribers gets its own messages before
        // its PONG, and so does everyone else.
        publisher.send(b"SUB a 9\r\n");
        let mut batch = Vec::new();
        (10..14).for_each(|i| batch.extend_from_slice(a(i).as_bytes()));
        publisher.send(&batch);
        assert_eq!(publisher.round_trip(), on_a(9, 10..14));
        assert_eq!(subs[2].round_trip(), on_a(1, 10..14));
        assert!(subs[1].round_trip().is_empty());
    };

    disconnect_mid_payload_does_not_disturb_others => |io| async move {
        let server = Start::new(io).start();
        let mut other = quiet(&server);
        other.send(b"SUB a 1\r\n");
        assert!(fence(&mut other).is_empty());
        for cut in ["PUB a 100\r\n0123456789", "PUB a 100\r\n", "PUB a 1", "HPUB a 12 100\r\nNATS/1.0\r"] {
            let mut gone = quiet(&server);
            gone.send(cut.as_bytes());
            gone.stream.shutdown(Shutdown::Both).unwrap();
            drop(gone);
        }
        other.send(b"PUB a 2\r\nok\r\n");
        assert_eq!(fence(&mut other), ["MSG a 1 2", "ok"]);
        // The server goes on serving new connections.
        let mut fresh = quiet(&server);
        fresh.send(b"SUB a 2\r\nPUB a 3\r\nnew\r\n");
        assert_eq!(fresh.round_trip(), ["MSG a 2 3", "new"]);
        assert_eq!(fence(&mut other), ["MSG a 1 3", "new"]);
    };

    large_payload_split_across_reads_arrives_intact => |io| async move {
        let server = Start::new(io).start();
        let mut other = quiet(&server);
        other.send(b"SUB big 1\r\n");
        assert!(fence(&mut other).is_empty());
        let mut c = quiet(&server);
        c.send(b"SUB big 1\r\n");
        // The default max_payload, 1 MiB, written in uneven pieces.
        let payload: Vec<u8> = (0..1024 * 1024).map(|i: u32| (i % 251) as u8).collect();
        c.send(format!("PUB big {}\r\n", payload.len()).as_bytes());
        for piece in payload.chunks(100_003) {
            c.send(piece);
        }
        c.send(b"\r\n");
        for r in [&mut c, &mut other] {
            let (line, got) = msg(r);
            assert_eq!(line, "MSG big 1 1048576");
            assert!(got == payload, "payload changed on the way");
        }
        assert!(c.round_trip().is_empty());
    };

    closed_connection_interest_is_gone_on_every_shard => |io| async move {
        let server = Start::new(io).start();
        let mut requester = client(&server, r#"{"verbose":false,"headers":true,"no_responders":true}"#);
        requester.send(b"SUB inbox.> 1\r\n");
        assert!(fence(&mut requester).is_empty());
        // Responders on several connections (so on both shards), then gone
        // without a word.
        let mut responders: Vec<Raw> = (0..6).map(|_| quiet(&server)).collect();
        for r in &mut responders {
            r.send(b"SUB svc 1\r\nSUB svc q 2\r\n");
            assert!(fence(r).is_empty());
        }
        requester.send(b"PUB svc inbox.0 2\r\nhi\r\n");
        assert!(requester.round_trip().is_empty(), "someone was listening");
        drop(responders);
        // Once the server has seen the closes (nothing to await but the
        // answer itself), a request gets the 503: no shard still believes
        // in a subscriber.
        let mut attempts = 0;
        loop {
            attempts += 1;
            requester.send(format!("PUB svc inbox.{attempts} 2\r\nhi\r\n").as_bytes());
            let lines = fence(&mut requester);
            if lines.is_empty() {
                assert!(attempts < 2000, "the closed subscribers' interest stayed");
                continue;
            }
            assert_eq!(
                lines,
                [format!("HMSG inbox.{attempts} 1 16 16"), "NATS/1.0 503".into(), String::new(), String::new()]
            );
            break;
        }
    };

    // -----------------------------------------------------------------------
    // Message features

    no_responders_gets_a_503_only_when_asked_for => |io| async move {
        let server = Start::new(io).start();
        let mut c = client(&server, r#"{"verbose":false,"headers":true,"no_responders":true}"#);
        c.send(b"SUB inbox.> 7\r\nPUB svc inbox.1 2\r\nhi\r\n");
        let (line, payload) = msg(&mut c);
        assert_eq!(line, "HMSG inbox.1 7 16 16");
        assert_eq!(payload, b"NATS/1.0 503\r\n\r\n");
        assert!(c.round_trip().is_empty(), "exactly one 503");
        // Not without no_responders, nor without headers.
        for json in [r#"{"verbose":false,"headers":true}"#, r#"{"verbose":false}"#] {
            let mut other = client(&server, json);
            other.send(b"SUB inbox.> 7\r\nPUB svc inbox.1 2\r\nhi\r\n");
            assert_eq!(other.round_trip(), Vec::<String>::new(), "{json}");
        }
        // Nor when someone (on any shard) does listen.
        let mut svc = quiet(&server);
        svc.send(b"SUB svc 1\r\n");
        assert!(fence(&mut svc).is_empty());
        c.send(b"PUB svc inbox.2 2\r\nhi\r\n");
        assert!(c.round_trip().is_empty());
        assert_eq!(msg(&mut svc), ("MSG svc 1 inbox.2 2".to_string(), b"hi".to_vec()));
    };

    no_responders_without_headers_is_refused => |io| async move {
        let server = Start::new(io).start();
        let (mut c, _) = Raw::connect(&server);
        c.send(b"CONNECT {\"verbose\":false,\"no_responders\":true}\r\n");
        assert_closed_with(&mut c, "-ERR 'no responders requires headers support'\r\n");
    };

    echo_false_skips_own_messages => |io| async move {
        let server = Start::new(io).start();
        let mut me = client(&server, r#"{"verbose":false,"echo":false}"#);
        let mut other = quiet(&server);
        other.send(b"SUB a 1\r\n");
        assert!(fence(&mut other).is_empty());
        me.send(b"SUB a 1\r\nSUB a q 2\r\nPUB a 1\r\nx\r\n");
        assert_eq!(me.round_trip(), Vec::<String>::new());
        assert_eq!(msg(&mut other), ("MSG a 1 1".to_string(), b"x".to_vec()));
        // What others publish still reaches it.
        other.send(b"PUB a 1\r\ny\r\n");
        assert_eq!(fence(&mut other), ["MSG a 1 1", "y"]);
        let mut got = vec![msg(&mut me), msg(&mut me)];
        got.sort();
        assert_eq!(
            got,
            [("MSG a 1 1".to_string(), b"y".to_vec()), ("MSG a 2 1".to_string(), b"y".to_vec())]
        );
    };

    queue_group_on_one_connection_delivers_each_message_once => |io| async move {
        let server = Start::new(io).start();
        let mut c = quiet(&server);
        c.send(b"SUB q g 1\r\nSUB q g 2\r\nSUB q h 3\r\nSUB q 4\r\n");
        let n = 200;
        let mut batch = Vec::new();
        for i in 0..n {
            batch.extend_from_slice(format!("PUB q 4\r\n{i:04}\r\n").as_bytes());
        }
        c.send(&batch);
        let lines = c.round_trip();
        assert_eq!(lines.len(), n * 3 * 2, "{lines:?}");
        let mut group_g = vec![0; n];
        let mut group_h = vec![0; n];
        let mut plain = vec![0; n];
        let mut per_sid = [0; 5];
        for pair in lines.chunks(2) {
            let i: usize = pair[1].parse().unwrap();
            let sid: usize = pair[0].strip_prefix("MSG q ").unwrap().split(' ').next().unwrap().parse().unwrap();
            per_sid[sid] += 1;
            match sid {
                1 | 2 => group_g[i] += 1,
                3 => group_h[i] += 1,
                4 => plain[i] += 1,
                _ => panic!("{pair:?}"),
            }
        }
        assert!(group_g.iter().chain(&group_h).chain(&plain).all(|&k| k == 1));
        // Both members get a share.
        assert!(per_sid[1] > 0 && per_sid[2] > 0, "{per_sid:?}");
    };

    queue_group_across_connections_delivers_each_message_once => |io| async move {
        let server = Start::new(io).start();
        let mut members: Vec<Raw> = (0..6).map(|_| quiet(&server)).collect();
        for m in &mut members {
            m.send(b"SUB q g 1\r\n");
            assert!(fence(m).is_empty());
        }
        let mut publisher = quiet(&server);
        let n = 100;
        let mut batch = Vec::new();
        for i in 0..n {
            batch.extend_from_slice(format!("PUB q 4\r\n{i:04}\r\n").as_bytes());
        }
        publisher.send(&batch);
        assert!(publisher.round_trip().is_empty());
        let mut seen = vec![0; n];
        for m in &mut members {
            for pair in fence(m).chunks(2) {
                assert_eq!(pair[0], "MSG q 1 4");
                seen[pair[1].parse::<usize>().unwrap()] += 1;
            }
        }
        assert!(seen.iter().all(|&k| k == 1), "{seen:?}");
    };

    unsub_with_max_ends_after_that_many_messages => |io| async move {
        let server = Start::new(io).start();
        let mut c = quiet(&server);
        c.send(b"SUB a 1\r\nUNSUB 1 2\r\nPUB a 1\r\nx\r\nPUB a 1\r\ny\r\nPUB a 1\r\nz\r\n");
        assert_eq!(c.round_trip(), ["MSG a 1 1", "x", "MSG a 1 1", "y"]);
        // A max already reached ends it at once; the sid is free again.
        c.send(b"SUB b 2\r\nPUB b 1\r\nx\r\nUNSUB 2 1\r\nPUB b 1\r\ny\r\n");
        assert_eq!(c.round_trip(), ["MSG b 2 1", "x"]);
        c.send(b"SUB b 2\r\nPUB b 1\r\nw\r\n");
        assert_eq!(c.round_trip(), ["MSG b 2 1", "w"]);
        // A max of 0 means now.
        c.send(b"SUB c 3\r\nUNSUB 3 0\r\nPUB c 1\r\nx\r\n");
        assert_eq!(c.round_trip(), Vec::<String>::new());
    };

    duplicate_sid_is_ignored => |io| async move {
        let server = Start::new(io).start();
        let mut c = quiet(&server);
        c.send(b"SUB a 1\r\nSUB b 1\r\nSUB a 1\r\nPUB b 1\r\ny\r\nPUB a 1\r\nx\r\n");
        // The first SUB stands; the others changed nothing (no second copy).
        assert_eq!(c.round_trip(), ["MSG a 1 1", "x"]);
        c.send(b"UNSUB 1\r\nPUB a 1\r\nx\r\n");
        assert_eq!(c.round_trip(), Vec::<String>::new());
        // A taken sid is ignored before the subject is even looked at.
        let (mut v, _) = Raw::connect(&server);
        v.send(b"CONNECT {}\r\nSUB a 1\r\nSUB a..b 1\r\nPUB a 1\r\nx\r\n");
        assert_eq!(v.round_trip(), ["+OK", "+OK", "+OK", "+OK", "MSG a 1 1", "x"]);
    };

    max_subscriptions_refuses_more_and_is_not_fatal => |io| async move {
        let server = start(io, "max_subscriptions: 2\n");
        let (mut c, _) = Raw::connect(&server);
        // nats-server checks the limit first: before the taken sid and
        // before the subject.
        c.send(b"CONNECT {}\r\nSUB a 1\r\nSUB b 2\r\nSUB c 3\r\nSUB b 2\r\nSUB a..b 4\r\n");
        assert_eq!(
            c.round_trip(),
            [
                "+OK",
                "+OK",
                "+OK",
                "-ERR 'maximum subscriptions exceeded'",
                "-ERR 'maximum subscriptions exceeded'",
                "-ERR 'maximum subscriptions exceeded'",
            ]
        );
        // Room again after an UNSUB.
        c.send(b"UNSUB 1\r\nSUB c 3\r\nPUB c 1\r\nx\r\n");
        assert_eq!(c.round_trip(), ["+OK", "+OK", "+OK", "MSG c 3 1", "x"]);
    };

    unsub_of_unknown_sid_is_harmless => |io| async move {
        let server = Start::new(io).start();
        let mut c = quiet(&server);
        c.send(b"SUB a 1\r\nUNSUB 99\r\nUNSUB 98 5\r\nPUB a 1\r\nx\r\n");
        assert_eq!(c.round_trip(), ["MSG a 1 1", "x"]);
        let (mut v, _) = Raw::connect(&server);
        v.send(b"CONNECT {\"verbose\":true}\r\nUNSUB 99\r\n");
        assert_eq!(v.round_trip(), ["+OK", "+OK"]);
    };

    headers_reach_a_client_without_headers_as_payload_only => |io| async move {
        let server = Start::new(io).start();
        let mut plain = client(&server, r#"{"verbose":false}"#);
        plain.send(b"SUB h 1\r\n");
        assert!(fence(&mut plain).is_empty());
        let mut h = quiet(&server);
        h.send(b"SUB h 2\r\nHPUB h r 25 27\r\nNATS/1.0\r\nA: b\r\nCC: d\r\n\r\nhi\r\n");
        assert_eq!(h.round_trip(), ["HMSG h 2 r 25 27", "NATS/1.0", "A: b", "CC: d", "", "hi"]);
        assert_eq!(fence(&mut plain), ["MSG h 1 r 2", "hi"]);
        // Headers only: an empty payload.
        h.send(b"HPUB h 12 12\r\nNATS/1.0\r\n\r\n\r\n");
        assert_eq!(msg(&mut h), ("HMSG h 2 12 12".to_string(), b"NATS/1.0\r\n\r\n".to_vec()));
        assert_eq!(msg(&mut plain), ("MSG h 1 0".to_string(), Vec::new()));
    };

    // -----------------------------------------------------------------------
    // Limits

    max_connections_refuses_the_one_too_many => |io| async move {
        let server = start(io, "max_connections: 2\n");
        let mut a = quiet(&server);
        let mut b = quiet(&server);
        // The third gets INFO, then the -ERR and the close.
        let (mut c, _) = Raw::connect(&server);
        assert_closed_with(&mut c, "-ERR 'maximum connections exceeded'\r\n");
        assert!(a.round_trip().is_empty() && b.round_trip().is_empty());
        // Once one leaves, a new one is admitted (as soon as the server has
        // seen the close: refused attempts do not count).
        drop(a);
        let mut admitted = None;
        for _ in 0..200 {
            let (mut d, _) = Raw::connect(&server);
            d.send(b"PING\r\n");
            let mut got = [0u8; 64];
            match d.stream.read(&mut got) {
                Ok(n) if got[..n].starts_with(b"PONG\r\n") => {
                    admitted = Some(d);
                    break;
                }
                Ok(n) => assert!(
                    n == 0 || got[..n].starts_with(b"-ERR 'maximum connections exceeded'"),
                    "{:?}",
                    String::from_utf8_lossy(&got[..n])
                ),
                Err(e) => assert_eq!(e.kind(), std::io::ErrorKind::ConnectionReset),
            }
        }
        let mut d = admitted.expect("a connection admitted after one closed");
        d.send(b"CONNECT {\"verbose\":false}\r\nSUB a 1\r\nPUB a 1\r\nx\r\n");
        assert_eq!(d.round_trip(), ["MSG a 1 1", "x"]);
        // And it is the second again.
        let (mut e, _) = Raw::connect(&server);
        assert_closed_with(&mut e, "-ERR 'maximum connections exceeded'\r\n");
        assert!(b.round_trip().is_empty());
    };

    slow_consumer_is_closed_and_others_go_on => |io| async move {
        let server = start(io, "max_pending: 65536\nmax_payload: 8192\n");
        // The slow one subscribes, then never reads again.
        let mut slow = connect_small_window(&server);
        slow.set_nodelay(true).unwrap();
        slow.write_all(b"CONNECT {\"verbose\":false}\r\nSUB big 1\r\nPING\r\n").unwrap();
        read_until(&mut slow, b"PONG\r\n");
        // A reader on the same subject, on its own thread, reporting counts.
        let mut fast = quiet(&server);
        fast.send(b"SUB big 1\r\n");
        assert!(fence(&mut fast).is_empty());
        let mut publisher = quiet(&server);
        const N: usize = 1024;
        const SIZE: usize = 4096;
        let (tx, rx) = std::sync::mpsc::channel();
        let reader = std::thread::spawn(move || {
            for i in 0..N {
                let (line, payload) = msg(&mut fast);
                assert_eq!(line, format!("MSG big 1 {SIZE}"));
                assert_eq!(&payload[..8], format!("{i:08}").as_bytes(), "message {i} in order");
                tx.send(i + 1).unwrap();
            }
            fast
        });
        // 4 MiB in batches of 16 KiB; the reader keeps up (each batch waits
        // for it) so only the slow one falls max_pending behind. (Not 32 KiB:
        // a write the kernel has completed counts as pending until the
        // writer task runs again, so two batches may be counted at once.)
        let mut read = 0;
        let mut reader = Some(reader);
        for first in (0..N).step_by(4) {
            let sent = (first + 4).min(N);
            let mut batch = Vec::new();
            for i in first..sent {
                let mut payload = format!("{i:08}").into_bytes();
                payload.resize(SIZE, b'.');
                batch.extend_from_slice(format!("PUB big {SIZE}\r\n").as_bytes());
                batch.extend_from_slice(&payload);
                batch.extend_from_slice(b"\r\n");
            }
            publisher.send(&batch);
            while read < sent {
                match rx.recv_timeout(Duration::from_secs(10)) {
                    Ok(n) => read = n,
                    // Show why the reader stopped (e.g. it was cut too).
                    Err(_) => match reader.take().unwrap().join() {
                        Err(panic) => std::panic::resume_unwind(panic),
                        Ok(_) => panic!("the reader stalled"),
                    },
                }
            }
        }
        // The publisher was never held up or cut.
        assert!(publisher.round_trip().is_empty());
        let mut fast = reader.take().unwrap().join().unwrap();
        assert!(fast.round_trip().is_empty());
        // The slow one was closed long before it got everything.
        let got = read_to_close(&mut slow);
        let delivered = got.windows(9).filter(|w| w == b"MSG big 1").count();
        assert!(delivered < N, "the slow consumer got all {N} messages: it was not cut");
        // And the server still serves.
        publisher.send(b"SUB after 1\r\nPUB after 1\r\nx\r\n");
        assert_eq!(publisher.round_trip(), ["MSG after 1 1", "x"]);
    };

    // -----------------------------------------------------------------------
    // Shards

    pong_after_sub_means_live_on_every_shard => |io| async move {
        let server = Start::new(io).shards(2).start();
        let mut publisher = quiet(&server);
        // Enough connections that the kernel puts some on each shard.
        let mut subs: Vec<Raw> = (0..8).map(|_| quiet(&server)).collect();
        for round in 0..20 {
            for s in &mut subs {
                s.send(format!("SUB r.{round} 1\r\n").as_bytes());
                assert!(s.round_trip().is_empty());
            }
            // No waiting beyond the PONGs: the subscriptions must be live.
            publisher.send(format!("PUB r.{round} 2\r\nhi\r\n").as_bytes());
            for s in &mut subs {
                assert_eq!(msg(s), (format!("MSG r.{round} 1 2"), b"hi".to_vec()), "round {round}");
            }
            // And an UNSUB acknowledged by a PONG is gone everywhere.
            for s in &mut subs {
                s.send(b"UNSUB 1\r\n");
                assert!(s.round_trip().is_empty());
            }
            publisher.send(format!("PUB r.{round} 2\r\nno\r\n").as_bytes());
            assert!(publisher.round_trip().is_empty());
        }
        for s in &mut subs {
            assert_eq!(fence(s), Vec::<String>::new());
        }
    };

    // -----------------------------------------------------------------------
    // Stopping

    sigterm_right_after_start_is_a_clean_stop => |io| async move {
        // As soon as the server says it listens, SIGTERM must be caught
        // (not kill the process), with a client connected or connecting.
        for _ in 0..10 {
            let server = Start::new(io).start();
            let mut c = TcpStream::connect(server.addr()).unwrap();
            c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            let status = server.stop();
            assert!(status.success(), "exit status {status:?}");
            // Whatever it got (INFO or nothing), it sees the close.
            read_to_close(&mut c);
        }
    };

    sigterm_stops_cleanly_with_clients_connected => |io| async move {
        let server = Start::new(io).start();
        let mut clients: Vec<Raw> = (0..4).map(|_| quiet(&server)).collect();
        for c in &mut clients {
            c.send(b"SUB a 1\r\n");
            assert!(c.round_trip().is_empty());
        }
        let status = server.stop();
        assert!(status.success(), "exit status {status:?}");
        for c in &mut clients {
            assert_eq!(c.until_closed(), "");
        }
    };
}
