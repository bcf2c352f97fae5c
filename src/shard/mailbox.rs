//! Mailboxes between shards: one single-producer single-consumer ring per
//! ordered pair of shards, carrying batches, plus one doorbell per shard.
//!
//! A sender appends envelopes to a per-destination batch while it works
//! and pushes the batch once (`flush`); the receiver drains whole batches.
//! The doorbell (a tokio `Notify`) is rung only when the receiver said it
//! may be asleep, so a busy receiver costs senders nothing but the push.
//! Never blocks: a full ring keeps the batch aside and retries on the next
//! flush. What bounds memory is the load of each link (bytes sent and not
//! yet handled by the receiver): past `LINK_LOAD_LIMIT` the sender's
//! connections stop reading until the receiver catches up, as TCP would
//! push back on a publisher.

use std::collections::VecDeque;
use std::sync::atomic::{fence, AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use tokio::sync::Notify;

/// Batches a ring holds before senders keep their mail aside.
const RING_BATCHES: usize = 4096;

/// Bytes in flight on one link before its senders are held back.
pub const LINK_LOAD_LIMIT: usize = 8 * 1024 * 1024;

/// The bytes sent on one link and not yet handled by the receiver, and a
/// way for a held-back sender to wait until they drop.
#[derive(Default)]
pub struct Load {
    bytes: AtomicUsize,
    waiting: AtomicBool,
    space: Notify,
}

impl Load {
    pub fn congested(&self) -> bool {
        self.bytes.load(Ordering::Acquire) > LINK_LOAD_LIMIT
    }

    /// Waits until the receiver has worked the load down to half the limit.
    pub async fn wait_for_space(&self) {
        while self.congested() {
            // Registered before the check: a receiver that drains the link
            // after the check and before the wait wakes this waiter (a
            // `Notified` hears `notify_waiters` from its creation on).
            let space = self.space.notified();
            self.waiting.store(true, Ordering::SeqCst);
            if self.bytes.load(Ordering::SeqCst) <= LINK_LOAD_LIMIT / 2 {
                // `waiting` stays set: clearing it could hide another
                // sender's wait from the drain that is about to wake it.
                return;
            }
            #[cfg(test)]
            tests::between_check_and_wait();
            space.await;
        }
    }

    fn handled(&self, bytes: usize) {
        let left = self.bytes.fetch_sub(bytes, Ordering::SeqCst) - bytes;
        if left <= LINK_LOAD_LIMIT / 2 && self.waiting.swap(false, Ordering::SeqCst) {
            self.space.notify_waiters();
        }
    }
}

/// Wakes one shard's mailbox task.
#[derive(Default)]
pub struct Doorbell {
    notify: Notify,
    asleep: AtomicBool,
}

impl Doorbell {
    /// After a push. The fence orders the push before reading `asleep`
    /// (with `Inbox::wait`'s fence: either the receiver sees the push or
    /// the sender sees it asleep). Without it the push can sit in this
    /// core's store buffer while `asleep` is read: the receiver then finds
    /// its ring empty and sleeps, and the sender does not ring.
    fn ring(&self) {
        fence(Ordering::SeqCst);
        if self.asleep.load(Ordering::SeqCst) && self.asleep.swap(false, Ordering::SeqCst) {
            self.notify.notify_one();
        }
    }
}

/// The sending side of one shard: a ring to every other shard.
pub struct Outbox<T> {
    links: Vec<Option<OutLink<T>>>,
}

/// A batch and the bytes it weighs.
type Batch<T> = (Vec<T>, usize);

struct OutLink<T> {
    ring: rtrb::Producer<Batch<T>>,
    doorbell: Arc<Doorbell>,
    load: Arc<Load>,
    /// Envelopes gathered since the last flush, and their weight.
    batch: Vec<T>,
    weight: usize,
    /// Batches the ring had no room for, oldest first.
    backlog: VecDeque<Batch<T>>,
}

struct InLink<T> {
    from: usize,
    ring: rtrb::Consumer<Batch<T>>,
    load: Arc<Load>,
}

/// The receiving side of one shard: a ring from every other shard.
pub struct Inbox<T> {
    rings: Vec<InLink<T>>,
    doorbell: Arc<Doorbell>,
}

/// Builds the mesh for `n` shards: shard `i` gets `(outboxes[i], inboxes[i])`.
pub fn mesh<T>(n: usize) -> Vec<(Outbox<T>, Inbox<T>)> {
    let doorbells: Vec<Arc<Doorbell>> = (0..n).map(|_| Arc::new(Doorbell::default())).collect();
    let mut outboxes: Vec<Outbox<T>> = (0..n)
        .map(|_| Outbox {
            links: (0..n).map(|_| None).collect(),
        })
        .collect();
    let mut inboxes: Vec<Inbox<T>> = (0..n)
        .map(|i| Inbox {
            rings: Vec::new(),
            doorbell: doorbells[i].clone(),
        })
        .collect();
    for (from, outbox) in outboxes.iter_mut().enumerate() {
        for (to, inbox) in inboxes.iter_mut().enumerate() {
            if from == to {
                continue;
            }
            let (tx, rx) = rtrb::RingBuffer::new(RING_BATCHES);
            let load = Arc::new(Load::default());
            outbox.links[to] = Some(OutLink {
                ring: tx,
                doorbell: doorbells[to].clone(),
                load: load.clone(),
                batch: Vec::new(),
                weight: 0,
                backlog: VecDeque::new(),
            });
            inbox.rings.push(InLink {
                from,
                ring: rx,
                load,
            });
        }
    }
    outboxes.into_iter().zip(inboxes).collect()
}

impl<T> Outbox<T> {
    /// Adds an envelope for shard `to`, weighing `bytes`; it leaves at the
    /// next `flush`.
    pub fn send(&mut self, to: usize, envelope: T, bytes: usize) {
        if let Some(link) = self.links.get_mut(to).and_then(Option::as_mut) {
            link.batch.push(envelope);
            link.weight += bytes;
        }
    }

    /// A link whose receiver has fallen too far behind, if any.
    pub fn congested(&self) -> Option<Arc<Load>> {
        self.links
            .iter()
            .flatten()
            .find(|l| l.load.congested())
            .map(|l| l.load.clone())
    }

    /// Whether anything waits to leave.
    pub fn has_pending(&self) -> bool {
        self.links
            .iter()
            .flatten()
            .any(|l| !l.batch.is_empty() || !l.backlog.is_empty())
    }

    /// Pushes every gathered batch to its ring and rings the doorbells of
    /// the shards that got mail.
    pub fn flush(&mut self) {
        for link in self.links.iter_mut().flatten() {
            if !link.batch.is_empty() {
                let batch = std::mem::take(&mut link.batch);
                let weight = std::mem::take(&mut link.weight);
                link.load.bytes.fetch_add(weight, Ordering::SeqCst);
                link.backlog.push_back((batch, weight));
            }
            let mut pushed = false;
            while let Some(batch) = link.backlog.pop_front() {
                match link.ring.push(batch) {
                    Ok(()) => pushed = true,
                    Err(rtrb::PushError::Full(batch)) => {
                        link.backlog.push_front(batch);
                        break;
                    }
                }
            }
            if pushed {
                link.doorbell.ring();
            }
        }
    }
}

impl<T> Inbox<T> {
    /// Takes every batch waiting, from all senders, calling `f(from, envelope)`
    /// in each sender's order. Returns how many envelopes were taken.
    pub fn drain(&mut self, mut f: impl FnMut(usize, T)) -> usize {
        let mut n = 0;
        for link in &mut self.rings {
            while let Ok((batch, weight)) = link.ring.pop() {
                n += batch.len();
                for envelope in batch {
                    f(link.from, envelope);
                }
                link.load.handled(weight);
            }
        }
        n
    }

    fn is_empty(&self) -> bool {
        self.rings.iter().all(|l| l.ring.is_empty())
    }

    /// Waits until mail may have arrived. Returns at once if some has.
    pub async fn wait(&self) {
        self.doorbell.asleep.store(true, Ordering::SeqCst);
        // See `Doorbell::ring`.
        fence(Ordering::SeqCst);
        if !self.is_empty() {
            self.doorbell.asleep.store(false, Ordering::SeqCst);
            return;
        }
        self.doorbell.notify.notified().await;
        self.doorbell.asleep.store(false, Ordering::SeqCst);
    }

    /// A handle that wakes this inbox's waiter from anywhere (shutdown).
    pub fn waker(&self) -> Arc<Doorbell> {
        self.doorbell.clone()
    }
}

impl Doorbell {
    /// Wakes the inbox's waiter even if no mail came.
    pub fn wake(&self) {
        self.asleep.store(false, Ordering::SeqCst);
        self.notify.notify_one();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_arrive_in_order_per_sender() {
        let mut m = mesh::<u32>(3);
        let (mut out0, _) = m.remove(0);
        let (mut out1, _) = m.remove(0);
        let (_, mut in2) = m.remove(0);
        for i in 0..10 {
            out0.send(2, i, 1);
            out1.send(2, 100 + i, 1);
        }
        out0.flush();
        out1.flush();
        let mut got: Vec<(usize, u32)> = Vec::new();
        assert_eq!(in2.drain(|from, v| got.push((from, v))), 20);
        let from0: Vec<u32> = got.iter().filter(|g| g.0 == 0).map(|g| g.1).collect();
        let from1: Vec<u32> = got.iter().filter(|g| g.0 == 1).map(|g| g.1).collect();
        assert_eq!(from0, (0..10).collect::<Vec<_>>());
        assert_eq!(from1, (100..110).collect::<Vec<_>>());
    }

    #[test]
    fn a_full_ring_keeps_mail_aside_and_loses_nothing() {
        let mut m = mesh::<usize>(2);
        let (_, mut in1) = m.pop().unwrap();
        let (mut out0, _) = m.pop().unwrap();
        for i in 0..RING_BATCHES + 10 {
            out0.send(1, i, 1);
            out0.flush();
        }
        assert!(out0.has_pending());
        let mut got = Vec::new();
        in1.drain(|_, v| got.push(v));
        out0.flush();
        in1.drain(|_, v| got.push(v));
        assert!(!out0.has_pending());
        assert_eq!(got, (0..RING_BATCHES + 10).collect::<Vec<_>>());
    }

    #[test]
    fn heavy_links_hold_senders_back_until_the_receiver_catches_up() {
        let mut m = mesh::<u8>(2);
        let (_, mut in1) = m.pop().unwrap();
        let (mut out0, _) = m.pop().unwrap();
        out0.send(1, 1, LINK_LOAD_LIMIT + 1);
        assert!(out0.congested().is_none(), "counted at flush");
        out0.flush();
        let load = out0.congested().expect("over the limit");
        let waiter = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .build()
                .unwrap();
            rt.block_on(load.wait_for_space());
        });
        assert_eq!(in1.drain(|_, _| {}), 1);
        waiter.join().unwrap();
        assert!(out0.congested().is_none());
    }

    thread_local! {
        static HOOK: std::cell::RefCell<Option<Box<dyn Fn()>>> = const { std::cell::RefCell::new(None) };
    }

    /// Runs the test's hook, if any, where a held-back sender has checked
    /// the load and not yet waited.
    pub(super) fn between_check_and_wait() {
        HOOK.with(|h| {
            if let Some(f) = h.borrow_mut().take() {
                f();
            }
        });
    }

    #[test]
    fn a_drain_between_the_senders_check_and_its_wait_wakes_it() {
        let load = Arc::new(Load::default());
        load.bytes.store(LINK_LOAD_LIMIT + 1, Ordering::SeqCst);
        let drain = load.clone();
        HOOK.with(|h| *h.borrow_mut() = Some(Box::new(move || drain.handled(LINK_LOAD_LIMIT + 1))));
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        let woken = rt.block_on(async {
            tokio::time::timeout(std::time::Duration::from_secs(5), load.wait_for_space()).await
        });
        assert!(HOOK.with(|h| h.borrow().is_none()), "the hook ran");
        assert!(woken.is_ok(), "the drain's wake-up was lost");
    }

    /// The receiver drains the link at every moment of the sender's
    /// check-then-wait, over and over: a sender that checked the load and
    /// has not yet registered for the wake-up must still be woken.
    #[test]
    fn a_held_back_sender_is_woken_however_the_drain_interleaves() {
        use std::sync::atomic::AtomicU64;
        let load = Arc::new(Load::default());
        let round = Arc::new(AtomicU64::new(0));
        const ROUNDS: u64 = 50_000;
        let receiver = {
            let (load, round) = (load.clone(), round.clone());
            std::thread::spawn(move || {
                for r in 1..=ROUNDS {
                    while round.load(Ordering::Acquire) != r {
                        std::hint::spin_loop();
                    }
                    // A different moment each round, across the sender's
                    // whole check-then-wait.
                    for _ in 0..(r * 7919) % 64 {
                        std::hint::spin_loop();
                    }
                    load.handled(LINK_LOAD_LIMIT + 1);
                }
            })
        };
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        for r in 1..=ROUNDS {
            load.bytes.store(LINK_LOAD_LIMIT + 1, Ordering::SeqCst);
            round.store(r, Ordering::Release);
            let woken = rt.block_on(async {
                tokio::time::timeout(std::time::Duration::from_secs(5), load.wait_for_space()).await
            });
            assert!(woken.is_ok(), "round {r}: the drain's wake-up was lost");
            // The next round starts once this drain is done.
            while load.bytes.load(Ordering::SeqCst) != 0 {
                std::hint::spin_loop();
            }
        }
        receiver.join().unwrap();
    }

    /// One shard pings another through the mesh and waits on its doorbell
    /// for the pong, again and again, while a task beside each keeps its
    /// runtime spinning (as a polling shard's does): every push must wake
    /// the other side. A lost ring leaves mail in the ring and its receiver
    /// asleep until the timeout. (Before the fences in `ring` and `wait`,
    /// one ping in a few hundred was lost; in an unoptimized build the
    /// window is too narrow to hit, hence the test profile's opt-level.)
    #[test]
    fn a_ring_is_never_lost_however_pushes_and_sleeps_interleave() {
        const PINGS: u32 = 5_000;
        let mut m = mesh::<u32>(2);
        let (out1, in1) = m.pop().unwrap();
        let (out0, in0) = m.pop().unwrap();
        let spin = |done: std::rc::Rc<std::cell::Cell<bool>>| async move {
            while !done.get() {
                tokio::task::yield_now().await;
            }
        };
        let run = |f: std::pin::Pin<Box<dyn std::future::Future<Output = ()>>>| {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_time()
                .build()
                .unwrap();
            tokio::task::LocalSet::new().block_on(&rt, f);
        };
        async fn wait(inbox: &Inbox<u32>, what: String) {
            let woken = tokio::time::timeout(std::time::Duration::from_secs(5), inbox.wait()).await;
            assert!(woken.is_ok(), "{what}: a ring was lost");
        }
        let echo = std::thread::spawn(move || {
            run(Box::pin(async move {
                let (mut outbox, mut inbox) = (out1, in1);
                let done = std::rc::Rc::new(std::cell::Cell::new(false));
                tokio::task::spawn_local(spin(done.clone()));
                let mut echoed = 0;
                while echoed < PINGS {
                    let mut got = Vec::new();
                    inbox.drain(|_, n| got.push(n));
                    if got.is_empty() {
                        wait(&inbox, format!("echo after {echoed}")).await;
                        continue;
                    }
                    for n in got {
                        outbox.send(0, n, 1);
                        echoed += 1;
                    }
                    outbox.flush();
                }
                done.set(true);
            }))
        });
        run(Box::pin(async move {
            let (mut outbox, mut inbox) = (out0, in0);
            let done = std::rc::Rc::new(std::cell::Cell::new(false));
            tokio::task::spawn_local(spin(done.clone()));
            for ping in 0..PINGS {
                outbox.send(1, ping, 1);
                outbox.flush();
                loop {
                    let mut pong = None;
                    inbox.drain(|_, n| pong = Some(n));
                    if pong == Some(ping) {
                        break;
                    }
                    wait(&inbox, format!("ping {ping}")).await;
                }
                // A pause between pings, spent spinning.
                let until = std::time::Instant::now() + std::time::Duration::from_micros(20);
                while std::time::Instant::now() < until {
                    tokio::task::yield_now().await;
                }
            }
            done.set(true);
        }));
        echo.join().unwrap();
    }

    #[test]
    fn doorbell_wakes_a_waiting_inbox_across_threads() {
        let mut m = mesh::<u8>(2);
        let (_, in1) = m.pop().unwrap();
        let (mut out0, _) = m.pop().unwrap();
        let sender = std::thread::spawn(move || {
            out0.send(1, 7, 1);
            out0.flush();
        });
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        rt.block_on(in1.wait());
        sender.join().unwrap();
    }
}
