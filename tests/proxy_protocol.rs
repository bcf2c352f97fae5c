//! `proxy_protocol: true` on the client and websocket listeners: the load
//! balancer's PROXY header (v1 text, v2 binary) comes first, before TLS,
//! and the client's real address is what monitoring, the logs and
//! authentication see. A connection without a valid header is refused.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use common::jwt::{self, Operator};
use common::ws::{self, WsRaw};
use common::{http_json, monitor_port, tls, Io, Raw, Server, Start};
use nkeys::KeyPair;
use serde_json::{json, Value};

const V2_SIGNATURE: &[u8] = b"\r\n\r\n\0\r\nQUIT\n";

fn v1(source: &str, port: u16) -> Vec<u8> {
    let family = if source.contains(':') { "TCP6" } else { "TCP4" };
    let dest = if source.contains(':') {
        "::1"
    } else {
        "127.0.0.1"
    };
    format!("PROXY {family} {source} {dest} {port} 4222\r\n").into_bytes()
}

/// A v2 PROXY header for an IPv6 client, with a TLV after the addresses.
fn v2_ipv6(source: std::net::Ipv6Addr, port: u16) -> Vec<u8> {
    let mut h = V2_SIGNATURE.to_vec();
    h.extend_from_slice(&[0x21, 0x21]);
    let tlv = [0x04, 0x00, 0x01, 0x00]; // PP2_TYPE_NOOP, 1 byte
    h.extend_from_slice(&((36 + tlv.len()) as u16).to_be_bytes());
    h.extend_from_slice(&source.octets());
    h.extend_from_slice(&std::net::Ipv6Addr::LOCALHOST.octets());
    h.extend_from_slice(&port.to_be_bytes());
    h.extend_from_slice(&4222u16.to_be_bytes());
    h.extend_from_slice(&tlv);
    h
}

/// A v2 LOCAL header (a load balancer's health check).
fn v2_local() -> Vec<u8> {
    let mut h = V2_SIGNATURE.to_vec();
    h.extend_from_slice(&[0x20, 0x00, 0x00, 0x00]);
    h
}

fn start(io: Io, extra: &str) -> (Server, u16) {
    let config = format!(
        "http_port: -1\nproxy_protocol: true\nwebsocket {{ port: -1, no_tls: true, proxy_protocol: true }}\n{extra}"
    );
    let server = Start::new(io)
        .shards(2)
        .config(&config)
        .args(&["-D"])
        .start();
    let port = monitor_port(&server);
    (server, port)
}

fn tcp(addr: &str) -> TcpStream {
    let s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s
}

/// The address /connz shows for the connection named `name`.
fn seen_as(port: u16, name: &str) -> (String, u64) {
    let connz = http_json(port, "/connz");
    let c = connz["connections"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no {name} in {connz}"))
        .clone();
    (
        c["ip"].as_str().unwrap().to_string(),
        c["port"].as_u64().unwrap(),
    )
}

io_tests! {
    // Over TCP the INFO comes first (without client_ip: the proxy's address
    // is not the client's), then the header; the header may arrive split
    // and together with CONNECT.
    client_port_reads_v1_and_v2_headers => |io| async move {
        let (server, port) = start(io, "");
        let mut c = Raw::over(tcp(&server.addr()));
        let info: Value = serde_json::from_str(c.line().trim_start_matches("INFO ")).unwrap();
        assert!(info.get("client_ip").is_none(), "{info}");
        let header = v1("203.0.113.7", 51000);
        c.send(&header[..9]);
        let mut rest = header[9..].to_vec();
        rest.extend_from_slice(b"CONNECT {\"verbose\":false,\"name\":\"v1\"}\r\nPING\r\n");
        c.send(&rest);
        assert_eq!(c.line(), "PONG");
        assert_eq!(seen_as(port, "v1"), ("203.0.113.7".to_string(), 51000));

        let mut c6 = Raw::over(tcp(&server.addr()));
        c6.line();
        let source: std::net::Ipv6Addr = "2001:db8::42".parse().unwrap();
        let mut bytes = v2_ipv6(source, 40000);
        bytes.extend_from_slice(b"CONNECT {\"verbose\":false,\"name\":\"v2\"}\r\nPING\r\n");
        c6.send(&bytes);
        assert_eq!(c6.line(), "PONG");
        assert_eq!(seen_as(port, "v2"), ("2001:db8::42".to_string(), 40000));

        // A health check: LOCAL keeps the socket's own address.
        let mut hc = Raw::over(tcp(&server.addr()));
        hc.line();
        let mut bytes = v2_local();
        bytes.extend_from_slice(b"CONNECT {\"verbose\":false,\"name\":\"hc\"}\r\nPING\r\n");
        hc.send(&bytes);
        assert_eq!(hc.line(), "PONG");
        assert_eq!(seen_as(port, "hc").0, "127.0.0.1");
        // The log names the real client.
        server.wait_for_log("203.0.113.7:51000");
    };

    // No header, or a broken one: refused at once with a clear -ERR, and the
    // server goes on serving.
    connections_without_a_valid_header_are_refused => |io| async move {
        let (server, _) = start(io, "");
        for bad in [
            &b"CONNECT {\"verbose\":false}\r\nPING\r\n"[..],
            b"PROXY TCP4 1.2.3.4 5.6.7.8 99999 1\r\n",
            b"PROXY TCP4 ::1 ::1 1 1\r\n",
            b"\r\n\r\n\0\r\nQUIT\n\x31\x11\x00\x0c",
        ] {
            let mut c = Raw::over(tcp(&server.addr()));
            c.line();
            c.send(bad);
            let rest = c.until_closed();
            assert!(rest.starts_with("-ERR 'PROXY protocol header required: "), "{rest}");
        }
        server.wait_for_log("Error reading PROXY protocol header from 127.0.0.1:");
        // An HTTP client on the websocket port is told with a 400.
        let mut s = tcp(&server.ws_addr());
        s.write_all(ws::request(&[]).as_bytes()).unwrap();
        let mut answer = String::new();
        let _ = s.read_to_string(&mut answer);
        assert!(answer.starts_with("HTTP/1.1 400 Bad Request\r\n"), "{answer}");
        assert!(answer.contains("not a PROXY protocol header"), "{answer}");
        let mut ok = Raw::over(tcp(&server.addr()));
        ok.line();
        let mut bytes = v1("198.51.100.1", 1);
        bytes.extend_from_slice(b"CONNECT {\"verbose\":false}\r\nPING\r\n");
        ok.send(&bytes);
        assert_eq!(ok.line(), "PONG");
    };

    // On the websocket port the header comes before the HTTP upgrade.
    websocket_port_reads_the_header_first => |io| async move {
        let (server, port) = start(io, "");
        let mut stream = tcp(&server.ws_addr());
        stream.write_all(&v1("192.0.2.9", 33333)).unwrap();
        let (mut w, info) = WsRaw::over(stream, &ws::request(&[])).upgraded();
        assert!(info.contains("\"client_ip\":\"192.0.2.9\""), "{info}");
        w.send(b"CONNECT {\"verbose\":false,\"name\":\"ws\"}\r\nPING\r\n");
        assert_eq!(w.line(), "PONG");
        assert_eq!(seen_as(port, "ws"), ("192.0.2.9".to_string(), 33333));
        let connz = http_json(port, "/connz");
        assert_eq!(connz["connections"][0]["type"], "websocket");
    };

    // The address a JWT user's `src` is checked against is the header's.
    authentication_sees_the_real_address => |io| async move {
        let a = KeyPair::new_account();
        let op = Operator::new().with(&a, json!({}));
        let (server, _) = start(io, &op.config());
        let u = KeyPair::new_user();
        let token = jwt::user(&a, &u, json!({"src": ["10.0.0.0/8"]}));
        for (source, want) in [("10.1.2.3", "PONG"), ("192.0.2.1", "-ERR 'Authorization Violation'")] {
            let mut c = Raw::over(tcp(&server.addr()));
            let info = c.line();
            let mut bytes = v1(source, 1234);
            bytes.extend_from_slice(format!("CONNECT {}\r\nPING\r\n", jwt::connect(&info, &token, &u)).as_bytes());
            c.send(&bytes);
            assert_eq!(c.line(), want, "from {source}");
        }
    };

    // With TLS: INFO in the clear, the header, then the handshake (client
    // port); the header, then the handshake, then the upgrade (wss).
    the_header_comes_before_tls => |io| async move {
        let pki = tls::pki();
        let config = format!(
            "http_port: -1\nproxy_protocol: true\n{}\nwebsocket {{ port: -1, proxy_protocol: true, {} }}\n",
            pki.block(""),
            pki.block("")
        );
        let server = Start::new(io).shards(2).config(&config).start();
        let port = monitor_port(&server);
        let mut clear = Raw::over(tcp(&server.addr()));
        assert!(clear.line().starts_with("INFO {"));
        clear.stream.write_all(&v1("203.0.113.50", 5050)).unwrap();
        let mut c = Raw::over(tls::over(clear.stream, pki.client_config(&pki.client_cert, &pki.client_key)));
        c.send(b"CONNECT {\"verbose\":false,\"name\":\"tls\"}\r\nPING\r\n");
        assert_eq!(c.line(), "PONG");
        assert_eq!(seen_as(port, "tls"), ("203.0.113.50".to_string(), 5050));
        let connz = http_json(port, "/connz");
        assert!(connz["connections"][0]["tls_version"].is_string(), "{connz}");

        let mut raw = tcp(&server.ws_addr());
        raw.write_all(&v1("203.0.113.51", 5151)).unwrap();
        let stream = tls::over(raw, pki.client_config(&pki.client_cert, &pki.client_key));
        let (mut w, _) = WsRaw::over(stream, &ws::request(&[])).upgraded();
        w.send(b"CONNECT {\"verbose\":false,\"name\":\"wss\"}\r\nPING\r\n");
        assert_eq!(w.line(), "PONG");
        assert_eq!(seen_as(port, "wss"), ("203.0.113.51".to_string(), 5151));
    };

    // A websocket connection that never completes its header is closed
    // when the header's time is up, whatever it sent.
    an_unfinished_header_is_closed_in_time => |io| async move {
        let (server, _) = start(io, "");
        let mut s = tcp(&server.ws_addr());
        s.write_all(b"PROXY ").unwrap();
        let mut rest = Vec::new();
        s.read_to_end(&mut rest).expect("closed, not timed out");
        assert!(String::from_utf8_lossy(&rest).contains("no PROXY protocol header in time"));
        server.wait_for_log("no PROXY protocol header in time");
    };
}
