//! The command line, mirroring nats-server's flags, and its overlay on the
//! options read from a file (flags win, as in nats-server).

use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;

use clap::{ArgAction, Parser, ValueEnum};

use super::error::{ConfigError, ConfigErrors};
use super::options::Options;

/// Which IO runtime the shards run on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum IoMode {
    /// io_uring when the kernel allows it, epoll otherwise.
    Auto,
    /// io_uring (tokio-uring); fails to start where io_uring is refused.
    Uring,
    /// epoll (tokio current-thread runtime).
    Epoll,
}

#[derive(Parser, Debug, Clone)]
#[command(
    name = "ringnats",
    about = "A NATS-compatible message server, thread-per-core on io_uring.",
    disable_version_flag = true,
    disable_help_flag = true,
    after_help = "Flags are nats-server's; single-dash long forms (-port 4222) work too."
)]
pub struct Cli {
    /// Bind to host address (default: 0.0.0.0)
    #[arg(short = 'a', long = "addr", visible_alias = "net", value_name = "HOST")]
    pub addr: Option<String>,
    /// Use port for clients (default: 4222; -1 for a random port)
    #[arg(short = 'p', long = "port", allow_negative_numbers = true)]
    pub port: Option<i32>,
    /// Server name (default: the server's id)
    #[arg(short = 'n', long = "name", visible_alias = "server_name")]
    pub name: Option<String>,
    /// File to store the PID in
    #[arg(short = 'P', long = "pid", value_name = "FILE")]
    pub pid: Option<PathBuf>,
    /// Use port for HTTP monitoring
    #[arg(short = 'm', long = "http_port", allow_negative_numbers = true)]
    pub http_port: Option<i32>,
    /// Use port for HTTPS monitoring (with the tls block's certificate)
    #[arg(
        long = "ms",
        visible_alias = "https_port",
        allow_negative_numbers = true
    )]
    pub https_port: Option<i32>,
    /// Configuration file
    #[arg(short = 'c', long = "config", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Test the configuration and exit (0 when valid)
    #[arg(short = 't', action = ArgAction::SetTrue)]
    pub test_config: bool,
    /// Client URL to advertise
    #[arg(long = "client_advertise")]
    pub client_advertise: Option<String>,
    /// File to redirect log output to
    #[arg(
        short = 'l',
        long = "log",
        visible_alias = "log_file",
        value_name = "FILE"
    )]
    pub log: Option<PathBuf>,
    /// Timestamp log entries (default: true)
    #[arg(short = 'T', long = "logtime", num_args = 0..=1, default_missing_value = "true")]
    pub logtime: Option<bool>,
    /// Enable debugging output
    #[arg(short = 'D', long = "debug", action = ArgAction::SetTrue)]
    pub debug: bool,
    /// Trace the raw protocol
    #[arg(short = 'V', long = "trace", action = ArgAction::SetTrue)]
    pub trace: bool,
    /// Debug and trace
    #[arg(long = "DV", action = ArgAction::SetTrue)]
    pub debug_trace: bool,
    /// User required for connections
    #[arg(long = "user")]
    pub user: Option<String>,
    /// Password required for connections
    #[arg(long = "pass")]
    pub pass: Option<String>,
    /// Authorization token required for connections
    #[arg(long = "auth")]
    pub auth: Option<String>,
    /// Enable TLS, do not verify clients
    #[arg(long = "tls", action = ArgAction::SetTrue)]
    pub tls: bool,
    /// Server certificate file
    #[arg(long = "tlscert", value_name = "FILE")]
    pub tlscert: Option<PathBuf>,
    /// Private key for the server certificate
    #[arg(long = "tlskey", value_name = "FILE")]
    pub tlskey: Option<PathBuf>,
    /// Enable TLS, verify client certificates
    #[arg(long = "tlsverify", action = ArgAction::SetTrue)]
    pub tlsverify: bool,
    /// Client certificate CA for verification
    #[arg(long = "tlscacert", value_name = "FILE")]
    pub tlscacert: Option<PathBuf>,
    /// Shards (threads, one per core; default: the number of cores)
    #[arg(long = "shards")]
    pub shards: Option<usize>,
    /// How long a shard polls after work before sleeping, e.g. 100us (0: never)
    #[arg(long = "idle_spin", value_name = "DURATION", value_parser = parse_duration)]
    pub idle_spin: Option<Duration>,
    /// IO runtime: auto (io_uring, or epoll where refused), uring or epoll
    #[arg(long = "io", value_enum, default_value_t = IoMode::Auto)]
    pub io: IoMode,
    /// Log to the local syslog daemon
    #[arg(short = 's', long = "syslog", action = ArgAction::SetTrue)]
    pub syslog: bool,
    /// Log to a syslog daemon at udp://, tcp:// or unix:// ADDRESS
    #[arg(short = 'r', long = "remote_syslog", value_name = "ADDRESS")]
    pub remote_syslog: Option<String>,
    /// Send a signal to a running server: stop, quit, term, reopen, reload
    /// or ldm, optionally =PID or =PID_FILE
    #[arg(long = "signal", visible_alias = "sl", value_name = "SIGNAL[=PID]")]
    pub signal: Option<String>,
    /// Show the version
    #[arg(short = 'v', long = "version", action = ArgAction::SetTrue)]
    pub version: bool,
    /// Show this message
    #[arg(short = 'h', long = "help", action = ArgAction::Help)]
    pub help: Option<bool>,
}

/// nats-server's long flags with one dash (Go's flag package accepts both).
const LONG_FLAGS: &[&str] = &[
    "addr",
    "net",
    "port",
    "name",
    "server_name",
    "pid",
    "http_port",
    "https_port",
    "ms",
    "config",
    "client_advertise",
    "log",
    "log_file",
    "logtime",
    "debug",
    "trace",
    "DV",
    "user",
    "pass",
    "auth",
    "tls",
    "tlscert",
    "tlskey",
    "tlsverify",
    "tlscacert",
    "shards",
    "idle_spin",
    "io",
    "signal",
    "sl",
    "syslog",
    "remote_syslog",
    "version",
    "help",
];

impl Cli {
    /// Parses arguments, accepting `-port 4222` as well as `--port 4222`.
    pub fn parse_args<I, T>(args: I) -> Result<Cli, clap::Error>
    where
        I: IntoIterator<Item = T>,
        T: Into<OsString>,
    {
        let args = args.into_iter().map(|a| {
            let a: OsString = a.into();
            match a.to_str() {
                Some(s) if is_single_dash_long(s) => OsString::from(format!("-{s}")),
                _ => a,
            }
        });
        Cli::try_parse_from(args)
    }

    /// Options from the configuration file (if any), with the flags laid over.
    pub fn load_options(&self) -> Result<Options, ConfigErrors> {
        let mut opts = match &self.config {
            Some(path) => Options::from_file(path)?,
            None => Options::default(),
        };
        self.apply(&mut opts)?;
        Ok(opts)
    }

    /// Lays the flags over options read from a file: a flag given wins.
    pub fn apply(&self, o: &mut Options) -> Result<(), ConfigError> {
        if let Some(a) = &self.addr {
            o.host = a.clone();
        }
        if let Some(p) = self.port {
            if !(-1..=65535).contains(&p) {
                return Err(ConfigError::general(format!("port {p} is out of range")));
            }
            o.port = p;
        }
        if let Some(n) = &self.name {
            o.server_name = Some(n.clone());
        }
        if let Some(p) = &self.pid {
            o.pid_file = Some(p.clone());
        }
        if let Some(p) = self.http_port {
            o.http_port = Some(p);
        }
        if let Some(p) = self.https_port {
            o.https_port = Some(p);
        }
        if self.syslog {
            o.syslog = true;
        }
        if let Some(url) = &self.remote_syslog {
            crate::syslog::check_url(url).map_err(ConfigError::general)?;
            o.remote_syslog = Some(url.clone());
        }
        if let Some(a) = &self.client_advertise {
            o.client_advertise = Some(a.clone());
        }
        if let Some(l) = &self.log {
            o.log_file = Some(l.clone());
        }
        if let Some(t) = self.logtime {
            o.logtime = t;
        }
        o.debug |= self.debug || self.debug_trace;
        o.trace |= self.trace || self.debug_trace;
        if let Some(u) = &self.user {
            o.auth.user = Some(u.clone());
        }
        if let Some(p) = &self.pass {
            o.auth.password = Some(p.clone());
        }
        if let Some(t) = &self.auth {
            o.auth.token = Some(t.clone());
        }
        let tls_flag = self.tls
            || self.tlsverify
            || self.tlscert.is_some()
            || self.tlskey.is_some()
            || self.tlscacert.is_some();
        if tls_flag {
            // Flags complete (or override) the file's tls block, as in nats-server.
            let t = o.tls.get_or_insert_with(Default::default);
            if let Some(c) = &self.tlscert {
                t.cert_file = Some(c.clone());
            }
            if let Some(k) = &self.tlskey {
                t.key_file = Some(k.clone());
            }
            if let Some(ca) = &self.tlscacert {
                t.ca_file = Some(ca.clone());
            }
            t.verify |= self.tlsverify;
        }
        if let Some(n) = self.shards {
            if n == 0 {
                return Err(ConfigError::general("--shards must be at least 1"));
            }
            o.shards = Some(n);
        }
        if let Some(d) = self.idle_spin {
            o.idle_spin = d;
        }
        Ok(())
    }
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    super::read::parse_go_duration(s)
        .ok_or_else(|| format!("not a duration: {s:?} (e.g. 100us, 1ms, 0)"))
}

fn is_single_dash_long(s: &str) -> bool {
    let Some(rest) = s.strip_prefix('-') else {
        return false;
    };
    if rest.starts_with('-') || rest.len() < 2 {
        return false;
    }
    let name = rest.split('=').next().unwrap_or(rest);
    // -DV is both a cluster of -D -V and nats-server's own flag: same meaning.
    name != "DV" && LONG_FLAGS.contains(&name)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cli(args: &[&str]) -> Cli {
        Cli::parse_args(std::iter::once("ringnats").chain(args.iter().copied())).unwrap()
    }

    #[test]
    fn flags_override_file_values() {
        let mut o = Options {
            port: 5000,
            host: "10.0.0.1".into(),
            ..Options::default()
        };
        cli(&[
            "-p",
            "6000",
            "-a",
            "127.0.0.1",
            "--user",
            "u",
            "--pass",
            "p",
            "-DV",
        ])
        .apply(&mut o)
        .unwrap();
        assert_eq!(o.port, 6000);
        assert_eq!(o.host, "127.0.0.1");
        assert_eq!(o.auth.user.as_deref(), Some("u"));
        assert!(o.debug && o.trace);
    }

    #[test]
    fn single_dash_long_flags_work_like_nats_server() {
        let c = cli(&[
            "-port",
            "4333",
            "-addr=0.0.0.0",
            "-config",
            "x.conf",
            "-http_port",
            "8222",
        ]);
        assert_eq!(c.port, Some(4333));
        assert_eq!(c.addr.as_deref(), Some("0.0.0.0"));
        assert_eq!(c.config.as_deref(), Some(std::path::Path::new("x.conf")));
        assert_eq!(c.http_port, Some(8222));
    }

    #[test]
    fn short_flags() {
        let c = cli(&[
            "-c",
            "a.conf",
            "-t",
            "-D",
            "-V",
            "-m",
            "8222",
            "-n",
            "srv",
            "-l",
            "/tmp/x.log",
            "-P",
            "/tmp/x.pid",
        ]);
        assert!(c.test_config && c.debug && c.trace);
        assert_eq!(c.name.as_deref(), Some("srv"));
        let c = cli(&["-DV", "--io", "epoll", "--shards", "3", "-p", "-1"]);
        assert!(c.debug_trace || (c.debug && c.trace));
        assert_eq!(c.io, IoMode::Epoll);
        assert_eq!(c.shards, Some(3));
        assert_eq!(c.port, Some(-1));
        assert!(cli(&["-v"]).version);
    }

    #[test]
    fn idle_spin_is_a_duration() {
        let mut o = Options::default();
        cli(&["--idle_spin", "250us"]).apply(&mut o).unwrap();
        assert_eq!(o.idle_spin, Duration::from_micros(250));
        cli(&["-idle_spin", "0"]).apply(&mut o).unwrap();
        assert_eq!(o.idle_spin, Duration::ZERO);
        assert!(Cli::parse_args(["ringnats", "--idle_spin", "fast"]).is_err());
        // From a file too, as nats-server's duration strings.
        let map = crate::config::parser::parse_str(
            "idle_spin: \"2ms\"\n",
            std::path::Path::new("t.conf"),
        )
        .unwrap();
        assert_eq!(
            Options::from_map(&map).unwrap().idle_spin,
            Duration::from_millis(2)
        );
        assert_eq!(
            Options::default().idle_spin,
            crate::config::options::DEFAULT_IDLE_SPIN
        );
    }
}
