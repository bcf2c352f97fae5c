//! One connection's subscriptions: by key (what the shard's subject index
//! stores) and by sid (what the client names), kept in step. No IO.

use std::collections::HashMap;

use slab::Slab;

use crate::protocol::ProtocolError;
use crate::subject;

pub struct Sub {
    pub sid: Box<[u8]>,
    pub subject: Box<[u8]>,
    pub queue: Option<Box<[u8]>>,
    /// Auto-unsubscribe after this many deliveries (UNSUB sid max).
    max: Option<u64>,
    delivered: u64,
    /// Its subject or queue may meet its user's subscribe deny rules:
    /// each message is checked against them before it is written.
    filtered: bool,
}

impl Sub {
    /// Messages delivered to it so far.
    pub fn delivered(&self) -> u64 {
        self.delivered
    }

    /// Its auto-unsubscribe limit (UNSUB sid max).
    pub fn max(&self) -> Option<u64> {
        self.max
    }
}

/// What a SUB did to the table.
#[derive(Debug, PartialEq, Eq)]
pub enum Added {
    /// A new subscription under this key.
    New(usize),
    /// The sid is taken: nats-server ignores the SUB.
    SidTaken,
}

/// Deliveries written for one subscription.
pub struct Delivered {
    pub count: usize,
    /// The subscription reached its auto-unsubscribe limit.
    pub expired: bool,
}

#[derive(Default)]
pub struct Subs {
    slab: Slab<Sub>,
    by_sid: HashMap<Box<[u8]>, usize>,
}

impl Subs {
    pub fn len(&self) -> usize {
        self.slab.len()
    }

    pub fn is_empty(&self) -> bool {
        self.slab.is_empty()
    }

    pub fn get(&self, key: usize) -> Option<&Sub> {
        self.slab.get(key)
    }

    /// Every subscription, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = &Sub> {
        self.slab.iter().map(|(_, s)| s)
    }

    /// SUB: checked in nats-server's order, the limit (`limit`, 0: none),
    /// then a taken sid, then the subject (so a SUB at the limit is refused
    /// even if its sid is taken, and a taken sid is ignored even with a bad
    /// subject).
    pub fn add(
        &mut self,
        sid: &[u8],
        subject: &[u8],
        queue: Option<&[u8]>,
        limit: usize,
    ) -> Result<Added, ProtocolError> {
        if limit > 0 && self.slab.len() >= limit {
            return Err(ProtocolError::MaxSubscriptions);
        }
        if self.by_sid.contains_key(sid) {
            return Ok(Added::SidTaken);
        }
        if !subject::is_valid_subject(subject)
            || queue.is_some_and(|q| !subject::is_valid_queue_name(q))
        {
            return Err(ProtocolError::InvalidSubject);
        }
        let key = self.slab.insert(Sub {
            sid: sid.into(),
            subject: subject.into(),
            queue: queue.map(Into::into),
            max: None,
            delivered: 0,
            filtered: false,
        });
        self.by_sid.insert(sid.into(), key);
        Ok(Added::New(key))
    }

    /// UNSUB `sid` [`max`]: the key to remove now, or `None` when the sid
    /// is unknown or the subscription stays until `max` deliveries in all.
    pub fn unsubscribe(&mut self, sid: &[u8], max: Option<u64>) -> Option<usize> {
        let &key = self.by_sid.get(sid)?;
        if let Some(max) = max.filter(|&m| m > 0) {
            let sub = &mut self.slab[key];
            if sub.delivered < max {
                sub.max = Some(max);
                return None;
            }
        }
        Some(key)
    }

    pub fn remove(&mut self, key: usize) -> Option<Sub> {
        let sub = self.slab.try_remove(key)?;
        self.by_sid.remove(&sub.sid);
        Some(sub)
    }

    pub fn keys(&self) -> Vec<usize> {
        self.slab.iter().map(|(k, _)| k).collect()
    }

    /// The sid of a subscription whose subject matches `subject`.
    pub fn sid_matching(&self, subject: &[u8]) -> Option<&[u8]> {
        self.slab
            .iter()
            .find(|(_, s)| subject::subject_matches_pattern(subject, &s.subject))
            .map(|(_, s)| &s.sid[..])
    }

    /// Whether deliveries to subscription `key` are checked against its
    /// user's deny rules.
    pub fn set_filtered(&mut self, key: usize, filtered: bool) {
        if let Some(s) = self.slab.get_mut(key) {
            s.filtered = filtered;
        }
    }

    /// Up to `available` deliveries to subscription `key` (fewer when its
    /// auto-unsubscribe limit comes first), written by `write(sid, n)`;
    /// none when it is filtered and `denied(queue)` says so. `None`: no
    /// such subscription.
    #[inline(always)]
    pub fn deliver(
        &mut self,
        key: usize,
        available: usize,
        denied: impl FnOnce(Option<&[u8]>) -> bool,
        write: impl FnOnce(&[u8], usize),
    ) -> Option<Delivered> {
        let s = self.slab.get_mut(key)?;
        if s.filtered && denied(s.queue.as_deref()) {
            return Some(Delivered {
                count: 0,
                expired: false,
            });
        }
        let count = match s.max {
            Some(max) => available.min(max.saturating_sub(s.delivered) as usize),
            None => available,
        };
        write(&s.sid, count);
        s.delivered += count as u64;
        Some(Delivered {
            count,
            expired: s.max.is_some_and(|m| s.delivered >= m),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checks_come_in_nats_servers_order() {
        let mut subs = Subs::default();
        assert_eq!(subs.add(b"1", b"a", None, 1), Ok(Added::New(0)));
        // At the limit: refused, even with a taken sid.
        assert_eq!(
            subs.add(b"1", b"a", None, 1),
            Err(ProtocolError::MaxSubscriptions)
        );
        // A taken sid is ignored before the subject is looked at.
        assert_eq!(subs.add(b"1", b"bad subject", None, 0), Ok(Added::SidTaken));
        assert_eq!(
            subs.add(b"2", b"a..b", None, 0),
            Err(ProtocolError::InvalidSubject)
        );
        assert_eq!(
            subs.add(b"2", b"a", Some(b"q q"), 0),
            Err(ProtocolError::InvalidSubject)
        );
        assert_eq!(subs.len(), 1);
    }

    #[test]
    fn auto_unsubscribe_counts_deliveries() {
        let mut subs = Subs::default();
        let Ok(Added::New(key)) = subs.add(b"7", b"s", None, 0) else {
            panic!()
        };
        assert_eq!(subs.unsubscribe(b"7", Some(3)), None, "stays for 3");
        let mut sids = Vec::new();
        let d = subs
            .deliver(key, 2, |_| false, |sid, n| sids.push((sid.to_vec(), n)))
            .unwrap();
        assert_eq!((d.count, d.expired), (2, false));
        let d = subs
            .deliver(key, 5, |_| false, |sid, n| sids.push((sid.to_vec(), n)))
            .unwrap();
        assert_eq!((d.count, d.expired), (1, true), "only one more is owed");
        assert_eq!(sids, [(b"7".to_vec(), 2), (b"7".to_vec(), 1)]);
        // Already past the max: removed now.
        assert_eq!(subs.unsubscribe(b"7", Some(2)), Some(key));
        assert_eq!(subs.remove(key).map(|s| s.sid), Some(b"7"[..].into()));
        assert!(subs.is_empty());
        assert_eq!(subs.unsubscribe(b"7", None), None, "gone from both maps");
    }

    #[test]
    fn finds_the_subscription_a_reply_subject_matches() {
        let mut subs = Subs::default();
        subs.add(b"1", b"a.b", None, 0).unwrap();
        subs.add(b"2", b"_INBOX.*", None, 0).unwrap();
        assert_eq!(subs.sid_matching(b"_INBOX.x"), Some(&b"2"[..]));
        assert_eq!(subs.sid_matching(b"c"), None);
    }
}
