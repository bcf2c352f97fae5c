//! WebSocket as a transport for NATS clients, as nats-server's `websocket {}`
//! block serves it: the upgrade (`handshake`), frames (`frame`, `mask`) and
//! permessage-deflate (`deflate`). No IO here: the shard's session feeds
//! bytes in and writes what comes out (`transport` joins the pieces).

pub mod deflate;
pub mod frame;
pub mod handshake;
pub mod mask;
pub mod transport;

/// Close status codes (RFC 6455 §7.4.1) and which the server sends when.
pub mod close {
    pub const NORMAL: u16 = 1000;
    pub const GOING_AWAY: u16 = 1001;
    pub const PROTOCOL_ERROR: u16 = 1002;
    pub const INVALID_PAYLOAD: u16 = 1007;
    pub const POLICY_VIOLATION: u16 = 1008;
    pub const MESSAGE_TOO_BIG: u16 = 1009;
    pub const INTERNAL_ERROR: u16 = 1011;

    /// Whether a peer may send `code` in a CLOSE frame: 1000–1003,
    /// 1007–1014 and 3000–4999 (1004–1006 and 1015 are reserved, 1016–2999
    /// unassigned).
    pub fn is_valid_status(code: u16) -> bool {
        matches!(code, 1000..=1003 | 1007..=1014 | 3000..=4999)
    }
}
