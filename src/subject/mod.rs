//! Subjects and the subject index: NATS subject validation, literal-against-
//! wildcard matching, and the trie that maps a published subject to the
//! plain and queue subscriptions interested in it.
//!
//! Pure data structures: no IO, no threads, no locks. Each server shard owns
//! its own [`SubjectIndex`] (it uses `Rc`, so it is deliberately `!Send`).
//!
//! Rules follow nats-server (`server/sublist.go`):
//! - a subject is a list of non-empty tokens separated by `.`;
//! - `*` (one token) and `>` (one or more trailing tokens) are wildcards only
//!   when they are a whole token; `a*b`, `*b`, `>x` are plain literal tokens;
//! - `>` must be the last token;
//! - space, tab, CR, LF and form feed are not allowed anywhere; other bytes
//!   (including non-ASCII and invalid UTF-8) are accepted.

pub mod hash;
mod pattern;
pub mod queue;
mod sublist;
pub mod transform;
pub mod validate;

#[cfg(test)]
mod tests;

pub use pattern::{pattern_covers, patterns_collide, subject_matches_pattern};
pub use sublist::{
    MatchResult, QueueGroup, SubjectIndex, SubjectIndexStats, DEFAULT_CACHE_CAPACITY,
};
pub use validate::{
    has_wildcard, is_valid_literal_subject, is_valid_publish_subject, is_valid_queue_name,
    is_valid_subject,
};

/// Why a subscription could not be added to a [`SubjectIndex`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SubjectError {
    /// The subject is not valid (see [`is_valid_subject`]).
    #[error("invalid subject")]
    InvalidSubject,
    /// The queue group name is not valid (see [`is_valid_queue_name`]).
    #[error("invalid queue name")]
    InvalidQueueName,
}
