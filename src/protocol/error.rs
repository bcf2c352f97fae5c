//! Errors of the client protocol, each with the text the server sends back.

/// An error in what a client sent, or in how it may be served.
///
/// [`ProtocolError::err_text`] is the text sent to the client inside
/// `-ERR '...'`; for the errors nats-server reports to clients, it is the
/// exact text of nats-server 2.9.10. Where nats-server closes the connection
/// without a word (malformed arguments, bad CONNECT or INFO JSON, HPUB
/// without headers), we still send an `-ERR` that names the fault.
///
/// [`ProtocolError::is_fatal`] says whether the connection must be closed
/// after the `-ERR` is sent. Every error the parser returns is fatal; the
/// non-fatal ones exist for the layers above it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
pub enum ProtocolError {
    /// A control line's arguments are longer than `max_control_line`.
    #[error("maximum control line exceeded")]
    MaxControlLine,
    /// A PUB or HPUB announces more bytes than `max_payload`.
    #[error("Maximum Payload Violation")]
    MaxPayload,
    /// An unknown verb, or a payload not followed by CRLF.
    #[error("Unknown Protocol Operation")]
    UnknownOperation,
    /// PUB without exactly 2 or 3 arguments.
    #[error("Invalid Publish Arguments")]
    InvalidPubArgs,
    /// PUB whose size is not 1 to 9 decimal digits.
    #[error("Invalid Publish Size")]
    InvalidPubSize,
    /// HPUB without exactly 3 or 4 arguments.
    #[error("Invalid Header Publish Arguments")]
    InvalidHPubArgs,
    /// HPUB whose header size is not 1 to 9 decimal digits.
    #[error("Invalid Header Size")]
    InvalidHeaderSize,
    /// HPUB whose total size is not 1 to 9 decimal digits.
    #[error("Invalid Total Size")]
    InvalidTotalSize,
    /// HPUB whose header size is larger than its total size.
    #[error("Header Size Larger Than Total Size")]
    HeaderSizeTooLarge,
    /// SUB without exactly 2 or 3 arguments.
    #[error("Invalid Subscription Arguments")]
    InvalidSubArgs,
    /// UNSUB without exactly 1 or 2 arguments.
    #[error("Invalid Unsubscribe Arguments")]
    InvalidUnsubArgs,
    /// CONNECT whose argument is not a JSON object of the expected types.
    #[error("Invalid CONNECT JSON")]
    InvalidConnectJson,
    /// INFO from a client whose argument is not a JSON object.
    #[error("Invalid INFO JSON")]
    InvalidInfoJson,
    /// CONNECT with a `protocol` other than 0 or 1.
    #[error("invalid client protocol")]
    InvalidClientProtocol,
    /// CONNECT with `no_responders` but without headers.
    #[error("no responders requires headers support")]
    NoRespondersRequiresHeaders,
    /// HPUB from a client that did not ask for headers in CONNECT.
    #[error("message headers not supported")]
    HeadersNotSupported,
    /// Failed authentication or authorization (fatal).
    #[error("Authorization Violation")]
    AuthorizationViolation,
    /// No valid CONNECT within the authentication timeout (fatal).
    #[error("Authentication Timeout")]
    AuthenticationTimeout,
    /// Too many PINGs left unanswered (fatal).
    #[error("Stale Connection")]
    StaleConnection,
    /// SUB with a subject that is not a valid subscription subject (not fatal).
    #[error("Invalid Subject")]
    InvalidSubject,
    /// PUB with a wildcard or malformed subject from a pedantic client (not fatal).
    #[error("Invalid Publish Subject")]
    InvalidPublishSubject,
    /// SUB beyond the connection's subscription limit (not fatal).
    #[error("maximum subscriptions exceeded")]
    MaxSubscriptions,
    /// A login allowed no subscription at all (fatal, as nats-server
    /// closes such a client at once).
    #[error("maximum subscriptions exceeded")]
    MaxSubscriptionsAtLogin,
    /// A login beyond its account's connection limit (fatal).
    #[error("maximum account active connections exceeded")]
    MaxAccountConnections,
    /// The user's JWT expired while it was connected (fatal).
    #[error("User Authentication Expired")]
    UserAuthenticationExpired,
    /// The account's JWT expired while the user was connected (fatal).
    #[error("Account Authentication Expired")]
    AccountAuthenticationExpired,
}

impl ProtocolError {
    /// The text sent to the client inside `-ERR '...'`.
    pub fn err_text(&self) -> &'static str {
        match self {
            Self::MaxControlLine => "maximum control line exceeded",
            Self::MaxPayload => "Maximum Payload Violation",
            Self::UnknownOperation => "Unknown Protocol Operation",
            Self::InvalidPubArgs => "Invalid Publish Arguments",
            Self::InvalidPubSize => "Invalid Publish Size",
            Self::InvalidHPubArgs => "Invalid Header Publish Arguments",
            Self::InvalidHeaderSize => "Invalid Header Size",
            Self::InvalidTotalSize => "Invalid Total Size",
            Self::HeaderSizeTooLarge => "Header Size Larger Than Total Size",
            Self::InvalidSubArgs => "Invalid Subscription Arguments",
            Self::InvalidUnsubArgs => "Invalid Unsubscribe Arguments",
            Self::InvalidConnectJson => "Invalid CONNECT JSON",
            Self::InvalidInfoJson => "Invalid INFO JSON",
            Self::InvalidClientProtocol => "invalid client protocol",
            Self::NoRespondersRequiresHeaders => "no responders requires headers support",
            Self::HeadersNotSupported => "message headers not supported",
            Self::AuthorizationViolation => "Authorization Violation",
            Self::AuthenticationTimeout => "Authentication Timeout",
            Self::StaleConnection => "Stale Connection",
            Self::InvalidSubject => "Invalid Subject",
            Self::InvalidPublishSubject => "Invalid Publish Subject",
            Self::MaxSubscriptions => "maximum subscriptions exceeded",
            Self::MaxSubscriptionsAtLogin => "maximum subscriptions exceeded",
            Self::MaxAccountConnections => "maximum account active connections exceeded",
            Self::UserAuthenticationExpired => "User Authentication Expired",
            Self::AccountAuthenticationExpired => "Account Authentication Expired",
        }
    }

    /// Whether the connection must be closed after the `-ERR` is sent.
    pub fn is_fatal(&self) -> bool {
        !matches!(
            self,
            Self::InvalidSubject | Self::InvalidPublishSubject | Self::MaxSubscriptions
        )
    }

    /// The whole protocol line: `-ERR '<text>'\r\n`.
    pub fn err_line(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.err_text().len() + 10);
        self.write_err(&mut out);
        out
    }

    /// Appends `-ERR '<text>'\r\n` to `out`.
    pub fn write_err(&self, out: &mut Vec<u8>) {
        super::encode::write_err(out, self.err_text());
    }
}

#[cfg(test)]
mod tests {
    use super::ProtocolError;

    #[test]
    fn display_matches_err_text() {
        let all = [
            ProtocolError::MaxControlLine,
            ProtocolError::MaxPayload,
            ProtocolError::UnknownOperation,
            ProtocolError::InvalidPubArgs,
            ProtocolError::InvalidPubSize,
            ProtocolError::InvalidHPubArgs,
            ProtocolError::InvalidHeaderSize,
            ProtocolError::InvalidTotalSize,
            ProtocolError::HeaderSizeTooLarge,
            ProtocolError::InvalidSubArgs,
            ProtocolError::InvalidUnsubArgs,
            ProtocolError::InvalidConnectJson,
            ProtocolError::InvalidInfoJson,
            ProtocolError::InvalidClientProtocol,
            ProtocolError::NoRespondersRequiresHeaders,
            ProtocolError::HeadersNotSupported,
            ProtocolError::AuthorizationViolation,
            ProtocolError::AuthenticationTimeout,
            ProtocolError::StaleConnection,
            ProtocolError::InvalidSubject,
            ProtocolError::InvalidPublishSubject,
            ProtocolError::MaxSubscriptions,
        ];
        for e in all {
            assert_eq!(e.to_string(), e.err_text());
            let line = e.err_line();
            assert_eq!(line, format!("-ERR '{}'\r\n", e.err_text()).into_bytes());
        }
        assert!(ProtocolError::MaxControlLine.is_fatal());
        assert!(ProtocolError::UnknownOperation.is_fatal());
        assert!(!ProtocolError::InvalidSubject.is_fatal());
        assert!(!ProtocolError::MaxSubscriptions.is_fatal());
    }

    #[test]
    fn exact_nats_server_texts() {
        assert_eq!(
            ProtocolError::MaxControlLine.err_line(),
            b"-ERR 'maximum control line exceeded'\r\n"
        );
        assert_eq!(
            ProtocolError::MaxPayload.err_line(),
            b"-ERR 'Maximum Payload Violation'\r\n"
        );
        assert_eq!(
            ProtocolError::UnknownOperation.err_line(),
            b"-ERR 'Unknown Protocol Operation'\r\n"
        );
        assert_eq!(
            ProtocolError::InvalidClientProtocol.err_line(),
            b"-ERR 'invalid client protocol'\r\n"
        );
        assert_eq!(
            ProtocolError::NoRespondersRequiresHeaders.err_line(),
            b"-ERR 'no responders requires headers support'\r\n"
        );
    }
}
