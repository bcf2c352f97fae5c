//! The io_uring backend, on tokio-uring.
//!
//! Streams go through the ring: large reads, and large writes that many
//! connections queue in one turn of the shard (a fan-out), leave in one
//! system call. A conversation (small reads and writes, each waiting for
//! an answer) does not: a completion reaches its task only a few runtime
//! turns after the kernel finished it (task work, the ring's readiness in
//! the runtime's epoll, the crate's completion queue), which costs a
//! request/reply round trip tens of microseconds. So after a small read a
//! connection waits for readiness and reads with `recv(2)`, and a small
//! write is tried with `send(2)` first, falling back to the ring for what
//! the socket does not take at once.

use std::cell::{Cell, OnceCell};
use std::collections::HashSet;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, RawFd};
use std::sync::Mutex;

use tokio::io::unix::AsyncFd;
use tokio::io::Interest;
use tokio_uring::buf::BoundedBuf;

use super::{Backend, Listener, Stream};

pub struct Uring;

impl Backend for Uring {
    type Listener = UringListener;
    type Stream = UringStream;
    const NAME: &'static str = "io_uring";

    fn block_on<F: Future>(f: F) -> F::Output {
        let rt = {
            // One shard at a time, so the ring that appears is this one's.
            let _one_at_a_time = ring_setup();
            let before = ring_fds();
            // Completions are not pushed by interrupt: the shard enters the
            // kernel often anyway (COOP_TASKRUN, Linux 5.19; older kernels
            // refuse the flag and get a plain ring).
            let mut ring = tokio_uring::uring_builder();
            ring.setup_coop_taskrun();
            if ring.build(8).is_err() {
                ring = tokio_uring::uring_builder();
            }
            let rt = tokio_uring::Runtime::new(
                tokio_uring::builder().entries(1024).uring_builder(&ring),
            )
            .expect("an io_uring runtime");
            let new = ring_fds().difference(&before).copied().collect::<Vec<_>>();
            // Exactly one new ring, and one the kernel takes as a ring.
            let ring = match new[..] {
                [fd] if enter(fd, 0) => Some(fd),
                _ => None,
            };
            RING_FD.set(ring);
            rt
        };
        let out = rt.block_on(f);
        // Closed while no ring is being made: its descriptor may be reused
        // by the next ring, which would then not look new.
        let _one_at_a_time = ring_setup();
        drop(rt);
        RING_FD.set(None);
        out
    }

    /// tokio-uring submits its queue only when its runtime parks, and does
    /// not expose its ring; we found the ring's descriptor when the runtime
    /// was made and submit through it (the kernel takes what is queued,
    /// the crate's view of the queue follows the kernel's head).
    fn submit_now() -> bool {
        let Some(fd) = RING_FD.get() else {
            return false;
        };
        enter(fd, u32::MAX);
        true
    }

    fn listener(socket: std::net::TcpListener) -> io::Result<UringListener> {
        Ok(UringListener(tokio_uring::net::TcpListener::from_std(
            socket,
        )))
    }
}

/// io_uring_enter on `fd`: submits up to `to_submit` queued entries
/// without waiting; whether the kernel took `fd` as a ring.
fn enter(fd: RawFd, to_submit: u32) -> bool {
    // SAFETY: io_uring_enter submitting at most what is queued (the kernel
    // bounds `to_submit` by the queue's contents), not waiting, no signal
    // mask; on a descriptor that is not a ring it fails and does nothing.
    let r = unsafe {
        libc::syscall(
            libc::SYS_io_uring_enter,
            fd,
            to_submit,
            0u32,
            0u32,
            std::ptr::null::<libc::c_void>(),
            0usize,
        )
    };
    r >= 0
}

static RING_SETUP: Mutex<()> = Mutex::new(());

/// Held while any ring of the process is made or closed, so that a shard
/// tells its new ring from the others by its descriptor.
pub(crate) fn ring_setup() -> std::sync::MutexGuard<'static, ()> {
    RING_SETUP.lock().unwrap_or_else(|e| e.into_inner())
}

thread_local! {
    /// This thread's ring, when it could be told apart.
    static RING_FD: Cell<Option<RawFd>> = const { Cell::new(None) };
}

/// The process's io_uring descriptors.
fn ring_fds() -> HashSet<RawFd> {
    let Ok(dir) = std::fs::read_dir("/proc/self/fd") else {
        return HashSet::new();
    };
    dir.flatten()
        .filter(|e| {
            std::fs::read_link(e.path()).is_ok_and(|t| t.as_os_str() == "anon_inode:[io_uring]")
        })
        .filter_map(|e| e.file_name().to_str()?.parse().ok())
        .collect()
}

pub struct UringListener(tokio_uring::net::TcpListener);

impl Listener for UringListener {
    type Stream = UringStream;

    async fn accept(&self) -> io::Result<(UringStream, SocketAddr)> {
        let (stream, addr) = self.0.accept().await?;
        let _ = stream.set_nodelay(true);
        Ok((
            UringStream {
                conversing: Cell::new(true),
                peeked: Cell::new(false),
                ready: OnceCell::new(),
                socket: stream,
            },
            addr,
        ))
    }
}

/// Reads and writes under this size are a conversation's (as the shard's
/// own notion of a stream read, `STREAM_READ`).
const SMALL_IO: usize = 4096;

pub struct UringStream {
    /// The last read was small: the next one is a conversation's.
    conversing: Cell<bool>,
    /// A peek saw bytes: they may still be waiting, with the readiness
    /// that announced them already spent.
    peeked: Cell<bool>,
    /// Readiness through the runtime's epoll, registered on first use;
    /// declared first so it deregisters before the socket closes.
    ready: OnceCell<AsyncFd<Fd>>,
    socket: tokio_uring::net::TcpStream,
}

/// The socket's descriptor, for readiness only (the stream owns it).
struct Fd(RawFd);

impl AsRawFd for Fd {
    fn as_raw_fd(&self) -> RawFd {
        self.0
    }
}

impl UringStream {
    /// The socket's readiness in the runtime's epoll, registered on first use.
    fn ready(&self) -> io::Result<&AsyncFd<Fd>> {
        if let Some(r) = self.ready.get() {
            return Ok(r);
        }
        // SAFETY: the socket outlives the registration: `ready` is dropped
        // (deregistered) before `socket` closes the descriptor.
        let fd = unsafe {
            AsyncFd::register_with_interest(Fd(self.socket.as_raw_fd()), Interest::READABLE)
        }?;
        Ok(self.ready.get_or_init(|| fd))
    }

    /// A conversation's read: `recv(2)` into the spare capacity of `buf`,
    /// waiting for readiness while there is nothing (with MSG_PEEK in
    /// `flags`, the bytes stay to be read).
    async fn read_now(&self, buf: &mut Vec<u8>, flags: libc::c_int) -> io::Result<usize> {
        loop {
            let spare = buf.spare_capacity_mut();
            // SAFETY: recv writes at most `spare.len()` bytes into memory
            // `buf` owns and has not initialised; MSG_DONTWAIT never blocks.
            let r = unsafe {
                libc::recv(
                    self.socket.as_raw_fd(),
                    spare.as_mut_ptr().cast(),
                    spare.len(),
                    libc::MSG_DONTWAIT | flags,
                )
            };
            if r >= 0 {
                let n = r as usize;
                // SAFETY: recv initialised the first `n` spare bytes.
                unsafe { buf.set_len(buf.len() + n) };
                return Ok(n);
            }
            let e = io::Error::last_os_error();
            if e.kind() != io::ErrorKind::WouldBlock {
                return Err(e);
            }
            // Cleared before the next recv, so bytes arriving after it make
            // the wait return.
            self.ready()?.readable().await?.clear_ready();
        }
    }

    /// `send(2)` of what the socket takes at once; how much it took.
    fn send_now(&self, bytes: &[u8]) -> io::Result<usize> {
        // SAFETY: send reads `bytes.len()` bytes of a live slice;
        // MSG_DONTWAIT never blocks, MSG_NOSIGNAL raises no SIGPIPE.
        let r = unsafe {
            libc::send(
                self.socket.as_raw_fd(),
                bytes.as_ptr().cast(),
                bytes.len(),
                libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL,
            )
        };
        if r >= 0 {
            return Ok(r as usize);
        }
        let e = io::Error::last_os_error();
        if e.kind() == io::ErrorKind::WouldBlock {
            Ok(0)
        } else {
            Err(e)
        }
    }
}

impl Stream for UringStream {
    /// io_uring has no buffer-less read in tokio-uring, so an idle
    /// connection waits on epoll readiness instead of a read in flight.
    async fn readable(&self) -> io::Result<()> {
        if self.peeked.replace(false) {
            return Ok(());
        }
        // Cleared before the read that follows, so bytes arriving after it
        // make the next wait return.
        self.ready()?.readable().await?.clear_ready();
        Ok(())
    }

    async fn read(&self, mut buf: Vec<u8>) -> (io::Result<usize>, Vec<u8>) {
        let res = if self.conversing.get() {
            self.read_now(&mut buf, 0).await
        } else {
            let start = buf.len();
            let end = buf.capacity();
            let (res, slice) = self.socket.read(buf.slice(start..end)).await;
            buf = slice.into_inner();
            res
        };
        if let Ok(n) = res {
            self.conversing.set(n < SMALL_IO);
        }
        (res, buf)
    }

    async fn write_all(&self, buf: Vec<u8>, mut from: usize) -> (io::Result<()>, Vec<u8>) {
        let end = buf.len();
        if from < end && end - from < SMALL_IO {
            match self.send_now(&buf[from..]) {
                Ok(n) => from += n,
                Err(e) => return (Err(e), buf),
            }
        }
        if from >= end {
            return (Ok(()), buf);
        }
        if from == 0 {
            return self.socket.write_all(buf).await;
        }
        let (res, slice) = self.socket.write_all(buf.slice(from..end)).await;
        (res, slice.into_inner())
    }

    fn shutdown(&self) {
        let _ = self.socket.shutdown(std::net::Shutdown::Both);
    }

    async fn peek(&self, mut buf: Vec<u8>) -> (io::Result<usize>, Vec<u8>) {
        let res = self.read_now(&mut buf, libc::MSG_PEEK).await;
        self.peeked.set(res.is_ok());
        (res, buf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_shard_runtime_finds_its_own_ring() {
        // Three runtimes alive at once, as shards are.
        let all_up = std::sync::Arc::new(std::sync::Barrier::new(3));
        let runtimes: Vec<_> = (0..3)
            .map(|_| {
                let all_up = all_up.clone();
                std::thread::spawn(move || {
                    Uring::block_on(async move {
                        all_up.wait();
                        RING_FD.get()
                    })
                })
            })
            .collect();
        let rings: Vec<RawFd> = runtimes
            .into_iter()
            .map(|t| {
                t.join()
                    .unwrap()
                    .expect("the runtime's ring was identified")
            })
            .collect();
        let distinct: HashSet<RawFd> = rings.iter().copied().collect();
        assert_eq!(distinct.len(), rings.len(), "one ring each: {rings:?}");
    }

    /// A connected pair: the ring's end and a plain socket for the peer.
    async fn pair() -> (UringStream, std::net::TcpStream) {
        let socket = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = socket.local_addr().unwrap();
        let listener = Uring::listener(socket).unwrap();
        let peer = std::net::TcpStream::connect(addr).unwrap();
        let (stream, _) = listener.accept().await.unwrap();
        (stream, peer)
    }

    #[test]
    fn a_small_write_the_socket_cannot_take_at_once_finishes_through_the_ring() {
        Uring::block_on(async {
            let (stream, peer) = pair().await;
            // Fill the socket's buffers without the peer reading.
            let chunk = vec![b'x'; 4000];
            let mut queued = 0;
            loop {
                match stream.send_now(&chunk).unwrap() {
                    0 => break,
                    n => queued += n,
                }
            }
            assert!(queued > 0);
            // The peer drains everything only from here on.
            let reader = std::thread::spawn(move || {
                let mut peer = peer;
                let mut all = Vec::new();
                std::io::Read::read_to_end(&mut peer, &mut all).unwrap();
                all
            });
            let tail: Vec<u8> = (0..100u8).collect();
            let (res, _) = stream.write_all(tail.clone(), 0).await;
            res.unwrap();
            stream.shutdown();
            let all = reader.join().unwrap();
            assert_eq!(all.len(), queued + 100);
            assert_eq!(
                &all[all.len() - 100..],
                &tail[..],
                "the small write came last, whole"
            );
            assert!(all[..all.len() - 100].iter().all(|&b| b == b'x'));
        });
    }

    #[test]
    fn reads_switch_between_a_conversation_and_a_stream() {
        Uring::block_on(async {
            let (stream, mut peer) = pair().await;
            use std::io::Write;
            let mut buf = Vec::with_capacity(64 * 1024);
            // A small read: the next one waits for readiness and recv.
            peer.write_all(b"PING\r\n").unwrap();
            let (n, b) = stream.read(buf).await;
            assert_eq!((n.unwrap(), &b[..]), (6, &b"PING\r\n"[..]));
            assert!(stream.conversing.get());
            buf = b;
            buf.clear();
            // Most likely nothing is there yet when it starts: the read
            // waits for readiness, then gets it.
            let writer = std::thread::spawn(move || {
                peer.write_all(&vec![b'y'; 32 * 1024]).unwrap();
                peer
            });
            let mut got = 0;
            while got < 32 * 1024 {
                let (n, b) = stream.read(buf).await;
                let n = n.unwrap();
                assert!(n > 0);
                assert!(b.iter().all(|&c| c == b'y'));
                got += n;
                buf = b;
                buf.clear();
            }
            // After large reads the next goes through the ring; small again:
            // a conversation.
            let mut peer = writer.join().unwrap();
            peer.write_all(b"PONG\r\n").unwrap();
            let (n, b) = stream.read(buf).await;
            assert_eq!(&b[..n.unwrap()], b"PONG\r\n");
            assert!(stream.conversing.get());
            drop(peer);
            let (n, _) = stream.read(Vec::with_capacity(64)).await;
            assert_eq!(n.unwrap(), 0, "the peer's close reads as the end");
        });
    }

    #[test]
    fn a_descriptor_that_is_not_a_ring_is_not_taken_for_one() {
        let file = std::fs::File::open("/proc/self/stat").unwrap();
        assert!(!enter(file.as_raw_fd(), 0));
    }
}
