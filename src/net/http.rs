//! The monitoring port's listener: one thread, one request per connection,
//! answered by `monitor::answer` and closed. A client has a few seconds in
//! all to send its request (one that trickles it is given up on, so it
//! cannot hold the monitor). A shard that does not answer in time makes
//! the answer a 503, never figures with a shard missing. The figures come from the shards, each asked over
//! its channel and answering on its own thread (`shard::report`); the
//! process's memory and CPU from /proc.

use std::cell::Cell;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::monitor::report::{Ask, ConnReport, ShardReport};
use crate::monitor::{self, Process, Request, RequestStats, Response, Source};
use crate::server::ServerContext;

/// A request head is read within this time, up to `MAX_HEAD` bytes.
const REQUEST_TIME: Duration = Duration::from_secs(2);
const MAX_HEAD: usize = 8 * 1024;
/// How long the shards have to answer.
const PATIENCE: Duration = Duration::from_secs(2);

/// Serves `listener` on a thread of its own until the process ends (over
/// TLS with `tls`).
pub fn serve(
    listener: TcpListener,
    ctx: Arc<ServerContext>,
    tls: Option<Arc<rustls::ServerConfig>>,
) -> std::io::Result<()> {
    std::thread::Builder::new()
        .name("monitor".into())
        .spawn(move || {
            let mut live = Live {
                ctx,
                loaded: std::time::SystemTime::now(),
                cpu: Cell::new(None),
                incomplete: Cell::new(false),
            };
            let mut stats = RequestStats::new();
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                // Each request under the configuration in force.
                if let Some((ctx, loaded)) = live.ctx.rt.current() {
                    (live.ctx, live.loaded) = (ctx, loaded);
                }
                let _ = stream.set_write_timeout(Some(REQUEST_TIME));
                let deadline = Instant::now() + REQUEST_TIME;
                match &tls {
                    None => exchange(stream, deadline, &live, &mut stats),
                    Some(config) => {
                        let Ok(conn) = rustls::ServerConnection::new(config.clone()) else {
                            continue;
                        };
                        let tls = TimedTls(rustls::StreamOwned::new(conn, stream));
                        exchange(tls, deadline, &live, &mut stats);
                    }
                }
            }
        })?;
    Ok(())
}

/// A TLS stream whose socket's read timeout the request's deadline sets.
struct TimedTls(rustls::StreamOwned<rustls::ServerConnection, std::net::TcpStream>);

impl Read for TimedTls {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.0.read(buf)
    }
}

impl Write for TimedTls {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.write(buf)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush()
    }
}

/// A stream whose reads time out, ended once the answer is written.
trait Timed: Read + Write {
    fn read_timeout(&self, left: Duration) -> std::io::Result<()>;
    fn finish(&mut self) {
        let _ = self.flush();
    }
}

impl Timed for std::net::TcpStream {
    fn read_timeout(&self, left: Duration) -> std::io::Result<()> {
        self.set_read_timeout(Some(left))
    }
}

impl Timed for TimedTls {
    fn read_timeout(&self, left: Duration) -> std::io::Result<()> {
        self.0.sock.set_read_timeout(Some(left))
    }

    /// TLS ends with close_notify, so the client knows it has it all.
    fn finish(&mut self) {
        self.0.conn.send_close_notify();
        let _ = self.0.flush();
    }
}

/// One request read by `deadline` (the TLS handshake included), answered.
fn exchange(mut stream: impl Timed, deadline: Instant, live: &Live, stats: &mut RequestStats) {
    let mut head = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < MAX_HEAD {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() || stream.read_timeout(left).is_err() {
            break;
        }
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => break,
            Ok(n) => head.extend_from_slice(&chunk[..n]),
        }
    }
    let bytes = match Request::parse(&head) {
        Some(req) => {
            live.incomplete.set(false);
            let mut response = monitor::answer(&req, live, stats);
            if live.incomplete.get() {
                response = Response {
                    status: 503,
                    content_type: "text/plain; charset=utf-8",
                    body: b"a shard did not answer in time\n".to_vec(),
                };
            }
            response.to_bytes(req.method == "HEAD")
        }
        None if head.is_empty() => return,
        None => {
            b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".to_vec()
        }
    };
    let _ = stream.write_all(&bytes);
    stream.finish();
}

/// The running server, as the endpoints see it.
struct Live {
    ctx: Arc<ServerContext>,
    /// When it was loaded (at the start, or by the last reload).
    loaded: std::time::SystemTime,
    /// The CPU time used and the instant at the last request.
    cpu: Cell<Option<(Duration, Instant)>>,
    /// A shard left a question of this request unanswered.
    incomplete: Cell<bool>,
}

impl Source for Live {
    fn ctx(&self) -> &ServerContext {
        &self.ctx
    }

    fn ask(&self, ask: &Ask) -> Vec<ShardReport> {
        let reports = self.ctx.rt.desk.ask(ask, PATIENCE);
        if reports.len() < self.ctx.shards {
            self.incomplete.set(true);
        }
        reports
    }

    fn closed(&self) -> Vec<Arc<ConnReport>> {
        self.ctx.rt.desk.closed()
    }

    fn loaded(&self) -> std::time::SystemTime {
        self.loaded
    }

    fn process(&self) -> Process {
        let now = Instant::now();
        let used = cpu_time().unwrap_or_default();
        // Since the last request, or since the start for the first one.
        let (before, since) = self.cpu.get().unwrap_or_else(|| {
            let up = self.ctx.rt.started.elapsed().unwrap_or_default();
            (Duration::ZERO, now.checked_sub(up).unwrap_or(now))
        });
        self.cpu.set(Some((used, now)));
        let wall = now.duration_since(since).as_secs_f64();
        let cpu = if wall > 0.0 {
            used.saturating_sub(before).as_secs_f64() / wall * 100.0
        } else {
            0.0
        };
        Process {
            rss: resident_bytes().unwrap_or(0),
            cpu,
        }
    }
}

/// The process's resident memory, from /proc/self/statm.
fn resident_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    // SAFETY: sysconf only reads a system constant.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    Some(pages * page.max(1) as u64)
}

/// User and system CPU time the process has used, from /proc/self/stat.
fn cpu_time() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // The command name may hold spaces: fields are counted after its ')'.
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace();
    let utime: u64 = fields.nth(11)?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    // SAFETY: sysconf only reads a system constant.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    Some(Duration::from_secs_f64((utime + stime) as f64 / ticks))
}
