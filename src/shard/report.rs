//! The shard's side of monitoring: its tallies (kept on its own thread,
//! so the message path touches no shared counter), the answers to what
//! the monitor asks, and the record of each connection that closes.
//!
//! The monitor's thread sends an [`Ask`] down each shard's channel (the
//! desk's); the shard's task answers between two turns of its runtime and
//! sends the report back. The main thread sends a reloaded configuration
//! down the same channel. Closed connections go to one ring for the whole
//! server (a lock taken once per closed connection, never per message).

use std::cell::Cell;
use std::collections::VecDeque;
use std::rc::Rc;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver, UnboundedSender};

use super::Shard;
use crate::config::options::ConnectionType;
use crate::conn::{Client, Counters, Reason};
use crate::monitor::report::{wall_time, Ask, ConnReport, ShardReport, SubReport, Totals};
use crate::server::ServerContext;
use crate::subject;

/// nats-server keeps this many closed connections by default.
pub const DEFAULT_MAX_CLOSED: usize = 10_000;

/// What the main and monitor threads send a shard: a question and where
/// its answer goes, or a reloaded configuration (acknowledged once in
/// force).
enum Asked {
    Report(Ask, mpsc::Sender<ShardReport>),
    /// A reloaded configuration; the answer counts what its rules kept.
    Reload(Arc<ServerContext>, mpsc::Sender<Kept>),
    /// After a reload lowered a connection limit: close the connections
    /// over it (claimed from the runtime's `excess`).
    Trim(mpsc::Sender<()>),
}

/// Connections a shard kept open under a reloaded configuration's rules:
/// in all, and by account (those counted in their account).
#[derive(Debug, Default)]
pub struct Kept {
    pub total: usize,
    pub by_account: Vec<i64>,
}

/// Where the monitor finds the shards, and the closed connections.
pub struct Desk {
    shards: Mutex<Vec<UnboundedSender<Asked>>>,
    closed: Mutex<VecDeque<Arc<ConnReport>>>,
    max_closed: usize,
}

impl Desk {
    pub fn new(max_closed: usize) -> Desk {
        Desk {
            shards: Mutex::new(Vec::new()),
            closed: Mutex::new(VecDeque::new()),
            max_closed,
        }
    }

    /// A shard's channel, registered before it starts (so monitoring
    /// reaches every shard from the first request on).
    pub fn open(&self) -> Mailbox {
        let (tx, rx) = unbounded_channel();
        self.shards
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(tx);
        Mailbox(rx)
    }

    /// Asks every shard and gathers the answers (a shard that does not
    /// answer within `patience` is left out).
    pub fn ask(&self, ask: &Ask, patience: std::time::Duration) -> Vec<ShardReport> {
        self.each_shard(|reply| Asked::Report(ask.clone(), reply), patience)
    }

    /// Hands every shard a reloaded configuration and waits (up to
    /// `patience`) until each has it in force; what each kept.
    pub fn put_in_force(
        &self,
        ctx: &Arc<ServerContext>,
        patience: std::time::Duration,
    ) -> Vec<Kept> {
        self.each_shard(|reply| Asked::Reload(ctx.clone(), reply), patience)
    }

    /// Has every shard close what it can of the runtime's `excess`.
    pub fn trim(&self, patience: std::time::Duration) -> usize {
        self.each_shard(Asked::Trim, patience).len()
    }

    /// Sends every shard what `mail` makes and gathers the answers (those
    /// that come within `patience`).
    fn each_shard<T>(
        &self,
        mail: impl Fn(mpsc::Sender<T>) -> Asked,
        patience: std::time::Duration,
    ) -> Vec<T> {
        let (tx, rx) = mpsc::channel();
        let sent = {
            let shards = self.shards.lock().unwrap_or_else(|e| e.into_inner());
            shards
                .iter()
                .filter(|s| s.send(mail(tx.clone())).is_ok())
                .count()
        };
        drop(tx);
        let deadline = Instant::now() + patience;
        let mut answers = Vec::with_capacity(sent);
        while answers.len() < sent {
            match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
                Ok(a) => answers.push(a),
                Err(_) => break,
            }
        }
        answers
    }

    /// The closed connections, oldest first.
    pub fn closed(&self) -> Vec<Arc<ConnReport>> {
        let closed = self.closed.lock().unwrap_or_else(|e| e.into_inner());
        closed.iter().cloned().collect()
    }

    fn record_closed(&self, report: Arc<ConnReport>) {
        if self.max_closed == 0 {
            return;
        }
        let mut closed = self.closed.lock().unwrap_or_else(|e| e.into_inner());
        if closed.len() == self.max_closed {
            closed.pop_front();
        }
        closed.push_back(report);
    }
}

/// A shard's end of its channel from the desk.
pub struct Mailbox(UnboundedReceiver<Asked>);

/// What a shard counts beyond its live connections.
#[derive(Default)]
pub(crate) struct Tally {
    /// The counters of connections that are gone.
    closed: Cell<Counters>,
    total_connections: Cell<u64>,
    slow_consumers: Cell<u64>,
}

impl Tally {
    pub fn connection_opened(&self) {
        self.total_connections.set(self.total_connections.get() + 1);
    }

    pub fn slow_consumer(&self) {
        self.slow_consumers.set(self.slow_consumers.get() + 1);
    }
}

impl Shard {
    /// A connection ends: its counters join the shard's totals and its
    /// record the closed connections (before its subscriptions go).
    /// (Kept only when there is a monitoring port to show them.)
    pub(crate) fn record_closed(&self, client: &Client) {
        let mut closed = self.tally.closed.get();
        closed += server_wide(client);
        self.tally.closed.set(closed);
        let reason = client.reason();
        if reason == Reason::SlowConsumerWriteDeadline && client.flags().connected {
            self.tally.slow_consumer();
        }
        let ctx = self.ctx().clone();
        if !ctx.monitored() {
            return;
        }
        let mut report = self.conn_report(client, true);
        report.stop = Some((std::time::SystemTime::now(), reason.text()));
        ctx.rt.desk.record_closed(Arc::new(report));
    }

    /// A connection's subscriptions.
    fn subs_of(&self, client: &Client) -> Vec<SubReport> {
        let account = self.ctx().accounts.name(client.account()).to_string();
        client
            .subs()
            .iter()
            .map(|s| SubReport {
                account: account.clone(),
                subject: text(&s.subject),
                queue: s.queue.as_deref().map(text),
                sid: text(&s.sid),
                msgs: s.delivered(),
                max: s.max(),
                cid: client.cid,
            })
            .collect()
    }

    fn conn_report(&self, client: &Client, with_subs: bool) -> ConnReport {
        let account = self.ctx().accounts.name(client.account()).to_string();
        let subs = if with_subs {
            self.subs_of(client)
        } else {
            Vec::new()
        };
        ConnReport {
            cid: client.cid,
            websocket: client.kind == ConnectionType::Websocket,
            addr: client.addr,
            start: wall_time(client.started()),
            last_activity: wall_time(client.last_activity()),
            stop: None,
            rtt: client.rtt(),
            pending: client.pending(),
            counters: client.counters(),
            subscriptions: client.subs().len(),
            about: client.about().as_deref().cloned().unwrap_or_default(),
            account,
            subs,
        }
    }

    fn totals(&self) -> Totals {
        let clients = self.clients.borrow();
        let mut counters = self.tally.closed.get();
        for (_, c) in clients.iter() {
            counters += server_wide(c);
        }
        let mut index = Default::default();
        for a in self.accounts.borrow().iter() {
            index += a.local.stats();
        }
        Totals {
            connections: clients.len(),
            total_connections: self.tally.total_connections.get(),
            counters,
            slow_consumers: self.tally.slow_consumers.get(),
            index,
        }
    }

    fn report(&self, ask: &Ask) -> ShardReport {
        let conns = if ask.conns {
            self.all_clients()
                .iter()
                .map(|c| self.conn_report(c, ask.conn_subs))
                .collect()
        } else {
            Vec::new()
        };
        let subs = match &ask.subs {
            None => Vec::new(),
            Some(q) => {
                let wanted = q.account.as_deref().map(|n| self.ctx().accounts.id(n));
                let mut subs = Vec::new();
                for c in self.all_clients() {
                    if wanted.is_some_and(|id| id != Some(c.account())) {
                        continue;
                    }
                    subs.extend(self.subs_of(&c).into_iter().filter(|s| {
                        q.test.as_deref().is_none_or(|t| {
                            subject::subject_matches_pattern(t.as_bytes(), s.subject.as_bytes())
                        })
                    }));
                }
                subs
            }
        };
        ShardReport {
            totals: self.totals(),
            conns,
            subs,
        }
    }
}

/// Answers the monitor's questions until the server stops.
pub(crate) async fn answer_loop(shard: Rc<Shard>, asked: Mailbox) {
    let mut asked = asked.0;
    while let Some(mail) = asked.recv().await {
        match mail {
            Asked::Report(ask, reply) => {
                let _ = reply.send(shard.report(&ask));
            }
            Asked::Reload(ctx, done) => {
                let _ = done.send(shard.take_config(ctx));
            }
            Asked::Trim(done) => {
                shard.trim();
                let _ = done.send(());
            }
        }
    }
}

/// A connection's counters as the server's totals count them: with the
/// headers of messages it got without them.
fn server_wide(c: &Client) -> Counters {
    let mut counters = c.counters();
    counters.out_bytes += c.headers_stripped();
    counters
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}
