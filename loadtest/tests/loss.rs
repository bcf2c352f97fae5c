//! Loss and duplication are caught: a proxy between the generator and the
//! null server drops one MSG and delivers another twice.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};

/// Forwards to 127.0.0.1:`upstream`; on the server-to-client side drops
/// the 100th MSG and sends the 200th twice.
fn lossy_proxy(upstream: u16) -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for client in l.incoming() {
            let Ok(mut client) = client else { return };
            let mut server = TcpStream::connect(("127.0.0.1", upstream)).unwrap();
            let (mut c2, mut s2) = (client.try_clone().unwrap(), server.try_clone().unwrap());
            std::thread::spawn(move || {
                let _ = std::io::copy(&mut c2, &mut s2);
                let _ = s2.shutdown(std::net::Shutdown::Both);
            });
            std::thread::spawn(move || {
                let mut buf = Vec::new();
                let mut chunk = vec![0u8; 65536];
                let mut msgs = 0u64;
                loop {
                    let n = match server.read(&mut chunk) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => n,
                    };
                    buf.extend_from_slice(&chunk[..n]);
                    let mut out = Vec::new();
                    let mut pos = 0;
                    while let Ok(Some((op, len))) = loadtest::proto::next_op(&buf[pos..]) {
                        let bytes = &buf[pos..pos + len];
                        if matches!(op, loadtest::proto::Op::Msg { .. }) {
                            msgs += 1;
                            if msgs == 100 {
                                pos += len;
                                continue;
                            }
                            if msgs == 200 {
                                out.extend_from_slice(bytes);
                            }
                        }
                        out.extend_from_slice(bytes);
                        pos += len;
                    }
                    buf.drain(..pos);
                    if client.write_all(&out).is_err() {
                        break;
                    }
                }
                let _ = client.shutdown(std::net::Shutdown::Both);
            });
        }
    });
    port
}

#[test]
fn lost_and_duplicated_messages_are_reported() {
    let null = loadtest::null_server::spawn(0, false).unwrap();
    let port = lossy_proxy(null.port);
    let url = format!("nats://127.0.0.1:{port}");
    let w = [
        "pubsub",
        "--url",
        &url,
        "--count",
        "1000",
        "--warmup",
        "0s",
        "--drain-timeout",
        "300ms",
        "--quiet",
    ];
    let r = loadtest::run(&loadtest::parse_args(w).unwrap()).unwrap();
    assert_eq!(r.sent, 1000);
    assert_eq!(r.lost, 1, "{}", r.table());
    assert_eq!(r.duplicated, 1);
    assert_eq!(r.received, 999);
    assert!(!r.ok());

    // The binary exits non-zero, unless loss is allowed.
    let bin = env!("CARGO_BIN_EXE_loadtest");
    let out = std::process::Command::new(bin)
        .args(w)
        .arg("--json")
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["lost"], 1);
    let out = std::process::Command::new(bin)
        .args(w)
        .args(["--json", "--allow-loss"])
        .output()
        .unwrap();
    assert!(out.status.success());
}
