//! The WebSocket upgrade (RFC 6455 §4.2), without IO: the request parsed
//! and checked in nats-server's order with its status codes, and the
//! responses written.

use base64::Engine;
use sha1::{Digest, Sha1};

/// A request head longer than this is refused (431) before more is read.
pub const MAX_REQUEST_HEAD: usize = 16 * 1024;
const GUID: &[u8] = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
const DEFLATE_ANSWER: &str = "Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover; client_no_context_takeover\r\n";
const NO_MASKING: &str = "Nats-No-Masking";

/// An origin as the policy compares it: scheme, lower-case host, port
/// (80 or 443 when absent, by scheme).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Origin {
    pub scheme: String,
    pub host: String,
    pub port: u16,
}

impl Origin {
    /// An absolute http(s) URL; its path is ignored.
    pub fn parse(url: &str) -> Result<Origin, &'static str> {
        let (scheme, rest) = url
            .split_once("://")
            .ok_or("not an absolute URL (expected http://host[:port] or https://host[:port])")?;
        let scheme = scheme.to_ascii_lowercase();
        if scheme != "http" && scheme != "https" {
            return Err("the scheme must be http or https");
        }
        let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
        let host_port = authority.rsplit('@').next().unwrap_or("");
        let (host, port) = split_host_port(host_port, scheme == "https")?;
        Ok(Origin { scheme, host, port })
    }
}

/// `host[:port]` or `[v6][:port]`, the host lower-cased, the port given or
/// the scheme's default.
fn split_host_port(text: &str, tls: bool) -> Result<(String, u16), &'static str> {
    let default = if tls { 443 } else { 80 };
    let (host, port) = match text.strip_prefix('[') {
        Some(v6) => {
            let (h, after) = v6.split_once(']').ok_or("unclosed [ in the host")?;
            (h, after.strip_prefix(':'))
        }
        None => match text.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (text, None),
        },
    };
    if host.is_empty() {
        return Err("the URL has no host");
    }
    let port = match port {
        None | Some("") => default,
        Some(p) => p
            .parse()
            .map_err(|_| "the port is not a number from 0 to 65535")?,
    };
    Ok((host.to_ascii_lowercase(), port))
}

/// What the listener's options say about upgrades.
#[derive(Clone, Debug, Default)]
pub struct Policy {
    /// Whether the listener is behind TLS (wss://): the request's scheme.
    pub tls: bool,
    pub same_origin: bool,
    pub allowed_origins: Vec<Origin>,
    /// permessage-deflate is offered when the client asks.
    pub compression: bool,
    /// Extra response headers, `Name: value\r\n` each.
    pub extra_headers: String,
    pub cookie_names: CookieNames,
}

#[derive(Clone, Debug, Default)]
pub struct CookieNames {
    pub jwt: Option<String>,
    pub user: Option<String>,
    pub pass: Option<String>,
    pub token: Option<String>,
}

/// Credentials found in the cookies the options name.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Cookies {
    pub jwt: Option<String>,
    pub user: Option<String>,
    pub pass: Option<String>,
    pub token: Option<String>,
}

/// An accepted upgrade: what the response and the connection need.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Upgrade {
    pub accept: String,
    pub compression: bool,
    /// The client asked to send unmasked frames (`Nats-No-Masking: true`).
    pub no_masking: bool,
    /// A browser (User-Agent `Mozilla/...`): frames of at most 4096 bytes.
    pub browser: bool,
    /// Safari with compression: compressed messages are not fragmented.
    pub no_compressed_fragments: bool,
    /// `X-Forwarded-For`, for the connection's name in logs only.
    pub forwarded_for: Option<String>,
    pub cookies: Cookies,
    /// The request path (`/leafnode` is the leaf node path).
    pub path: String,
}

/// A refused upgrade: the status to answer with, and why (for the log).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    pub status: u16,
    pub reason: String,
}

fn refuse(status: u16, reason: impl Into<String>) -> Refusal {
    Refusal {
        status,
        reason: reason.into(),
    }
}

#[derive(Debug, PartialEq, Eq)]
pub enum Parsed {
    /// The head is not complete yet: read more.
    Incomplete,
    /// The upgrade is accepted; `consumed` bytes were the request.
    Accepted {
        upgrade: Upgrade,
        consumed: usize,
    },
    Refused(Refusal),
}

/// Parses and checks the request at the start of `buf`.
pub fn parse(buf: &[u8], policy: &Policy) -> Parsed {
    let Some(end) = memchr::memmem::find(buf, b"\r\n\r\n") else {
        if buf.len() >= MAX_REQUEST_HEAD {
            return Parsed::Refused(refuse(431, "request head too large"));
        }
        return Parsed::Incomplete;
    };
    if end + 4 > MAX_REQUEST_HEAD {
        return Parsed::Refused(refuse(431, "request head too large"));
    }
    match check(&buf[..end], policy) {
        Ok(upgrade) => Parsed::Accepted {
            upgrade,
            consumed: end + 4,
        },
        Err(r) => Parsed::Refused(r),
    }
}

struct Head<'a> {
    method: &'a str,
    path: &'a str,
    headers: Vec<(&'a str, &'a str)>,
}

impl<'a> Head<'a> {
    fn parse(head: &'a [u8]) -> Option<Head<'a>> {
        let text = std::str::from_utf8(head).ok()?;
        let mut lines = text.split("\r\n");
        let mut request = lines.next()?.split(' ');
        let (method, path, version) = (request.next()?, request.next()?, request.next()?);
        if request.next().is_some() || !version.starts_with("HTTP/1.") || method.is_empty() {
            return None;
        }
        let mut headers = Vec::new();
        for line in lines {
            let (name, value) = line.split_once(':')?;
            if name.is_empty() || name.contains([' ', '\t']) {
                return None;
            }
            headers.push((name, value.trim_matches([' ', '\t'])));
        }
        Some(Head {
            method,
            path,
            headers,
        })
    }

    fn all(&self, name: &'a str) -> impl Iterator<Item = &'a str> + '_ {
        self.headers
            .iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| *v)
    }

    fn first(&self, name: &'a str) -> Option<&'a str> {
        self.all(name).next()
    }

    /// Whether any `name` header holds `token` in its comma list.
    fn has_token(&self, name: &'a str, token: &str) -> bool {
        self.all(name).any(|v| {
            v.split(',')
                .any(|t| t.trim_matches([' ', '\t']).eq_ignore_ascii_case(token))
        })
    }
}

fn check(head: &[u8], policy: &Policy) -> Result<Upgrade, Refusal> {
    let head = Head::parse(head).ok_or_else(|| refuse(400, "malformed request"))?;
    if head.method != "GET" {
        return Err(refuse(405, "request method must be GET"));
    }
    let host = head.first("Host").filter(|h| !h.is_empty());
    let Some(host) = host else {
        return Err(refuse(400, "'Host' missing in request"));
    };
    if !head.has_token("Upgrade", "websocket") {
        return Err(refuse(400, "invalid value for header 'Upgrade'"));
    }
    if !head.has_token("Connection", "Upgrade") {
        return Err(refuse(400, "invalid value for header 'Connection'"));
    }
    let Some(key) = head.first("Sec-WebSocket-Key").filter(|k| !k.is_empty()) else {
        return Err(refuse(400, "key missing"));
    };
    let decoded = base64::engine::general_purpose::STANDARD.decode(key);
    if !decoded.is_ok_and(|k| k.len() == 16) {
        return Err(refuse(400, "invalid websocket key"));
    }
    if !head.has_token("Sec-WebSocket-Version", "13") {
        return Err(refuse(400, "invalid version"));
    }
    check_origin(&head, host, policy)
        .map_err(|why| refuse(403, format!("origin not allowed: {why}")))?;
    let compression = policy.compression
        && head.all("Sec-WebSocket-Extensions").any(|v| {
            v.split([',', ';']).any(|p| {
                p.trim_matches([' ', '\t'])
                    .eq_ignore_ascii_case("permessage-deflate")
            })
        });
    let agent = head.first("User-Agent").unwrap_or("");
    let browser = agent.starts_with("Mozilla/");
    Ok(Upgrade {
        accept: accept_key(key),
        compression,
        no_masking: head.first(NO_MASKING) == Some("true"),
        browser,
        no_compressed_fragments: browser
            && compression
            && agent.contains("Version/")
            && agent.contains("Safari/"),
        forwarded_for: head
            .first("X-Forwarded-For")
            .map(|v| v.split(',').next().unwrap_or("").trim())
            .filter(|ip| ip.parse::<std::net::IpAddr>().is_ok())
            .map(str::to_string),
        cookies: cookies(&head, &policy.cookie_names),
        path: head.path.to_string(),
    })
}

/// nats-server's origin rules: no policy or no Origin header → accepted.
fn check_origin(head: &Head<'_>, host: &str, policy: &Policy) -> Result<(), &'static str> {
    if !policy.same_origin && policy.allowed_origins.is_empty() {
        return Ok(());
    }
    let origin = head
        .first("Origin")
        .filter(|o| !o.is_empty())
        .or_else(|| head.first("Sec-WebSocket-Origin").filter(|o| !o.is_empty()));
    let Some(origin) = origin else {
        return Ok(());
    };
    let origin = Origin::parse(origin)?;
    if policy.same_origin {
        let (h, p) = split_host_port(host, policy.tls)?;
        let scheme = if policy.tls { "https" } else { "http" };
        if origin.host != h || origin.port != p || origin.scheme != scheme {
            return Err("not same origin");
        }
    }
    if !policy.allowed_origins.is_empty() && !policy.allowed_origins.contains(&origin) {
        return Err("not in the allowed list");
    }
    Ok(())
}

fn cookies(head: &Head<'_>, names: &CookieNames) -> Cookies {
    let mut found = Cookies::default();
    for pair in head.all("Cookie").flat_map(|v| v.split(';')) {
        let Some((name, value)) = pair.trim().split_once('=') else {
            continue;
        };
        let value = value.trim_matches('"').to_string();
        let is = |n: &Option<String>| n.as_deref() == Some(name);
        if is(&names.jwt) {
            found.jwt = Some(value);
        } else if is(&names.user) {
            found.user = Some(value);
        } else if is(&names.pass) {
            found.pass = Some(value);
        } else if is(&names.token) {
            found.token = Some(value);
        }
    }
    found
}

/// `Sec-WebSocket-Accept`: base64 of SHA-1 of the key and the GUID.
pub fn accept_key(key: &str) -> String {
    let mut h = Sha1::new();
    h.update(key.as_bytes());
    h.update(GUID);
    base64::engine::general_purpose::STANDARD.encode(h.finalize())
}

/// The 101 response, headers in nats-server's order.
pub fn accepted(up: &Upgrade, policy: &Policy) -> Vec<u8> {
    let mut r = String::with_capacity(256);
    r.push_str("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ");
    r.push_str(&up.accept);
    r.push_str("\r\n");
    if up.compression {
        r.push_str(DEFLATE_ANSWER);
    }
    if up.no_masking {
        r.push_str(NO_MASKING);
        r.push_str(": true\r\n");
    }
    r.push_str(&policy.extra_headers);
    r.push_str("\r\n");
    r.into_bytes()
}

/// An error response as nats-server's HTTP server sends it.
pub fn refused(status: u16) -> Vec<u8> {
    let text = match status {
        400 => "Bad Request",
        403 => "Forbidden",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        431 => "Request Header Fields Too Large",
        _ => "Internal Server Error",
    };
    format!(
        "HTTP/1.1 {status} {text}\r\nContent-Type: text/plain; charset=utf-8\r\nSec-Websocket-Version: 13\r\nX-Content-Type-Options: nosniff\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{text}\n",
        text.len() + 1
    )
    .into_bytes()
}

#[cfg(test)]
#[path = "handshake_tests.rs"]
mod tests;
