//! The publish/deliver scenarios (pub, sub, pubsub, fanout, queue) share one
//! engine: subscriber connections read by a few poll-driven threads, one
//! thread per publisher connection, and a coordinator (the caller's thread)
//! that starts the clock, waits for the publishers, then for every delivery,
//! and checks the counts.
//!
//! Flow control: a publisher sends a PING every window and never has more
//! than `max_pings` outstanding, so it cannot run ahead of the server; and it
//! waits while the deliveries owed to the subscribers exceed `max_lag`, so it
//! cannot run ahead of them either (the server would cut them off as slow
//! consumers).

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, Barrier, Mutex, OnceLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::args::Common;
use crate::bail;
use crate::error::{Error, Result};
use crate::net::{self, Conn, ConnOpts, Endpoint};
use crate::progress::Progress;
use crate::proto::Op;
use crate::report::Report;
use crate::seq::{self, Bits, InOrder, Sent, Tally};
use crate::template::{self, Encoding, Template};

/// Bytes of PUBs a publisher writes per system call.
const TEMPLATE_BYTES: usize = 256 * 1024;
/// Read buffer per subscriber connection (less when there are many).
fn sub_buf(subscribers: usize) -> usize {
    ((64 << 20) / subscribers.max(1)).clamp(64 * 1024, 1 << 20)
}

/// What to run.
pub struct FlowSpec {
    pub scenario: &'static str,
    /// One subject per publisher connection.
    pub pub_subjects: Vec<String>,
    /// Per subscriber connection: its subscriptions (subject, queue group).
    pub subs: Vec<Vec<(String, Option<String>)>>,
    /// Deliveries each published message should make.
    pub fanout: u64,
    /// Queue group: each member sees a part; checked by merging bitmaps.
    pub queue: bool,
}

/// Shared between the threads of a run.
pub(crate) struct Shared {
    pub stop: AtomicBool,
    pub published: AtomicU64,
    pub delivered: AtomicU64,
    sub_unique: Vec<AtomicU64>,
    sub_target: Vec<AtomicU64>,
    pubs_done: AtomicUsize,
    t0: OnceLock<Instant>,
    error: Mutex<Option<Error>>,
}

impl Shared {
    fn new(subs: usize) -> Arc<Shared> {
        Arc::new(Shared {
            stop: AtomicBool::new(false),
            published: AtomicU64::new(0),
            delivered: AtomicU64::new(0),
            sub_unique: (0..subs).map(|_| AtomicU64::new(0)).collect(),
            sub_target: (0..subs).map(|_| AtomicU64::new(u64::MAX)).collect(),
            pubs_done: AtomicUsize::new(0),
            t0: OnceLock::new(),
            error: Mutex::new(None),
        })
    }

    fn fail(&self, e: Error) {
        let mut g = self.error.lock().unwrap();
        if g.is_none() {
            *g = Some(e);
        }
        self.stop.store(true, Relaxed);
    }
}

/// The connection options of a run.
pub(crate) fn conn_opts(c: &Common, ep: &Endpoint) -> Result<ConnOpts> {
    let tls =
        if matches!(ep.scheme, net::Scheme::Tls | net::Scheme::Wss) || c.ca.is_some() || c.insecure
        {
            Some(net::tls_config(c.insecure, c.ca.as_deref())?)
        } else {
            None
        };
    if c.compress && !ep.is_ws() {
        bail!("--compress is for ws:// and wss:// (permessage-deflate)");
    }
    Ok(ConnOpts {
        tls,
        compress: c.compress,
        user: c.user.clone(),
        pass: c.pass.clone(),
        token: c.token.clone(),
        ..Default::default()
    })
}

/// Sets the timer slack of this thread to 1 ns, so short sleeps are short.
pub(crate) fn tight_timers() {
    unsafe {
        libc::prctl(libc::PR_SET_TIMERSLACK, 1 as libc::c_ulong, 0, 0, 0);
    }
}

pub(crate) fn threads_default(c: &Common, conns: usize) -> usize {
    let cpus = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    c.threads.unwrap_or(cpus).clamp(1, conns.max(1))
}

/// What each subscriber connection tracks.
pub enum Tracker {
    InOrder(InOrder),
    Bits(Bits),
    /// Payloads under 8 bytes carry no sequence number: count only.
    Count(u64),
}

impl Tracker {
    #[inline]
    fn record(&mut self, payload: &[u8]) {
        if payload.len() >= 8 {
            let s = u64::from_le_bytes(payload[..8].try_into().unwrap());
            match self {
                Tracker::InOrder(t) => t.record(s),
                Tracker::Bits(b) => b.record(s),
                Tracker::Count(n) => *n += 1,
            }
        } else {
            match self {
                Tracker::Count(n) => *n += 1,
                // A short payload where sequence numbers were expected:
                // a foreign message. Give it an id no publisher has.
                Tracker::InOrder(t) => t.record(seq::make_seq(u16::MAX, 0)),
                Tracker::Bits(b) => b.record(seq::make_seq(u16::MAX, 0)),
            }
        }
    }

    fn unique(&self) -> u64 {
        match self {
            Tracker::InOrder(t) => t.unique,
            Tracker::Bits(b) => b.unique,
            Tracker::Count(n) => *n,
        }
    }
}

struct SubConn {
    idx: usize,
    conn: Conn,
    tracker: Tracker,
    /// Deliveries, duplicates included.
    msgs: u64,
    last: Option<Instant>,
    done: bool,
}

/// One thread reading several subscriber connections.
fn sub_group(
    mut subs: Vec<SubConn>,
    sh: Arc<Shared>,
    barrier: Arc<Barrier>,
) -> Result<Vec<SubConn>> {
    barrier.wait();
    let mut pfds = Vec::new();
    let mut ready = Vec::new();
    let mut fds = Vec::new();
    let mut map = Vec::new();
    loop {
        if sh.stop.load(Relaxed) {
            break;
        }
        fds.clear();
        map.clear();
        let mut buffered = Vec::new();
        for (i, s) in subs.iter_mut().enumerate() {
            if !s.done {
                if s.conn.t.buffered() {
                    buffered.push(map.len());
                }
                fds.push(s.conn.fd());
                map.push(i);
            }
        }
        if fds.is_empty() {
            break;
        }
        let timeout = if buffered.is_empty() {
            Duration::from_millis(50)
        } else {
            Duration::ZERO
        };
        net::poll_readable(&fds, timeout, &mut pfds, &mut ready)?;
        for b in buffered {
            if !ready.contains(&b) {
                ready.push(b);
            }
        }
        for &r in &ready {
            let s = &mut subs[map[r]];
            if let Err(e) = s.conn.fill() {
                if sh.stop.load(Relaxed) {
                    s.done = true;
                    continue;
                }
                return Err(Error::new(format!("subscriber {}: {e}", s.idx)));
            }
            let before = s.tracker.unique();
            let tracker = &mut s.tracker;
            let mut msgs = 0u64;
            s.conn
                .process(|op| {
                    match op {
                        Op::Msg { payload, .. } | Op::HMsg { payload, .. } => {
                            msgs += 1;
                            tracker.record(payload);
                        }
                        _ => {}
                    }
                    Ok(())
                })
                .map_err(|e| e.context(format!("subscriber {}", s.idx)))?;
            s.msgs += msgs;
            let after = s.tracker.unique();
            if after > before {
                s.last = Some(Instant::now());
                sh.delivered.fetch_add(after - before, Relaxed);
                sh.sub_unique[s.idx].store(after, Relaxed);
            }
            if after >= sh.sub_target[s.idx].load(Relaxed) {
                s.done = true;
            }
        }
    }
    Ok(subs)
}

struct PubPlan {
    id: u16,
    subject: String,
    size: usize,
    /// Messages to send after the warm-up (None: for `duration`).
    count: Option<u64>,
    warmup: Duration,
    duration: Option<Duration>,
    window: usize,
    max_pings: usize,
    max_lag: u64,
    fanout: u64,
    drain_timeout: Duration,
    one_per_frame: bool,
}

struct PubOut {
    sent: Sent,
    /// When the final PONG came: the server had taken every PUB.
    end: Instant,
    /// Gave up waiting for subscribers that stopped receiving.
    stalled: bool,
}

fn read_pongs(conn: &mut Conn, outstanding: &mut usize) -> Result<()> {
    conn.fill()
        .map_err(|e| Error::new(format!("publisher read: {e}")))?;
    conn.process(|op| {
        if op == Op::Pong {
            *outstanding = outstanding.saturating_sub(1);
        }
        Ok(())
    })
}

/// Waits while the publishers are more than `max_lag` deliveries ahead of
/// the subscribers. False when the subscribers stopped receiving.
fn wait_lag(sh: &Shared, plan: &PubPlan) -> bool {
    let mut spins = 0u32;
    let mut seen = sh.delivered.load(Relaxed);
    let mut since = Instant::now();
    loop {
        let owed = sh.published.load(Relaxed).saturating_mul(plan.fanout);
        let delivered = sh.delivered.load(Relaxed);
        if owed <= delivered.saturating_add(plan.max_lag) || sh.stop.load(Relaxed) {
            return true;
        }
        if delivered != seen {
            seen = delivered;
            since = Instant::now();
        } else if since.elapsed() > plan.drain_timeout {
            return false;
        }
        spins += 1;
        if spins < 8 {
            std::thread::yield_now();
        } else {
            std::thread::sleep(Duration::from_micros(50));
        }
    }
}

fn publisher(
    mut conn: Conn,
    plan: PubPlan,
    sh: Arc<Shared>,
    barrier: Arc<Barrier>,
) -> Result<PubOut> {
    tight_timers();
    let ws = conn.is_ws();
    let frames_deflated = ws && plan.one_per_frame && conn.deflate;
    let encoding = if ws && plan.one_per_frame && !conn.deflate {
        Encoding::WsFrames
    } else {
        Encoding::Nats
    };
    let unit = template::pub_frame(plan.subject.as_bytes(), None, plan.size)
        .0
        .len();
    let per = plan.window.min((TEMPLATE_BYTES / unit).max(1));
    let mut tpl = Template::new(plan.subject.as_bytes(), plan.size, per, encoding);
    barrier.wait();
    let t0 = *sh.t0.get().expect("t0");
    let warm_end = t0 + plan.warmup;
    let end = plan.duration.map(|d| warm_end + d);
    let mut boundary = plan.warmup.is_zero().then_some(0u64);
    let mut n = 0u64;
    let mut outstanding = 0usize;
    let mut since_ping = 0usize;
    let mut stalled = false;
    let base = seq::make_seq(plan.id, 0);
    loop {
        if sh.stop.load(Relaxed) {
            break;
        }
        let now = Instant::now();
        if boundary.is_none() && now >= warm_end {
            boundary = Some(n);
        }
        let count = match (boundary, plan.count) {
            (Some(b), Some(c)) => {
                let left = b + c - n;
                if left == 0 {
                    break;
                }
                left.min(per as u64) as usize
            }
            (Some(_), None) if end.is_some_and(|e| now >= e) => break,
            _ => per,
        };
        if plan.max_lag > 0 && plan.fanout > 0 && !wait_lag(&sh, &plan) {
            stalled = true;
            break;
        }
        since_ping += count;
        let ping = since_ping >= plan.window;
        if ping {
            since_ping = 0;
        }
        let first = base + n;
        let r = if frames_deflated {
            tpl.batch(first, count, false);
            for i in 0..count {
                conn.push_frame(tpl.unit_at(i));
            }
            if ping {
                conn.push_frame(b"PING\r\n");
            }
            conn.flush_frames()
        } else {
            let (bytes, with_ping) = tpl.batch(first, count, ping);
            let r = if ws && encoding == Encoding::Nats {
                conn.send(bytes)
            } else {
                conn.send_raw(bytes)
            };
            match (r, ping && !with_ping) {
                (Ok(()), true) => match encoding {
                    Encoding::WsFrames => conn.send_raw(tpl.ping()),
                    Encoding::Nats => conn.send(b"PING\r\n"),
                },
                (r, _) => r,
            }
        };
        r.map_err(|e| Error::new(format!("publisher {} write: {e}", plan.id)))?;
        n += count as u64;
        sh.published.fetch_add(count as u64, Relaxed);
        if ping {
            outstanding += 1;
        }
        while outstanding >= plan.max_pings {
            read_pongs(&mut conn, &mut outstanding)?;
        }
    }
    // Every PUB taken by the server: one last PING, all PONGs back.
    conn.send(b"PING\r\n")
        .map_err(|e| Error::new(format!("publisher write: {e}")))?;
    outstanding += 1;
    while outstanding > 0 {
        read_pongs(&mut conn, &mut outstanding)?;
    }
    let end = Instant::now();
    conn.close();
    Ok(PubOut {
        sent: Sent {
            boundary: boundary.unwrap_or(n),
            sent: n,
        },
        end,
        stalled,
    })
}

fn join<T>(h: JoinHandle<Result<T>>) -> Result<T> {
    h.join().unwrap_or_else(|p| {
        let msg = p
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_default();
        Err(Error::new(format!("thread panicked: {msg}")))
    })
}

/// Runs a publish/deliver scenario.
pub fn run_flow(c: &Common, spec: FlowSpec) -> Result<Report> {
    let ep = Endpoint::parse(&c.url)?;
    let opts = conn_opts(c, &ep)?;
    let publishers = spec.pub_subjects.len();
    if publishers == 0 {
        bail!("no publishers");
    }
    if publishers > seq::MAX_PUBLISHERS - 1 {
        bail!("at most {} publishers", seq::MAX_PUBLISHERS - 1);
    }
    let nsubs = spec.subs.len();
    let duration = match (c.count, c.duration) {
        (Some(_), _) => None,
        (None, d) => Some(d.unwrap_or(Duration::from_secs(5))),
    };

    // Subscribers first, each confirmed by a PONG.
    let mut subs = Vec::with_capacity(nsubs);
    for (i, list) in spec.subs.iter().enumerate() {
        let mut conn =
            Conn::connect(&ep, &opts).map_err(|e| e.context(format!("subscriber {i}")))?;
        check_size(&conn, c.size)?;
        let mut cmd = Vec::new();
        for (j, (subject, queue)) in list.iter().enumerate() {
            match queue {
                Some(q) => {
                    cmd.extend_from_slice(format!("SUB {subject} {q} {}\r\n", j + 1).as_bytes())
                }
                None => cmd.extend_from_slice(format!("SUB {subject} {}\r\n", j + 1).as_bytes()),
            }
        }
        conn.send(&cmd)?;
        conn.ping_pong()
            .map_err(|e| e.context(format!("subscriber {i}")))?;
        conn.rbuf.spare(sub_buf(nsubs));
        let tracker = if c.size < 8 {
            Tracker::Count(0)
        } else if spec.queue {
            Tracker::Bits(Bits::new(publishers))
        } else {
            Tracker::InOrder(InOrder::new(publishers))
        };
        subs.push(SubConn {
            idx: i,
            conn,
            tracker,
            msgs: 0,
            last: None,
            done: false,
        });
    }
    let mut pub_conns = Vec::with_capacity(publishers);
    for i in 0..publishers {
        let mut conn =
            Conn::connect(&ep, &opts).map_err(|e| e.context(format!("publisher {i}")))?;
        check_size(&conn, c.size)?;
        conn.ping_pong()?;
        pub_conns.push(conn);
    }
    let compression = pub_conns.first().is_some_and(|p| p.deflate);
    if c.compress && !compression {
        bail!("--compress: the server did not agree to permessage-deflate (websocket {{ compression: true }}?)");
    }

    let unit = template::pub_frame(b"bench.0", None, c.size).0.len();
    let window = c
        .window
        .unwrap_or((TEMPLATE_BYTES / unit).clamp(1, 10_000))
        .max(1);
    let max_lag = c
        .max_lag
        .unwrap_or(16 * window as u64 * spec.fanout.max(1) * publishers as u64);
    let sh = Shared::new(nsubs);
    let threads = if nsubs == 0 {
        0
    } else {
        threads_default(c, nsubs)
    };
    let barrier = Arc::new(Barrier::new(threads + publishers + 1));

    let mut groups: Vec<Vec<SubConn>> = (0..threads).map(|_| Vec::new()).collect();
    for (i, s) in subs.into_iter().enumerate() {
        groups[i % threads].push(s);
    }
    let group_handles: Vec<_> = groups
        .into_iter()
        .enumerate()
        .map(|(g, list)| {
            let sh = sh.clone();
            let b = barrier.clone();
            std::thread::Builder::new()
                .name(format!("sub-group-{g}"))
                .spawn(move || {
                    let r = sub_group(list, sh.clone(), b);
                    if let Err(e) = &r {
                        sh.fail(e.clone());
                    }
                    r
                })
                .expect("spawn")
        })
        .collect();
    let total = c.count.unwrap_or(0);
    let pub_handles: Vec<_> = pub_conns
        .into_iter()
        .enumerate()
        .map(|(i, conn)| {
            let plan = PubPlan {
                id: i as u16,
                subject: spec.pub_subjects[i].clone(),
                size: c.size,
                count: c.count.map(|_| {
                    total / publishers as u64 + u64::from((i as u64) < total % publishers as u64)
                }),
                warmup: c.warmup,
                duration,
                window,
                max_pings: c.max_pings.max(1),
                max_lag,
                fanout: spec.fanout,
                drain_timeout: c.drain_timeout,
                one_per_frame: c.ws_one_per_frame,
            };
            let sh = sh.clone();
            let b = barrier.clone();
            std::thread::Builder::new()
                .name(format!("pub-{i}"))
                .spawn(move || {
                    let r = publisher(conn, plan, sh.clone(), b);
                    sh.pubs_done.fetch_add(1, Relaxed);
                    if let Err(e) = &r {
                        sh.fail(e.clone());
                    }
                    r
                })
                .expect("spawn")
        })
        .collect();

    let progress = Progress::new(c);
    let t0 = Instant::now();
    sh.t0.set(t0).expect("t0 once");
    barrier.wait();
    let measure_start = t0 + c.warmup;

    // Wait for the publishers.
    let mut last_tick = Instant::now();
    let mut last_delivered = 0;
    while sh.pubs_done.load(Relaxed) < publishers {
        std::thread::sleep(Duration::from_millis(20));
        if last_tick.elapsed() >= Duration::from_millis(200) {
            let d = sh.delivered.load(Relaxed);
            let rate = (d - last_delivered) as f64 / last_tick.elapsed().as_secs_f64();
            let phase = if Instant::now() < measure_start {
                "warm-up "
            } else {
                ""
            };
            progress.set(format!(
                "{phase}published {}  delivered {}  {:.2} M deliveries/s",
                crate::report::group(sh.published.load(Relaxed)),
                crate::report::group(d),
                rate / 1e6
            ));
            last_delivered = d;
            last_tick = Instant::now();
        }
    }
    let mut outs = Vec::new();
    let mut first_err = None;
    for h in pub_handles {
        match join(h) {
            Ok(o) => outs.push(o),
            Err(e) => {
                first_err.get_or_insert(e);
            }
        }
    }
    if let Some(e) = first_err {
        sh.stop.store(true, Relaxed);
        for h in group_handles {
            let _ = join(h);
        }
        progress.finish();
        return Err(sh.error.lock().unwrap().clone().unwrap_or(e));
    }
    let sent: Vec<Sent> = outs.iter().map(|o| o.sent).collect();
    let sent_all: u64 = sent.iter().map(|s| s.sent).sum();
    let sent_measured: u64 = sent.iter().map(|s| s.sent - s.boundary).sum();
    let pub_end = outs
        .iter()
        .map(|o| o.end)
        .max()
        .unwrap_or_else(Instant::now);
    let stalled = outs.iter().any(|o| o.stalled);

    // Wait for every delivery (or for the drain timeout).
    let expected_all = if spec.queue {
        sent_all
    } else {
        sent_all * nsubs as u64
    };
    if !spec.queue {
        for t in &sh.sub_target {
            t.store(sent_all, Relaxed);
        }
    }
    let mut seen = u64::MAX;
    let mut since = Instant::now();
    while nsubs > 0 && !sh.stop.load(Relaxed) {
        let got: u64 = sh.sub_unique.iter().map(|u| u.load(Relaxed)).sum();
        if got >= expected_all || group_handles.iter().all(|h| h.is_finished()) {
            break;
        }
        if got != seen {
            seen = got;
            since = Instant::now();
        } else if since.elapsed() > c.drain_timeout {
            break;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    sh.stop.store(true, Relaxed);
    let mut subs = Vec::new();
    for h in group_handles {
        subs.extend(join(h)?);
    }
    progress.finish();
    if let Some(e) = sh.error.lock().unwrap().clone() {
        return Err(e);
    }
    subs.sort_by_key(|s| s.idx);

    // Check the counts.
    let mut tally = Tally::default();
    let mut per_member = None;
    let fanout = if spec.queue { 1 } else { nsubs as u64 };
    if spec.queue && c.size >= 8 {
        let bits: Vec<&Bits> = subs
            .iter()
            .map(|s| match &s.tracker {
                Tracker::Bits(b) => b,
                _ => unreachable!(),
            })
            .collect();
        tally = Bits::merge(&bits, &sent);
        per_member = Some(bits.iter().map(|b| b.measured(&sent)).collect());
    } else if c.size >= 8 {
        for s in &subs {
            if let Tracker::InOrder(t) = &s.tracker {
                tally += t.tally(&sent);
            }
        }
    } else {
        // No sequence numbers: the totals are all there is.
        let got: u64 = subs.iter().map(|s| s.msgs).sum();
        let warm = (sent_all - sent_measured) * fanout;
        tally.received = got.saturating_sub(warm).min(sent_measured * fanout);
        tally.lost = expected_all.saturating_sub(got);
        tally.duplicated = got.saturating_sub(expected_all);
        if spec.queue {
            per_member = Some(subs.iter().map(|s| s.msgs).collect());
        }
    }
    let end = if nsubs == 0 {
        pub_end
    } else {
        subs.iter().filter_map(|s| s.last).max().unwrap_or(pub_end)
    };
    let seconds = end.saturating_duration_since(measure_start).as_secs_f64();
    let received = if nsubs == 0 {
        sent_measured
    } else {
        tally.received
    };
    let pub_seconds = pub_end
        .saturating_duration_since(measure_start)
        .as_secs_f64();
    let mut notes = Vec::new();
    if stalled {
        notes.push(format!(
            "publishers stopped: no delivery for {:?} while they were {} deliveries ahead",
            c.drain_timeout, max_lag
        ));
    }
    if c.size < 8 {
        notes.push("payloads under 8 bytes carry no sequence numbers: totals only".into());
    }
    let rate = |n: u64, s: f64| if s > 0.0 { n as f64 / s } else { 0.0 };
    Ok(Report {
        scenario: spec.scenario.into(),
        transport: ep.transport().into(),
        url: c.url.clone(),
        size: c.size,
        publishers,
        subscribers: nsubs,
        sent: sent_measured,
        received,
        expected: if nsubs == 0 {
            sent_measured
        } else {
            sent_measured * fanout
        },
        lost: tally.lost,
        duplicated: tally.duplicated,
        seconds,
        msgs_per_sec: rate(received, seconds),
        bytes_per_sec: rate(received, seconds) * c.size as f64,
        latency_us: None,
        rss_per_conn_bytes: None,
        connections: publishers + nsubs,
        reordered: tally.reordered,
        unexpected: tally.unexpected,
        published_per_sec: rate(sent_measured, pub_seconds),
        ws_mode: ws_mode(c, &ep),
        compression,
        warmup_seconds: c.warmup.as_secs_f64(),
        per_member,
        allow_loss: c.allow_loss,
        notes,
        ..Default::default()
    })
}

pub(crate) fn ws_mode(c: &Common, ep: &Endpoint) -> Option<String> {
    ep.is_ws().then(|| {
        if c.ws_one_per_frame {
            "one-per-frame"
        } else {
            "batch"
        }
        .to_string()
    })
}

fn check_size(conn: &Conn, size: usize) -> Result<()> {
    if let Some(m) = conn.info.get("max_payload").and_then(|v| v.as_u64()) {
        if size as u64 > m {
            bail!("--size {size} is over the server's max_payload {m}");
        }
    }
    Ok(())
}
