//! One client connection's state, behind methods: what it asked for in
//! CONNECT, its subscriptions, its outbound buffer, whether its output is
//! held for the other shards, and whether it is alive. No IO here: the
//! shard's tasks read and write its socket (`shard::session`,
//! `shard::writer`) and change this state only through these methods.
//!
//! Delivery from any connection of the shard appends to the receiver's
//! outbound buffer; the shard wakes the writer once per batch, and the writer
//! sends everything gathered in one write. A connection that falls behind by
//! more than max_pending is closed; nobody waits for it.

use std::cell::{Cell, RefCell, RefMut};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use tokio::sync::futures::Notified;
use tokio::sync::Notify;

use crate::auth::{ConnPermissions, Permissions};
use crate::config::options::ConnectionType;
use crate::protocol::ProtocolError;
use crate::websocket::transport::{WsWriter, ROOM};

pub mod liveness;
mod reason;
pub mod subs;

pub use liveness::{Due, Liveness, Policy};
pub use reason::Reason;
pub use subs::{Added, Sub, Subs};

/// Messages and payload bytes (headers included) a connection sent and
/// received, as nats-server counts them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    pub in_msgs: u64,
    pub out_msgs: u64,
    pub in_bytes: u64,
    pub out_bytes: u64,
}

impl std::ops::AddAssign for Counters {
    fn add_assign(&mut self, o: Counters) {
        self.in_msgs += o.in_msgs;
        self.out_msgs += o.out_msgs;
        self.in_bytes += o.in_bytes;
        self.out_bytes += o.out_bytes;
    }
}

/// A TLS session as monitoring names it (nats-server's words: "1.3",
/// Go's cipher suite names).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TlsSummary {
    pub version: &'static str,
    pub cipher: &'static str,
}

/// What a login was decided on, kept so a reload can decide it again: the
/// credentials CONNECT gave, the names in the client's certificate, and
/// the bcrypt hash its password was checked against (it is not checked
/// again: the same hash keeps the login, another one ends it).
#[derive(Clone, Debug, Default)]
pub struct Credentials {
    pub connect: Option<crate::protocol::ConnectOptions>,
    pub cert: Option<crate::auth::cert::CertNames>,
    pub hash: Option<String>,
}

/// What a connection said of itself in CONNECT and who it logged in as.
#[derive(Clone, Debug, Default)]
pub struct About {
    pub name: Option<String>,
    pub lang: Option<String>,
    pub version: Option<String>,
    /// The user, NKEY or JWT subject it authenticated as.
    pub user: Option<String>,
    pub tls: Option<TlsSummary>,
}

/// Deliveries written to a connection for one subscription.
pub struct Delivered {
    pub count: usize,
    /// The subscription reached its auto-unsubscribe limit.
    pub expired: bool,
    /// Bytes the connection is owed after these.
    pub pending: usize,
}

/// Where a connection is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    Open,
    /// Closing: with `flush`, what is queued is written first (e.g. a fatal
    /// -ERR); without, the socket is shut at once (slow consumer, peer gone).
    Closing {
        flush: bool,
    },
}

/// What the client asked for in CONNECT (or nats-server's defaults before it).
#[derive(Clone, Copy, Debug)]
pub struct Flags {
    pub connected: bool,
    pub verbose: bool,
    pub pedantic: bool,
    pub echo: bool,
    pub headers: bool,
    pub no_responders: bool,
    /// Its first PONG after CONNECT is followed by an INFO telling it its
    /// own payload limit (as nats-server 2.9 does when it is not the
    /// server's).
    pub info_after_pong: bool,
    /// It takes INFO at any time (CONNECT's `protocol` ≥ 1).
    pub async_info: bool,
}

impl Default for Flags {
    fn default() -> Self {
        // nats-server's client defaults before CONNECT says otherwise.
        Flags {
            connected: false,
            verbose: true,
            pedantic: true,
            echo: true,
            headers: false,
            no_responders: false,
            info_after_pong: false,
            async_info: false,
        }
    }
}

/// Output held until the other shards have applied an interest change.
#[derive(Clone, Copy, Default)]
struct Fence {
    /// The interest sequence the last SUB/UNSUB announced.
    needed: u64,
    held: bool,
}

pub struct Client {
    /// Unique across the server (INFO's client_id).
    pub cid: u64,
    pub addr: SocketAddr,
    pub kind: ConnectionType,
    /// Key in the shard's connection slab.
    key: Cell<usize>,
    account: Cell<u32>,
    /// What its user may publish and subscribe to; `None`: anything.
    permissions: RefCell<Option<Box<ConnPermissions>>>,
    flags: Cell<Flags>,
    /// What monitoring tells of it beyond the counters (boxed: set once
    /// at CONNECT, read only when asked).
    about: RefCell<Option<Box<About>>>,
    /// What its login was decided on (`None`: nothing was asked of it).
    credentials: RefCell<Option<Box<Credentials>>>,
    /// Its password is being checked (by the bcrypt pool).
    login_pending: Cell<bool>,
    /// Why it closed, the first reason given (`None` when it ends: the
    /// client closed it).
    reason: Cell<Option<Reason>>,
    state: Cell<State>,
    /// Bytes waiting to be written.
    out: RefCell<Vec<u8>>,
    /// Bytes handed to the socket and not yet confirmed written.
    in_flight: Cell<usize>,
    writer: Notify,
    /// Queued on the shard's list of connections to flush.
    dirty: Cell<bool>,
    subs: RefCell<Subs>,
    /// Whatever the client hears after a SUB (a PONG, a reply to its own
    /// request) must mean the subscription is live on every shard.
    fence: Cell<Fence>,
    liveness: Cell<Liveness>,
    /// Its login's own limits (from JWTs); counted in its account when
    /// the account limits connections.
    limits: Cell<crate::auth::Limits>,
    counted: Cell<bool>,
    msgs_in: Cell<u64>,
    msgs_out: Cell<u64>,
    /// Payload bytes (headers included), as nats-server counts them.
    bytes_in: Cell<u64>,
    bytes_out: Cell<u64>,
    /// Header bytes of messages delivered without them (nats-server's
    /// server-wide out_bytes counts them; the connection's does not).
    headers_stripped: Cell<u64>,
    /// nats-server's last activity: the last message, SUB, UNSUB or
    /// CONNECT from the client, or delivery to it (PINGs do not count).
    last_activity: Cell<Instant>,
    /// Operations that count as activity, so far (the session stamps the
    /// read that carried new ones).
    activity: Cell<u64>,
    /// The round trip: from accept to CONNECT at first, then from the
    /// server's last PING to its PONG (`ping_sent`).
    rtt: Cell<std::time::Duration>,
    ping_sent: Cell<Option<Instant>>,
    /// A WebSocket client's framing state; its outbound buffer starts with
    /// `ROOM` bytes kept for the frame header.
    ws: Option<Box<WsWriter>>,
}

impl Client {
    pub fn new(
        cid: u64,
        addr: SocketAddr,
        kind: ConnectionType,
        now: Instant,
        policy: &Policy,
        ws: Option<WsWriter>,
    ) -> Client {
        let base = if ws.is_some() { ROOM } else { 0 };
        Client {
            cid,
            addr,
            kind,
            key: Cell::new(usize::MAX),
            account: Cell::new(0),
            permissions: RefCell::new(None),
            flags: Cell::new(Flags::default()),
            about: RefCell::new(None),
            credentials: RefCell::new(None),
            login_pending: Cell::new(false),
            reason: Cell::new(None),
            state: Cell::new(State::Open),
            out: RefCell::new(vec![0; base]),
            in_flight: Cell::new(0),
            writer: Notify::new(),
            dirty: Cell::new(false),
            subs: RefCell::new(Subs::default()),
            fence: Cell::new(Fence::default()),
            liveness: Cell::new(Liveness::new(now, policy)),
            limits: Cell::new(crate::auth::Limits::default()),
            counted: Cell::new(false),
            msgs_in: Cell::new(0),
            msgs_out: Cell::new(0),
            bytes_in: Cell::new(0),
            bytes_out: Cell::new(0),
            headers_stripped: Cell::new(0),
            last_activity: Cell::new(now),
            activity: Cell::new(0),
            rtt: Cell::new(std::time::Duration::ZERO),
            ping_sent: Cell::new(None),
            ws: ws.map(Box::new),
        }
    }

    /// The WebSocket side of the connection, for a WebSocket client.
    pub fn ws(&self) -> Option<&WsWriter> {
        self.ws.as_deref()
    }

    /// Bytes at the front of the outbound buffer that are not output.
    #[inline]
    fn base(&self) -> usize {
        if self.ws.is_some() {
            ROOM
        } else {
            0
        }
    }

    // --- identity and CONNECT -------------------------------------------

    pub fn key(&self) -> usize {
        self.key.get()
    }

    pub fn set_key(&self, key: usize) {
        self.key.set(key);
    }

    pub fn account(&self) -> u32 {
        self.account.get()
    }

    pub fn set_account(&self, account: u32) {
        self.account.set(account);
    }

    /// The permissions of `user` (`None`: unrestricted).
    pub fn set_permissions(&self, permissions: Option<Arc<Permissions>>, user: Option<String>) {
        *self.permissions.borrow_mut() =
            permissions.map(|p| Box::new(ConnPermissions::new(p, user.unwrap_or_default())));
    }

    /// The user whose permissions apply, for the log.
    pub fn permissions_user(&self) -> String {
        self.permissions
            .borrow()
            .as_ref()
            .map(|p| p.user().to_string())
            .unwrap_or_default()
    }

    /// Whether its user may publish to `subject` (decisions are kept).
    #[inline]
    pub fn may_publish(&self, subject: &[u8]) -> bool {
        match self.permissions.borrow_mut().as_deref_mut() {
            None => true,
            Some(p) => p.may_publish(subject, Instant::now),
        }
    }

    /// A message with a reply subject was delivered to it (for
    /// `allow_responses`).
    pub fn delivered_request(&self, reply: &[u8]) {
        if let Some(p) = self.permissions.borrow_mut().as_deref_mut() {
            p.delivered_request(reply, Instant::now());
        }
    }

    pub fn may_subscribe(&self, subject: &[u8], queue: Option<&[u8]>) -> bool {
        match self.permissions.borrow().as_deref() {
            None => true,
            Some(p) => p.may_subscribe(subject, queue),
        }
    }

    pub fn flags(&self) -> Flags {
        self.flags.get()
    }

    pub fn set_flags(&self, flags: Flags) {
        self.flags.set(flags);
    }

    /// What CONNECT and the login said of the client (for monitoring).
    pub fn set_about(&self, about: About) {
        *self.about.borrow_mut() = Some(Box::new(about));
    }

    /// The TLS session's version and cipher suite, once the handshake is
    /// done (kept across a later CONNECT).
    pub fn set_tls(&self, tls: Option<TlsSummary>) {
        let mut about = self.about.borrow_mut();
        about.get_or_insert_with(Default::default).tls = tls;
    }

    /// What its login was decided on, for a reload to decide again.
    pub fn set_credentials(&self, c: Option<Credentials>) {
        *self.credentials.borrow_mut() = c.map(Box::new);
    }

    pub fn credentials(&self) -> Option<Credentials> {
        self.credentials.borrow().as_deref().cloned()
    }

    pub fn set_login_pending(&self, pending: bool) {
        self.login_pending.set(pending);
    }

    pub fn login_pending(&self) -> bool {
        self.login_pending.get()
    }

    pub fn about(&self) -> std::cell::Ref<'_, Option<Box<About>>> {
        self.about.borrow()
    }

    // --- life ------------------------------------------------------------

    pub fn state(&self) -> State {
        self.state.get()
    }

    pub fn is_open(&self) -> bool {
        self.state.get() == State::Open
    }

    /// Starts closing for `reason` (the first one given is kept).
    pub fn close_for(&self, reason: Reason, flush: bool) {
        self.note_reason(reason);
        self.close(flush);
    }

    /// Keeps `reason` as why the connection ends, unless one is kept.
    pub fn note_reason(&self, reason: Reason) {
        if self.reason.get().is_none() {
            self.reason.set(Some(reason));
        }
    }

    /// Why it closed (the client closed it when no reason was given).
    pub fn reason(&self) -> Reason {
        self.reason.get().unwrap_or(Reason::ClientClosed)
    }

    /// Starts closing; the writer finishes the job. Never reopens.
    pub fn close(&self, flush: bool) {
        match self.state.get() {
            State::Open => self.state.set(State::Closing { flush }),
            State::Closing { flush: true } if !flush => self.state.set(State::Closing { flush }),
            State::Closing { .. } => {}
        }
        self.writer.notify_one();
    }

    /// The client sent something at `now`.
    pub fn read_at(&self, now: Instant) {
        self.update_liveness(|l| l.read(now));
    }

    /// The client answered a PING (the server's: the round trip is
    /// measured).
    pub fn ponged(&self) {
        if let Some(sent) = self.ping_sent.take() {
            self.rtt.set(sent.elapsed());
        }
        self.update_liveness(Liveness::pong);
    }

    /// The server sent a PING at `now`.
    pub fn pinged(&self, now: Instant) {
        self.ping_sent.set(Some(now));
    }

    /// CONNECT came at `now`: the first estimate of the round trip.
    pub fn connected_at(&self, now: Instant) {
        let created = self.liveness.get().created();
        self.rtt.set(now.saturating_duration_since(created));
    }

    pub fn rtt(&self) -> std::time::Duration {
        self.rtt.get()
    }

    /// When the connection was accepted.
    pub fn started(&self) -> Instant {
        self.liveness.get().created()
    }

    /// The last message, SUB, UNSUB or CONNECT from it, or delivery to it.
    pub fn last_activity(&self) -> Instant {
        self.last_activity.get()
    }

    /// An operation that counts as activity (not a PING or PONG).
    #[inline]
    pub fn count_activity(&self) {
        self.activity.set(self.activity.get() + 1);
    }

    /// Activity operations so far.
    pub fn activity(&self) -> u64 {
        self.activity.get()
    }

    pub fn active_at(&self, now: Instant) {
        self.last_activity.set(now);
    }

    /// Its login's own limits.
    pub fn limits(&self) -> crate::auth::Limits {
        self.limits.get()
    }

    pub fn set_limits(&self, limits: crate::auth::Limits) {
        self.limits.set(limits);
    }

    /// Whether it is counted in its account's connections.
    pub fn counted(&self) -> bool {
        self.counted.get()
    }

    pub fn set_counted(&self, counted: bool) {
        self.counted.set(counted);
    }

    /// Its login ends at `at` (by its account's JWT when the flag is set).
    pub fn expire_at(&self, at: Option<(Instant, bool)>) {
        let mut l = self.liveness.get();
        l.expire_at(at);
        self.liveness.set(l);
    }

    pub fn due(&self, now: Instant, policy: &Policy) -> Due {
        let connected = self.flags().connected;
        let mut l = self.liveness.get();
        let due = l.check(now, connected, policy);
        self.liveness.set(l);
        due
    }

    fn update_liveness(&self, f: impl FnOnce(&mut Liveness)) {
        let mut l = self.liveness.get();
        f(&mut l);
        self.liveness.set(l);
    }

    // --- subscriptions ---------------------------------------------------

    /// SUB (see [`Subs::add`]).
    pub fn add_sub(
        &self,
        sid: &[u8],
        subject: &[u8],
        queue: Option<&[u8]>,
        limit: usize,
    ) -> Result<Added, ProtocolError> {
        let added = self.subs.borrow_mut().add(sid, subject, queue, limit)?;
        if let Added::New(key) = added {
            if self.filters(subject, queue) {
                self.subs.borrow_mut().set_filtered(key, true);
            }
        }
        Ok(added)
    }

    fn filters(&self, subject: &[u8], queue: Option<&[u8]>) -> bool {
        self.permissions
            .borrow()
            .as_ref()
            .is_some_and(|p| p.filters(subject, queue))
    }

    /// New permissions (a reload): the keys of the subscriptions they no
    /// longer allow; the others' delivery checks are set anew.
    pub fn subs_after_new_permissions(&self) -> Vec<usize> {
        let mut denied = Vec::new();
        for key in self.sub_keys() {
            let Some((subject, queue)) = self
                .subs
                .borrow()
                .get(key)
                .map(|s| (s.subject.clone(), s.queue.clone()))
            else {
                continue;
            };
            if !self.may_subscribe(&subject, queue.as_deref()) {
                denied.push(key);
            } else {
                let filtered = self.filters(&subject, queue.as_deref());
                self.subs.borrow_mut().set_filtered(key, filtered);
            }
        }
        denied
    }

    /// UNSUB (see [`Subs::unsubscribe`]).
    pub fn unsubscribe(&self, sid: &[u8], max: Option<u64>) -> Option<usize> {
        self.subs.borrow_mut().unsubscribe(sid, max)
    }

    pub fn remove_sub(&self, key: usize) -> Option<Sub> {
        self.subs.borrow_mut().remove(key)
    }

    pub fn sub_keys(&self) -> Vec<usize> {
        self.subs.borrow().keys()
    }

    /// Its subscriptions, to read.
    pub fn subs(&self) -> std::cell::Ref<'_, Subs> {
        self.subs.borrow()
    }

    pub fn has_subs(&self) -> bool {
        !self.subs.borrow().is_empty()
    }

    /// Appends, for the subscription whose subject matches `subject`,
    /// what `write(out, sid)` writes; false when none matches.
    pub fn write_to_sub_matching(
        &self,
        subject: &[u8],
        write: impl FnOnce(&mut Vec<u8>, &[u8]),
    ) -> bool {
        let subs = self.subs.borrow();
        let Some(sid) = subs.sid_matching(subject) else {
            return false;
        };
        write(&mut self.out.borrow_mut(), sid);
        true
    }

    /// Up to `available` messages for subscription `key`, written by
    /// `write(out, sid, n, headers)` (`headers`: whether the client reads
    /// HMSG), which returns their payload bytes (sent, and headers left
    /// out for a client that does not read them); counted. `None`: no
    /// such subscription.
    #[inline(always)]
    pub fn deliver(
        &self,
        key: usize,
        available: usize,
        subject: &[u8],
        write: impl FnOnce(&mut Vec<u8>, &[u8], usize, bool) -> (u64, u64),
    ) -> Option<Delivered> {
        let headers = self.flags().headers;
        let mut out = self.out.borrow_mut();
        let denied = |queue: Option<&[u8]>| {
            self.permissions
                .borrow()
                .as_ref()
                .is_some_and(|p| p.denies_delivery(subject, queue))
        };
        let mut bytes = (0, 0);
        let subs::Delivered { count, expired } =
            self.subs
                .borrow_mut()
                .deliver(key, available, denied, |sid, n| {
                    bytes = write(&mut out, sid, n, headers)
                })?;
        self.msgs_out.set(self.msgs_out.get() + count as u64);
        self.bytes_out.set(self.bytes_out.get() + bytes.0);
        if bytes.1 > 0 {
            self.headers_stripped
                .set(self.headers_stripped.get() + bytes.1);
        }
        Some(Delivered {
            count,
            expired,
            pending: out.len() - self.base() + self.in_flight.get(),
        })
    }

    // --- output ------------------------------------------------------------

    /// Appends protocol bytes for the client.
    pub fn out(&self) -> RefMut<'_, Vec<u8>> {
        self.out.borrow_mut()
    }

    /// Bytes owed to the client and not yet written.
    pub fn pending(&self) -> usize {
        self.out.borrow().len() - self.base() + self.in_flight.get()
    }

    /// Whether output waits to be written (or, for a WebSocket client,
    /// control frames are owed).
    pub fn has_output(&self) -> bool {
        self.out.borrow().len() > self.base() || self.ws.as_ref().is_some_and(|w| w.has_control())
    }

    /// Takes what waits to be written, leaving `spare` to gather the next
    /// batch; it counts as in flight until [`Client::written`]. A WebSocket
    /// client's batch starts with the header room.
    pub fn take_output(&self, mut spare: Vec<u8>) -> Vec<u8> {
        let base = self.base();
        spare.clear();
        spare.resize(base, 0);
        let batch = std::mem::replace(&mut *self.out.borrow_mut(), spare);
        self.in_flight.set(batch.len() - base);
        batch
    }

    /// Ends a WebSocket connection with a CLOSE of `code` once its output is
    /// written (no effect on other connections).
    pub fn close_with(&self, code: u16, reason: &str) {
        if let Some(ws) = &self.ws {
            ws.set_close(code, reason);
        }
        self.close(true);
    }

    /// The batch taken last is written (or failed).
    pub fn written(&self) {
        self.in_flight.set(0);
    }

    /// Resolves when there may be output to write or the state changed.
    pub fn writer_wakeup(&self) -> Notified<'_> {
        self.writer.notified()
    }

    pub fn wake_writer(&self) {
        self.writer.notify_one();
    }

    /// Marks the connection as having output for the next flush; false if
    /// it already was.
    #[inline]
    pub fn mark_dirty(&self) -> bool {
        if self.dirty.get() {
            return false;
        }
        self.dirty.set(true);
        true
    }

    pub fn clear_dirty(&self) {
        self.dirty.set(false);
    }

    // --- fences ------------------------------------------------------------

    /// Holds output until the other shards have applied interest change
    /// `seq`; true if it was not held before.
    pub fn fence(&self, seq: u64) -> bool {
        let was = self.fence.replace(Fence {
            needed: seq,
            held: true,
        });
        !was.held
    }

    /// The interest change the held output waits for.
    pub fn fence_needed(&self) -> u64 {
        self.fence.get().needed
    }

    pub fn is_fenced(&self) -> bool {
        self.fence.get().held
    }

    /// Lets the held output out.
    pub fn lift_fence(&self) {
        let mut f = self.fence.get();
        f.held = false;
        self.fence.set(f);
        self.writer.notify_one();
    }

    // --- counters ----------------------------------------------------------

    /// One message of `size` payload bytes published by the client.
    #[inline]
    pub fn count_in(&self, size: usize) {
        self.msgs_in.set(self.msgs_in.get() + 1);
        self.bytes_in.set(self.bytes_in.get() + size as u64);
    }

    /// Header bytes left out of deliveries to it.
    pub fn headers_stripped(&self) -> u64 {
        self.headers_stripped.get()
    }

    /// Messages and payload bytes in and out.
    pub fn counters(&self) -> Counters {
        Counters {
            in_msgs: self.msgs_in.get(),
            out_msgs: self.msgs_out.get(),
            in_bytes: self.bytes_in.get(),
            out_bytes: self.bytes_out.get(),
        }
    }
}
