//! Starts a real nats-server (with a websocket listener) on free ports.

#![allow(dead_code)]

use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct NatsServer {
    child: Child,
    pub port: u16,
    pub ws_port: u16,
    dir: PathBuf,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn binary() -> PathBuf {
    for p in [
        "/usr/sbin/nats-server",
        "/usr/bin/nats-server",
        "/usr/local/bin/nats-server",
    ] {
        if std::path::Path::new(p).exists() {
            return p.into();
        }
    }
    panic!("nats-server not found (looked in /usr/sbin, /usr/bin, /usr/local/bin): apt-get install nats-server");
}

impl NatsServer {
    pub fn start() -> NatsServer {
        Self::start_with(|port, ws_port| {
            format!("port: {port}\nmax_payload: 1048576\nwebsocket {{ port: {ws_port}, no_tls: true, compression: true }}\n")
        })
    }

    /// Starts with the configuration `conf(port, ws_port)` returns.
    pub fn start_with(conf: impl Fn(u16, u16) -> String) -> NatsServer {
        let bin = binary();
        for _ in 0..5 {
            let port = free_port();
            let ws_port = free_port();
            if port == ws_port {
                continue;
            }
            let dir =
                std::env::temp_dir().join(format!("loadtest-nats-{}-{port}", std::process::id()));
            std::fs::create_dir_all(&dir).unwrap();
            let conf_file = dir.join("nats.conf");
            std::fs::write(&conf_file, conf(port, ws_port)).unwrap();
            let child = Command::new(&bin)
                .arg("-c")
                .arg(&conf_file)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap_or_else(|e| {
                    panic!("start {}: {e} (apt-get install nats-server)", bin.display())
                });
            let mut s = NatsServer {
                child,
                port,
                ws_port,
                dir,
            };
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = s.child.try_wait() {
                    break; // port taken meanwhile: try others
                }
                if TcpStream::connect(("127.0.0.1", port)).is_ok()
                    && TcpStream::connect(("127.0.0.1", ws_port)).is_ok()
                {
                    return s;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = s.child.kill();
        }
        panic!("nats-server did not start");
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn nats(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    pub fn ws(&self) -> String {
        format!("ws://127.0.0.1:{}", self.ws_port)
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Runs a scenario given as CLI words and checks the counts are exact.
pub fn run_ok(words: &[&str]) -> loadtest::Report {
    let scenario = loadtest::parse_args(words.iter().copied()).unwrap();
    let r = loadtest::run(&scenario).unwrap_or_else(|e| panic!("{words:?}: {e}"));
    assert_exact(&r, words);
    r
}

pub fn assert_exact(r: &loadtest::Report, words: &[&str]) {
    assert!(r.ok(), "{words:?}: {:?}\n{}", r.problems(), r.table());
    assert_eq!(r.received, r.expected, "{words:?}");
    assert_eq!(r.lost, 0, "{words:?}");
    assert_eq!(r.duplicated, 0, "{words:?}");
    assert_eq!(r.reordered, 0, "{words:?}");
    assert!(r.expected > 0, "{words:?}: nothing expected");
}
