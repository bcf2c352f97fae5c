//! Polling before sleeping. A shard that has just done work keeps polling
//! its sockets for a short window instead of parking its thread: waking a
//! parked core costs tens of microseconds on virtual machines (the host
//! has to reschedule the vCPU), which is most of a request/reply round trip
//! on loopback. The window restarts with every short read, so a steady
//! trickle of requests never pays for a wake-up, and an idle shard sleeps
//! once the window has passed without activity (as Seastar's idle poll
//! does). Streams (large reads) do not start it: for them, sleeping lets
//! the kernel gather bigger reads, which is worth more than the wake-up.
//!
//! Each round the poller submits what the backend has queued (io_uring
//! writes would otherwise wait for the runtime to park) and yields: a
//! yielded task makes the runtime poll its driver with a zero timeout
//! instead of blocking, reaping completions or readiness, then run it again.

use std::cell::Cell;
use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use tokio::sync::Notify;

use super::Shard;
use crate::net::Backend;

/// Reads at least this large mean a stream, not a conversation: polling
/// would only make reads smaller (the kernel's batching is what a busy
/// stream lives on), so they do not keep the poller going.
pub(crate) const STREAM_READ: usize = 4096;
/// Likewise for mail from other shards, in envelopes per drain.
pub(crate) const STREAM_MAIL: usize = 32;

/// Activity seen by the shard, and a way to rouse the poller when it sleeps.
#[derive(Default)]
pub(crate) struct Activity {
    count: Cell<u64>,
    poller_asleep: Cell<bool>,
    rouse: Notify,
}

impl Activity {
    /// Called when a little work came in (a short read, a few envelopes):
    /// more is likely soon, and its latency matters.
    pub(crate) fn note(&self) {
        self.count.set(self.count.get().wrapping_add(1));
        if self.poller_asleep.replace(false) {
            self.rouse.notify_one();
        }
    }
}

/// Polls for `window` after each activity; returns at shutdown.
pub(crate) async fn poll_loop<B: Backend>(shard: Rc<Shard>, window: Duration) {
    if window.is_zero() {
        return;
    }
    if !B::submit_now() {
        // Polling without submitting would only delay writes: the shard
        // sleeps as soon as it is idle. Said once, not once per shard.
        static SAID: std::sync::Once = std::sync::Once::new();
        SAID.call_once(|| {
            crate::warn!(
                "{}: the ring of shard {} could not be identified to submit to while polling: idle polling is off",
                B::NAME,
                shard.id
            )
        });
        return;
    }
    crate::debug!("shard {}: polls for {window:?} after work", shard.id);
    let activity = &shard.activity;
    loop {
        activity.poller_asleep.set(true);
        activity.rouse.notified().await;
        let mut seen = activity.count.get();
        let mut until = Instant::now() + window;
        loop {
            B::submit_now();
            tokio::task::yield_now().await;
            if shard.ctx.stopping.load(Ordering::Relaxed) {
                return;
            }
            let now_count = activity.count.get();
            if now_count != seen {
                seen = now_count;
                until = Instant::now() + window;
            } else if Instant::now() >= until {
                break;
            }
        }
    }
}
