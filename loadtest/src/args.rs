//! Command line: one subcommand per scenario. The same structs are the
//! library's input (`Scenario`), with `Default` giving the CLI defaults.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, FromArgMatches, Parser, Subcommand};

use crate::error::{Error, Result};

#[derive(Parser, Debug, Clone)]
#[command(
    name = "loadtest",
    version,
    about = "A NATS load generator: speaks the client protocol itself over nats://, tls://, ws:// and wss://"
)]
pub struct Cli {
    #[command(subcommand)]
    pub scenario: Scenario,
}

#[derive(Subcommand, Debug, Clone)]
pub enum Scenario {
    /// P publishers, no subscribers: the server's ingest rate.
    Pub(PubArgs),
    /// S subscribers on one subject fed by one internal publisher: delivery rate.
    Sub(SubArgs),
    /// P publishers → S subscribers on K subjects; every delivery counts.
    Pubsub(PubsubArgs),
    /// 1 publisher → S subscribers on one subject (deliveries/s = S × msgs/s).
    Fanout(FanoutArgs),
    /// 1 publisher → N queue-group members: each message delivered once.
    Queue(QueueArgs),
    /// Request/reply latency at a fixed rate (or saturation).
    Reqrep(ReqrepArgs),
    /// N idle connections; the server's RSS per connection with --pid.
    Conns(ConnsArgs),
    /// A server that discards PUBs and relays canned MSGs: the generator's ceiling.
    NullServer(NullServerArgs),
}

impl Scenario {
    pub fn name(&self) -> &'static str {
        match self {
            Scenario::Pub(_) => "pub",
            Scenario::Sub(_) => "sub",
            Scenario::Pubsub(_) => "pubsub",
            Scenario::Fanout(_) => "fanout",
            Scenario::Queue(_) => "queue",
            Scenario::Reqrep(_) => "reqrep",
            Scenario::Conns(_) => "conns",
            Scenario::NullServer(_) => "null-server",
        }
    }

    /// The common options (None for null-server).
    pub fn common(&self) -> Option<&Common> {
        Some(match self {
            Scenario::Pub(a) => &a.common,
            Scenario::Sub(a) => &a.common,
            Scenario::Pubsub(a) => &a.common,
            Scenario::Fanout(a) => &a.common,
            Scenario::Queue(a) => &a.common,
            Scenario::Reqrep(a) => &a.common,
            Scenario::Conns(a) => &a.common,
            Scenario::NullServer(_) => return None,
        })
    }

    pub fn common_mut(&mut self) -> Option<&mut Common> {
        Some(match self {
            Scenario::Pub(a) => &mut a.common,
            Scenario::Sub(a) => &mut a.common,
            Scenario::Pubsub(a) => &mut a.common,
            Scenario::Fanout(a) => &mut a.common,
            Scenario::Queue(a) => &mut a.common,
            Scenario::Reqrep(a) => &mut a.common,
            Scenario::Conns(a) => &mut a.common,
            Scenario::NullServer(_) => return None,
        })
    }
}

/// Parses a scenario from command-line words (without the program name),
/// e.g. `["pubsub", "--url", "ws://127.0.0.1:8080", "--count", "1000"]`.
pub fn parse_args<I, T>(args: I) -> Result<Scenario>
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    let words = std::iter::once(std::ffi::OsString::from("loadtest"))
        .chain(args.into_iter().map(Into::into));
    Cli::try_parse_from(words)
        .map(|c| c.scenario)
        .map_err(|e| Error::new(e.to_string()))
}

/// Parses `5s`, `500ms`, `250us`, `1m`, `1.5s`, or a bare number of seconds.
pub fn parse_duration(s: &str) -> std::result::Result<Duration, String> {
    let s = s.trim();
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let v: f64 = num.parse().map_err(|_| format!("bad duration {s:?}"))?;
    let secs = match unit.trim() {
        "" | "s" => v,
        "ms" => v / 1e3,
        "us" | "µs" => v / 1e6,
        "ns" => v / 1e9,
        "m" | "min" => v * 60.0,
        "h" => v * 3600.0,
        u => return Err(format!("bad duration unit {u:?} in {s:?}")),
    };
    if !secs.is_finite() || secs < 0.0 {
        return Err(format!("bad duration {s:?}"));
    }
    Ok(Duration::from_secs_f64(secs))
}

/// Options every client scenario takes.
#[derive(Args, Debug, Clone)]
pub struct Common {
    /// Server URL: nats://, tls://, ws:// or wss:// (user:pass@ allowed).
    #[arg(long, default_value = "nats://127.0.0.1:4222")]
    pub url: String,
    /// Payload bytes per message (≥ 8 carries a sequence number).
    #[arg(long, default_value_t = 128)]
    pub size: usize,
    /// Messages to publish after the warm-up (all publishers together); for
    /// reqrep, requests; default: run for --duration.
    #[arg(long, conflicts_with = "duration")]
    pub count: Option<u64>,
    /// How long to measure (default 5s when --count is not given).
    #[arg(long, value_parser = parse_duration)]
    pub duration: Option<Duration>,
    /// Traffic before the measurement, not counted.
    #[arg(long, value_parser = parse_duration, default_value = "1s")]
    pub warmup: Duration,
    /// Print one JSON object on stdout instead of the table.
    #[arg(long)]
    pub json: bool,
    /// WebSocket: offer permessage-deflate and compress every message sent.
    #[arg(long)]
    pub compress: bool,
    /// TLS: do not verify the server's certificate.
    #[arg(long)]
    pub insecure: bool,
    /// TLS: trust the CA certificates in this PEM file.
    #[arg(long)]
    pub ca: Option<PathBuf>,
    /// WebSocket: many PUBs per frame (the default).
    #[arg(long, conflicts_with = "ws_one_per_frame")]
    pub ws_batch: bool,
    /// WebSocket: one PUB per frame, as browsers send.
    #[arg(long)]
    pub ws_one_per_frame: bool,
    /// Messages per PING window (default: about 256 KiB of PUBs, at most 10,000).
    #[arg(long)]
    pub window: Option<usize>,
    /// PINGs a publisher may have outstanding before it waits for a PONG.
    #[arg(long, default_value_t = 4)]
    pub max_pings: usize,
    /// Deliveries the publishers may run ahead of the subscribers
    /// (default: 16 windows per subscriber; 0: no limit, for deliberate overload).
    #[arg(long)]
    pub max_lag: Option<u64>,
    /// After publishing ends, how long without a delivery before what is
    /// missing is declared lost.
    #[arg(long, value_parser = parse_duration, default_value = "3s")]
    pub drain_timeout: Duration,
    /// Subject prefix (subjects are PREFIX.0, PREFIX.1, …).
    #[arg(long, default_value = "bench")]
    pub subject: String,
    /// User for CONNECT (also from the URL's user:pass@).
    #[arg(long)]
    pub user: Option<String>,
    /// Password for CONNECT.
    #[arg(long)]
    pub pass: Option<String>,
    /// Token for CONNECT (auth_token).
    #[arg(long)]
    pub token: Option<String>,
    /// Threads reading subscriber connections (default: one per CPU this
    /// process may run on).
    #[arg(long)]
    pub threads: Option<usize>,
    /// A deliberately overloaded run: loss does not fail it.
    #[arg(long)]
    pub allow_loss: bool,
    /// No progress bar.
    #[arg(long)]
    pub quiet: bool,
}

#[derive(Args, Debug, Clone)]
pub struct PubArgs {
    #[command(flatten)]
    pub common: Common,
    /// Publisher connections.
    #[arg(long, default_value_t = 1)]
    pub publishers: usize,
}

#[derive(Args, Debug, Clone)]
pub struct SubArgs {
    #[command(flatten)]
    pub common: Common,
    /// Subscriber connections.
    #[arg(long, default_value_t = 1)]
    pub subscribers: usize,
}

#[derive(Args, Debug, Clone)]
pub struct PubsubArgs {
    #[command(flatten)]
    pub common: Common,
    /// Publisher connections.
    #[arg(long, default_value_t = 1)]
    pub publishers: usize,
    /// Subscriber connections (each gets every message).
    #[arg(long, default_value_t = 1)]
    pub subscribers: usize,
    /// Subjects: publisher i publishes on PREFIX.(i mod K).
    #[arg(long, default_value_t = 1)]
    pub subjects: usize,
    /// Subscribe with PREFIX.> instead of one SUB per subject.
    #[arg(long)]
    pub wildcard: bool,
}

#[derive(Args, Debug, Clone)]
pub struct FanoutArgs {
    #[command(flatten)]
    pub common: Common,
    /// Subscriber connections.
    #[arg(long, default_value_t = 10)]
    pub subscribers: usize,
}

#[derive(Args, Debug, Clone)]
pub struct QueueArgs {
    #[command(flatten)]
    pub common: Common,
    /// Queue-group members.
    #[arg(long, default_value_t = 4)]
    pub members: usize,
}

#[derive(Args, Debug, Clone)]
pub struct ReqrepArgs {
    #[command(flatten)]
    pub common: Common,
    /// Responder connections (one queue group on PREFIX.req).
    #[arg(long, default_value_t = 1)]
    pub responders: usize,
    /// Requests per second on a fixed schedule (latency from the scheduled
    /// send time); 0: saturation with --inflight outstanding.
    #[arg(long, default_value_t = 10_000)]
    pub rate: u64,
    /// Requests outstanding at saturation (--rate 0).
    #[arg(long, default_value_t = 1)]
    pub inflight: usize,
    /// Requester and responders share one thread that polls its sockets
    /// without sleeping: waking a sleeping core takes 50-100 us on virtual
    /// machines, which would otherwise count as the server's latency.
    #[arg(long)]
    pub busy_poll: bool,
    /// The server's pid: the CPU time it uses while requests are measured
    /// is reported, per request and as a share of a core.
    #[arg(long)]
    pub pid: Option<u32>,
}

#[derive(Args, Debug, Clone)]
pub struct ConnsArgs {
    #[command(flatten)]
    pub common: Common,
    /// Idle connections to open.
    #[arg(long, default_value_t = 10_000)]
    pub connections: usize,
    /// The server's pid: its VmRSS is read before and after.
    #[arg(long)]
    pub pid: Option<u32>,
    /// How long to hold the connections open before reading RSS again.
    #[arg(long, value_parser = parse_duration, default_value = "1s")]
    pub hold: Duration,
}

#[derive(Args, Debug, Clone)]
pub struct NullServerArgs {
    /// Port to listen on.
    #[arg(long, default_value_t = 4222)]
    pub port: u16,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    pub host: String,
    /// Speak WebSocket (no TLS, no compression).
    #[arg(long)]
    pub ws: bool,
    /// Exit after this long (default: run until killed).
    #[arg(long, value_parser = parse_duration)]
    pub duration: Option<Duration>,
    /// Never sleep: poll epoll with a zero timeout, so no request waits
    /// for a wake-up (the floor of request/reply latency).
    #[arg(long)]
    pub busy_poll: bool,
}

/// The CLI defaults of an argument struct.
fn defaults<T: Args + FromArgMatches>() -> T {
    let cmd = T::augment_args(clap::Command::new("defaults").no_binary_name(true));
    let m = cmd
        .try_get_matches_from(Vec::<String>::new())
        .expect("defaults parse");
    T::from_arg_matches(&m).expect("defaults")
}

macro_rules! default_via_clap {
    ($($t:ty),*) => {$(
        impl Default for $t {
            fn default() -> Self {
                defaults()
            }
        }
    )*};
}

default_via_clap!(
    Common,
    PubArgs,
    SubArgs,
    PubsubArgs,
    FanoutArgs,
    QueueArgs,
    ReqrepArgs,
    ConnsArgs,
    NullServerArgs
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("5s").unwrap(), Duration::from_secs(5));
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_duration("1.5").unwrap(), Duration::from_millis(1500));
        assert_eq!(parse_duration("2m").unwrap(), Duration::from_secs(120));
        assert!(parse_duration("5x").is_err());
    }

    #[test]
    fn defaults_and_parsing() {
        let c = Common::default();
        assert_eq!(c.url, "nats://127.0.0.1:4222");
        assert_eq!(c.warmup, Duration::from_secs(1));
        assert_eq!(FanoutArgs::default().subscribers, 10);
        let s = parse_args([
            "pubsub",
            "--url",
            "ws://h:1",
            "--count",
            "10",
            "--publishers",
            "3",
            "--wildcard",
        ])
        .unwrap();
        match s {
            Scenario::Pubsub(a) => {
                assert_eq!(
                    (a.publishers, a.common.count, a.wildcard),
                    (3, Some(10), true)
                );
            }
            _ => panic!(),
        }
        assert!(parse_args(["pub", "--count", "1", "--duration", "1s"]).is_err());
    }
}
