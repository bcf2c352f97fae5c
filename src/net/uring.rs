//! The io_uring backend, on tokio-uring.

use std::future::Future;
use std::io;
use std::net::SocketAddr;

use tokio_uring::buf::BoundedBuf;

use super::{Backend, Listener, Stream};

pub struct Uring;

impl Backend for Uring {
    type Listener = UringListener;
    type Stream = UringStream;
    const NAME: &'static str = "io_uring";

    fn block_on<F: Future>(f: F) -> F::Output {
        tokio_uring::builder().entries(1024).start(f)
    }

    fn listener(socket: std::net::TcpListener) -> io::Result<UringListener> {
        Ok(UringListener(tokio_uring::net::TcpListener::from_std(
            socket,
        )))
    }
}

pub struct UringListener(tokio_uring::net::TcpListener);

impl Listener for UringListener {
    type Stream = UringStream;

    async fn accept(&self) -> io::Result<(UringStream, SocketAddr)> {
        let (stream, addr) = self.0.accept().await?;
        let _ = stream.set_nodelay(true);
        Ok((UringStream(stream), addr))
    }
}

pub struct UringStream(tokio_uring::net::TcpStream);

impl Stream for UringStream {
    async fn read(&self, buf: Vec<u8>) -> (io::Result<usize>, Vec<u8>) {
        let start = buf.len();
        let end = buf.capacity();
        let (res, slice) = self.0.read(buf.slice(start..end)).await;
        (res, slice.into_inner())
    }

    async fn write_all(&self, buf: Vec<u8>) -> (io::Result<()>, Vec<u8>) {
        self.0.write_all(buf).await
    }

    fn shutdown(&self) {
        let _ = self.0.shutdown(std::net::Shutdown::Both);
    }
}
