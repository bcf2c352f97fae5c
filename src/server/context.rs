//! What every shard shares, read-only: options, accounts, the
//! authenticator, the INFO template; and the few counters that span shards
//! (connection count, client ids, the stop flag), all outside the message path.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};

use crate::auth::{Accounts, Authenticator};
use crate::config::Options;
use crate::conn::Policy;
use crate::protocol::{encode, ServerInfo};

pub struct ServerContext {
    pub opts: Options,
    pub accounts: Accounts,
    pub auth: Authenticator,
    pub server_id: String,
    pub shards: usize,
    /// What every connection is held to: PINGs, staleness, the time to
    /// authenticate.
    pub liveness: Policy,
    info: ServerInfo,
    next_cid: AtomicU64,
    connections: AtomicUsize,
    pub stopping: AtomicBool,
}

impl ServerContext {
    pub fn new(opts: Options, shards: usize, port: u16) -> ServerContext {
        let accounts = Accounts::from_options(&opts);
        let auth = Authenticator::new(&opts, &accounts);
        let server_id = nkeys::KeyPair::new_server().public_key();
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
            ..ServerInfo::default()
        };
        let liveness = Policy {
            ping_interval: opts.ping_interval,
            ping_max: opts.ping_max,
            auth_timeout: auth.required().then(|| auth.timeout()),
        };
        ServerContext {
            opts,
            accounts,
            auth,
            server_id,
            shards,
            liveness,
            info,
            next_cid: AtomicU64::new(1),
            connections: AtomicUsize::new(0),
            stopping: AtomicBool::new(false),
        }
    }

    pub fn next_client_id(&self) -> u64 {
        self.next_cid.fetch_add(1, Ordering::Relaxed)
    }

    /// Counts a new connection in, unless max_connections is reached.
    pub fn admit_connection(&self) -> bool {
        let max = self.opts.max_connections;
        self.connections
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < max).then_some(n + 1)
            })
            .is_ok()
    }

    pub fn release_connection(&self) {
        self.connections.fetch_sub(1, Ordering::AcqRel);
    }

    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::Acquire)
    }

    /// The INFO a new client gets.
    pub fn write_info(&self, out: &mut Vec<u8>, cid: u64, addr: SocketAddr) {
        let mut info = self.info.clone();
        info.client_id = cid;
        info.client_ip = addr.ip().to_string();
        encode::write_info(out, &info);
    }
}
