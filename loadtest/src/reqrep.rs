//! Request/reply latency. Responders (one queue group) echo each request to
//! its reply subject; the requester sends on a fixed schedule (`--rate`),
//! and a reply's latency is taken from the request's *scheduled* send time,
//! so a stall in the server (or in us) counts against every request it
//! delays: no coordinated omission. `--rate 0` runs closed-loop with
//! `--inflight` requests outstanding, latency from the actual send.

use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

use crate::args::ReqrepArgs;
use crate::bail;
use crate::error::{Error, Result};
use crate::flow::{conn_opts, tight_timers, ws_mode};
use crate::net::{self, Conn, Endpoint};
use crate::progress::Progress;
use crate::proto::{self, Op};
use crate::report::{Latency, Report};
use crate::template;

fn responder_group(
    mut conns: Vec<Conn>,
    stop: Arc<AtomicBool>,
    barrier: Arc<Barrier>,
) -> Result<u64> {
    barrier.wait();
    let mut out = Vec::with_capacity(64 * 1024);
    let mut pfds = Vec::new();
    let mut ready = Vec::new();
    let fds: Vec<_> = conns.iter().map(|c| c.fd()).collect();
    let mut replies = 0u64;
    while !stop.load(Relaxed) {
        let buffered: Vec<usize> = (0..conns.len())
            .filter(|&i| conns[i].t.buffered())
            .collect();
        let timeout = if buffered.is_empty() {
            Duration::from_millis(50)
        } else {
            Duration::ZERO
        };
        net::poll_readable(&fds, timeout, &mut pfds, &mut ready)?;
        ready.extend(buffered);
        ready.sort_unstable();
        ready.dedup();
        for &i in &ready {
            if let Err(e) = answer(&mut conns[i], &mut out, &mut replies) {
                if stop.load(Relaxed) {
                    return Ok(replies);
                }
                return Err(e);
            }
        }
    }
    Ok(replies)
}

/// Reads what came to one responder and answers every request in it.
fn answer(c: &mut Conn, out: &mut Vec<u8>, replies: &mut u64) -> Result<()> {
    c.fill()
        .map_err(|e| Error::new(format!("responder: {e}")))?;
    c.process(|op| {
        if let Op::Msg { args, payload } = op {
            if let Some(reply) = proto::msg_reply(args) {
                proto::push_pub_header(out, reply, None, payload.len());
                out.extend_from_slice(payload);
                out.extend_from_slice(b"\r\n");
                *replies += 1;
            }
        }
        Ok(())
    })?;
    if !out.is_empty() {
        c.send(out)
            .map_err(|e| Error::new(format!("responder write: {e}")))?;
        out.clear();
    }
    Ok(())
}

/// The request number at the end of a reply subject `inbox.N`.
fn request_id(args: &[u8]) -> Option<u64> {
    let subject = proto::msg_subject(args);
    let dot = subject.iter().rposition(|&c| c == b'.')?;
    proto::parse_u64(&subject[dot + 1..])
}

pub fn run_reqrep(a: &ReqrepArgs) -> Result<Report> {
    let c = &a.common;
    let ep = Endpoint::parse(&c.url)?;
    let opts = conn_opts(c, &ep)?;
    let subject = format!("{}.req", c.subject);
    let nresp = a.responders.max(1);
    let mut responders = Vec::new();
    for i in 0..nresp {
        let mut conn =
            Conn::connect(&ep, &opts).map_err(|e| e.context(format!("responder {i}")))?;
        conn.send(format!("SUB {subject} responders 1\r\n").as_bytes())?;
        conn.ping_pong()?;
        responders.push(conn);
    }
    let mut req = Conn::connect(&ep, &opts).map_err(|e| e.context("requester"))?;
    let inbox = format!("_INBOX.{:016x}", fastrand::u64(..));
    req.send(format!("SUB {inbox}.* 1\r\n").as_bytes())?;
    req.ping_pong()?;
    let compression = req.deflate;
    if c.compress && !compression {
        bail!("--compress: the server did not agree to permessage-deflate");
    }

    let stop = Arc::new(AtomicBool::new(false));
    // Busy polling: the responders are served by the requester's thread.
    let mut inline = Vec::new();
    if a.busy_poll {
        inline = std::mem::take(&mut responders);
    }
    let threads = if inline.is_empty() {
        crate::flow::threads_default(c, nresp)
    } else {
        0
    };
    let barrier = Arc::new(Barrier::new(threads + 1));
    let mut groups: Vec<Vec<Conn>> = (0..threads).map(|_| Vec::new()).collect();
    for (i, r) in responders.into_iter().enumerate() {
        groups[i % threads].push(r);
    }
    let handles: Vec<_> = groups
        .into_iter()
        .map(|g| {
            let stop = stop.clone();
            let b = barrier.clone();
            std::thread::spawn(move || responder_group(g, stop, b))
        })
        .collect();
    barrier.wait();
    let r = requester(a, &mut req, &mut inline, &inbox, &subject);
    stop.store(true, Relaxed);
    for h in handles {
        match h.join() {
            Ok(Ok(_)) => {}
            Ok(Err(e)) if r.is_ok() => return Err(e),
            _ => {}
        }
    }
    let m = r?;
    req.close();
    let seconds = m.seconds;
    let rate = if seconds > 0.0 {
        m.received as f64 / seconds
    } else {
        0.0
    };
    let mut notes = m.notes;
    if a.rate > 0 {
        notes.push(format!(
            "fixed rate {} req/s; latency from the scheduled send time",
            a.rate
        ));
    } else {
        notes.push(format!(
            "saturation with {} outstanding; latency from the send",
            a.inflight.max(1)
        ));
    }
    Ok(Report {
        scenario: "reqrep".into(),
        transport: ep.transport().into(),
        url: c.url.clone(),
        size: c.size,
        publishers: 1,
        subscribers: nresp,
        sent: m.sent,
        received: m.received,
        expected: m.sent,
        lost: m.lost,
        duplicated: m.duplicated,
        seconds,
        msgs_per_sec: rate,
        bytes_per_sec: rate * c.size as f64,
        latency_us: Some(m.latency),
        server_cpu_us_per_request: m.cpu.map(|(cpu, _)| cpu * 1e6 / m.sent.max(1) as f64),
        server_cpu_percent: m.cpu.map(|(cpu, secs)| 100.0 * cpu / secs.max(1e-9)),
        rss_per_conn_bytes: None,
        connections: nresp + 1,
        published_per_sec: if seconds > 0.0 {
            m.sent as f64 / seconds
        } else {
            0.0
        },
        ws_mode: ws_mode(c, &ep),
        compression,
        warmup_seconds: c.warmup.as_secs_f64(),
        allow_loss: c.allow_loss,
        notes,
        ..Default::default()
    })
}

struct Measured {
    sent: u64,
    received: u64,
    lost: u64,
    duplicated: u64,
    seconds: f64,
    latency: Latency,
    notes: Vec<String>,
    /// With --pid: server CPU seconds over the measured sending, and how
    /// long that lasted.
    cpu: Option<(f64, f64)>,
}

/// A request's time slot once its reply came.
const DONE: u64 = u64::MAX;

fn requester(
    a: &ReqrepArgs,
    conn: &mut Conn,
    responders: &mut [Conn],
    inbox: &str,
    subject: &str,
) -> Result<Measured> {
    tight_timers();
    let c = &a.common;
    let progress = Progress::new(c);
    let mut hist = Histogram::<u64>::new_with_bounds(1, 60_000_000_000, 3).expect("histogram");
    let payload = template::filler(c.size);
    let interval_ns = if a.rate > 0 { 1e9 / a.rate as f64 } else { 0.0 };
    let inflight = a.inflight.max(1);
    let duration = match (c.count, c.duration) {
        (Some(_), _) => None,
        (None, d) => Some(d.unwrap_or(Duration::from_secs(5))),
    };
    let warm_ns = c.warmup.as_nanos() as u64;
    let end_ns = duration.map(|d| warm_ns + d.as_nanos() as u64);
    // Per request: the time (ns from t0) it was due (fixed rate) or sent;
    // DONE once answered.
    let mut times: Vec<u64> = Vec::new();
    let mut first_measured: Option<u64> = None;
    let mut cpu_start: Option<(f64, Instant)> = None;
    let mut cpu: Option<(f64, f64)> = None;
    let mut next = 0u64;
    let mut outstanding = 0usize;
    let mut sending = true;
    let mut received = 0u64;
    let mut duplicated = 0u64;
    let mut last_reply_ns = 0u64;
    let mut out = Vec::with_capacity(64 * 1024);
    let mut pfds = Vec::new();
    let mut ready = Vec::new();
    let fds: Vec<_> = std::iter::once(conn.fd())
        .chain(responders.iter().map(|r| r.fd()))
        .collect();
    let mut answered = 0u64;
    let mut answers = Vec::new();
    let mut buffered: Vec<usize> = Vec::new();
    let t0 = Instant::now();
    let mut drain_since: Option<Instant> = None;
    let mut last_tick = Instant::now();
    loop {
        let now_ns = t0.elapsed().as_nanos() as u64;
        // Send what is due.
        while sending {
            let due = if a.rate > 0 {
                (next as f64 * interval_ns) as u64
            } else {
                now_ns
            };
            if a.rate > 0 && due > now_ns {
                break;
            }
            if a.rate == 0 && outstanding >= inflight {
                break;
            }
            if due >= warm_ns && first_measured.is_none() {
                first_measured = Some(next);
                if let Some(pid) = a.pid {
                    cpu_start = Some((net::cpu_seconds(pid)?, Instant::now()));
                }
            }
            if let Some(f) = first_measured {
                let done = match (c.count, end_ns) {
                    (Some(n), _) => next - f >= n,
                    (None, Some(e)) => due >= e,
                    _ => false,
                };
                if done {
                    sending = false;
                    if let (Some(pid), Some((c0, t))) = (a.pid, cpu_start) {
                        cpu = Some((net::cpu_seconds(pid)? - c0, t.elapsed().as_secs_f64()));
                    }
                    break;
                }
            }
            let mut reply = Vec::with_capacity(inbox.len() + 21);
            reply.extend_from_slice(inbox.as_bytes());
            reply.push(b'.');
            proto::push_u64(&mut reply, next);
            proto::push_pub_header(&mut out, subject.as_bytes(), Some(&reply), c.size);
            let at = out.len();
            out.extend_from_slice(&payload);
            if c.size >= 8 {
                out[at..at + 8].copy_from_slice(&next.to_le_bytes());
            }
            out.extend_from_slice(b"\r\n");
            times.push(due);
            next += 1;
            outstanding += 1;
        }
        if !out.is_empty() {
            conn.send(&out)
                .map_err(|e| Error::new(format!("requester write: {e}")))?;
            out.clear();
        }
        if !sending && outstanding == 0 {
            break;
        }
        if !sending {
            let since = *drain_since.get_or_insert_with(Instant::now);
            if since.elapsed() > c.drain_timeout {
                break;
            }
        }
        if last_tick.elapsed() >= Duration::from_millis(200) {
            last_tick = Instant::now();
            let p = hist.value_at_quantile(0.99) as f64 / 1e3;
            progress.set(format!(
                "requests {next}  replies {received}  p99 {p:.1} µs"
            ));
        }
        // Wait for replies until the next request is due.
        let timeout = if a.busy_poll {
            Duration::ZERO
        } else if sending && a.rate > 0 {
            let due = (next as f64 * interval_ns) as u64;
            Duration::from_nanos(due.saturating_sub(t0.elapsed().as_nanos() as u64))
        } else {
            Duration::from_millis(20)
        };
        // Connections with bytes already read are ready whatever poll says.
        buffered.clear();
        if conn.t.buffered() {
            buffered.push(0);
        }
        buffered.extend(
            (0..responders.len())
                .filter(|&i| responders[i].t.buffered())
                .map(|i| i + 1),
        );
        let timeout = if buffered.is_empty() {
            timeout
        } else {
            Duration::ZERO
        };
        net::poll_readable(&fds, timeout, &mut pfds, &mut ready)?;
        ready.extend_from_slice(&buffered);
        ready.sort_unstable();
        ready.dedup();
        if ready.is_empty() {
            continue;
        }
        for &i in ready.iter().filter(|&&i| i > 0) {
            answer(&mut responders[i - 1], &mut answers, &mut answered)?;
        }
        if ready.first() != Some(&0) {
            continue;
        }
        conn.fill()
            .map_err(|e| Error::new(format!("requester read: {e}")))?;
        let recv_ns = t0.elapsed().as_nanos() as u64;
        let mut got_any = false;
        conn.process(|op| {
            if let Op::Msg { args, .. } = op {
                let Some(k) = request_id(args) else {
                    return Ok(());
                };
                match times.get_mut(k as usize) {
                    Some(t) if *t != DONE => {
                        if first_measured.is_some_and(|f| k >= f) {
                            hist.record(recv_ns.saturating_sub(*t).max(1)).ok();
                            received += 1;
                            last_reply_ns = recv_ns;
                        }
                        *t = DONE;
                        outstanding -= 1;
                        got_any = true;
                    }
                    Some(_) => duplicated += 1,
                    None => {}
                }
            }
            Ok(())
        })?;
        if got_any {
            drain_since = None;
        }
    }
    progress.finish();
    let f = first_measured.unwrap_or(next);
    let sent = next - f;
    let lost = times.iter().filter(|&&t| t != DONE).count() as u64;
    let start_ns = if a.rate > 0 {
        (f as f64 * interval_ns) as u64
    } else {
        warm_ns.min(last_reply_ns)
    };
    let seconds = last_reply_ns.saturating_sub(start_ns) as f64 / 1e9;
    let us = |v: u64| v as f64 / 1e3;
    let latency = if hist.is_empty() {
        Latency::default()
    } else {
        Latency {
            p50: us(hist.value_at_quantile(0.50)),
            p90: us(hist.value_at_quantile(0.90)),
            p99: us(hist.value_at_quantile(0.99)),
            p999: us(hist.value_at_quantile(0.999)),
            max: us(hist.max()),
            mean: hist.mean() / 1e3,
        }
    };
    let mut notes = Vec::new();
    if a.rate > 0 && seconds > 0.0 && (received as f64 / seconds) < a.rate as f64 * 0.95 {
        notes.push(format!(
            "achieved {:.0} req/s of {} asked",
            received as f64 / seconds,
            a.rate
        ));
    }
    Ok(Measured {
        sent,
        received,
        lost,
        duplicated,
        seconds,
        latency,
        notes,
        cpu,
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn request_ids() {
        assert_eq!(super::request_id(b"_INBOX.abc.42 1 16"), Some(42));
        assert_eq!(super::request_id(b"x 1 16"), None);
    }
}
