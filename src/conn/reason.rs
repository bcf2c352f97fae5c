//! Why a connection closed, in nats-server's words (its `ClosedState`),
//! as monitoring reports it for closed connections.

use crate::protocol::ProtocolError;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reason {
    ClientClosed,
    AuthenticationTimeout,
    AuthenticationViolation,
    SlowConsumerPendingBytes,
    SlowConsumerWriteDeadline,
    WriteError,
    ReadError,
    StaleConnection,
    ProtocolViolation,
    BadClientProtocolVersion,
    MaxAccountConnectionsExceeded,
    MaxConnectionsExceeded,
    MaxPayloadExceeded,
    MaxControlLineExceeded,
    MaxSubscriptionsExceeded,
    ServerShutdown,
    AuthenticationExpired,
    NoRespondersRequiresHeaders,
}

impl Reason {
    /// nats-server's text for it.
    pub fn text(self) -> &'static str {
        match self {
            Reason::ClientClosed => "Client Closed",
            Reason::AuthenticationTimeout => "Authentication Timeout",
            Reason::AuthenticationViolation => "Authentication Failure",
            Reason::SlowConsumerPendingBytes => "Slow Consumer (Pending Bytes)",
            Reason::SlowConsumerWriteDeadline => "Slow Consumer (Write Deadline)",
            Reason::WriteError => "Write Error",
            Reason::ReadError => "Read Error",
            Reason::StaleConnection => "Stale Connection",
            Reason::ProtocolViolation => "Protocol Violation",
            Reason::BadClientProtocolVersion => "Bad Client Protocol Version",
            Reason::MaxAccountConnectionsExceeded => "Maximum Account Connections Exceeded",
            Reason::MaxConnectionsExceeded => "Maximum Connections Exceeded",
            Reason::MaxPayloadExceeded => "Maximum Message Payload Exceeded",
            Reason::MaxControlLineExceeded => "Maximum Control Line Exceeded",
            Reason::MaxSubscriptionsExceeded => "Maximum Subscriptions Exceeded",
            Reason::ServerShutdown => "Server Shutdown",
            Reason::AuthenticationExpired => "Authentication Expired",
            Reason::NoRespondersRequiresHeaders => "No Responders Requires Headers",
        }
    }
}

impl From<ProtocolError> for Reason {
    /// The reason nats-server gives when it closes a client for `e`.
    fn from(e: ProtocolError) -> Reason {
        use ProtocolError as E;
        match e {
            E::MaxControlLine => Reason::MaxControlLineExceeded,
            E::MaxPayload => Reason::MaxPayloadExceeded,
            E::AuthorizationViolation => Reason::AuthenticationViolation,
            E::AuthenticationTimeout => Reason::AuthenticationTimeout,
            E::StaleConnection => Reason::StaleConnection,
            E::MaxSubscriptions | E::MaxSubscriptionsAtLogin => Reason::MaxSubscriptionsExceeded,
            E::MaxAccountConnections => Reason::MaxAccountConnectionsExceeded,
            E::UserAuthenticationExpired | E::AccountAuthenticationExpired => {
                Reason::AuthenticationExpired
            }
            E::InvalidClientProtocol => Reason::BadClientProtocolVersion,
            E::NoRespondersRequiresHeaders => Reason::NoRespondersRequiresHeaders,
            // What the parser refuses: nats-server's read loop closes with
            // this (Parse Error is for a client that sends -ERR).
            _ => Reason::ProtocolViolation,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn protocol_errors_close_with_nats_servers_reasons() {
        assert_eq!(
            Reason::from(ProtocolError::AuthorizationViolation).text(),
            "Authentication Failure"
        );
        assert_eq!(
            Reason::from(ProtocolError::MaxPayload).text(),
            "Maximum Message Payload Exceeded"
        );
        assert_eq!(
            Reason::from(ProtocolError::UnknownOperation).text(),
            "Protocol Violation"
        );
        assert_eq!(
            Reason::from(ProtocolError::StaleConnection).text(),
            "Stale Connection"
        );
    }
}
