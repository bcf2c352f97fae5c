//! The options a client sends in `CONNECT`.
//!
//! Decoding follows Go's `encoding/json` as nats-server uses it: every field
//! is optional, unknown fields are ignored, keys match case-insensitively,
//! `null` leaves a field at its default, and a value of the wrong type (or
//! anything but one JSON object) is an error.

use std::fmt;

use serde::de::{self, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde::Deserialize;

use super::{ProtocolError, PROTO_VERSION};

/// Options from a client's `CONNECT`. String fields sent empty are `None`,
/// as nats-server treats an empty string as absent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectOptions {
    /// Acknowledge each operation with `+OK`. Defaults to true, as in nats-server.
    pub verbose: bool,
    /// Check subjects strictly. Defaults to true, as in nats-server.
    pub pedantic: bool,
    pub tls_required: bool,
    pub auth_token: Option<String>,
    pub user: Option<String>,
    pub pass: Option<String>,
    pub name: Option<String>,
    pub lang: Option<String>,
    pub version: Option<String>,
    /// 0: original protocol; 1: the client accepts asynchronous INFO.
    pub protocol: i64,
    /// Deliver the connection's own publishes to its subscriptions. Defaults to true.
    pub echo: bool,
    pub headers: bool,
    pub no_responders: bool,
    pub nkey: Option<String>,
    pub sig: Option<String>,
    pub jwt: Option<String>,
}

impl Default for ConnectOptions {
    fn default() -> Self {
        Self {
            verbose: true,
            pedantic: true,
            tls_required: false,
            auth_token: None,
            user: None,
            pass: None,
            name: None,
            lang: None,
            version: None,
            protocol: 0,
            echo: true,
            headers: false,
            no_responders: false,
            nkey: None,
            sig: None,
            jwt: None,
        }
    }
}

impl ConnectOptions {
    /// Its credentials alone (what a reload checks again); `None` when it
    /// gave none.
    pub fn credentials(&self) -> Option<ConnectOptions> {
        let c = ConnectOptions {
            auth_token: self.auth_token.clone(),
            user: self.user.clone(),
            pass: self.pass.clone(),
            nkey: self.nkey.clone(),
            sig: self.sig.clone(),
            jwt: self.jwt.clone(),
            ..ConnectOptions::default()
        };
        (c != ConnectOptions::default()).then_some(c)
    }

    /// Parses the JSON argument of a `CONNECT`.
    pub fn parse(json: &[u8]) -> Result<Self, ProtocolError> {
        // Go decodes a bare `null` into a struct as "nothing to change".
        if json.trim_ascii() == b"null" {
            return Ok(Self::default());
        }
        serde_json::from_slice(json).map_err(|_| ProtocolError::InvalidConnectJson)
    }

    /// The checks nats-server makes once the options are decoded and the
    /// client is authenticated (it checks authentication first): a known
    /// protocol version, and headers if `no_responders` is asked for.
    /// `server_headers` says whether the server supports headers.
    pub fn validate(&self, server_headers: bool) -> Result<(), ProtocolError> {
        if self.protocol < 0 || self.protocol > PROTO_VERSION {
            return Err(ProtocolError::InvalidClientProtocol);
        }
        if self.no_responders && !self.headers_enabled(server_headers) {
            return Err(ProtocolError::NoRespondersRequiresHeaders);
        }
        Ok(())
    }

    /// Whether HPUB/HMSG may be used on this connection.
    pub fn headers_enabled(&self, server_headers: bool) -> bool {
        self.headers && server_headers
    }
}

/// The fields we know, matched case-insensitively.
enum Field {
    Verbose,
    Pedantic,
    TlsRequired,
    AuthToken,
    User,
    Pass,
    Name,
    Lang,
    Version,
    Protocol,
    Echo,
    Headers,
    NoResponders,
    Nkey,
    Sig,
    Jwt,
    Other,
}

impl Field {
    fn from_key(key: &str) -> Self {
        const FIELDS: [(&str, Field); 16] = [
            ("verbose", Field::Verbose),
            ("pedantic", Field::Pedantic),
            ("tls_required", Field::TlsRequired),
            ("auth_token", Field::AuthToken),
            ("user", Field::User),
            ("pass", Field::Pass),
            ("name", Field::Name),
            ("lang", Field::Lang),
            ("version", Field::Version),
            ("protocol", Field::Protocol),
            ("echo", Field::Echo),
            ("headers", Field::Headers),
            ("no_responders", Field::NoResponders),
            ("nkey", Field::Nkey),
            ("sig", Field::Sig),
            ("jwt", Field::Jwt),
        ];
        for (name, field) in FIELDS {
            if key.eq_ignore_ascii_case(name) {
                return field;
            }
        }
        Field::Other
    }
}

impl<'de> Deserialize<'de> for Field {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl Visitor<'_> for KeyVisitor {
            type Value = Field;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a field name")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Field, E> {
                Ok(Field::from_key(v))
            }
        }
        d.deserialize_identifier(KeyVisitor)
    }
}

impl<'de> Deserialize<'de> for ConnectOptions {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct OptionsVisitor;
        impl<'de> Visitor<'de> for OptionsVisitor {
            type Value = ConnectOptions;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a CONNECT options object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<ConnectOptions, A::Error> {
                let mut o = ConnectOptions::default();
                fn set_bool(slot: &mut bool, v: Option<bool>) {
                    if let Some(v) = v {
                        *slot = v;
                    }
                }
                fn set_str(slot: &mut Option<String>, v: Option<String>) {
                    if let Some(v) = v {
                        *slot = (!v.is_empty()).then_some(v);
                    }
                }
                while let Some(field) = map.next_key::<Field>()? {
                    match field {
                        Field::Verbose => set_bool(&mut o.verbose, map.next_value()?),
                        Field::Pedantic => set_bool(&mut o.pedantic, map.next_value()?),
                        Field::TlsRequired => set_bool(&mut o.tls_required, map.next_value()?),
                        Field::Echo => set_bool(&mut o.echo, map.next_value()?),
                        Field::Headers => set_bool(&mut o.headers, map.next_value()?),
                        Field::NoResponders => set_bool(&mut o.no_responders, map.next_value()?),
                        Field::AuthToken => set_str(&mut o.auth_token, map.next_value()?),
                        Field::User => set_str(&mut o.user, map.next_value()?),
                        Field::Pass => set_str(&mut o.pass, map.next_value()?),
                        Field::Name => set_str(&mut o.name, map.next_value()?),
                        Field::Lang => set_str(&mut o.lang, map.next_value()?),
                        Field::Version => set_str(&mut o.version, map.next_value()?),
                        Field::Nkey => set_str(&mut o.nkey, map.next_value()?),
                        Field::Sig => set_str(&mut o.sig, map.next_value()?),
                        Field::Jwt => set_str(&mut o.jwt, map.next_value()?),
                        Field::Protocol => {
                            if let Some(p) = map.next_value::<Option<i64>>()? {
                                o.protocol = p;
                            }
                        }
                        Field::Other => {
                            map.next_value::<IgnoredAny>()?;
                        }
                    }
                }
                Ok(o)
            }
        }
        d.deserialize_map(OptionsVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_follow_nats_server() {
        let o = ConnectOptions::parse(b"{}").unwrap();
        assert_eq!(o, ConnectOptions::default());
        assert!(o.verbose && o.pedantic && o.echo);
        assert!(!o.headers && !o.no_responders && !o.tls_required);
        assert_eq!(o.protocol, 0);
    }

    #[test]
    fn typical_client_connect() {
        let json = br#"{"verbose":false,"pedantic":false,"tls_required":false,"name":"svc","lang":"go","version":"1.28.0","protocol":1,"echo":true,"headers":true,"no_responders":true,"user":"u","pass":"p","auth_token":"t","nkey":"UABC","sig":"c2ln","jwt":"eyJ"}"#;
        let o = ConnectOptions::parse(json).unwrap();
        assert_eq!(
            o,
            ConnectOptions {
                verbose: false,
                pedantic: false,
                tls_required: false,
                auth_token: Some("t".into()),
                user: Some("u".into()),
                pass: Some("p".into()),
                name: Some("svc".into()),
                lang: Some("go".into()),
                version: Some("1.28.0".into()),
                protocol: 1,
                echo: true,
                headers: true,
                no_responders: true,
                nkey: Some("UABC".into()),
                sig: Some("c2ln".into()),
                jwt: Some("eyJ".into()),
            }
        );
        assert_eq!(o.validate(true), Ok(()));
    }

    #[test]
    fn unknown_fields_nulls_and_case() {
        let json = br#" {"zzz":[1,{"a":null}],"ECHO":false,"Name":"x","user":null,"verbose":null,"pass":"","account":"A"} "#;
        let o = ConnectOptions::parse(json).unwrap();
        assert!(!o.echo);
        assert_eq!(o.name.as_deref(), Some("x"));
        assert_eq!(o.user, None);
        assert_eq!(o.pass, None);
        assert!(o.verbose);
        assert_eq!(
            ConnectOptions::parse(b"null").unwrap(),
            ConnectOptions::default()
        );
        // The last of duplicate keys wins.
        let o = ConnectOptions::parse(br#"{"verbose":true,"verbose":false}"#).unwrap();
        assert!(!o.verbose);
    }

    #[test]
    fn invalid_json_is_an_error() {
        for bad in [
            &b""[..],
            b"\r",
            b"{bad",
            b"[]",
            b"{}{}",
            b"{} trailing",
            br#"{"verbose":"yes"}"#,
            br#"{"echo":1}"#,
            br#"{"protocol":"x"}"#,
            br#"{"protocol":1.0}"#,
            br#"{"protocol":99999999999999999999}"#,
            br#"{"name":5}"#,
            b"X {}",
        ] {
            assert_eq!(
                ConnectOptions::parse(bad),
                Err(ProtocolError::InvalidConnectJson),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
        assert_eq!(
            ProtocolError::InvalidConnectJson.err_line(),
            b"-ERR 'Invalid CONNECT JSON'\r\n"
        );
    }

    #[test]
    fn validate_protocol_and_no_responders() {
        let p = |json: &[u8]| ConnectOptions::parse(json).unwrap();
        assert_eq!(p(br#"{"protocol":0}"#).validate(true), Ok(()));
        assert_eq!(p(br#"{"protocol":1}"#).validate(true), Ok(()));
        for bad in [&br#"{"protocol":2}"#[..], br#"{"protocol":-1}"#] {
            let e = p(bad).validate(true).unwrap_err();
            assert_eq!(e, ProtocolError::InvalidClientProtocol);
            assert_eq!(e.err_line(), b"-ERR 'invalid client protocol'\r\n");
            assert!(e.is_fatal());
        }
        let nr = p(br#"{"no_responders":true,"headers":false}"#);
        assert_eq!(
            nr.validate(true),
            Err(ProtocolError::NoRespondersRequiresHeaders)
        );
        let nr = p(br#"{"no_responders":true,"headers":true}"#);
        assert_eq!(nr.validate(true), Ok(()));
        assert_eq!(
            nr.validate(false),
            Err(ProtocolError::NoRespondersRequiresHeaders)
        );
        assert!(nr.headers_enabled(true));
        assert!(!nr.headers_enabled(false));
    }
}
