//! WebSocket (RFC 6455) for both ends: frame header encoder and decoder,
//! masking (eight bytes at a time), a streaming frame reader that appends
//! data payloads to a NATS byte buffer, a frame writer (masked for clients,
//! unmasked for the null server), the HTTP upgrade for client and server, and
//! permessage-deflate (RFC 7692) without context takeover, via libdeflate.

use base64::Engine;
use sha1::{Digest, Sha1};

use crate::buf::ByteBuf;

pub const OP_CONT: u8 = 0;
pub const OP_TEXT: u8 = 1;
pub const OP_BINARY: u8 = 2;
pub const OP_CLOSE: u8 = 8;
pub const OP_PING: u8 = 9;
pub const OP_PONG: u8 = 10;

const GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
/// The four bytes a sync flush ends with, which senders strip (RFC 7692 §7.2.1).
pub const DEFLATE_TAIL: [u8; 4] = [0x00, 0x00, 0xff, 0xff];
/// What the receiver appends before inflating: the stripped tail, then an
/// empty final stored block, so a one-shot inflater sees a complete stream.
const INFLATE_TAIL: [u8; 9] = [0x00, 0x00, 0xff, 0xff, 0x01, 0x00, 0x00, 0xff, 0xff];
/// Largest message we inflate (a server's max_payload is at most 64 MiB).
const MAX_INFLATED: usize = 256 << 20;

/// A protocol error in the frames the peer sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WsError(pub String);

impl std::fmt::Display for WsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "websocket: {}", self.0)
    }
}

impl std::error::Error for WsError {}

impl From<WsError> for std::io::Error {
    fn from(e: WsError) -> Self {
        std::io::Error::new(std::io::ErrorKind::InvalidData, e)
    }
}

fn err<T>(msg: impl Into<String>) -> Result<T, WsError> {
    Err(WsError(msg.into()))
}

/// One frame header as it was on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameHeader {
    pub fin: bool,
    pub rsv1: bool,
    pub opcode: u8,
    pub mask: Option<[u8; 4]>,
    pub len: u64,
    /// Bytes the header took (2 to 14).
    pub header_len: usize,
}

/// Bytes a header takes for a payload of `len` bytes.
pub fn header_len(len: usize, masked: bool) -> usize {
    let base = if len < 126 {
        2
    } else if len <= 0xffff {
        4
    } else {
        10
    };
    base + if masked { 4 } else { 0 }
}

/// Appends a frame header for a payload of `len` bytes.
pub fn encode_header(
    out: &mut Vec<u8>,
    fin: bool,
    rsv1: bool,
    opcode: u8,
    mask: Option<[u8; 4]>,
    len: usize,
) {
    let b0 = (if fin { 0x80 } else { 0 }) | (if rsv1 { 0x40 } else { 0 }) | (opcode & 0x0f);
    let m = if mask.is_some() { 0x80 } else { 0 };
    out.push(b0);
    if len < 126 {
        out.push(m | len as u8);
    } else if len <= 0xffff {
        out.push(m | 126);
        out.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        out.push(m | 127);
        out.extend_from_slice(&(len as u64).to_be_bytes());
    }
    if let Some(k) = mask {
        out.extend_from_slice(&k);
    }
}

/// Decodes a frame header from the start of `buf`: `Ok(None)` when more bytes
/// are needed. Checks what RFC 6455 makes a protocol error in a header.
pub fn decode_header(buf: &[u8]) -> Result<Option<FrameHeader>, WsError> {
    if buf.len() < 2 {
        return Ok(None);
    }
    let b0 = buf[0];
    let b1 = buf[1];
    if b0 & 0x30 != 0 {
        return err("RSV2/RSV3 set");
    }
    let opcode = b0 & 0x0f;
    let fin = b0 & 0x80 != 0;
    if !matches!(opcode, 0 | 1 | 2 | 8 | 9 | 10) {
        return err(format!("unknown opcode {opcode}"));
    }
    let masked = b1 & 0x80 != 0;
    let (len, mut pos) = match b1 & 0x7f {
        126 => {
            if buf.len() < 4 {
                return Ok(None);
            }
            (u16::from_be_bytes([buf[2], buf[3]]) as u64, 4)
        }
        127 => {
            if buf.len() < 10 {
                return Ok(None);
            }
            let l = u64::from_be_bytes(buf[2..10].try_into().unwrap());
            if l >> 63 != 0 {
                return err("64-bit length with the top bit set");
            }
            (l, 10)
        }
        l => (l as u64, 2),
    };
    if opcode >= 8 && (len > 125 || !fin) {
        return err("control frame longer than 125 bytes or fragmented");
    }
    let mask = if masked {
        if buf.len() < pos + 4 {
            return Ok(None);
        }
        let k = [buf[pos], buf[pos + 1], buf[pos + 2], buf[pos + 3]];
        pos += 4;
        Some(k)
    } else {
        None
    };
    Ok(Some(FrameHeader {
        fin,
        rsv1: b0 & 0x40 != 0,
        opcode,
        mask,
        len,
        header_len: pos,
    }))
}

/// The mask key rotated so that index 0 is payload position `offset`,
/// repeated to eight bytes.
#[inline]
fn key64(key: [u8; 4], offset: usize) -> u64 {
    let r = offset & 3;
    let k = [key[r], key[(r + 1) & 3], key[(r + 2) & 3], key[(r + 3) & 3]];
    u64::from_ne_bytes([k[0], k[1], k[2], k[3], k[0], k[1], k[2], k[3]])
}

/// XORs `buf` with the mask `key`, `buf[0]` being payload byte `offset`.
/// Works 32 and 8 bytes at a time with a u64 key (the compiler vectorizes
/// the 32-byte loop); only the last < 8 bytes go one by one.
pub fn mask_in_place(buf: &mut [u8], key: [u8; 4], offset: usize) {
    let k = key64(key, offset);
    let mut chunks = buf.chunks_exact_mut(32);
    for c in &mut chunks {
        for w in c.chunks_exact_mut(8) {
            let v = u64::from_ne_bytes(w.try_into().unwrap()) ^ k;
            w.copy_from_slice(&v.to_ne_bytes());
        }
    }
    let rest = chunks.into_remainder();
    let mut words = rest.chunks_exact_mut(8);
    for w in &mut words {
        let v = u64::from_ne_bytes((&*w).try_into().unwrap()) ^ k;
        w.copy_from_slice(&v.to_ne_bytes());
    }
    let kb = k.to_ne_bytes();
    for (i, b) in words.into_remainder().iter_mut().enumerate() {
        *b ^= kb[i];
    }
}

/// `dst = src ^ mask`, `src[0]` being payload byte `offset`; same speed as
/// [`mask_in_place`] and no separate copy.
pub fn mask_copy(src: &[u8], dst: &mut [u8], key: [u8; 4], offset: usize) {
    assert_eq!(src.len(), dst.len());
    let k = key64(key, offset);
    let mut s = src.chunks_exact(32);
    let mut d = dst.chunks_exact_mut(32);
    for (sc, dc) in (&mut s).zip(&mut d) {
        for (sw, dw) in sc.chunks_exact(8).zip(dc.chunks_exact_mut(8)) {
            let v = u64::from_ne_bytes(sw.try_into().unwrap()) ^ k;
            dw.copy_from_slice(&v.to_ne_bytes());
        }
    }
    let (sr, dr) = (s.remainder(), d.into_remainder());
    let mut s8 = sr.chunks_exact(8);
    let mut d8 = dr.chunks_exact_mut(8);
    for (sw, dw) in (&mut s8).zip(&mut d8) {
        let v = u64::from_ne_bytes(sw.try_into().unwrap()) ^ k;
        dw.copy_from_slice(&v.to_ne_bytes());
    }
    let kb = k.to_ne_bytes();
    for (i, (a, b)) in s8.remainder().iter().zip(d8.into_remainder()).enumerate() {
        *b = *a ^ kb[i];
    }
}

/// The byte-by-byte reference for the tests.
pub fn mask_bytewise(buf: &mut [u8], key: [u8; 4], offset: usize) {
    for (i, b) in buf.iter_mut().enumerate() {
        *b ^= key[(offset + i) & 3];
    }
}

/// A fresh mask key.
#[inline]
pub fn random_key() -> [u8; 4] {
    fastrand::u32(..).to_ne_bytes()
}

/// `Sec-WebSocket-Accept` for a `Sec-WebSocket-Key`.
pub fn accept_key(key: &str) -> String {
    let mut h = Sha1::new();
    h.update(key.as_bytes());
    h.update(GUID.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(h.finalize())
}

/// A random `Sec-WebSocket-Key` (base64 of 16 bytes).
pub fn new_key() -> String {
    let mut k = [0u8; 16];
    for b in &mut k {
        *b = fastrand::u8(..);
    }
    base64::engine::general_purpose::STANDARD.encode(k)
}

/// The client's upgrade request.
pub fn client_request(host: &str, path: &str, key: &str, compress: bool) -> Vec<u8> {
    let mut r = format!(
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\nUser-Agent: loadtest\r\n"
    );
    if compress {
        r.push_str(
            "Sec-WebSocket-Extensions: permessage-deflate; client_no_context_takeover; server_no_context_takeover\r\n",
        );
    }
    r.push_str("\r\n");
    r.into_bytes()
}

/// An HTTP head: status line (or request line) and headers.
#[derive(Debug, Clone)]
pub struct HttpHead {
    pub first_line: String,
    pub headers: Vec<(String, String)>,
}

impl HttpHead {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Parses an HTTP head from the start of `buf`: `Ok(None)` until the blank
/// line has arrived; else the head and the bytes it took.
pub fn parse_http_head(buf: &[u8]) -> Result<Option<(HttpHead, usize)>, WsError> {
    let Some(end) = memchr::memmem::find(buf, b"\r\n\r\n") else {
        if buf.len() > 16 * 1024 {
            return err("HTTP head over 16 KiB");
        }
        return Ok(None);
    };
    let text =
        std::str::from_utf8(&buf[..end]).map_err(|_| WsError("HTTP head is not UTF-8".into()))?;
    let mut lines = text.split("\r\n");
    let first_line = lines.next().unwrap_or("").to_string();
    let mut headers = Vec::new();
    for l in lines {
        if let Some((k, v)) = l.split_once(':') {
            headers.push((k.trim().to_string(), v.trim().to_string()));
        }
    }
    Ok(Some((
        HttpHead {
            first_line,
            headers,
        },
        end + 4,
    )))
}

/// Checks the server's answer to our upgrade: 101, the right accept key.
/// Returns whether permessage-deflate was agreed.
pub fn check_response(head: &HttpHead, key: &str) -> Result<bool, WsError> {
    let status = head.first_line.split_whitespace().nth(1).unwrap_or("");
    if status != "101" {
        return err(format!("upgrade refused: {}", head.first_line));
    }
    match head.header("Sec-WebSocket-Accept") {
        Some(a) if a == accept_key(key) => {}
        other => return err(format!("bad Sec-WebSocket-Accept {other:?}")),
    }
    Ok(head
        .header("Sec-WebSocket-Extensions")
        .is_some_and(|e| e.to_ascii_lowercase().contains("permessage-deflate")))
}

/// The server side of the upgrade (null server): the 101 answer for a
/// request, never agreeing to compression.
pub fn server_response(head: &HttpHead) -> Result<Vec<u8>, WsError> {
    if !head.first_line.starts_with("GET ") {
        return err("not a GET");
    }
    let key = head
        .header("Sec-WebSocket-Key")
        .ok_or_else(|| WsError("no Sec-WebSocket-Key".into()))?;
    Ok(format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {}\r\n\r\n",
        accept_key(key)
    )
    .into_bytes())
}

/// A control frame that arrived (PING, PONG, CLOSE) with its payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Control {
    pub opcode: u8,
    pub payload: Vec<u8>,
}

enum State {
    /// Collecting header bytes in `hdr`.
    Header,
    /// Inside a frame's payload.
    Payload {
        remaining: u64,
        mask: Option<[u8; 4]>,
        offset: usize,
        control: Option<u8>,
        fin: bool,
    },
}

/// Decodes a stream of frames. Data payloads go straight to the caller's
/// NATS buffer (unmasked on the way when masked); a compressed message is
/// gathered whole, then inflated there.
pub struct WsReader {
    state: State,
    hdr: Vec<u8>,
    /// Inside a fragmented data message.
    in_message: bool,
    /// The current message is compressed (RSV1 on its first frame).
    compressed: bool,
    zbuf: Vec<u8>,
    ctrl: Vec<u8>,
    inflater: Option<libdeflater::Decompressor>,
    /// Peer frames must be masked (server side) or must not be (client side).
    expect_masked: bool,
    /// Compression was agreed.
    pub deflate: bool,
}

impl WsReader {
    pub fn new(expect_masked: bool, deflate: bool) -> Self {
        WsReader {
            state: State::Header,
            hdr: Vec::with_capacity(14),
            in_message: false,
            compressed: false,
            zbuf: Vec::new(),
            ctrl: Vec::new(),
            inflater: None,
            expect_masked,
            deflate,
        }
    }

    /// Decodes `input`; NATS bytes are appended to `out`, control frames to
    /// `ctrl_out`.
    pub fn decode(
        &mut self,
        mut input: &[u8],
        out: &mut ByteBuf,
        ctrl_out: &mut Vec<Control>,
    ) -> Result<(), WsError> {
        while !input.is_empty() {
            match self.state {
                State::Header => {
                    // Fast path: the whole header is in `input`.
                    let h = if self.hdr.is_empty() {
                        match decode_header(input)? {
                            Some(h) => {
                                input = &input[h.header_len..];
                                h
                            }
                            None => {
                                self.hdr.extend_from_slice(input);
                                return Ok(());
                            }
                        }
                    } else {
                        let had = self.hdr.len();
                        let take = input.len().min(14 - had);
                        self.hdr.extend_from_slice(&input[..take]);
                        match decode_header(&self.hdr)? {
                            Some(h) => {
                                input = &input[h.header_len - had..];
                                self.hdr.clear();
                                h
                            }
                            None => {
                                input = &input[take..];
                                continue;
                            }
                        }
                    };
                    self.start_frame(h)?;
                    if h.len == 0 {
                        self.end_frame(out, ctrl_out)?;
                    }
                }
                State::Payload {
                    remaining,
                    mask,
                    offset,
                    control,
                    fin,
                } => {
                    let n = (remaining.min(input.len() as u64)) as usize;
                    let (chunk, rest) = input.split_at(n);
                    input = rest;
                    if control.is_some() {
                        let at = self.ctrl.len();
                        self.ctrl.extend_from_slice(chunk);
                        if let Some(k) = mask {
                            mask_in_place(&mut self.ctrl[at..], k, offset);
                        }
                    } else if self.compressed {
                        let at = self.zbuf.len();
                        self.zbuf.extend_from_slice(chunk);
                        if let Some(k) = mask {
                            mask_in_place(&mut self.zbuf[at..], k, offset);
                        }
                        if self.zbuf.len() > MAX_INFLATED {
                            return err("compressed message too large");
                        }
                    } else {
                        match mask {
                            Some(k) => {
                                let dst = out.spare(n);
                                mask_copy(chunk, &mut dst[..n], k, offset);
                                out.commit(n);
                            }
                            None => out.extend(chunk),
                        }
                    }
                    let left = remaining - n as u64;
                    self.state = State::Payload {
                        remaining: left,
                        mask,
                        offset: offset + n,
                        control,
                        fin,
                    };
                    if left == 0 {
                        self.end_frame(out, ctrl_out)?;
                    }
                }
            }
        }
        Ok(())
    }

    fn start_frame(&mut self, h: FrameHeader) -> Result<(), WsError> {
        if h.mask.is_some() != self.expect_masked {
            return err(if self.expect_masked {
                "unmasked client frame"
            } else {
                "masked server frame"
            });
        }
        let control = if h.opcode >= 8 {
            if h.rsv1 {
                return err("compressed control frame");
            }
            self.ctrl.clear();
            Some(h.opcode)
        } else {
            if h.opcode == OP_CONT {
                if !self.in_message {
                    return err("continuation with nothing to continue");
                }
                if h.rsv1 {
                    return err("RSV1 on a continuation frame");
                }
            } else {
                if self.in_message {
                    return err("new data frame before the previous message's FIN");
                }
                if h.rsv1 && !self.deflate {
                    return err("RSV1 without permessage-deflate");
                }
                self.compressed = h.rsv1;
                self.zbuf.clear();
            }
            self.in_message = !h.fin;
            None
        };
        self.state = State::Payload {
            remaining: h.len,
            mask: h.mask,
            offset: 0,
            control,
            fin: h.fin,
        };
        Ok(())
    }

    fn end_frame(&mut self, out: &mut ByteBuf, ctrl_out: &mut Vec<Control>) -> Result<(), WsError> {
        let State::Payload { control, fin, .. } = self.state else {
            unreachable!()
        };
        self.state = State::Header;
        if let Some(op) = control {
            ctrl_out.push(Control {
                opcode: op,
                payload: std::mem::take(&mut self.ctrl),
            });
        } else if fin && self.compressed {
            self.compressed = false;
            self.zbuf.extend_from_slice(&INFLATE_TAIL);
            let inf = self
                .inflater
                .get_or_insert_with(libdeflater::Decompressor::new);
            inflate_into(inf, &self.zbuf, out)?;
            self.zbuf.clear();
        }
        Ok(())
    }
}

/// Inflates a whole raw DEFLATE stream into `out`, growing the room until it
/// fits.
pub fn inflate_into(
    inf: &mut libdeflater::Decompressor,
    data: &[u8],
    out: &mut ByteBuf,
) -> Result<usize, WsError> {
    let mut room = (data.len() * 4).max(64 * 1024);
    loop {
        let dst = out.spare(room);
        match inf.deflate_decompress(data, dst) {
            Ok(n) => {
                out.commit(n);
                return Ok(n);
            }
            Err(libdeflater::DecompressionError::InsufficientSpace) if room < MAX_INFLATED => {
                room *= 2
            }
            Err(e) => return err(format!("inflate: {e}")),
        }
    }
}

/// Deflates one message as permessage-deflate wants it: a raw DEFLATE stream
/// without the trailing `00 00 ff ff`. libdeflate ends the stream with a final
/// block, which RFC 7692 §7.2.3.3 allows (there is no context to keep); we
/// still follow §7.2.1 to the letter: when the output does not end with the
/// empty stored block, one is appended (`00 00 00 ff ff`) and its last four
/// bytes dropped, leaving one `00`.
pub fn deflate_message(c: &mut libdeflater::Compressor, data: &[u8], out: &mut Vec<u8>) {
    let bound = c.deflate_compress_bound(data.len());
    let at = out.len();
    out.resize(at + bound + 1, 0);
    let n = c
        .deflate_compress(data, &mut out[at..at + bound])
        .expect("deflate bound");
    out.truncate(at + n);
    if out[at..].ends_with(&DEFLATE_TAIL) {
        out.truncate(out.len() - 4);
    } else {
        out.push(0);
    }
}

/// Frames NATS bytes for the wire: one frame per call, masked with a fresh
/// key when `mask` (clients), deflated when compression was agreed.
pub struct WsWriter {
    pub mask: bool,
    deflater: Option<libdeflater::Compressor>,
    zbuf: Vec<u8>,
    pub out: Vec<u8>,
}

impl WsWriter {
    pub fn new(mask: bool, deflate: bool) -> Self {
        WsWriter {
            mask,
            deflater: deflate
                .then(|| libdeflater::Compressor::new(libdeflater::CompressionLvl::fastest())),
            zbuf: Vec::new(),
            out: Vec::new(),
        }
    }

    pub fn compressing(&self) -> bool {
        self.deflater.is_some()
    }

    /// Appends one frame carrying `payload` to `self.out`.
    pub fn push_frame(&mut self, opcode: u8, payload: &[u8]) {
        let data = opcode < 8;
        let (rsv1, body): (bool, &[u8]) = match (&mut self.deflater, data) {
            (Some(c), true) => {
                self.zbuf.clear();
                deflate_message(c, payload, &mut self.zbuf);
                (true, &self.zbuf)
            }
            _ => (false, payload),
        };
        let key = self.mask.then(random_key);
        encode_header(&mut self.out, true, rsv1, opcode, key, body.len());
        let at = self.out.len();
        match key {
            Some(k) => {
                self.out.resize(at + body.len(), 0);
                mask_copy(body, &mut self.out[at..], k, 0);
            }
            None => self.out.extend_from_slice(body),
        }
    }

    /// One frame for `payload`, returned for writing (the buffer is reused).
    pub fn frame(&mut self, opcode: u8, payload: &[u8]) -> &[u8] {
        self.out.clear();
        self.push_frame(opcode, payload);
        &self.out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masking_matches_bytewise_reference() {
        let mut rng = fastrand::Rng::with_seed(7);
        for len in (0..200).chain([1023, 4096, 65537]) {
            for offset in 0..5 {
                let data: Vec<u8> = (0..len).map(|_| rng.u8(..)).collect();
                let key = [rng.u8(..), rng.u8(..), rng.u8(..), rng.u8(..)];
                let mut a = data.clone();
                let mut b = data.clone();
                mask_in_place(&mut a, key, offset);
                mask_bytewise(&mut b, key, offset);
                assert_eq!(a, b, "len {len} offset {offset}");
                let mut c = vec![0u8; len];
                mask_copy(&data, &mut c, key, offset);
                assert_eq!(c, b, "copy len {len} offset {offset}");
                // Unaligned slices too.
                if len > 3 {
                    let mut d = data.clone();
                    let mut e = data.clone();
                    mask_in_place(&mut d[3..], key, offset);
                    mask_bytewise(&mut e[3..], key, offset);
                    assert_eq!(d, e);
                }
            }
        }
    }

    #[test]
    fn masking_in_pieces_equals_whole() {
        let data: Vec<u8> = (0..1000u32).map(|i| (i * 7) as u8).collect();
        let key = [1, 2, 3, 4];
        let mut whole = data.clone();
        mask_in_place(&mut whole, key, 0);
        let mut pieces = data.clone();
        let mut off = 0;
        for n in [1, 7, 13, 64, 3, 500] {
            mask_in_place(&mut pieces[off..off + n], key, off);
            off += n;
        }
        mask_in_place(&mut pieces[off..], key, off);
        assert_eq!(whole, pieces);
    }

    #[test]
    fn header_roundtrip() {
        for len in [0usize, 1, 125, 126, 127, 65535, 65536, 1 << 20] {
            for mask in [None, Some([9, 8, 7, 6])] {
                for (fin, rsv1, op) in [
                    (true, false, OP_BINARY),
                    (false, true, OP_TEXT),
                    (true, false, OP_PING),
                ] {
                    if op >= 8 && len > 125 {
                        continue;
                    }
                    let mut v = Vec::new();
                    encode_header(&mut v, fin, rsv1, op, mask, len);
                    assert_eq!(v.len(), header_len(len, mask.is_some()));
                    let h = decode_header(&v).unwrap().unwrap();
                    assert_eq!(
                        h,
                        FrameHeader {
                            fin,
                            rsv1,
                            opcode: op,
                            mask,
                            len: len as u64,
                            header_len: v.len()
                        }
                    );
                    for cut in 0..v.len() {
                        assert_eq!(decode_header(&v[..cut]).unwrap(), None);
                    }
                }
            }
        }
    }

    #[test]
    fn header_errors() {
        assert!(decode_header(&[0x80 | 0x20 | 2, 0]).is_err()); // RSV2
        assert!(decode_header(&[0x80 | 3, 0]).is_err()); // opcode 3
        assert!(decode_header(&[OP_PING, 0]).is_err()); // control without FIN
        assert!(decode_header(&[0x80 | OP_PING, 126, 0, 200]).is_err()); // control > 125
        let mut v = vec![0x82, 127];
        v.extend_from_slice(&(1u64 << 63).to_be_bytes());
        assert!(decode_header(&v).is_err());
    }

    fn decode_all(r: &mut WsReader, wire: &[u8], step: usize) -> (Vec<u8>, Vec<Control>) {
        let mut out = ByteBuf::with_capacity(64);
        let mut ctrl = Vec::new();
        for chunk in wire.chunks(step.max(1)) {
            r.decode(chunk, &mut out, &mut ctrl).unwrap();
        }
        (out.filled().to_vec(), ctrl)
    }

    #[test]
    fn writer_reader_roundtrip_masked_and_compressed() {
        for deflate in [false, true] {
            let mut w = WsWriter::new(true, deflate);
            let msgs: Vec<Vec<u8>> = vec![
                b"PUB a 5\r\nhello\r\n".to_vec(),
                vec![b'x'; 70_000],
                (0..3000u32).map(|i| (i % 251) as u8).collect(),
                b"PING\r\n".to_vec(),
            ];
            w.out.clear();
            for m in &msgs {
                w.push_frame(OP_BINARY, m);
            }
            w.push_frame(OP_PING, b"hi");
            let wire = w.out.clone();
            let want: Vec<u8> = msgs.concat();
            for step in [1, 2, 3, 7, 100, 4096, wire.len()] {
                let mut r = WsReader::new(true, deflate);
                let (got, ctrl) = decode_all(&mut r, &wire, step);
                assert_eq!(got, want, "deflate {deflate} step {step}");
                assert_eq!(
                    ctrl,
                    vec![Control {
                        opcode: OP_PING,
                        payload: b"hi".to_vec()
                    }]
                );
            }
        }
    }

    #[test]
    fn reader_handles_fragments_and_interleaved_control() {
        let mut wire = Vec::new();
        encode_header(&mut wire, false, false, OP_BINARY, None, 3);
        wire.extend_from_slice(b"abc");
        encode_header(&mut wire, true, false, OP_PING, None, 1);
        wire.extend_from_slice(b"p");
        encode_header(&mut wire, true, false, OP_CONT, None, 2);
        wire.extend_from_slice(b"de");
        let mut r = WsReader::new(false, false);
        let (got, ctrl) = decode_all(&mut r, &wire, 1);
        assert_eq!(got, b"abcde");
        assert_eq!(ctrl.len(), 1);
        // Errors.
        let mut r = WsReader::new(false, false);
        let mut out = ByteBuf::with_capacity(16);
        let mut c = Vec::new();
        let mut bad = Vec::new();
        encode_header(&mut bad, true, false, OP_CONT, None, 0);
        assert!(r.decode(&bad, &mut out, &mut c).is_err());
        let mut r = WsReader::new(true, false);
        let mut unmasked = Vec::new();
        encode_header(&mut unmasked, true, false, OP_BINARY, None, 0);
        assert!(r.decode(&unmasked, &mut out, &mut c).is_err());
    }

    #[test]
    fn compressed_fragmented_message() {
        let mut c = libdeflater::Compressor::new(libdeflater::CompressionLvl::default());
        let msg: Vec<u8> = b"MSG bench.0 1 5\r\nhello\r\n".repeat(100);
        let mut z = Vec::new();
        deflate_message(&mut c, &msg, &mut z);
        let (a, b) = z.split_at(z.len() / 2);
        let mut wire = Vec::new();
        encode_header(&mut wire, false, true, OP_BINARY, None, a.len());
        wire.extend_from_slice(a);
        encode_header(&mut wire, true, false, OP_CONT, None, b.len());
        wire.extend_from_slice(b);
        let mut r = WsReader::new(false, true);
        let (got, _) = decode_all(&mut r, &wire, 5);
        assert_eq!(got, msg);
    }

    #[test]
    fn accept_key_rfc_example() {
        assert_eq!(
            accept_key("dGhlIHNhbXBsZSBub25jZQ=="),
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
    }

    #[test]
    fn handshake_roundtrip() {
        let key = new_key();
        let req = client_request("127.0.0.1:8080", "/", &key, true);
        let (head, n) = parse_http_head(&req).unwrap().unwrap();
        assert_eq!(n, req.len());
        let resp = server_response(&head).unwrap();
        let (rh, _) = parse_http_head(&resp).unwrap().unwrap();
        assert!(!check_response(&rh, &key).unwrap());
        assert!(check_response(&rh, "other").is_err());
    }
}
