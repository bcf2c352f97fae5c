//! The io_uring backend, on tokio-uring.

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
            let _one_at_a_time = RING_SETUP.lock().unwrap_or_else(|e| e.into_inner());
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
        rt.block_on(f)
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
                ready: OnceCell::new(),
                socket: stream,
            },
            addr,
        ))
    }
}

pub struct UringStream {
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

impl Stream for UringStream {
    /// io_uring has no buffer-less read in tokio-uring, so an idle
    /// connection waits on epoll readiness instead of a read in flight.
    async fn readable(&self) -> io::Result<()> {
        let ready = match self.ready.get() {
            Some(r) => r,
            None => {
                // SAFETY: the socket outlives the registration: `ready` is
                // dropped (deregistered) before `socket` closes the descriptor.
                let fd = unsafe {
                    AsyncFd::register_with_interest(Fd(self.socket.as_raw_fd()), Interest::READABLE)
                }
                .map_err(io::Error::from)?;
                self.ready.get_or_init(|| fd)
            }
        };
        // Cleared before the read that follows, so bytes arriving after it
        // make the next wait return.
        ready.readable().await?.clear_ready();
        Ok(())
    }

    async fn read(&self, buf: Vec<u8>) -> (io::Result<usize>, Vec<u8>) {
        let start = buf.len();
        let end = buf.capacity();
        let (res, slice) = self.socket.read(buf.slice(start..end)).await;
        (res, slice.into_inner())
    }

    async fn write_all(&self, buf: Vec<u8>, from: usize) -> (io::Result<()>, Vec<u8>) {
        let end = buf.len();
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

    #[test]
    fn a_descriptor_that_is_not_a_ring_is_not_taken_for_one() {
        let file = std::fs::File::open("/proc/self/stat").unwrap();
        assert!(!enter(file.as_raw_fd(), 0));
    }
}
