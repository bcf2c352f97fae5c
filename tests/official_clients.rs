//! The official Go client (nats.go) and Python client (nats-py) against
//! ringnats over ws://, and over TLS (tls:// to the client port, wss:// to
//! the websocket port, the server's certificate checked against the test
//! CA), with a TCP peer (async-nats) on the other side: pub/sub,
//! request/reply both ways across the transports, headers, the largest
//! messages, and (Go) permessage-deflate, whose server→client messages end
//! with a final DEFLATE block rather than a sync flush.
//!
//! The clients are programs in tests/clients/ that print what they saw as
//! JSON lines; tests/clients/setup.sh (run by tests/run.sh) installs them.
//! The Go program is built here, once per test binary, from the cache.
//! Both IO runtimes, two shards.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use bytes::Bytes;
use common::tls::pki;
use common::{sync, Io, Server, Start};
use futures::StreamExt;
use serde_json::{json, Value};
use sha1::{Digest, Sha1};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

const WS: &str = "websocket { host: 127.0.0.1, port: -1, no_tls: true }";
const WS_COMPRESSION: &str =
    "websocket { host: 127.0.0.1, port: -1, no_tls: true, compression: true }";

/// The largest message the clients send and get: 1 MiB less 1 KiB, under
/// the default max_payload with room for the protocol line and headers.
const BIG: usize = 1024 * 1024 - 1024;
/// Text the clients get, which compresses well.
const TEXT: usize = 200 * 1024;
const BURST: usize = 200;
const WAIT: Duration = Duration::from_secs(20);
const CLIENT_TIME: Duration = Duration::from_secs(60);
const SETUP_HINT: &str = "run tests/run.sh (or tests/clients/setup.sh) first";

fn start(io: Io, config: &str) -> Server {
    Start::new(io).config(config).args(&["-D"]).start()
}

// ---- payloads, made the same way by the client programs ----

fn gen_bytes(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i % 251) as u8).collect()
}

fn gen_text(n: usize) -> Vec<u8> {
    let mut t = String::with_capacity(n + 64);
    let mut k = 0;
    while t.len() < n {
        t.push_str(&format!(
            "{k:06} the quick brown fox jumps over the lazy dog\n"
        ));
        k += 1;
    }
    t.truncate(n);
    t.into_bytes()
}

/// The i-th message of a burst: its number, then text of 1 byte to ~9 KiB.
fn burst_message(i: usize) -> Vec<u8> {
    let mut m = format!("{i:03} ").into_bytes();
    m.extend(gen_text(1 + (i * i * 7) % 9000));
    m
}

/// What a spec names: "bytes:N", "text:N", "lit:TEXT".
fn gen(spec: &str) -> Result<Vec<u8>, String> {
    let (kind, arg) = spec.split_once(':').ok_or(format!("bad spec {spec:?}"))?;
    let n = || {
        arg.parse::<usize>()
            .map_err(|_| format!("bad spec {spec:?}"))
    };
    match kind {
        "lit" => Ok(arg.as_bytes().to_vec()),
        "bytes" => Ok(gen_bytes(n()?)),
        "text" => Ok(gen_text(n()?)),
        _ => Err(format!("bad spec {spec:?}")),
    }
}

fn sha1_hex(parts: &[&[u8]]) -> String {
    let mut h = Sha1::new();
    for p in parts {
        h.update(p);
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// What a client reports of a payload it checked: size, digest, and no
/// first difference from what was sent.
fn described(payload: &[u8]) -> Value {
    json!({ "len": payload.len(), "sha1": sha1_hex(&[payload]), "first_diff": -1 })
}

// ---- the TCP peer ----

type Headers = BTreeMap<String, Vec<String>>;

fn headers_of(m: &async_nats::Message) -> Headers {
    let mut out = Headers::new();
    for (k, vs) in m.headers.iter().flat_map(|h| h.iter()) {
        let name: &str = k.as_ref();
        out.insert(
            name.to_string(),
            vs.iter().map(|v| v.as_str().to_string()).collect(),
        );
    }
    out
}

fn headers(pairs: &[(&str, &[&str])]) -> Headers {
    pairs
        .iter()
        .map(|(k, vs)| (k.to_string(), vs.iter().map(|v| v.to_string()).collect()))
        .collect()
}

#[derive(Debug)]
struct Seen {
    headers: Headers,
    payload: Bytes,
}

/// An async-nats client over TCP that serves the client programs on
/// peer.* (see tests/clients/go/src/wsclient/main.go) and hands the test
/// what reached it.
struct Peer {
    /// Requests to peer.echo.
    echoed: mpsc::UnboundedReceiver<Seen>,
    /// The answers the peer got to its requests for peer.ask.
    answers: mpsc::UnboundedReceiver<Result<Seen, String>>,
    /// Messages to peer.sink.
    sunk: mpsc::UnboundedReceiver<Seen>,
}

async fn tcp_client(server: &Server) -> async_nats::Client {
    async_nats::ConnectOptions::new()
        .connection_timeout(Duration::from_secs(10))
        .request_timeout(Some(WAIT))
        // Used only when the client port serves TLS.
        .add_root_certificates(pki().ca.clone())
        .connect(server.url())
        .await
        .expect("a TCP client connects")
}

impl Peer {
    async fn start(server: &Server) -> Peer {
        let c = tcp_client(server).await;
        let mut echo = c.subscribe("peer.echo").await.unwrap();
        let mut ask = c.subscribe("peer.ask").await.unwrap();
        let mut publish = c.subscribe("peer.publish").await.unwrap();
        let mut sink = c.subscribe("peer.sink").await.unwrap();
        sync(&c).await;
        let (echo_tx, echoed) = mpsc::unbounded_channel();
        let (ask_tx, answers) = mpsc::unbounded_channel();
        let (sink_tx, sunk) = mpsc::unbounded_channel();

        let cl = c.clone();
        tokio::spawn(async move {
            while let Some(m) = echo.next().await {
                let mut h = m.headers.clone().unwrap_or_default();
                h.insert("X-Echo", "rust");
                let seen = Seen {
                    headers: headers_of(&m),
                    payload: m.payload.clone(),
                };
                let _ = echo_tx.send(seen);
                if let Some(reply) = m.reply {
                    cl.publish_with_headers(reply, h, m.payload).await.unwrap();
                }
            }
        });

        let cl = c.clone();
        tokio::spawn(async move {
            while let Some(m) = ask.next().await {
                let text = String::from_utf8_lossy(&m.payload).into_owned();
                let (subject, body) = text.split_once(' ').unwrap_or((&text, ""));
                let mut h = async_nats::HeaderMap::new();
                h.insert("X-From", "rust");
                let answer = cl
                    .request_with_headers(subject.to_string(), h, body.to_string().into())
                    .await;
                let (seen, back) = match answer {
                    Ok(a) => (
                        Ok(Seen {
                            headers: headers_of(&a),
                            payload: a.payload.clone(),
                        }),
                        a.payload,
                    ),
                    Err(e) => {
                        let e = format!("the TCP peer's request to {subject} failed: {e}");
                        (Err(e.clone()), e.into())
                    }
                };
                let _ = ask_tx.send(seen);
                if let Some(reply) = m.reply {
                    cl.publish(reply, back).await.unwrap();
                }
            }
        });

        let cl = c.clone();
        tokio::spawn(async move {
            while let Some(m) = publish.next().await {
                let text = String::from_utf8_lossy(&m.payload).into_owned();
                let (subject, spec) = text.split_once(' ').unwrap_or((&text, ""));
                let outcome = if let Some(n) = spec.strip_prefix("burst:") {
                    match n.parse::<usize>() {
                        Ok(n) => {
                            for i in 0..n {
                                let msg = burst_message(i);
                                cl.publish(subject.to_string(), msg.into()).await.unwrap();
                            }
                            Ok(())
                        }
                        Err(_) => Err(format!("bad spec {spec:?}")),
                    }
                } else {
                    match gen(spec) {
                        Ok(p) => {
                            cl.publish(subject.to_string(), p.into()).await.unwrap();
                            Ok(())
                        }
                        Err(e) => Err(e),
                    }
                };
                if let Some(reply) = m.reply {
                    let answer = match outcome {
                        Ok(()) => "published".to_string(),
                        Err(e) => e,
                    };
                    cl.publish(reply, answer.into()).await.unwrap();
                }
            }
        });

        tokio::spawn(async move {
            while let Some(m) = sink.next().await {
                let _ = sink_tx.send(Seen {
                    headers: headers_of(&m),
                    payload: m.payload,
                });
            }
        });

        Peer {
            echoed,
            answers,
            sunk,
        }
    }
}

async fn recv<T>(rx: &mut mpsc::UnboundedReceiver<T>, what: &str) -> T {
    tokio::time::timeout(WAIT, rx.recv())
        .await
        .unwrap_or_else(|_| panic!("the TCP peer got no {what} in {WAIT:?}"))
        .expect("the peer's task runs")
}

// ---- a tap between the Go client and the server ----

/// What crossed a tapped WebSocket connection.
#[derive(Default)]
struct Tapped {
    /// The server's response to the upgrade.
    response: String,
    /// Frames from the client: (first byte, payload length).
    up: Vec<(u8, u64)>,
    /// Data messages from the server, fragments joined: (compressed, bytes).
    down: Vec<(bool, Vec<u8>)>,
}

/// Follows one direction of a WebSocket connection: the HTTP head, then
/// frames, whatever the cuts between reads.
#[derive(Default)]
struct Scan {
    head_done: bool,
    head: Vec<u8>,
    header: Vec<u8>,
    /// Payload bytes left in the current frame, and its mask key.
    left: u64,
    mask: Option<[u8; 4]>,
    at: u64,
    /// The data message being read: compressed, bytes so far.
    message: Option<(bool, Vec<u8>)>,
    fin: bool,
    control: bool,
}

impl Scan {
    /// Takes `data`; calls `frame` for each frame header, and returns
    /// data messages as they complete (payloads kept only when `keep`).
    fn feed(
        &mut self,
        mut data: &[u8],
        keep: bool,
        mut frame: impl FnMut(u8, u64),
    ) -> Vec<(bool, Vec<u8>)> {
        let mut done = Vec::new();
        while !data.is_empty() {
            if !self.head_done {
                self.head.push(data[0]);
                data = &data[1..];
                if self.head.ends_with(b"\r\n\r\n") {
                    self.head_done = true;
                }
                continue;
            }
            if self.left > 0 {
                let n = (self.left as usize).min(data.len());
                if !self.control {
                    if let Some((_, bytes)) = self.message.as_mut().filter(|_| keep) {
                        bytes.extend(data[..n].iter().enumerate().map(|(i, b)| match self.mask {
                            Some(k) => b ^ k[((self.at + i as u64) % 4) as usize],
                            None => *b,
                        }));
                    }
                }
                self.at += n as u64;
                self.left -= n as u64;
                data = &data[n..];
                if self.left == 0 {
                    self.end_frame(&mut done);
                }
                continue;
            }
            self.header.push(data[0]);
            data = &data[1..];
            let h = &self.header;
            if h.len() < 2 {
                continue;
            }
            let masked = h[1] & 0x80 != 0;
            let ext = match h[1] & 0x7f {
                126 => 2,
                127 => 8,
                _ => 0,
            };
            let need = 2 + ext + if masked { 4 } else { 0 };
            if h.len() < need {
                continue;
            }
            let len = match ext {
                2 => u16::from_be_bytes([h[2], h[3]]) as u64,
                8 => u64::from_be_bytes(h[2..10].try_into().unwrap()),
                _ => (h[1] & 0x7f) as u64,
            };
            let b0 = h[0];
            self.mask = masked.then(|| h[need - 4..need].try_into().unwrap());
            self.header.clear();
            frame(b0, len);
            self.fin = b0 & 0x80 != 0;
            self.control = b0 & 0x08 != 0;
            if !self.control && b0 & 0x0f != 0 {
                self.message = Some((b0 & 0x40 != 0, Vec::new()));
            }
            self.left = len;
            self.at = 0;
            if len == 0 {
                self.end_frame(&mut done);
            }
        }
        done
    }

    fn end_frame(&mut self, done: &mut Vec<(bool, Vec<u8>)>) {
        if !self.control && self.fin {
            done.extend(self.message.take());
        }
    }
}

/// A relay on its own port to the server's WebSocket port that records
/// what crosses it.
struct Tap {
    port: u16,
    seen: Arc<Mutex<Tapped>>,
}

impl Tap {
    async fn start(target: String) -> Tap {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let seen = Arc::new(Mutex::new(Tapped::default()));
        let s = seen.clone();
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let server = TcpStream::connect(&target).await.unwrap();
                let (mut cr, mut cw) = client.into_split();
                let (mut sr, mut sw) = server.into_split();
                let up = s.clone();
                tokio::spawn(async move {
                    let mut scan = Scan::default();
                    let mut buf = vec![0u8; 64 * 1024];
                    while let Ok(n) = cr.read(&mut buf).await {
                        if n == 0 {
                            break;
                        }
                        {
                            let mut t = up.lock().unwrap();
                            scan.feed(&buf[..n], false, |b0, len| t.up.push((b0, len)));
                        }
                        if sw.write_all(&buf[..n]).await.is_err() {
                            break;
                        }
                    }
                    let _ = sw.shutdown().await;
                });
                let down = s.clone();
                tokio::spawn(async move {
                    let mut scan = Scan::default();
                    let mut buf = vec![0u8; 64 * 1024];
                    while let Ok(n) = sr.read(&mut buf).await {
                        if n == 0 {
                            break;
                        }
                        let messages = scan.feed(&buf[..n], true, |_, _| {});
                        {
                            let mut t = down.lock().unwrap();
                            if t.response.is_empty() && scan.head_done {
                                t.response = String::from_utf8_lossy(&scan.head).into_owned();
                            }
                            t.down.extend(messages);
                        }
                        if cw.write_all(&buf[..n]).await.is_err() {
                            break;
                        }
                    }
                    let _ = cw.shutdown().await;
                });
            }
        });
        Tap { port, seen }
    }

    fn url(&self) -> String {
        format!("ws://127.0.0.1:{}", self.port)
    }
}

/// Inflates a server's compressed message as a permessage-deflate
/// receiver does: the dropped `00 00 ff ff` put back, then a final empty
/// block so that the stream ends.
fn inflate_message(data: &[u8]) -> Option<Vec<u8>> {
    let mut input = data.to_vec();
    input.extend_from_slice(&[0x00, 0x00, 0xff, 0xff, 0x01, 0x00, 0x00, 0xff, 0xff]);
    miniz_oxide::inflate::decompress_to_vec(&input).ok()
}

// ---- the client programs ----

fn clients_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients")
}

/// Builds tests/clients/go/src/wsclient with Debian's nats.go, once per
/// test binary; several binaries at once each rename their build in place.
fn go_program() -> PathBuf {
    static BUILT: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    BUILT
        .get_or_init(|| {
            let gocode = Path::new("/usr/share/gocode/src/github.com/nats-io/nats.go");
            if !gocode.is_dir() {
                return Err(format!(
                    "nats.go is not installed ({} is missing): {SETUP_HINT}",
                    gocode.display()
                ));
            }
            let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("official-clients");
            std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
            let out = dir.join("wsclient-go");
            let partial = dir.join(format!("wsclient-go.{}", std::process::id()));
            let mut cmd = std::process::Command::new("go");
            cmd.args(["build", "-o"])
                .arg(&partial)
                .arg("wsclient")
                .env("GO111MODULE", "off")
                .env(
                    "GOPATH",
                    format!("{}:/usr/share/gocode", clients_dir().join("go").display()),
                )
                .env_remove("GOFLAGS");
            if std::env::var_os("GOCACHE").is_none() && std::env::var_os("HOME").is_none() {
                cmd.env("GOCACHE", dir.join("go-cache"));
            }
            let built = cmd.output().map_err(|e| {
                if e.kind() == std::io::ErrorKind::NotFound {
                    format!("go is not installed: {SETUP_HINT}")
                } else {
                    format!("go build: {e}")
                }
            })?;
            if !built.status.success() {
                return Err(format!(
                    "go build of tests/clients/go/src/wsclient failed:\n{}",
                    String::from_utf8_lossy(&built.stderr)
                ));
            }
            std::fs::rename(&partial, &out).map_err(|e| e.to_string())?;
            Ok(out)
        })
        .clone()
        .unwrap_or_else(|e| panic!("{e}"))
}

fn python_program(url: &str, ca: Option<&Path>) -> tokio::process::Command {
    let deps = clients_dir().join("py/.deps");
    for module in ["nats/__init__.py", "aiohttp/__init__.py"] {
        assert!(
            deps.join(module).is_file(),
            "nats-py is not installed ({} is missing): {SETUP_HINT}",
            deps.join(module).display()
        );
    }
    let python = std::env::var("PYTHON").unwrap_or_else(|_| "python3".to_string());
    let mut cmd = tokio::process::Command::new(python);
    cmd.arg("-u")
        .arg(clients_dir().join("py/wsclient.py"))
        .arg(url)
        .arg(BIG.to_string())
        .args(ca)
        .env("PYTHONPATH", deps)
        .env("PYTHONDONTWRITEBYTECODE", "1");
    cmd
}

/// The steps a client program reported, in order.
struct Report {
    who: &'static str,
    steps: Vec<Value>,
}

impl Report {
    fn step(&self, name: &str) -> &Value {
        self.steps
            .iter()
            .find(|s| s["step"] == name)
            .unwrap_or_else(|| panic!("{} reported no step {name:?}: {:?}", self.who, self.steps))
    }

    /// Checks the step's fields named in `want` (other fields may follow).
    fn expect(&self, name: &str, want: Value) {
        let got = self.step(name);
        for (k, v) in want.as_object().unwrap() {
            assert_eq!(&got[k], v, "{}: step {name}, field {k}: {got}", self.who);
        }
    }
}

/// Runs a client program to its end; panics with what it said, and the
/// server's log, unless it succeeds.
async fn run(who: &'static str, mut cmd: tokio::process::Command, server: &Server) -> Report {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("{who} does not start ({e}): {SETUP_HINT}"));
    let out = tokio::time::timeout(CLIENT_TIME, child.wait_with_output())
        .await
        .unwrap_or_else(|_| {
            panic!(
                "{who} did not finish in {CLIENT_TIME:?}; server log:\n{}",
                server.log_text()
            )
        })
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "{who} failed ({}):\n{stderr}\nwhat it reported:\n{stdout}\nserver log:\n{}",
        out.status,
        server.log_text()
    );
    let steps: Vec<Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{who} printed {l:?}: {e}")))
        .collect();
    let report = Report { who, steps };
    report.step("done");
    report
}

// ---- the scenarios ----

/// How a client program reaches the server.
#[derive(Clone, Copy, PartialEq, Debug)]
enum Over {
    /// ws://, for Go through a Tap that sees the frames.
    Ws,
    /// wss:// to the websocket port; the client port stays plain.
    Wss,
    /// tls:// to the client port (INFO in the clear, then the handshake).
    Tls,
}

impl Over {
    fn config(self, compression: bool) -> String {
        let z = if compression {
            ", compression: true"
        } else {
            ""
        };
        match self {
            Over::Ws if compression => WS_COMPRESSION.to_string(),
            Over::Ws => WS.to_string(),
            Over::Wss => format!(
                "websocket {{ host: 127.0.0.1, port: -1{z}, {} }}",
                pki().block("")
            ),
            Over::Tls => pki().block(""),
        }
    }

    /// The URL for TLS transports, with the CA that verifies the server.
    fn tls_url(self, server: &Server) -> Option<(String, &'static Path)> {
        match self {
            Over::Ws => None,
            Over::Wss => Some((format!("wss://{}", server.ws_addr()), &pki().ca)),
            Over::Tls => Some((format!("tls://{}", server.addr()), &pki().ca)),
        }
    }
}

async fn nats_go(io: Io, over: Over, compression: bool) {
    let server = start(io, &over.config(compression));
    let mut peer = Peer::start(&server).await;
    let mut cmd = tokio::process::Command::new(go_program());
    cmd.arg("-big").arg(BIG.to_string());
    // Over ws:// the Tap sees what crosses; TLS it could not read.
    let (url, tap) = match over.tls_url(&server) {
        Some((url, ca)) => {
            cmd.arg("-ca").arg(ca);
            (url, None)
        }
        None => {
            let tap = Tap::start(server.ws_addr()).await;
            (tap.url(), Some(tap))
        }
    };
    cmd.arg("-url").arg(&url);
    if compression {
        cmd.arg("-compression");
    }
    let r = run("nats.go", cmd, &server).await;

    let connect = r.step("connect");
    assert_eq!(connect["url"], url.as_str(), "{connect}");
    assert_eq!(connect["headers"], true, "{connect}");
    if over == Over::Tls {
        assert_eq!(connect["tls"], true, "{connect}");
    }
    assert!(
        connect["max_payload"].as_u64().unwrap() as usize >= BIG + 1024,
        "{connect}"
    );
    r.expect("pubsub", json!({ "payloads": ["one", "two", "three"] }));
    r.expect(
        "headers",
        json!({ "payload": "with headers", "headers": { "X-Trace": ["go-1"], "X-Multi": ["a", "b"] } }),
    );
    r.expect("responder", json!({ "reply": "go:self" }));

    r.expect(
        "request_tcp",
        json!({ "reply": "hello from go", "headers": { "X-From": ["go"], "X-Echo": ["rust"] } }),
    );
    let at_tcp = recv(&mut peer.echoed, "request from Go").await;
    assert_eq!(at_tcp.payload, "hello from go");
    assert_eq!(at_tcp.headers, headers(&[("X-From", &["go"])]));

    r.expect("request_from_tcp", json!({ "reply": "go:hello from rust" }));
    let answer = recv(&mut peer.answers, "answer from Go").await.unwrap();
    assert_eq!(answer.payload, "go:hello from rust");
    assert_eq!(answer.headers, headers(&[("X-From", &["rust"])]));

    let sunk = recv(&mut peer.sunk, "message from Go").await;
    assert_eq!(sunk.payload, "go was here");
    assert!(sunk.headers.is_empty(), "{:?}", sunk.headers);
    r.expect("publish_from_tcp", json!({ "payload": "hello from tcp" }));

    let big = gen_bytes(BIG);
    let mut want = described(&big);
    want["headers"] = json!({ "X-Size": [BIG.to_string()], "X-Echo": ["rust"] });
    r.expect("big_echo", want);
    let at_tcp = recv(&mut peer.echoed, "big message from Go").await;
    assert!(
        at_tcp.payload == big,
        "the TCP peer got {} other bytes",
        at_tcp.payload.len()
    );
    assert_eq!(at_tcp.headers, headers(&[("X-Size", &[&BIG.to_string()])]));

    let text = gen_text(TEXT);
    r.expect("text_from_tcp", described(&text));
    r.expect("text_echo", described(&text));
    let at_tcp = recv(&mut peer.echoed, "text from Go").await;
    assert!(
        at_tcp.payload == text,
        "the TCP peer got {} other bytes",
        at_tcp.payload.len()
    );

    let burst: Vec<Vec<u8>> = (0..BURST).map(burst_message).collect();
    let parts: Vec<&[u8]> = burst.iter().map(|m| m.as_slice()).collect();
    r.expect(
        "burst_from_tcp",
        json!({ "count": BURST, "sha1": sha1_hex(&parts) }),
    );

    // What crossed the wire: compressed both ways or not at all.
    let Some(tap) = tap else { return };
    let tapped = tap.seen.lock().unwrap();
    let offered = tapped
        .response
        .to_ascii_lowercase()
        .contains("sec-websocket-extensions: permessage-deflate");
    let up_compressed = tapped.up.iter().filter(|(b0, _)| b0 & 0x40 != 0).count();
    let down_compressed: Vec<&Vec<u8>> = tapped
        .down
        .iter()
        .filter(|(c, _)| *c)
        .map(|(_, m)| m)
        .collect();
    if !compression {
        assert!(!offered, "{}", tapped.response);
        assert_eq!((up_compressed, down_compressed.len()), (0, 0));
        return;
    }
    assert!(offered, "compression was not agreed: {}", tapped.response);
    assert!(up_compressed > 0, "nats.go sent nothing compressed");
    // The server's compressed messages are sync-flushed streams (what
    // browsers need): each inflates once the trailer is put back. The text
    // went to Go in them.
    let inflated: Vec<Vec<u8>> = down_compressed
        .iter()
        .filter_map(|m| inflate_message(m))
        .collect();
    assert_eq!(
        inflated.len(),
        down_compressed.len(),
        "some compressed messages to nats.go do not inflate"
    );
    let stream: Vec<u8> = inflated.concat();
    let mut text_msg = format!(" {TEXT}\r\n").into_bytes();
    text_msg.extend_from_slice(&text);
    assert!(
        memchr::memmem::find(&stream, &text_msg).is_some(),
        "the 200 KiB text did not reach nats.go compressed: {} compressed messages, {} inflated",
        down_compressed.len(),
        inflated.len()
    );
}

async fn nats_py(io: Io, over: Over) {
    let server = start(io, &over.config(false));
    let mut peer = Peer::start(&server).await;
    let (url, ca) = match over.tls_url(&server) {
        Some((url, ca)) => (url, Some(ca)),
        None => (server.ws_url(), None),
    };
    let r = run("nats-py", python_program(&url, ca), &server).await;

    let connect = r.step("connect");
    assert_eq!(connect["url"], url.as_str(), "{connect}");
    assert_eq!(connect["headers"], true, "{connect}");
    if over == Over::Tls {
        assert_eq!(connect["tls"], true, "{connect}");
    }
    r.expect("pubsub", json!({ "payloads": ["one", "two", "three"] }));
    r.expect(
        "headers",
        json!({ "payload": "with headers", "headers": { "X-Trace": "py-1" } }),
    );
    r.expect("responder", json!({ "reply": "py:self" }));

    r.expect(
        "request_tcp",
        json!({ "reply": "hello from python", "headers": { "X-From": "python", "X-Echo": "rust" } }),
    );
    let at_tcp = recv(&mut peer.echoed, "request from Python").await;
    assert_eq!(at_tcp.payload, "hello from python");
    assert_eq!(at_tcp.headers, headers(&[("X-From", &["python"])]));

    r.expect("request_from_tcp", json!({ "reply": "py:hello from rust" }));
    let answer = recv(&mut peer.answers, "answer from Python").await.unwrap();
    assert_eq!(answer.payload, "py:hello from rust");
    assert_eq!(answer.headers, headers(&[("X-From", &["rust"])]));

    let sunk = recv(&mut peer.sunk, "message from Python").await;
    assert_eq!(sunk.payload, "python was here");
    r.expect("publish_from_tcp", json!({ "payload": "hello from tcp" }));

    let big = gen_bytes(BIG);
    r.expect("big_echo", described(&big));
    let at_tcp = recv(&mut peer.echoed, "big message from Python").await;
    assert!(
        at_tcp.payload == big,
        "the TCP peer got {} other bytes",
        at_tcp.payload.len()
    );

    r.expect("text_from_tcp", described(&gen_text(TEXT)));
}

io_tests! {
    nats_go_over_ws => |io| nats_go(io, Over::Ws, false);
    nats_go_over_ws_compressed => |io| nats_go(io, Over::Ws, true);
    nats_go_over_tls => |io| nats_go(io, Over::Tls, false);
    nats_go_over_wss => |io| nats_go(io, Over::Wss, false);
    // The same offer and config that the ws:// run sees agreed through the
    // Tap; here the compressed messages go through TLS, unseen.
    nats_go_over_wss_compressed => |io| nats_go(io, Over::Wss, true);
    nats_py_over_ws => |io| nats_py(io, Over::Ws);
    nats_py_over_tls => |io| nats_py(io, Over::Tls);
    nats_py_over_wss => |io| nats_py(io, Over::Wss);
}
