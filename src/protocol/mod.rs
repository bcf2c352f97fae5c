//! The NATS client protocol: parsing what clients send and encoding what the
//! server sends back.
//!
//! This module is sans-IO: it does no IO, spawns no threads and knows nothing
//! of sockets or async runtimes. Bytes go in through [`ClientParser::feed`]
//! and come out as borrowed [`ClientOp`] values; replies are appended to a
//! caller-owned `Vec<u8>` by the functions in [`encode`].
//!
//! * [`parser`]: zero-copy, resumable parser of client operations (`CONNECT`,
//!   `PUB`, `HPUB`, `SUB`, `UNSUB`, `PING`, `PONG`), fed chunks split anywhere.
//! * [`encode`]: `MSG`, `HMSG`, `INFO`, `PING`, `PONG`, `+OK` and `-ERR` writers.
//! * [`msg`]: the fast paths of `MSG` for many subscribers and for runs of
//!   messages, checked against [`encode`]'s writers.
//! * [`connect`]: the options a client sends in `CONNECT`.
//! * [`proxy`]: the PROXY protocol v1/v2 header a load balancer sends before
//!   the connection's own bytes, for listeners that require it.
//! * [`ProtocolError`]: every error the protocol layer reports, with the exact
//!   `-ERR` text nats-server sends for it.

pub mod connect;
pub mod encode;
mod error;
pub mod msg;
pub mod parser;
pub mod proxy;

pub use connect::ConnectOptions;
pub use encode::ServerInfo;
pub use error::ProtocolError;
pub use parser::{ClientOp, ClientParser, OwnedOp, ParserLimits};

/// Maximum length of a control line's arguments, as in nats-server.
pub const DEFAULT_MAX_CONTROL_LINE: usize = 4096;
/// Maximum payload size (headers included), as in nats-server.
pub const DEFAULT_MAX_PAYLOAD: usize = 1024 * 1024;
/// The highest client protocol version the server speaks
/// (1: the client understands asynchronous INFO updates).
pub const PROTO_VERSION: i64 = 1;
