//! ringnats: a NATS-compatible message server, thread-per-core on io_uring.
//!
//! The protocol layers (`config`, `protocol`, `subject`) are pure: bytes in,
//! values and events out, no IO. `conn` is one connection's state, also
//! without IO. Only `net` and `shard` touch sockets and threads; `server`
//! starts the shards and tells them what to run for each connection.

pub mod log;
pub mod monitor;

pub mod auth;
pub mod config;
pub mod conn;
pub mod net;
pub mod protocol;
pub mod server;
pub mod shard;
pub mod subject;
pub mod syslog;
pub mod tls;
pub mod websocket;

/// The version reported in INFO and by `--version`.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
