//! The null server: the cheapest thing that still behaves like a NATS server
//! to the generator, for measuring the generator's own ceiling. One thread,
//! epoll, non-blocking sockets. It answers CONNECT with nothing and PING with
//! PONG, keeps SUBs (subjects with `*` and `>`, queue groups round-robin),
//! and for every PUB writes one canned MSG line plus the PUB's payload to
//! each matching subscriber: so the generator's counts stay exact and its
//! work per message is what it is against a real server. A subscriber that
//! falls 8 MiB behind is waited for (backpressure), never dropped.
//! With `ws`, the same over WebSocket (no TLS, no compression).

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Instant;

use crate::args::NullServerArgs;
use crate::buf::ByteBuf;
use crate::error::{Error, Result};
use crate::proto::{push_u64, split_args};
use crate::report::Report;
use crate::ws::{self, WsReader};

const HIGH_WATER: usize = 8 << 20;
const LOW_WATER: usize = 1 << 20;
const READ_CHUNK: usize = 256 * 1024;

struct Sub {
    sid: Vec<u8>,
    subject: Vec<Vec<u8>>,
    queue: Option<Vec<u8>>,
}

struct NConn {
    s: TcpStream,
    ws: Option<WsReader>,
    /// WebSocket upgrade request bytes, until the head is complete.
    hs: Option<Vec<u8>>,
    inb: ByteBuf,
    /// Bytes for the wire, from `out_pos`.
    out: Vec<u8>,
    out_pos: usize,
    /// WebSocket: NATS bytes to frame at the next flush.
    pending: Vec<u8>,
    want_out: bool,
    dirty: bool,
    dead: bool,
    subs: Vec<Sub>,
}

impl NConn {
    #[inline]
    fn sink(&mut self) -> &mut Vec<u8> {
        if self.ws.is_some() {
            &mut self.pending
        } else {
            &mut self.out
        }
    }

    fn queued(&self) -> usize {
        self.out.len() - self.out_pos + self.pending.len()
    }
}

/// One subscription a subject's messages go to, with its MSG line ready.
struct Target {
    conn: usize,
    /// `MSG subject sid `.
    prefix: Vec<u8>,
    /// `prefix` + size + CRLF for `size`.
    line: Vec<u8>,
    size: usize,
}

impl Target {
    fn new(conn: usize, subject: &[u8], sid: &[u8]) -> Target {
        let mut prefix = b"MSG ".to_vec();
        prefix.extend_from_slice(subject);
        prefix.push(b' ');
        prefix.extend_from_slice(sid);
        prefix.push(b' ');
        Target {
            conn,
            prefix,
            line: Vec::new(),
            size: usize::MAX,
        }
    }

    /// The MSG line for a message without reply subject or headers.
    #[inline]
    fn line(&mut self, size: usize) -> &[u8] {
        if self.size != size {
            self.line.clear();
            self.line.extend_from_slice(&self.prefix);
            push_u64(&mut self.line, size as u64);
            self.line.extend_from_slice(b"\r\n");
            self.size = size;
        }
        &self.line
    }
}

/// Where a subject's messages go: plain subscribers and queue groups.
struct Route {
    plain: Vec<Target>,
    groups: Vec<Vec<Target>>,
    rr: Vec<usize>,
}

fn matches(pattern: &[Vec<u8>], subject: &[u8]) -> bool {
    let mut toks = subject.split(|&c| c == b'.');
    for (i, p) in pattern.iter().enumerate() {
        if p.as_slice() == b">" {
            return toks.next().is_some() && i == pattern.len() - 1;
        }
        match toks.next() {
            Some(t) if p.as_slice() == b"*" || p.as_slice() == t => {}
            _ => return false,
        }
    }
    toks.next().is_none()
}

/// What the null server did.
#[derive(Debug, Default, Clone, Copy)]
pub struct NullStats {
    pub connections: u64,
    pub pubs: u64,
    pub msgs: u64,
}

struct Server {
    ep: i32,
    listener: TcpListener,
    ws: bool,
    conns: Vec<Option<NConn>>,
    free: Vec<usize>,
    routes: Vec<Route>,
    route_index: HashMap<Vec<u8>, usize>,
    /// The last subject published to and its route.
    last: Option<(Vec<u8>, usize)>,
    info: Vec<u8>,
    scratch: Vec<u8>,
    dirty: Vec<usize>,
    stats: NullStats,
}

fn epoll_ctl(ep: i32, op: i32, fd: i32, events: u32, data: u64) -> io::Result<()> {
    let mut ev = libc::epoll_event { events, u64: data };
    if unsafe { libc::epoll_ctl(ep, op, fd, &mut ev) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

impl Server {
    fn accept(&mut self) -> io::Result<()> {
        loop {
            let s = match self.listener.accept() {
                Ok((s, _)) => s,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    // EMFILE and friends: keep serving the others.
                    eprintln!("null-server: accept: {e}");
                    return Ok(());
                }
            };
            s.set_nonblocking(true)?;
            s.set_nodelay(true)?;
            let fd = s.as_raw_fd();
            let mut c = NConn {
                s,
                ws: None,
                hs: None,
                inb: ByteBuf::with_capacity(4096),
                out: Vec::new(),
                out_pos: 0,
                pending: Vec::new(),
                want_out: false,
                dirty: false,
                dead: false,
                subs: Vec::new(),
            };
            if self.ws {
                c.hs = Some(Vec::new());
            } else {
                c.out.extend_from_slice(&self.info);
            }
            let idx = match self.free.pop() {
                Some(i) => {
                    self.conns[i] = Some(c);
                    i
                }
                None => {
                    self.conns.push(Some(c));
                    self.conns.len() - 1
                }
            };
            epoll_ctl(
                self.ep,
                libc::EPOLL_CTL_ADD,
                fd,
                libc::EPOLLIN as u32,
                idx as u64 + 1,
            )?;
            self.stats.connections += 1;
            self.mark_dirty(idx);
        }
    }

    fn mark_dirty(&mut self, i: usize) {
        if let Some(c) = self.conns[i].as_mut() {
            if !c.dirty {
                c.dirty = true;
                self.dirty.push(i);
            }
        }
    }

    fn close(&mut self, i: usize) {
        if let Some(c) = self.conns[i].take() {
            let _ = epoll_ctl(self.ep, libc::EPOLL_CTL_DEL, c.s.as_raw_fd(), 0, 0);
            if !c.subs.is_empty() {
                self.clear_routes();
            }
            self.free.push(i);
        }
    }

    /// Reads what `i` sent and acts on it.
    fn readable(&mut self, i: usize) {
        let mut budget = 4;
        loop {
            let Some(c) = self.conns[i].as_mut() else {
                return;
            };
            let r = if c.ws.is_some() || c.hs.is_some() {
                c.s.read(&mut self.scratch)
            } else {
                let spare = c.inb.spare(READ_CHUNK);
                c.s.read(spare)
            };
            let n = match r {
                Ok(0) => {
                    self.close(i);
                    return;
                }
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => {
                    self.close(i);
                    return;
                }
            };
            if let Err(e) = self.take_bytes(i, n) {
                eprintln!("null-server: connection {i}: {e}");
                self.close(i);
                return;
            }
            budget -= 1;
            if budget == 0 {
                break;
            }
        }
        self.process(i);
    }

    /// Moves `n` fresh bytes (in the read buffer or `scratch`) into the
    /// connection's NATS input.
    fn take_bytes(&mut self, i: usize, n: usize) -> Result<()> {
        let c = self.conns[i].as_mut().unwrap();
        if let Some(hs) = &mut c.hs {
            hs.extend_from_slice(&self.scratch[..n]);
            let Some((head, used)) = ws::parse_http_head(hs)? else {
                return Ok(());
            };
            let rest = hs[used..].to_vec();
            c.out.extend_from_slice(&ws::server_response(&head)?);
            c.hs = None;
            c.ws = Some(WsReader::new(true, false));
            c.pending.extend_from_slice(&self.info);
            let mut ctrl = Vec::new();
            c.ws.as_mut()
                .unwrap()
                .decode(&rest, &mut c.inb, &mut ctrl)?;
            self.mark_dirty(i);
            return Ok(());
        }
        match &mut c.ws {
            Some(r) => {
                let mut ctrl = Vec::new();
                r.decode(&self.scratch[..n], &mut c.inb, &mut ctrl)?;
                for cf in ctrl {
                    match cf.opcode {
                        ws::OP_PING => {
                            ws::encode_header(
                                &mut c.out,
                                true,
                                false,
                                ws::OP_PONG,
                                None,
                                cf.payload.len(),
                            );
                            c.out.extend_from_slice(&cf.payload);
                        }
                        ws::OP_CLOSE => {
                            ws::encode_header(
                                &mut c.out,
                                true,
                                false,
                                ws::OP_CLOSE,
                                None,
                                cf.payload.len().min(2),
                            );
                            c.out
                                .extend_from_slice(&cf.payload[..cf.payload.len().min(2)]);
                            c.dead = true;
                        }
                        _ => {}
                    }
                }
                if c.dead {
                    self.mark_dirty(i);
                }
            }
            None => c.inb.commit(n),
        }
        Ok(())
    }

    fn clear_routes(&mut self) {
        self.routes.clear();
        self.route_index.clear();
        self.last = None;
    }

    /// The route for `subject` (built on first use, cached until the next
    /// SUB, UNSUB or close).
    #[inline]
    fn route(&mut self, subject: &[u8]) -> usize {
        if let Some((s, r)) = &self.last {
            if s.as_slice() == subject {
                return *r;
            }
        }
        let r = match self.route_index.get(subject) {
            Some(&r) => r,
            None => self.build_route(subject),
        };
        self.last = Some((subject.to_vec(), r));
        r
    }

    #[cold]
    fn build_route(&mut self, subject: &[u8]) -> usize {
        let mut plain = Vec::new();
        let mut groups: Vec<(Vec<u8>, Vec<Target>)> = Vec::new();
        for (ci, c) in self.conns.iter().enumerate() {
            let Some(c) = c else { continue };
            for s in &c.subs {
                if !matches(&s.subject, subject) {
                    continue;
                }
                let t = Target::new(ci, subject, &s.sid);
                match &s.queue {
                    None => plain.push(t),
                    Some(q) => match groups.iter_mut().find(|(name, _)| name == q) {
                        Some((_, m)) => m.push(t),
                        None => groups.push((q.clone(), vec![t])),
                    },
                }
            }
        }
        let groups: Vec<_> = groups.into_iter().map(|(_, m)| m).collect();
        let rr = vec![0; groups.len()];
        self.routes.push(Route { plain, groups, rr });
        self.route_index
            .insert(subject.to_vec(), self.routes.len() - 1);
        self.routes.len() - 1
    }

    /// Parses the NATS input of `i`.
    fn process(&mut self, i: usize) {
        let Some(c) = self.conns[i].as_mut() else {
            return;
        };
        let mut inb = std::mem::replace(&mut c.inb, ByteBuf::with_capacity(16));
        let mut pos = 0;
        let buf = inb.filled();
        let mut bad = false;
        while pos < buf.len() {
            let rest = &buf[pos..];
            let Some(nl) = memchr::memchr(b'\n', rest) else {
                bad = rest.len() > 64 * 1024;
                break;
            };
            let line = if nl > 0 && rest[nl - 1] == b'\r' {
                &rest[..nl - 1]
            } else {
                &rest[..nl]
            };
            let body = nl + 1;
            let (verb, args) = if line.len() > 4 && &line[..4] == b"PUB " {
                (&line[..3], &line[4..])
            } else {
                let verb_end = line
                    .iter()
                    .position(|&b| b == b' ' || b == b'\t')
                    .unwrap_or(line.len());
                (&line[..verb_end], &line[verb_end..])
            };
            if verb.eq_ignore_ascii_case(b"PUB") || verb.eq_ignore_ascii_case(b"HPUB") {
                let hpub = verb.len() == 4;
                let Some((subject, reply, hlen, size)) = pub_args(args, hpub) else {
                    bad = true;
                    break;
                };
                if rest.len() < body + size + 2 {
                    break;
                }
                // The payload and its CRLF, copied as one.
                let payload = &rest[body..body + size + 2];
                self.stats.pubs += 1;
                let r = self.route(subject);
                let route = &mut self.routes[r];
                let conns = &mut self.conns;
                let dirty = &mut self.dirty;
                let mut deliver = |t: &mut Target| {
                    let Some(tc) = conns[t.conn].as_mut() else {
                        return;
                    };
                    let sink = if tc.ws.is_some() {
                        &mut tc.pending
                    } else {
                        &mut tc.out
                    };
                    if reply.is_none() && !hpub {
                        sink.extend_from_slice(t.line(size));
                    } else {
                        if hpub {
                            sink.push(b'H');
                        }
                        sink.extend_from_slice(&t.prefix);
                        if let Some(r) = reply {
                            sink.extend_from_slice(r);
                            sink.push(b' ');
                        }
                        if hpub {
                            push_u64(sink, hlen as u64);
                            sink.push(b' ');
                        }
                        push_u64(sink, size as u64);
                        sink.extend_from_slice(b"\r\n");
                    }
                    sink.extend_from_slice(payload);
                    if !tc.dirty {
                        tc.dirty = true;
                        dirty.push(t.conn);
                    }
                };
                let mut n = 0u64;
                for t in route.plain.iter_mut() {
                    deliver(t);
                    n += 1;
                }
                for (g, members) in route.groups.iter_mut().enumerate() {
                    let k = route.rr[g] % members.len();
                    route.rr[g] = route.rr[g].wrapping_add(1);
                    deliver(&mut members[k]);
                    n += 1;
                }
                self.stats.msgs += n;
                pos += body + size + 2;
                continue;
            }
            pos += body;
            if verb.eq_ignore_ascii_case(b"PING") {
                let c = self.conns[i].as_mut().unwrap();
                c.sink().extend_from_slice(b"PONG\r\n");
                if !c.dirty {
                    c.dirty = true;
                    self.dirty.push(i);
                }
            } else if verb.eq_ignore_ascii_case(b"SUB") {
                let (t, n) = split_args(args);
                if n < 2 {
                    bad = true;
                    break;
                }
                let sub = Sub {
                    subject: t[0].split(|&c| c == b'.').map(|s| s.to_vec()).collect(),
                    queue: (n == 3).then(|| t[1].to_vec()),
                    sid: t[n - 1].to_vec(),
                };
                self.conns[i].as_mut().unwrap().subs.push(sub);
                self.clear_routes();
            } else if verb.eq_ignore_ascii_case(b"UNSUB") {
                let (t, n) = split_args(args);
                if n >= 1 {
                    self.conns[i]
                        .as_mut()
                        .unwrap()
                        .subs
                        .retain(|s| s.sid != t[0]);
                    self.clear_routes();
                }
            }
            // CONNECT, PONG, anything else: nothing to do.
        }
        inb.consume(pos);
        if let Some(c) = self.conns[i].as_mut() {
            c.inb = inb;
        }
        if bad {
            self.close(i);
        }
    }

    /// Writes what every connection has queued.
    fn flush(&mut self) {
        let dirty = std::mem::take(&mut self.dirty);
        for &i in &dirty {
            let Some(c) = self.conns[i].as_mut() else {
                continue;
            };
            c.dirty = false;
            if !c.pending.is_empty() {
                ws::encode_header(
                    &mut c.out,
                    true,
                    false,
                    ws::OP_BINARY,
                    None,
                    c.pending.len(),
                );
                c.out.extend_from_slice(&c.pending);
                c.pending.clear();
            }
            if write_some(c).is_err() {
                self.close(i);
                continue;
            }
            let c = self.conns[i].as_mut().unwrap();
            if c.dead && c.out_pos == c.out.len() {
                self.close(i);
                continue;
            }
            let want = c.out_pos < c.out.len();
            if want != c.want_out {
                c.want_out = want;
                let ev = libc::EPOLLIN as u32 | if want { libc::EPOLLOUT as u32 } else { 0 };
                let _ = epoll_ctl(
                    self.ep,
                    libc::EPOLL_CTL_MOD,
                    c.s.as_raw_fd(),
                    ev,
                    i as u64 + 1,
                );
            }
            if c.queued() > HIGH_WATER {
                // Backpressure: wait for this one before reading more.
                if drain(c).is_err() {
                    self.close(i);
                }
            }
        }
        self.dirty = dirty;
        self.dirty.clear();
    }
}

/// A PUB's subject, reply subject, header size and total size.
type PubArgs<'a> = (&'a [u8], Option<&'a [u8]>, usize, usize);

/// `PUB subject [reply] size` / `HPUB subject [reply] hsize size`.
#[inline]
fn pub_args(args: &[u8], hpub: bool) -> Option<PubArgs<'_>> {
    let (t, n) = split_args(args);
    let nums = if hpub { 2 } else { 1 };
    if n < 1 + nums || n > 2 + nums {
        return None;
    }
    let size = crate::proto::parse_u64(t[n - 1])? as usize;
    let hlen = if hpub {
        crate::proto::parse_u64(t[n - 2])? as usize
    } else {
        0
    };
    let reply = (n == 2 + nums).then_some(t[1]);
    Some((t[0], reply, hlen, size))
}

/// Writes until done or the socket is full.
fn write_some(c: &mut NConn) -> io::Result<()> {
    while c.out_pos < c.out.len() {
        match c.s.write(&c.out[c.out_pos..]) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => c.out_pos += n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    if c.out_pos == c.out.len() {
        c.out.clear();
        c.out_pos = 0;
    } else if c.out_pos > (4 << 20) {
        c.out.drain(..c.out_pos);
        c.out_pos = 0;
    }
    Ok(())
}

/// Blocks until `c` has less than LOW_WATER queued.
fn drain(c: &mut NConn) -> io::Result<()> {
    while c.out.len() - c.out_pos > LOW_WATER {
        let mut p = libc::pollfd {
            fd: c.s.as_raw_fd(),
            events: libc::POLLOUT,
            revents: 0,
        };
        let r = unsafe { libc::poll(&mut p, 1, 1000) };
        if r < 0 {
            let e = io::Error::last_os_error();
            if e.kind() != io::ErrorKind::Interrupted {
                return Err(e);
            }
        }
        if p.revents & (libc::POLLERR | libc::POLLHUP) != 0 {
            return Err(io::ErrorKind::BrokenPipe.into());
        }
        write_some(c)?;
    }
    Ok(())
}

/// Serves on `listener` until `stop` is set or `until` passes; with
/// `busy_poll`, never sleeping in epoll.
pub fn serve(
    listener: TcpListener,
    ws: bool,
    busy_poll: bool,
    stop: Arc<AtomicBool>,
    until: Option<Instant>,
) -> Result<NullStats> {
    let wait_ms = if busy_poll { 0 } else { 100 };
    listener.set_nonblocking(true)?;
    let port = listener.local_addr()?.port();
    let ep = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
    if ep < 0 {
        return Err(io::Error::last_os_error().into());
    }
    epoll_ctl(
        ep,
        libc::EPOLL_CTL_ADD,
        listener.as_raw_fd(),
        libc::EPOLLIN as u32,
        0,
    )?;
    let info = format!(
        "{{\"server_id\":\"NULLSERVER\",\"server_name\":\"loadtest-null-server\",\"version\":\"2.9.10\",\"proto\":1,\"go\":\"none\",\"host\":\"127.0.0.1\",\"port\":{port},\"headers\":true,\"max_payload\":67108864}}"
    );
    let mut s = Server {
        ep,
        listener,
        ws,
        conns: Vec::new(),
        free: Vec::new(),
        routes: Vec::new(),
        route_index: HashMap::new(),
        last: None,
        info: format!("INFO {info}\r\n").into_bytes(),
        scratch: vec![0; READ_CHUNK],
        dirty: Vec::new(),
        stats: NullStats::default(),
    };
    let mut events = vec![libc::epoll_event { events: 0, u64: 0 }; 256];
    loop {
        if stop.load(Relaxed) || until.is_some_and(|u| Instant::now() >= u) {
            break;
        }
        let n = unsafe { libc::epoll_wait(ep, events.as_mut_ptr(), events.len() as i32, wait_ms) };
        if n < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            unsafe { libc::close(ep) };
            return Err(e.into());
        }
        if n == 0 && busy_poll {
            // Polling, but never in the way of a thread (or the kernel's
            // network work) that wants this core.
            // SAFETY: sched_yield has no preconditions.
            unsafe { libc::sched_yield() };
            continue;
        }
        for ev in &events[..n as usize] {
            let (flags, data) = (ev.events, ev.u64);
            if data == 0 {
                s.accept()?;
                continue;
            }
            let i = (data - 1) as usize;
            if flags & (libc::EPOLLIN as u32 | libc::EPOLLERR as u32 | libc::EPOLLHUP as u32) != 0 {
                s.readable(i);
            }
            if flags & libc::EPOLLOUT as u32 != 0 {
                s.mark_dirty(i);
            }
        }
        s.flush();
    }
    unsafe { libc::close(ep) };
    Ok(s.stats)
}

/// Starts a null server on `127.0.0.1:port` (0: any free port) in a
/// thread; returns its port and a handle that stops it.
pub fn spawn(port: u16, ws: bool) -> Result<NullHandle> {
    let l = TcpListener::bind(("127.0.0.1", port))
        .map_err(|e| Error::new(format!("bind {port}: {e}")))?;
    let port = l.local_addr()?.port();
    let stop = Arc::new(AtomicBool::new(false));
    let st = stop.clone();
    let thread = std::thread::Builder::new()
        .name("null-server".into())
        .spawn(move || serve(l, ws, false, st, None))?;
    Ok(NullHandle {
        port,
        stop,
        thread: Some(thread),
    })
}

pub struct NullHandle {
    pub port: u16,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<Result<NullStats>>>,
}

impl NullHandle {
    pub fn stop(mut self) -> Result<NullStats> {
        self.stop.store(true, Relaxed);
        match self.thread.take().unwrap().join() {
            Ok(r) => r,
            Err(_) => Err(Error::new("null server panicked")),
        }
    }
}

impl Drop for NullHandle {
    fn drop(&mut self) {
        self.stop.store(true, Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The `null-server` subcommand.
pub fn run_null_server(a: &NullServerArgs) -> Result<Report> {
    let l = TcpListener::bind((a.host.as_str(), a.port))
        .map_err(|e| Error::new(format!("bind {}:{}: {e}", a.host, a.port)))?;
    eprintln!(
        "null-server listening on {}://{}:{}",
        if a.ws { "ws" } else { "nats" },
        a.host,
        l.local_addr()?.port()
    );
    let start = Instant::now();
    let stop = Arc::new(AtomicBool::new(false));
    let stats = serve(l, a.ws, a.busy_poll, stop, a.duration.map(|d| start + d))?;
    let secs = start.elapsed().as_secs_f64();
    Ok(Report {
        scenario: "null-server".into(),
        transport: if a.ws { "ws" } else { "tcp" }.into(),
        url: format!(
            "{}://{}:{}",
            if a.ws { "ws" } else { "nats" },
            a.host,
            a.port
        ),
        sent: stats.pubs,
        received: stats.msgs,
        expected: stats.msgs,
        seconds: secs,
        msgs_per_sec: stats.msgs as f64 / secs.max(1e-9),
        connections: stats.connections as usize,
        allow_loss: true,
        ..Default::default()
    })
}

#[cfg(test)]
mod tests {
    use super::matches;

    fn p(s: &str) -> Vec<Vec<u8>> {
        s.split('.').map(|t| t.as_bytes().to_vec()).collect()
    }

    #[test]
    fn subject_matching() {
        assert!(matches(&p("bench.0"), b"bench.0"));
        assert!(!matches(&p("bench.0"), b"bench.1"));
        assert!(matches(&p("bench.>"), b"bench.1"));
        assert!(matches(&p("bench.>"), b"bench.1.2"));
        assert!(!matches(&p("bench.>"), b"bench"));
        assert!(matches(&p("bench.*"), b"bench.x"));
        assert!(!matches(&p("bench.*"), b"bench.x.y"));
        assert!(matches(&p("_INBOX.abc.*"), b"_INBOX.abc.17"));
    }
}
