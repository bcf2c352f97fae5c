//! What operators do to a running server, as with nats-server: signals sent
//! with `--signal CMD=PID_FILE` (reopen the log file, reload, stop), the log
//! file rotated past `logfile_size_limit` keeping `logfile_max_num` backups.
//! The server here logs to a file, so its readiness is read from there.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

struct Running {
    child: Child,
    dir: tempfile::TempDir,
}

impl Running {
    /// Starts the server with `config` (a log file and a pid file in a
    /// directory of its own are added) and waits for it to be ready.
    fn start(config: &str) -> Running {
        let dir = tempfile::tempdir().unwrap();
        let conf = dir.path().join("server.conf");
        write_config(dir.path(), config);
        let child = Command::new(common::binary())
            .arg("-c")
            .arg(&conf)
            .stdin(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let r = Running { child, dir };
        r.wait_for_in_logs("Server is ready");
        r
    }

    /// Waits (within 10 s) until the log or one of its backups holds `text`;
    /// returns all their text.
    fn wait_for_in_logs(&self, text: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let mut files: Vec<PathBuf> = std::fs::read_dir(self.dir.path())
                .unwrap()
                .flatten()
                .map(|e| e.path())
                .filter(|p| {
                    p.file_name()
                        .unwrap()
                        .to_string_lossy()
                        .starts_with("server.log")
                })
                .collect();
            files.sort();
            let all: String = files
                .iter()
                .map(|f| std::fs::read_to_string(f).unwrap_or_default())
                .collect();
            if all.contains(text) {
                return all;
            }
            assert!(
                Instant::now() < deadline,
                "the logs never said {text:?}:\n{all}"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// The configuration file rewritten (for a reload).
    fn rewrite(&self, config: &str) {
        write_config(self.dir.path(), config);
    }

    /// A raw client on the client port (or the websocket port, upgraded),
    /// its INFO read.
    fn client(&self, ws: bool) -> Box<dyn common::Conn> {
        let text = if ws {
            "Listening for websocket clients on ws://"
        } else {
            "Listening for client connections on "
        };
        let log = self.wait_for_in_logs(text);
        let line = log.lines().find(|l| l.contains(text)).unwrap();
        let port: u16 = line.rsplit(':').next().unwrap().trim().parse().unwrap();
        let addr = format!("127.0.0.1:{port}");
        if ws {
            Box::new(common::ws::WsRaw::upgrade(&addr, &[]).0)
        } else {
            let s = std::net::TcpStream::connect(&addr).unwrap();
            s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            let mut c = common::Raw::over(s);
            c.line();
            Box::new(c)
        }
    }

    fn log(&self) -> PathBuf {
        self.dir.path().join("server.log")
    }

    fn pid_file(&self) -> PathBuf {
        self.dir.path().join("server.pid")
    }

    /// `ringnats --signal <command>=<pid file>`.
    fn signal(&self, command: &str) -> std::process::Output {
        Command::new(common::binary())
            .arg("--signal")
            .arg(format!("{command}={}", self.pid_file().display()))
            .output()
            .unwrap()
    }

    /// Waits (within 10 s) until the file holds `text`; returns its text.
    fn wait_for(&self, file: &Path, text: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let now = std::fs::read_to_string(file).unwrap_or_default();
            if now.contains(text) {
                return now;
            }
            assert!(
                Instant::now() < deadline,
                "{} never said {text:?}:\n{now}",
                file.display()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// The client port, from the log's "Listening" line.
    fn port(&self) -> u16 {
        let log = self.wait_for_in_logs("Listening for client connections on ");
        let line = log
            .lines()
            .find(|l| l.contains("Listening for client connections"))
            .unwrap();
        line.rsplit(':').next().unwrap().trim().parse().unwrap()
    }
}

/// The server's configuration in `dir`: `config` behind a log file, a pid
/// file and a random port on 127.0.0.1.
fn write_config(dir: &Path, config: &str) {
    let full = format!(
        "port: -1\nhost: 127.0.0.1\nlog_file: \"{}\"\npid_file: \"{}\"\n{config}\n",
        dir.join("server.log").display(),
        dir.join("server.pid").display()
    );
    std::fs::write(dir.join("server.conf"), full).unwrap();
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn reopen_starts_a_new_log_file_where_logrotate_moved_the_old() {
    let server = Running::start("");
    let moved = server.dir.path().join("server.log.1");
    std::fs::rename(server.log(), &moved).unwrap();
    let out = server.signal("reopen");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let fresh = server.wait_for(&server.log(), "File log re-opened");
    assert!(
        fresh.lines().next().unwrap().contains("File log re-opened"),
        "{fresh}"
    );
    assert!(std::fs::read_to_string(&moved)
        .unwrap()
        .contains("Server is ready"));
}

#[test]
fn the_log_rotates_past_its_size_limit_and_keeps_its_backups() {
    let server = Running::start("debug: true\nlogfile_size_limit: 1500\nlogfile_max_num: 2\n");
    let port = server.port();
    // Each connection logs its creation and its end (debug lines).
    for _ in 0..40 {
        let mut c = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        use std::io::{Read, Write};
        c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut info = [0u8; 2048];
        let _ = c.read(&mut info).unwrap();
        c.write_all(b"CONNECT {\"verbose\":false}\r\nPING\r\n")
            .unwrap();
        let _ = c.read(&mut info).unwrap();
    }
    let log = server.wait_for(&server.log(), "Rotated log, backup saved as ");
    assert!(
        log.lines()
            .next()
            .unwrap()
            .contains("Rotated log, backup saved as "),
        "{log}"
    );
    let backups: Vec<String> = std::fs::read_dir(server.dir.path())
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("server.log."))
        .collect();
    assert!(!backups.is_empty() && backups.len() <= 2, "{backups:?}");
    for b in &backups {
        // server.log.YYYY.MM.DD.hh.mm.ss.nnnnnnnnn
        let stamp = &b["server.log.".len()..];
        assert_eq!(stamp.split('.').count(), 7, "{b}");
    }
}

#[test]
fn reload_is_answered_without_stopping_and_quit_stops_cleanly() {
    let mut server = Running::start("");
    let out = server.signal("reload");
    assert!(out.status.success());
    server.wait_for(&server.log(), "Reloaded server configuration");
    // Still serving.
    let port = server.port();
    assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_ok());
    let out = server.signal("quit");
    assert!(out.status.success());
    let status = server.child.wait().unwrap();
    assert!(status.success(), "{status}");
    server.wait_for(&server.log(), "Server Exiting..");
}

#[test]
fn signals_to_nobody_say_why() {
    let out = Command::new(common::binary())
        .args(["--signal", "reload=/nonexistent/pid"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("invalid pid: /nonexistent/pid"));
    let out = Command::new(common::binary())
        .args(["-sl", "bogus=1"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown signal \"bogus\""));
}

#[test]
fn remote_syslog_gets_the_log_as_nats_server_sends_it() {
    let receiver = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    receiver
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let port = receiver.local_addr().unwrap().port();
    let mut child = Command::new(common::binary())
        .args(["-a", "127.0.0.1", "-p", "-1", "-r"])
        .arg(format!("udp://127.0.0.1:{port}"))
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut seen = Vec::new();
    let mut buf = [0u8; 2048];
    while !seen.iter().any(|m: &String| m.contains("Server is ready")) {
        let n = receiver.recv(&mut buf).expect("a syslog message in time");
        seen.push(String::from_utf8_lossy(&buf[..n]).into_owned());
    }
    let _ = child.kill();
    let _ = child.wait();
    let tag = format!(" ringnats[{}]: ", child.id());
    let ready = seen.iter().find(|m| m.contains("Server is ready")).unwrap();
    // A notice (5), no facility, an RFC 3339 time, the tag, the text alone.
    assert!(
        ready.starts_with("<5>20") && ready.contains(&tag),
        "{ready}"
    );
    assert!(ready.ends_with(": Server is ready\n"), "{ready}");
    let bad = Command::new(common::binary())
        .args(["-r", "http://x", "-t"])
        .output()
        .unwrap();
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("error invalid network type: \"http\""));
}

#[test]
fn lame_duck_refuses_new_clients_then_closes_the_others_one_by_one() {
    use std::io::{BufRead, BufReader, Write};
    let mut server =
        Running::start("lame_duck_duration: \"30s\"\nlame_duck_grace_period: \"1s\"\n");
    let port = server.port();
    let mut clients: Vec<BufReader<std::net::TcpStream>> = (0..3)
        .map(|_| {
            let s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
            s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
            let mut r = BufReader::new(s);
            let mut line = String::new();
            r.read_line(&mut line).unwrap();
            r.get_mut()
                .write_all(b"CONNECT {\"verbose\":false,\"protocol\":1}\r\nPING\r\n")
                .unwrap();
            line.clear();
            r.read_line(&mut line).unwrap();
            assert_eq!(line, "PONG\r\n");
            r
        })
        .collect();
    assert!(server.signal("ldm").status.success());
    // Every client hears it, and the listener is gone.
    for c in &mut clients {
        let mut line = String::new();
        c.read_line(&mut line).unwrap();
        assert!(
            line.starts_with("INFO {") && line.contains("\"ldm\":true"),
            "{line}"
        );
    }
    let refused = (0..100).any(|_| {
        let r = std::net::TcpStream::connect(("127.0.0.1", port)).is_err();
        if !r {
            std::thread::sleep(Duration::from_millis(20));
        }
        r
    });
    assert!(refused, "new clients were still accepted in lame duck mode");
    // The first client closed leaves the others served: closes are spread.
    let mut line = String::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    let first = loop {
        assert!(Instant::now() < deadline, "no client was closed");
        let mut open = None;
        for (i, c) in clients.iter_mut().enumerate() {
            c.get_ref()
                .set_read_timeout(Some(Duration::from_millis(50)))
                .unwrap();
            line.clear();
            match c.read_line(&mut line) {
                Ok(0) => {
                    open = Some(i);
                    break;
                }
                _ => continue,
            }
        }
        if let Some(i) = open {
            break i;
        }
    };
    let mut others_served = 0;
    for (_, c) in clients.iter_mut().enumerate().filter(|(i, _)| *i != first) {
        c.get_ref()
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        if c.get_mut().write_all(b"PING\r\n").is_ok() {
            line.clear();
            if c.read_line(&mut line).is_ok() && line == "PONG\r\n" {
                others_served += 1;
            }
        }
    }
    assert!(others_served >= 1, "every client was closed at once");
    let status = server.child.wait().unwrap();
    assert!(status.success(), "{status}");
    let log = server.wait_for_in_logs("Server Exiting..");
    assert!(
        log.contains("Entering lame duck mode, stop accepting new clients"),
        "{log}"
    );
    assert!(log.contains("Closing existing clients"), "{log}");
}

#[test]
fn lame_duck_times_are_checked_as_nats_server_checks_them() {
    let check = |config: &str| {
        let f = tempfile::Builder::new().suffix(".conf").tempfile().unwrap();
        std::fs::write(f.path(), config).unwrap();
        let out = Command::new(common::binary())
            .arg("-t")
            .arg("-c")
            .arg(f.path())
            .output()
            .unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (ok, said) = check("lame_duck_duration: \"4s\"\n");
    assert!(
        !ok && said.contains("invalid lame_duck_duration of 4s, minimum is 30 seconds"),
        "{said}"
    );
    let (ok, said) = check("lame_duck_duration: \"30s\"\nlame_duck_grace_period: \"30s\"\n");
    assert!(
        !ok && said.contains(
            "lame duck grace period (30s) should be strictly lower than lame duck duration (30s)"
        ),
        "{said}"
    );
    assert!(check("lame_duck_duration: \"2m\"\nlame_duck_grace_period: \"5s\"\n").0);
}

const USERS: &str = "websocket { port: -1, no_tls: true }
authorization { users = [
  { user: alice, password: pw1 }
  { user: bob, password: pw2, permissions: { subscribe: { allow: [\">\"] } } }
] }";

/// SIGHUP puts changed users and permissions in force on the connections
/// already there, as nats-server does: a changed password ends its
/// user's logins, a subscription the new permissions deny is removed
/// (with nats-server's error), everyone else carries on.
#[test]
fn reload_applies_users_and_permissions_to_connected_clients() {
    let server = Running::start(USERS);
    let login = |ws: bool, user: &str, pass: &str| {
        let mut c = server.client(ws);
        c.send(
            format!(
                "CONNECT {{\"verbose\":false,\"user\":\"{user}\",\"pass\":\"{pass}\"}}\r\nPING\r\n"
            )
            .as_bytes(),
        );
        let first = c.line();
        (c, first)
    };
    let (mut alice, first) = login(false, "alice", "pw1");
    assert_eq!(first, "PONG");
    let (mut bob, first) = login(true, "bob", "pw2");
    assert_eq!(first, "PONG");
    bob.send(b"SUB secret.x 1\r\nSUB open 2\r\n");
    assert!(bob.round_trip().is_empty());

    server.rewrite(
        &USERS
            .replace("password: pw1", "password: pw3")
            .replace("allow: [\">\"]", "allow: [\">\"], deny: [\"secret.>\"]")
            .replace("\n] }", "\n  { user: carol, password: pw4 }\n] }"),
    );
    assert!(server.signal("reload").status.success());
    let log = server.wait_for_in_logs("Reloaded server configuration");
    assert!(log.contains("Reloaded: authorization users"), "{log}");

    assert_eq!(alice.line(), "-ERR 'Authorization Violation'");
    assert_eq!(
        bob.line(),
        "-ERR 'Permissions Violation for Subscription to \"secret.x\" (sid \"1\")'"
    );
    assert!(bob.round_trip().is_empty(), "bob carries on");
    server.wait_for_in_logs("Removed sub \"secret.x\" (sid \"1\") for bob - not authorized");
    assert_eq!(
        login(false, "alice", "pw1").1,
        "-ERR 'Authorization Violation'"
    );
    assert_eq!(login(true, "alice", "pw3").1, "PONG");
    let (mut carol, first) = login(false, "carol", "pw4");
    assert_eq!(first, "PONG");
    carol.send(b"PUB secret.x 1\r\na\r\nPUB open 1\r\nb\r\n");
    assert!(carol.round_trip().is_empty());
    // Only the subscription still allowed delivers.
    assert_eq!(bob.line(), "MSG open 2 1");
    assert_eq!(bob.line(), "b");
    assert!(bob.round_trip().is_empty());
}

/// A change nats-server does not reload refuses the reload with its
/// words, and so does a configuration that does not parse: the server
/// goes on as it was.
#[test]
fn reload_refuses_start_only_options_and_bad_files() {
    let server = Running::start("websocket { port: -1, no_tls: true }");
    let mut c = server.client(false);
    c.send(b"CONNECT {\"verbose\":false}\r\nPING\r\n");
    assert_eq!(c.line(), "PONG");
    for (config, said) in [
        (
            "websocket { port: -1, no_tls: true }\nhttp_port: 8222",
            "config reload not supported for HTTPPort: old=, new=8222",
        ),
        (
            "websocket { port: -1, no_tls: true, compression: true }",
            "config reload not supported for Websocket",
        ),
        (
            "websocket { port: -1, no_tls: true }\nmax_payload: [",
            "server.conf:7:1: unexpected end of file",
        ),
    ] {
        server.rewrite(config);
        assert!(server.signal("reload").status.success());
        let log = server.wait_for_in_logs(said);
        assert!(
            log.contains("Failed to reload server configuration: "),
            "{log}"
        );
        c.send(b"PING\r\n");
        assert_eq!(c.line(), "PONG");
    }
    assert!(!server
        .wait_for_in_logs("Failed")
        .contains("Reloaded server configuration"));
}

/// Logging and limits reload: `debug` takes effect at once, a new
/// `max_payload` is what new clients are told.
#[test]
fn reload_turns_on_debug_and_changes_limits() {
    let server = Running::start("");
    server.rewrite("debug: true\nmax_payload: 512");
    assert!(server.signal("reload").status.success());
    let log = server.wait_for_in_logs("Reloaded server configuration");
    assert!(log.contains("Reloaded: debug = true"), "{log}");
    assert!(log.contains("Reloaded: max_payload = 512"), "{log}");
    let s = std::net::TcpStream::connect(("127.0.0.1", server.port())).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut c = common::Raw::over(s);
    assert!(c.line().contains("\"max_payload\":512"));
    c.send(b"CONNECT {\"verbose\":false}\r\nPUB a 513\r\n");
    assert!(c
        .until_closed()
        .contains("-ERR 'Maximum Payload Violation'"));
    server.wait_for_in_logs("Client connection created");
}

/// An NKEY user stays logged in through a reload that keeps it: its
/// signature is checked again against the nonce it signed.
#[test]
fn reload_keeps_nkey_logins_and_ends_removed_ones() {
    let (kept, removed) = (nkeys::KeyPair::new_user(), nkeys::KeyPair::new_user());
    let users = |both: bool| {
        let second = if both {
            format!("\n  {{ nkey: {} }}", removed.public_key())
        } else {
            String::new()
        };
        format!(
            "authorization {{ users = [ {{ nkey: {} }} {second} ] }}",
            kept.public_key()
        )
    };
    let server = Running::start(&users(true));
    let port = server.port();
    let login = |user: &nkeys::KeyPair| {
        let s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut c = common::Raw::over(s);
        let info = c.line();
        let sig = common::jwt::sign_nonce(&info, user);
        let connect = serde_json::json!({"verbose": false, "nkey": user.public_key(), "sig": sig});
        c.send(format!("CONNECT {connect}\r\nPING\r\n").as_bytes());
        assert_eq!(c.line(), "PONG");
        c
    };
    let (mut a, mut b) = (login(&kept), login(&removed));
    server.rewrite(&users(false));
    assert!(server.signal("reload").status.success());
    server.wait_for_in_logs("Reloaded server configuration");
    assert_eq!(b.line(), "-ERR 'Authorization Violation'");
    a.send(b"PING\r\n");
    assert_eq!(a.line(), "PONG");
}

/// TLS certificates reload; a TLS block that cannot be built refuses the
/// reload and the port keeps the certificate it has.
#[test]
fn reload_rebuilds_tls_or_refuses_a_broken_block() {
    let pki = common::tls::pki();
    let server = Running::start(&pki.block(""));
    server.rewrite(
        "tls { cert_file: \"/nonexistent/cert.pem\", key_file: \"/nonexistent/key.pem\" }",
    );
    assert!(server.signal("reload").status.success());
    let log = server.wait_for_in_logs("Failed to reload server configuration: ");
    assert!(
        log.contains("error parsing X509 certificate/key pair"),
        "{log}"
    );
    assert!(!log.contains("Reloaded server configuration"));
    let addr = format!("127.0.0.1:{}", server.port());
    let mut c = common::tls::tls_client(&addr, &(pki.client_cert.clone(), pki.client_key.clone()));
    c.send(b"CONNECT {\"verbose\":false}\r\nPING\r\n");
    assert_eq!(c.line(), "PONG");
    server.rewrite(&pki.block(", verify: true"));
    assert!(server.signal("reload").status.success());
    let log = server.wait_for_in_logs("Reloaded server configuration");
    assert!(log.contains("Reloaded: tls"), "{log}");
    let mut c = common::tls::tls_client(&addr, &(pki.client_cert.clone(), pki.client_key.clone()));
    c.send(b"CONNECT {\"verbose\":false}\r\nPING\r\n");
    assert_eq!(c.line(), "PONG");
}

/// More of what a reload changes: `max_connections` holds for the next
/// client, `logtime: false` for the next log line, `ping_interval` for
/// clients that connect after it (a connected one keeps the PING it has
/// coming, as in nats-server).
#[test]
fn reload_changes_connection_limits_log_format_and_pings() {
    let server = Running::start("");
    let mut first = server.client(false);
    first.send(b"CONNECT {\"verbose\":false}\r\nPING\r\n");
    assert_eq!(first.line(), "PONG");
    server.rewrite("max_connections: 2\nlogtime: false\nping_interval: \"100ms\"");
    assert!(server.signal("reload").status.success());
    let log = server.wait_for_in_logs("Reloaded server configuration");
    let line = log
        .lines()
        .find(|l| l.contains("Reloaded server configuration"))
        .unwrap();
    // `[pid] [INF] ...`: no time any more.
    assert!(line.split(' ').nth(1) == Some("[INF]"), "{line}");
    let mut second = server.client(false);
    second.send(b"CONNECT {\"verbose\":false}\r\n");
    assert_eq!(second.line(), "PING");
    let mut third = server.client(false);
    assert_eq!(third.line(), "-ERR 'maximum connections exceeded'");
}

/// A reload that turns authentication on closes the clients that have not
/// logged in (nats-server does the same); a lowered `max_connections`
/// closes the connections over it.
#[test]
fn reload_closes_what_the_new_rules_do_not_admit() {
    let server = Running::start("");
    let mut anonymous = server.client(false);
    anonymous.send(b"SUB foo 1\r\nPING\r\n");
    // No CONNECT: nats-server's defaults, verbose among them.
    assert_eq!(anonymous.line(), "+OK");
    assert_eq!(anonymous.line(), "PONG");
    let mut others: Vec<_> = (0..3)
        .map(|_| {
            let mut c = server.client(false);
            c.send(b"CONNECT {\"verbose\":false,\"user\":\"u\",\"pass\":\"p\"}\r\nPING\r\n");
            assert_eq!(c.line(), "PONG");
            c
        })
        .collect();
    server.rewrite("authorization { user: u, password: p }\nmax_connections: 2");
    assert!(server.signal("reload").status.success());
    server.wait_for_in_logs("Reloaded server configuration");
    assert_eq!(anonymous.line(), "-ERR 'Authorization Violation'");
    // Three logged in, two allowed: one is closed.
    let mut closed = 0;
    for c in others.iter_mut() {
        c.send(b"PING\r\n");
        match c.line().as_str() {
            "PONG" => {}
            "-ERR 'maximum connections exceeded'" => closed += 1,
            other => panic!("{other}"),
        }
    }
    assert_eq!(closed, 1);
}

/// A password still being checked when a reload comes is decided under
/// the new configuration: a user the reload removed does not get in.
#[test]
fn reload_decides_a_pending_login_under_the_new_rules() {
    let hash = bcrypt::hash("slow-secret", 14).unwrap();
    let server = Running::start(&format!(
        "authorization {{ timeout: 30, users = [ {{ user: alice, password: \"{hash}\" }} ] }}"
    ));
    let mut c = server.client(false);
    c.send(b"CONNECT {\"verbose\":false,\"user\":\"alice\",\"pass\":\"slow-secret\"}\r\nPING\r\n");
    server.rewrite("authorization { timeout: 30, users = [ { user: bob, password: other } ] }");
    assert!(server.signal("reload").status.success());
    server.wait_for_in_logs("Reloaded server configuration");
    assert_eq!(c.line(), "-ERR 'Authorization Violation'");
}

/// A changed token ends the logins made with the old one; the log file,
/// the pid file and the subscription limit move to what the file now says.
#[test]
fn reload_changes_tokens_log_and_pid_files_and_subscription_limits() {
    let server = Running::start("authorization { token: t1 }");
    let mut old = server.client(false);
    old.send(b"CONNECT {\"verbose\":false,\"auth_token\":\"t1\"}\r\nPING\r\n");
    assert_eq!(old.line(), "PONG");
    let dir = server.dir.path();
    let (log, pid) = (dir.join("moved.log"), dir.join("moved.pid"));
    std::fs::write(
        dir.join("server.conf"),
        format!(
            "port: -1\nhost: 127.0.0.1\nlog_file: \"{}\"\npid_file: \"{}\"\nauthorization {{ token: t2 }}\nmax_subscriptions: 1\n",
            log.display(),
            pid.display()
        ),
    )
    .unwrap();
    assert!(server.signal("reload").status.success());
    server.wait_for(&log, "Reloaded server configuration");
    assert!(pid.exists() && !server.pid_file().exists());
    assert_eq!(old.line(), "-ERR 'Authorization Violation'");
    let mut new = server.client(false);
    new.send(
        b"CONNECT {\"verbose\":false,\"auth_token\":\"t2\"}\r\nSUB a 1\r\nSUB b 2\r\nPING\r\n",
    );
    assert_eq!(new.line(), "-ERR 'maximum subscriptions exceeded'");
    assert_eq!(new.line(), "PONG");
}

/// A lowered account `max_connections` closes the account's logins over
/// it with nats-server's error.
#[test]
fn reload_lowers_an_account_connection_limit() {
    let accounts = |n: u32| {
        format!("accounts {{ A {{ users = [ {{ user: a, password: p }} ], limits {{ max_connections: {n} }} }} }}")
    };
    let server = Running::start(&accounts(3));
    let mut logins: Vec<_> = (0..3)
        .map(|_| {
            let mut c = server.client(false);
            c.send(b"CONNECT {\"verbose\":false,\"user\":\"a\",\"pass\":\"p\"}\r\nPING\r\n");
            assert_eq!(c.line(), "PONG");
            c
        })
        .collect();
    server.rewrite(&accounts(1));
    assert!(server.signal("reload").status.success());
    server.wait_for_in_logs("Reloaded server configuration");
    let mut refused = 0;
    for c in logins.iter_mut() {
        c.send(b"PING\r\n");
        match c.line().as_str() {
            "PONG" => {}
            "-ERR 'maximum account active connections exceeded'" => refused += 1,
            other => panic!("{other}"),
        }
    }
    assert_eq!(refused, 2);
}

/// The limits a reload changes show in /varz at once, and `trace` turns
/// the protocol trace on.
#[test]
fn reload_shows_new_limits_in_varz_and_turns_on_trace() {
    let server = Running::start("http_port: -1");
    let log = server.wait_for_in_logs("Starting http monitor on ");
    let line = log
        .lines()
        .find(|l| l.contains("Starting http monitor on "))
        .unwrap();
    let http: u16 = line.rsplit(':').next().unwrap().trim().parse().unwrap();
    let before = common::http_json(http, "/varz");
    server.rewrite(
        "http_port: -1\ntrace: true\nmax_pending: 2000000\nwrite_deadline: \"3s\"\nmax_control_line: 2048\nping_max: 5\nlame_duck_duration: \"60s\"\nlame_duck_grace_period: \"5s\"",
    );
    assert!(server.signal("reload").status.success());
    server.wait_for_in_logs("Reloaded server configuration");
    let after = common::http_json(http, "/varz");
    assert_eq!(after["max_pending"], 2_000_000);
    assert_eq!(after["write_deadline"], 3_000_000_000u64);
    assert_eq!(after["max_control_line"], 2048);
    assert_eq!(after["ping_max"], 5);
    assert_ne!(after["config_load_time"], before["config_load_time"]);
    let mut c = server.client(false);
    c.send(b"CONNECT {\"verbose\":false}\r\nPING\r\n");
    assert_eq!(c.line(), "PONG");
    server.wait_for_in_logs("[TRC]");
}
