//! TLS: tls:// and wss:// against nats-server with a certificate signed by
//! a CA made here with the openssl tool (the test says so and does nothing
//! when openssl is missing).

mod common;

use std::path::Path;
use std::process::Command;

use common::{run_ok, NatsServer};

fn openssl(dir: &Path, args: &[&str]) -> bool {
    Command::new("openssl")
        .current_dir(dir)
        .args(args)
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

/// A CA and a server certificate for 127.0.0.1 and localhost.
fn make_certs(dir: &Path) -> bool {
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    let mut ca = vec!["req", "-x509"];
    ca.extend(ec);
    ca.extend([
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-days",
        "2",
        "-subj",
        "/CN=loadtest-ca",
    ]);
    let mut csr = vec!["req"];
    csr.extend(ec);
    csr.extend([
        "-keyout",
        "key.pem",
        "-out",
        "leaf.csr",
        "-subj",
        "/CN=localhost",
    ]);
    std::fs::write(
        dir.join("ext.cnf"),
        "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    openssl(dir, &ca)
        && openssl(dir, &csr)
        && openssl(
            dir,
            &[
                "x509",
                "-req",
                "-in",
                "leaf.csr",
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-out",
                "cert.pem",
                "-days",
                "2",
                "-extfile",
                "ext.cnf",
            ],
        )
}

#[test]
fn tls_and_wss() {
    let dir = std::env::temp_dir().join(format!("loadtest-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    if !make_certs(&dir) {
        eprintln!("tls_and_wss: the openssl tool is missing or failed; TLS not tested (apt-get install openssl)");
        return;
    }
    let d = dir.display().to_string();
    let s = NatsServer::start_with(|port, ws| {
        format!(
            "port: {port}\ntls {{ cert_file: \"{d}/cert.pem\", key_file: \"{d}/key.pem\" }}\n\
             websocket {{ port: {ws}, compression: true, tls {{ cert_file: \"{d}/cert.pem\", key_file: \"{d}/key.pem\" }} }}\n"
        )
    });
    let ca = format!("{d}/ca.pem");
    let tls = format!("tls://127.0.0.1:{}", s.port);
    let wss = format!("wss://localhost:{}", s.ws_port);
    let q = ["--warmup", "0s", "--quiet"];
    let mut w = vec![
        "pubsub",
        "--url",
        &tls,
        "--ca",
        &ca,
        "--count",
        "20000",
        "--subscribers",
        "2",
    ];
    w.extend(q);
    assert_eq!(run_ok(&w).transport, "tls");
    let mut w = vec![
        "fanout",
        "--url",
        &wss,
        "--ca",
        &ca,
        "--count",
        "5000",
        "--subscribers",
        "3",
        "--compress",
    ];
    w.extend(q);
    assert_eq!(run_ok(&w).transport, "wss");
    let mut w = vec![
        "reqrep",
        "--url",
        &wss,
        "--insecure",
        "--count",
        "200",
        "--rate",
        "2000",
    ];
    w.extend(q);
    assert!(run_ok(&w).latency_us.is_some());
    // Without the CA the certificate is refused.
    let sc =
        loadtest::parse_args(["pubsub", "--url", &wss, "--count", "10", "--warmup", "0s"]).unwrap();
    let e = loadtest::run(&sc).unwrap_err().to_string();
    assert!(
        e.contains("certificate") || e.contains("UnknownIssuer"),
        "{e}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
