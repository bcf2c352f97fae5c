//! Encoders for what the server sends to clients, appending to a `Vec<u8>`.
//!
//! `MSG` and `HMSG` lines are written once per delivered message, so they
//! have a fast path: [`write_msg_line`] reserves the line's exact length once
//! and formats the size with a small table-driven integer formatter;
//! [`Decimal`] lets a size formatted once be reused for every subscriber.

use serde::{Deserialize, Serialize};

/// `PING\r\n`.
pub const PING: &[u8] = b"PING\r\n";
/// `PONG\r\n`.
pub const PONG: &[u8] = b"PONG\r\n";
/// `+OK\r\n`.
pub const OK: &[u8] = b"+OK\r\n";
/// The header block of a "no responders" status message.
pub const NO_RESPONDERS_HEADERS: &[u8] = b"NATS/1.0 503\r\n\r\n";

/// Pairs of decimal digits for 00 to 99.
const DIGIT_PAIRS: &[u8; 200] = b"\
0001020304050607080910111213141516171819\
2021222324252627282930313233343536373839\
4041424344454647484950515253545556575859\
6061626364656667686970717273747576777879\
8081828384858687888990919293949596979899";

/// A `u64` formatted in decimal, on the stack.
#[derive(Clone, Copy)]
pub struct Decimal {
    buf: [u8; 20],
    start: u8,
}

impl Decimal {
    /// Formats `n`.
    #[inline]
    pub fn new(mut n: u64) -> Self {
        let mut buf = [0u8; 20];
        let mut i = buf.len();
        while n >= 100 {
            let pair = (n % 100) as usize * 2;
            n /= 100;
            i -= 2;
            buf[i] = DIGIT_PAIRS[pair];
            buf[i + 1] = DIGIT_PAIRS[pair + 1];
        }
        if n >= 10 {
            let pair = n as usize * 2;
            i -= 2;
            buf[i] = DIGIT_PAIRS[pair];
            buf[i + 1] = DIGIT_PAIRS[pair + 1];
        } else {
            i -= 1;
            buf[i] = b'0' + n as u8;
        }
        Self {
            buf,
            start: i as u8,
        }
    }

    /// The digits.
    #[inline]
    pub fn as_bytes(&self) -> &[u8] {
        &self.buf[self.start as usize..]
    }
}

impl std::fmt::Debug for Decimal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(std::str::from_utf8(self.as_bytes()).unwrap_or("?"))
    }
}

/// Appends `n` in decimal.
#[inline]
pub fn write_u64(out: &mut Vec<u8>, n: u64) {
    out.extend_from_slice(Decimal::new(n).as_bytes());
}

/// Appends `MSG <subject> <sid> [reply] <size>\r\n`, the line before a
/// payload of `size` bytes.
#[inline]
pub fn write_msg_line(
    out: &mut Vec<u8>,
    subject: &[u8],
    sid: &[u8],
    reply: Option<&[u8]>,
    size: usize,
) {
    write_msg_line_digits(
        out,
        subject,
        sid,
        reply,
        Decimal::new(size as u64).as_bytes(),
    );
}

/// As [`write_msg_line`], with the size already formatted (see [`Decimal`]).
#[inline]
pub fn write_msg_line_digits(
    out: &mut Vec<u8>,
    subject: &[u8],
    sid: &[u8],
    reply: Option<&[u8]>,
    size: &[u8],
) {
    write_line(out, b"MSG ", subject, sid, reply, &[size]);
}

/// `<verb><subject> <sid> [reply] <size> [<size>]\r\n`: the line MSG and
/// HMSG share, reserved for in one go.
#[inline]
fn write_line(
    out: &mut Vec<u8>,
    verb: &[u8],
    subject: &[u8],
    sid: &[u8],
    reply: Option<&[u8]>,
    sizes: &[&[u8]],
) {
    let reply_len = reply.map_or(0, |r| r.len() + 1);
    let sizes_len: usize = sizes.iter().map(|s| s.len() + 1).sum();
    out.reserve(verb.len() + subject.len() + 1 + sid.len() + 1 + reply_len + sizes_len + 1);
    out.extend_from_slice(verb);
    out.extend_from_slice(subject);
    out.push(b' ');
    out.extend_from_slice(sid);
    out.push(b' ');
    if let Some(reply) = reply {
        out.extend_from_slice(reply);
        out.push(b' ');
    }
    for (i, size) in sizes.iter().enumerate() {
        if i > 0 {
            out.push(b' ');
        }
        out.extend_from_slice(size);
    }
    out.extend_from_slice(b"\r\n");
}

/// Appends a whole `MSG`: its line, the payload and the closing CRLF.
#[inline]
pub fn write_msg(
    out: &mut Vec<u8>,
    subject: &[u8],
    sid: &[u8],
    reply: Option<&[u8]>,
    payload: &[u8],
) {
    let size = Decimal::new(payload.len() as u64);
    let reply_len = reply.map_or(0, |r| r.len() + 1);
    out.reserve(
        4 + subject.len()
            + 1
            + sid.len()
            + 1
            + reply_len
            + size.as_bytes().len()
            + 4
            + payload.len(),
    );
    write_msg_line_digits(out, subject, sid, reply, size.as_bytes());
    out.extend_from_slice(payload);
    out.extend_from_slice(b"\r\n");
}

/// Appends `HMSG <subject> <sid> [reply] <header_len> <total_len>\r\n`, the
/// line before `total_len` bytes of headers and payload.
#[inline]
pub fn write_hmsg_line(
    out: &mut Vec<u8>,
    subject: &[u8],
    sid: &[u8],
    reply: Option<&[u8]>,
    header_len: usize,
    total_len: usize,
) {
    let hdr = Decimal::new(header_len as u64);
    let total = Decimal::new(total_len as u64);
    write_hmsg_line_digits(out, subject, sid, reply, hdr.as_bytes(), total.as_bytes());
}

/// As [`write_hmsg_line`], with the sizes already formatted.
#[inline]
pub fn write_hmsg_line_digits(
    out: &mut Vec<u8>,
    subject: &[u8],
    sid: &[u8],
    reply: Option<&[u8]>,
    header_len: &[u8],
    total_len: &[u8],
) {
    write_line(out, b"HMSG ", subject, sid, reply, &[header_len, total_len]);
}

/// Appends a whole `HMSG`: `message` holds `header_len` bytes of headers
/// followed by the payload.
#[inline]
pub fn write_hmsg(
    out: &mut Vec<u8>,
    subject: &[u8],
    sid: &[u8],
    reply: Option<&[u8]>,
    header_len: usize,
    message: &[u8],
) {
    out.reserve(message.len() + 2);
    write_hmsg_line(out, subject, sid, reply, header_len, message.len());
    out.extend_from_slice(message);
    out.extend_from_slice(b"\r\n");
}

/// Appends the "no responders" status message sent to a requester's `reply`
/// subject on subscription `sid` when nobody listens on the request subject:
/// `HMSG <reply> <sid> 16 16\r\nNATS/1.0 503\r\n\r\n\r\n`.
#[inline]
pub fn write_no_responders(out: &mut Vec<u8>, reply: &[u8], sid: &[u8]) {
    write_hmsg_line_digits(out, reply, sid, None, b"16", b"16");
    out.extend_from_slice(NO_RESPONDERS_HEADERS);
    out.extend_from_slice(b"\r\n");
}

/// Appends `PING\r\n`.
#[inline]
pub fn write_ping(out: &mut Vec<u8>) {
    out.extend_from_slice(PING);
}

/// Appends `PONG\r\n`.
#[inline]
pub fn write_pong(out: &mut Vec<u8>) {
    out.extend_from_slice(PONG);
}

/// Appends `+OK\r\n`.
#[inline]
pub fn write_ok(out: &mut Vec<u8>) {
    out.extend_from_slice(OK);
}

/// Appends `-ERR '<text>'\r\n`.
pub fn write_err(out: &mut Vec<u8>, text: &str) {
    out.reserve(text.len() + 10);
    out.extend_from_slice(b"-ERR '");
    out.extend_from_slice(text.as_bytes());
    out.extend_from_slice(b"'\r\n");
}

fn is_false(b: &bool) -> bool {
    !*b
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// The server's INFO, with the fields, names and omissions of nats-server's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerInfo {
    pub server_id: String,
    pub server_name: String,
    /// The nats-server version whose behaviour we offer; clients gate
    /// features on it.
    pub version: String,
    pub proto: i64,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub git_commit: String,
    /// The runtime; nats-server puts its Go version here.
    pub go: String,
    pub host: String,
    pub port: u16,
    pub headers: bool,
    #[serde(default, skip_serializing_if = "is_false")]
    pub auth_required: bool,
    #[serde(default, skip_serializing_if = "is_false")]
    pub tls_required: bool,
    #[serde(default, skip_serializing_if = "is_false")]
    pub tls_verify: bool,
    #[serde(default, skip_serializing_if = "is_false")]
    pub tls_available: bool,
    pub max_payload: usize,
    #[serde(default, skip_serializing_if = "is_false")]
    pub jetstream: bool,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub ip: String,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub client_id: u64,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub client_ip: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub nonce: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub cluster: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub domain: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub connect_urls: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ws_connect_urls: Vec<String>,
    #[serde(default, skip_serializing_if = "is_false")]
    pub ldm: bool,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub xkey: String,
}

impl Default for ServerInfo {
    fn default() -> Self {
        Self {
            server_id: String::new(),
            server_name: String::new(),
            version: "2.9.10".to_owned(),
            proto: super::PROTO_VERSION,
            git_commit: String::new(),
            go: "rust".to_owned(),
            host: "0.0.0.0".to_owned(),
            port: 4222,
            headers: true,
            auth_required: false,
            tls_required: false,
            tls_verify: false,
            tls_available: false,
            max_payload: super::DEFAULT_MAX_PAYLOAD,
            jetstream: false,
            ip: String::new(),
            client_id: 0,
            client_ip: String::new(),
            nonce: String::new(),
            cluster: String::new(),
            domain: String::new(),
            connect_urls: Vec::new(),
            ws_connect_urls: Vec::new(),
            ldm: false,
            xkey: String::new(),
        }
    }
}

/// Appends `INFO <json> \r\n`. Like nats-server, a space precedes the CRLF.
pub fn write_info(out: &mut Vec<u8>, info: &ServerInfo) {
    out.extend_from_slice(b"INFO ");
    // Serialising these field types into a Vec cannot fail.
    serde_json::to_writer(&mut *out, info).expect("ServerInfo serialises");
    out.extend_from_slice(b" \r\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What a client would read: one MSG or HMSG.
    #[derive(Debug, PartialEq, Eq)]
    struct Delivered {
        subject: Vec<u8>,
        sid: Vec<u8>,
        reply: Option<Vec<u8>>,
        header_len: Option<usize>,
        message: Vec<u8>,
    }

    /// A small, strict MSG/HMSG reader, written independently of the parser.
    fn read_messages(mut input: &[u8]) -> Vec<Delivered> {
        let mut out = Vec::new();
        while !input.is_empty() {
            let nl = input.windows(2).position(|w| w == b"\r\n").expect("CRLF");
            let line = std::str::from_utf8(&input[..nl]).unwrap();
            input = &input[nl + 2..];
            let fields: Vec<&str> = line.split(' ').collect();
            let (hdr, d) = match fields[0] {
                "MSG" => (false, &fields[1..]),
                "HMSG" => (true, &fields[1..]),
                other => panic!("unexpected {other}"),
            };
            let nsizes = if hdr { 2 } else { 1 };
            assert!(d.len() == 2 + nsizes || d.len() == 3 + nsizes, "{line}");
            let reply = (d.len() == 3 + nsizes).then(|| d[2].as_bytes().to_vec());
            let total: usize = d[d.len() - 1].parse().unwrap();
            let header_len = hdr.then(|| d[d.len() - 2].parse::<usize>().unwrap());
            let message = input[..total].to_vec();
            assert_eq!(&input[total..total + 2], b"\r\n");
            input = &input[total + 2..];
            out.push(Delivered {
                subject: d[0].as_bytes().to_vec(),
                sid: d[1].as_bytes().to_vec(),
                reply,
                header_len,
                message,
            });
        }
        out
    }

    #[test]
    fn decimal_formats_like_std() {
        let mut samples = vec![0u64, 1, 9, 10, 11, 99, 100, 101, 999, 1000, 65535, 1 << 20];
        samples.extend([u64::MAX, u64::MAX - 1, 10u64.pow(19), 10u64.pow(19) - 1]);
        let mut rng = fastrand::Rng::with_seed(7);
        for _ in 0..10_000 {
            let bits = rng.u32(0..64);
            samples.push(rng.u64(..) >> bits);
        }
        for n in samples {
            assert_eq!(Decimal::new(n).as_bytes(), n.to_string().as_bytes());
            let mut v = b"x".to_vec();
            write_u64(&mut v, n);
            assert_eq!(&v[1..], n.to_string().as_bytes());
        }
    }

    #[test]
    fn msg_exact_bytes() {
        let mut out = Vec::new();
        write_msg(&mut out, b"foo.bar", b"1", None, b"hello");
        assert_eq!(out, b"MSG foo.bar 1 5\r\nhello\r\n");
        out.clear();
        write_msg(&mut out, b"foo", b"22", Some(b"_INBOX.x"), b"");
        assert_eq!(out, b"MSG foo 22 _INBOX.x 0\r\n\r\n");
        out.clear();
        write_msg_line(&mut out, b"a", b"9", None, 1234567);
        assert_eq!(out, b"MSG a 9 1234567\r\n");
    }

    #[test]
    fn hmsg_exact_bytes() {
        let mut out = Vec::new();
        write_hmsg(&mut out, b"foo", b"1", None, 12, b"NATS/1.0\r\n\r\nhi");
        assert_eq!(out, b"HMSG foo 1 12 14\r\nNATS/1.0\r\n\r\nhi\r\n");
        out.clear();
        write_hmsg_line(&mut out, b"foo", b"1", Some(b"r"), 0, 3);
        assert_eq!(out, b"HMSG foo 1 r 0 3\r\n");
    }

    #[test]
    fn no_responders_exact_bytes() {
        let mut out = Vec::new();
        write_no_responders(&mut out, b"_INBOX.abc", b"7");
        assert_eq!(out, b"HMSG _INBOX.abc 7 16 16\r\nNATS/1.0 503\r\n\r\n\r\n");
        assert_eq!(NO_RESPONDERS_HEADERS.len(), 16);
    }

    #[test]
    fn simple_protos() {
        let mut out = Vec::new();
        write_ping(&mut out);
        write_pong(&mut out);
        write_ok(&mut out);
        write_err(&mut out, "Unknown Protocol Operation");
        assert_eq!(
            out,
            b"PING\r\nPONG\r\n+OK\r\n-ERR 'Unknown Protocol Operation'\r\n".as_slice()
        );
    }

    #[test]
    fn encoders_round_trip() {
        let mut rng = fastrand::Rng::with_seed(11);
        let mut out = Vec::new();
        let mut expected = Vec::new();
        for i in 0..500 {
            let subject = format!("s.{}.{}", i, rng.u32(..)).into_bytes();
            let sid = rng.u64(..).to_string().into_bytes();
            let reply = rng.bool().then(|| format!("_INBOX.{i}").into_bytes());
            let len = rng.usize(0..300);
            let mut message: Vec<u8> = (0..len).map(|_| rng.u8(..)).collect();
            if rng.bool() {
                message.extend_from_slice(b"\r\nMSG x 1 2\r\n");
            }
            let header_len = rng.bool().then(|| rng.usize(0..=message.len()));
            match header_len {
                None if rng.bool() => {
                    write_msg(&mut out, &subject, &sid, reply.as_deref(), &message)
                }
                None => {
                    let d = Decimal::new(message.len() as u64);
                    write_msg_line_digits(&mut out, &subject, &sid, reply.as_deref(), d.as_bytes());
                    out.extend_from_slice(&message);
                    out.extend_from_slice(b"\r\n");
                }
                Some(h) => write_hmsg(&mut out, &subject, &sid, reply.as_deref(), h, &message),
            }
            expected.push(Delivered {
                subject,
                sid,
                reply,
                header_len,
                message,
            });
        }
        write_no_responders(&mut out, b"_INBOX.nr", b"5");
        expected.push(Delivered {
            subject: b"_INBOX.nr".to_vec(),
            sid: b"5".to_vec(),
            reply: None,
            header_len: Some(16),
            message: NO_RESPONDERS_HEADERS.to_vec(),
        });
        assert_eq!(read_messages(&out), expected);
    }

    #[test]
    fn info_matches_nats_server_layout() {
        let info = ServerInfo {
            server_id: "NDHQ".into(),
            server_name: "n1".into(),
            port: 14222,
            client_id: 83,
            client_ip: "127.0.0.1".into(),
            ..ServerInfo::default()
        };
        let mut out = Vec::new();
        write_info(&mut out, &info);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "INFO {\"server_id\":\"NDHQ\",\"server_name\":\"n1\",\"version\":\"2.9.10\",\
             \"proto\":1,\"go\":\"rust\",\"host\":\"0.0.0.0\",\"port\":14222,\
             \"headers\":true,\"max_payload\":1048576,\"client_id\":83,\
             \"client_ip\":\"127.0.0.1\"} \r\n"
        );
    }

    #[test]
    fn info_optional_fields() {
        let info = ServerInfo {
            auth_required: true,
            tls_required: true,
            tls_verify: true,
            nonce: "abc".into(),
            connect_urls: vec!["10.0.0.1:4222".into()],
            ws_connect_urls: vec!["10.0.0.1:8080".into()],
            ..ServerInfo::default()
        };
        let mut out = Vec::new();
        write_info(&mut out, &info);
        let json = &out[5..out.len() - 3];
        let v: serde_json::Value = serde_json::from_slice(json).unwrap();
        assert_eq!(v["auth_required"], true);
        assert_eq!(v["tls_required"], true);
        assert_eq!(v["tls_verify"], true);
        assert_eq!(v["nonce"], "abc");
        assert_eq!(v["connect_urls"][0], "10.0.0.1:4222");
        assert_eq!(v["ws_connect_urls"][0], "10.0.0.1:8080");
        for absent in [
            "jetstream",
            "ldm",
            "xkey",
            "cluster",
            "client_id",
            "tls_available",
        ] {
            assert!(v.get(absent).is_none(), "{absent} should be omitted");
        }
        let back: ServerInfo = serde_json::from_slice(json).unwrap();
        assert_eq!(back, info);
    }
}
