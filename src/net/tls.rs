//! TLS over any `Stream`: `accept` runs the server handshake, and the
//! `TlsStream` it returns is itself a `Stream`, so the session, the
//! WebSocket upgrade and the writer run unchanged above it. Reads decrypt
//! into the caller's buffer; writes encrypt the caller's batch in one pass
//! and send the records in one write.
//!
//! The reading and writing tasks share the rustls connection; neither
//! holds it across an await. Records rustls must send on its own (alerts,
//! a key update's answer) go out through whichever task is not already
//! writing, so two writes never interleave on the socket.
//!
//! Idle cost: the ciphertext buffer is given back whenever the session
//! waits for readability, so an idle connection holds only rustls's state.

use std::cell::{Cell, RefCell};
use std::io::{self, Read, Write};
use std::sync::Arc;

use rustls::{ServerConfig, ServerConnection};

use super::Stream;

/// Ciphertext is read as much at a time as the session has room for in
/// plaintext (it grows its buffer while reads fill it), at least this: a
/// connection waiting in conversation holds no more than a plain one.
const CIPHER_READ_MIN: usize = 512;

/// Handshake flights (a client's certificate chain) come in bigger reads.
const HANDSHAKE_READ: usize = 4096;

pub struct TlsStream<S: Stream> {
    inner: S,
    conn: RefCell<ServerConnection>,
    /// Ciphertext read but not yet handed to rustls, from `cipher_at` on.
    cipher: RefCell<Vec<u8>>,
    cipher_at: Cell<usize>,
    peer_closed: Cell<bool>,
    writing: Cell<bool>,
}

/// Runs the server side of the TLS handshake on `inner`. The caller
/// bounds it with its timeout.
pub async fn accept<S: Stream>(inner: S, config: Arc<ServerConfig>) -> io::Result<TlsStream<S>> {
    let mut conn = ServerConnection::new(config).map_err(io::Error::other)?;
    // Our batches are bounded by the writer; rustls must take each whole.
    conn.set_buffer_limit(None);
    let tls = TlsStream {
        inner,
        conn: RefCell::new(conn),
        cipher: RefCell::new(Vec::new()),
        cipher_at: Cell::new(0),
        peer_closed: Cell::new(false),
        writing: Cell::new(false),
    };
    while tls.conn.borrow().is_handshaking() {
        tls.flush().await?;
        if !tls.conn.borrow().is_handshaking() {
            break;
        }
        let drained = tls.cipher_at.get() == tls.cipher.borrow().len();
        if drained && !tls.read_cipher(HANDSHAKE_READ).await? {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        if let Err(e) = tls.feed_handshake() {
            // The alert rustls queued tells the client why.
            let _ = tls.flush().await;
            return Err(e);
        }
    }
    tls.flush().await?;
    Ok(tls)
}

impl<S: Stream> TlsStream<S> {
    /// The certificates the client presented, when it was asked for them.
    pub fn peer_has_certificate(&self) -> bool {
        self.conn
            .borrow()
            .peer_certificates()
            .is_some_and(|c| !c.is_empty())
    }

    /// Feeds ciphertext to rustls until the handshake is done, leaving what
    /// follows it for the first read.
    fn feed_handshake(&self) -> io::Result<()> {
        let mut conn = self.conn.borrow_mut();
        let cipher = self.cipher.borrow();
        let mut at = self.cipher_at.get();
        while at < cipher.len() && conn.is_handshaking() {
            let mut rd = &cipher[at..];
            conn.read_tls(&mut rd)?;
            at = cipher.len() - rd.len();
            self.cipher_at.set(at);
            conn.process_new_packets().map_err(invalid)?;
        }
        Ok(())
    }

    /// Reads more ciphertext from the socket into the ciphertext buffer;
    /// false at the end of the stream.
    async fn read_cipher(&self, hint: usize) -> io::Result<bool> {
        let mut cipher = self.cipher.take();
        cipher.clear();
        cipher.reserve(hint.max(CIPHER_READ_MIN));
        let (res, cipher) = self.inner.read(cipher).await;
        self.cipher_at.set(0);
        let n = res?;
        *self.cipher.borrow_mut() = cipher;
        Ok(n > 0)
    }

    /// Decrypts what is buffered into the spare capacity of `buf`; returns
    /// how many plaintext bytes were appended.
    fn decrypt_into(&self, buf: &mut Vec<u8>) -> io::Result<usize> {
        let mut conn = self.conn.borrow_mut();
        let cipher = self.cipher.borrow();
        let mut at = self.cipher_at.get();
        let start = buf.len();
        // rustls reads into initialised bytes: zero the spare room once.
        buf.resize(buf.capacity(), 0);
        let mut filled = start;
        let result = loop {
            if filled < buf.len() {
                match conn.reader().read(&mut buf[filled..]) {
                    Ok(0) => {}
                    Ok(n) => filled += n,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                    Err(e) => break Err(e),
                }
            }
            if filled == buf.len() || at == cipher.len() {
                break Ok(());
            }
            let mut rd = &cipher[at..];
            if let Err(e) = conn.read_tls(&mut rd) {
                break Err(e);
            }
            at = cipher.len() - rd.len();
            match conn.process_new_packets() {
                Ok(state) => self.peer_closed.set(state.peer_has_closed()),
                Err(e) => break Err(invalid(e)),
            }
        };
        self.cipher_at.set(at);
        buf.truncate(filled);
        result.map(|()| filled - start)
    }

    /// Sends every record rustls has queued. A call made while another is
    /// writing returns at once: the running one sends these too.
    async fn flush(&self) -> io::Result<()> {
        if self.writing.replace(true) {
            return Ok(());
        }
        let mut wire = Vec::new();
        let result = loop {
            {
                let mut conn = self.conn.borrow_mut();
                wire.clear();
                while conn.wants_write() {
                    if let Err(e) = conn.write_tls(&mut wire) {
                        self.writing.set(false);
                        return Err(e);
                    }
                }
            }
            if wire.is_empty() {
                break Ok(());
            }
            let (res, w) = self.inner.write_all(wire, 0).await;
            wire = w;
            if let Err(e) = res {
                break Err(e);
            }
        };
        self.writing.set(false);
        result
    }
}

impl<S: Stream> Stream for TlsStream<S> {
    async fn readable(&self) -> io::Result<()> {
        let buffered = self.cipher_at.get() < self.cipher.borrow().len();
        // Records that came with the handshake's last flight may already
        // be decrypted inside rustls.
        let decrypted = match self.conn.borrow_mut().process_new_packets() {
            Ok(state) => state.plaintext_bytes_to_read() > 0 || state.peer_has_closed(),
            Err(_) => true,
        };
        if buffered || decrypted || self.peer_closed.get() {
            return Ok(());
        }
        // Waiting idle: hold no ciphertext buffer meanwhile.
        drop(self.cipher.take());
        self.cipher_at.set(0);
        self.inner.readable().await
    }

    async fn read(&self, mut buf: Vec<u8>) -> (io::Result<usize>, Vec<u8>) {
        loop {
            let decrypted = self.decrypt_into(&mut buf);
            if self.conn.borrow().wants_write() {
                if let Err(e) = self.flush().await {
                    return (Err(e), buf);
                }
            }
            match decrypted {
                Ok(0) if self.peer_closed.get() => return (Ok(0), buf),
                Ok(0) => {}
                other => return (other, buf),
            }
            let room = buf.capacity() - buf.len();
            match self.read_cipher(room).await {
                Ok(true) => {}
                Ok(false) => return (Ok(0), buf),
                Err(e) => return (Err(e), buf),
            }
        }
    }

    async fn write_all(&self, buf: Vec<u8>, from: usize) -> (io::Result<()>, Vec<u8>) {
        let encrypted = self.conn.borrow_mut().writer().write_all(&buf[from..]);
        if let Err(e) = encrypted {
            return (Err(e), buf);
        }
        (self.flush().await, buf)
    }

    fn shutdown(&self) {
        self.inner.shutdown();
    }
}

/// A TLS connection dropped mid-handshake (its timeout fired) must not
/// linger: io_uring keeps a socket open while a read is in flight on it.
impl<S: Stream> Drop for TlsStream<S> {
    fn drop(&mut self) {
        self.inner.shutdown();
    }
}

fn invalid(e: rustls::Error) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e)
}
