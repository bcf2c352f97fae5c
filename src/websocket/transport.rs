//! A WebSocket connection as the session and the writer see it: the read
//! half turns socket bytes into NATS bytes (and owes control frames), the
//! write half turns a batch of NATS bytes into frames. The NATS parser,
//! the fan-out and the connection's outbound buffer never know.

use std::cell::{Cell, RefCell};

use super::close;
use super::deflate::{self, InflateError};
use super::frame::{self, Decoder, Event, Violation};
use crate::protocol::ProtocolError;

/// Room left at the front of every outbound batch of a WebSocket
/// connection, where the frame header goes without moving the payload.
pub const ROOM: usize = frame::MAX_SERVER_HEADER;
/// nats-server's frame size for browsers.
pub const BROWSER_FRAME: usize = 4096;

/// How output is framed for this connection, as the upgrade agreed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Framing {
    pub compression: bool,
    /// Frames of at most 4096 bytes.
    pub browser: bool,
    /// Compressed messages in one frame whatever their size (Safari).
    pub no_compressed_fragments: bool,
}

/// The close code for a connection ended by `e`, as nats-server chooses it.
pub fn close_code_for(e: &ProtocolError) -> u16 {
    match e {
        ProtocolError::MaxPayload => close::MESSAGE_TOO_BIG,
        ProtocolError::AuthorizationViolation
        | ProtocolError::AuthenticationTimeout
        | ProtocolError::MaxControlLine
        | ProtocolError::MaxSubscriptions
        | ProtocolError::MaxSubscriptionsAtLogin
        | ProtocolError::MaxAccountConnections
        | ProtocolError::UserAuthenticationExpired
        | ProtocolError::AccountAuthenticationExpired
        | ProtocolError::InvalidClientProtocol => close::POLICY_VIOLATION,
        ProtocolError::StaleConnection => close::GOING_AWAY,
        _ => close::PROTOCOL_ERROR,
    }
}

// --- the read half ---------------------------------------------------------

/// What the peer's bytes asked of the connection besides NATS bytes.
#[derive(Debug, PartialEq, Eq)]
pub enum Flow {
    Continue,
    /// The peer closed: the echo is queued; read no more.
    Closed,
    /// The NATS side stopped (its callback said so).
    Stopped,
}

pub struct WsReader {
    decoder: Decoder,
    /// The compressed message being received (only while one is).
    compressed: Vec<u8>,
    compressed_limit: usize,
    max_payload: usize,
}

impl WsReader {
    pub fn new(require_mask: bool, compression: bool, max_payload: usize) -> WsReader {
        WsReader {
            decoder: Decoder::new(require_mask, compression),
            compressed: Vec::new(),
            compressed_limit: deflate::compressed_limit(max_payload),
            max_payload,
        }
    }

    /// Whether nothing partial is held beyond a few header bytes.
    pub fn is_idle(&self) -> bool {
        self.compressed.is_empty()
    }

    /// Lets go of the memory of a partial message's buffer once it is done.
    pub fn release_memory(&mut self) {
        if self.compressed.is_empty() {
            self.compressed = Vec::new();
        }
    }

    /// Decodes `buf` in place. NATS bytes go to `nats` (false: stop);
    /// PONGs and the echo of a CLOSE are queued on `out`.
    pub fn read(
        &mut self,
        buf: &mut [u8],
        out: &WsWriter,
        nats: &mut dyn FnMut(&[u8]) -> bool,
    ) -> Result<Flow, Violation> {
        let mut flow = Flow::Continue;
        let mut failure = None;
        let compressed = &mut self.compressed;
        let (limit, max_payload) = (self.compressed_limit, self.max_payload);
        self.decoder.decode(buf, &mut |event| match event {
            Event::Data {
                bytes,
                compressed: false,
                ..
            } => {
                if bytes.is_empty() || nats(bytes) {
                    true
                } else {
                    flow = Flow::Stopped;
                    false
                }
            }
            Event::Data {
                bytes,
                compressed: true,
                end,
            } => {
                if compressed.len() + bytes.len() > limit {
                    failure = Some(too_big());
                    return false;
                }
                compressed.extend_from_slice(bytes);
                if !end {
                    return true;
                }
                let r = deflate::inflate(compressed, max_payload, |inflated| nats(inflated));
                compressed.clear();
                match r {
                    Ok(true) => true,
                    Ok(false) => {
                        flow = Flow::Stopped;
                        false
                    }
                    Err(InflateError::TooBig) => {
                        failure = Some(too_big());
                        false
                    }
                    Err(InflateError::Corrupt) => {
                        failure = Some(Violation {
                            code: close::INVALID_PAYLOAD,
                            reason: "invalid compressed data",
                        });
                        false
                    }
                }
            }
            Event::Ping(payload) => {
                out.owe_control(|c| frame::write_control(c, frame::OP_PONG, payload));
                true
            }
            Event::Pong => true,
            Event::Close { code, reason } => {
                let mut echo = Vec::with_capacity(2 + reason.len() + 2);
                match code {
                    Some(code) => frame::write_close(&mut echo, code, reason),
                    None => frame::write_control(&mut echo, frame::OP_CLOSE, &[]),
                }
                out.set_close_frame(echo);
                flow = Flow::Closed;
                false
            }
        })?;
        match failure {
            Some(v) => {
                self.compressed = Vec::new();
                Err(v)
            }
            None => Ok(flow),
        }
    }
}

fn too_big() -> Violation {
    Violation {
        code: close::MESSAGE_TOO_BIG,
        reason: "Maximum Payload Violation",
    }
}

// --- the write half --------------------------------------------------------

/// Output state of a WebSocket connection, shared by its reader (which owes
/// PONGs and echoes) and its writer.
pub struct WsWriter {
    pub framing: Framing,
    /// Control frames owed, sent before the next batch.
    control: RefCell<Vec<u8>>,
    /// The CLOSE frame to end with; the first reason to close wins.
    close: RefCell<Option<Vec<u8>>>,
    close_sent: Cell<bool>,
}

/// A batch made ready for the socket.
pub struct Framed {
    pub wire: Vec<u8>,
    /// Where the bytes to write start in `wire`.
    pub from: usize,
    /// The batch was framed where it lay (`wire` is the batch); otherwise
    /// `wire` is the spare wire buffer and `batch` comes back unused.
    pub in_place: bool,
    pub other: Vec<u8>,
}

impl WsWriter {
    pub fn new(framing: Framing) -> WsWriter {
        WsWriter {
            framing,
            control: RefCell::new(Vec::new()),
            close: RefCell::new(None),
            close_sent: Cell::new(false),
        }
    }

    pub fn owe_control(&self, write: impl FnOnce(&mut Vec<u8>)) {
        write(&mut self.control.borrow_mut());
    }

    pub fn has_control(&self) -> bool {
        !self.control.borrow().is_empty()
    }

    /// The connection is to end with a CLOSE of `code` (unless one is set).
    pub fn set_close(&self, code: u16, reason: &str) {
        let mut f = Vec::with_capacity(4 + reason.len());
        frame::write_close(&mut f, code, reason.as_bytes());
        self.set_close_frame(f);
    }

    fn set_close_frame(&self, f: Vec<u8>) {
        let mut slot = self.close.borrow_mut();
        if slot.is_none() && !self.close_sent.get() {
            *slot = Some(f);
        }
    }

    /// The CLOSE frame to write last, once.
    pub fn take_close_frame(&self) -> Option<Vec<u8>> {
        let f = self.close.borrow_mut().take();
        if f.is_some() {
            self.close_sent.set(true);
        }
        f
    }

    /// Frames `batch` (ROOM bytes of room, then NATS bytes), with any
    /// control frames owed in front. The common case (one uncompressed
    /// frame, nothing owed) writes the header into the room and copies
    /// nothing; the others build the frames in `spare`.
    pub fn frame(&self, mut batch: Vec<u8>, mut spare: Vec<u8>) -> Framed {
        let payload_len = batch.len() - ROOM;
        let f = self.framing;
        let compress = f.compression && payload_len > deflate::COMPRESS_THRESHOLD;
        let split = f.browser && payload_len > BROWSER_FRAME;
        let owed = self.has_control();
        if !compress && !split && !owed {
            let mut room = [0u8; ROOM];
            let at = frame::header(&mut room, true, true, false, payload_len);
            batch[at..ROOM].copy_from_slice(&room[at..]);
            return Framed {
                wire: batch,
                from: at,
                in_place: true,
                other: spare,
            };
        }
        spare.clear();
        spare.append(&mut self.control.borrow_mut());
        let payload = &batch[ROOM..];
        if compress {
            let max = if f.browser && !f.no_compressed_fragments {
                BROWSER_FRAME
            } else {
                usize::MAX
            };
            deflate::with_compressed(payload, |packed| frames_into(&mut spare, packed, max, true));
        } else if split {
            // Browsers: each frame a whole message, as nats-server sends.
            for chunk in payload.chunks(BROWSER_FRAME) {
                frames_into(&mut spare, chunk, usize::MAX, false);
            }
        } else if payload_len > 0 {
            frames_into(&mut spare, payload, usize::MAX, false);
        }
        Framed {
            wire: spare,
            from: 0,
            in_place: false,
            other: batch,
        }
    }
}

/// Appends `data` as one message in frames of at most `max` bytes.
fn frames_into(out: &mut Vec<u8>, data: &[u8], max: usize, compressed: bool) {
    let mut rest = data;
    let mut first = true;
    loop {
        let n = rest.len().min(max);
        let fin = n == rest.len();
        let mut room = [0u8; ROOM];
        let at = frame::header(&mut room, first, fin, compressed && first, n);
        out.extend_from_slice(&room[at..]);
        out.extend_from_slice(&rest[..n]);
        rest = &rest[n..];
        first = false;
        if fin {
            return;
        }
    }
}

#[cfg(test)]
#[path = "transport_tests.rs"]
mod tests;
