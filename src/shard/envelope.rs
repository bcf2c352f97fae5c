//! What shards send each other through their mailboxes.

use std::sync::Arc;

/// One envelope between two shards.
pub enum Envelope {
    /// How many subscriptions the sender now has on `subject` (in queue
    /// group `queue`) in `account`; 0: none left. Plain interest is
    /// announced when it starts and ends; a queue group's count with every
    /// change, so publishers everywhere can weigh the sender's members.
    Interest {
        account: u32,
        subject: Box<[u8]>,
        queue: Option<Box<[u8]>>,
        members: u32,
        /// The sender's interest sequence number, acknowledged back.
        seq: u64,
    },
    /// The receiver of interest changes has applied them up to `seq`.
    InterestAck { seq: u64 },
    /// A message published on the sender's shard, for the receiver's
    /// subscribers: its plain subscribers if `plain`, and one member of each
    /// queue group named in `queues`. A receiver whose group has lost its
    /// members meanwhile hands the message on to a shard that has some,
    /// once: `handed_on` marks the second leg, which is never handed on.
    Msg {
        msg: Published,
        plain: bool,
        queues: QueueNames,
        handed_on: bool,
    },
}

/// Queue group names, one after another with a space between (a queue
/// name holds none). Short lists (most messages name one group) are kept
/// inline, so sending them costs no allocation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum QueueNames {
    Inline {
        len: u8,
        bytes: [u8; QueueNames::INLINE],
    },
    Heap(Vec<u8>),
}

impl Default for QueueNames {
    fn default() -> Self {
        QueueNames::Inline {
            len: 0,
            bytes: [0; QueueNames::INLINE],
        }
    }
}

impl QueueNames {
    const INLINE: usize = 30;

    pub fn one(name: &[u8]) -> QueueNames {
        let mut q = QueueNames::default();
        q.push(name);
        q
    }

    pub fn push(&mut self, name: &[u8]) {
        let sep = usize::from(!self.is_empty());
        match self {
            QueueNames::Inline { len, bytes } => {
                let at = usize::from(*len);
                let end = at + sep + name.len();
                if end <= QueueNames::INLINE {
                    if sep == 1 {
                        bytes[at] = b' ';
                    }
                    bytes[at + sep..end].copy_from_slice(name);
                    *len = end as u8;
                } else {
                    let mut v = Vec::with_capacity(end);
                    v.extend_from_slice(&bytes[..at]);
                    if sep == 1 {
                        v.push(b' ');
                    }
                    v.extend_from_slice(name);
                    *self = QueueNames::Heap(v);
                }
            }
            QueueNames::Heap(v) => {
                if sep == 1 {
                    v.push(b' ');
                }
                v.extend_from_slice(name);
            }
        }
    }

    fn bytes(&self) -> &[u8] {
        match self {
            QueueNames::Inline { len, bytes } => &bytes[..usize::from(*len)],
            QueueNames::Heap(v) => v,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.bytes().is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = &[u8]> {
        self.bytes().split(|&b| b == b' ').filter(|n| !n.is_empty())
    }
}

/// A published message, copied once out of the publisher's read buffer
/// into one allocation shared by reference count with every shard that
/// delivers it.
#[derive(Clone)]
pub struct Published {
    pub account: u32,
    /// Bytes of headers at the start of the message; 0: none (a PUB).
    pub header_len: usize,
    subject_len: usize,
    /// `None`: no reply subject.
    reply_len: Option<usize>,
    /// Subject, reply, then headers and payload.
    data: Arc<[u8]>,
}

impl Published {
    pub fn new(
        account: u32,
        subject: &[u8],
        reply: Option<&[u8]>,
        header_len: usize,
        message: &[u8],
    ) -> Published {
        let parts = [subject, reply.unwrap_or(&[]), message];
        let len = parts.iter().map(|p| p.len()).sum();
        // One allocation, one copy of each part (collecting from an
        // iterator of bytes copied byte by byte: a tenth of the publish).
        let mut data = Arc::<[u8]>::new_uninit_slice(len);
        let dst = Arc::get_mut(&mut data).expect("a new Arc is unique");
        let mut at = 0;
        for part in parts {
            // SAFETY: `dst` holds `len` bytes, the sum of the parts, so
            // each fits at `at`; a fresh allocation overlaps none of them.
            unsafe {
                std::ptr::copy_nonoverlapping(
                    part.as_ptr(),
                    dst[at..].as_mut_ptr().cast::<u8>(),
                    part.len(),
                );
            }
            at += part.len();
        }
        // SAFETY: every byte of `data` was written above.
        let data = unsafe { data.assume_init() };
        Published {
            account,
            header_len,
            subject_len: subject.len(),
            reply_len: reply.map(<[u8]>::len),
            data,
        }
    }

    /// What the message weighs on a mailbox link.
    pub fn weight(&self) -> usize {
        self.data.len() + std::mem::size_of::<Self>()
    }

    pub fn subject(&self) -> &[u8] {
        &self.data[..self.subject_len]
    }

    pub fn reply(&self) -> Option<&[u8]> {
        let at = self.subject_len;
        self.reply_len.map(|n| &self.data[at..at + n])
    }

    /// Headers and payload.
    pub fn message(&self) -> &[u8] {
        &self.data[self.subject_len + self.reply_len.unwrap_or(0)..]
    }
}

#[cfg(test)]
mod tests {
    use super::{Published, QueueNames};

    #[test]
    fn queue_names_pack_and_unpack() {
        let mut q = QueueNames::default();
        assert!(q.is_empty());
        assert_eq!(q.iter().count(), 0);
        q.push(b"workers");
        q.push(b"a.b");
        assert!(matches!(q, QueueNames::Inline { .. }));
        assert_eq!(q.iter().collect::<Vec<_>>(), [&b"workers"[..], b"a.b"]);
        // Past the inline room, on the heap, nothing lost.
        let long = [b'x'; 40];
        q.push(&long);
        q.push(b"z");
        assert!(matches!(q, QueueNames::Heap(_)));
        assert_eq!(
            q.iter().collect::<Vec<_>>(),
            [&b"workers"[..], b"a.b", &long, b"z"]
        );
        let one_long = QueueNames::one(&long);
        assert_eq!(one_long.iter().collect::<Vec<_>>(), [&long[..]]);
        assert_eq!(QueueNames::one(b"g").iter().collect::<Vec<_>>(), [b"g"]);
    }

    #[test]
    fn published_keeps_its_parts_apart() {
        let p = Published::new(7, b"subj", Some(b"reply.to"), 3, b"hdrbody");
        assert_eq!((p.account, p.header_len), (7, 3));
        assert_eq!(p.subject(), b"subj");
        assert_eq!(p.reply(), Some(&b"reply.to"[..]));
        assert_eq!(p.message(), b"hdrbody");
        let q = Published::new(0, b"s", None, 0, b"");
        assert_eq!(
            (q.subject(), q.reply(), q.message()),
            (&b"s"[..], None, &b""[..])
        );
    }
}
