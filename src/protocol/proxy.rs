//! The PROXY protocol header (HAProxy's `proxy-protocol.txt`, versions 1 and 2)
//! that a load balancer puts before a connection's own bytes to tell the
//! server who the real peer is.
//!
//! A listener in PROXY mode requires the header: the specification forbids
//! guessing whether it is there, since that would let any client spoof its
//! address. So a connection whose first bytes cannot become a header is
//! refused, and refused as soon as that is known (a plain client sending
//! `CONNECT` fails on its first byte instead of waiting for a timeout).
//!
//! [`parse`] is sans-IO and stateless: it is given every byte received so far
//! and either asks for more, rejects, or says how long the header is. A
//! header is at most [`MAX_HEADER`] bytes, so that is all a caller ever needs
//! to buffer before the answer is final.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// What the header says about the connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Proxied {
    /// The real peer: its address, and the address it connected to.
    Peer {
        source: SocketAddr,
        destination: SocketAddr,
    },
    /// v1 `UNKNOWN`, v2 `LOCAL` (the proxy's own connection, e.g. a health
    /// check), or a v2 PROXY over STREAM with `AF_UNSPEC` addresses: keep
    /// the socket's own peer address.
    Local,
}

/// The outcome of [`parse`] when the bytes are not (yet) wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Parsed {
    /// More bytes are needed; nothing is decided yet.
    Incomplete,
    /// The header is complete and valid: the first `len` bytes of the input
    /// are the header, what follows is the connection's own data.
    Done { len: usize, proxied: Proxied },
}

/// Why the first bytes of a connection are not a valid PROXY header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ProxyError {
    /// Neither `PROXY ` (v1) nor the v2 signature.
    #[error("not a PROXY protocol header")]
    NotProxy,
    /// No CRLF within the 107 bytes a v1 line may take.
    #[error("PROXY v1 header longer than 107 bytes")]
    V1TooLong,
    /// A CR not followed by LF, or an LF not preceded by CR.
    #[error("CR or LF in PROXY v1 header other than its closing CRLF")]
    V1LineEnd,
    /// The protocol field is not `TCP4`, `TCP6` or `UNKNOWN`.
    #[error("unknown protocol in PROXY v1 header (TCP4, TCP6 or UNKNOWN expected)")]
    V1Protocol,
    /// An empty field: two spaces in a row, or a space before the CRLF.
    #[error("PROXY v1 header fields must be separated by exactly one space")]
    V1Spacing,
    /// `TCP4`/`TCP6` with fewer than four fields after it.
    #[error("missing field in PROXY v1 header")]
    V1MissingField,
    /// `TCP4`/`TCP6` with more than four fields after it.
    #[error("extra field in PROXY v1 header")]
    V1ExtraField,
    #[error("bad source address in PROXY v1 header")]
    V1Source,
    #[error("bad destination address in PROXY v1 header")]
    V1Destination,
    #[error("bad source port in PROXY v1 header")]
    V1SourcePort,
    #[error("bad destination port in PROXY v1 header")]
    V1DestinationPort,
    /// The high nibble of the 13th byte is not 2.
    #[error("unsupported PROXY v2 version {0}")]
    V2Version(u8),
    /// The low nibble of the 13th byte is neither 0 nor 1.
    #[error("PROXY v2 command {0} is neither LOCAL (0) nor PROXY (1)")]
    V2Command(u8),
    /// An address family other than UNSPEC, INET, INET6 or UNIX.
    #[error("unknown address family {0} in PROXY v2 header")]
    V2Family(u8),
    /// A transport protocol other than UNSPEC, STREAM or DGRAM.
    #[error("unknown transport protocol {0} in PROXY v2 header")]
    V2Transport(u8),
    /// A proxied UDP (or UNIX datagram) flow; the listener is a stream one.
    #[error("PROXY v2 header announces a datagram connection on a stream listener")]
    V2Datagram,
    /// A PROXY command for a transport left unspecified, or for a UNIX
    /// socket: not a TCP client (refused, as newer nats-server does).
    #[error("PROXY v2 header for a connection that is not TCP")]
    V2NotTcp,
    /// The length field leaves less room than the addresses take.
    #[error("PROXY v2 address block of {len} bytes where {need} are needed")]
    V2ShortAddresses { len: u16, need: u16 },
}

/// The most bytes a header can take before it is decided (v1: 107; v2: 16
/// plus a 16-bit length), so callers read at most this much.
pub const MAX_HEADER: usize = 16 + 65535;

/// The longest v1 line, CRLF included.
const V1_MAX: usize = 107;
const V1_PREFIX: &[u8] = b"PROXY ";
const V2_SIGNATURE: [u8; 12] = *b"\r\n\r\n\0\r\nQUIT\n";
/// Bytes of a v2 header before its address block.
const V2_FIXED: usize = 16;

/// Reads a header from the start of `buf`, all the bytes received so far.
///
/// Returns [`Parsed::Incomplete`] while `buf` could still grow into a valid
/// header, and an error as soon as it cannot; the answer for a given `buf`
/// never depends on what came in which read.
pub fn parse(buf: &[u8]) -> Result<Parsed, ProxyError> {
    match buf.first() {
        None => Ok(Parsed::Incomplete),
        Some(b'P') => parse_v1(buf),
        Some(b'\r') => parse_v2(buf),
        Some(_) => Err(ProxyError::NotProxy),
    }
}

fn parse_v1(buf: &[u8]) -> Result<Parsed, ProxyError> {
    let head = buf.len().min(V1_PREFIX.len());
    if buf[..head] != V1_PREFIX[..head] {
        return Err(ProxyError::NotProxy);
    }
    // The CR of the closing CRLF can be at index V1_MAX - 2 at the latest.
    let window = &buf[..buf.len().min(V1_MAX - 1)];
    // Once the CR is in, the content is final and only the LF is awaited.
    let (content, complete, end) = match window.iter().position(|&b| b == b'\r' || b == b'\n') {
        Some(i) if window[i] == b'\n' => return Err(ProxyError::V1LineEnd),
        Some(i) => match buf.get(i + 1) {
            Some(b'\n') => (&buf[..i], true, Some(i + 2)),
            Some(_) => return Err(ProxyError::V1LineEnd),
            None => (&buf[..i], true, None),
        },
        None if buf.len() >= V1_MAX - 1 => return Err(ProxyError::V1TooLong),
        None => (buf, false, None),
    };
    let Some(rest) = content.get(V1_PREFIX.len()..) else {
        // Only a prefix of "PROXY " so far (a CR here fails the check above).
        return Ok(Parsed::Incomplete);
    };

    let (proto, fields) = match rest.iter().position(|&b| b == b' ') {
        Some(i) => (&rest[..i], Some(&rest[i + 1..])),
        None => (rest, None),
    };
    let (family, fields) = match (proto, fields) {
        (b"TCP4", Some(fields)) => (Family::V4, fields),
        (b"TCP6", Some(fields)) => (Family::V6, fields),
        // The spec has the receiver ignore whatever follows UNKNOWN.
        (b"UNKNOWN", _) => {
            return Ok(end.map_or(Parsed::Incomplete, |len| Parsed::Done {
                len,
                proxied: Proxied::Local,
            }))
        }
        (b"TCP4" | b"TCP6", None) if complete => return Err(ProxyError::V1MissingField),
        (_, None) if !complete && is_proto_prefix(proto) => return Ok(Parsed::Incomplete),
        (b"", Some(_)) => return Err(ProxyError::V1Spacing),
        _ => return Err(ProxyError::V1Protocol),
    };

    let count = fields.split(|&b| b == b' ').count();
    let mut ips = [None; 2];
    let mut ports = [None; 2];
    for (k, field) in fields.split(|&b| b == b' ').enumerate() {
        let whole = complete || k + 1 < count;
        if whole && field.is_empty() {
            return Err(ProxyError::V1Spacing);
        }
        match check_v1_field(family, k, field, whole)? {
            Value::Ip(ip) => ips[k] = Some(ip),
            Value::Port(port) => ports[k - 2] = Some(port),
            Value::Partial => {}
        }
    }
    match (ips, ports) {
        ([Some(src), Some(dst)], [Some(sport), Some(dport)]) => {
            Ok(end.map_or(Parsed::Incomplete, |len| Parsed::Done {
                len,
                proxied: Proxied::Peer {
                    source: SocketAddr::new(src, sport),
                    destination: SocketAddr::new(dst, dport),
                },
            }))
        }
        _ if complete => Err(ProxyError::V1MissingField),
        _ => Ok(Parsed::Incomplete),
    }
}

#[derive(Debug, Clone, Copy)]
enum Family {
    V4,
    V6,
}

/// A v1 field checked so far: `Partial` for a prefix still being received.
#[derive(Debug, Clone, Copy)]
enum Value {
    Partial,
    Ip(IpAddr),
    Port(u16),
}

fn is_proto_prefix(proto: &[u8]) -> bool {
    [&b"TCP4"[..], b"TCP6", b"UNKNOWN"]
        .iter()
        .any(|p| p.starts_with(proto))
}

/// Checks field `k` after the protocol: a whole field must be valid, a
/// partial one must still be able to become valid.
fn check_v1_field(
    family: Family,
    k: usize,
    field: &[u8],
    whole: bool,
) -> Result<Value, ProxyError> {
    let err = *[
        ProxyError::V1Source,
        ProxyError::V1Destination,
        ProxyError::V1SourcePort,
        ProxyError::V1DestinationPort,
    ]
    .get(k)
    .ok_or(ProxyError::V1ExtraField)?;
    let text = std::str::from_utf8(field).map_err(|_| err)?;
    let value = if k >= 2 {
        match (port_prefix(field), whole) {
            (Some(port), true) => Some(Value::Port(port)),
            (Some(_), false) => Some(Value::Partial),
            _ => None,
        }
    } else if whole {
        match family {
            Family::V4 => text.parse::<Ipv4Addr>().ok().map(IpAddr::V4),
            Family::V6 => text.parse::<Ipv6Addr>().ok().map(IpAddr::V6),
        }
        .map(Value::Ip)
    } else {
        let viable = match family {
            Family::V4 => ipv4_prefix(text),
            Family::V6 => ipv6_prefix(text),
        };
        viable.then_some(Value::Partial)
    };
    value.ok_or(err)
}

/// The value of `digits` if they are (a prefix of) a v1 port: decimal, no
/// sign, no leading zero, at most 65535. A prefix of such a number is one too.
fn port_prefix(digits: &[u8]) -> Option<u16> {
    if digits.len() > 5 || (digits.len() > 1 && digits[0] == b'0') {
        return None;
    }
    let mut value: u32 = 0;
    for &d in digits {
        if !d.is_ascii_digit() {
            return None;
        }
        value = value * 10 + u32::from(d - b'0');
    }
    u16::try_from(value).ok()
}

/// Whether `text` can begin a dotted quad: complete it with the least
/// possible (`0` for an empty octet, `.0` for each missing one) and try.
fn ipv4_prefix(text: &str) -> bool {
    let dots = text.bytes().filter(|&b| b == b'.').count();
    if dots > 3 {
        return false;
    }
    let mut full = String::from(text);
    if text.is_empty() || text.ends_with('.') {
        full.push('0');
    }
    for _ in dots..3 {
        full.push_str(".0");
    }
    full.parse::<Ipv4Addr>().is_ok()
}

/// Whether `text` can begin an IPv6 address as std parses it. An embedded
/// dotted quad can only end the address, so it is completed as in
/// [`ipv4_prefix`]; otherwise a valid prefix becomes an address with one of
/// nothing (already whole), `0` (after a single colon), `:` or `::` (to
/// close it with a run of zero groups).
fn ipv6_prefix(text: &str) -> bool {
    let last = &text[text.rfind(':').map_or(0, |i| i + 1)..];
    if text.contains('.') {
        if !last.contains('.') || !ipv4_prefix(last) {
            return false;
        }
        let mut full = String::from(text);
        if last.ends_with('.') {
            full.push('0');
        }
        for _ in last.bytes().filter(|&b| b == b'.').count()..3 {
            full.push_str(".0");
        }
        return full.parse::<Ipv6Addr>().is_ok();
    }
    ["", "0", ":", "::"]
        .iter()
        .any(|tail| format!("{text}{tail}").parse::<Ipv6Addr>().is_ok())
}

fn parse_v2(buf: &[u8]) -> Result<Parsed, ProxyError> {
    let sig = buf.len().min(V2_SIGNATURE.len());
    if buf[..sig] != V2_SIGNATURE[..sig] {
        return Err(ProxyError::NotProxy);
    }
    let Some(&ver_cmd) = buf.get(12) else {
        return Ok(Parsed::Incomplete);
    };
    if ver_cmd >> 4 != 2 {
        return Err(ProxyError::V2Version(ver_cmd >> 4));
    }
    let proxy = match ver_cmd & 0x0f {
        0 => false,
        1 => true,
        cmd => return Err(ProxyError::V2Command(cmd)),
    };
    let Some(&fam) = buf.get(13) else {
        return Ok(Parsed::Incomplete);
    };
    // LOCAL ignores the family byte along with the addresses.
    let family = if proxy { v2_family(fam)? } else { None };
    let need = match family {
        Some(Family::V4) => 12,
        Some(Family::V6) => 36,
        None => 0,
    };
    let Some(len) = buf.get(14..16) else {
        return Ok(Parsed::Incomplete);
    };
    let len = u16::from_be_bytes([len[0], len[1]]);
    if len < need {
        return Err(ProxyError::V2ShortAddresses { len, need });
    }
    let total = V2_FIXED + usize::from(len);
    if buf.len() < total {
        return Ok(Parsed::Incomplete);
    }
    // Whatever follows the addresses is TLVs, which the server does not use.
    let addr = &buf[V2_FIXED..total];
    let proxied = match family {
        None => Proxied::Local,
        Some(Family::V4) => {
            let ip = |at: usize| IpAddr::from(<[u8; 4]>::try_from(&addr[at..at + 4]).unwrap());
            let port = |at: usize| u16::from_be_bytes([addr[at], addr[at + 1]]);
            Proxied::Peer {
                source: SocketAddr::new(ip(0), port(8)),
                destination: SocketAddr::new(ip(4), port(10)),
            }
        }
        Some(Family::V6) => {
            let ip = |at: usize| IpAddr::from(<[u8; 16]>::try_from(&addr[at..at + 16]).unwrap());
            let port = |at: usize| u16::from_be_bytes([addr[at], addr[at + 1]]);
            Proxied::Peer {
                source: SocketAddr::new(ip(0), port(32)),
                destination: SocketAddr::new(ip(16), port(34)),
            }
        }
    };
    Ok(Parsed::Done {
        len: total,
        proxied,
    })
}

/// The address family of a v2 PROXY command, `None` when the addresses are
/// to be ignored (AF_UNSPEC over STREAM, as nats-server takes it). Only TCP
/// is proxied to a NATS listener: a UNIX socket or an unspecified
/// transport is refused.
fn v2_family(fam: u8) -> Result<Option<Family>, ProxyError> {
    let (af, transport) = (fam >> 4, fam & 0x0f);
    if af > 3 {
        return Err(ProxyError::V2Family(af));
    }
    match (transport, af) {
        (1, 0) => Ok(None),
        (1, 1) => Ok(Some(Family::V4)),
        (1, 2) => Ok(Some(Family::V6)),
        (2, _) => Err(ProxyError::V2Datagram),
        (0 | 1, _) => Err(ProxyError::V2NotTcp),
        (t, _) => Err(ProxyError::V2Transport(t)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peer(source: &str, destination: &str) -> Proxied {
        Proxied::Peer {
            source: source.parse().unwrap(),
            destination: destination.parse().unwrap(),
        }
    }

    fn done(len: usize, proxied: Proxied) -> Result<Parsed, ProxyError> {
        Ok(Parsed::Done { len, proxied })
    }

    /// A v2 header: signature, the two bytes given, then `body` with its length.
    fn v2(ver_cmd: u8, fam: u8, body: &[u8]) -> Vec<u8> {
        let mut h = V2_SIGNATURE.to_vec();
        h.extend_from_slice(&[ver_cmd, fam]);
        h.extend_from_slice(&u16::try_from(body.len()).unwrap().to_be_bytes());
        h.extend_from_slice(body);
        h
    }

    fn inet4_body() -> Vec<u8> {
        let mut b = vec![192, 168, 0, 1, 10, 0, 0, 2];
        b.extend_from_slice(&56324u16.to_be_bytes());
        b.extend_from_slice(&4222u16.to_be_bytes());
        b
    }

    fn inet6_body() -> Vec<u8> {
        let mut b = "2001:db8::1".parse::<Ipv6Addr>().unwrap().octets().to_vec();
        b.extend_from_slice(&"::1".parse::<Ipv6Addr>().unwrap().octets());
        b.extend_from_slice(&443u16.to_be_bytes());
        b.extend_from_slice(&4222u16.to_be_bytes());
        b
    }

    /// Two TLVs: PP2_TYPE_ALPN "h2" and PP2_TYPE_AUTHORITY "example.com".
    fn tlvs() -> Vec<u8> {
        let mut t = vec![0x01, 0x00, 0x02, b'h', b'2'];
        t.extend_from_slice(&[0x02, 0x00, 0x0b]);
        t.extend_from_slice(b"example.com");
        t
    }

    fn valid_headers() -> Vec<(Vec<u8>, Proxied)> {
        let v4 = peer("192.168.0.1:56324", "10.0.0.2:4222");
        let v6 = peer("[2001:db8::1]:443", "[::1]:4222");
        let with_tlvs = |body: Vec<u8>| [body, tlvs()].concat();
        vec![
            (
                b"PROXY TCP4 192.168.0.1 10.0.0.2 56324 4222\r\n".to_vec(),
                v4.clone(),
            ),
            (
                b"PROXY TCP4 255.255.255.255 0.0.0.0 65535 0\r\n".to_vec(),
                peer("255.255.255.255:65535", "0.0.0.0:0"),
            ),
            (
                b"PROXY TCP6 2001:db8::1 ::1 443 4222\r\n".to_vec(),
                v6.clone(),
            ),
            (
                b"PROXY TCP6 ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff ::ffff:1.2.3.4 65535 1\r\n"
                    .to_vec(),
                peer(
                    "[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:65535",
                    "[::ffff:1.2.3.4]:1",
                ),
            ),
            (b"PROXY UNKNOWN\r\n".to_vec(), Proxied::Local),
            (
                b"PROXY UNKNOWN ffff:f::f ffff:f::f 65535 65535\r\n".to_vec(),
                Proxied::Local,
            ),
            (v2(0x21, 0x11, &inet4_body()), v4.clone()),
            (v2(0x21, 0x11, &with_tlvs(inet4_body())), v4),
            (v2(0x21, 0x21, &inet6_body()), v6.clone()),
            (v2(0x21, 0x21, &with_tlvs(inet6_body())), v6),
            (v2(0x20, 0x00, &[]), Proxied::Local),
            (v2(0x20, 0x11, &inet4_body()), Proxied::Local),
            (v2(0x20, 0xff, &[1, 2, 3]), Proxied::Local),
            (v2(0x21, 0x01, &[]), Proxied::Local),
        ]
    }

    #[test]
    fn v1_tcp4() {
        let h = b"PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\nGET / HTTP/1.1\r\n";
        assert_eq!(
            parse(h),
            done(47, peer("192.168.0.1:56324", "192.168.0.11:443"))
        );
    }

    #[test]
    fn v1_tcp6() {
        let h = b"PROXY TCP6 fe80::1 2001:DB8:0:0:0:0:0:2 0 4222\r\n";
        assert_eq!(
            parse(h),
            done(h.len(), peer("[fe80::1]:0", "[2001:db8::2]:4222"))
        );
    }

    #[test]
    fn v1_unknown_ignores_the_rest_of_the_line() {
        assert_eq!(
            parse(b"PROXY UNKNOWN\r\nPING\r\n"),
            done(15, Proxied::Local)
        );
        let h = b"PROXY UNKNOWN whatever  is here, even \x00 or \xff\r\n";
        assert_eq!(parse(h), done(h.len(), Proxied::Local));
    }

    #[test]
    fn v1_line_length_limit() {
        let line = |content_len: usize| {
            let mut l = b"PROXY UNKNOWN ".to_vec();
            l.resize(content_len, b'f');
            l
        };
        // 105 bytes of content plus CRLF is the longest line.
        let mut ok = line(105);
        assert_eq!(parse(&ok), Ok(Parsed::Incomplete));
        ok.push(b'\r');
        assert_eq!(parse(&ok), Ok(Parsed::Incomplete));
        ok.push(b'\n');
        assert_eq!(parse(&ok), done(V1_MAX, Proxied::Local));
        // With 106 bytes and no CR yet, no CRLF can end within 107 bytes.
        assert_eq!(parse(&line(106)), Err(ProxyError::V1TooLong));
        assert_eq!(
            parse(&[line(106), b"\r\n".to_vec()].concat()),
            Err(ProxyError::V1TooLong)
        );
        assert_eq!(parse(&line(500)), Err(ProxyError::V1TooLong));
        // Addresses std accepts can still make a line too long for the spec.
        let v4_tail = "ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255";
        let long6 = format!("PROXY TCP6 {v4_tail} {v4_tail} 65535 65535\r\n");
        assert!(long6.len() > V1_MAX);
        assert_eq!(parse(long6.as_bytes()), Err(ProxyError::V1TooLong));
    }

    #[test]
    fn v1_malformed() {
        use ProxyError::*;
        let cases: &[(&[u8], ProxyError)] = &[
            (b"PROXY  TCP4 1.2.3.4 5.6.7.8 1 2\r\n", V1Spacing),
            (b"PROXY TCP4  1.2.3.4 5.6.7.8 1 2\r\n", V1Spacing),
            (b"PROXY TCP4 1.2.3.4 5.6.7.8  1 2\r\n", V1Spacing),
            (b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2 \r\n", V1Spacing),
            (b"PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n", V1MissingField),
            (b"PROXY TCP4 1.2.3.4 5.6.7.8\r\n", V1MissingField),
            (b"PROXY TCP4\r\n", V1MissingField),
            (b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2 3\r\n", V1ExtraField),
            (b"PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n", V1SourcePort),
            (b"PROXY TCP4 1.2.3.4 5.6.7.8 1 65536\r\n", V1DestinationPort),
            (b"PROXY TCP4 1.2.3.4 5.6.7.8 01 2\r\n", V1SourcePort),
            (b"PROXY TCP4 1.2.3.4 5.6.7.8 1 00\r\n", V1DestinationPort),
            (b"PROXY TCP4 1.2.3.4 5.6.7.8 +1 2\r\n", V1SourcePort),
            (b"PROXY TCP4 1.2.3.4 5.6.7.8 -1 2\r\n", V1SourcePort),
            (b"PROXY TCP4 1.2.3.4 5.6.7.8 1 0x10\r\n", V1DestinationPort),
            (b"PROXY TCP4 ::1 5.6.7.8 1 2\r\n", V1Source),
            (b"PROXY TCP4 1.2.3.4 ::ffff:5.6.7.8 1 2\r\n", V1Destination),
            (b"PROXY TCP6 1.2.3.4 ::1 1 2\r\n", V1Source),
            (b"PROXY TCP6 ::1 5.6.7.8 1 2\r\n", V1Destination),
            (b"PROXY TCP6 fe80::1%eth0 ::1 1 2\r\n", V1Source),
            (b"PROXY TCP4 01.2.3.4 5.6.7.8 1 2\r\n", V1Source),
            (b"PROXY TCP4 1.2.3 5.6.7.8 1 2\r\n", V1Source),
            (b"PROXY TCP4 1.2.3.256 5.6.7.8 1 2\r\n", V1Source),
            (b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\rX", V1LineEnd),
            (b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n", V1LineEnd),
            (b"PROXY UNKNOWN\rx\r\n", V1LineEnd),
            (b"PROXY UNKNOWN\n", V1LineEnd),
            (b"PROXY TCP5 1.2.3.4 5.6.7.8 1 2\r\n", V1Protocol),
            (b"PROXY tcp4 1.2.3.4 5.6.7.8 1 2\r\n", V1Protocol),
            (b"PROXY UNKNOWNX\r\n", V1Protocol),
            (b"PROXY UDP4 1.2.3.4 5.6.7.8 1 2\r\n", V1Protocol),
            (b"PROXY \r\n", V1Protocol),
            (b"PROXY\r\n", NotProxy),
            (b"PROXY\tTCP4 1.2.3.4 5.6.7.8 1 2\r\n", NotProxy),
            (b"proxy TCP4 1.2.3.4 5.6.7.8 1 2\r\n", NotProxy),
            (b"PROXYTCP4 1.2.3.4 5.6.7.8 1 2\r\n", NotProxy),
            (b"\x00\x01garbage", NotProxy),
        ];
        for &(input, err) in cases {
            assert_eq!(
                parse(input),
                Err(err),
                "{:?}",
                String::from_utf8_lossy(input)
            );
        }
    }

    /// The first bad byte is rejected as soon as it arrives, and nothing
    /// after it makes the header acceptable again.
    #[test]
    fn errors_are_early_and_final() {
        let cases: &[(&[u8], usize)] = &[
            (b"PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n", 31),
            (b"PROXY TCP4 1.2.3.4 5.6.7.8 1 02\r\n", 30),
            (b"PROXY TCP4 1.2.3.4 5.6.7.8 +1 2\r\n", 27),
            (b"PROXY TCP4 1.2.3.4.5 5.6.7.8 1 2\r\n", 18),
            (b"PROXY TCP4 1.2.300.4 5.6.7.8 1 2\r\n", 17),
            (b"PROXY TCP4 ::1 5.6.7.8 1 2\r\n", 11),
            (b"PROXY TCP6 1:2:3:4:5:6:7:8:9 ::1 1 2\r\n", 26),
            (b"PROXY TCP6 12345::1 ::1 1 2\r\n", 15),
            (b"PROXY TCP6 1::2::3 ::1 1 2\r\n", 16),
            (b"PROXY TCP6 ::1.2.3.4.5 ::1 1 2\r\n", 20),
            (b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2 3\r\n", 30),
            (b"PROXY TCP4 1.2.3.4\r\n", 18),
            (b"PROXY TCP4\r\n", 10),
            (b"PROXY  TCP4", 6),
            (b"PROXY TCP3", 9),
            (b"PROXY UNKNOWNX", 13),
            (b"PROXY X", 6),
            (b"PROXX", 4),
        ];
        for &(input, bad_at) in cases {
            let name = String::from_utf8_lossy(input);
            for end in 0..=input.len() {
                let got = parse(&input[..end]);
                if end <= bad_at {
                    assert_eq!(got, Ok(Parsed::Incomplete), "{name:?} cut at {end}");
                } else {
                    assert!(got.is_err(), "{name:?} cut at {end}: {got:?}");
                }
            }
        }
    }

    #[test]
    fn other_protocols_are_refused_at_once() {
        for first in [
            &b"CONNECT {\"verbose\":false}\r\n"[..],
            b"GET / HTTP/1.1\r\n",
            b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",
            b"PING\r\n",
            b"PUB foo 0\r\n",
        ] {
            // PING and PUB share the P with PROXY; their second byte decides.
            let decided_at = if first[0] == b'P' { 2 } else { 1 };
            assert_eq!(parse(&first[..decided_at]), Err(ProxyError::NotProxy));
            assert_eq!(parse(first), Err(ProxyError::NotProxy));
        }
        // A v2 signature prefix that diverges is refused at the differing byte.
        assert_eq!(parse(b"\r\n\r\n"), Ok(Parsed::Incomplete));
        assert_eq!(parse(b"\r\n\r\n\r"), Err(ProxyError::NotProxy));
        assert_eq!(parse(b"\r\n\r\n\0\r\nQUIT\r"), Err(ProxyError::NotProxy));
    }

    #[test]
    fn v2_proxy_inet_and_inet6() {
        let v4 = peer("192.168.0.1:56324", "10.0.0.2:4222");
        let v6 = peer("[2001:db8::1]:443", "[::1]:4222");
        assert_eq!(parse(&v2(0x21, 0x11, &inet4_body())), done(28, v4.clone()));
        assert_eq!(parse(&v2(0x21, 0x21, &inet6_body())), done(52, v6.clone()));
        // TLVs are counted in the header and otherwise skipped.
        let t = tlvs().len();
        let h = v2(0x21, 0x11, &[inet4_body(), tlvs()].concat());
        assert_eq!(parse(&h), done(28 + t, v4));
        let h = v2(0x21, 0x21, &[inet6_body(), tlvs()].concat());
        assert_eq!(parse(&h), done(52 + t, v6));
    }

    #[test]
    fn v2_local_and_unusable_families() {
        assert_eq!(parse(&v2(0x20, 0x00, &[])), done(16, Proxied::Local));
        // LOCAL ignores the family and whatever addresses are present.
        assert_eq!(
            parse(&v2(0x20, 0x11, &inet4_body())),
            done(28, Proxied::Local)
        );
        assert_eq!(parse(&v2(0x20, 0x11, &[])), done(16, Proxied::Local));
        assert_eq!(parse(&v2(0x20, 0x77, &[])), done(16, Proxied::Local));
        // PROXY with AF_UNSPEC over STREAM keeps the socket's peer; a UNIX
        // socket or an unspecified transport is not a TCP client.
        assert_eq!(parse(&v2(0x21, 0x01, &[])), done(16, Proxied::Local));
        for fam in [0x00, 0x10, 0x20, 0x30, 0x31] {
            assert_eq!(
                parse(&v2(0x21, fam, &[7; 216])),
                Err(ProxyError::V2NotTcp),
                "{fam:#x}"
            );
        }
    }

    #[test]
    fn v2_malformed() {
        use ProxyError::*;
        let cases = [
            (v2(0x11, 0x11, &inet4_body()), V2Version(1)),
            (v2(0x31, 0x11, &inet4_body()), V2Version(3)),
            (v2(0x01, 0x11, &inet4_body()), V2Version(0)),
            (v2(0x22, 0x11, &inet4_body()), V2Command(2)),
            (v2(0x2f, 0x11, &inet4_body()), V2Command(15)),
            (v2(0x21, 0x12, &inet4_body()), V2Datagram),
            (v2(0x21, 0x22, &inet6_body()), V2Datagram),
            (v2(0x21, 0x32, &[0; 216]), V2Datagram),
            (v2(0x21, 0x41, &inet4_body()), V2Family(4)),
            (v2(0x21, 0x13, &inet4_body()), V2Transport(3)),
            (
                v2(0x21, 0x11, &inet4_body()[..11]),
                V2ShortAddresses { len: 11, need: 12 },
            ),
            (v2(0x21, 0x11, &[]), V2ShortAddresses { len: 0, need: 12 }),
            (
                v2(0x21, 0x21, &inet4_body()),
                V2ShortAddresses { len: 12, need: 36 },
            ),
        ];
        for (input, err) in cases {
            assert_eq!(parse(&input), Err(err), "{input:02x?}");
        }
    }

    #[test]
    fn v2_errors_are_decided_before_the_addresses_arrive() {
        // Version and command at byte 13, family at 14, length at 16.
        assert!(parse(&v2(0x11, 0x11, &inet4_body())[..13]).is_err());
        assert!(parse(&v2(0x23, 0x11, &inet4_body())[..13]).is_err());
        assert!(parse(&v2(0x21, 0x12, &inet4_body())[..14]).is_err());
        assert!(parse(&v2(0x21, 0x21, &inet4_body())[..16]).is_err());
    }

    #[test]
    fn v2_waits_for_the_whole_length() {
        let mut h = v2(0x21, 0x11, &inet4_body());
        h[14..16].copy_from_slice(&65535u16.to_be_bytes());
        h.resize(MAX_HEADER - 1, 0);
        assert_eq!(parse(&h), Ok(Parsed::Incomplete));
        h.push(0);
        assert_eq!(
            parse(&h),
            done(MAX_HEADER, peer("192.168.0.1:56324", "10.0.0.2:4222"))
        );
    }

    /// Every header cut anywhere asks for more, whole it is done, and bytes
    /// after it belong to the connection.
    #[test]
    fn valid_headers_split_at_every_byte() {
        for (header, proxied) in valid_headers() {
            assert!(header.len() <= MAX_HEADER);
            for end in 0..header.len() {
                assert_eq!(
                    parse(&header[..end]),
                    Ok(Parsed::Incomplete),
                    "{header:02x?} cut at {end}"
                );
            }
            let expected = done(header.len(), proxied);
            assert_eq!(parse(&header), expected, "{header:02x?}");
            for trailer in [&b"CONNECT {}\r\n"[..], b"\r\n", b"\x16\x03\x01", b"\0"] {
                let input = [&header[..], trailer].concat();
                assert_eq!(parse(&input), expected, "{input:02x?}");
            }
        }
    }

    #[test]
    fn partial_addresses() {
        for whole in ["0.0.0.0", "255.255.255.255", "10.20.30.40", "1.0.100.9"] {
            for end in 0..=whole.len() {
                assert!(ipv4_prefix(&whole[..end]), "{whole} cut at {end}");
            }
        }
        for bad in [
            "01",
            "256",
            "1..",
            "1.2.3.4.",
            ".",
            "1.2.3.4 ",
            "a",
            "-1",
            "1.2.3.1000",
        ] {
            assert!(!ipv4_prefix(bad), "{bad}");
        }
        for whole in [
            "::",
            "::1",
            "1::",
            "2001:db8::8a2e:370:7334",
            "1:2:3:4:5:6:7:8",
            "1:2:3:4:5:6:7::",
            "::2:3:4:5:6:7:8",
            "1:2:3:4:5:6:255.255.255.255",
            "::ffff:10.0.0.1",
            "0000:0000:0000:0000:0000:0000:0000:0001",
            "FFFF:abcd::",
        ] {
            for end in 0..=whole.len() {
                assert!(ipv6_prefix(&whole[..end]), "{whole} cut at {end}");
            }
        }
        for bad in [
            ":::",
            ":1",
            "1::2::",
            "12345",
            "1:2:3:4:5:6:7:8:",
            "1:2:3:4:5:6:7:8::",
            "::1:2:3:4:5:6:7:",
            "1:2:3:4:5:6:7:1.",
            "1.2",
            "::1.2.3.4:",
            "::1.2.3.4.",
            "::01.2",
            "g",
            "1:2:3:4:5:6:1.2.3.4.5",
        ] {
            assert!(!ipv6_prefix(bad), "{bad}");
        }
    }

    #[test]
    fn ports() {
        assert_eq!(port_prefix(b"0"), Some(0));
        assert_eq!(port_prefix(b"65535"), Some(65535));
        assert_eq!(port_prefix(b"6553"), Some(6553));
        for bad in [
            &b"65536"[..],
            b"00",
            b"01",
            b"+1",
            b"-1",
            b"123456",
            b"1a",
            b" 1",
        ] {
            assert_eq!(port_prefix(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn error_texts() {
        assert_eq!(
            ProxyError::NotProxy.to_string(),
            "not a PROXY protocol header"
        );
        assert_eq!(
            ProxyError::V1TooLong.to_string(),
            "PROXY v1 header longer than 107 bytes"
        );
        assert_eq!(
            ProxyError::V1Source.to_string(),
            "bad source address in PROXY v1 header"
        );
        assert_eq!(
            ProxyError::V2Version(3).to_string(),
            "unsupported PROXY v2 version 3"
        );
        assert_eq!(
            ProxyError::V2ShortAddresses { len: 4, need: 12 }.to_string(),
            "PROXY v2 address block of 4 bytes where 12 are needed"
        );
    }
}
