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
        let full = format!(
            "port: -1\nhost: 127.0.0.1\nlog_file: \"{}\"\npid_file: \"{}\"\n{config}\n",
            dir.path().join("server.log").display(),
            dir.path().join("server.pid").display()
        );
        std::fs::write(&conf, full).unwrap();
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
    server.wait_for(&server.log(), "Failed to reload server configuration");
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
