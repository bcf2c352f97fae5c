//! Starting, running and stopping: the io_uring fallback under a seccomp
//! profile like Docker's, INFO, logging, pid file, signals, write deadline.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{Io, Raw, Server, Start};

/// Installs a seccomp filter refusing io_uring_setup with EPERM, as the
/// default profiles of Docker 25+, containerd and Podman do.
fn refuse_io_uring() -> std::io::Result<()> {
    const IO_URING_SETUP: u32 = 425;
    const SECCOMP_RET_ALLOW: u32 = 0x7fff_0000;
    const SECCOMP_RET_ERRNO: u32 = 0x0005_0000;
    const EPERM: u32 = 1;
    let filter = [
        // A = seccomp_data.nr
        libc::sock_filter {
            code: 0x20,
            jt: 0,
            jf: 0,
            k: 0,
        },
        // if A == io_uring_setup: next, else skip one
        libc::sock_filter {
            code: 0x15,
            jt: 0,
            jf: 1,
            k: IO_URING_SETUP,
        },
        libc::sock_filter {
            code: 0x06,
            jt: 0,
            jf: 0,
            k: SECCOMP_RET_ERRNO | EPERM,
        },
        libc::sock_filter {
            code: 0x06,
            jt: 0,
            jf: 0,
            k: SECCOMP_RET_ALLOW,
        },
    ];
    let prog = libc::sock_fprog {
        len: filter.len() as u16,
        filter: filter.as_ptr() as *mut _,
    };
    // SAFETY: prctl with a valid, live filter program (runs in the child before exec).
    unsafe {
        if libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 {
            return Err(std::io::Error::last_os_error());
        }
        if libc::prctl(
            libc::PR_SET_SECCOMP,
            libc::SECCOMP_MODE_FILTER,
            &prog as *const _ as usize,
            0,
            0,
        ) != 0
        {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

fn run_until_ready(mut cmd: Command) -> (std::process::Child, String, u16) {
    use std::io::{BufRead, BufReader};
    cmd.stderr(Stdio::piped()).stdout(Stdio::null());
    let mut child = cmd.spawn().unwrap();
    let mut log = String::new();
    let mut port = 0;
    let mut reader = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    while reader.read_line(&mut line).unwrap() > 0 {
        log.push_str(&line);
        if let Some(rest) = line.split("Listening for client connections on ").nth(1) {
            port = rest.trim().rsplit(':').next().unwrap().parse().unwrap();
        }
        if line.contains("Server is ready") {
            break;
        }
        line.clear();
    }
    std::thread::spawn(move || {
        let mut sink = String::new();
        let _ = reader.read_to_string(&mut sink);
    });
    assert!(port > 0, "server did not start: {log}");
    (child, log, port)
}

fn ping_pong(port: u16) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(b"CONNECT {\"verbose\":false}\r\nPING\r\n")
        .unwrap();
    let mut got = Vec::new();
    let mut b = [0u8; 512];
    while !String::from_utf8_lossy(&got).contains("PONG\r\n") {
        let n = s.read(&mut b).unwrap();
        assert!(n > 0);
        got.extend_from_slice(&b[..n]);
    }
}

fn stop(child: &mut std::process::Child, signal: i32) -> std::process::ExitStatus {
    // SAFETY: kill(2) on our own child.
    unsafe {
        libc::kill(child.id() as i32, signal);
    }
    child.wait().unwrap()
}

#[test]
fn falls_back_to_epoll_where_seccomp_refuses_io_uring() {
    let mut cmd = Command::new(common::binary());
    cmd.args(["-a", "127.0.0.1", "-p", "-1"]);
    // SAFETY: only async-signal-safe prctl calls between fork and exec.
    unsafe {
        cmd.pre_exec(refuse_io_uring);
    }
    let (mut child, log, port) = run_until_ready(cmd);
    assert!(log.contains("io_uring is not available"), "{log}");
    assert!(log.contains("IO:       epoll"), "{log}");
    assert_eq!(
        log.matches("io_uring is not available").count(),
        1,
        "one line says so"
    );
    ping_pong(port);
    assert!(stop(&mut child, libc::SIGTERM).success());
}

#[test]
fn forcing_io_uring_where_it_is_refused_fails_clearly() {
    let mut cmd = Command::new(common::binary());
    cmd.args(["-a", "127.0.0.1", "-p", "-1", "--io", "uring"]);
    // SAFETY: as above.
    unsafe {
        cmd.pre_exec(refuse_io_uring);
    }
    let out = cmd.output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("io_uring was asked for but is not available"),
        "{err}"
    );
}

#[test]
fn io_flag_chooses_the_runtime() {
    for (io, name) in [(Io::Uring, "io_uring"), (Io::Epoll, "epoll")] {
        let server = Start::new(io).shards(3).start();
        let log = server.log_text();
        assert!(
            log.contains(&format!("IO:       {name}, 3 shards")),
            "{log}"
        );
    }
}

/// With the shards polling for an hour after work, the runtime never parks:
/// every write must be submitted by the poller itself (on io_uring they
/// would otherwise wait for a park that does not come).
#[test]
fn shards_polling_after_work_still_answer() {
    for io in [Io::Uring, Io::Epoll] {
        let server = Start::new(io)
            .shards(2)
            .args(&["-D", "--idle_spin", "1h"])
            .start();
        let (mut sub, _) = Raw::connect(&server);
        sub.send(b"CONNECT {\"verbose\":false}\r\nSUB conv 1\r\nPING\r\n");
        assert_eq!(sub.line(), "PONG");
        let (mut publisher, _) = Raw::connect(&server);
        publisher.send(b"CONNECT {\"verbose\":false}\r\n");
        for i in 0..50 {
            let body = format!("m{i:02}");
            publisher.send(format!("PUB conv 3\r\n{body}\r\nPING\r\n").as_bytes());
            assert_eq!(publisher.line(), "PONG");
            assert_eq!(sub.line(), "MSG conv 1 3");
            assert_eq!(sub.payload(3), body.as_bytes());
        }
        for shard in 0..2 {
            let line = format!("shard {shard}: polls up to 3600s after work");
            assert_eq!(
                server.wait_for_log_lines(&line, 1),
                1,
                "{io:?}: {}",
                server.log_text()
            );
        }
    }
}

#[test]
fn info_carries_what_nats_server_sends() {
    let server = Start::new(Io::Uring)
        .config("server_name: edge-1\nmax_payload: 2048\nauthorization { token: s3cret }\n")
        .start();
    let (_raw, info) = Raw::connect(&server);
    let json: serde_json::Value =
        serde_json::from_str(info.strip_prefix("INFO ").unwrap()).unwrap();
    assert!(json["server_id"].as_str().unwrap().starts_with('N'));
    assert_eq!(json["server_id"].as_str().unwrap().len(), 56);
    assert_eq!(json["server_name"], "edge-1");
    assert_eq!(json["proto"], 1);
    assert_eq!(json["port"], server.port);
    assert_eq!(json["headers"], true);
    assert_eq!(json["max_payload"], 2048);
    assert_eq!(json["auth_required"], true);
    assert_eq!(json["client_ip"], "127.0.0.1");
    assert!(json["client_id"].as_u64().unwrap() >= 1);
    assert!(json["version"].is_string());
    assert!(
        json.get("tls_required").is_none(),
        "omitted when false, as nats-server does"
    );
}

#[test]
fn client_ids_are_unique_across_shards() {
    let server = Start::new(Io::Epoll).shards(2).start();
    let mut ids = std::collections::HashSet::new();
    for _ in 0..20 {
        let (_raw, info) = Raw::connect(&server);
        let json: serde_json::Value =
            serde_json::from_str(info.strip_prefix("INFO ").unwrap()).unwrap();
        assert!(ids.insert(json["client_id"].as_u64().unwrap()));
    }
}

#[test]
fn logs_to_a_file_in_nats_server_format() {
    let dir = tempfile::tempdir().unwrap();
    let log_path = dir.path().join("ringnats.log");
    let pid_path = dir.path().join("ringnats.pid");
    let mut cmd = Command::new(common::binary());
    cmd.args(["-a", "127.0.0.1", "-p", "-1", "-DV", "--logtime=false"])
        .arg("-l")
        .arg(&log_path)
        .arg("-P")
        .arg(&pid_path)
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let mut child = cmd.spawn().unwrap();
    // The pid file appears once the listeners are bound; then the log holds the port.
    let port = loop {
        let text = std::fs::read_to_string(&log_path).unwrap_or_default();
        if let Some(rest) = text.split("Listening for client connections on ").nth(1) {
            break rest
                .lines()
                .next()
                .unwrap()
                .rsplit(':')
                .next()
                .unwrap()
                .parse::<u16>()
                .unwrap();
        }
        assert!(child.try_wait().unwrap().is_none(), "server exited: {text}");
        std::thread::yield_now();
    };
    assert_eq!(
        std::fs::read_to_string(&pid_path).unwrap(),
        child.id().to_string()
    );
    ping_pong(port);
    assert!(
        stop(&mut child, libc::SIGINT).success(),
        "SIGINT stops cleanly too"
    );
    let text = std::fs::read_to_string(&log_path).unwrap();
    let pid = child.id();
    let first = text.lines().next().unwrap();
    assert_eq!(
        first,
        format!("[{pid}] [INF] Starting ringnats"),
        "no time with logtime false"
    );
    assert!(text.contains("[DBG]"), "-D logs debug lines: {text}");
    assert!(
        text.contains("[TRC]") && text.contains("<<- [PING]"),
        "-V traces ops: {text}"
    );
    assert!(text.contains("<<- [CONNECT {\"verbose\":false}]"), "{text}");
    assert!(text.contains("Trapped \"interrupt\" signal"), "{text}");
    assert!(!pid_path.exists(), "pid file removed at exit");
}

#[test]
fn log_lines_carry_time_by_default() {
    let server = Server::new(Io::Epoll);
    let log = server.log_text();
    let line = log.lines().next().unwrap();
    // [pid] 2006/01/02 15:04:05.000000 [INF] ...
    let after_pid = line.split_once("] ").unwrap().1;
    let (date, rest) = after_pid.split_once(' ').unwrap();
    assert_eq!(date.len(), 10, "{line}");
    assert_eq!(date.matches('/').count(), 2, "{line}");
    assert!(
        rest.starts_with(|c: char| c.is_ascii_digit()) && rest.contains(" [INF] "),
        "{line}"
    );
}

/// Starting on `port` must fail with nats-server's listening error.
fn assert_start_refused_on(port: u16) {
    let out = Command::new(common::binary())
        .args(["-a", "127.0.0.1", "-p", &port.to_string()])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("Error listening on port"), "{err}");
}

#[test]
fn refuses_to_start_on_a_port_in_use() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    assert_start_refused_on(taken.local_addr().unwrap().port());
}

#[test]
fn a_second_server_cannot_share_the_port_of_a_first() {
    // Shards bind with SO_REUSEPORT; that must not let two servers split a port.
    let first = Server::new(Io::Epoll);
    assert_start_refused_on(first.port);
}

#[test]
fn write_deadline_closes_a_subscriber_that_stops_reading() {
    for io in [Io::Uring, Io::Epoll] {
        // max_pending is large, so only the deadline can cut the subscriber.
        let server = Start::new(io)
            .shards(1)
            .config("write_deadline: \"300ms\"\nmax_pending: 1gb\n")
            .args(&["-D"])
            .start();
        let (mut stuck, _) = Raw::connect(&server);
        socket2::SockRef::from(&stuck.stream)
            .set_recv_buffer_size(4096)
            .unwrap();
        stuck.send(b"CONNECT {\"verbose\":false,\"pedantic\":false}\r\nSUB big 1\r\n");
        assert!(stuck.round_trip().is_empty());
        let (mut publisher, _) = Raw::connect(&server);
        publisher.send(b"CONNECT {\"verbose\":false,\"pedantic\":false}\r\n");
        let mut frame = b"PUB big 60000\r\n".to_vec();
        frame.extend_from_slice(&[b'x'; 60_000]);
        frame.extend_from_slice(b"\r\n");
        // More than the socket buffers hold: the server's write to `stuck` blocks.
        for _ in 0..150 {
            publisher.send(&frame);
        }
        let started = std::time::Instant::now();
        while !server.log_text().contains("write deadline exceeded") {
            assert!(
                publisher.round_trip().is_empty(),
                "the publisher is never held up"
            );
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "the stuck subscriber was not cut"
            );
        }
        // The publisher and the server go on.
        assert!(publisher.round_trip().is_empty());
    }
}

/// `http_port` (`-m`): the monitor answers on the port it logged, and
/// the clients' port is unaffected.
#[test]
fn the_http_monitor_answers_healthz() {
    let server = Start::new(Io::Epoll).args(&["-m", "-1"]).start();
    let port = common::monitor_port(&server);
    let (status, body) = common::http_get(port, "/healthz");
    assert_eq!((status, body.as_str()), (200, "{\"status\":\"ok\"}"));
    assert_eq!(common::http_get(port, "/nothing").0, 404);
    let (mut c, _) = Raw::connect(&server);
    c.send(b"CONNECT {\"verbose\":false}\r\nPING\r\n");
    assert_eq!(c.line(), "PONG");
}
