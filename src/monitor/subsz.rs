//! `/subsz` (also `/subscriptionsz`): the subject indexes' figures and, on
//! request, the subscriptions, those a test subject would reach.

use std::time::SystemTime;

use serde::Serialize;

use super::connz::SubDetail;
use super::report::{Ask, SubsQuery};
use super::time::{go_float, rfc3339_nano};
use super::{totals, Request, Source};

pub struct Query {
    subs: bool,
    offset: usize,
    limit: usize,
    test: Option<String>,
    account: Option<String>,
}

impl Query {
    pub fn from(req: &Request) -> Result<Query, String> {
        let subs = req.bool("subs")?;
        let offset = req.int("offset")?;
        let limit = req.int("limit")?;
        let test = Some(req.get("test").to_string()).filter(|t| !t.is_empty());
        if let Some(t) = &test {
            if !crate::subject::is_valid_literal_subject(t.as_bytes()) {
                return Err(format!(
                    "invalid test subject, must be valid publish subject: {t}"
                ));
            }
        }
        Ok(Query {
            subs,
            offset: offset.max(0) as usize,
            limit: super::page_size(limit),
            test,
            account: Some(req.get("acc").to_string()).filter(|a| !a.is_empty()),
        })
    }
}

#[derive(Serialize)]
pub struct Subsz {
    server_id: String,
    now: String,
    num_subscriptions: usize,
    num_cache: usize,
    num_inserts: u64,
    num_removes: u64,
    num_matches: u64,
    #[serde(serialize_with = "go_float")]
    cache_hit_rate: f64,
    max_fanout: usize,
    #[serde(serialize_with = "go_float")]
    avg_fanout: f64,
    total: usize,
    offset: usize,
    limit: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    subscriptions_list: Option<Vec<SubDetail>>,
}

pub fn subsz(src: &dyn Source, q: &Query, now: SystemTime) -> Subsz {
    let ask = Ask {
        subs: q.subs.then(|| SubsQuery {
            test: q.test.clone(),
            account: q.account.clone(),
        }),
        ..Ask::default()
    };
    let reports = src.ask(&ask);
    let index = totals(&reports).index;
    let mut subs: Vec<_> = reports.iter().flat_map(|r| r.subs.iter()).collect();
    subs.sort_by(|a, b| (a.cid, &a.sid).cmp(&(b.cid, &b.sid)));
    let total = subs.len();
    let shown = super::page(total, q.offset, q.limit);
    let ratio = |a: f64, b: f64| if b > 0.0 { a / b } else { 0.0 };
    Subsz {
        server_id: src.ctx().server_id.clone(),
        now: rfc3339_nano(now),
        num_subscriptions: index.subscriptions,
        num_cache: index.cache_entries,
        num_inserts: index.inserts,
        num_removes: index.removes,
        num_matches: index.matches,
        cache_hit_rate: ratio(index.cache_hits as f64, index.matches as f64),
        max_fanout: index.max_fanout,
        avg_fanout: ratio(index.total_fanout as f64, index.cache_entries as f64),
        total,
        offset: q.offset,
        limit: q.limit,
        subscriptions_list: q.subs.then(|| {
            subs[shown.clone()]
                .iter()
                .map(|s| SubDetail::of(s, true))
                .collect()
        }),
    }
}
