//! What a shard reports when monitoring asks: its totals, and on request
//! its connections and subscriptions, each as plain data the endpoints
//! turn into nats-server's JSON. The shards fill these on their own
//! threads; nothing here is shared.

use std::net::SocketAddr;
use std::time::{Duration, SystemTime};

use crate::conn::{About, Counters};
use crate::subject::SubjectIndexStats;

/// What monitoring asks every shard for.
#[derive(Clone, Debug, Default)]
pub struct Ask {
    /// Its open connections.
    pub conns: bool,
    /// With each connection's subscriptions.
    pub conn_subs: bool,
    /// Its subscriptions, those `test` would reach when given (a literal
    /// subject), in the account named `account` when given.
    pub subs: Option<SubsQuery>,
}

#[derive(Clone, Debug, Default)]
pub struct SubsQuery {
    pub test: Option<String>,
    pub account: Option<String>,
}

/// One connection, open or closed.
#[derive(Clone, Debug)]
pub struct ConnReport {
    pub cid: u64,
    pub websocket: bool,
    pub addr: SocketAddr,
    pub start: SystemTime,
    pub last_activity: SystemTime,
    /// When and why it closed (closed connections only).
    pub stop: Option<(SystemTime, &'static str)>,
    pub rtt: Duration,
    pub pending: usize,
    pub counters: Counters,
    pub subscriptions: usize,
    pub about: About,
    pub account: String,
    /// Its subscriptions, when asked for (always kept for closed ones).
    pub subs: Vec<SubReport>,
}

/// One subscription.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SubReport {
    pub account: String,
    pub subject: String,
    pub queue: Option<String>,
    pub sid: String,
    pub msgs: u64,
    pub max: Option<u64>,
    pub cid: u64,
}

/// A shard's totals: the connections it holds, and the counters of those
/// and of every connection it held before.
#[derive(Clone, Copy, Debug, Default)]
pub struct Totals {
    pub connections: usize,
    pub total_connections: u64,
    pub counters: Counters,
    pub slow_consumers: u64,
    /// Its subject indexes' figures, summed over the accounts.
    pub index: SubjectIndexStats,
}

impl std::ops::AddAssign for Totals {
    fn add_assign(&mut self, o: Totals) {
        self.connections += o.connections;
        self.total_connections += o.total_connections;
        self.counters += o.counters;
        self.slow_consumers += o.slow_consumers;
        self.index += o.index;
    }
}

/// One shard's answer.
#[derive(Debug, Default)]
pub struct ShardReport {
    pub totals: Totals,
    pub conns: Vec<ConnReport>,
    pub subs: Vec<SubReport>,
}

/// A wall-clock time for an `Instant` of this process, by one fixed
/// pairing of the two clocks (so the same instant always reads the same).
pub fn wall_time(at: std::time::Instant) -> SystemTime {
    static BASE: std::sync::OnceLock<(std::time::Instant, SystemTime)> = std::sync::OnceLock::new();
    let (instant, wall) = *BASE.get_or_init(|| (std::time::Instant::now(), SystemTime::now()));
    if at >= instant {
        wall + (at - instant)
    } else {
        wall - (instant - at)
    }
}
