//! bcrypt checks off the shard threads. One check costs tens of
//! milliseconds of CPU by design; done on a shard, a burst of logins would
//! stall delivery to every connection there. A small pool of threads does
//! them instead, started with the server when a secret is a hash; the
//! shard awaits the answer while it goes on serving its other connections.

use std::sync::mpsc;
use std::sync::{Mutex, OnceLock};

use tokio::sync::oneshot;

/// Threads of the pool: logins are rare next to messages, and two cores'
/// worth of bcrypt is about a hundred logins a second at cost 11.
const THREADS: usize = 2;
/// Their nice value: the lowest, so a shard always runs first; they still
/// get every cycle the shards leave.
const NICE: libc::c_int = 19;

struct Job {
    hash: String,
    password: String,
    done: oneshot::Sender<bool>,
}

/// The pool (its queue, once started).
#[derive(Default)]
pub struct BcryptPool {
    queue: OnceLock<Mutex<mpsc::Sender<Job>>>,
}

impl std::fmt::Debug for BcryptPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BcryptPool")
            .field("started", &self.queue.get().is_some())
            .finish()
    }
}

impl BcryptPool {
    /// Starts the threads now. Called while the server starts, on its main
    /// thread, so they may run on any core the process may use (a thread
    /// started from a shard would share that shard's core).
    pub fn start(&self) {
        self.queue.get_or_init(start);
    }

    /// Whether `password` matches the bcrypt `hash`, answered by a pool
    /// thread. A malformed hash never matches.
    pub fn verify(&self, hash: &str, password: &str) -> oneshot::Receiver<bool> {
        let (done, answer) = oneshot::channel();
        let job = Job {
            hash: hash.to_string(),
            password: password.to_string(),
            done,
        };
        let sent = match self.queue.get() {
            Some(queue) => queue.lock().expect("bcrypt queue").send(job),
            None => Err(mpsc::SendError(job)),
        };
        if let Err(mpsc::SendError(job)) = sent {
            // Not started (no hash was configured) or no thread left (a
            // panic in bcrypt): refuse rather than admit.
            let _ = job.done.send(false);
        }
        answer
    }
}

fn start() -> Mutex<mpsc::Sender<Job>> {
    let (tx, rx) = mpsc::channel::<Job>();
    let rx = std::sync::Arc::new(Mutex::new(rx));
    for i in 0..THREADS {
        let rx = rx.clone();
        std::thread::Builder::new()
            .name(format!("bcrypt-{i}"))
            .spawn(move || {
                lower_priority();
                serve(&rx)
            })
            .expect("a bcrypt thread");
    }
    Mutex::new(tx)
}

/// A thread of lower priority, so a shard that shares its core runs first
/// (Linux's nice value is per thread): a burst of logins then slows the
/// logins, not the messages.
fn lower_priority() {
    // SAFETY: setpriority on the calling thread (who 0) changes only its
    // nice value.
    unsafe {
        libc::setpriority(libc::PRIO_PROCESS, 0, NICE);
    }
}

fn serve(rx: &Mutex<mpsc::Receiver<Job>>) {
    loop {
        // The lock is held only while waiting for the next job.
        let job = match rx.lock().expect("bcrypt jobs").recv() {
            Ok(job) => job,
            Err(_) => return,
        };
        let ok = ::bcrypt::verify(&job.password, &job.hash).unwrap_or(false);
        let _ = job.done.send(ok);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checks_come_back_from_the_pool() {
        let hash = ::bcrypt::hash("s3cret", 4).unwrap();
        let pool = BcryptPool::default();
        assert!(
            !pool.verify(&hash, "s3cret").blocking_recv().unwrap(),
            "not started"
        );
        pool.start();
        let answers: Vec<_> = ["s3cret", "wrong", "", &hash]
            .iter()
            .map(|p| pool.verify(&hash, p))
            .collect();
        let got: Vec<bool> = answers
            .into_iter()
            .map(|a| a.blocking_recv().unwrap())
            .collect();
        assert_eq!(
            got,
            [true, false, false, false],
            "the hash itself is no password"
        );
        assert!(!pool
            .verify("$2a$04$not-a-hash", "x")
            .blocking_recv()
            .unwrap());
    }
}
