//! The official browser client, nats.ws, in headless Chromium against
//! ringnats over ws:// and wss://: a page served from here imports nats.ws's
//! ES module, connects, publishes, subscribes and requests, to itself and
//! across transports to an async-nats client over TCP; with
//! permessage-deflate, payloads big enough to be compressed (Chromium to
//! ringnats and back); and `allowed_origins` admitting the page's
//! origin and refusing another. Over wss:// Chromium trusts the test
//! server's key alone (see `trust`), not certificates at large.
//!
//! Needs Debian's Chromium and the npm packages of tests/browser, which
//! tests/browser/setup.sh installs (tests/run.sh runs it); without them
//! these tests fail and say so. The page is tests/browser/page.js, the
//! driver that runs Chromium tests/browser/driver.mjs.

mod common;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::tls::pki;
use common::{next, Io, Server, Start};
use futures::StreamExt;
use serde_json::Value;

const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/browser");
const CHROMIUM: &str = "/usr/bin/chromium";

/// Fails, saying what to run, when the browser or the npm packages are missing.
fn require_setup() {
    let dir = Path::new(DIR);
    let mut missing = Vec::new();
    if !Path::new(CHROMIUM).is_file() {
        missing.push(CHROMIUM.to_string());
    }
    for needed in [
        "node_modules/nats.ws/esm/nats.js",
        "node_modules/playwright-core/package.json",
    ] {
        if !dir.join(needed).is_file() {
            missing.push(format!("tests/browser/{needed}"));
        }
    }
    let node = std::process::Command::new("node")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !node {
        missing.push("node".to_string());
    }
    assert!(
        missing.is_empty(),
        "the browser tests need {}: run tests/browser/setup.sh first (tests/run.sh does)",
        missing.join(", ")
    );
}

/// A tiny HTTP server for the test page and nats.ws's ES module, on a
/// random port of 127.0.0.1. It records the paths it served.
struct Pages {
    port: u16,
    served: Arc<Mutex<Vec<String>>>,
}

impl Pages {
    fn serve() -> Pages {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let served = Arc::new(Mutex::new(Vec::new()));
        let log = served.clone();
        // Lives as long as the test process; nothing connects once the
        // test is over.
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let log = log.clone();
                std::thread::spawn(move || answer(stream, &log));
            }
        });
        Pages { port, served }
    }

    fn origin(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The page's URL, told the server's ws:// or wss:// URL and which
    /// sizes to send; `extra` is more of the query string (`&only=up`).
    fn page(&self, ws: &str, sizes: &[usize], extra: &str) -> String {
        let sizes: Vec<String> = sizes.iter().map(|n| n.to_string()).collect();
        format!(
            "{}/page.html?ws={ws}&sizes={}{extra}",
            self.origin(),
            sizes.join(",")
        )
    }

    fn served(&self) -> Vec<String> {
        self.served.lock().unwrap().clone()
    }
}

/// Answers one HTTP request: one of the page's files, or 404.
fn answer(mut stream: TcpStream, served: &Mutex<Vec<String>>) {
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut head = Vec::new();
    let mut chunk = [0u8; 4096];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&chunk[..n]),
        }
    }
    let head = String::from_utf8_lossy(&head);
    let target = head.split(' ').nth(1).unwrap_or("");
    let path = target.split('?').next().unwrap_or("");
    if path == "/login" {
        // `/login?jwt=<token>&<rest>`: the cookie a login page would set,
        // then on to the page with the rest of the query.
        let query = target.split_once('?').map_or("", |(_, q)| q);
        let (jwt, rest): (Vec<&str>, Vec<&str>) =
            query.split('&').partition(|kv| kv.starts_with("jwt="));
        let cookie = jwt.first().map_or("", |kv| &kv[4..]);
        served.lock().unwrap().push(format!("{path} 302 Found"));
        let head = format!(
            "HTTP/1.1 302 Found\r\nSet-Cookie: jwt={cookie}; Path=/; SameSite=Lax\r\nLocation: /page.html?{}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            rest.join("&")
        );
        let _ = stream.write_all(head.as_bytes());
        return;
    }
    let file: Option<(&str, &str)> = match path {
        "/page.html" => Some(("page.html", "text/html; charset=utf-8")),
        "/page.js" => Some(("page.js", "text/javascript; charset=utf-8")),
        "/node_modules/nats.ws/esm/nats.js" => Some((
            "node_modules/nats.ws/esm/nats.js",
            "text/javascript; charset=utf-8",
        )),
        _ => None,
    };
    let (status, kind, body) = match file.map(|(f, k)| (std::fs::read(Path::new(DIR).join(f)), k)) {
        Some((Ok(body), kind)) => ("200 OK", kind, body),
        _ => ("404 Not Found", "text/plain", b"not found\n".to_vec()),
    };
    served.lock().unwrap().push(format!("{path} {status}"));
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {kind}\r\nContent-Length: {}\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let _ = stream.write_all(head.as_bytes());
    let _ = stream.write_all(&body);
}

/// What the driver saw of one page: `result` is the page's window.result.
struct Visit {
    json: Value,
}

impl Visit {
    fn result(&self) -> &Value {
        &self.json["result"]
    }

    /// Everything, for a failing assertion's message.
    fn show(&self) -> String {
        serde_json::to_string_pretty(&self.json).unwrap()
    }
}

/// Loads each URL in headless Chromium, in order, and returns what each
/// page reported.
async fn browse(urls: &[String]) -> Vec<Visit> {
    browse_trusting(urls, None).await
}

/// As `browse`, with Chromium accepting the certificate whose key has the
/// SPKI hash `spki` (see `trust`).
async fn browse_trusting(urls: &[String], spki: Option<&str>) -> Vec<Visit> {
    require_setup();
    let driver = PathBuf::from(DIR).join("driver.mjs");
    let mut cmd = tokio::process::Command::new("node");
    if let Some(spki) = spki {
        cmd.env("BROWSER_TRUST_SPKI", spki);
    }
    let run = cmd
        .arg(driver)
        .args(urls)
        .current_dir(DIR)
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(Duration::from_secs(90), run)
        .await
        .expect("the browser driver finished in 90 s")
        .expect("run node tests/browser/driver.mjs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let visits: Vec<Visit> = stdout
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| Visit {
            json: serde_json::from_str(l).expect("a JSON line from the driver"),
        })
        .collect();
    assert_eq!(
        visits.len(),
        urls.len(),
        "the driver reported {} of {} pages ({}); stdout:\n{stdout}\nstderr:\n{stderr}",
        visits.len(),
        urls.len(),
        out.status
    );
    for v in &visits {
        assert!(
            v.json["error"].is_null() && out.status.success(),
            "the driver failed on a page ({}):\n{}\nstderr:\n{stderr}",
            out.status,
            v.show()
        );
    }
    visits
}

/// Exactly `n` bytes of text, as the page's `text(n, who)` makes them.
fn text(n: usize, who: &str) -> Vec<u8> {
    let mut s = String::new();
    let mut i = 0;
    while s.len() < n {
        s.push_str(&format!(
            "{who} line {i}: the quick brown fox jumps over the lazy dog\n"
        ));
        i += 1;
    }
    s.truncate(n);
    s.into_bytes()
}

/// What `who` sends, as the page's `payloads(who)`: one short non-ASCII
/// message, then a text of each size.
fn payloads(who: &str, sizes: &[usize]) -> Vec<Vec<u8>> {
    let mut all = vec![format!("hello from {who} \u{2713} \u{e9}").into_bytes()];
    all.extend(sizes.iter().map(|&n| text(n, who)));
    all
}

fn start(io: Io, config: &str) -> Server {
    Start::new(io).config(config).args(&["-D"]).start()
}

/// The page's counterpart over TCP: it answers `rust.svc`, publishes its
/// payloads to `browser.in` when asked on `rust.send`, and holds what the
/// page published on `browser.out` and echoed on `browser.echo`.
struct Peer {
    out: async_nats::Subscriber,
    echo: async_nats::Subscriber,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Peer {
    async fn start(server: &Server, sizes: &[usize]) -> Peer {
        Peer::start_with(server, sizes, async_nats::ConnectOptions::new()).await
    }

    /// As `start`, logging in with `options`.
    async fn start_with(
        server: &Server,
        sizes: &[usize],
        options: async_nats::ConnectOptions,
    ) -> Peer {
        let client = options
            .connection_timeout(Duration::from_secs(10))
            .connect(server.url())
            .await
            .unwrap();
        let out = client.subscribe("browser.out").await.unwrap();
        let echo = client.subscribe("browser.echo").await.unwrap();
        let mut svc = client.subscribe("rust.svc").await.unwrap();
        let mut send = client.subscribe("rust.send").await.unwrap();
        // A round trip through the server on this connection: the
        // subscriptions are live on every shard after it.
        let inbox = client.new_inbox();
        let mut sync = client.subscribe(inbox.clone()).await.unwrap();
        client.publish(inbox, "sync".into()).await.unwrap();
        next(&mut sync).await;

        let c = client.clone();
        let answer = tokio::spawn(async move {
            while let Some(m) = svc.next().await {
                let mut reply = b"rust:".to_vec();
                reply.extend_from_slice(&m.payload);
                c.publish(m.reply.unwrap(), reply.into()).await.unwrap();
            }
        });
        let c = client.clone();
        let mine = payloads("rust", sizes);
        let sender = tokio::spawn(async move {
            while let Some(m) = send.next().await {
                for p in &mine {
                    c.publish("browser.in", p.clone().into()).await.unwrap();
                }
                let reply = format!("sent {}", mine.len());
                c.publish(m.reply.unwrap(), reply.into()).await.unwrap();
                c.flush().await.unwrap();
            }
        });
        Peer {
            out,
            echo,
            tasks: vec![answer, sender],
        }
    }

    /// What the page sent over ws://, as it reached this TCP client: the
    /// page's payloads on `browser.out`, this peer's on `browser.echo`.
    async fn check(&mut self, sizes: &[usize]) {
        self.check_out(sizes).await;
        for (i, want) in payloads("rust", sizes).iter().enumerate() {
            let got = next(&mut self.echo).await.payload;
            assert!(
                got == want[..],
                "browser.echo message {i}: {} bytes, wanted {} bytes",
                got.len(),
                want.len()
            );
        }
    }

    /// The page's payloads on `browser.out`, exactly and in order.
    async fn check_out(&mut self, sizes: &[usize]) {
        for (i, want) in payloads("browser", sizes).iter().enumerate() {
            let got = next(&mut self.out).await.payload;
            assert!(
                got == want[..],
                "browser.out message {i}: {} bytes, wanted {} bytes {:?}",
                got.len(),
                want.len(),
                String::from_utf8_lossy(&want[..want.len().min(60)])
            );
        }
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// Asserts that the page connected and got to the end without an error.
fn assert_page_finished(v: &Visit) {
    let r = v.result();
    let hint = if v.json["console"]
        .to_string()
        .contains("Invalid frame header")
    {
        "\nChromium failed the connection on a frame it read (\"Invalid frame header\" \
         is also what it says when it cannot inflate a compressed message; it takes \
         only the first message of a connection that ends in a final, BFINAL=1, \
         DEFLATE block instead of a sync flush)"
    } else {
        ""
    };
    assert!(
        r["connected"] == true && r["error"].is_null() && r["step"] == "done",
        "the page did not finish:\n{}{hint}",
        v.show()
    );
    assert!(r["closedWith"].is_null(), "{}", v.show());
}

/// Asserts that the page did every step and each message came intact.
fn assert_page_did_it_all(v: &Visit, sizes: &[usize]) {
    assert_page_finished(v);
    let r = v.result();
    let n = payloads("x", sizes).len();
    for what in ["self", "pageRequests", "rustReplies", "fromRust"] {
        let checks = r[what].as_array().unwrap();
        assert_eq!(checks.len(), n, "{what}:\n{}", v.show());
        for c in checks {
            assert!(c["same"] == true, "{what}: {c} differs:\n{}", v.show());
        }
    }
    assert_eq!(r["sentReply"], format!("sent {n}"), "{}", v.show());
}

/// The base64 SHA-256 of the test server certificate's SubjectPublicKeyInfo,
/// for Chromium's --ignore-certificate-errors-spki-list: Chromium then
/// accepts that one key's certificate (its issuer, the test CA, is unknown
/// to it) and still refuses any other it cannot verify. The certificate's
/// SPKI is its key pair's public half, taken here from the key file.
fn trust() -> String {
    use base64::Engine;
    use rcgen::PublicKeyData;
    let pem = std::fs::read_to_string(&pki().server_key).unwrap();
    let spki = rcgen::KeyPair::from_pem(&pem)
        .unwrap()
        .subject_public_key_info();
    let sha256 = rustls::crypto::ring::cipher_suite::TLS13_AES_128_GCM_SHA256
        .tls13()
        .unwrap()
        .common
        .hash_provider
        .hash(&spki);
    base64::engine::general_purpose::STANDARD.encode(sha256.as_ref())
}

fn wss_url(server: &Server) -> String {
    format!("wss://{}", server.ws_addr())
}

/// How the page reaches the server.
#[derive(Clone, Copy, PartialEq)]
enum Scheme {
    Ws,
    /// wss://, Chromium trusting the test certificate.
    Wss,
}

/// The page from `pages` against `server` over `scheme`, with the TCP
/// peer, sizes as given; returns what the page reported.
async fn round_trip(server: &Server, pages: &Pages, sizes: &[usize], scheme: Scheme) -> Visit {
    let mut peer = Peer::start(server, sizes).await;
    let (ws, spki) = match scheme {
        Scheme::Ws => (server.ws_url(), None),
        Scheme::Wss => (wss_url(server), Some(trust())),
    };
    let mut visits = browse_trusting(&[pages.page(&ws, sizes, "")], spki.as_deref()).await;
    let visit = visits.pop().unwrap();
    assert_page_did_it_all(&visit, sizes);
    // The WebSocket Chromium opened was the one asked for (it adds the path).
    let opened = format!("{ws}/ opened");
    assert!(
        visit.json["websocket"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e == &opened[..]),
        "{}",
        visit.show()
    );
    peer.check(sizes).await;
    let served = pages.served();
    assert!(
        served.contains(&"/node_modules/nats.ws/esm/nats.js 200 OK".to_string()),
        "{served:?}"
    );
    visit
}

/// The extensions the page's WebSocket agreed.
fn extensions(v: &Visit) -> String {
    v.result()["extensions"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

const COMPRESSED_SIZES: [usize; 2] = [10 * 1024, 200 * 1024];

/// Compressed both ways: ringnats compresses batches over 64 bytes,
/// Chromium the messages it deems worth it.
async fn compressed_both_ways(io: Io) {
    let pages = Pages::serve();
    let server = start(io, &ws_config(", compression: true"));
    let visit = round_trip(&server, &pages, &COMPRESSED_SIZES, Scheme::Ws).await;
    let ext = extensions(&visit);
    assert!(
        ext.starts_with("permessage-deflate"),
        "negotiated {ext:?}:\n{}",
        visit.show()
    );
}

/// Fails today: ringnats ends each compressed message with a final
/// (BFINAL=1) DEFLATE block, and Chromium fails the connection ("Invalid
/// frame header", close 1006) on the second such message of a connection;
/// the first is the INFO. Sync-flushed messages it takes one after another.
mod compressed_messages_cross_both_ways_with_chromium {
    use super::*;

    #[test]
    fn uring() {
        common::run_test(Io::Uring, compressed_both_ways);
    }

    #[test]
    fn epoll() {
        common::run_test(Io::Epoll, compressed_both_ways);
    }
}

fn ws_config(extra: &str) -> String {
    format!("websocket {{ host: 127.0.0.1, port: -1, no_tls: true{extra} }}")
}

/// A websocket block serving wss:// with the test certificate; the client
/// port stays plain for the TCP peer.
fn wss_config(extra: &str) -> String {
    format!(
        "websocket {{ host: 127.0.0.1, port: -1{extra}, {} }}",
        pki().block("")
    )
}

io_tests! {
    nats_ws_in_chromium_publishes_subscribes_and_requests => |io| async move {
        let pages = Pages::serve();
        let server = start(io, &ws_config(""));
        let sizes = [0, 64, 4096];
        let visit = round_trip(&server, &pages, &sizes, Scheme::Ws).await;
        // Chromium offers permessage-deflate; without `compression` the
        // server does not take it.
        assert_eq!(visit.result()["extensions"], "", "{}", visit.show());
    };

    chromium_compresses_and_ringnats_inflates => |io| async move {
        // The page only publishes: what comes back to it stays under the
        // 64 bytes that ringnats would compress (PONGs), past the INFO.
        let pages = Pages::serve();
        let server = start(io, &ws_config(", compression: true"));
        let mut peer = Peer::start(&server, &COMPRESSED_SIZES).await;
        let url = pages.page(&server.ws_url(), &COMPRESSED_SIZES, "&only=up");
        let visit = browse(&[url]).await.pop().unwrap();
        assert_page_finished(&visit);
        let ext = extensions(&visit);
        assert!(ext.starts_with("permessage-deflate"), "negotiated {ext:?}:\n{}", visit.show());
        peer.check_out(&COMPRESSED_SIZES).await;
    };

    allowed_origins_admit_the_page_and_refuse_another => |io| async move {
        let allowed = Pages::serve();
        let other = Pages::serve();
        let server = start(
            io,
            &ws_config(&format!(", allowed_origins: [\"{}\"]", allowed.origin())),
        );
        let mut peer = Peer::start(&server, &[]).await;
        let ws = server.ws_url();
        let visits = browse(&[allowed.page(&ws, &[], ""), other.page(&ws, &[], "")]).await;
        assert_page_did_it_all(&visits[0], &[]);
        peer.check(&[]).await;

        let refused = visits[1].result();
        assert!(
            refused["connected"] == false && !refused["error"].is_null(),
            "a page from {} connected:\n{}",
            other.origin(),
            visits[1].show()
        );
        let events = visits[1].json["websocket"].to_string();
        assert!(events.contains("Unexpected response code: 403"), "{}", visits[1].show());
        let line = server.wait_for_log("origin not allowed");
        assert!(line.contains("websocket handshake error"), "{line}");
        // The refused page did load nats.ws: it was the connect that failed.
        assert!(
            other.served().contains(&"/node_modules/nats.ws/esm/nats.js 200 OK".to_string()),
            "{:?}",
            other.served()
        );
    };

    a_jwt_cookie_set_by_the_pages_server_logs_chromium_in => |io| async move {
        use common::jwt::{self, Operator};
        use nkeys::KeyPair;
        use serde_json::json;
        let pages = Pages::serve();
        let a = KeyPair::new_account();
        let op = Operator::new().with(&a, json!({}));
        let config = format!("{}{}", op.config(), ws_config(", jwt_cookie: \"jwt\""));
        let server = start(io, &config);
        let u = KeyPair::new_user();
        let creds = jwt::creds(&jwt::user(&a, &u, json!({})), &u);
        let options = async_nats::ConnectOptions::with_credentials(&creds).unwrap();
        let mut peer = Peer::start_with(&server, &[64], options).await;
        // Bearer tokens (a browser holds no key to sign with): one for a
        // websocket user, one for a user of STANDARD connections only.
        let token = |types: &str| {
            jwt::user(&a, &KeyPair::new_user(), json!({"bearer_token": true, "allowed_connection_types": [types]}))
        };
        let login = |jwt: String| format!("{}/login?jwt={jwt}&ws={}&sizes=64&only=up", pages.origin(), server.ws_url());
        let visits = browse(&[login(token("WEBSOCKET")), login(token("STANDARD"))]).await;
        assert_page_finished(&visits[0]);
        peer.check_out(&[64]).await;
        let refused = visits[1].result();
        assert!(refused["connected"] == false, "{}", visits[1].show());
        assert!(refused["error"].to_string().contains("AUTHORIZATION_VIOLATION"), "{}", visits[1].show());
        server.wait_for_log("Connection type not allowed");
        assert!(pages.served().contains(&"/login 302 Found".to_string()), "{:?}", pages.served());
    };

    nats_ws_in_chromium_over_wss => |io| async move {
        let pages = Pages::serve();
        let server = start(io, &wss_config(""));
        let sizes = [0, 64, 4096];
        round_trip(&server, &pages, &sizes, Scheme::Wss).await;
        // Without the key trusted, Chromium refuses the certificate: it
        // was the SPKI flag, not lax checking, that let the page in.
        let visit = browse(&[pages.page(&wss_url(&server), &[], "")]).await.pop().unwrap();
        let r = visit.result();
        assert!(r["connected"] == false && !r["error"].is_null(), "{}", visit.show());
        let events = visit.json["websocket"].to_string();
        assert!(events.contains("ERR_CERT_AUTHORITY_INVALID"), "{}", visit.show());
        server.wait_for_log("websocket TLS handshake error");
    };

    compression_over_wss_both_ways => |io| async move {
        let pages = Pages::serve();
        let server = start(io, &wss_config(", compression: true"));
        let visit = round_trip(&server, &pages, &COMPRESSED_SIZES, Scheme::Wss).await;
        let ext = extensions(&visit);
        assert!(ext.starts_with("permessage-deflate"), "negotiated {ext:?}:\n{}", visit.show());
    };
}
