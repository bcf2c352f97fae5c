//! The server-to-client half of the NATS protocol (MSG, HMSG, PING, PONG,
//! +OK, -ERR, INFO), parsed in place with memchr, plus the client-side
//! encoders the generator needs (kept out of hot loops: PUB frames are
//! pre-built).

use memchr::memchr;

/// One server operation; slices borrow the read buffer.
#[derive(Debug, PartialEq, Eq)]
pub enum Op<'a> {
    /// `args` is the line after `MSG ` (`subject sid [reply] size`).
    Msg {
        args: &'a [u8],
        payload: &'a [u8],
    },
    /// `args` is the line after `HMSG `; `payload` excludes the headers.
    HMsg {
        args: &'a [u8],
        headers: &'a [u8],
        payload: &'a [u8],
    },
    Ping,
    Pong,
    Ok,
    Err(&'a [u8]),
    Info(&'a [u8]),
}

/// A protocol error in what the server sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError(pub String);

impl std::fmt::Display for ParseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "protocol: {}", self.0)
    }
}

impl std::error::Error for ParseError {}

impl From<ParseError> for std::io::Error {
    fn from(e: ParseError) -> Self {
        std::io::Error::new(std::io::ErrorKind::InvalidData, e)
    }
}

const MAX_LINE: usize = 64 * 1024;

/// The decimal number at the end of `args` (after the last space).
#[inline]
fn trailing_number(args: &[u8]) -> Option<(usize, &[u8])> {
    let mut i = args.len();
    let mut n: usize = 0;
    let mut mul: usize = 1;
    while i > 0 {
        let c = args[i - 1];
        if c.is_ascii_digit() {
            n = n.checked_add((c - b'0') as usize * mul)?;
            mul = mul.checked_mul(10)?;
            i -= 1;
        } else {
            break;
        }
    }
    if i == args.len() {
        return None;
    }
    // Drop the separating space(s).
    let mut j = i;
    while j > 0 && (args[j - 1] == b' ' || args[j - 1] == b'\t') {
        j -= 1;
    }
    Some((n, &args[..j]))
}

/// Splits protocol arguments on spaces and tabs (at most 5 tokens).
#[inline]
pub fn split_args(args: &[u8]) -> ([&[u8]; 5], usize) {
    let mut out: [&[u8]; 5] = [&[]; 5];
    let mut n = 0;
    let mut i = 0;
    let len = args.len();
    while i < len && n < 5 {
        while i < len && (args[i] == b' ' || args[i] == b'\t') {
            i += 1;
        }
        if i == len {
            break;
        }
        let start = i;
        while i < len && args[i] != b' ' && args[i] != b'\t' {
            i += 1;
        }
        out[n] = &args[start..i];
        n += 1;
    }
    (out, n)
}

/// The reply subject of a MSG (`subject sid reply size`), if any.
pub fn msg_reply(args: &[u8]) -> Option<&[u8]> {
    let (t, n) = split_args(args);
    (n == 4).then_some(t[2])
}

/// The subject of a MSG.
pub fn msg_subject(args: &[u8]) -> &[u8] {
    split_args(args).0[0]
}

/// Parses every complete operation at the front of `buf`, calling `f` for
/// each; returns the bytes consumed (a partial operation stays for later).
#[inline]
pub fn parse<'a, E>(
    buf: &'a [u8],
    mut f: impl FnMut(Op<'a>) -> Result<(), E>,
) -> Result<Result<usize, ParseError>, E> {
    let mut pos = 0;
    loop {
        match next_op(&buf[pos..]) {
            Ok(Some((op, n))) => {
                f(op)?;
                pos += n;
            }
            Ok(None) => return Ok(Ok(pos)),
            Err(e) => return Ok(Err(e)),
        }
    }
}

/// The first complete operation in `buf` and its length on the wire.
#[inline]
pub fn next_op(rest: &[u8]) -> Result<Option<(Op<'_>, usize)>, ParseError> {
    let Some(nl) = memchr(b'\n', rest) else {
        if rest.len() > MAX_LINE {
            return Err(ParseError("control line over 64 KiB".into()));
        }
        return Ok(None);
    };
    let line = if nl > 0 && rest[nl - 1] == b'\r' {
        &rest[..nl - 1]
    } else {
        &rest[..nl]
    };
    let body = nl + 1;
    let op = match line.first().copied() {
        Some(b'M') if line.starts_with(b"MSG ") => {
            let args = &line[4..];
            let Some((size, _)) = trailing_number(args) else {
                return Err(bad_line(line));
            };
            let need = body + size + 2;
            if rest.len() < need {
                return Ok(None);
            }
            return Ok(Some((
                Op::Msg {
                    args,
                    payload: &rest[body..body + size],
                },
                need,
            )));
        }
        Some(b'H') if line.starts_with(b"HMSG ") => {
            let args = &line[5..];
            let Some((total, head)) = trailing_number(args) else {
                return Err(bad_line(line));
            };
            let Some((hlen, _)) = trailing_number(head) else {
                return Err(bad_line(line));
            };
            if hlen > total {
                return Err(bad_line(line));
            }
            let need = body + total + 2;
            if rest.len() < need {
                return Ok(None);
            }
            let op = Op::HMsg {
                args,
                headers: &rest[body..body + hlen],
                payload: &rest[body + hlen..body + total],
            };
            return Ok(Some((op, need)));
        }
        Some(b'P') if line == b"PING" => Op::Ping,
        Some(b'P') if line == b"PONG" => Op::Pong,
        Some(b'+') if line == b"+OK" => Op::Ok,
        Some(b'-') if line.starts_with(b"-ERR") => Op::Err(trim(&line[4..])),
        Some(b'I') if line.starts_with(b"INFO") => Op::Info(trim(&line[4..])),
        _ if line.is_empty() => {
            // A stray line end: skip it and look again.
            return next_op(&rest[body..]).map(|o| o.map(|(op, n)| (op, n + body)));
        }
        _ => {
            // Lower-case verbs are legal but no server sends them.
            let upper: Vec<u8> = line.to_ascii_uppercase();
            if upper == b"PING" {
                Op::Ping
            } else if upper == b"PONG" {
                Op::Pong
            } else if upper == b"+OK" {
                Op::Ok
            } else {
                return Err(bad_line(line));
            }
        }
    };
    Ok(Some((op, body)))
}

fn trim(s: &[u8]) -> &[u8] {
    let a = s
        .iter()
        .position(|c| !c.is_ascii_whitespace())
        .unwrap_or(s.len());
    let b = s
        .iter()
        .rposition(|c| !c.is_ascii_whitespace())
        .map_or(a, |p| p + 1);
    &s[a..b.max(a)]
}

fn bad_line(line: &[u8]) -> ParseError {
    let shown = &line[..line.len().min(80)];
    ParseError(format!(
        "unexpected line {:?}",
        String::from_utf8_lossy(shown)
    ))
}

/// Appends a decimal number.
#[inline]
pub fn push_u64(out: &mut Vec<u8>, mut n: u64) {
    let mut tmp = [0u8; 20];
    let mut i = tmp.len();
    loop {
        i -= 1;
        tmp[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&tmp[i..]);
}

/// Appends `PUB subject [reply] size\r\n`.
pub fn push_pub_header(out: &mut Vec<u8>, subject: &[u8], reply: Option<&[u8]>, size: usize) {
    out.extend_from_slice(b"PUB ");
    out.extend_from_slice(subject);
    out.push(b' ');
    if let Some(r) = reply {
        out.extend_from_slice(r);
        out.push(b' ');
    }
    push_u64(out, size as u64);
    out.extend_from_slice(b"\r\n");
}

/// Parses a decimal number.
pub fn parse_u64(s: &[u8]) -> Option<u64> {
    if s.is_empty() || s.len() > 19 {
        return None;
    }
    let mut n = 0u64;
    for &c in s {
        if !c.is_ascii_digit() {
            return None;
        }
        n = n * 10 + (c - b'0') as u64;
    }
    Some(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(buf: &[u8]) -> (Vec<String>, usize) {
        let mut v = Vec::new();
        let n = parse::<()>(buf, |op| {
            v.push(match op {
                Op::Msg { args, payload } => {
                    format!(
                        "MSG[{}][{}]",
                        String::from_utf8_lossy(args),
                        String::from_utf8_lossy(payload)
                    )
                }
                Op::HMsg {
                    args,
                    headers,
                    payload,
                } => format!(
                    "HMSG[{}][{}][{}]",
                    String::from_utf8_lossy(args),
                    String::from_utf8_lossy(headers),
                    String::from_utf8_lossy(payload)
                ),
                other => format!("{other:?}"),
            });
            Ok(())
        })
        .unwrap()
        .unwrap();
        (v, n)
    }

    #[test]
    fn parses_ops_and_stops_at_partial() {
        let wire = b"INFO {\"a\":1}\r\nPING\r\nMSG s 1 5\r\nhello\r\nMSG s 1 r 0\r\n\r\nHMSG s 2 12 14\r\nNATS/1.0\r\n\r\nhi\r\n+OK\r\n-ERR 'x'\r\nPONG\r\nMSG s 1 10\r\nabc";
        let (ops, n) = all(wire);
        assert_eq!(
            ops,
            vec![
                "Info([123, 34, 97, 34, 58, 49, 125])",
                "Ping",
                "MSG[s 1 5][hello]",
                "MSG[s 1 r 0][]",
                "HMSG[s 2 12 14][NATS/1.0\r\n\r\n][hi]",
                "Ok",
                "Err([39, 120, 39])",
                "Pong",
            ]
        );
        assert_eq!(&wire[n..], b"MSG s 1 10\r\nabc");
        // Byte by byte gives the same.
        let mut got = Vec::new();
        let mut buf = Vec::new();
        for &b in wire.iter() {
            buf.push(b);
            let (ops, n) = all(&buf);
            got.extend(ops);
            buf.drain(..n);
        }
        assert_eq!(got.len(), 8);
    }

    #[test]
    fn msg_args() {
        assert_eq!(msg_reply(b"s 1 inbox.7 5"), Some(&b"inbox.7"[..]));
        assert_eq!(msg_reply(b"s 1 5"), None);
        assert_eq!(msg_subject(b"s.x 1 5"), b"s.x");
        let mut v = Vec::new();
        push_pub_header(&mut v, b"a", Some(b"r"), 1234567);
        assert_eq!(v, b"PUB a r 1234567\r\n");
        assert_eq!(parse_u64(b"18446744073709551"), Some(18446744073709551));
        assert_eq!(parse_u64(b"1x"), None);
    }

    #[test]
    fn bad_lines_are_errors() {
        assert!(parse::<()>(b"FOO\r\n", |_| Ok(())).unwrap().is_err());
        assert!(parse::<()>(b"MSG s 1 x\r\n", |_| Ok(())).unwrap().is_err());
    }
}
