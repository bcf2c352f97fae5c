//! ringnats: a NATS-compatible message server, thread-per-core on io_uring.
//!
//! The protocol layers (`config`, `protocol`, `subject`) are pure: bytes in,
//! values and events out, no IO. Only `net` and `shard` touch sockets and threads.

pub mod config;
pub mod protocol;
pub mod server;
pub mod subject;

/// The version reported in INFO and by `--version`.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
