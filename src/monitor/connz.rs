//! `/connz`: the connections, open and closed, filtered, sorted and paged
//! as nats-server does it, with its keys and its error texts.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use serde::Serialize;

use super::report::{Ask, ConnReport, SubReport};
use super::time::{go_duration, rfc3339_nano, uptime};
use super::{Request, Source};
use crate::auth::GLOBAL_ACCOUNT;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    Open,
    Closed,
    All,
}

/// How the connections are ordered: by cid ascending, by uptime
/// ascending, by reason alphabetically, by anything else descending.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sort {
    Cid,
    Subs,
    Pending,
    MsgsTo,
    MsgsFrom,
    BytesTo,
    BytesFrom,
    Last,
    Idle,
    Uptime,
    Stop,
    Reason,
    Rtt,
}

impl Sort {
    fn parse(s: &str) -> Option<Sort> {
        Some(match s {
            "" | "cid" | "start" => Sort::Cid,
            "subs" => Sort::Subs,
            "pending" => Sort::Pending,
            "msgs_to" => Sort::MsgsTo,
            "msgs_from" => Sort::MsgsFrom,
            "bytes_to" => Sort::BytesTo,
            "bytes_from" => Sort::BytesFrom,
            "last" => Sort::Last,
            "idle" => Sort::Idle,
            "uptime" => Sort::Uptime,
            "stop" => Sort::Stop,
            "reason" => Sort::Reason,
            "rtt" => Sort::Rtt,
            _ => return None,
        })
    }
}

/// Subscriptions shown with each connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Subs {
    None,
    List,
    Detail,
}

/// `/connz`'s parameters.
#[derive(Debug)]
pub struct Query {
    sort: Sort,
    auth: bool,
    subs: Subs,
    offset: usize,
    limit: usize,
    cid: u64,
    state: State,
    user: String,
    account: String,
}

impl Query {
    /// The parameters, or the 400's text nats-server gives for a bad one.
    pub fn from(req: &Request) -> Result<Query, String> {
        let auth = req.bool("auth")?;
        let subs = if req.get("subs").eq_ignore_ascii_case("detail") {
            Subs::Detail
        } else if req.bool("subs")? {
            Subs::List
        } else {
            Subs::None
        };
        let offset = req.int("offset")?;
        let limit = req.int("limit")?;
        let cid = req.uint("cid")?;
        let state = match req.get("state").to_ascii_lowercase().as_str() {
            "" | "open" => State::Open,
            "closed" => State::Closed,
            "any" | "all" => State::All,
            _ => return Err(format!("Error decoding state for {}", req.get("state"))),
        };
        let sort_name = req.get("sort");
        let sort =
            Sort::parse(sort_name).ok_or_else(|| format!("invalid sorting option: {sort_name}"))?;
        Ok(Query {
            sort,
            auth,
            subs,
            offset: offset.max(0) as usize,
            limit: super::page_size(limit),
            cid,
            state,
            user: req.get("user").to_string(),
            account: req.get("acc").to_string(),
        })
    }
}

#[derive(Serialize)]
pub struct Connz {
    server_id: String,
    now: String,
    num_connections: usize,
    total: usize,
    offset: usize,
    limit: usize,
    connections: Vec<ConnInfo>,
}

#[derive(Serialize)]
struct ConnInfo {
    cid: u64,
    kind: &'static str,
    #[serde(rename = "type")]
    kind_type: &'static str,
    ip: String,
    port: u16,
    start: String,
    last_activity: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    stop: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    rtt: Option<String>,
    uptime: String,
    idle: String,
    pending_bytes: usize,
    in_msgs: u64,
    out_msgs: u64,
    in_bytes: u64,
    out_bytes: u64,
    subscriptions: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    lang: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    version: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tls_version: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tls_cipher_suite: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    authorized_user: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    account: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    subscriptions_list: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    subscriptions_list_detail: Vec<SubDetail>,
}

/// A subscription as `/connz?subs=detail` and `/subsz?subs=1` show it.
#[derive(Serialize)]
pub(super) struct SubDetail {
    #[serde(skip_serializing_if = "Option::is_none")]
    account: Option<String>,
    subject: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    qgroup: Option<String>,
    sid: String,
    msgs: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    max: Option<u64>,
    cid: u64,
}

impl SubDetail {
    /// `with_account`: for `/subsz`, which names each one's account.
    pub(super) fn of(s: &SubReport, with_account: bool) -> SubDetail {
        SubDetail {
            account: with_account.then(|| s.account.clone()),
            subject: s.subject.clone(),
            qgroup: s.queue.clone(),
            sid: s.sid.clone(),
            msgs: s.msgs,
            max: s.max,
            cid: s.cid,
        }
    }
}

pub fn connz(src: &dyn Source, q: &Query, now: SystemTime) -> Result<Connz, String> {
    if q.sort == Sort::Stop && q.state != State::Closed {
        return Err("sort by stop only valid on closed connections".into());
    }
    if q.sort == Sort::Reason && q.state != State::Closed {
        return Err("sort by reason only valid on closed connections".into());
    }
    let mut conns: Vec<Arc<ConnReport>> = Vec::new();
    if q.state != State::Closed {
        let ask = Ask {
            conns: true,
            conn_subs: q.subs != Subs::None,
            subs: None,
        };
        for r in src.ask(&ask) {
            conns.extend(r.conns.into_iter().map(Arc::new));
        }
    }
    if q.state != State::Open {
        conns.extend(src.closed());
    }
    // The total counts the account's connections, before the user and
    // cid filters, as nats-server's does.
    conns.retain(|c| q.account.is_empty() || c.account == q.account);
    let total = conns.len();
    conns.retain(|c| q.user.is_empty() || c.about.user.as_deref() == Some(q.user.as_str()));
    if q.cid > 0 {
        // An open connection first, else the closed one with that cid.
        conns.retain(|c| c.cid == q.cid);
        conns.sort_by_key(|c| c.stop.is_some());
        conns.truncate(1);
    }
    sort(&mut conns, q.sort, now);
    let limit = if q.cid > 0 { 1 } else { q.limit };
    let shown = super::page(conns.len(), q.offset, limit);
    let connections: Vec<ConnInfo> = conns[shown].iter().map(|c| info(c, q, now)).collect();
    Ok(Connz {
        server_id: src.ctx().server_id.clone(),
        now: rfc3339_nano(now),
        num_connections: connections.len(),
        total,
        offset: q.offset,
        limit,
        connections,
    })
}

fn sort(conns: &mut [Arc<ConnReport>], by: Sort, now: SystemTime) {
    let age = |c: &ConnReport, since: SystemTime| {
        c.stop
            .map_or(now, |(stop, _)| stop)
            .duration_since(since)
            .unwrap_or_default()
    };
    match by {
        Sort::Cid => conns.sort_by_key(|c| c.cid),
        Sort::Subs => conns.sort_by_key(|c| std::cmp::Reverse(c.subscriptions)),
        Sort::Pending => conns.sort_by_key(|c| std::cmp::Reverse(c.pending)),
        Sort::MsgsTo => conns.sort_by_key(|c| std::cmp::Reverse(c.counters.out_msgs)),
        Sort::MsgsFrom => conns.sort_by_key(|c| std::cmp::Reverse(c.counters.in_msgs)),
        Sort::BytesTo => conns.sort_by_key(|c| std::cmp::Reverse(c.counters.out_bytes)),
        Sort::BytesFrom => conns.sort_by_key(|c| std::cmp::Reverse(c.counters.in_bytes)),
        Sort::Last => conns.sort_by_key(|c| std::cmp::Reverse(c.last_activity)),
        Sort::Idle => conns.sort_by_key(|c| {
            std::cmp::Reverse(now.duration_since(c.last_activity).unwrap_or_default())
        }),
        Sort::Uptime => conns.sort_by_key(|c| age(c, c.start)),
        Sort::Stop => conns.sort_by_key(|c| std::cmp::Reverse(c.stop.map(|(s, _)| s))),
        Sort::Reason => conns.sort_by_key(|c| c.stop.map(|(_, r)| r)),
        Sort::Rtt => conns.sort_by_key(|c| std::cmp::Reverse(c.rtt)),
    }
}

fn info(c: &ConnReport, q: &Query, now: SystemTime) -> ConnInfo {
    let end = c.stop.map_or(now, |(s, _)| s);
    let since = |t: SystemTime| end.duration_since(t).unwrap_or(Duration::ZERO);
    let (list, detail) = match q.subs {
        Subs::None => (Vec::new(), Vec::new()),
        Subs::List => (
            c.subs.iter().map(|s| s.subject.clone()).collect(),
            Vec::new(),
        ),
        Subs::Detail => (
            Vec::new(),
            c.subs.iter().map(|s| SubDetail::of(s, false)).collect(),
        ),
    };
    let tls = c.about.tls;
    ConnInfo {
        cid: c.cid,
        kind: "Client",
        kind_type: if c.websocket { "websocket" } else { "nats" },
        ip: c.addr.ip().to_string(),
        port: c.addr.port(),
        start: rfc3339_nano(c.start),
        last_activity: rfc3339_nano(c.last_activity),
        stop: c.stop.map(|(s, _)| rfc3339_nano(s)),
        reason: c.stop.map(|(_, r)| r),
        rtt: Some(go_duration(rtt_shown(c.rtt))),
        uptime: uptime(since(c.start)),
        idle: uptime(since(c.last_activity)),
        pending_bytes: c.pending,
        in_msgs: c.counters.in_msgs,
        out_msgs: c.counters.out_msgs,
        in_bytes: c.counters.in_bytes,
        out_bytes: c.counters.out_bytes,
        subscriptions: c.subscriptions,
        name: c.about.name.clone().filter(|s| !s.is_empty()),
        lang: c.about.lang.clone().filter(|s| !s.is_empty()),
        version: c.about.version.clone().filter(|s| !s.is_empty()),
        tls_version: tls.map(|t| t.version),
        tls_cipher_suite: tls.map(|t| t.cipher),
        authorized_user: q.auth.then(|| c.about.user.clone()).flatten(),
        account: (q.auth && c.account != GLOBAL_ACCOUNT).then(|| c.account.clone()),
        subscriptions_list: list,
        subscriptions_list_detail: detail,
    }
}

/// nats-server shows the round trip to the microsecond under a
/// millisecond, to the nanosecond otherwise.
fn rtt_shown(rtt: Duration) -> Duration {
    if rtt > Duration::from_micros(1) && rtt < Duration::from_millis(1) {
        Duration::from_micros(rtt.as_micros() as u64)
    } else {
        rtt
    }
}
