//! Logging to syslog, as nats-server does with `syslog: true` (the local
//! daemon's socket) or `remote_syslog: udp://host:port` (also `tcp://` and
//! `unix:///path`): one message per line, `<PRI>` with nats-server's
//! severities, the program's name and pid as the tag.

use std::io::Write;
use std::net::{TcpStream, UdpSocket};
use std::os::unix::net::UnixDatagram;

/// Where syslog messages go.
pub enum Syslog {
    Udp(UdpSocket),
    Tcp(TcpStream),
    Unix(UnixDatagram),
}

/// Facilities, as nats-server dials them: the local daemon's messages
/// under LOG_DAEMON, remote ones with no facility (Go's LOG_KERN, 0).
const DAEMON: u8 = 3 << 3;

/// `remote_syslog`'s address checked: `Err` with nats-server's words.
pub fn check_url(url: &str) -> Result<(), String> {
    parse_url(url).map(|_| ())
}

fn parse_url(url: &str) -> Result<(&str, &str), String> {
    let Some((scheme, rest)) = url.split_once("://") else {
        return Err(format!("error invalid network type: {:?}", ""));
    };
    match scheme {
        "udp" | "tcp" if !rest.is_empty() => Ok((scheme, rest.trim_end_matches('/'))),
        "unix" if rest.starts_with('/') => Ok((scheme, rest)),
        "udp" | "tcp" | "unix" => Err(format!(
            "error connecting to syslog: missing address in {url:?}"
        )),
        other => Err(format!("error invalid network type: {other:?}")),
    }
}

impl Syslog {
    /// The local daemon's socket, where Go's syslog package looks for it.
    pub fn local() -> std::io::Result<(Syslog, u8)> {
        let socket = UnixDatagram::unbound()?;
        let mut last = None;
        for path in ["/dev/log", "/var/run/syslog", "/var/run/log"] {
            match socket.connect(path) {
                Ok(()) => return Ok((Syslog::Unix(socket), DAEMON)),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| std::io::Error::other("no syslog socket")))
    }

    /// A remote daemon by `udp://`, `tcp://` or `unix://` address.
    pub fn remote(url: &str) -> std::io::Result<(Syslog, u8)> {
        let (scheme, addr) = parse_url(url).map_err(std::io::Error::other)?;
        let sink = match scheme {
            "udp" => {
                let s = UdpSocket::bind(("0.0.0.0", 0))?;
                s.connect(addr)?;
                Syslog::Udp(s)
            }
            "tcp" => Syslog::Tcp(TcpStream::connect(addr)?),
            _ => {
                let s = UnixDatagram::unbound()?;
                s.connect(addr)?;
                Syslog::Unix(s)
            }
        };
        Ok((sink, 0))
    }

    /// Sends one message of nats-server's level `level` (INF, WRN, ...).
    pub fn send(&mut self, facility: u8, level: &str, text: &str) {
        let severity = match level {
            "FTL" => 2,
            "ERR" => 3,
            "WRN" => 4,
            "DBG" => 7,
            _ => 5, // INF and TRC are notices, as nats-server sends them
        };
        let message = format!(
            "<{}>{} ringnats[{}]: {text}\n",
            facility | severity,
            crate::log::rfc3339_now(),
            std::process::id()
        );
        let _ = match self {
            Syslog::Udp(s) => s.send(message.as_bytes()).map(|_| ()),
            Syslog::Tcp(s) => s.write_all(message.as_bytes()),
            Syslog::Unix(s) => s.send(message.as_bytes()).map(|_| ()),
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_checked_as_nats_server_checks_them() {
        assert!(check_url("udp://127.0.0.1:514").is_ok());
        assert!(check_url("tcp://logs:514").is_ok());
        assert!(check_url("unix:///dev/log").is_ok());
        assert_eq!(
            check_url("http://x"),
            Err("error invalid network type: \"http\"".into())
        );
        assert!(check_url("udp://").is_err());
        assert!(check_url("nonsense").is_err());
    }
}
