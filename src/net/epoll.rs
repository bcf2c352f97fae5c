//! The portable backend: tokio's current-thread runtime on epoll, for
//! kernels and containers that refuse io_uring.

use std::future::Future;
use std::io;
use std::net::SocketAddr;

use super::{Backend, Listener, Stream};

pub struct Epoll;

impl Backend for Epoll {
    type Listener = EpollListener;
    type Stream = EpollStream;
    const NAME: &'static str = "epoll";

    fn block_on<F: Future>(f: F) -> F::Output {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a tokio runtime");
        tokio::task::LocalSet::new().block_on(&rt, f)
    }

    fn listener(socket: std::net::TcpListener) -> io::Result<EpollListener> {
        Ok(EpollListener(tokio::net::TcpListener::from_std(socket)?))
    }

    /// Nothing is queued: reads and writes are system calls made at once.
    fn submit_now() -> bool {
        true
    }
}

pub struct EpollListener(tokio::net::TcpListener);

impl Listener for EpollListener {
    type Stream = EpollStream;

    async fn accept(&self) -> io::Result<(EpollStream, SocketAddr)> {
        let (stream, addr) = self.0.accept().await?;
        let _ = stream.set_nodelay(true);
        Ok((EpollStream(stream), addr))
    }
}

pub struct EpollStream(tokio::net::TcpStream);

impl Stream for EpollStream {
    async fn readable(&self) -> io::Result<()> {
        self.0.readable().await
    }

    async fn read(&self, mut buf: Vec<u8>) -> (io::Result<usize>, Vec<u8>) {
        loop {
            if let Err(e) = self.0.readable().await {
                return (Err(e), buf);
            }
            match self.0.try_read_buf(&mut buf) {
                Ok(n) => return (Ok(n), buf),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                Err(e) => return (Err(e), buf),
            }
        }
    }

    async fn write_all(&self, buf: Vec<u8>, from: usize) -> (io::Result<()>, Vec<u8>) {
        let mut done = from;
        while done < buf.len() {
            if let Err(e) = self.0.writable().await {
                return (Err(e), buf);
            }
            match self.0.try_write(&buf[done..]) {
                Ok(0) => return (Err(io::ErrorKind::WriteZero.into()), buf),
                Ok(n) => done += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                Err(e) => return (Err(e), buf),
            }
        }
        (Ok(()), buf)
    }

    async fn peek(&self, mut buf: Vec<u8>) -> (io::Result<usize>, Vec<u8>) {
        let start = buf.len();
        buf.resize(buf.capacity(), 0);
        let res = self.0.peek(&mut buf[start..]).await;
        buf.truncate(start + *res.as_ref().unwrap_or(&0));
        (res, buf)
    }

    fn shutdown(&self) {
        use std::os::fd::AsRawFd;
        // SAFETY: the fd is owned by the live TcpStream; shutdown(2) does not close it.
        unsafe {
            libc::shutdown(self.0.as_raw_fd(), libc::SHUT_RDWR);
        }
    }
}
