//! A raw WebSocket client for edge cases: the upgrade by hand, frames
//! masked by hand, frames read back one by one.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

pub const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";

/// The request nats.ws sends, give or take; `extra` headers are added.
pub fn request(extra: &[&str]) -> String {
    let mut r = format!(
        "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {KEY}\r\nSec-WebSocket-Version: 13\r\n"
    );
    for h in extra {
        r.push_str(h);
        r.push_str("\r\n");
    }
    r.push_str("\r\n");
    r
}

pub struct Frame {
    pub b0: u8,
    pub payload: Vec<u8>,
}

impl Frame {
    pub fn opcode(&self) -> u8 {
        self.b0 & 0x0f
    }

    pub fn close_code(&self) -> u16 {
        assert_eq!(self.opcode(), 8, "not a CLOSE frame");
        u16::from_be_bytes([self.payload[0], self.payload[1]])
    }
}

pub struct WsRaw<S = TcpStream> {
    pub stream: S,
    buf: Vec<u8>,
    /// NATS bytes of data frames read so far and not yet taken as lines.
    nats: Vec<u8>,
    pub frames_seen: Vec<(u8, usize)>,
}

impl WsRaw {
    /// Connects and sends `request` as is.
    pub fn open(addr: &str, request: &str) -> WsRaw {
        let stream = TcpStream::connect(addr).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        WsRaw::over(stream, request)
    }

    /// Upgrades with `extra` headers; panics unless the answer is 101.
    /// Returns the client and the INFO line.
    pub fn upgrade(addr: &str, extra: &[&str]) -> (WsRaw, String) {
        WsRaw::open(addr, &request(extra)).upgraded()
    }
}

impl<S: Read + Write> WsRaw<S> {
    /// Sends `request` as is over a stream already open (TLS, say).
    pub fn over(mut stream: S, request: &str) -> WsRaw<S> {
        stream.write_all(request.as_bytes()).unwrap();
        WsRaw {
            stream,
            buf: Vec::new(),
            nats: Vec::new(),
            frames_seen: Vec::new(),
        }
    }

    /// Reads the answer to the upgrade request: panics unless it is 101.
    /// Returns the client and the INFO line.
    pub fn upgraded(mut self) -> (WsRaw<S>, String) {
        let head = self.response();
        assert!(head.starts_with("HTTP/1.1 101 "), "{head}");
        let info = self.line();
        assert!(info.starts_with("INFO {"), "{info}");
        (self, info)
    }

    /// The response head (status line and headers).
    pub fn response(&mut self) -> String {
        loop {
            if let Some(i) = self.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                let head: Vec<u8> = self.buf.drain(..i + 4).collect();
                return String::from_utf8(head).unwrap();
            }
            self.fill();
        }
    }

    fn fill(&mut self) {
        let mut chunk = [0u8; 65536];
        let n = self.stream.read(&mut chunk).expect("read (timeout?)");
        assert!(
            n > 0,
            "connection closed; had {:?}",
            String::from_utf8_lossy(&self.buf)
        );
        self.buf.extend_from_slice(&chunk[..n]);
    }

    /// Sends one masked frame.
    pub fn send_frame(&mut self, b0: u8, payload: &[u8]) {
        let f = masked_frame(b0, payload);
        self.stream.write_all(&f).unwrap();
    }

    /// Sends NATS bytes in one binary frame.
    pub fn send(&mut self, nats: &[u8]) {
        self.send_frame(0x82, nats);
    }

    /// The next frame from the server. Panics on EOF or timeout.
    pub fn frame(&mut self) -> Frame {
        loop {
            if let Some((f, used)) = parse_frame(&self.buf) {
                self.buf.drain(..used);
                self.frames_seen.push((f.b0, f.payload.len()));
                return f;
            }
            self.fill();
        }
    }

    /// The next NATS line, across data frames; control frames before it
    /// are skipped unless they are CLOSE (then it panics with the code).
    pub fn line(&mut self) -> String {
        loop {
            if let Some(i) = self.nats.windows(2).position(|w| w == b"\r\n") {
                let line: Vec<u8> = self.nats.drain(..i + 2).collect();
                return String::from_utf8_lossy(&line[..i]).into_owned();
            }
            let f = self.frame();
            match f.opcode() {
                0..=2 => self.take_data(f),
                8 => panic!("closed with {} while waiting for a line", f.close_code()),
                _ => {}
            }
        }
    }

    /// Exactly `n` payload bytes and their CRLF.
    pub fn payload(&mut self, n: usize) -> Vec<u8> {
        while self.nats.len() < n + 2 {
            let f = self.frame();
            if matches!(f.opcode(), 0..=2) {
                self.take_data(f);
            }
        }
        let p: Vec<u8> = self.nats.drain(..n + 2).collect();
        assert_eq!(&p[n..], b"\r\n");
        p[..n].to_vec()
    }

    /// Frames until a CLOSE; returns its code and any NATS text before it.
    pub fn until_close(&mut self) -> (u16, String) {
        loop {
            let f = self.frame();
            match f.opcode() {
                8 => {
                    let text = String::from_utf8_lossy(&self.nats).into_owned();
                    return (f.close_code(), text);
                }
                0..=2 => self.take_data(f),
                _ => {}
            }
        }
    }

    /// A data frame's NATS bytes (inflated when the frame is compressed:
    /// the server sends each compressed message in one frame).
    fn take_data(&mut self, f: Frame) {
        if f.b0 & 0x40 != 0 {
            self.nats.extend(inflate(&f.payload));
        } else {
            self.nats.extend_from_slice(&f.payload);
        }
    }

    /// Whether the server has shut the connection (EOF or reset).
    pub fn closed(&mut self) -> bool {
        let mut chunk = [0u8; 4096];
        loop {
            match self.stream.read(&mut chunk) {
                Ok(0) => return true,
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return true,
                Err(_) => return false,
            }
        }
    }

    /// PING, then lines up to the PONG; returns those before it.
    pub fn round_trip(&mut self) -> Vec<String> {
        self.send(b"PING\r\n");
        let mut lines = Vec::new();
        loop {
            let l = self.line();
            if l == "PONG" {
                return lines;
            }
            lines.push(l);
        }
    }
}

/// A client frame: masked with a fixed key.
pub fn masked_frame(b0: u8, payload: &[u8]) -> Vec<u8> {
    let key = [0x3a, 0x91, 0x05, 0xc7];
    let mut f = vec![b0];
    match payload.len() {
        0..=125 => f.push(0x80 | payload.len() as u8),
        126..=0xffff => {
            f.push(0x80 | 126);
            f.extend_from_slice(&(payload.len() as u16).to_be_bytes());
        }
        n => {
            f.push(0x80 | 127);
            f.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    f.extend_from_slice(&key);
    f.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
    f
}

/// A server frame at the start of `buf`, and its length.
fn parse_frame(buf: &[u8]) -> Option<(Frame, usize)> {
    if buf.len() < 2 {
        return None;
    }
    assert_eq!(buf[1] & 0x80, 0, "the server masked a frame");
    let (len, at) = match buf[1] & 0x7f {
        126 => (u16::from_be_bytes([*buf.get(2)?, *buf.get(3)?]) as usize, 4),
        127 => (
            u64::from_be_bytes(buf.get(2..10)?.try_into().unwrap()) as usize,
            10,
        ),
        l => (l as usize, 2),
    };
    let payload = buf.get(at..at + len)?.to_vec();
    Some((
        Frame {
            b0: buf[0],
            payload,
        },
        at + len,
    ))
}

/// DEFLATE as a client compresses a message: raw, sync-flushed, the
/// trailing 00 00 ff ff dropped (RFC 7692 §7.2.1).
pub fn client_deflate(data: &[u8]) -> Vec<u8> {
    use miniz_oxide::deflate::core::{
        compress, create_comp_flags_from_zip_params, CompressorOxide, TDEFLFlush,
    };
    let mut c = CompressorOxide::new(create_comp_flags_from_zip_params(6, -15, 0));
    let mut out = vec![0u8; data.len() + data.len() / 2 + 1024];
    let (_, _, n) = compress(&mut c, data, &mut out, TDEFLFlush::Sync);
    out.truncate(n);
    assert_eq!(&out[n - 4..], &[0, 0, 0xff, 0xff]);
    out.truncate(n - 4);
    out
}

/// Inflates a server's compressed message.
pub fn inflate(data: &[u8]) -> Vec<u8> {
    // The dropped sync-flush trailer, then a final empty block.
    let mut input = data.to_vec();
    input.extend_from_slice(&[0, 0, 0xff, 0xff, 0x01, 0x00, 0x00, 0xff, 0xff]);
    miniz_oxide::inflate::decompress_to_vec(&input).expect("a DEFLATE stream")
}
