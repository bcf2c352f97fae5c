//! Polling before sleeping, only where it pays. Waking a parked core costs
//! tens of microseconds on virtual machines (the host has to reschedule the
//! vCPU), most of a request/reply round trip on loopback; a shard that
//! keeps polling its sockets for a short while after work answers the next
//! request without that cost. Polling also burns the core, and on a machine
//! where the clients run beside the server it takes the core they need.
//! So a shard polls only:
//!
//! - where polling has lately been catching work: a [`Governor`] keeps, for
//!   each kind of idle period (after the shard passed on a request, whose
//!   reply is likely soon, or after anything else), whether recent periods
//!   ended soon enough for a poll to catch them, and polls a kind only
//!   while most did, for about as long as they lasted (never past
//!   `idle_spin`); a kind that stopped paying is probed now and then;
//! - while its core has nothing else to run: every round of the poll
//!   yields the thread (`sched_yield`), so a client thread waiting for
//!   this core runs at once; and when that happens in several recent
//!   polls (clients beside the server), it stops polling for a while. A
//!   kernel thread taking the core now and then (a few times a second on
//!   a pinned core) is not a client: one switch alone does not stop it.
//!
//! Streams (large reads, many envelopes) do not start a poll: for them,
//! sleeping lets the kernel gather bigger reads.
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

/// What the shard did last before going idle: it tells how soon more
/// work is likely.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Idle {
    /// It passed on a request (a message with a reply subject): the reply
    /// comes back through this shard, usually within tens of microseconds.
    AfterRequest,
    /// Anything else: the next request may be far off.
    AfterOther,
}

/// Idle periods of one kind the governor remembers.
const HISTORY: u32 = 16;
/// Of those, how many must have ended within `idle_spin` for polling to
/// go on (a half: polling then catches at least every other wake-up).
const HITS_NEEDED: u32 = HISTORY / 2;
/// While a kind does not pay, one idle period in this many is polled
/// anyway, to notice when it would again.
const PROBE_EVERY: u32 = 8;
/// A poll lasts this many times the typical gap caught, within bounds.
const WINDOW_MARGIN: u32 = 3;
const WINDOW_MIN: Duration = Duration::from_micros(20);
/// Idle periods slept through after the core was found shared.
const CONTENDED_QUIET: u32 = 64;
/// The core is taken for shared when the poll gave it to another thread
/// in this many of the last `HISTORY` polled periods.
const SWITCHES_SHARED: u32 = 3;

/// Decides how long to poll, from what past idle periods were like. Pure:
/// it is told the gaps, never reads a clock.
#[derive(Clone, Debug)]
pub(crate) struct Governor {
    max: Duration,
    kinds: [KindStats; 2],
    /// Idle periods still to sleep through because the core is shared.
    quiet: u32,
    /// One bit per recent polled period, newest lowest: the poll gave the
    /// core to another thread during it.
    switched: u32,
    /// For the log: how often the core was found shared.
    contended: u64,
}

#[derive(Clone, Copy, Debug, Default)]
struct KindStats {
    /// One bit per recent idle period, newest lowest: it ended within `max`.
    ended_soon: u32,
    /// How many bits of `ended_soon` are known (up to `HISTORY`).
    known: u32,
    /// Moving average of the gaps that ended within `max`.
    typical: Duration,
    /// Idle periods since the last poll while polling does not pay.
    since_probe: u32,
    /// For the debug log at exit: periods polled, caught by a poll, slept.
    polled: u64,
    caught: u64,
    slept: u64,
}

impl KindStats {
    fn hits(&self) -> u32 {
        (self.ended_soon & ((1 << HISTORY) - 1)).count_ones()
    }

    fn pays(&self) -> bool {
        // Until it knows, the governor polls: the first requests of a
        // conversation are as latency-sensitive as the later ones.
        self.known < HISTORY / 2 || self.hits() >= HITS_NEEDED
    }
}

impl Governor {
    /// Polls at most `max` (`idle_spin`; zero: never).
    pub(crate) fn new(max: Duration) -> Governor {
        Governor {
            max,
            kinds: [KindStats::default(); 2],
            quiet: 0,
            switched: 0,
            contended: 0,
        }
    }

    fn kind(&mut self, idle: Idle) -> &mut KindStats {
        &mut self.kinds[idle as usize]
    }

    /// How long to poll in an idle period of this kind that starts now
    /// (zero: sleep at once).
    pub(crate) fn window(&mut self, idle: Idle) -> Duration {
        let max = self.max;
        if max.is_zero() {
            return Duration::ZERO;
        }
        let shared = self.quiet > 0;
        self.quiet = self.quiet.saturating_sub(1);
        let k = self.kind(idle);
        let window = if shared {
            Duration::ZERO
        } else if k.pays() {
            if k.typical.is_zero() {
                max
            } else {
                (k.typical * WINDOW_MARGIN).clamp(WINDOW_MIN.min(max), max)
            }
        } else {
            k.since_probe += 1;
            if k.since_probe < PROBE_EVERY {
                Duration::ZERO
            } else {
                k.since_probe = 0;
                max
            }
        };
        if window.is_zero() {
            k.slept += 1;
        } else {
            k.polled += 1;
            self.switched <<= 1;
        }
        window
    }

    /// A poll gave the core to another thread waiting for it. Whether the
    /// core is shared (that happened in several recent polls: a client
    /// beside the server), in which case the shard stops polling now and
    /// sleeps through the next idle periods, then tries again.
    pub(crate) fn switched(&mut self) -> bool {
        self.switched |= 1;
        if (self.switched & ((1 << HISTORY) - 1)).count_ones() < SWITCHES_SHARED {
            return false;
        }
        self.switched = 0;
        self.quiet = CONTENDED_QUIET;
        self.contended += 1;
        true
    }

    /// Periods polled, caught and slept through, per kind, for the log.
    pub(crate) fn summary(&self) -> String {
        let [r, o] = &self.kinds;
        format!(
            "after requests {} polled, {} caught, {} slept; after other work {} polled, {} caught, {} slept; core found shared {} times",
            r.polled, r.caught, r.slept, o.polled, o.caught, o.slept, self.contended
        )
    }

    /// An idle period of this kind ended after `gap` (`polled`: whether
    /// the shard was polling when the work came, so `gap` is exact; a gap
    /// measured after sleeping also holds the wake-up).
    pub(crate) fn ended(&mut self, idle: Idle, gap: Duration, polled: bool) {
        let max = self.max;
        let k = self.kind(idle);
        let soon = gap <= max;
        if polled {
            k.caught += 1;
        }
        if !polled && soon {
            // Woken from sleep this soon: a poll would have caught it.
        } else if !polled && gap <= max * 3 {
            // Too close to call: the wake-up is in the gap. Not counted.
            return;
        }
        k.ended_soon = (k.ended_soon << 1) | u32::from(soon);
        k.known = (k.known + 1).min(HISTORY);
        if soon {
            k.typical = if k.typical.is_zero() {
                gap
            } else {
                (k.typical * 3 + gap) / 4
            };
        }
    }
}

/// Activity seen by the shard, and a way to rouse the poller when it sleeps.
pub(crate) struct Activity {
    count: Cell<u64>,
    /// When the latest work was seen.
    last: Cell<Instant>,
    /// The work since the poller last looked passed on a request.
    request: Cell<bool>,
    poller_asleep: Cell<bool>,
    rouse: Notify,
}

impl Default for Activity {
    fn default() -> Self {
        Activity {
            count: Cell::new(0),
            last: Cell::new(Instant::now()),
            request: Cell::new(false),
            poller_asleep: Cell::new(false),
            rouse: Notify::new(),
        }
    }
}

impl Activity {
    /// Called when a little work came in at `now` (a short read, a few
    /// envelopes): more is likely soon, and its latency matters.
    pub(crate) fn note(&self, now: Instant) {
        self.count.set(self.count.get().wrapping_add(1));
        self.last.set(now);
        if self.poller_asleep.replace(false) {
            self.rouse.notify_one();
        }
    }

    /// The shard passed on a message with a reply subject.
    #[inline]
    pub(crate) fn passed_request(&self) {
        self.request.set(true);
    }

    /// What kind of idle period follows the work seen so far.
    fn idle_kind(&self) -> Idle {
        if self.request.replace(false) {
            Idle::AfterRequest
        } else {
            Idle::AfterOther
        }
    }
}

/// Polls after work as the governor says; returns at shutdown.
pub(crate) async fn poll_loop<B: Backend>(shard: Rc<Shard>, max: Duration) {
    if max.is_zero() {
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
    crate::debug!("shard {}: polls up to {max:?} after work", shard.id);
    let activity = &shard.activity;
    let mut governor = Governor::new(max);
    // The idle period in progress: its kind and when it began.
    let mut idle: Option<(Idle, Instant)> = None;
    let mut said = Instant::now();
    loop {
        activity.poller_asleep.set(true);
        activity.rouse.notified().await;
        if crate::log::debug_enabled() && said.elapsed() >= Duration::from_secs(1) {
            said = Instant::now();
            crate::debug!("shard {}: polling: {}", shard.id, governor.summary());
        }
        // Woken by work after sleeping through an idle period.
        if let Some((kind, since)) = idle.take() {
            let gap = activity.last.get().saturating_duration_since(since);
            governor.ended(kind, gap, false);
        }
        let mut seen = activity.count.get();
        loop {
            let kind = activity.idle_kind();
            let since = activity.last.get();
            let window = governor.window(kind);
            let until = since + window;
            let mut caught = false;
            while Instant::now() < until {
                B::submit_now();
                tokio::task::yield_now().await;
                if shard.rt.stopping.load(Ordering::Relaxed) {
                    crate::debug!("shard {}: polling: {}", shard.id, governor.summary());
                    return;
                }
                if activity.count.get() != seen {
                    caught = true;
                    break;
                }
                // Another thread waiting for this core runs now; if that
                // keeps happening, the core is shared and polling stops
                // for a while.
                if yield_core() && governor.switched() {
                    break;
                }
            }
            if !caught {
                // Sleep; the gap is measured when work rouses the poller.
                idle = Some((kind, since));
                break;
            }
            seen = activity.count.get();
            let gap = activity.last.get().saturating_duration_since(since);
            governor.ended(kind, gap, true);
        }
    }
}

/// Gives the core to another runnable thread, if there is one; whether
/// one ran (the thread was switched out: its involuntary context switches
/// went up; the host taking the virtual CPU away does not count).
fn yield_core() -> bool {
    let before = involuntary_switches();
    // SAFETY: sched_yield takes no arguments and cannot fail in a way that
    // matters here.
    unsafe {
        libc::sched_yield();
    }
    involuntary_switches() != before
}

/// This thread's involuntary context switches so far.
fn involuntary_switches() -> i64 {
    // SAFETY: getrusage writes only the rusage struct we own.
    unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        if libc::getrusage(libc::RUSAGE_THREAD, &mut usage) != 0 {
            return 0;
        }
        usage.ru_nivcsw
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAX: Duration = Duration::from_micros(100);

    fn us(n: u64) -> Duration {
        Duration::from_micros(n)
    }

    #[test]
    fn a_new_shard_polls_the_whole_window() {
        let mut g = Governor::new(MAX);
        assert_eq!(g.window(Idle::AfterRequest), MAX);
        assert_eq!(g.window(Idle::AfterOther), MAX);
        assert_eq!(
            Governor::new(Duration::ZERO).window(Idle::AfterOther),
            Duration::ZERO
        );
    }

    #[test]
    fn gaps_that_polling_catches_keep_it_polling_about_as_long_as_they_last() {
        let mut g = Governor::new(MAX);
        for _ in 0..HISTORY {
            g.ended(Idle::AfterRequest, us(10), true);
        }
        // Three times the typical gap, not the whole window.
        assert_eq!(g.window(Idle::AfterRequest), us(30));
        for _ in 0..HISTORY {
            g.ended(Idle::AfterRequest, us(50), true);
        }
        assert_eq!(g.window(Idle::AfterRequest), MAX, "capped at idle_spin");
    }

    #[test]
    fn long_gaps_stop_polling_and_probes_notice_when_it_pays_again() {
        let mut g = Governor::new(MAX);
        for _ in 0..HISTORY {
            g.ended(Idle::AfterOther, us(900), false);
        }
        let windows: Vec<Duration> = (0..PROBE_EVERY)
            .map(|_| g.window(Idle::AfterOther))
            .collect();
        assert_eq!(
            windows.iter().filter(|w| w.is_zero()).count() as u32,
            PROBE_EVERY - 1
        );
        assert_eq!(windows.last(), Some(&MAX), "one probe in {PROBE_EVERY}");
        // The other kind is not affected.
        assert_eq!(g.window(Idle::AfterRequest), MAX);
        // Probes start catching work: polling resumes.
        for _ in 0..HITS_NEEDED {
            g.ended(Idle::AfterOther, us(40), true);
        }
        assert!(!g.window(Idle::AfterOther).is_zero());
    }

    #[test]
    fn a_request_reply_rhythm_polls_for_replies_only() {
        // At 1k requests/s: the reply comes 60 µs after the request is
        // passed on; the next request 900 µs after the reply.
        let mut g = Governor::new(MAX);
        for _ in 0..4 * HISTORY {
            let w = g.window(Idle::AfterRequest);
            g.ended(Idle::AfterRequest, us(60), !w.is_zero() && w >= us(60));
            g.window(Idle::AfterOther);
            g.ended(Idle::AfterOther, us(900), false);
        }
        assert_eq!(g.window(Idle::AfterRequest), MAX);
        let polled = (0..PROBE_EVERY * 4)
            .filter(|_| !g.window(Idle::AfterOther).is_zero())
            .count();
        assert_eq!(polled, 4, "only probes after replies");
    }

    #[test]
    fn a_shared_core_stops_polling_for_a_while() {
        let mut g = Governor::new(MAX);
        // Switches in consecutive polls: a client wants the core.
        for i in 0..SWITCHES_SHARED {
            assert!(!g.window(Idle::AfterRequest).is_zero());
            assert_eq!(g.switched(), i + 1 == SWITCHES_SHARED);
        }
        for _ in 0..CONTENDED_QUIET {
            assert_eq!(g.window(Idle::AfterRequest), Duration::ZERO);
        }
        assert_eq!(g.window(Idle::AfterRequest), MAX, "then tries again");
    }

    #[test]
    fn a_kernel_thread_now_and_then_does_not_stop_polling() {
        let mut g = Governor::new(MAX);
        // One switch every few polled periods, never SWITCHES_SHARED
        // within HISTORY of them.
        let every = HISTORY / (SWITCHES_SHARED - 1) + 1;
        for i in 0..20 * HISTORY {
            assert!(!g.window(Idle::AfterOther).is_zero(), "period {i}");
            if i % every == 0 {
                assert!(!g.switched(), "period {i}");
            }
            g.ended(Idle::AfterOther, us(30), true);
        }
        // Two switches within one period count once.
        let mut g = Governor::new(MAX);
        for _ in 0..SWITCHES_SHARED - 1 {
            g.window(Idle::AfterOther);
            assert!(!g.switched());
            assert!(!g.switched());
        }
        g.window(Idle::AfterOther);
        assert!(g.switched());
    }

    #[test]
    fn a_gap_measured_after_sleeping_counts_only_when_clear() {
        let mut g = Governor::new(MAX);
        for _ in 0..HISTORY {
            // Woken 200 µs after: a poll might or might not have caught it.
            g.ended(Idle::AfterOther, us(200), false);
        }
        assert_eq!(g.window(Idle::AfterOther), MAX, "nothing learnt");
        for _ in 0..HISTORY {
            g.ended(Idle::AfterOther, us(80), false);
        }
        assert!(
            !g.window(Idle::AfterOther).is_zero(),
            "soon enough even with the wake-up in it"
        );
    }
}
