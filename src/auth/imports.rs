//! Streams and services that cross accounts, as the configuration's
//! `exports` and `imports` set them (checked when it was read). Read-only
//! but for the table of responses owed to service requesters, which any
//! shard may need: the responder can be on another shard than the
//! requester. Only publishes in accounts that take part look here.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::Accounts;
use crate::config::options::{Options, ResponseType};
use crate::subject::transform::Transform;

/// How long a service's responses are let through when its export does
/// not say (nats-server's default response threshold).
pub const DEFAULT_RESPONSE_THRESHOLD: Duration = Duration::from_secs(120);
/// Reply subjects of requests handed to another account start so.
pub const RESPONSE_PREFIX: &[u8] = b"_R_.";
/// An imported message imported again, and so on, at most this many times
/// (the configuration refuses cycles; this bounds what it cannot see).
pub const MAX_HOPS: u8 = 8;

/// Where a message published in one account goes in another.
#[derive(Debug)]
pub struct Route {
    pub to_account: u32,
    transform: Transform,
    /// Services: how many responses, for how long.
    pub response: ResponseType,
    pub threshold: Duration,
    /// When the activation that opened it expires (JWT mode).
    until: Option<Instant>,
}

impl Route {
    /// The subject a message on `subject` gets there, when the route takes
    /// it (`now` is asked only of a route that expires).
    pub fn map(&self, subject: &[u8], now: impl FnOnce() -> Instant) -> Option<Vec<u8>> {
        if self.until.is_some_and(|until| now() >= until) {
            return None;
        }
        self.transform.apply(subject)
    }
}

/// A requester's reply subject behind a response subject.
#[derive(Debug)]
pub struct Owed {
    pub account: u32,
    pub reply: Box<[u8]>,
    singleton: bool,
    expires: Instant,
}

#[derive(Default, Debug)]
pub struct Imports {
    /// By account: the stream imports its publishes feed.
    streams: Vec<Vec<Route>>,
    /// By account: the service imports its clients' publishes may take.
    services: Vec<Vec<Route>>,
    /// By account: it exports a service, so a publish there on a response
    /// subject may answer a requester of another account.
    answers: Vec<bool>,
    /// By account: any of the three above, so the message path asks once.
    involved: Vec<bool>,
    responses: Mutex<HashMap<Box<[u8]>, Owed>>,
}

impl Imports {
    pub fn from_options(opts: &Options, accounts: &Accounts) -> Imports {
        let n = accounts.len();
        let mut imports = Imports {
            streams: (0..n).map(|_| Vec::new()).collect(),
            services: (0..n).map(|_| Vec::new()).collect(),
            answers: vec![false; n],
            ..Imports::default()
        };
        // The file's accounts, or in JWT mode the accounts' JWTs.
        let from_jwts = super::operator::accounts(opts);
        let all: Vec<&crate::config::options::Account> =
            opts.accounts.iter().chain(&from_jwts).collect();
        for acc in &all {
            let Some(importer) = accounts.id(&acc.name) else {
                continue;
            };
            for i in &acc.imports {
                let (Some(exporter), Some(from)) = (
                    accounts.id(&i.account),
                    all.iter().find(|a| a.name == i.account),
                ) else {
                    continue;
                };
                let (src, dst) = i.route();
                let Ok(transform) = Transform::new(&src, &dst) else {
                    continue;
                };
                let export = from.exports.iter().find(|x| {
                    x.service == i.service
                        && crate::subject::pattern_covers(
                            x.subject.as_bytes(),
                            i.subject.as_bytes(),
                        )
                });
                let route = |to_account| Route {
                    to_account,
                    transform,
                    response: export.map(|x| x.response).unwrap_or_default(),
                    threshold: export
                        .and_then(|x| x.threshold)
                        .unwrap_or(DEFAULT_RESPONSE_THRESHOLD),
                    until: i.until.map(super::jwt::instant_of),
                };
                if i.service {
                    imports.services[importer as usize].push(route(exporter));
                    imports.answers[exporter as usize] = true;
                } else {
                    imports.streams[exporter as usize].push(route(importer));
                }
            }
        }
        imports.involved = (0..n)
            .map(|a| {
                imports.answers[a]
                    || !imports.streams[a].is_empty()
                    || !imports.services[a].is_empty()
            })
            .collect();
        imports
    }

    /// Whether a publish in `account` may leave it: the message path's one
    /// check for accounts that take no part.
    #[inline]
    /// Whether any account takes part.
    pub fn any(&self) -> bool {
        self.involved.iter().any(|&i| i)
    }

    pub fn involve(&self, account: u32) -> bool {
        self.involved
            .get(account as usize)
            .copied()
            .unwrap_or(false)
    }

    pub fn streams(&self, account: u32) -> &[Route] {
        self.streams.get(account as usize).map_or(&[], |v| v)
    }

    pub fn services(&self, account: u32) -> &[Route] {
        self.services.get(account as usize).map_or(&[], |v| v)
    }

    /// After a reload (same accounts): the responses owed to requests in
    /// flight are still owed.
    pub fn carry_from(&mut self, old: &Imports) {
        let owed = std::mem::take(&mut *old.responses.lock().unwrap_or_else(|e| e.into_inner()));
        self.responses
            .get_mut()
            .unwrap_or_else(|e| e.into_inner())
            .extend(owed);
    }

    /// Remembers that responses on `token` go to `reply` in `account`.
    pub fn owe(&self, token: Box<[u8]>, account: u32, reply: &[u8], route: &Route, now: Instant) {
        let mut owed = self.responses.lock().unwrap_or_else(|e| e.into_inner());
        // Requests nobody answered are forgotten with their threshold.
        if owed.len() >= 1024 && owed.len().is_power_of_two() {
            owed.retain(|_, o| o.expires > now);
        }
        owed.insert(
            token,
            Owed {
                account,
                reply: reply.into(),
                singleton: route.response == ResponseType::Singleton,
                expires: now + route.threshold,
            },
        );
    }

    /// A publish in `account` on `subject`: the requester it answers, if
    /// it is a response owed (a singleton's only once).
    pub fn answer(
        &self,
        account: u32,
        subject: &[u8],
        now: impl FnOnce() -> Instant,
    ) -> Option<(u32, Box<[u8]>)> {
        if !self.answers.get(account as usize).copied().unwrap_or(false)
            || !subject.starts_with(RESPONSE_PREFIX)
        {
            return None;
        }
        let mut owed = self.responses.lock().unwrap_or_else(|e| e.into_inner());
        let o = owed.get(subject)?;
        if o.expires <= now() {
            owed.remove(subject);
            return None;
        }
        if o.singleton {
            let o = owed.remove(subject)?;
            return Some((o.account, o.reply));
        }
        Some((o.account, o.reply.clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reload_keeps_the_responses_owed() {
        let old = Imports::default();
        let owed = Owed {
            account: 1,
            reply: b"reply.1".as_slice().into(),
            singleton: true,
            expires: Instant::now() + std::time::Duration::from_secs(60),
        };
        old.responses
            .lock()
            .unwrap()
            .insert(b"_R_.abc".as_slice().into(), owed);
        let mut new = Imports::default();
        new.carry_from(&old);
        assert!(new
            .responses
            .lock()
            .unwrap()
            .contains_key(b"_R_.abc".as_slice()));
        assert!(old.responses.lock().unwrap().is_empty());
    }
}
