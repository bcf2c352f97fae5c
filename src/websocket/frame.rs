//! WebSocket frames (RFC 6455 §5), without IO.
//!
//! The decoder is resumable over any split of the byte stream and copies
//! nothing: it unmasks payloads in place in the caller's read buffer and
//! hands out slices of it. Only a frame header (at most 14 bytes) or a
//! control frame's payload (at most 125) that spans two reads is kept.
//! Outbound, `header` writes the few bytes that go before a payload the
//! caller already holds.

use super::close;
use super::mask;

pub const OP_CONTINUATION: u8 = 0x0;
pub const OP_TEXT: u8 = 0x1;
pub const OP_BINARY: u8 = 0x2;
pub const OP_CLOSE: u8 = 0x8;
pub const OP_PING: u8 = 0x9;
pub const OP_PONG: u8 = 0xA;

const FIN: u8 = 0x80;
const RSV1: u8 = 0x40;
const RSV2_3: u8 = 0x30;
const MASKED: u8 = 0x80;
/// RFC 6455 §5.5: control frames carry at most 125 bytes.
pub const MAX_CONTROL_PAYLOAD: usize = 125;
/// The longest header a server writes (no mask): 2 + 8.
pub const MAX_SERVER_HEADER: usize = 10;

/// What the decoder found, in stream order.
#[derive(Debug, PartialEq, Eq)]
pub enum Event<'a> {
    /// Payload bytes of a text or binary message, unmasked: NATS bytes, or
    /// DEFLATE bytes when the message is `compressed`. `end` marks the last
    /// bytes of the message.
    Data {
        bytes: &'a [u8],
        compressed: bool,
        end: bool,
    },
    /// A PING: the PONG carries the same payload.
    Ping(&'a [u8]),
    Pong,
    /// A valid CLOSE: `code` is absent when the frame had no payload.
    Close {
        code: Option<u16>,
        reason: &'a [u8],
    },
}

/// A rule the peer broke: the connection is closed with this code and reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    pub code: u16,
    pub reason: &'static str,
}

fn protocol(reason: &'static str) -> Violation {
    Violation {
        code: close::PROTOCOL_ERROR,
        reason,
    }
}

#[derive(Clone, Copy)]
enum Stage {
    /// Gathering a header: `have` bytes of it are in `hdr`.
    Header,
    /// In a data frame's payload.
    Data,
    /// In a control frame's payload, gathered into `control`.
    Control,
}

pub struct Decoder {
    stage: Stage,
    hdr: [u8; 14],
    have: u8,
    /// Of the current frame.
    opcode: u8,
    fin: bool,
    masked: bool,
    key: [u8; 4],
    phase: u8,
    remaining: u64,
    /// A text or binary message has begun and its final frame is not in.
    in_message: bool,
    compressed: bool,
    control: [u8; MAX_CONTROL_PAYLOAD],
    control_len: u8,
    require_mask: bool,
    compression: bool,
}

impl Decoder {
    /// `require_mask`: client frames must be masked (RFC 6455 §5.1) unless
    /// the client asked for no masking. `compression`: permessage-deflate
    /// was agreed, so RSV1 may be set.
    pub fn new(require_mask: bool, compression: bool) -> Decoder {
        Decoder {
            stage: Stage::Header,
            hdr: [0; 14],
            have: 0,
            opcode: 0,
            fin: false,
            masked: false,
            key: [0; 4],
            phase: 0,
            remaining: 0,
            in_message: false,
            compressed: false,
            control: [0; MAX_CONTROL_PAYLOAD],
            control_len: 0,
            require_mask,
            compression,
        }
    }

    /// Whether the decoder is between frames (nothing partial kept).
    pub fn is_idle(&self) -> bool {
        matches!(self.stage, Stage::Header) && self.have == 0
    }

    /// Decodes all of `buf` (unmasking it in place), calling `on` for each
    /// event; `on` returns false to stop (the connection is closing).
    pub fn decode(
        &mut self,
        buf: &mut [u8],
        on: &mut dyn FnMut(Event<'_>) -> bool,
    ) -> Result<(), Violation> {
        let mut pos = 0;
        loop {
            match self.stage {
                Stage::Header => {
                    let (used, whole) = self.take_header(&buf[pos..])?;
                    pos += used;
                    if !whole {
                        return Ok(());
                    }
                    // A frame without payload is done with its header.
                    if self.remaining == 0 {
                        let go_on = match self.stage {
                            Stage::Control => self.control_frame(on)?,
                            _ => self.end_data_frame(&mut [], on),
                        };
                        if !go_on {
                            return Ok(());
                        }
                    }
                }
                Stage::Data => {
                    if pos == buf.len() {
                        return Ok(());
                    }
                    let n = (buf.len() - pos).min(self.remaining as usize);
                    let bytes = &mut buf[pos..pos + n];
                    pos += n;
                    if self.masked {
                        self.phase = mask::unmask(bytes, self.key, self.phase as usize) as u8;
                    }
                    self.remaining -= n as u64;
                    let go_on = if self.remaining == 0 {
                        self.end_data_frame(bytes, on)
                    } else {
                        on(Event::Data {
                            bytes,
                            compressed: self.compressed,
                            end: false,
                        })
                    };
                    if !go_on {
                        return Ok(());
                    }
                }
                Stage::Control => {
                    if pos == buf.len() {
                        return Ok(());
                    }
                    let n = (buf.len() - pos).min(self.remaining as usize);
                    let at = self.control_len as usize;
                    let dst = &mut self.control[at..at + n];
                    dst.copy_from_slice(&buf[pos..pos + n]);
                    if self.masked {
                        self.phase = mask::unmask(dst, self.key, self.phase as usize) as u8;
                    }
                    self.control_len += n as u8;
                    self.remaining -= n as u64;
                    pos += n;
                    if self.remaining == 0 && !self.control_frame(on)? {
                        return Ok(());
                    }
                }
            }
        }
    }

    /// The last bytes of a data frame (possibly none): reported, with the
    /// end of the message when this frame is its last.
    fn end_data_frame(&mut self, bytes: &mut [u8], on: &mut dyn FnMut(Event<'_>) -> bool) -> bool {
        self.stage = Stage::Header;
        let end = self.fin;
        if end {
            self.in_message = false;
        }
        if bytes.is_empty() && !end {
            return true;
        }
        on(Event::Data {
            bytes,
            compressed: self.compressed,
            end,
        })
    }

    /// A control frame is whole: checks it and reports it.
    fn control_frame(&mut self, on: &mut dyn FnMut(Event<'_>) -> bool) -> Result<bool, Violation> {
        self.stage = Stage::Header;
        let payload = &self.control[..self.control_len as usize];
        let event = match self.opcode {
            OP_PING => Event::Ping(payload),
            OP_PONG => Event::Pong,
            _ => match payload.len() {
                0 => Event::Close {
                    code: None,
                    reason: &[],
                },
                1 => return Err(protocol("close frame payload cannot be 1 byte")),
                _ => {
                    let code = u16::from_be_bytes([payload[0], payload[1]]);
                    if !close::is_valid_status(code) {
                        return Err(protocol("invalid close status code"));
                    }
                    let reason = &payload[2..];
                    if simdutf8::basic::from_utf8(reason).is_err() {
                        return Err(Violation {
                            code: close::INVALID_PAYLOAD,
                            reason: "invalid utf8 body in close frame",
                        });
                    }
                    Event::Close {
                        code: Some(code),
                        reason,
                    }
                }
            },
        };
        Ok(on(event))
    }

    /// Takes header bytes from `input`; returns how many it used. Once the
    /// header is whole, checks it and moves to the payload.
    fn take_header(&mut self, input: &[u8]) -> Result<(usize, bool), Violation> {
        let mut used = 0;
        loop {
            let need = self.header_len();
            let have = self.have as usize;
            if have >= need {
                break;
            }
            let n = (need - have).min(input.len() - used);
            if n == 0 {
                return Ok((used, false));
            }
            self.hdr[have..have + n].copy_from_slice(&input[used..used + n]);
            self.have += n as u8;
            used += n;
            if self.have == 2 {
                // The first two bytes say how long the rest is; check them
                // before waiting for more.
                self.check_start()?;
            }
        }
        self.start_frame()?;
        Ok((used, true))
    }

    /// The whole header's length as far as the bytes so far tell.
    fn header_len(&self) -> usize {
        if self.have < 2 {
            return 2;
        }
        let ext = match self.hdr[1] & 0x7f {
            126 => 2,
            127 => 8,
            _ => 0,
        };
        let key = if self.hdr[1] & MASKED != 0 { 4 } else { 0 };
        2 + ext + key
    }

    /// Checks of the first two bytes, in nats-server's order.
    fn check_start(&mut self) -> Result<(), Violation> {
        let (b0, b1) = (self.hdr[0], self.hdr[1]);
        let opcode = b0 & 0x0f;
        let fin = b0 & FIN != 0;
        let rsv1 = b0 & RSV1 != 0;
        if b0 & RSV2_3 != 0 {
            return Err(protocol("RSV2 and RSV3 must be clear"));
        }
        if rsv1 && !self.compression {
            return Err(protocol(
                "compressed frame received without negotiated permessage-deflate",
            ));
        }
        if self.require_mask && b1 & MASKED == 0 {
            return Err(protocol("mask bit missing"));
        }
        let len7 = (b1 & 0x7f) as usize;
        match opcode {
            OP_CLOSE | OP_PING | OP_PONG => {
                if len7 > MAX_CONTROL_PAYLOAD {
                    return Err(protocol(
                        "control frame length bigger than maximum allowed of 125 bytes",
                    ));
                }
                if !fin {
                    return Err(protocol("control frame does not have final bit set"));
                }
                if rsv1 {
                    return Err(protocol("control frame must not be compressed"));
                }
            }
            OP_TEXT | OP_BINARY => {
                if self.in_message {
                    return Err(protocol(
                        "new message started before final frame for previous message was received",
                    ));
                }
            }
            OP_CONTINUATION => {
                if !self.in_message || rsv1 {
                    return Err(protocol("invalid continuation frame"));
                }
            }
            _ => return Err(protocol("unknown opcode")),
        }
        Ok(())
    }

    /// The header is whole: set up for the payload.
    fn start_frame(&mut self) -> Result<(), Violation> {
        let (b0, b1) = (self.hdr[0], self.hdr[1]);
        let h = &self.hdr;
        let (len, key_at) = match b1 & 0x7f {
            126 => (u16::from_be_bytes([h[2], h[3]]) as u64, 4),
            127 => {
                let l = u64::from_be_bytes(h[2..10].try_into().unwrap());
                if l >> 63 != 0 {
                    return Err(protocol("invalid 64-bit payload length"));
                }
                (l, 10)
            }
            l => (l as u64, 2),
        };
        self.masked = b1 & MASKED != 0;
        if self.masked {
            self.key.copy_from_slice(&h[key_at..key_at + 4]);
        }
        self.phase = 0;
        self.opcode = b0 & 0x0f;
        self.fin = b0 & FIN != 0;
        self.remaining = len;
        self.have = 0;
        match self.opcode {
            OP_CLOSE | OP_PING | OP_PONG => {
                self.control_len = 0;
                self.stage = Stage::Control;
            }
            op => {
                if op != OP_CONTINUATION {
                    self.compressed = b0 & RSV1 != 0;
                }
                self.in_message = !self.fin;
                self.stage = Stage::Data;
            }
        }
        Ok(())
    }
}

/// The header of an unmasked server frame of `len` payload bytes, written
/// at the end of `room`; returns where it starts. `first`: the frame opens
/// a message (binary), otherwise it continues one; `compressed` sets RSV1.
pub fn header(
    room: &mut [u8; MAX_SERVER_HEADER],
    first: bool,
    fin: bool,
    compressed: bool,
    len: usize,
) -> usize {
    let mut b0 = if first { OP_BINARY } else { OP_CONTINUATION };
    if fin {
        b0 |= FIN;
    }
    if compressed {
        b0 |= RSV1;
    }
    write_header(room, b0, len)
}

fn write_header(room: &mut [u8; MAX_SERVER_HEADER], b0: u8, len: usize) -> usize {
    let at = match len {
        0..=125 => {
            room[9] = len as u8;
            9
        }
        126..=0xffff => {
            room[7] = 126;
            room[8..10].copy_from_slice(&(len as u16).to_be_bytes());
            7
        }
        _ => {
            room[1] = 127;
            room[2..10].copy_from_slice(&(len as u64).to_be_bytes());
            1
        }
    };
    room[at - 1] = b0;
    at - 1
}

/// Appends a whole control frame (PONG, CLOSE) with `payload` (≤ 125 bytes).
pub fn write_control(out: &mut Vec<u8>, opcode: u8, payload: &[u8]) {
    let payload = &payload[..payload.len().min(MAX_CONTROL_PAYLOAD)];
    out.push(FIN | opcode);
    out.push(payload.len() as u8);
    out.extend_from_slice(payload);
}

/// Appends a CLOSE frame with `code` and `reason` (cut to 123 bytes, on a
/// character boundary).
pub fn write_close(out: &mut Vec<u8>, code: u16, reason: &[u8]) {
    let mut cut = reason.len().min(MAX_CONTROL_PAYLOAD - 2);
    while cut > 0 && simdutf8::basic::from_utf8(&reason[..cut]).is_err() {
        cut -= 1;
    }
    let mut payload = [0u8; MAX_CONTROL_PAYLOAD];
    payload[..2].copy_from_slice(&code.to_be_bytes());
    payload[2..2 + cut].copy_from_slice(&reason[..cut]);
    write_control(out, OP_CLOSE, &payload[..2 + cut]);
}

#[cfg(test)]
#[path = "frame_tests.rs"]
mod tests;
