//! Typed reading of parsed values: "this entry must be an integer", with the
//! error pointing at the entry. Shared by every block of the options.

use std::time::Duration;

use super::error::ConfigError;
use super::value::{Entry, Item, Map, Value};

/// Collects the errors and warnings of one pass over a configuration, so
/// that every fault in a file is reported at once (as nats-server does).
#[derive(Default)]
pub(crate) struct Report {
    pub errors: Vec<ConfigError>,
    pub warnings: Vec<ConfigError>,
}

impl Report {
    pub fn error(&mut self, item: &Item, message: impl Into<String>) {
        self.errors.push(ConfigError::at(&item.pos, message));
    }

    pub fn warn(&mut self, item: &Item, message: impl Into<String>) {
        self.warnings.push(ConfigError::at(&item.pos, message));
    }

    /// An entry no option of this block knows. Entries defined only to be
    /// used as `$variables` are not options and are let through.
    pub fn unknown(&mut self, entry: &Entry, block: &str) {
        if entry.used_as_variable {
            return;
        }
        let message = if block.is_empty() {
            format!("unknown field \"{}\"", entry.key)
        } else {
            format!("unknown field \"{}\" in {block}", entry.key)
        };
        self.error(&entry.item, message);
    }

    /// A nats-server option ringnats accepts but does not act on.
    pub fn ignored(&mut self, entry: &Entry, why: &str) {
        self.warn(
            &entry.item,
            format!("\"{}\" is accepted and ignored: {why}", entry.key),
        );
    }

    /// An option that restricts who may connect or what they may do, which
    /// ringnats does not enforce yet: the start is refused, never a warning
    /// and an open server.
    pub fn unenforced(&mut self, item: &Item, what: &str) {
        self.error(
            item,
            format!(
                "{what} is not supported yet: ringnats refuses to start rather than run without it"
            ),
        );
    }

    /// Unwraps a typed read, recording its error.
    pub fn take<T>(&mut self, r: Result<T, ConfigError>) -> Option<T> {
        match r {
            Ok(v) => Some(v),
            Err(e) => {
                self.errors.push(e);
                None
            }
        }
    }
}

fn wrong_type(item: &Item, field: &str, wanted: &str) -> ConfigError {
    let got = match &item.value {
        Value::String(s) => format!("the string \"{s}\""),
        Value::Integer(n) => format!("the integer {n}"),
        Value::Float(f) => format!("the float {f}"),
        Value::Bool(b) => format!("the boolean {b}"),
        other => format!(
            "a{} {}",
            if other.kind() == "array" { "n" } else { "" },
            other.kind()
        ),
    };
    ConfigError::at(&item.pos, format!("{field}: expected {wanted}, got {got}"))
}

pub(crate) fn int(item: &Item, field: &str) -> Result<i64, ConfigError> {
    match item.value {
        Value::Integer(n) => Ok(n),
        _ => Err(wrong_type(item, field, "an integer")),
    }
}

/// An integer that must fit `lo..=hi`.
pub(crate) fn int_in(item: &Item, field: &str, lo: i64, hi: i64) -> Result<i64, ConfigError> {
    let n = int(item, field)?;
    if n < lo || n > hi {
        return Err(ConfigError::at(
            &item.pos,
            format!("{field}: {n} is out of range ({lo} to {hi})"),
        ));
    }
    Ok(n)
}

pub(crate) fn port(item: &Item, field: &str) -> Result<i32, ConfigError> {
    // -1 asks for a random port, as in nats-server.
    int_in(item, field, -1, 65535).map(|n| n as i32)
}

pub(crate) fn boolean(item: &Item, field: &str) -> Result<bool, ConfigError> {
    match item.value {
        Value::Bool(b) => Ok(b),
        _ => Err(wrong_type(
            item,
            field,
            "a boolean (true/false, yes/no, on/off)",
        )),
    }
}

pub(crate) fn string(item: &Item, field: &str) -> Result<String, ConfigError> {
    match &item.value {
        Value::String(s) => Ok(s.clone()),
        _ => Err(wrong_type(item, field, "a string")),
    }
}

pub(crate) fn map<'a>(item: &'a Item, field: &str) -> Result<&'a Map, ConfigError> {
    match &item.value {
        Value::Map(m) => Ok(m),
        _ => Err(wrong_type(item, field, "a map { ... }")),
    }
}

pub(crate) fn array<'a>(item: &'a Item, field: &str) -> Result<&'a [Item], ConfigError> {
    match &item.value {
        Value::Array(a) => Ok(a),
        _ => Err(wrong_type(item, field, "an array [ ... ]")),
    }
}

/// A string or an array of strings (nats-server accepts both for lists).
pub(crate) fn strings(item: &Item, field: &str) -> Result<Vec<String>, ConfigError> {
    match &item.value {
        Value::String(s) => Ok(vec![s.clone()]),
        Value::Array(a) => a.iter().map(|i| string(i, field)).collect(),
        _ => Err(wrong_type(item, field, "a string or an array of strings")),
    }
}

/// A password or token written as a bcrypt hash, as nats-server tells them
/// apart: `$2a$`, `$2b$`, `$2x$` or `$2y$`, two digits of cost, `$`.
pub fn is_bcrypt(secret: &str) -> bool {
    let b = secret.as_bytes();
    b.len() >= 7
        && b.starts_with(b"$2")
        && matches!(b[2], b'a' | b'b' | b'x' | b'y' | b',')
        && b[3] == b'$'
        && b[4].is_ascii_digit()
        && b[5].is_ascii_digit()
        && b[6] == b'$'
}

/// A duration as nats-server takes it: a Go duration string ("2s",
/// "1m30s", "100ms"); a bare integer is taken as seconds with a warning.
pub(crate) fn duration(item: &Item, field: &str, report: &mut Report) -> Option<Duration> {
    match &item.value {
        Value::String(s) => match parse_go_duration(s) {
            Some(d) => Some(d),
            None => {
                report.error(
                    item,
                    format!("error parsing {field}: invalid duration \"{s}\" (use e.g. \"2s\", \"100ms\", \"1m30s\")"),
                );
                None
            }
        },
        Value::Integer(n) if *n >= 0 => {
            report.warn(
                item,
                format!("invalid use of field \"{field}\": {field} should be converted to a duration (taken as {n} seconds)"),
            );
            Some(Duration::from_secs(*n as u64))
        }
        _ => {
            report
                .errors
                .push(wrong_type(item, field, "a duration such as \"2s\""));
            None
        }
    }
}

/// A timeout in seconds, as nats-server's `timeout` keys take it: an integer
/// or float number of seconds, or a duration string. nats-server ignores a
/// value of any other kind; so do we, with a warning. `None`: the default.
pub(crate) fn seconds(item: &Item, field: &str, report: &mut Report) -> Option<Duration> {
    let secs = match &item.value {
        Value::Integer(n) => *n as f64,
        Value::Float(f) => *f,
        Value::String(s) if parse_go_duration(s).is_some() => return parse_go_duration(s),
        _ => {
            report.warn(
                item,
                format!("{field}: expected a number of seconds, the value is ignored"),
            );
            return None;
        }
    };
    if !(0.0..=1e9).contains(&secs) || secs.is_nan() {
        report.error(item, format!("{field}: {secs} seconds is out of range"));
        return None;
    }
    Some(Duration::from_secs_f64(secs))
}

/// Go's `time.ParseDuration`: a sequence of decimal numbers with units
/// ns, us (µs), ms, s, m, h; an optional sign; "0" alone is allowed.
/// Negative durations are refused (no option takes one).
pub fn parse_go_duration(s: &str) -> Option<Duration> {
    let s = s.strip_prefix('+').unwrap_or(s);
    if s == "0" {
        return Some(Duration::ZERO);
    }
    if s.is_empty() || s.starts_with('-') {
        return None;
    }
    let mut total = 0f64;
    let mut rest = s;
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        if num_len == 0 {
            return None;
        }
        let num: f64 = rest[..num_len].parse().ok()?;
        rest = &rest[num_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let nanos_per_unit = match &rest[..unit_len] {
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return None,
        };
        rest = &rest[unit_len..];
        total += num * nanos_per_unit;
    }
    if total > u64::MAX as f64 {
        return None;
    }
    Some(Duration::from_nanos(total as u64))
}

/// `listen`-style values: a port alone, or "host:port".
pub(crate) fn host_port(item: &Item, field: &str) -> Result<(Option<String>, i32), ConfigError> {
    match &item.value {
        Value::Integer(_) => Ok((None, port(item, field)?)),
        Value::String(s) => {
            let bad = || {
                ConfigError::at(
                    &item.pos,
                    format!("{field}: could not parse address string \"{s}\" (expected host:port)"),
                )
            };
            let (host, p) = split_host_port(s).ok_or_else(bad)?;
            let p: i32 = p.parse().map_err(|_| {
                ConfigError::at(&item.pos, format!("{field}: could not parse port \"{p}\""))
            })?;
            if !(-1..=65535).contains(&p) {
                return Err(ConfigError::at(
                    &item.pos,
                    format!("{field}: port {p} is out of range (0 to 65535)"),
                ));
            }
            Ok((Some(host.to_string()), p))
        }
        _ => Err(wrong_type(item, field, "a port or \"host:port\"")),
    }
}

/// A `listen` entry: sets the port, and the host when one is given.
pub(crate) fn listen_into(
    item: &Item,
    field: &str,
    host: &mut String,
    port: &mut i32,
    report: &mut Report,
) {
    if let Some((h, p)) = report.take(host_port(item, field)) {
        if let Some(h) = h {
            *host = h;
        }
        *port = p;
    }
}

/// Splits "host:port", "[v6]:port" or ":port" the way Go's SplitHostPort does.
pub fn split_host_port(s: &str) -> Option<(&str, &str)> {
    if let Some(rest) = s.strip_prefix('[') {
        let (host, after) = rest.split_once(']')?;
        let port = after.strip_prefix(':')?;
        return Some((host, port));
    }
    let (host, port) = s.rsplit_once(':')?;
    if host.contains(':') {
        return None;
    }
    Some((host, port))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_durations() {
        let d = |s| parse_go_duration(s);
        assert_eq!(d("2s"), Some(Duration::from_secs(2)));
        assert_eq!(d("100ms"), Some(Duration::from_millis(100)));
        assert_eq!(d("1m30s"), Some(Duration::from_secs(90)));
        assert_eq!(d("1.5h"), Some(Duration::from_secs(5400)));
        assert_eq!(d("0"), Some(Duration::ZERO));
        assert_eq!(d("10"), None);
        assert_eq!(d("abc"), None);
        assert_eq!(d("-1s"), None);
        assert_eq!(d(""), None);
    }

    #[test]
    fn bcrypt_hashes() {
        assert!(is_bcrypt(
            "$2a$11$W2zko751KUvVy59mUTWmpOdWjpEm5qhcCZRd05GjI/sSOT.xtiHyG"
        ));
        assert!(is_bcrypt("$2y$10$x"));
        assert!(is_bcrypt("$2b$04$"));
        assert!(!is_bcrypt("$2a$1$abc"));
        assert!(!is_bcrypt("$2c$11$abc"));
        assert!(!is_bcrypt("secret"));
        assert!(!is_bcrypt("$2a$11"));
    }

    #[test]
    fn host_ports() {
        assert_eq!(
            split_host_port("127.0.0.1:4222"),
            Some(("127.0.0.1", "4222"))
        );
        assert_eq!(split_host_port(":4222"), Some(("", "4222")));
        assert_eq!(split_host_port("[::1]:4222"), Some(("::1", "4222")));
        assert_eq!(split_host_port("localhost"), None);
        assert_eq!(split_host_port("::1:4222"), None);
    }
}
