//! Starting the built server for a test: a random port, a chosen IO
//! runtime and shard count, and a clean SIGTERM stop when the test ends.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

pub mod jwt;
pub mod tls;
pub mod ws;

/// A round trip through the server on `client`'s own connection: its
/// subscriptions are live on every shard after it (async-nats's flush()
/// returns before the server's PONG).
pub async fn sync(client: &async_nats::Client) {
    let inbox = client.new_inbox();
    let mut sub = client.subscribe(inbox.clone()).await.unwrap();
    client.publish(inbox, "sync".into()).await.unwrap();
    next(&mut sub).await;
}

/// The subscription's next message, within 10 s.
pub async fn next(sub: &mut async_nats::Subscriber) -> async_nats::Message {
    use futures::StreamExt;
    tokio::time::timeout(Duration::from_secs(10), sub.next())
        .await
        .expect("a message in time")
        .expect("subscription open")
}

/// The IO runtimes every behaviour is tested on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Io {
    Uring,
    Epoll,
    /// The server's own choice (`--io auto`): io_uring where the kernel
    /// lets it be used.
    Auto,
}

impl Io {
    pub fn flag(self) -> &'static str {
        match self {
            Io::Uring => "uring",
            Io::Epoll => "epoll",
            Io::Auto => "auto",
        }
    }
}

/// Declares one test per IO runtime: `io_tests!(name, |io| async { ... })`
/// becomes `name_uring` and `name_epoll`.
#[macro_export]
macro_rules! io_tests {
    ($($name:ident => $body:expr;)*) => {
        $(
            mod $name {
                #[allow(unused_imports)]
                use super::*;
                #[test]
                fn uring() {
                    $crate::common::run_test($crate::common::Io::Uring, $body);
                }
                #[test]
                fn epoll() {
                    $crate::common::run_test($crate::common::Io::Epoll, $body);
                }
            }
        )*
    };
}

/// Runs an async test body on a multi-threaded runtime.
pub fn run_test<F, Fut>(io: Io, body: F)
where
    F: FnOnce(Io) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        tokio::time::timeout(Duration::from_secs(120), body(io))
            .await
            .expect("test took over 120 s")
    });
}

pub struct Server {
    child: Option<Child>,
    pub port: u16,
    /// The WebSocket port, when the configuration has a websocket block.
    pub ws_port: Option<u16>,
    pub log: std::sync::Arc<Log>,
    _config: Option<tempfile::NamedTempFile>,
}

/// Options for one server start.
pub struct Start<'a> {
    pub io: Io,
    pub shards: usize,
    pub config: Option<&'a str>,
    pub args: &'a [&'a str],
    /// Run in the server's process between fork and exec (a seccomp
    /// filter, say).
    pub pre_exec: Option<fn() -> std::io::Result<()>>,
}

impl<'a> Start<'a> {
    pub fn new(io: Io) -> Self {
        Start {
            io,
            shards: 2,
            config: None,
            args: &[],
            pre_exec: None,
        }
    }

    pub fn pre_exec(mut self, f: fn() -> std::io::Result<()>) -> Self {
        self.pre_exec = Some(f);
        self
    }

    pub fn shards(mut self, n: usize) -> Self {
        self.shards = n;
        self
    }

    pub fn config(mut self, text: &'a str) -> Self {
        self.config = Some(text);
        self
    }

    pub fn args(mut self, args: &'a [&'a str]) -> Self {
        self.args = args;
        self
    }

    pub fn start(self) -> Server {
        Server::start(self)
    }
}

pub fn binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_ringnats"))
}

impl Server {
    pub fn new(io: Io) -> Server {
        Start::new(io).start()
    }

    fn start(s: Start<'_>) -> Server {
        let mut cmd = Command::new(binary());
        cmd.args(["-a", "127.0.0.1", "-p", "-1", "--io", s.io.flag()]);
        cmd.args(["--shards", &s.shards.to_string()]);
        let config = s.config.map(|text| {
            let mut f = tempfile::Builder::new().suffix(".conf").tempfile().unwrap();
            f.write_all(text.as_bytes()).unwrap();
            f
        });
        if let Some(f) = &config {
            cmd.arg("-c").arg(f.path());
        }
        cmd.args(s.args);
        cmd.stdout(Stdio::null()).stderr(Stdio::piped());
        if let Some(f) = s.pre_exec {
            use std::os::unix::process::CommandExt;
            // SAFETY: the hook makes system calls only (prctl and the
            // like), which is what may run between fork and exec.
            unsafe {
                cmd.pre_exec(f);
            }
        }
        let mut child = cmd.spawn().expect("start ringnats");
        let stderr = child.stderr.take().unwrap();
        let log = std::sync::Arc::new(Log::default());
        let (tx, rx) = mpsc::channel();
        let log2 = log.clone();
        std::thread::spawn(move || {
            let mut port_sent = false;
            let mut ws_port = None;
            let port_of =
                |rest: &str| -> u16 { rest.rsplit(':').next().unwrap().trim().parse().unwrap() };
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if !port_sent {
                    if let Some(rest) = line.split("Listening for websocket clients on ").nth(1) {
                        ws_port = Some(port_of(rest));
                    }
                    if let Some(rest) = line.split("Listening for client connections on ").nth(1) {
                        let _ = tx.send((port_of(rest), ws_port));
                        port_sent = true;
                    }
                }
                log2.push(line);
            }
        });
        let (port, ws_port) = match rx.recv_timeout(Duration::from_secs(20)) {
            Ok(p) => p,
            Err(_) => {
                let _ = child.kill();
                panic!("server did not start; log: {:?}", log.text());
            }
        };
        Server {
            child: Some(child),
            port,
            ws_port,
            log,
            _config: config,
        }
    }

    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn ws_addr(&self) -> String {
        format!("127.0.0.1:{}", self.ws_port.expect("a websocket port"))
    }

    pub fn ws_url(&self) -> String {
        format!("ws://{}", self.ws_addr())
    }

    /// Stops the server with SIGTERM and returns its exit status.
    pub fn stop(mut self) -> std::process::ExitStatus {
        let mut child = self.child.take().unwrap();
        // SAFETY: kill(2) on our own child's pid.
        unsafe {
            libc::kill(child.id() as i32, libc::SIGTERM);
        }
        child.wait().unwrap()
    }

    pub fn log_text(&self) -> String {
        self.log.text()
    }

    /// Waits (up to 10 s) for `n` log lines containing `needle`; returns
    /// how many there are then (more may have come).
    pub fn wait_for_log_lines(&self, needle: &str, n: usize) -> usize {
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        let mut lines = self.log.lines.lock().unwrap();
        loop {
            let count = lines.iter().filter(|l| l.contains(needle)).count();
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            if count >= n || left.is_zero() {
                return count;
            }
            lines = self.log.grew.wait_timeout(lines, left).unwrap().0;
        }
    }

    /// Waits (up to 10 s) for a log line containing `needle`; returns it.
    pub fn wait_for_log(&self, needle: &str) -> String {
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        let mut lines = self.log.lines.lock().unwrap();
        loop {
            if let Some(l) = lines.iter().find(|l| l.contains(needle)) {
                return l.clone();
            }
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            assert!(
                !left.is_zero(),
                "no log line with {needle:?} in 10 s; the log:\n{}",
                lines.join("\n")
            );
            lines = self.log.grew.wait_timeout(lines, left).unwrap().0;
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The server's log lines as they come, and a wake-up for those waiting on one.
#[derive(Default)]
pub struct Log {
    lines: std::sync::Mutex<Vec<String>>,
    grew: std::sync::Condvar,
}

impl Log {
    fn push(&self, line: String) {
        self.lines.lock().unwrap().push(line);
        self.grew.notify_all();
    }

    fn text(&self) -> String {
        self.lines.lock().unwrap().join("\n")
    }
}

/// A raw protocol connection for edge cases: write bytes, read lines.
pub struct Raw<S = TcpStream> {
    pub stream: S,
    buf: Vec<u8>,
}

impl Raw {
    /// Connects and reads the INFO line.
    pub fn connect(server: &Server) -> (Raw, String) {
        let stream = TcpStream::connect(server.addr()).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let mut raw = Raw::over(stream);
        let info = raw.line();
        assert!(info.starts_with("INFO {"), "{info}");
        (raw, info)
    }
}

impl<S: Read + Write> Raw<S> {
    /// The protocol over a stream already open (TLS, say).
    pub fn over(stream: S) -> Raw<S> {
        Raw {
            stream,
            buf: Vec::new(),
        }
    }

    pub fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).unwrap();
    }

    /// The next line, without its CRLF. Panics on timeout or EOF.
    pub fn line(&mut self) -> String {
        loop {
            if let Some(i) = self.buf.windows(2).position(|w| w == b"\r\n") {
                let line: Vec<u8> = self.buf.drain(..i + 2).collect();
                return String::from_utf8_lossy(&line[..i]).into_owned();
            }
            let mut chunk = [0u8; 4096];
            let n = self.stream.read(&mut chunk).expect("read (timeout?)");
            assert!(
                n > 0,
                "connection closed; had {:?}",
                String::from_utf8_lossy(&self.buf)
            );
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }

    /// Exactly `n` bytes (a payload) plus its CRLF.
    pub fn payload(&mut self, n: usize) -> Vec<u8> {
        while self.buf.len() < n + 2 {
            let mut chunk = [0u8; 4096];
            let got = self.stream.read(&mut chunk).expect("read");
            assert!(got > 0, "connection closed mid-payload");
            self.buf.extend_from_slice(&chunk[..got]);
        }
        let p: Vec<u8> = self.buf.drain(..n + 2).collect();
        assert_eq!(&p[n..], b"\r\n");
        p[..n].to_vec()
    }

    /// Reads until the server closes the connection; returns what came.
    pub fn until_closed(&mut self) -> String {
        let mut chunk = [0u8; 4096];
        loop {
            match self.stream.read(&mut chunk) {
                Ok(0) => break,
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break,
                Err(e) => panic!(
                    "server did not close the connection: {e}; had {:?}",
                    String::from_utf8_lossy(&self.buf)
                ),
            }
        }
        String::from_utf8_lossy(&std::mem::take(&mut self.buf)).into_owned()
    }

    /// Sends PING and reads lines up to the PONG; returns those before it.
    pub fn round_trip(&mut self) -> Vec<String> {
        self.send(b"PING\r\n");
        let mut lines = Vec::new();
        loop {
            let l = self.line();
            if l == "PONG" {
                return lines;
            }
            lines.push(l);
        }
    }
}

/// A raw NATS connection over TCP or WebSocket, for tests that run the
/// same exchange over both.
pub trait Conn {
    fn send(&mut self, bytes: &[u8]);
    fn line(&mut self) -> String;
    fn round_trip(&mut self) -> Vec<String>;
}

impl<S: Read + Write> Conn for Raw<S> {
    fn send(&mut self, bytes: &[u8]) {
        Raw::send(self, bytes)
    }
    fn line(&mut self) -> String {
        Raw::line(self)
    }
    fn round_trip(&mut self) -> Vec<String> {
        Raw::round_trip(self)
    }
}

impl<S: Read + Write> Conn for ws::WsRaw<S> {
    fn send(&mut self, bytes: &[u8]) {
        ws::WsRaw::send(self, bytes)
    }
    fn line(&mut self) -> String {
        ws::WsRaw::line(self)
    }
    fn round_trip(&mut self) -> Vec<String> {
        ws::WsRaw::round_trip(self)
    }
}

/// A connection that has read its INFO: over WebSocket when `ws`.
pub fn open(server: &Server, ws: bool) -> Box<dyn Conn> {
    if ws {
        Box::new(ws::WsRaw::upgrade(&server.ws_addr(), &[]).0)
    } else {
        Box::new(Raw::connect(server).0)
    }
}

/// `options` that also hand over each `-ERR` the server sends (as
/// async-nats reports them), for tests of errors that keep a connection.
pub fn with_server_errors(
    options: async_nats::ConnectOptions,
) -> (
    async_nats::ConnectOptions,
    tokio::sync::mpsc::UnboundedReceiver<String>,
) {
    let (tx, errors) = tokio::sync::mpsc::unbounded_channel();
    let options = options.event_callback(move |event| {
        let tx = tx.clone();
        async move {
            if let async_nats::Event::ServerError(e) = event {
                let _ = tx.send(e.to_string());
            }
        }
    });
    (options, errors)
}

/// The next server error, within 10 s.
pub async fn next_error(errors: &mut tokio::sync::mpsc::UnboundedReceiver<String>) -> String {
    tokio::time::timeout(Duration::from_secs(10), errors.recv())
        .await
        .expect("a server error in time")
        .expect("the connection's events")
}

/// The monitoring port the server logged ("Starting http monitor on …").
pub fn monitor_port(server: &Server) -> u16 {
    let line = server.wait_for_log("Starting http monitor on ");
    line.rsplit(':').next().unwrap().trim().parse().unwrap()
}

/// One GET on the monitoring port: the status and the body.
pub fn http_get(port: u16, path: &str) -> (u16, String) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes())
        .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    let (head, body) = out.split_once("\r\n\r\n").unwrap_or((&out, ""));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, body.to_string())
}

/// A monitoring endpoint's JSON (panics unless it answers 200).
pub fn http_json(port: u16, path: &str) -> serde_json::Value {
    let (status, body) = http_get(port, path);
    assert_eq!(status, 200, "{path}: {body}");
    serde_json::from_str(&body).unwrap()
}
