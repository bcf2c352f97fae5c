//! Idle connections: open N (each CONNECT + PING/PONG), hold them, and read
//! the server's VmRSS before and after for the cost of one connection.

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use crate::args::ConnsArgs;
use crate::error::Result;
use crate::flow::conn_opts;
use crate::net::{self, Conn, ConnOpts, Endpoint};
use crate::progress::Progress;
use crate::report::Report;

/// Connections started together.
const BATCH: usize = 64;

/// Raises RLIMIT_NOFILE's soft limit to the hard limit; returns the limit
/// now in force.
pub fn raise_nofile() -> u64 {
    unsafe {
        let mut r: libc::rlimit = std::mem::zeroed();
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut r) != 0 {
            return 1024;
        }
        if r.rlim_cur < r.rlim_max {
            let want = libc::rlimit {
                rlim_cur: r.rlim_max,
                rlim_max: r.rlim_max,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &want) == 0 {
                return r.rlim_max;
            }
        }
        r.rlim_cur
    }
}

fn is_addr_exhausted(e: &crate::error::Error) -> bool {
    let m = e.0.to_lowercase();
    m.contains("address not available") || m.contains("cannot assign requested address")
}

pub fn run_conns(a: &ConnsArgs) -> Result<Report> {
    let c = &a.common;
    let ep = Endpoint::parse(&c.url)?;
    let mut opts: ConnOpts = conn_opts(c, &ep)?;
    opts.buf = 4096;
    let mut notes = Vec::new();
    let limit = raise_nofile();
    let reserve = 64u64;
    let mut want = a.connections;
    if (want as u64) + reserve > limit {
        let can = limit.saturating_sub(reserve) as usize;
        notes.push(format!(
            "RLIMIT_NOFILE is {limit} (raised as far as allowed): {} connections cannot be opened, trying {can}",
            a.connections
        ));
        want = can;
    } else {
        notes.push(format!("RLIMIT_NOFILE {limit}"));
    }
    let before = a.pid.map(net::rss_bytes).transpose()?;
    let progress = Progress::new(c);
    let mut conns = Vec::with_capacity(want);
    let mut source: Option<Ipv4Addr> = None;
    let start = Instant::now();
    let mut last_tick = Instant::now();
    let mut failure = None;
    // In batches: every connection of a batch is started, then each is
    // taken one step further, so the round trips overlap.
    'outer: while conns.len() < want {
        let batch = BATCH.min(want - conns.len());
        let mut started = Vec::with_capacity(batch);
        while started.len() < batch {
            match Conn::begin(&ep, &opts, source) {
                Ok(conn) => started.push(conn),
                Err(e)
                    if is_addr_exhausted(&e)
                        && ep.socket_addr().is_ok_and(|a| a.ip().is_loopback()) =>
                {
                    // Ports ran out for this source address: the next one.
                    let next = match source {
                        None => Ipv4Addr::new(127, 0, 0, 2),
                        Some(s) if s.octets()[3] < 254 => {
                            Ipv4Addr::new(127, 0, 0, s.octets()[3] + 1)
                        }
                        Some(_) => {
                            failure = Some(e);
                            break;
                        }
                    };
                    if source.is_none() {
                        notes.push(format!(
                            "ports ran out at {} connections: spreading over 127.0.0.x",
                            conns.len() + started.len()
                        ));
                    }
                    source = Some(next);
                }
                Err(e) => {
                    failure = Some(e);
                    break;
                }
            }
        }
        for conn in started.iter_mut() {
            if let Err(e) = conn.advance(&ep, &opts) {
                failure = Some(e);
                break 'outer;
            }
        }
        for mut conn in started {
            if let Err(e) = conn.wait_pong().and_then(|_| conn.ready()) {
                failure = Some(e);
                break 'outer;
            }
            conns.push(conn);
        }
        if failure.is_some() {
            break;
        }
        if last_tick.elapsed() > Duration::from_millis(200) {
            last_tick = Instant::now();
            progress.set(format!("{} connections", conns.len()));
        }
    }
    let open_secs = start.elapsed().as_secs_f64();
    if let Some(e) = &failure {
        notes.push(format!("stopped at {} connections: {e}", conns.len()));
    }
    // Make sure the server has settled every connection, then hold.
    for conn in conns.iter_mut() {
        conn.send(b"PING\r\n")?;
    }
    for conn in conns.iter_mut() {
        conn.wait_pong()?;
    }
    std::thread::sleep(a.hold);
    let after = a.pid.map(net::rss_bytes).transpose()?;
    progress.finish();
    let opened = conns.len();
    for conn in conns {
        conn.close();
    }
    let per_conn = match (before, after) {
        (Some(b), Some(a)) if opened > 0 => Some((a as f64 - b as f64) / opened as f64),
        _ => None,
    };
    Ok(Report {
        scenario: "conns".into(),
        transport: ep.transport().into(),
        url: c.url.clone(),
        size: 0,
        sent: a.connections as u64,
        received: opened as u64,
        expected: a.connections as u64,
        seconds: open_secs,
        msgs_per_sec: if open_secs > 0.0 {
            opened as f64 / open_secs
        } else {
            0.0
        },
        rss_per_conn_bytes: per_conn,
        connections: opened,
        rss_before_bytes: before,
        rss_after_bytes: after,
        allow_loss: c.allow_loss,
        notes,
        ..Default::default()
    })
}
