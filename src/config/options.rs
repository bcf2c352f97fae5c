//! Typed server options read from a parsed configuration, with nats-server's
//! keys, aliases, defaults and error texts.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::blocks;
use super::error::{ConfigError, ConfigErrors};
use super::read::{self, Report};
use super::value::{Map, Pos, Value};
use crate::auth::jwt::{self, Claims};

pub const DEFAULT_PORT: i32 = 4222;
pub const DEFAULT_HOST: &str = "0.0.0.0";
pub const DEFAULT_MAX_PAYLOAD: u32 = 1024 * 1024;
pub const DEFAULT_MAX_CONTROL_LINE: u32 = 4096;
pub const DEFAULT_MAX_PENDING: i64 = 64 * 1024 * 1024;
pub const DEFAULT_MAX_CONNECTIONS: usize = 64 * 1024;
pub const DEFAULT_PING_INTERVAL: Duration = Duration::from_secs(120);
pub const DEFAULT_PING_MAX: u32 = 2;
pub const DEFAULT_AUTH_TIMEOUT: Duration = Duration::from_secs(2);
pub const DEFAULT_WRITE_DEADLINE: Duration = Duration::from_secs(10);
pub const DEFAULT_LAME_DUCK_DURATION: Duration = Duration::from_secs(120);
pub const DEFAULT_LAME_DUCK_GRACE_PERIOD: Duration = Duration::from_secs(10);
/// A shard polls this long after work before it sleeps.
pub const DEFAULT_IDLE_SPIN: Duration = Duration::from_micros(100);
/// nats-server applies no websocket handshake timeout when none is set; we
/// do, so a client trickling its upgrade request cannot hold a socket forever.
pub const DEFAULT_WS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Clone, Debug, PartialEq)]
pub struct Options {
    pub config_file: Option<PathBuf>,
    pub host: String,
    /// -1 asks for a random port; 0 means the default.
    pub port: i32,
    pub client_advertise: Option<String>,
    pub server_name: Option<String>,
    pub max_payload: u32,
    pub max_control_line: u32,
    pub max_connections: usize,
    /// Closed connections monitoring remembers.
    pub max_closed_clients: usize,
    pub max_pending: i64,
    /// 0: no limit.
    pub max_subscriptions: usize,
    pub ping_interval: Duration,
    pub ping_max: u32,
    pub write_deadline: Duration,
    pub no_header_support: bool,
    /// Every client connection starts with a PROXY protocol header (v1 or
    /// v2) from the load balancer in front; one without is refused.
    pub proxy_protocol: bool,
    pub debug: bool,
    pub trace: bool,
    pub logtime: bool,
    pub log_file: Option<PathBuf>,
    /// `logfile_size_limit`: rotate the log file past this size (0: never).
    pub log_size_limit: u64,
    /// `logfile_max_num`: backups kept after rotations (0: all).
    pub log_max_files: usize,
    /// Lame duck mode (SIGUSR2): new clients refused at once, the others
    /// closed one by one over this time, after the grace period.
    pub lame_duck_duration: Duration,
    pub lame_duck_grace_period: Duration,
    /// `syslog: true`: log to the local syslog daemon.
    pub syslog: bool,
    /// `remote_syslog`: log to this syslog address (udp://, tcp://, unix://).
    pub remote_syslog: Option<String>,
    pub pid_file: Option<PathBuf>,
    pub http_host: Option<String>,
    pub http_port: Option<i32>,
    /// Monitoring over HTTPS, with the `tls {}` block's certificate.
    pub https_port: Option<i32>,
    /// Monitoring endpoints are served under this path ("": the root).
    pub http_base_path: String,
    /// Shards (threads, one per core); `None`: one per available core.
    pub shards: Option<usize>,
    /// How long a shard keeps polling after work before it sleeps (zero:
    /// sleep at once). Trades a little idle CPU for wake-up latency.
    pub idle_spin: Duration,
    pub auth: Authorization,
    pub accounts: Vec<Account>,
    pub no_auth_user: Option<String>,
    /// Set when `operator`/`trusted` keys are present (JWT mode).
    pub trusted_operators: bool,
    /// JWT mode: the operators, trusted keys and preloaded accounts.
    pub operator: OperatorOptions,
    /// `system_account`: an account name (a public key in JWT mode).
    pub system_account: Option<(String, Pos)>,
    pub tls: Option<TlsOptions>,
    pub websocket: Option<WebsocketOptions>,
    pub leafnodes: Option<LeafnodeOptions>,
    /// Faults that do not stop the server (nats-server prints them and starts).
    pub warnings: Vec<ConfigError>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            config_file: None,
            host: DEFAULT_HOST.to_string(),
            port: DEFAULT_PORT,
            client_advertise: None,
            server_name: None,
            max_payload: DEFAULT_MAX_PAYLOAD,
            max_control_line: DEFAULT_MAX_CONTROL_LINE,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            max_closed_clients: crate::shard::report::DEFAULT_MAX_CLOSED,
            max_pending: DEFAULT_MAX_PENDING,
            max_subscriptions: 0,
            ping_interval: DEFAULT_PING_INTERVAL,
            ping_max: DEFAULT_PING_MAX,
            write_deadline: DEFAULT_WRITE_DEADLINE,
            no_header_support: false,
            proxy_protocol: false,
            debug: false,
            trace: false,
            logtime: true,
            log_file: None,
            log_size_limit: 0,
            log_max_files: 0,
            syslog: false,
            remote_syslog: None,
            lame_duck_duration: DEFAULT_LAME_DUCK_DURATION,
            lame_duck_grace_period: DEFAULT_LAME_DUCK_GRACE_PERIOD,
            pid_file: None,
            http_host: None,
            http_port: None,
            https_port: None,
            http_base_path: String::new(),
            shards: None,
            idle_spin: DEFAULT_IDLE_SPIN,
            auth: Authorization::default(),
            accounts: Vec::new(),
            no_auth_user: None,
            trusted_operators: false,
            operator: OperatorOptions::default(),
            system_account: None,
            tls: None,
            websocket: None,
            leafnodes: None,
            warnings: Vec::new(),
        }
    }
}

/// The `authorization {}` block (and, in the websocket and leafnode blocks,
/// its simpler form).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Authorization {
    pub user: Option<String>,
    pub password: Option<String>,
    pub token: Option<String>,
    pub timeout: Option<Duration>,
    /// `Some` when a `users` list is present, even empty.
    pub users: Option<Vec<User>>,
    pub nkeys: Vec<User>,
    pub default_permissions: Option<Permissions>,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct User {
    /// Name for user/password users; empty for NKEY users.
    pub username: String,
    pub password: Option<String>,
    /// Public NKEY (starts with 'U') for NKEY users.
    pub nkey: Option<String>,
    pub permissions: Option<Permissions>,
    /// `None`: every connection type.
    pub allowed_connection_types: Option<Vec<ConnectionType>>,
    /// The account the user binds to; `None`: the global account `$G`.
    pub account: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Permissions {
    pub publish: Option<SubjectPermission>,
    pub subscribe: Option<SubjectPermission>,
    pub allow_responses: Option<ResponsePermission>,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct SubjectPermission {
    pub allow: Vec<String>,
    pub deny: Vec<String>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct ResponsePermission {
    pub max: usize,
    pub expires: Duration,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ConnectionType {
    Standard,
    Websocket,
    Leafnode,
    LeafnodeWs,
    Mqtt,
    MqttWs,
    InProcess,
}

impl ConnectionType {
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s.to_ascii_uppercase().as_str() {
            "STANDARD" => ConnectionType::Standard,
            "WEBSOCKET" => ConnectionType::Websocket,
            "LEAFNODE" => ConnectionType::Leafnode,
            "LEAFNODE_WS" => ConnectionType::LeafnodeWs,
            "MQTT" => ConnectionType::Mqtt,
            "MQTT_WS" => ConnectionType::MqttWs,
            "IN_PROCESS" => ConnectionType::InProcess,
            _ => return None,
        })
    }
}

/// JWT mode (decentralized authentication): operator JWTs (their keys and
/// signing keys are trusted), or bare `trusted_keys`; the account JWTs a
/// `resolver: MEMORY` is preloaded with.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct OperatorOptions {
    /// Decoded, each with where it was configured.
    pub operators: Vec<(Claims<jwt::Operator>, Pos)>,
    pub trusted_keys: Vec<String>,
    /// `resolver: MEMORY` (the only resolver served).
    pub memory_resolver: Option<Pos>,
    /// Account public key, its decoded JWT, where.
    pub preload: Vec<(String, Claims<jwt::Account>, Pos)>,
}

impl OperatorOptions {
    pub fn is_on(&self) -> bool {
        !self.operators.is_empty() || !self.trusted_keys.is_empty()
    }
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Account {
    pub name: String,
    pub users: Vec<User>,
    pub exports: Vec<Export>,
    pub imports: Vec<Import>,
    pub limits: AccountLimits,
}

/// An account's `limits {}`: each `None` when not set, -1 for none.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct AccountLimits {
    pub connections: Option<i64>,
    pub subscriptions: Option<i64>,
    pub payload: Option<i64>,
    pub leafnodes: Option<i64>,
}

/// How many responses a service import's requester may receive.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ResponseType {
    /// One (nats-server's default).
    #[default]
    Singleton,
    /// Any number, until the response threshold passes.
    Stream,
    Chunked,
}

/// An account's `exports` entry: a stream or service others may import.
#[derive(Clone, Debug, PartialEq)]
pub struct Export {
    pub service: bool,
    pub subject: String,
    /// The accounts allowed to import it (`None`: every account).
    pub accounts: Option<Vec<String>>,
    pub response: ResponseType,
    /// How long a requester's responses are let through (default 2 min).
    pub threshold: Option<Duration>,
}

/// An account's `imports` entry.
#[derive(Clone, Debug, PartialEq)]
pub struct Import {
    pub service: bool,
    /// The account the stream or service comes from.
    pub account: String,
    /// The subject in that account.
    pub subject: String,
    /// The subject in this account (stream: mapped from `subject`;
    /// service: what this account's clients publish to).
    pub to: Option<String>,
    /// Stream imports: the literal prefix put before each subject.
    pub prefix: Option<String>,
    /// JWT mode: when the activation token that allows it expires (Unix
    /// seconds); nothing crosses after.
    pub until: Option<i64>,
}

impl Import {
    /// The subject an import's messages match where they are published, and
    /// the one they get where they go: for a stream, the exporter's subject
    /// and this account's (prefixed or `to`); for a service, this account's
    /// subject (`to`, or the same) and the exporter's.
    pub fn route(&self) -> (String, String) {
        let here = match (&self.prefix, &self.to) {
            (Some(p), _) => format!("{}.{}", p.trim_end_matches('.'), self.subject),
            (None, Some(to)) => to.clone(),
            (None, None) => self.subject.clone(),
        };
        if self.service {
            (here, self.subject.clone())
        } else {
            (self.subject.clone(), here)
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct TlsOptions {
    /// Where the block was written, for errors found when loading its files.
    pub pos: Option<super::value::Pos>,
    pub cert_file: Option<PathBuf>,
    pub key_file: Option<PathBuf>,
    pub ca_file: Option<PathBuf>,
    pub verify: bool,
    pub verify_and_map: bool,
    pub insecure: bool,
    /// Seconds allowed for the TLS handshake.
    pub timeout: Option<Duration>,
    pub handshake_first: bool,
    /// The lowest version accepted: TLS 1.2 (the default) or 1.3.
    pub min_version_13: bool,
    /// TLS 1.2 suites by their IANA names (TLS 1.3's are not configurable,
    /// as in Go); empty: all.
    pub cipher_suites: Vec<String>,
    /// Key exchange groups in order of preference (Go's names); empty: all.
    pub curve_preferences: Vec<String>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct WebsocketOptions {
    pub host: String,
    pub port: i32,
    pub advertise: Option<String>,
    pub tls: Option<TlsOptions>,
    pub no_tls: bool,
    /// As the top level's `proxy_protocol`, for websocket connections.
    pub proxy_protocol: bool,
    pub same_origin: bool,
    pub allowed_origins: Vec<String>,
    pub compression: bool,
    pub handshake_timeout: Duration,
    pub jwt_cookie: Option<String>,
    pub user_cookie: Option<String>,
    pub pass_cookie: Option<String>,
    pub token_cookie: Option<String>,
    pub no_auth_user: Option<String>,
    /// The websocket `authorization {}`: user/password, token, timeout.
    pub auth: Authorization,
    /// Extra headers sent in the 101 response.
    pub headers: Vec<(String, String)>,
    pub ping_interval: Option<Duration>,
}

impl Default for WebsocketOptions {
    fn default() -> Self {
        WebsocketOptions {
            host: DEFAULT_HOST.to_string(),
            port: 0,
            advertise: None,
            tls: None,
            no_tls: false,
            proxy_protocol: false,
            same_origin: false,
            allowed_origins: Vec::new(),
            compression: false,
            handshake_timeout: DEFAULT_WS_HANDSHAKE_TIMEOUT,
            jwt_cookie: None,
            user_cookie: None,
            pass_cookie: None,
            token_cookie: None,
            no_auth_user: None,
            auth: Authorization::default(),
            headers: Vec::new(),
            ping_interval: None,
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct LeafnodeOptions {
    pub host: String,
    /// 0: no leafnode listener (remotes only).
    pub port: i32,
    pub advertise: Option<String>,
    pub no_advertise: bool,
    pub tls: Option<TlsOptions>,
    pub auth: Authorization,
    pub reconnect: Option<Duration>,
    pub remotes: Vec<RemoteLeaf>,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct RemoteLeaf {
    pub urls: Vec<String>,
    pub account: Option<String>,
    pub credentials: Option<PathBuf>,
    pub tls: Option<TlsOptions>,
    pub ws_compression: bool,
    pub ws_no_masking: bool,
    pub hub: bool,
    pub deny_imports: Vec<String>,
    pub deny_exports: Vec<String>,
}

/// Keys nats-server knows that ringnats accepts without acting on them.
const IGNORED_TOP_LEVEL: &[(&str, &str)] = &[
    (
        "cluster",
        "ringnats does not form clusters; attach to one as a leaf node",
    ),
    ("gateway", "ringnats has no gateways"),
    ("jetstream", "ringnats has no JetStream"),
    ("store_dir", "ringnats has no JetStream"),
    ("storedir", "ringnats has no JetStream"),
    ("mqtt", "ringnats has no MQTT listener"),
    ("mappings", "subject mappings are not supported yet"),
    ("maps", "subject mappings are not supported yet"),
    ("server_tags", "ringnats does not use server tags"),
    ("default_js_domain", "ringnats has no JetStream"),
    ("ocsp", "OCSP stapling is not supported"),
    ("prof_port", "ringnats has no Go profiler"),
    ("ports_file_dir", "ports files are not written"),
    ("log_size_limit", "log files are not rotated"),
    (
        "connect_error_reports",
        "there are no routes or gateways to report on",
    ),
    (
        "reconnect_error_reports",
        "there are no routes or gateways to report on",
    ),
    ("max_traced_msg_len", "traced messages are not truncated"),
    (
        "allow_non_tls",
        "TLS stays required on the client port: plain clients are refused",
    ),
    (
        "disable_sublist_cache",
        "the subject index cache is always on",
    ),
    ("no_sublist_cache", "the subject index cache is always on"),
    ("max_sub_tokens", "subjects are not limited in tokens"),
    (
        "max_subscription_tokens",
        "subjects are not limited in tokens",
    ),
    ("logtime_utc", "log times are local"),
    ("no_system_account", "ringnats has no system account"),
    ("no_system", "ringnats has no system account"),
    ("no_sys_acc", "ringnats has no system account"),
];

impl Options {
    /// Reads and checks a configuration file: everything that would stop the
    /// server from starting is an error here, including the rules nats-server
    /// checks only at start.
    pub fn from_file(path: &Path) -> Result<Options, ConfigErrors> {
        let map = super::parse_file(path)?;
        let mut opts = Options::from_map(&map)?;
        opts.config_file = Some(path.to_path_buf());
        Ok(opts)
    }

    /// Reads typed options out of a parsed configuration and applies the
    /// start-time checks.
    pub fn from_map(map: &Map) -> Result<Options, ConfigErrors> {
        let mut report = Report::default();
        let mut o = Options::default();
        o.read_top_level(map, &mut report);
        super::validate::check(&o, map, &mut report);
        if !report.errors.is_empty() {
            return Err(ConfigErrors(report.errors));
        }
        o.warnings = report.warnings;
        Ok(o)
    }

    fn read_top_level(&mut self, map: &Map, r: &mut Report) {
        for entry in map.entries() {
            let item = &entry.item;
            let key = entry.key.to_ascii_lowercase();
            match key.as_str() {
                "listen" => read::listen_into(item, &key, &mut self.host, &mut self.port, r),
                "port" => {
                    if let Some(p) = r.take(read::port(item, &key)) {
                        self.port = p;
                    }
                }
                "host" | "net" => {
                    if let Some(h) = r.take(read::string(item, &key)) {
                        self.host = h;
                    }
                }
                "client_advertise" => self.client_advertise = r.take(read::string(item, &key)),
                "server_name" => {
                    if let Some(name) = r.take(read::string(item, &key)) {
                        if name.contains(' ') {
                            r.error(item, "server name cannot contain spaces");
                        }
                        self.server_name = Some(name);
                    }
                }
                "debug" => self.debug = r.take(read::boolean(item, &key)).unwrap_or(self.debug),
                "trace" | "trace_verbose" => {
                    self.trace = r.take(read::boolean(item, &key)).unwrap_or(self.trace)
                }
                "logtime" => {
                    self.logtime = r.take(read::boolean(item, &key)).unwrap_or(self.logtime)
                }
                "lame_duck_duration" | "lame_duck_grace_period" => {
                    let Some(text) = r.take(read::string(item, &key)) else {
                        continue;
                    };
                    let Some(d) = read::parse_go_duration(&text) else {
                        r.error(
                            item,
                            format!("error parsing {key}: time: invalid duration \"{text}\""),
                        );
                        continue;
                    };
                    if key == "lame_duck_duration" {
                        if d < Duration::from_secs(30) {
                            r.error(
                                item,
                                format!(
                                    "invalid lame_duck_duration of {text}, minimum is 30 seconds"
                                ),
                            );
                        } else {
                            self.lame_duck_duration = d;
                        }
                    } else {
                        self.lame_duck_grace_period = d;
                    }
                }
                "syslog" => self.syslog = r.take(read::boolean(item, &key)).unwrap_or(false),
                "remote_syslog" | "rsyslog" => {
                    if let Some(url) = r.take(read::string(item, &key)) {
                        match crate::syslog::check_url(&url) {
                            Ok(()) => self.remote_syslog = Some(url),
                            Err(e) => r.error(item, e),
                        }
                    }
                }
                "logfile_size_limit" | "log_size_limit" => {
                    if let Some(n) = r.take(read::int(item, &key)) {
                        self.log_size_limit = n.max(0) as u64;
                    }
                }
                "logfile_max_num" | "log_max_num" => {
                    if let Some(n) = r.take(read::int(item, &key)) {
                        self.log_max_files = n.max(0) as usize;
                    }
                }
                "logfile" | "log_file" => {
                    self.log_file = r.take(read::string(item, &key)).map(PathBuf::from)
                }
                "pidfile" | "pid_file" => {
                    self.pid_file = r.take(read::string(item, &key)).map(PathBuf::from)
                }
                "http" | "monitor" => {
                    if let Some((host, port)) = r.take(read::host_port(item, &key)) {
                        self.http_host = host;
                        self.http_port = Some(port);
                    }
                }
                "https" => {
                    if let Some((host, port)) = r.take(read::host_port(item, &key)) {
                        self.http_host = host;
                        self.https_port = Some(port);
                    }
                }
                "https_port" => {
                    self.https_port = r.take(read::port(item, &key)).or(self.https_port)
                }
                "http_base_path" => {
                    if let Some(p) = r.take(read::string(item, &key)) {
                        let p = p.trim_matches('/');
                        self.http_base_path = if p.is_empty() {
                            String::new()
                        } else {
                            format!("/{p}")
                        };
                    }
                }
                "http_port" | "monitor_port" => {
                    self.http_port = r.take(read::port(item, &key)).or(self.http_port)
                }
                "max_control_line" | "max_payload" => {
                    if let Some(n) = r.take(read::int(item, &key)) {
                        if n > i32::MAX as i64 {
                            r.error(item, format!("{key} value is too big"));
                        } else if n <= 0 {
                            // nats-server starts with this; a non-positive limit would
                            // refuse every message, so the default stands.
                            r.warn(
                                item,
                                format!("{key} {n} is not a positive size: the default is used"),
                            );
                        } else if key == "max_payload" {
                            self.max_payload = n as u32;
                        } else {
                            self.max_control_line = n as u32;
                        }
                    }
                }
                "max_pending" => {
                    self.max_pending = r.take(read::int(item, &key)).unwrap_or(self.max_pending)
                }
                "max_connections" | "max_conn" => {
                    if let Some(n) = r.take(read::int(item, &key)) {
                        // nats-server: 0 means the default, negative means none allowed.
                        self.max_connections = match n {
                            0 => DEFAULT_MAX_CONNECTIONS,
                            n if n < 0 => 0,
                            n => n as usize,
                        };
                    }
                }
                "max_closed_clients" => {
                    if let Some(n) = r.take(read::int(item, &key)) {
                        // nats-server: 0 means the default.
                        self.max_closed_clients = match n {
                            0 => crate::shard::report::DEFAULT_MAX_CLOSED,
                            n => n.max(0) as usize,
                        };
                    }
                }
                "max_subscriptions" | "max_subs" => {
                    if let Some(n) = r.take(read::int(item, &key)) {
                        self.max_subscriptions = n.max(0) as usize;
                    }
                }
                "ping_interval" => {
                    if let Some(d) = read::duration(item, &key, r) {
                        self.ping_interval = if d.is_zero() {
                            DEFAULT_PING_INTERVAL
                        } else {
                            d
                        };
                    }
                }
                "ping_max" => {
                    if let Some(n) =
                        r.take(read::int_in(item, &key, i32::MIN as i64, u32::MAX as i64))
                    {
                        self.ping_max = if n <= 0 { DEFAULT_PING_MAX } else { n as u32 };
                    }
                }
                "write_deadline" => {
                    if let Some(d) = read::duration(item, &key, r) {
                        self.write_deadline = if d.is_zero() {
                            DEFAULT_WRITE_DEADLINE
                        } else {
                            d
                        };
                    }
                }
                "proxy_protocol" => {
                    self.proxy_protocol = r
                        .take(read::boolean(item, &key))
                        .unwrap_or(self.proxy_protocol)
                }
                "no_header_support" => {
                    self.no_header_support = r
                        .take(read::boolean(item, &key))
                        .unwrap_or(self.no_header_support)
                }
                "shards" => {
                    if let Some(n) = r.take(read::int_in(item, &key, 1, 1024)) {
                        self.shards = Some(n as usize);
                    }
                }
                "idle_spin" => {
                    if let Some(d) = read::duration(item, &key, r) {
                        self.idle_spin = d;
                    }
                }
                "authorization" => {
                    if let Some(m) = r.take(read::map(item, &key)) {
                        self.auth = blocks::authorization(m, item, r, true);
                    }
                }
                "accounts" => {
                    if let Some(m) = r.take(read::map(item, &key)) {
                        self.accounts = blocks::accounts(m, r);
                    }
                }
                "no_auth_user" => self.no_auth_user = r.take(read::string(item, &key)),
                "tls" => {
                    if let Some(m) = r.take(read::map(item, &key)) {
                        self.tls = blocks::tls(m, item, r);
                    }
                }
                "websocket" | "ws" => {
                    if let Some(m) = r.take(read::map(item, &key)) {
                        self.websocket = Some(blocks::websocket(m, r));
                    }
                }
                "leaf" | "leafnodes" => {
                    if let Some(m) = r.take(read::map(item, &key)) {
                        self.leafnodes = Some(blocks::leafnodes(m, r));
                    }
                }
                "operator" | "operators" | "roots" | "root" | "root_operators"
                | "root_operator" => {
                    self.trusted_operators = true;
                    blocks::operators(item, &mut self.operator, r);
                }
                "trusted" | "trusted_keys" => {
                    self.trusted_operators = true;
                    blocks::trusted_keys(item, &mut self.operator, r);
                }
                "resolver" | "account_resolver" | "accounts_resolver" => {
                    blocks::resolver(item, &mut self.operator, r)
                }
                "resolver_preload" => blocks::preload(item, &mut self.operator, r),
                "system_account" | "system" => {
                    if let Value::String(s) = &item.value {
                        self.system_account = Some((s.clone(), item.pos.clone()));
                    } else {
                        r.error(item, "system account name must be a string");
                    }
                }
                "resolver_tls" | "resolver_pinned_accounts" => {
                    r.unenforced(item, &format!("\"{}\" (JWT accounts)", entry.key))
                }
                _ => match IGNORED_TOP_LEVEL.iter().find(|(k, _)| *k == key) {
                    Some((_, why)) => r.ignored(entry, why),
                    None => r.unknown(entry, ""),
                },
            }
        }
    }

    /// The port to bind the client listener to (0: the kernel picks).
    pub fn bind_port(&self) -> u16 {
        // As nats-server: 0 means the default port, -1 a random one.
        match self.port {
            -1 => 0,
            0 => DEFAULT_PORT as u16,
            p => p as u16,
        }
    }

    /// Every user a client can bind to, from `authorization` and `accounts`.
    pub fn all_users(&self) -> impl Iterator<Item = &User> {
        self.auth
            .users
            .iter()
            .flatten()
            .chain(self.auth.nkeys.iter())
            .chain(self.accounts.iter().flat_map(|a| a.users.iter()))
    }
}
