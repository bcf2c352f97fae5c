//! Rules across options that nats-server checks only when it starts (its
//! `-t` misses them). Ours run on every load, so a file that passes `-t`
//! starts.

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use super::error::ConfigError;
use super::options::{Options, TlsOptions};
use super::read::Report;
use super::value::{Item, Map};

pub(crate) fn check(o: &Options, map: &Map, r: &mut Report) {
    // Errors point at the block the rule is about.
    let at = |key: &str| -> Option<&Item> {
        map.entries()
            .find(|e| e.key.eq_ignore_ascii_case(key))
            .map(|e| &e.item)
    };
    let ws_item = at("websocket").or_else(|| at("ws"));
    let first_item = map.entries().next().map(|e| &e.item);

    if o.max_payload as i64 > o.max_pending {
        if let Some(item) = at("max_payload").or(at("max_pending")).or(first_item) {
            r.error(
                item,
                format!(
                    "max_payload ({}) cannot be higher than max_pending ({})",
                    o.max_payload, o.max_pending
                ),
            );
        }
    }

    if let Some(tls) = &o.tls {
        check_tls(tls, r);
    }

    if let Some(item) = at("authorization") {
        let account_users = o.accounts.iter().any(|a| !a.users.is_empty());
        if account_users && (o.auth.user.is_some() || o.auth.password.is_some()) {
            r.error(item, "Can not have a single user/pass and accounts");
        }
        if account_users && o.auth.token.is_some() {
            r.error(item, "Can not have a token and accounts");
        }
        let mut seen = std::collections::HashSet::new();
        for u in o.all_users() {
            let name = u.nkey.as_deref().unwrap_or(&u.username);
            if !seen.insert(name) {
                r.error(item, format!("Duplicate user \"{name}\" detected"));
            }
        }
    }

    check_listener_ports(o, map, r);

    if let (Some(ws), Some(item)) = (&o.websocket, ws_item) {
        match &ws.tls {
            Some(tls) => check_tls(tls, r),
            None if !ws.no_tls => r.error(
                item,
                "websocket requires TLS configuration (add a tls { cert_file, key_file } block, or no_tls: true for testing)",
            ),
            None => {}
        }
        for origin in &ws.allowed_origins {
            if let Err(why) = check_origin(origin) {
                r.error(
                    item,
                    format!("unable to parse allowed origin \"{origin}\": {why}"),
                );
            }
        }
        for (name, _) in &ws.headers {
            let lower = name.to_ascii_lowercase();
            if matches!(
                lower.as_str(),
                "host" | "content-length" | "connection" | "upgrade" | "nats-no-masking"
            ) {
                r.error(
                    item,
                    format!("websocket: invalid header \"{name}\" not allowed"),
                );
            } else if lower.starts_with("sec-websocket-") {
                r.error(
                    item,
                    format!("websocket: invalid header \"{name}\", \"Sec-WebSocket-\" prefix not allowed"),
                );
            }
        }
        if let Some(cookie) = &ws.jwt_cookie {
            if !o.trusted_operators {
                r.error(
                    item,
                    format!("trusted operators or trusted keys configuration is required for JWT authentication via cookie \"{cookie}\""),
                );
            }
        }
        let has_user_lists = o.auth.users.is_some() || !o.auth.nkeys.is_empty();
        if has_user_lists && ws.auth.user.is_some() {
            r.error(
                item,
                "websocket authentication username not compatible with presence of users/nkeys",
            );
        }
        if has_user_lists && ws.auth.token.is_some() {
            r.error(
                item,
                "websocket authentication token not compatible with presence of users/nkeys",
            );
        }
        if let Some(name) = &ws.no_auth_user {
            check_no_auth_user(o, name, item, r);
        }
    }

    if let (Some(name), Some(item)) = (&o.no_auth_user, at("no_auth_user")) {
        check_no_auth_user(o, name, item, r);
    }

    if let (Some(leaf), Some(item)) = (&o.leafnodes, at("leafnodes").or(at("leaf"))) {
        if let Some(tls) = &leaf.tls {
            check_tls_files(tls, r);
        }
        for remote in &leaf.remotes {
            if let Some(tls) = &remote.tls {
                check_tls_files(tls, r);
            }
            let ws = remote
                .urls
                .iter()
                .filter(|u| u.starts_with("ws://") || u.starts_with("wss://"))
                .count();
            if ws != 0 && ws != remote.urls.len() {
                r.error(
                    item,
                    format!(
                        "remote leaf node configuration cannot have a mix of websocket and non-websocket urls: {:?}",
                        remote.urls
                    ),
                );
            }
        }
    }

    if o.lame_duck_grace_period >= o.lame_duck_duration {
        if let Some(item) = at("lame_duck_grace_period").or(first_item) {
            r.error(
                item,
                format!(
                    "lame duck grace period ({}) should be strictly lower than lame duck duration ({})",
                    crate::monitor::time::go_duration(o.lame_duck_grace_period),
                    crate::monitor::time::go_duration(o.lame_duck_duration)
                ),
            );
        }
    }

    check_operator(o, &at, first_item, r);
}

fn check_no_auth_user(o: &Options, name: &str, item: &Item, r: &mut Report) {
    if o.trusted_operators {
        r.error(item, "no_auth_user not compatible with Trusted Operator");
        return;
    }
    let mut users = o.all_users().peekable();
    if users.peek().is_none() {
        r.error(
            item,
            format!("no_auth_user: \"{name}\" present, but users are not defined"),
        );
        return;
    }
    if !users.any(|u| u.username == name || u.nkey.as_deref() == Some(name)) {
        r.error(
            item,
            format!("no_auth_user: \"{name}\" not present as user in authorization block or account configuration"),
        );
    }
}

/// An allowed origin must be an absolute http(s) URL with a host.
fn check_origin(origin: &str) -> Result<(), &'static str> {
    crate::websocket::handshake::Origin::parse(origin).map(|_| ())
}

/// Two listeners on one port: the second bind would fail at start.
fn check_listener_ports(o: &Options, map: &Map, r: &mut Report) {
    let mut listeners: Vec<(&str, &str, i32)> = vec![("client", o.host.as_str(), o.port)];
    if let Some(p) = o.http_port {
        listeners.push((
            "monitoring",
            o.http_host.as_deref().unwrap_or(o.host.as_str()),
            p,
        ));
    }
    if let Some(ws) = &o.websocket {
        listeners.push(("websocket", ws.host.as_str(), ws.port));
    }
    if let Some(leaf) = &o.leafnodes {
        listeners.push(("leafnode", leaf.host.as_str(), leaf.port));
    }
    let wildcard = |h: &str| h.is_empty() || h == "0.0.0.0" || h == "::";
    for (i, (name, host, port)) in listeners.iter().enumerate() {
        for (other, other_host, other_port) in &listeners[..i] {
            let same_host = host == other_host || wildcard(host) || wildcard(other_host);
            if *port > 0 && port == other_port && same_host {
                let key = if *name == "monitoring" { "http" } else { name };
                if let Some(e) = map
                    .entries()
                    .find(|e| e.key.to_ascii_lowercase().starts_with(&key[..2]))
                {
                    r.error(
                        &e.item,
                        format!("the {name} port {port} is also the {other} port: each listener needs its own"),
                    );
                }
            }
        }
    }
}

/// A served `tls` block: its files, then the configuration rustls builds
/// from them (a key that does not match the certificate, `verify` without
/// a CA), so `-t` finds what the start would refuse.
fn check_tls(tls: &TlsOptions, r: &mut Report) {
    let before = r.errors.len();
    check_tls_files(tls, r);
    if r.errors.len() > before {
        return;
    }
    if let (Some(pos), Err(e)) = (&tls.pos, crate::tls::server_config(tls)) {
        let item = &Item {
            value: super::value::Value::Bool(true),
            pos: pos.clone(),
        };
        r.error(item, e);
    }
}

/// The certificate, key and CA files must exist and hold what they should,
/// or TLS cannot start. Errors point at the `tls` block.
fn check_tls_files(tls: &TlsOptions, r: &mut Report) {
    let Some(pos) = tls.pos.clone() else { return };
    let item = &Item {
        value: super::value::Value::Bool(true),
        pos,
    };
    if let Some(cert) = &tls.cert_file {
        match CertificateDer::pem_file_iter(cert) {
            Err(e) => r.error(
                item,
                format!(
                    "error parsing X509 certificate/key pair: {}: {e}",
                    cert.display()
                ),
            ),
            Ok(iter) => {
                let certs: Result<Vec<_>, _> = iter.collect();
                if !matches!(certs, Ok(ref c) if !c.is_empty()) {
                    r.error(
                        item,
                        format!(
                            "error parsing X509 certificate/key pair: {}: no certificate found",
                            cert.display()
                        ),
                    );
                }
            }
        }
    }
    if let Some(key) = &tls.key_file {
        if let Err(e) = PrivateKeyDer::from_pem_file(key) {
            r.error(
                item,
                format!(
                    "error parsing X509 certificate/key pair: {}: {e}",
                    key.display()
                ),
            );
        }
    }
    if let Some(ca) = &tls.ca_file {
        let ok = CertificateDer::pem_file_iter(ca)
            .map(|it| it.filter_map(Result::ok).count() > 0)
            .unwrap_or(false);
        if !ok {
            r.error(
                item,
                format!("failed to parse root ca certificate: {}", ca.display()),
            );
        }
    }
}

/// JWT mode's rules, with nats-server's texts: a resolver, no accounts or
/// users of the file's own, one system account that resolves.
fn check_operator<'a>(
    o: &'a Options,
    at: &dyn Fn(&str) -> Option<&'a Item>,
    first_item: Option<&'a Item>,
    r: &mut Report,
) {
    let op = &o.operator;
    if !op.is_on() {
        if let Some((_, pos)) = &o.system_account {
            r.warnings.push(ConfigError::at(
                pos,
                "\"system_account\" is accepted and ignored: ringnats has no system account outside JWT mode",
            ));
        }
        return;
    }
    let Some(anchor) = at("operator")
        .or_else(|| at("operators"))
        .or_else(|| at("trusted_keys"))
        .or_else(|| at("trusted"))
        .or(first_item)
    else {
        return;
    };
    if !op.operators.is_empty() && !op.trusted_keys.is_empty() {
        r.error(
            anchor,
            "conflicting options for 'TrustedKeys' and 'TrustedOperators'",
        );
    }
    if op.memory_resolver.is_none() {
        r.error(
            anchor,
            "operators require an account resolver to be configured",
        );
    }
    if let Some(item) = at("accounts").filter(|_| !o.accounts.is_empty()) {
        r.error(
            item,
            "operators do not allow Accounts to be configured directly",
        );
    }
    if o.auth.users.as_ref().is_some_and(|u| !u.is_empty()) || !o.auth.nkeys.is_empty() {
        let item = at("authorization").unwrap_or(anchor);
        r.error(
            item,
            "operators do not allow users to be configured directly",
        );
    }
    let ws_auth = o
        .websocket
        .as_ref()
        .is_some_and(|w| w.auth.user.is_some() || w.auth.token.is_some());
    if o.auth.token.is_some() || o.auth.user.is_some() || ws_auth {
        // nats-server takes them and asks for a user JWT all the same.
        let item = at("authorization")
            .or_else(|| at("websocket"))
            .or_else(|| at("ws"))
            .unwrap_or(anchor);
        r.warn(
            item,
            "a token or user/password beside operators is ignored: every client logs in with a user JWT",
        );
    }
    let from_operator = op
        .operators
        .iter()
        .map(|(c, _)| c.nats.system_account.as_str())
        .find(|s| !s.is_empty());
    let system = match (&o.system_account, from_operator) {
        (Some((configured, pos)), Some(theirs)) if configured != theirs => {
            r.errors.push(ConfigError::at(
                pos,
                "system_account in config and operator JWT must be identical",
            ));
            return;
        }
        (Some((configured, pos)), _) => Some((configured.as_str(), pos)),
        (None, Some(theirs)) => Some((theirs, &op.operators[0].1)),
        (None, None) => None,
    };
    match system {
        Some((key, pos)) if !op.preload.iter().any(|(k, ..)| k == key) => {
            r.errors.push(ConfigError::at(
                pos,
                "error resolving system account: account missing",
            ));
        }
        Some(_) => {}
        None => r.warnings.push(ConfigError::at(
            &anchor.pos,
            "Trusted Operators should utilize a System Account",
        )),
    }
    let now = crate::auth::jwt::unix_now();
    for (key, claims, pos) in &op.preload {
        if claims.expired(now) {
            r.warnings.push(ConfigError::at(
                pos,
                format!("Account [{key}] has validation issues:\n  - claim is expired"),
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::check_origin;

    #[test]
    fn origins() {
        assert!(check_origin("http://www.example.com").is_ok());
        assert!(check_origin("https://www.other-example.com:8443/path").is_ok());
        assert!(check_origin("http://[::1]:80").is_ok());
        assert!(check_origin("example.com").is_err());
        assert!(check_origin("ftp://x").is_err());
        assert!(check_origin("://").is_err());
        assert!(check_origin("http://").is_err());
        assert!(check_origin("http://h:99999").is_err());
    }
}
