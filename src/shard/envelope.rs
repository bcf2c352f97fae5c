//! What shards send each other through their mailboxes.

use std::ops::Range;
use std::sync::Arc;

/// One envelope between two shards.
pub enum Envelope {
    /// The sender gained its first (`add`) or lost its last subscription on
    /// `subject` (in queue group `queue`) in `account`.
    Interest {
        account: u32,
        subject: Box<[u8]>,
        queue: Option<Box<[u8]>>,
        add: bool,
        /// The sender's interest sequence number, acknowledged back.
        seq: u64,
    },
    /// The receiver of interest changes has applied them up to `seq`.
    InterestAck { seq: u64 },
    /// A message published on the sender's shard, for the receiver's
    /// subscribers: its plain subscribers if `plain`, and one member of each
    /// queue group named in `queues`.
    Msg {
        msg: Arc<Published>,
        plain: bool,
        queues: Vec<Box<[u8]>>,
    },
}

/// A published message, copied once out of the publisher's read buffer and
/// shared by reference count with every shard that delivers it.
pub struct Published {
    pub account: u32,
    data: Box<[u8]>,
    subject: Range<usize>,
    reply: Option<Range<usize>>,
    /// Bytes of headers at the start of the message; 0: none (a PUB).
    pub header_len: usize,
    message: Range<usize>,
}

impl Published {
    pub fn new(
        account: u32,
        subject: &[u8],
        reply: Option<&[u8]>,
        header_len: usize,
        message: &[u8],
    ) -> Published {
        let reply_len = reply.map_or(0, <[u8]>::len);
        let mut data = Vec::with_capacity(subject.len() + reply_len + message.len());
        data.extend_from_slice(subject);
        let subject_range = 0..subject.len();
        let reply_range = reply.map(|r| {
            let start = data.len();
            data.extend_from_slice(r);
            start..data.len()
        });
        let start = data.len();
        data.extend_from_slice(message);
        Published {
            account,
            subject: subject_range,
            reply: reply_range,
            header_len,
            message: start..data.len(),
            data: data.into_boxed_slice(),
        }
    }

    /// What the message weighs on a mailbox link.
    pub fn weight(&self) -> usize {
        self.data.len() + std::mem::size_of::<Self>()
    }

    pub fn subject(&self) -> &[u8] {
        &self.data[self.subject.clone()]
    }

    pub fn reply(&self) -> Option<&[u8]> {
        self.reply.clone().map(|r| &self.data[r])
    }

    /// Headers and payload.
    pub fn message(&self) -> &[u8] {
        &self.data[self.message.clone()]
    }
}
