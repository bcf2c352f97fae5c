//! The subject index: a trie over subject tokens with `*` and `>` branches,
//! holding plain and queue subscriptions, fronted by a bounded cache of match
//! results keyed by published subject.
//!
//! Nodes live in an arena (`Vec`) addressed by `u32`, with a free list; a
//! node emptied by a removal is unlinked and its slot reused, and the arena is
//! released when the index becomes empty.
//!
//! Cache (as nats-server's): up to `capacity` results keyed by literal
//! subject (1024 by default). When a miss pushes it past that, random entries
//! are dropped down to half the capacity. An insert adds the new value to the
//! cached results its subject matches (a direct lookup for a literal subject,
//! a scan of the cache for a wildcard); a removal takes the value out of the
//! small cached results it matched and drops the large ones. Cached results
//! are `Rc`s and copy-on-write: a result a caller still holds never changes.

use std::collections::HashMap;
use std::fmt;
use std::hash::Hash;
use std::rc::Rc;

use super::hash::FastHashBuilder;
use super::pattern::{split_token, subject_matches_pattern};
use super::validate::{has_no_empty_tokens, has_wildcard, is_valid_queue_name, is_valid_subject};
use super::SubjectError;

/// Default bound on cached match results (nats-server's `slCacheMax`).
pub const DEFAULT_CACHE_CAPACITY: usize = 1024;

/// Marks an absent `*`/`>` child.
const NONE: u32 = u32::MAX;
/// The root node: holds the first-level children, never subscriptions.
const ROOT: u32 = 0;
/// A node's plain subscriptions get a hash index beyond this many members,
/// so removing one of many stays O(1).
const INDEX_MIN: usize = 16;
/// On removal, cached results with more entries than this are dropped rather
/// than edited (editing is a linear scan; dropping costs one trie walk).
const CACHE_EDIT_MAX: usize = 64;

/// One queue group in a [`MatchResult`]: every member of the group, across
/// all the matching subscription subjects. Deliver to one of them (see
/// [`super::queue`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueueGroup<T> {
    /// The queue group name.
    pub name: Rc<[u8]>,
    /// The subscriptions of the group that match; never empty.
    pub members: Vec<T>,
}

/// The subscriptions matching a published subject.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MatchResult<T> {
    /// Plain subscriptions: deliver to each.
    pub plain: Vec<T>,
    /// One entry per distinct queue group name.
    pub queues: Vec<QueueGroup<T>>,
}

impl<T> Default for MatchResult<T> {
    fn default() -> Self {
        Self {
            plain: Vec::new(),
            queues: Vec::new(),
        }
    }
}

impl<T> MatchResult<T> {
    /// No plain subscription and no queue group.
    pub fn is_empty(&self) -> bool {
        self.plain.is_empty() && self.queues.is_empty()
    }

    /// Plain subscriptions plus queue members.
    pub fn len(&self) -> usize {
        self.plain.len() + self.queues.iter().map(|g| g.members.len()).sum::<usize>()
    }

    /// The group with this name, if it matched.
    pub fn queue(&self, name: &[u8]) -> Option<&QueueGroup<T>> {
        self.queues.iter().find(|g| &*g.name == name)
    }
}

impl<T: Copy + Eq> MatchResult<T> {
    fn add(&mut self, queue: Option<&Rc<[u8]>>, value: T) {
        match queue {
            None => self.plain.push(value),
            Some(name) => match self.queues.iter_mut().find(|g| g.name == *name) {
                Some(g) => g.members.push(value),
                None => self.queues.push(QueueGroup {
                    name: Rc::clone(name),
                    members: vec![value],
                }),
            },
        }
    }

    /// Removes one occurrence; false if there was none.
    fn remove(&mut self, queue: Option<&[u8]>, value: T) -> bool {
        match queue {
            None => match self.plain.iter().position(|&v| v == value) {
                Some(i) => {
                    self.plain.swap_remove(i);
                    true
                }
                None => false,
            },
            Some(name) => {
                let Some(gi) = self.queues.iter().position(|g| &*g.name == name) else {
                    return false;
                };
                let g = &mut self.queues[gi];
                let Some(i) = g.members.iter().position(|&v| v == value) else {
                    return false;
                };
                g.members.swap_remove(i);
                if g.members.is_empty() {
                    self.queues.swap_remove(gi);
                }
                true
            }
        }
    }
}

/// Counters and sizes, for monitoring.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SubjectIndexStats {
    /// Stored subscriptions ([`SubjectIndex::count`]).
    pub subscriptions: usize,
    /// Trie nodes ([`SubjectIndex::node_count`]).
    pub nodes: usize,
    /// Cached match results.
    pub cache_entries: usize,
    /// Successful inserts since creation.
    pub inserts: u64,
    /// Successful removals since creation.
    pub removes: u64,
    /// Calls to [`SubjectIndex::matches`].
    pub matches: u64,
    /// Of those, answered from the cache.
    pub cache_hits: u64,
    /// Over the cached results: the most subscriptions and queue groups
    /// one holds, and their sum (nats-server's fanout figures).
    pub max_fanout: usize,
    pub total_fanout: usize,
}

impl std::ops::AddAssign for SubjectIndexStats {
    /// Sums two indexes' figures (the larger of the two fanouts).
    fn add_assign(&mut self, o: SubjectIndexStats) {
        self.subscriptions += o.subscriptions;
        self.nodes += o.nodes;
        self.cache_entries += o.cache_entries;
        self.inserts += o.inserts;
        self.removes += o.removes;
        self.matches += o.matches;
        self.cache_hits += o.cache_hits;
        self.max_fanout = self.max_fanout.max(o.max_fanout);
        self.total_fanout += o.total_fanout;
    }
}

/// A set of values: a vector to copy results from, plus a hash index once
/// it is large enough for linear search to hurt.
struct SubSet<T> {
    items: Vec<T>,
    // Boxed: 8 bytes in every node instead of a 48-byte map that most nodes
    // never use.
    #[allow(clippy::box_collection)]
    index: Option<Box<HashMap<T, u32, FastHashBuilder>>>,
}

impl<T: Copy + Eq + Hash> SubSet<T> {
    fn new() -> Self {
        Self {
            items: Vec::new(),
            index: None,
        }
    }

    fn position(&self, v: T) -> Option<usize> {
        match &self.index {
            Some(ix) => ix.get(&v).map(|&i| i as usize),
            None => self.items.iter().position(|&x| x == v),
        }
    }

    /// False if already present.
    fn insert(&mut self, v: T, hasher: FastHashBuilder) -> bool {
        if self.position(v).is_some() {
            return false;
        }
        let i = self.items.len();
        self.items.push(v);
        match &mut self.index {
            Some(ix) => {
                ix.insert(v, i as u32);
            }
            None if self.items.len() > INDEX_MIN => {
                let mut ix = HashMap::with_capacity_and_hasher(self.items.len(), hasher);
                for (j, &x) in self.items.iter().enumerate() {
                    ix.insert(x, j as u32);
                }
                self.index = Some(Box::new(ix));
            }
            None => {}
        }
        true
    }

    /// False if absent.
    fn remove(&mut self, v: T) -> bool {
        let Some(i) = self.position(v) else {
            return false;
        };
        self.items.swap_remove(i);
        if let Some(ix) = &mut self.index {
            if self.items.len() <= INDEX_MIN / 2 {
                self.index = None;
            } else {
                ix.remove(&v);
                if let Some(&moved) = self.items.get(i) {
                    ix.insert(moved, i as u32);
                }
            }
        }
        if self.items.is_empty() {
            self.items = Vec::new();
        } else if self.items.capacity() > 32 && self.items.len() * 4 < self.items.capacity() {
            self.items.shrink_to(self.items.len() * 2);
        }
        true
    }
}

/// The queue subscriptions of one name at one node.
struct QueueSubs<T> {
    name: Rc<[u8]>,
    members: SubSet<T>,
}

/// A trie node: the subscriptions whose subject ends here, and the next
/// level (literal children by token, plus the `*` and `>` children).
struct Node<T> {
    children: HashMap<Box<[u8]>, u32, FastHashBuilder>,
    pwc: u32,
    fwc: u32,
    plain: SubSet<T>,
    queues: Vec<QueueSubs<T>>,
}

impl<T: Copy + Eq + Hash> Node<T> {
    fn new(hasher: FastHashBuilder) -> Self {
        Self {
            children: HashMap::with_hasher(hasher),
            pwc: NONE,
            fwc: NONE,
            plain: SubSet::new(),
            queues: Vec::new(),
        }
    }

    fn is_unused(&self) -> bool {
        self.plain.items.is_empty()
            && self.queues.is_empty()
            && self.children.is_empty()
            && self.pwc == NONE
            && self.fwc == NONE
    }

    /// Appends this node's subscriptions to a result.
    #[inline]
    fn add_to(&self, out: &mut MatchResult<T>) {
        out.plain.extend_from_slice(&self.plain.items);
        for q in &self.queues {
            match out.queues.iter_mut().find(|g| g.name == q.name) {
                Some(g) => g.members.extend_from_slice(&q.members.items),
                None => out.queues.push(QueueGroup {
                    name: Rc::clone(&q.name),
                    members: q.members.items.clone(),
                }),
            }
        }
    }
}

/// How a node hangs off its parent, for pruning.
#[derive(Clone, Copy)]
enum Edge {
    /// Literal token: byte range in the subject being removed.
    Literal(usize, usize),
    Pwc,
    Fwc,
}

#[derive(Clone, Copy)]
struct Step {
    parent: u32,
    child: u32,
    edge: Edge,
}

/// The subscriptions of one shard, indexed by subject.
///
/// `T` identifies one subscription, e.g. `(connection key, subscription id)`;
/// it is stored and returned by value. The index holds a set of
/// `(subject, queue, value)` entries: inserting an entry already present
/// changes nothing, and the same value may be stored under several subjects
/// (then it appears once per matching subject in a result).
pub struct SubjectIndex<T> {
    nodes: Vec<Node<T>>,
    free: Vec<u32>,
    count: usize,
    cache: HashMap<Box<[u8]>, Rc<MatchResult<T>>, FastHashBuilder>,
    cache_capacity: usize,
    /// Shared by every empty result, cached or not.
    empty: Rc<MatchResult<T>>,
    hasher: FastHashBuilder,
    /// Scratch path for removals (kept to avoid reallocating).
    path: Vec<Step>,
    inserts: u64,
    removes: u64,
    match_calls: u64,
    cache_hits: u64,
}

impl<T> fmt::Debug for SubjectIndex<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SubjectIndex")
            .field("count", &self.count)
            .field("nodes", &(self.nodes.len() - 1 - self.free.len()))
            .field("cache_entries", &self.cache.len())
            .field("cache_capacity", &self.cache_capacity)
            .finish()
    }
}

impl<T: Copy + Eq + Hash> Default for SubjectIndex<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T: Copy + Eq + Hash> SubjectIndex<T> {
    /// An empty index with the default cache capacity (1024 results).
    pub fn new() -> Self {
        Self::with_cache_capacity(DEFAULT_CACHE_CAPACITY)
    }

    /// An empty index caching at most `capacity` match results; 0 disables
    /// the cache.
    pub fn with_cache_capacity(capacity: usize) -> Self {
        let hasher = FastHashBuilder::new();
        Self {
            nodes: vec![Node::new(hasher)],
            free: Vec::new(),
            count: 0,
            cache: HashMap::with_hasher(hasher),
            cache_capacity: capacity,
            empty: Rc::new(MatchResult::default()),
            hasher,
            path: Vec::new(),
            inserts: 0,
            removes: 0,
            match_calls: 0,
            cache_hits: 0,
        }
    }

    /// Adds a subscription: `subject` may hold wildcards; `queue` is its
    /// queue group, if any. An invalid subject or queue name is refused.
    /// Adding an entry that is already present is a no-op.
    pub fn insert(
        &mut self,
        subject: &[u8],
        queue: Option<&[u8]>,
        value: T,
    ) -> Result<(), SubjectError> {
        if !is_valid_subject(subject) {
            return Err(SubjectError::InvalidSubject);
        }
        if let Some(q) = queue {
            if !is_valid_queue_name(q) {
                return Err(SubjectError::InvalidQueueName);
            }
        }
        let mut node = ROOT;
        let mut rest = Some(subject);
        while let Some(s) = rest {
            let (tok, r) = split_token(s);
            node = self.child_or_insert(node, tok);
            rest = r;
        }
        let hasher = self.hasher;
        let n = &mut self.nodes[node as usize];
        let name = match queue {
            None => {
                if !n.plain.insert(value, hasher) {
                    return Ok(());
                }
                None
            }
            Some(q) => {
                let gi = match n.queues.iter().position(|g| &*g.name == q) {
                    Some(gi) => gi,
                    None => {
                        n.queues.push(QueueSubs {
                            name: Rc::from(q),
                            members: SubSet::new(),
                        });
                        n.queues.len() - 1
                    }
                };
                let g = &mut n.queues[gi];
                if !g.members.insert(value, hasher) {
                    return Ok(());
                }
                Some(Rc::clone(&g.name))
            }
        };
        self.count += 1;
        self.inserts += 1;
        self.cache_insert(subject, name.as_ref(), value);
        Ok(())
    }

    /// Removes a subscription previously inserted with the same subject,
    /// queue and value. Returns whether it was present.
    pub fn remove(&mut self, subject: &[u8], queue: Option<&[u8]>, value: T) -> bool {
        if subject.is_empty() {
            return false;
        }
        self.path.clear();
        let mut node = ROOT;
        let mut offset = 0;
        let mut rest = Some(subject);
        while let Some(s) = rest {
            let (tok, r) = split_token(s);
            let n = &self.nodes[node as usize];
            let (child, edge) = match tok {
                b"*" => (n.pwc, Edge::Pwc),
                b">" => (n.fwc, Edge::Fwc),
                _ => (
                    n.children.get(tok).copied().unwrap_or(NONE),
                    Edge::Literal(offset, offset + tok.len()),
                ),
            };
            if child == NONE {
                return false;
            }
            self.path.push(Step {
                parent: node,
                child,
                edge,
            });
            node = child;
            offset += tok.len() + 1;
            rest = r;
        }
        let n = &mut self.nodes[node as usize];
        let removed = match queue {
            None => n.plain.remove(value),
            Some(q) => match n.queues.iter().position(|g| &*g.name == q) {
                None => false,
                Some(gi) => {
                    let removed = n.queues[gi].members.remove(value);
                    if removed && n.queues[gi].members.items.is_empty() {
                        n.queues.swap_remove(gi);
                    }
                    removed
                }
            },
        };
        if !removed {
            return false;
        }
        self.count -= 1;
        self.removes += 1;
        self.prune(subject);
        self.cache_remove(subject, queue, value);
        true
    }

    /// The subscriptions matching a published subject.
    ///
    /// The subject is taken literally (a `*` token in it is just a token);
    /// one that is empty or has an empty token matches nothing. Results are
    /// shared and never change once returned; a cache hit costs one hash
    /// lookup and an `Rc` clone.
    pub fn matches(&mut self, subject: &[u8]) -> Rc<MatchResult<T>> {
        self.match_calls += 1;
        if let Some(r) = self.cache.get(subject) {
            self.cache_hits += 1;
            return Rc::clone(r);
        }
        if !has_no_empty_tokens(subject) {
            return Rc::clone(&self.empty);
        }
        let mut out = MatchResult::default();
        self.collect(ROOT, subject, &mut out);
        let result = if out.is_empty() {
            Rc::clone(&self.empty)
        } else {
            Rc::new(out)
        };
        if self.cache_capacity > 0 {
            self.cache.insert(subject.into(), Rc::clone(&result));
            if self.cache.len() > self.cache_capacity {
                self.shrink_cache();
            }
        }
        result
    }

    /// Number of stored subscriptions.
    pub fn count(&self) -> usize {
        self.count
    }

    /// No subscriptions stored.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Number of trie nodes (the root excluded): 0 when the index is empty.
    pub fn node_count(&self) -> usize {
        self.nodes.len() - 1 - self.free.len()
    }

    /// Number of cached match results.
    pub fn cache_len(&self) -> usize {
        self.cache.len()
    }

    /// The bound on cached match results (0: no cache).
    pub fn cache_capacity(&self) -> usize {
        self.cache_capacity
    }

    /// Drops every cached result (e.g. before removing many subscriptions
    /// at once, so they skip the cache maintenance).
    pub fn clear_cache(&mut self) {
        self.cache.clear();
    }

    /// Counters and sizes.
    pub fn stats(&self) -> SubjectIndexStats {
        SubjectIndexStats {
            subscriptions: self.count,
            nodes: self.node_count(),
            cache_entries: self.cache.len(),
            inserts: self.inserts,
            removes: self.removes,
            matches: self.match_calls,
            cache_hits: self.cache_hits,
            max_fanout: self
                .cache
                .values()
                .map(|r| r.plain.len() + r.queues.len())
                .max()
                .unwrap_or(0),
            total_fanout: self
                .cache
                .values()
                .map(|r| r.plain.len() + r.queues.len())
                .sum(),
        }
    }

    fn child_or_insert(&mut self, parent: u32, tok: &[u8]) -> u32 {
        let p = &self.nodes[parent as usize];
        let existing = match tok {
            b"*" => p.pwc,
            b">" => p.fwc,
            _ => p.children.get(tok).copied().unwrap_or(NONE),
        };
        if existing != NONE {
            return existing;
        }
        let id = match self.free.pop() {
            Some(id) => id,
            None => {
                let id = u32::try_from(self.nodes.len()).expect("subject index node ids exhausted");
                assert!(id != NONE, "subject index node ids exhausted");
                self.nodes.push(Node::new(self.hasher));
                id
            }
        };
        let p = &mut self.nodes[parent as usize];
        match tok {
            b"*" => p.pwc = id,
            b">" => p.fwc = id,
            _ => {
                p.children.insert(tok.into(), id);
            }
        }
        id
    }

    /// Unlinks and frees the nodes of the removal path left unused, deepest
    /// first.
    fn prune(&mut self, subject: &[u8]) {
        while let Some(step) = self.path.pop() {
            if !self.nodes[step.child as usize].is_unused() {
                break;
            }
            let p = &mut self.nodes[step.parent as usize];
            match step.edge {
                Edge::Pwc => p.pwc = NONE,
                Edge::Fwc => p.fwc = NONE,
                Edge::Literal(a, b) => {
                    p.children.remove(&subject[a..b]);
                    let cap = p.children.capacity();
                    if cap > 64 && p.children.len() * 4 < cap {
                        p.children.shrink_to(p.children.len() * 2);
                    }
                }
            }
            // Reset the slot now so its allocations are released.
            self.nodes[step.child as usize] = Node::new(self.hasher);
            self.free.push(step.child);
        }
        if self.node_count() == 0 && self.nodes.len() > 1 {
            self.nodes = vec![Node::new(self.hasher)];
            self.free = Vec::new();
        }
    }

    /// Walks the trie for the literal subject (non-empty tokens), appending
    /// every matching node's subscriptions to `out`.
    fn collect(&self, mut node: u32, mut subject: &[u8], out: &mut MatchResult<T>) {
        loop {
            let n = &self.nodes[node as usize];
            let (tok, rest) = split_token(subject);
            if n.fwc != NONE {
                self.nodes[n.fwc as usize].add_to(out);
            }
            if n.pwc != NONE {
                match rest {
                    None => self.nodes[n.pwc as usize].add_to(out),
                    Some(r) => self.collect(n.pwc, r, out),
                }
            }
            if n.children.is_empty() {
                return;
            }
            let Some(&child) = n.children.get(tok) else {
                return;
            };
            match rest {
                None => {
                    self.nodes[child as usize].add_to(out);
                    return;
                }
                Some(r) => {
                    node = child;
                    subject = r;
                }
            }
        }
    }

    /// Adds a newly inserted subscription to the cached results it matches.
    fn cache_insert(&mut self, subject: &[u8], queue: Option<&Rc<[u8]>>, value: T) {
        if self.cache.is_empty() {
            return;
        }
        if !has_wildcard(subject) {
            if let Some(r) = self.cache.get_mut(subject) {
                Rc::make_mut(r).add(queue, value);
            }
            return;
        }
        for (key, r) in self.cache.iter_mut() {
            if subject_matches_pattern(key, subject) {
                Rc::make_mut(r).add(queue, value);
            }
        }
    }

    /// Takes a removed subscription out of the cached results it matched,
    /// dropping the results too large to edit cheaply.
    fn cache_remove(&mut self, subject: &[u8], queue: Option<&[u8]>, value: T) {
        if self.cache.is_empty() {
            return;
        }
        let empty = &self.empty;
        let edit = |r: &mut Rc<MatchResult<T>>| -> bool {
            if r.len() > CACHE_EDIT_MAX {
                return false;
            }
            let m = Rc::make_mut(r);
            if !m.remove(queue, value) {
                return false;
            }
            if m.is_empty() {
                *r = Rc::clone(empty);
            }
            true
        };
        if !has_wildcard(subject) {
            if let Some(r) = self.cache.get_mut(subject) {
                if !edit(r) {
                    self.cache.remove(subject);
                }
            }
            return;
        }
        self.cache
            .retain(|key, r| !subject_matches_pattern(key, subject) || edit(r));
    }

    /// Drops uniformly random cached results down to half the capacity.
    fn shrink_cache(&mut self) {
        let target = self.cache_capacity / 2;
        let mut left = self.cache.len();
        let mut to_drop = left.saturating_sub(target);
        // Selection sampling: each entry is dropped with probability
        // to_drop/left, which removes exactly `to_drop` entries, uniformly.
        self.cache.retain(|_, _| {
            let d = to_drop > 0 && fastrand::usize(..left) < to_drop;
            left -= 1;
            if d {
                to_drop -= 1;
            }
            !d
        });
    }
}
