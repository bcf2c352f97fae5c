//! TLS on the client port and wss:// on the websocket port, with
//! certificates made at test time: the official Rust client over tls:// (INFO
//! in the clear first, as nats-server 2.9 does, and `handshake_first`) and
//! wss://, client certificates, the minimum version, cross traffic with
//! plain websocket and TCP clients, and what a broken or silent TLS client
//! gets. Both IO runtimes, two shards.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::Duration;

use common::tls::pki;
use common::ws::{masked_frame, request};
use common::{next, next_error, sync, with_server_errors, Io, Raw, Server, Start};

fn start(io: Io, config: &str) -> Server {
    Start::new(io).config(config).args(&["-D"]).start()
}

fn options() -> async_nats::ConnectOptions {
    async_nats::ConnectOptions::new()
        .connection_timeout(Duration::from_secs(10))
        .add_root_certificates(pki().ca.clone())
}

fn wss_url(server: &Server) -> String {
    format!("wss://{}", server.ws_addr())
}

/// A blocking rustls client over a raw socket, for what async-nats hides.
fn raw_tls(
    addr: &str,
    config: rustls::ClientConfig,
) -> rustls::StreamOwned<rustls::ClientConnection, TcpStream> {
    let tcp = TcpStream::connect(addr).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let name = rustls::pki_types::ServerName::try_from("127.0.0.1").unwrap();
    let conn = rustls::ClientConnection::new(Arc::new(config), name).unwrap();
    rustls::StreamOwned::new(conn, tcp)
}

fn roots() -> rustls::RootCertStore {
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    for c in rustls::pki_types::CertificateDer::pem_file_iter(&pki().ca).unwrap() {
        roots.add(c.unwrap()).unwrap();
    }
    roots
}

fn client_config(versions: &[&'static rustls::SupportedProtocolVersion]) -> rustls::ClientConfig {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(versions)
        .unwrap()
        .with_root_certificates(roots())
        .with_no_client_auth()
}

/// Reads a line (up to CRLF) from any reader.
fn line(r: &mut impl Read) -> String {
    let mut out = Vec::new();
    let mut b = [0u8; 1];
    while !out.ends_with(b"\r\n") {
        let n = r.read(&mut b).expect("a line in time");
        assert!(n > 0, "closed; had {:?}", String::from_utf8_lossy(&out));
        out.push(b[0]);
    }
    String::from_utf8_lossy(&out[..out.len() - 2]).into_owned()
}

/// Whether the server ends the connection (EOF or reset) before the
/// read timeout.
fn closed_by_server(r: &mut impl Read) -> bool {
    let mut buf = [0u8; 4096];
    loop {
        match r.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => continue,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return false,
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => return false,
            Err(_) => return true,
        }
    }
}

async fn round_trip(
    a: &async_nats::Client,
    b: &async_nats::Client,
    subject: &str,
    payload: Vec<u8>,
) {
    let mut sub = b.subscribe(subject.to_string()).await.unwrap();
    sync(b).await;
    a.publish(subject.to_string(), payload.clone().into())
        .await
        .unwrap();
    a.flush().await.unwrap();
    assert_eq!(next(&mut sub).await.payload.as_ref(), payload.as_slice());
}

io_tests! {
    async_nats_over_tls_after_info_in_the_clear => |io| async move {
        let server = start(io, &pki().block(""));
        // The INFO comes in the clear and says TLS is required.
        let mut tcp = TcpStream::connect(server.addr()).unwrap();
        tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let info = line(&mut tcp);
        let json: serde_json::Value = serde_json::from_str(info.strip_prefix("INFO ").unwrap()).unwrap();
        assert_eq!(json["tls_required"], true, "{info}");
        drop(tcp);

        // nats:// upgrades on the INFO, tls:// insists from the start.
        let a = options().connect(server.url()).await.unwrap();
        let b = options()
            .require_tls(true)
            .connect(format!("tls://{}", server.addr()))
            .await
            .unwrap();
        round_trip(&a, &b, "tls.small", b"hello".to_vec()).await;
        // Large messages cross many TLS records each way.
        let big: Vec<u8> = (0..1024 * 1024).map(|i| (i % 251) as u8).collect();
        round_trip(&b, &a, "tls.big", big).await;
        // Many messages in order, over both shards.
        let mut sub = a.subscribe("tls.many").await.unwrap();
        sync(&a).await;
        for n in 0..2000 {
            b.publish("tls.many", format!("m{n}").into()).await.unwrap();
        }
        b.flush().await.unwrap();
        for n in 0..2000 {
            assert_eq!(next(&mut sub).await.payload, format!("m{n}").as_bytes());
        }
    };

    handshake_first_sends_info_over_tls => |io| async move {
        let server = start(io, &pki().block(", handshake_first: true"));
        let a = options().tls_first().connect(server.url()).await.unwrap();
        let b = options().tls_first().connect(server.url()).await.unwrap();
        round_trip(&a, &b, "first", b"x".to_vec()).await;
        // The first bytes are the server's TLS records, the INFO inside.
        let mut s = raw_tls(&server.addr(), client_config(&[&rustls::version::TLS13]));
        let info = line(&mut s);
        assert!(info.starts_with("INFO {") && info.contains("\"tls_required\":true"), "{info}");
    };

    client_certificates_are_required_with_verify => |io| async move {
        let server = start(io, &pki().block(", verify: true"));
        let p = pki();
        let trusted = options()
            .add_client_certificate(p.client_cert.clone(), p.client_key.clone())
            .connect(server.url())
            .await
            .unwrap();
        round_trip(&trusted, &trusted, "verified", b"ok".to_vec()).await;
        let without = tokio::time::timeout(Duration::from_secs(10), options().connect(server.url()));
        assert!(without.await.unwrap().is_err(), "a client without a certificate was accepted");
        let stranger = options()
            .add_client_certificate(p.stranger_cert.clone(), p.stranger_key.clone())
            .connect(server.url())
            .await;
        assert!(stranger.is_err(), "a certificate from another CA was accepted");
        // The verified client is unaffected by the refused ones.
        round_trip(&trusted, &trusted, "verified", b"still".to_vec()).await;
    };

    min_version_refuses_older_clients => |io| async move {
        let server = start(io, &pki().block(", min_version: \"1.3\""));
        let mut tcp = TcpStream::connect(server.addr()).unwrap();
        tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        line(&mut tcp); // INFO in the clear
        let name = rustls::pki_types::ServerName::try_from("127.0.0.1").unwrap();
        let config = Arc::new(client_config(&[&rustls::version::TLS12]));
        let mut conn = rustls::ClientConnection::new(config, name).unwrap();
        let mut s = rustls::Stream::new(&mut conn, &mut tcp);
        let refused = s.write_all(b"PING\r\n").and_then(|()| s.flush()).and_then(|()| s.read(&mut [0u8; 16]));
        // The server says why, with the alert TLS has for it.
        let err = refused.expect_err("a TLS 1.2 client was served").to_string();
        assert!(err.contains("ProtocolVersion"), "{err}");
        // TLS 1.3 is served.
        let mut tcp = TcpStream::connect(server.addr()).unwrap();
        tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        line(&mut tcp);
        let name = rustls::pki_types::ServerName::try_from("127.0.0.1").unwrap();
        let config = Arc::new(client_config(&[&rustls::version::TLS13]));
        let mut conn = rustls::ClientConnection::new(config, name).unwrap();
        let mut s = rustls::Stream::new(&mut conn, &mut tcp);
        s.write_all(b"CONNECT {\"verbose\":false}\r\nPING\r\n").unwrap();
        assert_eq!(line(&mut s), "PONG");
    };

    key_updates_mid_stream_are_answered => |io| async move {
        let server = start(io, &pki().block(", handshake_first: true"));
        let mut s = raw_tls(&server.addr(), client_config(&[&rustls::version::TLS13]));
        line(&mut s); // INFO
        s.write_all(b"CONNECT {\"verbose\":false}\r\nSUB k 1\r\nPING\r\n").unwrap();
        assert_eq!(line(&mut s), "PONG");
        for round in 0..5 {
            // A key update that asks for the server's: its records after
            // the answer come under its new key, which only the answer
            // tells the client.
            s.conn.refresh_traffic_keys().unwrap();
            let payload = format!("after update {round}");
            write!(s, "PUB k {}\r\n{payload}\r\n", payload.len()).unwrap();
            s.flush().unwrap();
            assert_eq!(line(&mut s), format!("MSG k 1 {}", payload.len()));
            assert_eq!(line(&mut s), payload);
        }
    };

    plain_text_on_a_tls_port_is_closed_and_others_go_on => |io| async move {
        let server = start(io, &pki().block(""));
        let good = options().connect(server.url()).await.unwrap();
        let (mut raw, _info) = Raw::connect(&server);
        raw.send(b"CONNECT {}\r\nPING\r\n");
        raw.until_closed();
        server.wait_for_log("TLS handshake error");
        round_trip(&good, &good, "after", b"fine".to_vec()).await;
    };

    a_silent_tls_client_is_closed_at_the_timeout => |io| async move {
        let server = start(io, &pki().block(", timeout: 0.5"));
        let mut tcp = TcpStream::connect(server.addr()).unwrap();
        tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        line(&mut tcp);
        assert!(closed_by_server(&mut tcp), "the handshake timeout did not close");
        server.wait_for_log("TLS handshake error: timeout");
    };

    wss_serves_async_nats_beside_tcp => |io| async move {
        let config = format!("websocket {{ host: 127.0.0.1, port: -1, {} }}", pki().block(""));
        let server = start(io, &config);
        let ws = options().connect(wss_url(&server)).await.unwrap();
        let tcp = async_nats::ConnectOptions::new().connect(server.url()).await.unwrap();
        round_trip(&ws, &tcp, "wss.to.tcp", b"over wss".to_vec()).await;
        round_trip(&tcp, &ws, "tcp.to.wss", b"to wss".to_vec()).await;
        let big: Vec<u8> = (0..1024 * 1024).map(|i| (i % 253) as u8).collect();
        round_trip(&tcp, &ws, "wss.big", big.clone()).await;
        round_trip(&ws, &tcp, "wss.big2", big).await;
    };

    wss_and_tls_logins_with_bcrypt_nkeys_and_permissions => |io| async move {
        let hash = bcrypt::hash("pw", 4).unwrap();
        let key = nkeys::KeyPair::new_user();
        let config = format!(
            "authorization {{ users [\n  {{user: a, password: \"{hash}\", permissions: {{publish: \"ok.>\", subscribe: \"ok.>\"}}}}\n  {{nkey: {}}}\n] }}\n{}\nwebsocket {{ host: 127.0.0.1, port: -1, {} }}",
            key.public_key(),
            pki().block(""),
            pki().block("")
        );
        let server = start(io, &config);
        for url in [server.url().replace("nats://", "tls://"), wss_url(&server)] {
            let (a_options, mut errors) =
                with_server_errors(options().user_and_password("a".into(), "pw".into()));
            let a = a_options
                .connect(&url)
                .await
                .unwrap_or_else(|e| panic!("{url}: {e}"));
            let n = options().nkey(key.seed().unwrap()).connect(&url).await.unwrap();
            let mut sub = a.subscribe("ok.>").await.unwrap();
            a.flush().await.unwrap();
            a.publish("ok.self", "".into()).await.unwrap();
            next(&mut sub).await;
            a.publish("not.ok", "x".into()).await.unwrap();
            n.publish("ok.n", "from the nkey user".into()).await.unwrap();
            assert_eq!(next(&mut sub).await.subject.as_str(), "ok.n", "{url}");
            let e = next_error(&mut errors).await;
            assert!(e.contains("Permissions Violation for Publish to \"not.ok\""), "{url}: {e}");
            let wrong = options().user_and_password("a".into(), "no".into()).connect(&url).await;
            assert!(wrong.is_err(), "{url}: a wrong password logged in");
        }
    };

    wss_and_tls_logins_with_a_token_and_with_a_jwt => |io| async move {
        use common::jwt::{self, Operator};
        use serde_json::json;
        let blocks = |extra: &str| {
            format!("{extra}\n{}\nwebsocket {{ host: 127.0.0.1, port: -1, {} }}", pki().block(""), pki().block(""))
        };
        let server = start(io, &blocks("authorization { token: \"s3cret\" }"));
        for url in [server.url().replace("nats://", "tls://"), wss_url(&server)] {
            let c = options().token("s3cret".into()).connect(&url).await.unwrap_or_else(|e| panic!("{url}: {e}"));
            round_trip(&c, &c, "token", b"t".to_vec()).await;
            let wrong = options().token("s3cre".into()).connect(&url).await;
            assert!(wrong.is_err(), "{url}: a wrong token logged in");
        }
        drop(server);
        let a = nkeys::KeyPair::new_account();
        let op = Operator::new().with(&a, json!({}));
        let server = start(io, &blocks(&op.config()));
        let u = nkeys::KeyPair::new_user();
        let creds = jwt::creds(&jwt::user(&a, &u, json!({})), &u);
        let forged = jwt::creds(&jwt::user(&nkeys::KeyPair::new_account(), &u, json!({})), &u);
        for url in [server.url().replace("nats://", "tls://"), wss_url(&server)] {
            let c = options().credentials(&creds).unwrap().connect(&url).await.unwrap_or_else(|e| panic!("{url}: {e}"));
            round_trip(&c, &c, "jwt", b"j".to_vec()).await;
            let wrong = options().credentials(&forged).unwrap().connect(&url).await;
            assert!(wrong.is_err(), "{url}: a JWT of an unknown account logged in");
        }
    };

    wss_with_compression => |io| async move {
        let config = format!(
            "websocket {{ host: 127.0.0.1, port: -1, compression: true, {} }}",
            pki().block("")
        );
        let server = start(io, &config);
        let a = options().connect(wss_url(&server)).await.unwrap();
        let b = options().connect(wss_url(&server)).await.unwrap();
        let text: Vec<u8> = b"compressible ".iter().cycle().take(200_000).copied().collect();
        round_trip(&a, &b, "wss.z", text).await;
    };

    wss_raw_upgrade_and_frames => |io| async move {
        let config = format!("websocket {{ host: 127.0.0.1, port: -1, {} }}", pki().block(""));
        let server = start(io, &config);
        let mut s = raw_tls(&server.ws_addr(), client_config(&[&rustls::version::TLS13, &rustls::version::TLS12]));
        s.write_all(request(&[]).as_bytes()).unwrap();
        assert_eq!(line(&mut s), "HTTP/1.1 101 Switching Protocols");
        while !line(&mut s).is_empty() {}
        // A command split over two frames, then PING in a third.
        s.write_all(&masked_frame(0x82, b"CONNECT {\"verbose\":false}\r\nPI")).unwrap();
        s.write_all(&masked_frame(0x82, b"NG\r\n")).unwrap();
        let mut got = Vec::new();
        let mut chunk = [0u8; 4096];
        while !String::from_utf8_lossy(&got).contains("PONG\r\n") {
            let n = s.read(&mut chunk).unwrap();
            assert!(n > 0);
            got.extend_from_slice(&chunk[..n]);
        }
        let text = String::from_utf8_lossy(&got);
        assert!(text.contains("INFO {") && text.contains("\"tls_required\":true"), "{text}");
    };

    wss_handshake_timeout_covers_tls => |io| async move {
        let config = format!(
            "websocket {{ host: 127.0.0.1, port: -1, handshake_timeout: \"1s\", {} }}",
            pki().block("")
        );
        let server = start(io, &config);
        // Silent before TLS.
        let mut silent = TcpStream::connect(server.ws_addr()).unwrap();
        silent.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        // TLS done, then no upgrade request.
        let mut after_tls = raw_tls(&server.ws_addr(), client_config(&[&rustls::version::TLS13]));
        after_tls.conn.complete_io(&mut after_tls.sock).unwrap();
        assert!(closed_by_server(&mut silent), "a silent client outlived the handshake timeout");
        assert!(closed_by_server(&mut after_tls), "no upgrade request outlived the handshake timeout");
        let ok = options().connect(wss_url(&server)).await.unwrap();
        round_trip(&ok, &ok, "alive", b"yes".to_vec()).await;
    };
}

#[test]
fn tls_flags_serve_the_client_port() {
    let p = pki();
    let cert = p.server_cert.display().to_string();
    let key = p.server_key.display().to_string();
    let server = Start::new(Io::Epoll)
        .args(&["--tls", "--tlscert", &cert, "--tlskey", &key])
        .start();
    common::run_test(Io::Epoll, |_| async move {
        let c = options().connect(server.url()).await.unwrap();
        round_trip(&c, &c, "flags", b"tls".to_vec()).await;
    });
}

#[test]
fn a_tls_block_that_cannot_serve_refuses_the_start() {
    let p = pki();
    for (block, why) in [
        ("tls {}".to_string(), "TLS needs both"),
        (
            format!("tls {{ cert_file: \"{}\", key_file: \"{}\" }}", p.server_cert.display(), p.client_key.display()),
            "error parsing X509 certificate/key pair",
        ),
        (
            format!("tls {{ cert_file: \"{}\", key_file: \"{}\", verify: true }}", p.server_cert.display(), p.server_key.display()),
            "'verify' needs a 'ca_file'",
        ),
        (
            format!("websocket {{ port: -1, tls {{ cert_file: \"{}\", key_file: \"{}\", min_version: \"1.1\" }} }}", p.server_cert.display(), p.server_key.display()),
            "unsupported TLS version: TLS 1.1",
        ),
    ] {
        let mut f = tempfile::Builder::new().suffix(".conf").tempfile().unwrap();
        f.write_all(block.as_bytes()).unwrap();
        for args in [&["-t"][..], &[]] {
            let out = std::process::Command::new(common::binary())
                .args(args)
                .arg("-c")
                .arg(f.path())
                .args(["-a", "127.0.0.1", "-p", "-1"])
                .output()
                .unwrap();
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert!(!out.status.success(), "{block} {args:?} started:\n{stderr}");
            assert!(stderr.contains(why), "{block} {args:?}: expected {why:?}:\n{stderr}");
            assert!(stderr.contains(&format!("{}:1:", f.path().display())), "{block}: no position:\n{stderr}");
            assert!(!stderr.contains("Listening for client connections"), "{stderr}");
        }
    }
}
