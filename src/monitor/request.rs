//! A monitoring request's head: the method, the path and the query's
//! parameters (decoded as Go's `url.ParseQuery` decodes them).

#[derive(Debug, Default, PartialEq, Eq)]
pub struct Request {
    pub method: String,
    pub path: String,
    query: Vec<(String, String)>,
}

impl Request {
    /// Reads `GET /path?query HTTP/1.1` and whatever headers follow;
    /// `None` when it is not an HTTP/1 request line.
    pub fn parse(head: &[u8]) -> Option<Request> {
        let line = head.split(|&b| b == b'\n').next()?;
        let line = std::str::from_utf8(line).ok()?.trim_end_matches('\r');
        let mut parts = line.split(' ');
        let (method, target, version) = (parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() || !version.starts_with("HTTP/1.") || method.is_empty() {
            return None;
        }
        let (path, query) = target.split_once('?').unwrap_or((target, ""));
        if !path.starts_with('/') {
            return None;
        }
        let query = query
            .split('&')
            .filter(|p| !p.is_empty())
            .filter_map(|p| {
                let (k, v) = p.split_once('=').unwrap_or((p, ""));
                Some((decode(k)?, decode(v)?))
            })
            .collect();
        Some(Request {
            method: method.to_string(),
            path: decode(path)?,
            query,
        })
    }

    /// The first value of parameter `name` ("" when absent, as Go's
    /// `Query().Get`).
    pub fn get(&self, name: &str) -> &str {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map_or("", |(_, v)| v.as_str())
    }

    /// Parameter `name` as Go's `strconv.ParseBool` reads it (absent:
    /// false), or nats-server's error text.
    pub fn bool(&self, name: &str) -> Result<bool, String> {
        match self.get(name) {
            "" => Ok(false),
            "1" | "t" | "T" | "true" | "TRUE" | "True" => Ok(true),
            "0" | "f" | "F" | "false" | "FALSE" | "False" => Ok(false),
            v => Err(format!(
                "Error decoding boolean for '{name}': strconv.ParseBool: parsing \"{v}\": invalid syntax"
            )),
        }
    }

    /// Parameter `name` as a decimal integer (absent: 0), or nats-server's
    /// error text.
    pub fn int(&self, name: &str) -> Result<i64, String> {
        match self.get(name) {
            "" => Ok(0),
            v => v.parse().map_err(|e| {
                format!(
                    "Error decoding int for '{name}': strconv.Atoi: parsing \"{v}\": {}",
                    why(&e)
                )
            }),
        }
    }

    /// Parameter `name` as an unsigned integer (absent: 0).
    pub fn uint(&self, name: &str) -> Result<u64, String> {
        match self.get(name) {
            "" => Ok(0),
            v => v.parse().map_err(|e| {
                format!(
                    "Error decoding uint64 for '{name}': strconv.ParseUint: parsing \"{v}\": {}",
                    why(&e)
                )
            }),
        }
    }
}

/// Go's words for why a number did not parse.
fn why(e: &std::num::ParseIntError) -> &'static str {
    use std::num::IntErrorKind::{NegOverflow, PosOverflow};
    match e.kind() {
        PosOverflow | NegOverflow => "value out of range",
        _ => "invalid syntax",
    }
}

/// Percent-decoding, `+` as a space; `None` for a malformed escape (Go
/// drops such a parameter).
fn decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = b.get(i + 1..i + 3)?;
                let v = u8::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok()?;
                out.push(v);
                i += 3;
                continue;
            }
            c => out.push(c),
        }
        i += 1;
    }
    Some(String::from_utf8_lossy(&out).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_lines_and_queries() {
        let r = Request::parse(
            b"GET /connz?subs=1&sort=bytes_to&user=a%20b+c HTTP/1.1\r\nHost: x\r\n\r\n",
        )
        .unwrap();
        assert_eq!((r.method.as_str(), r.path.as_str()), ("GET", "/connz"));
        assert_eq!(r.get("subs"), "1");
        assert_eq!(r.get("sort"), "bytes_to");
        assert_eq!(r.get("user"), "a b c");
        assert_eq!(r.get("absent"), "");
        assert_eq!(r.bool("subs"), Ok(true));
        assert!(r.bool("sort").unwrap_err().contains("'sort'"));
        // A malformed escape drops its parameter, as Go's parser does.
        let r = Request::parse(b"GET /x?a=%zz&b=1&c=%4 HTTP/1.0\r\n\r\n").unwrap();
        assert_eq!((r.get("a"), r.get("b"), r.get("c")), ("", "1", ""));
        let r = Request::parse(b"GET /connz?limit=99999999999999999999 HTTP/1.1\r\n\r\n").unwrap();
        assert!(r.int("limit").unwrap_err().ends_with("value out of range"));
        for bad in [
            &b""[..],
            b"garbage",
            b"GET /x",
            b"GET x HTTP/1.1",
            b"GET /x SPDY/3",
        ] {
            assert_eq!(
                Request::parse(bad),
                None,
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }
}
