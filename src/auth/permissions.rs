//! What a user may publish and subscribe to: its `permissions` (or the
//! block's `default_permissions`), decided as nats-server decides them.
//!
//! Lists are short (a handful of rules per user), so a rule list is a plain
//! vector matched in order; what a connection publishes is remembered per
//! subject, so the message path pays for a rule walk once per subject.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::config::options;
use crate::subject::hash::FastHashBuilder;
use crate::subject::{
    has_wildcard, pattern_covers as covers, patterns_collide as collide, subject_matches_pattern,
};

/// A subject pattern, with a queue group for subscribe rules written
/// `"subject queue"`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Rule {
    subject: Box<[u8]>,
    queue: Option<Box<[u8]>>,
}

/// Allow and deny lists; an empty allow list allows everything, unless
/// `allow_none` (publish rules beside `allow_responses` and no allow list:
/// only replies may be published, as in nats-server).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Rules {
    allow: Vec<Rule>,
    deny: Vec<Rule>,
    allow_none: bool,
}

/// Which rules of a list match a subject, as nats-server's permission
/// sublists report it: plain rules and queue rules apart.
struct Matched<'a> {
    plain: bool,
    queues: Vec<&'a [u8]>,
}

impl Rules {
    fn from_config(p: &options::SubjectPermission) -> Rules {
        let rules = |list: &[String]| list.iter().map(|s| Rule::parse(s)).collect();
        Rules {
            allow: rules(&p.allow),
            deny: rules(&p.deny),
            allow_none: false,
        }
    }

    fn restricts(&self) -> bool {
        !self.allow.is_empty() || !self.deny.is_empty() || self.allow_none
    }

    /// A published subject: allowed by a plain rule of the allow list (if
    /// there is one) and by none of the deny list.
    fn allows_publish(&self, subject: &[u8]) -> bool {
        let hit = |r: &Rule| subject_matches_pattern(subject, &r.subject);
        let allowed = if self.allow.is_empty() {
            !self.allow_none
        } else {
            self.allow.iter().any(hit)
        };
        allowed && !self.deny.iter().any(hit)
    }

    /// A subscription: allowed when an allow rule covers every subject it
    /// can receive (`foo.*` by `foo.*` or `foo.>`, not by `foo.bar`), and no
    /// deny rule matches it taken token by token.
    fn allows_subscribe(&self, subject: &[u8], queue: Option<&[u8]>) -> bool {
        let mut allowed = true;
        if !self.allow.is_empty() {
            let m = matched(&self.allow, subject, covers);
            allowed = m.plain;
            // A queue named in the allow list decides for queue subscribers.
            if let Some(q) = queue.filter(|_| !m.queues.is_empty()) {
                allowed = queue_matches(q, &m.queues);
            }
        }
        if allowed && !self.deny.is_empty() {
            let m = matched(&self.deny, subject, |p, s| subject_matches_pattern(s, p));
            allowed = !m.plain;
            if let Some(q) = queue.filter(|_| allowed && !m.queues.is_empty()) {
                allowed = !queue_matches(q, &m.queues);
            }
        }
        allowed
    }
}

fn matched<'a>(
    rules: &'a [Rule],
    subject: &[u8],
    hit: impl Fn(&[u8], &[u8]) -> bool,
) -> Matched<'a> {
    let mut m = Matched {
        plain: false,
        queues: Vec::new(),
    };
    for r in rules.iter().filter(|r| hit(&r.subject, subject)) {
        match &r.queue {
            None => m.plain = true,
            Some(q) => m.queues.push(q),
        }
    }
    m
}

/// A queue rule names the group itself, or a pattern of group names.
fn queue_matches(queue: &[u8], rules: &[&[u8]]) -> bool {
    rules
        .iter()
        .any(|&r| r == queue || (has_wildcard(r) && subject_matches_pattern(queue, r)))
}

impl Rule {
    fn parse(s: &str) -> Rule {
        let mut parts = s.split_whitespace();
        let subject = parts.next().unwrap_or("").as_bytes().into();
        let queue = parts.next().map(|q| q.as_bytes().into());
        Rule { subject, queue }
    }
}

/// A user's permissions, shared by all its connections.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Permissions {
    publish: Option<Rules>,
    subscribe: Option<Rules>,
    /// `allow_responses`: the reply subjects of messages delivered may be
    /// published to, `max` times each, within `expires`.
    responses: Option<Responses>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Responses {
    max: usize,
    expires: Duration,
}

impl Permissions {
    /// `None` when the configuration restricts nothing.
    pub fn from_config(p: &options::Permissions) -> Option<Arc<Permissions>> {
        let keep = |sp: &Option<options::SubjectPermission>| {
            sp.as_ref().map(Rules::from_config).filter(Rules::restricts)
        };
        // Zero means nats-server's default for either.
        let responses = p.allow_responses.as_ref().map(|r| Responses {
            max: if r.max == 0 { 1 } else { r.max },
            expires: if r.expires.is_zero() {
                DEFAULT_RESPONSE_EXPIRY
            } else {
                r.expires
            },
        });
        let mut publish = keep(&p.publish);
        if responses.is_some() {
            // Without an allow list of its own, a responder may publish
            // replies only.
            let rules = publish.get_or_insert_with(Rules::default);
            rules.allow_none = rules.allow.is_empty();
        }
        let perms = Permissions {
            publish,
            subscribe: keep(&p.subscribe),
            responses,
        };
        (perms.publish.is_some() || perms.subscribe.is_some()).then(|| Arc::new(perms))
    }

    pub fn allows_responses(&self) -> bool {
        self.responses.is_some()
    }

    pub fn may_publish(&self, subject: &[u8]) -> bool {
        self.publish
            .as_ref()
            .is_none_or(|r| r.allows_publish(subject))
    }

    pub fn may_subscribe(&self, subject: &[u8], queue: Option<&[u8]>) -> bool {
        self.subscribe
            .as_ref()
            .is_none_or(|r| r.allows_subscribe(subject, queue))
    }
}

/// Subjects a connection's publish decisions are kept for, as nats-server
/// keeps them (past this, the memory is dropped and built again).
const CACHE_MAX: usize = 128;

/// One connection's view of its user's permissions, with the publish
/// decisions it has already made.
#[derive(Debug)]
pub struct ConnPermissions {
    perms: Arc<Permissions>,
    published: HashMap<Box<[u8]>, bool, FastHashBuilder>,
    /// The last subject decided, and how: publishers mostly repeat one.
    last: Vec<u8>,
    last_allowed: bool,
    /// With `allow_responses`: reply subjects of messages delivered, when
    /// each came and how often it was answered.
    replies: HashMap<Box<[u8]>, Reply, FastHashBuilder>,
    replies_since_prune: usize,
    /// Whose they are, for the log.
    user: String,
}

impl ConnPermissions {
    pub fn new(perms: Arc<Permissions>, user: String) -> ConnPermissions {
        ConnPermissions {
            perms,
            published: HashMap::with_hasher(FastHashBuilder::new()),
            last: Vec::new(),
            last_allowed: false,
            replies: HashMap::with_hasher(FastHashBuilder::new()),
            replies_since_prune: 0,
            user,
        }
    }

    pub fn user(&self) -> &str {
        &self.user
    }

    #[inline]
    pub fn may_publish(&mut self, subject: &[u8], now: impl FnOnce() -> Instant) -> bool {
        if self.perms.publish.is_none() {
            return true;
        }
        if self.static_decision(subject) {
            return true;
        }
        self.perms.responses.is_some() && self.answer(subject, now())
    }

    /// Whether the rules alone allow `subject` (decisions are kept).
    fn static_decision(&mut self, subject: &[u8]) -> bool {
        if !self.last.is_empty() && self.last == subject {
            return self.last_allowed;
        }
        let allowed = match self.published.get(subject) {
            Some(&allowed) => allowed,
            None => {
                let allowed = self.perms.may_publish(subject);
                if self.published.len() >= CACHE_MAX {
                    self.published.clear();
                }
                self.published.insert(subject.into(), allowed);
                allowed
            }
        };
        self.last.clear();
        self.last.extend_from_slice(subject);
        self.last_allowed = allowed;
        allowed
    }

    pub fn may_subscribe(&self, subject: &[u8], queue: Option<&[u8]>) -> bool {
        self.perms.may_subscribe(subject, queue)
    }

    /// Whether a new subscription needs its deliveries checked against the
    /// subscribe deny rules: a wildcard subject that can meet one, or a
    /// queue subscription (queue-qualified rules), as nats-server decides.
    pub fn filters(&self, subject: &[u8], queue: Option<&[u8]>) -> bool {
        let Some(rules) = &self.perms.subscribe else {
            return false;
        };
        (queue.is_some() || has_wildcard(subject))
            && rules.deny.iter().any(|r| collide(&r.subject, subject))
    }

    /// Whether a message on `subject` must not reach a filtered
    /// subscription (in `queue`, if any).
    pub fn denies_delivery(&self, subject: &[u8], queue: Option<&[u8]>) -> bool {
        let Some(rules) = &self.perms.subscribe else {
            return false;
        };
        let m = matched(&rules.deny, subject, |p, s| subject_matches_pattern(s, p));
        m.plain || queue.is_some_and(|q| !m.queues.is_empty() && queue_matches(q, &m.queues))
    }

    /// A message with reply subject `reply` was delivered: with
    /// `allow_responses`, the connection may now answer it (unless its
    /// rules let it publish there anyway).
    pub fn delivered_request(&mut self, reply: &[u8], now: Instant) {
        let Some(rules) = self.perms.responses else {
            return;
        };
        if self.static_decision(reply) {
            return;
        }
        self.replies.insert(
            reply.into(),
            Reply {
                at: now,
                answers: 0,
            },
        );
        self.replies_since_prune += 1;
        if self.replies_since_prune > REPLIES_PRUNE_AFTER {
            // Answered and expired ones go; the rest wait their turn.
            self.replies
                .retain(|_, r| r.answers < rules.max && !r.expired(rules, now));
            self.replies_since_prune = 0;
        }
    }

    /// A publish to a reply subject this connection was given.
    fn answer(&mut self, subject: &[u8], now: Instant) -> bool {
        let Some(rules) = self.perms.responses else {
            return false;
        };
        let Some(reply) = self.replies.get_mut(subject) else {
            return false;
        };
        reply.answers += 1;
        if reply.answers > rules.max || reply.expired(rules, now) {
            self.replies.remove(subject);
            return false;
        }
        true
    }
}

/// How long a reply may be answered when the configuration says 0.
const DEFAULT_RESPONSE_EXPIRY: Duration = Duration::from_secs(120);

/// Reply subjects delivered since the last prune before the map is pruned
/// (nats-server's limit).
const REPLIES_PRUNE_AFTER: usize = 4096;

#[derive(Debug, Clone, Copy)]
struct Reply {
    at: Instant,
    answers: usize,
}

impl Reply {
    fn expired(&self, rules: Responses, now: Instant) -> bool {
        now.duration_since(self.at) > rules.expires
    }
}

/// The `-ERR` text for a refused publish, as nats-server words it.
pub fn publish_violation(subject: &[u8]) -> String {
    format!("Permissions Violation for Publish to {}", quoted(subject))
}

/// The `-ERR` text for a refused subscription.
pub fn subscribe_violation(subject: &[u8], queue: Option<&[u8]>) -> String {
    match queue {
        Some(q) => format!(
            "Permissions Violation for Subscription to {} using queue {}",
            quoted(subject),
            quoted(q)
        ),
        None => format!(
            "Permissions Violation for Subscription to {}",
            quoted(subject)
        ),
    }
}

/// A subject in double quotes (the parser admits no whitespace or control
/// bytes in one, so only quotes and backslashes need escaping).
pub fn quoted(s: &[u8]) -> String {
    format!("{:?}", String::from_utf8_lossy(s))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn perms(publish: (&[&str], &[&str]), subscribe: (&[&str], &[&str])) -> Arc<Permissions> {
        let sp = |(allow, deny): (&[&str], &[&str])| {
            Some(options::SubjectPermission {
                allow: allow.iter().map(|s| s.to_string()).collect(),
                deny: deny.iter().map(|s| s.to_string()).collect(),
            })
        };
        Permissions::from_config(&options::Permissions {
            publish: sp(publish),
            subscribe: sp(subscribe),
            allow_responses: None,
        })
        .expect("restricts")
    }

    #[test]
    fn nothing_to_restrict_is_no_permissions() {
        assert_eq!(
            Permissions::from_config(&options::Permissions::default()),
            None
        );
        let empty = options::Permissions {
            publish: Some(Default::default()),
            subscribe: Some(Default::default()),
            allow_responses: None,
        };
        assert_eq!(Permissions::from_config(&empty), None);
    }

    #[test]
    fn publish_allow_then_deny() {
        let p = perms((&["orders.>", "status"], &["orders.secret.*"]), (&[], &[]));
        assert!(p.may_publish(b"orders.new"));
        assert!(p.may_publish(b"orders.a.b"));
        assert!(p.may_publish(b"status"));
        assert!(!p.may_publish(b"orders"), "> needs one token at least");
        assert!(!p.may_publish(b"orders.secret.x"));
        assert!(p.may_publish(b"orders.secret.x.y"), "* is one token");
        assert!(!p.may_publish(b"other"));
        let deny_only = perms((&[], &["admin.>"]), (&[], &[]));
        assert!(deny_only.may_publish(b"anything"));
        assert!(!deny_only.may_publish(b"admin.shutdown"));
        assert!(
            deny_only.may_subscribe(b"admin.>", None),
            "no subscribe rules"
        );
    }

    #[test]
    fn subscriptions_are_matched_token_by_token() {
        let p = perms((&[], &[]), (&["foo.*", "bar.>", "baz"], &[]));
        assert!(p.may_subscribe(b"foo.x", None));
        assert!(p.may_subscribe(b"foo.*", None));
        assert!(p.may_subscribe(b"bar.*.x", None));
        assert!(p.may_subscribe(b"bar.>", None));
        assert!(!p.may_subscribe(b"foo.>", None), "* does not cover >");
        assert!(!p.may_subscribe(b"foo", None));
        assert!(!p.may_subscribe(b"foo.x.y", None));
        assert!(!p.may_subscribe(b">", None));
        assert!(!p.may_subscribe(b"baz.x", None));
        assert!(!p.may_subscribe(b"*", None));
        assert!(
            p.may_subscribe(b"baz", Some(b"any")),
            "a plain rule admits any queue"
        );
    }

    #[test]
    fn queue_rules_decide_for_queue_subscribers() {
        let p = perms(
            (&[], &[]),
            (&["jobs.> workers", "jobs.> w.*", "events.>"], &[]),
        );
        assert!(p.may_subscribe(b"jobs.a", Some(b"workers")));
        assert!(
            p.may_subscribe(b"jobs.a", Some(b"w.east")),
            "a queue pattern"
        );
        assert!(!p.may_subscribe(b"jobs.a", Some(b"thieves")));
        assert!(
            !p.may_subscribe(b"jobs.a", None),
            "a queue rule is not a plain one"
        );
        assert!(p.may_subscribe(b"events.x", Some(b"anyone")));
        let deny = perms((&[], &[]), (&["jobs.>"], &["jobs.> thieves"]));
        assert!(deny.may_subscribe(b"jobs.a", Some(b"workers")));
        assert!(!deny.may_subscribe(b"jobs.a", Some(b"thieves")));
        assert!(deny.may_subscribe(b"jobs.a", None));
    }

    #[test]
    fn the_publish_cache_stays_bounded_and_right() {
        let mut c = ConnPermissions::new(perms((&["ok.>"], &[]), (&[], &[])), "u".into());
        for i in 0..1000 {
            let ok = format!("ok.{i}");
            let no = format!("no.{i}");
            assert!(c.may_publish(ok.as_bytes(), Instant::now));
            assert!(!c.may_publish(no.as_bytes(), Instant::now));
            assert!(c.published.len() <= CACHE_MAX);
        }
        assert!(c.may_publish(b"ok.1", Instant::now));
        assert!(!c.may_publish(b"no.1", Instant::now));
        // The same subject twice in a row, either way.
        for _ in 0..2 {
            assert!(!c.may_publish(b"no.1", Instant::now));
        }
        for _ in 0..2 {
            assert!(c.may_publish(b"ok.1", Instant::now));
        }
    }

    #[test]
    fn responses_are_allowed_once_each_within_their_time() {
        let config = |max, expires| options::Permissions {
            subscribe: Some(options::SubjectPermission {
                allow: vec!["svc".into()],
                deny: vec![],
            }),
            allow_responses: Some(options::ResponsePermission { max, expires }),
            ..Default::default()
        };
        let t0 = Instant::now();
        let at = |ms| t0 + Duration::from_millis(ms);
        let perms = Permissions::from_config(&config(1, Duration::from_secs(1))).unwrap();
        let mut c = ConnPermissions::new(perms, "r".into());
        assert!(!c.may_publish(b"_INBOX.a", || at(0)), "no request yet");
        assert!(!c.may_publish(b"anything", || at(0)), "replies only");
        c.delivered_request(b"_INBOX.a", at(0));
        c.delivered_request(b"_INBOX.b", at(0));
        assert!(c.may_publish(b"_INBOX.a", || at(10)));
        assert!(!c.may_publish(b"_INBOX.a", || at(20)), "one answer");
        assert!(!c.may_publish(b"_INBOX.b", || at(1001)), "expired");
        // 0 is nats-server's default: two minutes.
        let perms = Permissions::from_config(&config(2, Duration::ZERO)).unwrap();
        let mut c = ConnPermissions::new(perms, "r".into());
        c.delivered_request(b"_INBOX.c", at(0));
        assert!(c.may_publish(b"_INBOX.c", || at(1)));
        assert!(c.may_publish(b"_INBOX.c", || at(119_000)));
        assert!(!c.may_publish(b"_INBOX.c", || at(119_001)), "two answers");
        c.delivered_request(b"_INBOX.d", at(0));
        assert!(!c.may_publish(b"_INBOX.d", || at(120_001)), "two minutes");
        // Requests never answered go once expired.
        for i in 0..10_000 {
            c.delivered_request(format!("_INBOX.{i}").as_bytes(), at(0));
        }
        for i in 0..REPLIES_PRUNE_AFTER + 1 {
            c.delivered_request(format!("_INBOX.late.{i}").as_bytes(), at(121_000));
        }
        assert!(
            c.replies.len() <= REPLIES_PRUNE_AFTER + 1,
            "{}",
            c.replies.len()
        );
    }

    #[test]
    fn wildcard_subscriptions_meeting_a_deny_rule_are_filtered() {
        let p = perms((&[], &[]), (&[">"], &["secret.*", "jobs.> thieves"]));
        let c = ConnPermissions::new(p, "u".into());
        assert!(!c.may_subscribe(b"secret.x", None));
        assert!(
            !c.may_subscribe(b"secret.>", None),
            "a deny rule's * takes a > token"
        );
        assert!(
            c.may_subscribe(b"*.x", None),
            "matched as tokens, then filtered"
        );
        assert!(c.filters(b"*.x", None));
        assert!(!c.filters(b"public.*", None), "cannot meet a deny rule");
        assert!(!c.filters(b"secret.x.y", None), "no wildcard, no queue");
        assert!(
            c.filters(b"jobs.a", Some(b"workers")),
            "a queue rule may apply"
        );
        assert!(c.denies_delivery(b"secret.x", None));
        assert!(!c.denies_delivery(b"secret.x.y", None));
        assert!(c.denies_delivery(b"jobs.a", Some(b"thieves")));
        assert!(!c.denies_delivery(b"jobs.a", Some(b"workers")));
        assert!(!c.denies_delivery(b"jobs.a", None));
        for (a, b, meet) in [
            ("a.*", "a.b", true),
            ("a.>", "a", false),
            ("a.>", "a.b.c", true),
            ("*.b", "a.*", true),
            ("a.b", "a.c", false),
            ("a.*", "a.b.c", false),
            (">", "x", true),
        ] {
            assert_eq!(collide(a.as_bytes(), b.as_bytes()), meet, "{a} {b}");
            assert_eq!(collide(b.as_bytes(), a.as_bytes()), meet, "{b} {a}");
        }
    }

    #[test]
    fn violation_texts_are_nats_servers() {
        assert_eq!(
            publish_violation(b"foo.bar"),
            r#"Permissions Violation for Publish to "foo.bar""#
        );
        assert_eq!(
            subscribe_violation(b"foo.*", None),
            r#"Permissions Violation for Subscription to "foo.*""#
        );
        assert_eq!(
            subscribe_violation(b"foo", Some(b"q")),
            r#"Permissions Violation for Subscription to "foo" using queue "q""#
        );
    }
}
