//! One shard per core: a thread running its own single-threaded runtime,
//! with its own listener (SO_REUSEPORT), connections, subject index per
//! account, and mailboxes to the other shards. Nothing here is shared with
//! other threads but the immutable server context and the mailboxes; no
//! locks on the message path. What runs for each accepted connection is
//! the server's to say (`run`'s `serve`); `session::serve` is the client's.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use slab::Slab;
use tokio::sync::Notify;

use crate::conn::Client;
use crate::net::{Backend, Listener};
use crate::server::ServerContext;
use crate::subject::SubjectIndex;

pub mod envelope;
pub mod mailbox;
mod reload;
pub mod report;
mod route;
mod run;
pub mod session;
mod spin;
mod writer;
pub(crate) use spin::STREAM_READ;
#[cfg(test)]
mod tests;

pub use envelope::{Envelope, Published, QueueNames};
use mailbox::{Inbox, Outbox};

/// A subscription as the subject index stores it: connection slab key and
/// the subscription's key inside the connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SubRef {
    pub conn: u32,
    pub sub: u32,
}

/// A subject and, for queue subscriptions, the queue group.
pub(crate) type InterestKey = (Box<[u8]>, Option<Box<[u8]>>);

/// Another shard's interest in one (subject, queue), as the peer index
/// holds it: the shard, and how many subscriptions it has there (for a
/// queue group, the weight of that shard when a member is chosen).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PeerInterest {
    pub shard: u16,
    pub members: u32,
}

/// One account's subjects on this shard.
pub(crate) struct AccountIndex {
    /// This shard's subscriptions.
    pub local: SubjectIndex<SubRef>,
    /// Which other shards have subscribers on what, and how many.
    pub peers: SubjectIndex<PeerInterest>,
    /// The entry `peers` holds for each (subject, queue) and shard, so a
    /// changed count replaces it.
    pub peer_members: std::collections::HashMap<(InterestKey, u16), u32>,
    /// How many local subscriptions each (subject, queue) has: the first
    /// and the last are announced to the other shards, and for queue
    /// groups every change of the count.
    pub interest: std::collections::HashMap<InterestKey, u32>,
}

/// Which listener accepted a connection: what it speaks first and what
/// kind of connection it is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Port {
    /// NATS clients over TCP.
    Client,
    /// NATS clients over WebSocket (an HTTP upgrade first).
    Websocket,
}

/// What a shard thread is started with.
pub struct ShardSetup {
    pub id: usize,
    pub ctx: Arc<ServerContext>,
    pub outbox: Outbox<Envelope>,
    pub inbox: Inbox<Envelope>,
    /// This shard's socket on each port (SO_REUSEPORT).
    pub listeners: Vec<(Port, std::net::TcpListener)>,
    /// Where monitoring and reloads reach it.
    pub desk: report::Mailbox,
}

pub struct Shard {
    pub id: usize,
    /// The configuration in force (a reload replaces it).
    ctx: RefCell<Arc<ServerContext>>,
    /// What outlives a configuration (flags, counters, the desk).
    pub(crate) rt: Arc<crate::server::Runtime>,
    pub(crate) clients: RefCell<Slab<Rc<Client>>>,
    pub(crate) accounts: RefCell<Vec<AccountIndex>>,
    pub(crate) outbox: RefCell<Outbox<Envelope>>,
    /// Connections with output gathered since the last flush.
    pub(crate) dirty: RefCell<Vec<Rc<Client>>>,
    /// Sequence of this shard's interest announcements.
    pub(crate) interest_seq: Cell<u64>,
    /// Per shard: the highest of our announcements it has applied.
    pub(crate) acked: RefCell<Vec<u64>>,
    /// Connections whose output waits for the other shards to apply their
    /// latest interest.
    pub(crate) fenced: RefCell<Vec<Rc<Client>>>,
    /// Rung when every connection is gone (at shutdown).
    all_closed: Notify,
    /// Work seen lately: keeps the shard polling instead of sleeping.
    pub(crate) activity: spin::Activity,
    /// Messages gathered for a fan-out, written at the next flush.
    pub(crate) run: run::Gathering,
    /// The other shards a message goes to, gathered per publish in a
    /// buffer kept from one publish to the next.
    pub(crate) targets: RefCell<Vec<route::Target>>,
    /// Some user answers requests by `allow_responses`: deliveries of
    /// requests are noted on the receiving connection (and not gathered).
    pub(crate) tracks_replies: Cell<bool>,
    /// Counters for monitoring beyond the live connections'.
    pub(crate) tally: report::Tally,
    /// What the message path reads of the configuration, copied out of
    /// it (a reload copies again), so no message borrows the context.
    pub(crate) max_pending: Cell<i64>,
    /// Some account takes part in exports and imports.
    pub(crate) crosses_accounts: Cell<bool>,
}

impl Shard {
    /// A shard without its thread or listener: `run` drives one per core;
    /// tests and benchmarks drive one by hand.
    pub fn new(setup_id: usize, ctx: Arc<ServerContext>, outbox: Outbox<Envelope>) -> Shard {
        let accounts = (0..ctx.accounts.len())
            .map(|_| AccountIndex {
                local: SubjectIndex::new(),
                peers: SubjectIndex::new(),
                peer_members: Default::default(),
                interest: Default::default(),
            })
            .collect();
        let shards = ctx.shards;
        let tracks_replies = ctx.auth.tracks_replies();
        let max_pending = ctx.opts.max_pending;
        let crosses_accounts = ctx.imports.any();
        Shard {
            tracks_replies: Cell::new(tracks_replies),
            id: setup_id,
            rt: ctx.rt.clone(),
            ctx: RefCell::new(ctx),
            clients: RefCell::new(Slab::new()),
            accounts: RefCell::new(accounts),
            outbox: RefCell::new(outbox),
            dirty: RefCell::new(Vec::new()),
            interest_seq: Cell::new(0),
            acked: RefCell::new(vec![0; shards]),
            fenced: RefCell::new(Vec::new()),
            all_closed: Notify::new(),
            activity: spin::Activity::default(),
            run: run::Gathering::default(),
            targets: RefCell::new(Vec::new()),
            tally: Default::default(),
            max_pending: Cell::new(max_pending),
            crosses_accounts: Cell::new(crosses_accounts),
        }
    }

    /// The configuration in force; not to be held across an await (a
    /// reload replaces it): clone the `Arc` for that.
    pub fn ctx(&self) -> std::cell::Ref<'_, Arc<ServerContext>> {
        self.ctx.borrow()
    }

    /// A reload's configuration takes over.
    pub(crate) fn set_ctx(&self, ctx: Arc<ServerContext>) {
        self.tracks_replies.set(ctx.auth.tracks_replies());
        self.max_pending.set(ctx.opts.max_pending);
        self.crosses_accounts.set(ctx.imports.any());
        *self.ctx.borrow_mut() = ctx;
    }

    /// How many shards the server runs (1: no cross-shard work at all).
    pub fn shard_count(&self) -> usize {
        self.ctx().shards
    }

    pub fn register(&self, client: &Rc<Client>) {
        let key = self.clients.borrow_mut().insert(client.clone());
        client.set_key(key);
    }

    /// Removes a closed connection and everything it subscribed to.
    pub fn unregister(&self, client: &Rc<Client>) {
        self.unsubscribe_all(client);
        let key = client.key();
        let mut clients = self.clients.borrow_mut();
        if clients.get(key).is_some_and(|c| Rc::ptr_eq(c, client)) {
            clients.remove(key);
        }
        if clients.is_empty() {
            self.all_closed.notify_one();
        }
    }

    /// Every connection of the shard, for a pass over them all.
    pub fn all_clients(&self) -> Vec<Rc<Client>> {
        self.clients
            .borrow()
            .iter()
            .map(|(_, c)| c.clone())
            .collect()
    }

    /// Handles all mail waiting in `inbox`, acknowledges interest changes
    /// and flushes. Returns how many envelopes there were.
    pub(crate) fn receive_mail(&self, inbox: &mut Inbox<Envelope>) -> usize {
        let mut acks: Vec<(usize, u64)> = Vec::new();
        let n = inbox.drain(|from, envelope| self.receive(from, envelope, &mut acks));
        if n > 0 {
            let mut outbox = self.outbox.borrow_mut();
            for (to, seq) in acks {
                outbox.send(to, Envelope::InterestAck { seq }, 0);
            }
            drop(outbox);
            self.flush();
        }
        n
    }

    /// Queues a connection's output for the next flush.
    #[inline]
    pub fn mark_dirty(&self, client: &Rc<Client>) {
        if client.mark_dirty() {
            self.dirty.borrow_mut().push(client.clone());
        }
    }

    /// Ends a batch of work: wakes the writers of every connection that got
    /// output and sends the mail gathered for other shards.
    pub fn flush(&self) {
        self.end_runs();
        let dirty = std::mem::take(&mut *self.dirty.borrow_mut());
        for c in &dirty {
            c.clear_dirty();
            c.wake_writer();
        }
        // Give the (now empty) vector back to keep its capacity.
        let mut slot = self.dirty.borrow_mut();
        if slot.is_empty() {
            let mut v = dirty;
            v.clear();
            *slot = v;
        }
        drop(slot);
        let mut outbox = self.outbox.borrow_mut();
        if outbox.has_pending() {
            outbox.flush();
        }
    }

    /// Waits while another shard is too far behind on this shard's mail.
    pub async fn wait_for_peers(&self) {
        loop {
            let Some(load) = self.outbox.borrow().congested() else {
                return;
            };
            load.wait_for_space().await;
        }
    }

    /// Closes a connection that fell too far behind: no -ERR can be counted
    /// on to reach it, and nobody waits for it.
    pub fn slow_consumer(&self, client: &Rc<Client>) {
        if client.is_open() {
            crate::debug!(
                "{} - cid:{} - Slow Consumer Detected: pending {} bytes",
                client.addr,
                client.cid,
                client.pending()
            );
            client.close_for(crate::conn::Reason::SlowConsumerPendingBytes, false);
            self.tally.slow_consumer();
        }
    }
}

/// The protocol parser's limits under `opts`.
pub(crate) fn parser_limits(opts: &crate::config::Options) -> crate::protocol::ParserLimits {
    crate::protocol::ParserLimits {
        max_control_line: opts.max_control_line as usize,
        max_payload: opts.max_payload as usize,
    }
}

/// Runs one shard on this thread until the server stops; `serve` is run
/// for every connection accepted.
pub fn run<B, F, Fut>(setup: ShardSetup, serve: F)
where
    B: Backend,
    F: Fn(Rc<Shard>, B::Stream, SocketAddr, Port) -> Fut + 'static,
    Fut: Future<Output = ()> + 'static,
{
    pin_to_core(setup.id);
    B::block_on(async move {
        let ShardSetup {
            id,
            ctx,
            outbox,
            inbox,
            listeners,
            desk,
        } = setup;
        let shard = Rc::new(Shard::new(id, ctx.clone(), outbox));
        let serve = Rc::new(serve);
        for (port, listener) in listeners {
            let listener = match B::listener(listener) {
                Ok(l) => l,
                Err(e) => {
                    crate::error!("shard {id}: cannot listen: {e}");
                    return;
                }
            };
            tokio::task::spawn_local(accept_loop::<B, F, Fut>(
                shard.clone(),
                listener,
                port,
                serve.clone(),
            ));
        }
        tokio::task::spawn_local(housekeeping(shard.clone()));
        tokio::task::spawn_local(report::answer_loop(shard.clone(), desk));
        tokio::task::spawn_local(spin::poll_loop::<B>(shard.clone(), ctx.opts.idle_spin));
        mailbox_loop(shard.clone(), inbox).await;

        // Shutting down: close every connection, flushing what it is owed.
        let clients = shard.all_clients();
        for c in &clients {
            c.note_reason(crate::conn::Reason::ServerShutdown);
            c.close_with(crate::websocket::close::GOING_AWAY, "Server Shutdown");
        }
        if !clients.is_empty() {
            let _ = tokio::time::timeout(Duration::from_secs(2), shard.all_closed.notified()).await;
        }
    });
}

async fn accept_loop<B, F, Fut>(shard: Rc<Shard>, listener: B::Listener, port: Port, serve: Rc<F>)
where
    B: Backend,
    F: Fn(Rc<Shard>, B::Stream, SocketAddr, Port) -> Fut,
    Fut: Future<Output = ()> + 'static,
{
    loop {
        // Lame duck mode closes the listener (by dropping it): new clients
        // are refused and go to another server.
        let rt = shard.rt.clone();
        let lame_duck = rt.lame_duck_begun.notified();
        if shard.rt.lame_duck.load(Ordering::SeqCst) {
            return;
        }
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = lame_duck => return,
        };
        match accepted {
            Ok((stream, addr)) => {
                if shard.rt.stopping.load(Ordering::Relaxed) {
                    drop(stream);
                    continue;
                }
                tokio::task::spawn_local(serve(shard.clone(), stream, addr, port));
            }
            Err(e) => {
                crate::error!("Error accepting client connection: {e}");
                // Out of file descriptors and the like: do not spin.
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    }
}

/// Drains the mailboxes from the other shards until the server stops.
async fn mailbox_loop(shard: Rc<Shard>, mut inbox: Inbox<Envelope>) {
    loop {
        if shard.rt.stopping.load(Ordering::Relaxed) {
            return;
        }
        let n = shard.receive_mail(&mut inbox);
        if n > 0 {
            if n < spin::STREAM_MAIL {
                shard.activity.note(Instant::now());
            }
            // Let connections run between batches.
            tokio::task::yield_now().await;
            continue;
        }
        inbox.wait().await;
    }
}

/// Pings, stale connections and authentication timeouts, checked on a tick.
async fn housekeeping(shard: Rc<Shard>) {
    use crate::conn::Due;
    use crate::protocol::{encode, ProtocolError};
    let ctx = shard.ctx().clone();
    let shortest = [ctx.liveness, ctx.ws_liveness]
        .iter()
        .map(|p| {
            p.auth_timeout
                .map_or(p.ping_interval, |t| t.min(p.ping_interval))
        })
        .min()
        .unwrap_or(ctx.liveness.ping_interval);
    let tick = (shortest / 4).clamp(Duration::from_millis(5), Duration::from_millis(500));
    let mut ticker = tokio::time::interval(tick);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut told_lame_duck = false;
    loop {
        ticker.tick().await;
        // Each pass under the configuration in force (a reload changes it).
        let ctx = shard.ctx().clone();
        if ctx.rt.lame_duck.load(Ordering::SeqCst) {
            lame_duck_pass(&shard, &mut told_lame_duck);
        }
        let now = Instant::now();
        for c in shard.all_clients() {
            if !c.is_open() {
                continue;
            }
            match c.due(now, ctx.liveness_for(c.kind)) {
                Due::Nothing => continue,
                Due::Ping => {
                    encode::write_ping(&mut c.out());
                    c.pinged(now);
                }
                Due::Stale => {
                    crate::debug!(
                        "{} - cid:{} - Stale Client Connection - Closing",
                        c.addr,
                        c.cid
                    );
                    close_fatally(&c, ProtocolError::StaleConnection);
                }
                Due::AuthTimeout => close_fatally(&c, ProtocolError::AuthenticationTimeout),
                Due::Expired { account } => close_fatally(
                    &c,
                    if account {
                        ProtocolError::AccountAuthenticationExpired
                    } else {
                        ProtocolError::UserAuthenticationExpired
                    },
                ),
            }
            shard.mark_dirty(&c);
        }
        shard.flush();
    }
}

/// In lame duck mode: tells the clients that take INFO at any time
/// (once), then closes as many of this shard's clients as the server's
/// quota lets it, each claimed from the quota the shards share.
fn lame_duck_pass(shard: &Shard, told: &mut bool) {
    let ctx = shard.ctx().clone();
    let clients = shard.all_clients();
    if !*told {
        *told = true;
        for c in clients
            .iter()
            .filter(|c| c.is_open() && c.flags().async_info)
        {
            let mut info = Vec::new();
            ctx.write_later_info(&mut info, c, true);
            c.out().extend_from_slice(&info);
            shard.mark_dirty(c);
        }
    }
    for c in clients.iter().filter(|c| c.is_open()) {
        let quota = ctx.rt.lame_duck_quota.load(Ordering::SeqCst);
        let claimed =
            ctx.rt
                .lame_duck_closed
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| {
                    (n < quota).then_some(n + 1)
                });
        if claimed.is_err() {
            break;
        }
        c.note_reason(crate::conn::Reason::ServerShutdown);
        c.close_with(crate::websocket::close::GOING_AWAY, "Server Shutdown");
        shard.mark_dirty(c);
    }
    shard.flush();
}

/// Sends `e` and closes the connection once it is written (for a
/// WebSocket client, with the CLOSE code nats-server uses for `e`).
pub(crate) fn close_fatally(c: &Client, e: crate::protocol::ProtocolError) {
    c.note_reason(e.into());
    e.write_err(&mut c.out());
    c.close_with(
        crate::websocket::transport::close_code_for(&e),
        e.err_text(),
    );
}

/// Pins the calling thread to one core (shard i on core i, modulo the cores
/// this process may use).
fn pin_to_core(shard: usize) {
    // SAFETY: sched_getaffinity/sched_setaffinity only read and write the
    // cpu_set_t we own.
    unsafe {
        let mut allowed: libc::cpu_set_t = std::mem::zeroed();
        if libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut allowed) != 0 {
            return;
        }
        let cores: Vec<usize> = (0..libc::CPU_SETSIZE as usize)
            .filter(|&c| libc::CPU_ISSET(c, &allowed))
            .collect();
        if cores.is_empty() {
            return;
        }
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cores[shard % cores.len()], &mut set);
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set);
    }
}
