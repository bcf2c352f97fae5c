//! The IO seam: everything above this module is written against `Backend`,
//! `Listener` and `Stream`, with one implementation on tokio-uring
//! (io_uring) and one on tokio's epoll runtime. Both run tasks on a
//! current-thread tokio runtime with a `LocalSet`, so tasks, timers and
//! `Notify` doorbells are the same on either; only sockets differ.
//!
//! Reads and writes take owned buffers and give them back (what io_uring
//! needs), so the caller keeps one buffer per direction and no copy is made.

use std::future::Future;
use std::io;
use std::net::SocketAddr;

pub mod epoll;
pub mod http;
pub mod probe;
pub mod proxy;
pub mod tls;
pub mod uring;

/// One IO runtime: how to run a shard and how to turn a bound socket into
/// a listener of this runtime.
pub trait Backend: 'static {
    type Listener: Listener<Stream = Self::Stream>;
    type Stream: Stream;
    /// The name logged at start ("io_uring" or "epoll").
    const NAME: &'static str;
    /// Runs `f` to completion on a new single-threaded runtime on this thread.
    fn block_on<F: Future>(f: F) -> F::Output;
    /// Wraps a bound, listening std socket (call inside `block_on`).
    fn listener(socket: std::net::TcpListener) -> io::Result<Self::Listener>;
    /// Hands queued operations to the kernel now rather than when the
    /// runtime next parks; for a task that keeps the runtime from parking.
    /// `false` when this backend cannot (so polling would only delay).
    fn submit_now() -> bool;
}

pub trait Listener: 'static {
    type Stream: Stream;
    fn accept(&self) -> impl Future<Output = io::Result<(Self::Stream, SocketAddr)>>;
}

pub trait Stream: 'static {
    /// Waits until a read would find bytes (or the end, or an error),
    /// holding no buffer: how an idle connection waits.
    fn readable(&self) -> impl Future<Output = io::Result<()>>;
    /// Reads into the spare capacity of `buf` (after its `len`), returning
    /// how many bytes came (0: the peer closed) and the buffer.
    fn read(&self, buf: Vec<u8>) -> impl Future<Output = (io::Result<usize>, Vec<u8>)>;
    /// Writes all of `buf` from byte `from` on, then returns it.
    fn write_all(
        &self,
        buf: Vec<u8>,
        from: usize,
    ) -> impl Future<Output = (io::Result<()>, Vec<u8>)>;
    /// Shuts both directions down: a read in flight returns, the peer sees EOF.
    fn shutdown(&self);
    /// Copies what has arrived into the spare capacity of `buf` without
    /// consuming it (waiting while nothing has). Only sockets peek; a
    /// stream over another says it cannot.
    fn peek(&self, buf: Vec<u8>) -> impl Future<Output = (io::Result<usize>, Vec<u8>)> {
        async { (Err(io::ErrorKind::Unsupported.into()), buf) }
    }
}

/// Binds a listening socket with SO_REUSEPORT, so that every shard binds
/// the same address and the kernel spreads connections among them.
pub fn bind_reuseport(addr: SocketAddr) -> io::Result<std::net::TcpListener> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    socket.set_reuse_port(true)?;
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    socket.listen(1024)?;
    Ok(socket.into())
}
