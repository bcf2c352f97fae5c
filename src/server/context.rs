//! What every shard shares, read-only: options, accounts, the
//! authenticator, the INFO template, all of one configuration (a reload
//! makes a new context); and in [`Runtime`] what outlives a configuration:
//! the few counters and flags that span shards (connection count, client
//! ids, the stop flag), all outside the message path.

use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

use crate::auth::imports::Imports;
use crate::auth::{Accounts, Authenticator};
use crate::config::options::ConnectionType;
use crate::config::Options;
use crate::conn::Policy;
use crate::protocol::{encode, ServerInfo};
use crate::shard::Port;
use crate::websocket::handshake;

pub struct ServerContext {
    pub opts: Options,
    pub accounts: Accounts,
    /// Streams and services between accounts.
    pub imports: Imports,
    pub auth: Authenticator,
    pub server_id: String,
    pub shards: usize,
    /// What every connection is held to: PINGs, staleness, the time to
    /// authenticate.
    pub liveness: Policy,
    /// The same for websocket clients (their block may set its own
    /// authentication and timeout).
    pub ws_liveness: Policy,
    info: ServerInfo,
    /// The WebSocket listener's upgrade policy and INFO, when it listens.
    pub websocket: Option<WebsocketContext>,
    /// TLS on the client port, when its `tls {}` block is set.
    pub client_tls: Option<ClientTls>,
    /// The monitoring port, once bound (0: none), over HTTP or HTTPS.
    pub http_port: u16,
    pub https_port: u16,
    pub rt: Arc<Runtime>,
}

/// What a reload keeps: the counters and flags of the running server.
pub struct Runtime {
    next_cid: AtomicU64,
    connections: AtomicUsize,
    pub stopping: AtomicBool,
    /// Lame duck mode: no new clients; the shards close this many of
    /// their clients between them (see `lame_duck_closed`).
    pub lame_duck: AtomicBool,
    pub lame_duck_begun: tokio::sync::Notify,
    pub lame_duck_quota: AtomicUsize,
    pub lame_duck_closed: AtomicUsize,
    /// Where monitoring and reloads reach the shards, and where closed
    /// connections are kept.
    pub desk: crate::shard::report::Desk,
    /// When the server started, for monitoring.
    pub started: std::time::SystemTime,
    /// After a reload lowered a limit: how many connections the shards are
    /// to close between them, server-wide and by account.
    pub excess: std::sync::Mutex<(usize, Vec<i64>)>,
    /// The configuration in force, for the monitor (the main thread holds
    /// it; a reload replaces it), and when it was loaded.
    current: std::sync::Mutex<(std::sync::Weak<ServerContext>, std::time::SystemTime)>,
}

impl Runtime {
    /// `ctx` is now the configuration in force.
    pub fn set_current(&self, ctx: &Arc<ServerContext>) {
        let now = std::time::SystemTime::now();
        *self.current.lock().unwrap_or_else(|e| e.into_inner()) = (Arc::downgrade(ctx), now);
    }

    /// The configuration in force and when it was loaded.
    pub fn current(&self) -> Option<(Arc<ServerContext>, std::time::SystemTime)> {
        let current = self.current.lock().unwrap_or_else(|e| e.into_inner());
        Some((current.0.upgrade()?, current.1))
    }
}

impl ServerContext {
    pub fn new(
        opts: Options,
        shards: usize,
        port: u16,
        tls: Option<Arc<rustls::ServerConfig>>,
    ) -> ServerContext {
        let rt = Arc::new(Runtime {
            next_cid: AtomicU64::new(1),
            connections: AtomicUsize::new(0),
            stopping: AtomicBool::new(false),
            lame_duck: AtomicBool::new(false),
            lame_duck_begun: tokio::sync::Notify::new(),
            lame_duck_quota: Default::default(),
            lame_duck_closed: Default::default(),
            desk: crate::shard::report::Desk::new(opts.max_closed_clients),
            started: std::time::SystemTime::now(),
            current: std::sync::Mutex::new((std::sync::Weak::new(), std::time::SystemTime::now())),
            excess: Default::default(),
        });
        let server_id = nkeys::KeyPair::new_server().public_key();
        Self::build(opts, shards, port, tls, rt, server_id)
    }

    /// The context of a reloaded configuration: the same server (its id,
    /// ports, counters), the new options, with `tls` and `ws_tls` built
    /// from them. The accounts must be the same ones.
    pub fn reloaded(
        &self,
        opts: Options,
        tls: Option<Arc<rustls::ServerConfig>>,
        ws_tls: Option<Arc<rustls::ServerConfig>>,
    ) -> ServerContext {
        let (port, rt, id) = (self.info.port, self.rt.clone(), self.server_id.clone());
        let mut ctx = Self::build(opts, self.shards, port, tls, rt, id);
        ctx.auth.carry_from(&self.auth);
        ctx.imports.carry_from(&self.imports);
        if let Some(ws) = &self.websocket {
            ctx.websocket_listening(ws.info.port, ws_tls);
        }
        ctx.http_port = self.http_port;
        ctx.https_port = self.https_port;
        ctx
    }

    fn build(
        opts: Options,
        shards: usize,
        port: u16,
        tls: Option<Arc<rustls::ServerConfig>>,
        rt: Arc<Runtime>,
        server_id: String,
    ) -> ServerContext {
        let accounts = Accounts::from_options(&opts);
        let auth = Authenticator::new(&opts, &accounts);
        let imports = Imports::from_options(&opts, &accounts);
        let info = ServerInfo {
            server_id: server_id.clone(),
            server_name: opts
                .server_name
                .clone()
                .unwrap_or_else(|| server_id.clone()),
            // Clients turn features on by server version: report the
            // nats-server release whose behaviour we match (ServerInfo's default).
            proto: crate::protocol::PROTO_VERSION,
            host: opts.host.clone(),
            port,
            headers: !opts.no_header_support,
            auth_required: auth.required(),
            max_payload: opts.max_payload as usize,
            tls_required: tls.is_some(),
            tls_verify: opts.tls.as_ref().is_some_and(|t| t.verify),
            ..ServerInfo::default()
        };
        let client_tls = tls.map(|config| {
            let t = opts
                .tls
                .as_ref()
                .expect("a TLS config comes from a tls block");
            ClientTls {
                config,
                timeout: t.timeout.unwrap_or(crate::tls::DEFAULT_TIMEOUT),
                handshake_first: t.handshake_first,
            }
        });
        let liveness = Policy {
            ping_interval: opts.ping_interval,
            ping_max: opts.ping_max,
            auth_timeout: auth.required().then(|| auth.timeout()),
        };
        let ws = ConnectionType::Websocket;
        let ws_liveness = Policy {
            auth_timeout: auth.required_for(ws).then(|| auth.timeout_for(ws)),
            // The websocket block's own ping_interval, when it has one.
            ping_interval: opts
                .websocket
                .as_ref()
                .and_then(|w| w.ping_interval)
                .unwrap_or(liveness.ping_interval),
            ..liveness
        };
        ServerContext {
            opts,
            accounts,
            imports,
            auth,
            server_id,
            shards,
            liveness,
            ws_liveness,
            info,
            websocket: None,
            client_tls,
            http_port: 0,
            https_port: 0,
            rt,
        }
    }

    /// The client port's INFO, as every client gets it.
    pub fn info(&self) -> &ServerInfo {
        &self.info
    }

    /// Whether a monitoring port serves (and closed connections are kept
    /// for it).
    pub fn monitored(&self) -> bool {
        self.http_port != 0 || self.https_port != 0
    }

    /// The system account's name (nats-server's `$SYS` when none is set).
    pub fn system_account(&self) -> &str {
        self.opts
            .system_account
            .as_ref()
            .map_or("$SYS", |(name, _)| name.as_str())
    }

    pub fn next_client_id(&self) -> u64 {
        self.rt.next_cid.fetch_add(1, Ordering::Relaxed)
    }

    /// Counts a new connection in, unless max_connections is reached.
    pub fn admit_connection(&self) -> bool {
        let max = self.opts.max_connections;
        self.rt
            .connections
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < max).then_some(n + 1)
            })
            .is_ok()
    }

    pub fn release_connection(&self) {
        self.rt.connections.fetch_sub(1, Ordering::AcqRel);
    }

    /// The limits a connection of `kind` is held to.
    pub fn liveness_for(&self, kind: ConnectionType) -> &Policy {
        match kind {
            ConnectionType::Websocket => &self.ws_liveness,
            _ => &self.liveness,
        }
    }

    pub fn connections(&self) -> usize {
        self.rt.connections.load(Ordering::Acquire)
    }

    /// The WebSocket listener is on `port`: its upgrade policy and the INFO
    /// its clients get (nats-server's: the websocket host and port, its
    /// TLS, its advertised URL).
    pub fn websocket_listening(&mut self, port: u16, tls: Option<Arc<rustls::ServerConfig>>) {
        let Some(ws) = &self.opts.websocket else {
            return;
        };
        let mut info = self.info.clone();
        info.host = ws.host.clone();
        info.port = port;
        info.tls_required = ws.tls.is_some();
        info.tls_available = ws.tls.is_some();
        info.connect_urls = ws.advertise.iter().cloned().collect();
        info.auth_required = self.auth.required_for(ConnectionType::Websocket);
        let policy = handshake::Policy {
            tls: ws.tls.is_some(),
            same_origin: ws.same_origin,
            // Checked when the options were read.
            allowed_origins: ws
                .allowed_origins
                .iter()
                .filter_map(|o| handshake::Origin::parse(o).ok())
                .collect(),
            compression: ws.compression,
            extra_headers: ws
                .headers
                .iter()
                .map(|(k, v)| format!("{k}: {v}\r\n"))
                .collect(),
            cookie_names: handshake::CookieNames {
                jwt: ws.jwt_cookie.clone(),
                user: ws.user_cookie.clone(),
                pass: ws.pass_cookie.clone(),
                token: ws.token_cookie.clone(),
            },
        };
        self.websocket = Some(WebsocketContext {
            policy,
            info,
            handshake_timeout: ws.handshake_timeout,
            tls,
        });
    }

    /// The INFO a new client gets (with `client_ip` when it is known).
    pub fn write_info(&self, out: &mut Vec<u8>, cid: u64, ip: Option<IpAddr>, port: Port) {
        self.write_info_for(out, cid, ip, port, None, false);
    }

    /// A later INFO for a connection: its own payload limit where it has
    /// one, `ldm` when the server entered lame duck mode.
    pub fn write_later_info(&self, out: &mut Vec<u8>, client: &crate::conn::Client, ldm: bool) {
        let port = match client.kind {
            ConnectionType::Websocket => Port::Websocket,
            _ => Port::Client,
        };
        let max_payload = client.limits().payload;
        let ip = Some(client.addr.ip());
        self.write_info_for(out, client.cid, ip, port, max_payload, ldm);
    }

    fn write_info_for(
        &self,
        out: &mut Vec<u8>,
        cid: u64,
        ip: Option<IpAddr>,
        port: Port,
        max_payload: Option<u32>,
        ldm: bool,
    ) {
        let template = match (port, &self.websocket) {
            (Port::Websocket, Some(ws)) => &ws.info,
            _ => &self.info,
        };
        let mut info = template.clone();
        info.client_id = cid;
        info.client_ip = ip.map(|ip| ip.to_string()).unwrap_or_default();
        if let Some(max) = max_payload {
            info.max_payload = max as usize;
        }
        info.ldm = ldm;
        if let Some(nonce) = self.auth.nonce(cid) {
            info.nonce = nonce;
        }
        encode::write_info(out, &info);
    }
}

/// What the WebSocket listener's connections share.
pub struct WebsocketContext {
    pub policy: handshake::Policy,
    pub info: ServerInfo,
    /// Covers the TLS handshake too, from accept to the 101.
    pub handshake_timeout: std::time::Duration,
    /// wss://: the TLS every connection starts with.
    pub tls: Option<Arc<rustls::ServerConfig>>,
}

/// TLS on the client port.
pub struct ClientTls {
    pub config: Arc<rustls::ServerConfig>,
    /// The time a client has for its handshake.
    pub timeout: std::time::Duration,
    /// nats-server 2.10's `handshake_first`: TLS before INFO, rather than
    /// INFO in the clear (with `tls_required`) and then TLS.
    pub handshake_first: bool,
}
