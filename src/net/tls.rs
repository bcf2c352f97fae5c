//! TLS over any `Stream`: `accept` runs the server handshake, and the
//! `TlsStream` it returns is itself a `Stream`, so the session, the
//! WebSocket upgrade and the writer run unchanged above it.
//!
//! rustls runs unbuffered: the ciphertext read from the socket, the
//! plaintext that did not fit the caller's buffer and the records waiting
//! to be sent are buffers of ours, owned and moved as io_uring wants, and
//! each is given back when empty. An idle connection holds rustls's keys
//! and state and nothing else.
//!
//! The reading and writing tasks share the rustls connection; neither
//! holds it across an await. Records rustls must send on its own (alerts,
//! a key update's answer) join the queue of records to send, and whichever
//! task is not already writing sends them, so two writes never interleave
//! on the socket and records leave in the order they were made.

use std::cell::{Cell, RefCell};
use std::io;
use std::sync::Arc;

use rustls::server::UnbufferedServerConnection;
use rustls::unbuffered::{ConnectionState, EncodeError, EncryptError};
use rustls::ServerConfig;

use super::Stream;

/// Ciphertext is read as much at a time as the session has room for in
/// plaintext (it grows its buffer while reads fill it), at least this: a
/// connection waiting in conversation holds no more than a plain one.
const CIPHER_READ_MIN: usize = 512;

/// Handshake flights (a client's certificate chain) come in bigger reads.
const HANDSHAKE_READ: usize = 4096;

pub struct TlsStream<S: Stream> {
    inner: S,
    conn: RefCell<UnbufferedServerConnection>,
    /// Ciphertext read from the socket; rustls has processed (and we have
    /// discarded) everything before `incoming_at`. What follows is never
    /// more than an incomplete record (the reader processes all it can),
    /// plus handshake records rustls holds while it joins a message.
    incoming: RefCell<Vec<u8>>,
    incoming_at: Cell<usize>,
    /// Decrypted plaintext the caller's buffer had no room for, from
    /// `plain_at` on.
    plain: RefCell<Vec<u8>>,
    plain_at: Cell<usize>,
    /// Records to send, in the order rustls made them.
    outgoing: RefCell<Vec<u8>>,
    peer_closed: Cell<bool>,
    writing: Cell<bool>,
}

/// Where the connection stands after processing what has come in.
#[derive(Debug, PartialEq, Eq)]
enum Progress {
    /// The handshake needs more bytes from the client.
    Blocked,
    /// Application data may flow (and a batch given to `process` is encrypted).
    Traffic,
    /// Both sides have closed.
    Closed,
}

/// Runs the server side of the TLS handshake on `inner`. The caller
/// bounds it with its timeout.
pub async fn accept<S: Stream>(inner: S, config: Arc<ServerConfig>) -> io::Result<TlsStream<S>> {
    let conn = UnbufferedServerConnection::new(config).map_err(io::Error::other)?;
    let tls = TlsStream {
        inner,
        conn: RefCell::new(conn),
        incoming: RefCell::new(Vec::new()),
        incoming_at: Cell::new(0),
        plain: RefCell::new(Vec::new()),
        plain_at: Cell::new(0),
        outgoing: RefCell::new(Vec::new()),
        peer_closed: Cell::new(false),
        writing: Cell::new(false),
    };
    loop {
        let progress = tls.process(None, None);
        // Sends the server's flight, or the alert that tells the client why not.
        let flushed = tls.flush().await;
        match progress? {
            Progress::Traffic => {
                flushed?;
                return Ok(tls);
            }
            Progress::Closed => return Err(io::ErrorKind::UnexpectedEof.into()),
            Progress::Blocked => {
                flushed?;
                if !tls.read_more(HANDSHAKE_READ).await? {
                    return Err(io::ErrorKind::UnexpectedEof.into());
                }
            }
        }
    }
}

impl<S: Stream> TlsStream<S> {
    /// The client's own certificate (DER), when it was asked for one.
    pub fn peer_certificate(&self) -> Option<Vec<u8>> {
        let conn = self.conn.borrow();
        Some(conn.peer_certificates()?.first()?.to_vec())
    }

    /// The session's protocol version and cipher suite as nats-server's
    /// monitoring names them ("1.3", Go's suite names).
    pub fn summary(&self) -> Option<(&'static str, &'static str)> {
        let conn = self.conn.borrow();
        let version = match conn.protocol_version()? {
            rustls::ProtocolVersion::TLSv1_3 => "1.3",
            rustls::ProtocolVersion::TLSv1_2 => "1.2",
            _ => "unknown",
        };
        let suite = conn.negotiated_cipher_suite()?.suite().as_str()?;
        // rustls names TLS 1.3 suites TLS13_*, Go names them TLS_*.
        let suite = match suite {
            "TLS13_AES_128_GCM_SHA256" => "TLS_AES_128_GCM_SHA256",
            "TLS13_AES_256_GCM_SHA384" => "TLS_AES_256_GCM_SHA384",
            "TLS13_CHACHA20_POLY1305_SHA256" => "TLS_CHACHA20_POLY1305_SHA256",
            other => other,
        };
        Some((version, suite))
    }

    /// Runs rustls over the buffered ciphertext until it needs more:
    /// handshake records and alerts join `outgoing`, decrypted records
    /// go into the spare capacity of `into` (the rest, and all of them
    /// when there is no `into`, into `plain`), and once traffic may flow,
    /// `batch` is encrypted onto `outgoing`. On an error, the alert rustls
    /// made for it is queued too.
    fn process(
        &self,
        mut into: Option<&mut Vec<u8>>,
        batch: Option<&[u8]>,
    ) -> io::Result<Progress> {
        let mut conn = self.conn.borrow_mut();
        let mut incoming = self.incoming.borrow_mut();
        let mut outgoing = self.outgoing.borrow_mut();
        let mut failed: Option<rustls::Error> = None;
        loop {
            let at = self.incoming_at.get();
            // After an error, only the alert it queued is wanted: the bad
            // bytes again would make rustls build (and assert on) a second.
            let records: &mut [u8] = match failed {
                None => &mut incoming[at..],
                Some(_) => &mut [],
            };
            let status = conn.process_tls_records(records);
            let discard = status.discard;
            let step = match status.state {
                Err(e) => Step::Failed(e),
                Ok(ConnectionState::EncodeTlsData(mut data)) => {
                    match append_sized(&mut outgoing, |out| match data.encode(out) {
                        Ok(n) => Wrote::Done(n),
                        Err(EncodeError::InsufficientSize(e)) => Wrote::Needs(e.required_size),
                        Err(EncodeError::AlreadyEncoded) => Wrote::Done(0),
                    }) {
                        Ok(()) => Step::Continue,
                        Err(e) => Step::Io(e),
                    }
                }
                // `outgoing` holds them until they are sent.
                Ok(ConnectionState::TransmitTlsData(data)) => {
                    data.done();
                    Step::Continue
                }
                Ok(ConnectionState::ReadTraffic(mut records)) => {
                    let mut plain = self.plain.borrow_mut();
                    let mut step = Step::Continue;
                    while let Some(record) = records.next_record() {
                        match record {
                            Ok(record) => deliver(record.payload, into.as_deref_mut(), &mut plain),
                            Err(e) => {
                                step = Step::Failed(e);
                                break;
                            }
                        }
                    }
                    step
                }
                Ok(ConnectionState::PeerClosed) => {
                    self.peer_closed.set(true);
                    Step::Continue
                }
                Ok(ConnectionState::Closed) => {
                    self.peer_closed.set(true);
                    Step::Done(Progress::Closed)
                }
                Ok(ConnectionState::WriteTraffic(mut traffic)) => match batch {
                    Some(batch) => {
                        match append_sized(&mut outgoing, |out| match traffic.encrypt(batch, out) {
                            Ok(n) => Wrote::Done(n),
                            Err(EncryptError::InsufficientSize(e)) => Wrote::Needs(e.required_size),
                            Err(EncryptError::EncryptExhausted) => Wrote::Failed,
                        }) {
                            Ok(()) => Step::Done(Progress::Traffic),
                            Err(e) => Step::Io(e),
                        }
                    }
                    None => Step::Done(Progress::Traffic),
                },
                // BlockedHandshake, and early data, which this server never accepts.
                Ok(_) => Step::Done(Progress::Blocked),
            };
            self.incoming_at.set(at + discard);
            match step {
                Step::Continue => continue,
                Step::Io(e) => return Err(e),
                // Once more after an error, to queue the alert rustls made for it.
                Step::Failed(e) if failed.is_none() => failed = Some(e),
                Step::Failed(_) | Step::Done(_) if failed.is_some() => {
                    return Err(invalid(failed.take().expect("checked")))
                }
                Step::Failed(e) => return Err(invalid(e)),
                Step::Done(progress) => {
                    if self.incoming_at.get() == incoming.len() {
                        incoming.clear();
                        self.incoming_at.set(0);
                    }
                    return Ok(progress);
                }
            }
        }
    }

    /// Reads more ciphertext from the socket after what is buffered;
    /// false at the end of the stream.
    async fn read_more(&self, hint: usize) -> io::Result<bool> {
        let want = hint.max(CIPHER_READ_MIN);
        let at = self.incoming_at.get();
        let left = {
            let mut incoming = self.incoming.borrow_mut();
            incoming.drain(..at);
            self.incoming_at.set(0);
            incoming.len()
        };
        // With nothing buffered the buffer itself goes to the socket. With
        // an incomplete record buffered, rustls may look at those bytes
        // while the read is in flight (the writer asks it to encrypt), so
        // they stay where they are and the read fills a copy.
        let buf = if left == 0 {
            let mut buf = self.incoming.take();
            buf.reserve(want);
            buf
        } else {
            let mut buf = Vec::with_capacity(left + want);
            buf.extend_from_slice(&self.incoming.borrow());
            buf
        };
        let (res, buf) = self.inner.read(buf).await;
        let n = res?;
        // Whatever rustls took meanwhile from the bytes left here is gone
        // from the copy too.
        *self.incoming.borrow_mut() = buf;
        Ok(n > 0)
    }

    /// Sends every queued record. A call made while another is writing
    /// returns at once: the running one sends these too.
    async fn flush(&self) -> io::Result<()> {
        if self.writing.replace(true) {
            return Ok(());
        }
        let result = loop {
            let wire = self.outgoing.take();
            if wire.is_empty() {
                break Ok(());
            }
            let (res, _) = self.inner.write_all(wire, 0).await;
            if let Err(e) = res {
                break Err(e);
            }
        };
        self.writing.set(false);
        result
    }

    /// Hands plaintext kept from an earlier record to the caller.
    fn take_plain(&self, buf: &mut Vec<u8>) -> usize {
        let mut plain = self.plain.borrow_mut();
        let at = self.plain_at.get();
        let n = (buf.capacity() - buf.len()).min(plain.len() - at);
        buf.extend_from_slice(&plain[at..at + n]);
        if at + n == plain.len() {
            *plain = Vec::new();
            self.plain_at.set(0);
        } else {
            self.plain_at.set(at + n);
        }
        n
    }
}

/// What a rustls call that writes records into our buffer answered.
enum Wrote {
    Done(usize),
    Needs(usize),
    Failed,
}

/// One turn of `process`.
enum Step {
    Continue,
    Done(Progress),
    Failed(rustls::Error),
    Io(io::Error),
}

/// Appends what `write` produces to `out`, growing `out` to the size
/// `write` asks for first.
fn append_sized(out: &mut Vec<u8>, mut write: impl FnMut(&mut [u8]) -> Wrote) -> io::Result<()> {
    let start = out.len();
    let mut answer = write(&mut []);
    if let Wrote::Needs(size) = answer {
        out.resize(start + size, 0);
        answer = write(&mut out[start..]);
    }
    match answer {
        Wrote::Done(n) => {
            out.truncate(start + n);
            Ok(())
        }
        Wrote::Needs(_) | Wrote::Failed => {
            out.truncate(start);
            Err(io::Error::other(
                "TLS: no more records may be sent on this connection",
            ))
        }
    }
}

/// Puts a decrypted record into the caller's spare capacity, and what does
/// not fit after the plaintext already kept.
fn deliver(payload: &[u8], into: Option<&mut Vec<u8>>, plain: &mut Vec<u8>) {
    let mut rest = payload;
    if let Some(buf) = into {
        if plain.is_empty() {
            let n = (buf.capacity() - buf.len()).min(rest.len());
            buf.extend_from_slice(&rest[..n]);
            rest = &rest[n..];
        }
    }
    plain.extend_from_slice(rest);
}

impl<S: Stream> Stream for TlsStream<S> {
    async fn readable(&self) -> io::Result<()> {
        let kept = self.plain_at.get() < self.plain.borrow().len();
        let buffered = self.incoming_at.get() < self.incoming.borrow().len();
        if kept || buffered || self.peer_closed.get() {
            return Ok(());
        }
        // Waiting idle: hold no ciphertext buffer meanwhile.
        drop(self.incoming.take());
        self.incoming_at.set(0);
        self.inner.readable().await
    }

    async fn read(&self, mut buf: Vec<u8>) -> (io::Result<usize>, Vec<u8>) {
        let start = buf.len();
        loop {
            self.take_plain(&mut buf);
            let processed = if self.plain.borrow().is_empty() {
                self.process(Some(&mut buf), None)
            } else {
                Ok(Progress::Traffic)
            };
            if !self.outgoing.borrow().is_empty() {
                if let Err(e) = self.flush().await {
                    return (Err(e), buf);
                }
            }
            if let Err(e) = processed {
                return (Err(e), buf);
            }
            let got = buf.len() - start;
            if got > 0 {
                return (Ok(got), buf);
            }
            if self.peer_closed.get() {
                return (Ok(0), buf);
            }
            let room = buf.capacity() - buf.len();
            match self.read_more(room).await {
                Ok(true) => {}
                Ok(false) => return (Ok(0), buf),
                Err(e) => return (Err(e), buf),
            }
        }
    }

    async fn write_all(&self, buf: Vec<u8>, from: usize) -> (io::Result<()>, Vec<u8>) {
        match self.process(None, Some(&buf[from..])) {
            Ok(Progress::Traffic) => {}
            Ok(_) => return (Err(io::ErrorKind::BrokenPipe.into()), buf),
            Err(e) => return (Err(e), buf),
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
