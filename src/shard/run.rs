//! Runs: consecutive messages one connection publishes on one subject,
//! gathered and then written subscriber by subscriber. Fanning out a stream
//! message by message pays each subscriber's bookkeeping (lookups, borrows,
//! limits, dirty marking) once per message; a run pays it once per
//! subscriber, and each subscriber's bytes are written in one pass.
//!
//! Only plain deliveries on this shard are gathered, only without headers,
//! only when no queue group matches and the publisher is not among the
//! subscribers (so its own +OK, -ERR and PONG need no ordering against the
//! run). Messages from other shards run the same way. A run is written
//! before any other delivery and at every flush, which ends every read and
//! every drain of the mailboxes, so no one sees a run half done.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use super::{Shard, SubRef};
use crate::protocol::msg::MsgRun;
use crate::subject::MatchResult;

/// Fewer subscribers than this: deliver directly (gathering is a copy).
const RUN_FANOUT: usize = 4;
/// A run is written once its messages hold this many bytes.
const RUN_BYTES: usize = 64 * 1024;

/// Where gathered messages come from: the account, and the publishing
/// connection when it is on this shard (`None`: from another shard).
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) struct Origin {
    pub account: u32,
    pub conn: Option<u32>,
}

/// The shard's run in progress, and the buffers of the last one written
/// (kept, so a run costs no allocation once buffers have grown).
#[derive(Default)]
pub(crate) struct Gathering {
    current: RefCell<Option<Run>>,
    spare: Cell<MsgRun>,
    /// The last message of this batch delivered directly: a second one
    /// like it (a stream) starts a run; a lone message never pays for one.
    last: RefCell<Option<(Origin, Rc<MatchResult<SubRef>>)>>,
}

struct Run {
    origin: Origin,
    local: Rc<MatchResult<SubRef>>,
    b: MsgRun,
}

impl Shard {
    /// Adds a message to the run when it can be gathered (writing the run
    /// in progress first if this one belongs to another); `false`: deliver
    /// it directly.
    #[inline]
    pub(crate) fn gather(
        &self,
        origin: Origin,
        subject: &[u8],
        reply: Option<&[u8]>,
        header_len: usize,
        message: &[u8],
        local: &Rc<MatchResult<SubRef>>,
    ) -> bool {
        // Checked here, inline, so a delivery to a few pays nothing more.
        local.plain.len() >= RUN_FANOUT
            && self.gather_fan_out(origin, subject, reply, header_len, message, local)
    }

    fn gather_fan_out(
        &self,
        origin: Origin,
        subject: &[u8],
        reply: Option<&[u8]>,
        header_len: usize,
        message: &[u8],
        local: &Rc<MatchResult<SubRef>>,
    ) -> bool {
        if header_len != 0 || (reply.is_some() && self.tracks_replies.get()) {
            return false;
        }
        {
            let mut slot = self.run.current.borrow_mut();
            if let Some(run) = slot.as_mut() {
                if Rc::ptr_eq(&run.local, local)
                    && run.origin == origin
                    && run.b.subject() == subject
                    && run.b.bytes() < RUN_BYTES
                {
                    run.b.push(reply, message);
                    return true;
                }
            }
        }
        if !local.queues.is_empty()
            || origin
                .conn
                .is_some_and(|me| local.plain.iter().any(|s| s.conn == me))
        {
            return false;
        }
        {
            let mut last = self.run.last.borrow_mut();
            let repeat = last
                .as_ref()
                .is_some_and(|(o, l)| *o == origin && Rc::ptr_eq(l, local));
            if !repeat {
                *last = Some((origin, local.clone()));
                return false;
            }
            *last = None;
        }
        self.write_run();
        let mut b = self.run.spare.take();
        b.start(subject);
        b.push(reply, message);
        *self.run.current.borrow_mut() = Some(Run {
            origin,
            local: local.clone(),
            b,
        });
        true
    }

    /// Ends a batch: the run in progress is written, and the next batch's
    /// first message is delivered directly.
    pub(crate) fn end_runs(&self) {
        self.write_run();
        self.run.last.take();
    }

    /// Writes the run in progress, if any, to its subscribers.
    #[inline]
    pub(crate) fn write_run(&self) {
        if self.run.current.borrow().is_some() {
            self.write_gathered_run();
        }
    }

    fn write_gathered_run(&self) {
        let Some(run) = self.run.current.borrow_mut().take() else {
            return;
        };
        let clients = self.clients.borrow();
        for &sub in &run.local.plain {
            self.deliver_with(
                &clients,
                sub,
                run.b.len(),
                run.b.subject(),
                |out, sid, n, _| {
                    run.b.write(out, sid, n);
                    (run.b.payload_bytes(n), 0)
                },
            );
        }
        // Kept unless a large message made it large.
        if run.b.capacity() <= 2 * RUN_BYTES {
            self.run.spare.set(run.b);
        }
    }
}
