//! JWT mode: users prove who they are with a user JWT an account signed,
//! and the signature of the connection's nonce by the user's key; the
//! accounts are the JWTs `resolver: MEMORY` was preloaded with, trusted
//! when a trusted operator signed them. The checks, their order and what
//! is logged for each are nats-server's; every refusal is, to the client,
//! an Authorization Violation.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use super::jwt::{self, Claims, JwtPermissions, SigningKey};
use super::{smallest, Accounts, Limits, Login, Permissions};
use crate::config::options::{
    self, Account, ConnectionType, Export, Import, Options, ResponseType, SubjectPermission,
};

/// An account known by its JWT.
struct JwtAccount {
    id: u32,
    claims: Claims<jwt::Account>,
    /// Signed by a trusted operator key, and preloaded under its own key.
    trusted: bool,
    /// The keys that may sign its users: its own, its signing keys (a
    /// scoped one with the template that replaces its users' permissions).
    signers: HashMap<String, Option<Box<jwt::User>>>,
    defaults: Option<Arc<Permissions>>,
}

pub struct Operator {
    accounts: HashMap<String, JwtAccount>,
    max_subscriptions: usize,
    max_payload: u32,
}

/// A login refused, and why (for the log).
pub struct Refused(pub String);

fn refused<T>(why: impl Into<String>) -> Result<T, Refused> {
    Err(Refused(why.into()))
}

impl Operator {
    pub fn new(opts: &Options, accounts: &Accounts) -> Option<Operator> {
        let op = &opts.operator;
        if !op.is_on() {
            return None;
        }
        // The keys that may sign accounts, and whether accounts they sign
        // may sign users with their own key (not under a strict operator).
        let mut trusted: Vec<(&str, bool)> = op
            .trusted_keys
            .iter()
            .map(|k| (k.as_str(), false))
            .collect();
        for (claims, _) in &op.operators {
            let strict = claims.nats.strict_signing_key_usage;
            if !strict {
                trusted.push((&claims.sub, false));
            }
            trusted.extend(
                claims
                    .nats
                    .signing_keys
                    .iter()
                    .map(|k| (k.as_str(), strict)),
            );
        }
        let mut table = HashMap::new();
        for (key, claims, _) in &op.preload {
            let Some(id) = accounts.id(key) else { continue };
            let signer = trusted.iter().find(|(k, _)| *k == claims.iss);
            let mut signers: HashMap<String, Option<Box<jwt::User>>> = HashMap::new();
            if signer.is_some_and(|(_, strict)| !strict) {
                signers.insert(claims.sub.clone(), None);
            }
            for k in &claims.nats.signing_keys {
                let template = match k {
                    SigningKey::Plain(_) => None,
                    SigningKey::Scoped { template, .. } => Some(template.clone()),
                };
                signers.insert(k.key().to_string(), template);
            }
            let defaults = compile(&claims.nats.default_permissions);
            table.insert(
                key.clone(),
                JwtAccount {
                    id,
                    trusted: signer.is_some() && *key == claims.sub,
                    claims: claims.clone(),
                    signers,
                    defaults,
                },
            );
        }
        Some(Operator {
            accounts: table,
            max_subscriptions: opts.max_subscriptions,
            max_payload: opts.max_payload,
        })
    }

    /// A user JWT login: nats-server's checks in its order. `sig` is
    /// CONNECT's signature of `nonce`.
    pub fn login(
        &self,
        token: Option<&str>,
        sig: Option<&str>,
        nonce: &str,
        kind: ConnectionType,
        ip: IpAddr,
    ) -> Result<Login, Refused> {
        let now = jwt::unix_now();
        let Some(token) = token.filter(|t| !t.is_empty()) else {
            return refused("Authentication requires a user JWT");
        };
        let user = match jwt::decode::<jwt::User>(token) {
            Ok(u) => u,
            Err(e) => return refused(format!("User JWT not valid: {e}")),
        };
        if user.expired(now) {
            let why = if user.exp > 0 && user.exp < now {
                "claim is expired"
            } else {
                "claim is not yet valid"
            };
            return refused(format!("User JWT no longer valid: {why}"));
        }
        let u = &user.nats;
        if !u.issuer_account.is_empty() && !jwt::KeyKind::Account.is(&u.issuer_account) {
            return refused("User JWT no longer valid: account_id is not an account public key");
        }
        if let Some(bad) = u.src.0.iter().find(|s| Cidr::parse(s).is_none()) {
            return refused(format!(
                "User JWT no longer valid: invalid cidr {bad:?} in user src limits"
            ));
        }
        let account_key = if u.issuer_account.is_empty() {
            &user.iss
        } else {
            &u.issuer_account
        };
        let Some(account) = self.accounts.get(account_key) else {
            return refused("Account JWT lookup error: account missing");
        };
        if !account.trusted {
            return refused("Account JWT not signed by trusted operator");
        }
        let Some(scope) = account.signers.get(&user.iss) else {
            return refused("User JWT issuer is not known");
        };
        // A scoped signing key's users carry no permissions or limits of
        // their own: the key's template is theirs.
        let limits: jwt::User = match scope {
            None => u.clone(),
            Some(template) => {
                if !unscoped(u) {
                    return refused(
                        "User JWT is not valid: scoped users require no permissions or limits set",
                    );
                }
                match fill_template(template, &user, account) {
                    Some(t) => t,
                    None => return refused("User JWT generated invalid permissions"),
                }
            }
        };
        if account.claims.lapsed(now) {
            return refused("Account JWT has expired");
        }
        // From here the user's limits are its own or its scope's.
        if limits.bearer_token && account.claims.nats.limits.disallow_bearer {
            return refused("Account does not allow bearer tokens");
        }
        if !limits.allowed_connection_types.is_empty() {
            let known: Vec<ConnectionType> = limits
                .allowed_connection_types
                .iter()
                .filter_map(|t| ConnectionType::parse(t))
                .collect();
            if known.is_empty() {
                return refused(format!(
                    "invalid connection types {:?}",
                    limits.allowed_connection_types
                ));
            }
            if !known.contains(&kind) {
                return refused("Connection type not allowed");
            }
        }
        if !limits.bearer_token {
            let Some(sig) = sig.filter(|s| !s.is_empty()) else {
                return refused("Signature missing");
            };
            let Some(sig) = super::decode_signature(sig) else {
                return refused("Signature not valid base64");
            };
            let Ok(key) = nkeys::KeyPair::from_public_key(&user.sub) else {
                return refused("User nkey not valid");
            };
            if key.verify(nonce.as_bytes(), &sig).is_err() {
                return refused("Signature not verified");
            }
        }
        let revocations = &account.claims.nats.revocations;
        let revoked = [user.sub.as_str(), "*"]
            .iter()
            .any(|k| revocations.get(*k).is_some_and(|&at| at >= user.iat));
        if revoked {
            return refused("User authentication revoked");
        }
        let cidrs: Vec<Cidr> = limits.src.0.iter().filter_map(|s| Cidr::parse(s)).collect();
        if limits.src.0.len() != cidrs.len() {
            return refused("User JWT generated invalid permissions");
        }
        if !cidrs.is_empty() && !cidrs.iter().any(|c| c.contains(ip)) {
            return refused(format!("Bad src Ip {ip}"));
        }
        if !limits.times.is_empty() {
            // Time-of-day windows (and their time zones) are not read yet:
            // a user held to them is not let in at any time.
            return refused("Outside connect times (connect time windows are not supported)");
        }
        let permissions = if limits.permissions.is_empty() {
            account.defaults.clone()
        } else {
            compile(&limits.permissions)
        };
        let a = &account.claims.nats.limits;
        // The connection ends when the first of the user and the account
        // expires; which one, it is told.
        let expires = match (user.exp > 0, account.claims.exp > 0) {
            (true, true) if account.claims.exp < user.exp => Some((account.claims.exp, true)),
            (true, _) => Some((user.exp, false)),
            (false, true) => Some((account.claims.exp, true)),
            (false, false) => None,
        };
        Ok(Login {
            user: Some(user.sub.clone()),
            account: account.id,
            permissions,
            limits: Limits {
                subs: smallest(&[limits.subs, a.subs], self.max_subscriptions as i64),
                payload: smallest(&[limits.payload, a.payload], self.max_payload as i64),
            },
            expires,
        })
    }
}

/// Whether a user carries no permissions or limits of its own (all left
/// out, as a scoped signing key's users must be).
fn unscoped(u: &jwt::User) -> bool {
    u.permissions.is_empty()
        && u.src.0.is_empty()
        && u.times.is_empty()
        && u.times_location.is_empty()
        && u.subs == 0
        && u.data == 0
        && u.payload == 0
        && !u.bearer_token
        && u.allowed_connection_types.is_empty()
}

/// A scoped key's template for one user, its `{{name()}}`, `{{subject()}}`,
/// `{{account-name()}}` and `{{account-subject()}}` filled in (spaces and
/// case inside the braces as nats-server allows them); `None` when it asks
/// for anything else (tags are not kept). The template's limits are the
/// user's; only the account it signs for stays the user's own.
fn fill_template(
    t: &jwt::User,
    user: &Claims<jwt::User>,
    account: &JwtAccount,
) -> Option<jwt::User> {
    let value = |name: &str| -> Option<&str> {
        Some(match name.trim().to_ascii_lowercase().as_str() {
            "name()" => &user.name,
            "subject()" => &user.sub,
            "account-name()" => &account.claims.name,
            "account-subject()" => &account.claims.sub,
            _ => return None,
        })
    };
    let fill = |s: &String| -> Option<String> {
        let mut out = String::new();
        let mut rest = s.as_str();
        while let Some(open) = rest.find("{{") {
            out.push_str(&rest[..open]);
            let close = rest[open..].find("}}")? + open;
            out.push_str(value(&rest[open + 2..close])?);
            rest = &rest[close + 2..];
        }
        out.push_str(rest);
        Some(out)
    };
    let fill_all = |v: &Vec<String>| v.iter().map(fill).collect::<Option<Vec<_>>>();
    let mut out = t.clone();
    let p = &mut out.permissions;
    p.publish.allow = fill_all(&t.permissions.publish.allow)?;
    p.publish.deny = fill_all(&t.permissions.publish.deny)?;
    p.subscribe.allow = fill_all(&t.permissions.subscribe.allow)?;
    p.subscribe.deny = fill_all(&t.permissions.subscribe.deny)?;
    out.issuer_account = user.nats.issuer_account.clone();
    Some(out)
}

/// JWT permissions as the server's: nothing given is no restriction.
fn compile(p: &JwtPermissions) -> Option<Arc<Permissions>> {
    if p.is_empty() {
        return None;
    }
    let rule = |r: &jwt::Rule| {
        (!r.is_empty()).then(|| SubjectPermission {
            allow: r.allow.clone(),
            deny: r.deny.clone(),
        })
    };
    let config = options::Permissions {
        publish: rule(&p.publish),
        subscribe: rule(&p.subscribe),
        allow_responses: p.resp.as_ref().map(|r| options::ResponsePermission {
            max: r.max.max(0) as usize,
            expires: Duration::from_nanos(r.ttl.max(0) as u64),
        }),
    };
    Permissions::from_config(&config)
}

/// An address range of a user's `src`.
struct Cidr {
    net: IpAddr,
    bits: u8,
}

impl Cidr {
    /// `10.0.0.0/8`, `::1/128`: an address and a prefix length, as Go's
    /// `net.ParseCIDR` takes them.
    fn parse(s: &str) -> Option<Cidr> {
        let (addr, bits) = s.trim().split_once('/')?;
        if bits.is_empty() || bits.len() > 3 || !bits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let bits: u8 = bits.parse().ok()?;
        let net: IpAddr = addr.parse().ok()?;
        let max = if net.is_ipv4() { 32 } else { 128 };
        (bits <= max).then_some(Cidr { net, bits })
    }

    fn contains(&self, ip: IpAddr) -> bool {
        let ip = match (ip, self.net) {
            (IpAddr::V6(v6), IpAddr::V4(_)) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            _ => ip,
        };
        let (a, b, width) = match (ip, self.net) {
            (IpAddr::V4(a), IpAddr::V4(b)) => (u32::from(a) as u128, u32::from(b) as u128, 32),
            (IpAddr::V6(a), IpAddr::V6(b)) => (u128::from(a), u128::from(b), 128),
            _ => return false,
        };
        let shift = width - self.bits as u32;
        shift >= width || (a >> shift) == (b >> shift)
    }
}

/// The accounts the preloaded JWTs describe, as the server's accounts:
/// named by public key, with their exports and the imports whose
/// activation checks out (an import of a private export needs a token
/// the exporter signed for the importer).
pub fn accounts(opts: &Options) -> Vec<Account> {
    let preload = &opts.operator.preload;
    let claims_of = |key: &str| preload.iter().find(|(k, ..)| k == key).map(|(_, c, _)| c);
    preload
        .iter()
        .map(|(key, claims, _)| {
            let n = &claims.nats;
            let exports = n
                .exports
                .iter()
                .map(|x| Export {
                    service: x.kind == "service",
                    subject: x.subject.clone(),
                    accounts: None,
                    response: match x.response_type.to_ascii_lowercase().as_str() {
                        "stream" => ResponseType::Stream,
                        "chunked" => ResponseType::Chunked,
                        _ => ResponseType::Singleton,
                    },
                    threshold: (x.response_threshold > 0)
                        .then(|| Duration::from_nanos(x.response_threshold as u64)),
                })
                .collect();
            let imports = n
                .imports
                .iter()
                .filter_map(|i| {
                    // Only what an export of its kind covers, and a private
                    // one only with the exporter's activation for this account.
                    let service = i.kind == "service";
                    let exporter = claims_of(&i.account);
                    let export = exporter.and_then(|e| {
                        e.nats.exports.iter().find(|x| {
                            (x.kind == "service") == service
                                && crate::subject::pattern_covers(
                                    x.subject.as_bytes(),
                                    i.subject.as_bytes(),
                                )
                        })
                    });
                    let until = match (exporter, export) {
                        (Some(e), Some(x)) if x.token_req => {
                            activation(&i.token, key, &i.subject, e, x)
                        }
                        (Some(_), Some(_)) => Some(None),
                        _ => None,
                    };
                    if until.is_none() {
                        crate::warn!(
                            "Account {key}: import of {:?} from {} is not exported to it; not imported",
                            i.subject,
                            i.account
                        );
                    }
                    Some((i, until?))
                })
                .map(|(i, until)| {
                    let service = i.kind == "service";
                    let local = [&i.local_subject, &i.to]
                        .into_iter()
                        .find(|s| !s.is_empty())
                        .cloned();
                    let (to, prefix) = match (service, i.local_subject.is_empty()) {
                        (true, _) => (local, None),
                        (false, false) => (Some(i.local_subject.clone()), None),
                        (false, true) => (None, (!i.to.is_empty()).then(|| i.to.clone())),
                    };
                    Import {
                        service,
                        account: i.account.clone(),
                        subject: i.subject.clone(),
                        to,
                        prefix,
                        until,
                    }
                })
                .collect();
            Account {
                name: key.clone(),
                users: Vec::new(),
                exports,
                imports,
                // Its limits are read from its JWT where they apply.
                limits: Default::default(),
            }
        })
        .collect()
}

/// An activation token the exporter (or one of its signing keys) signed
/// for `importer`, for a subject covering `subject`, valid now and not
/// revoked by the export: `Some` with its expiry (`None`: never).
fn activation(
    token: &str,
    importer: &str,
    subject: &str,
    exporter: &Claims<jwt::Account>,
    export: &jwt::JwtExport,
) -> Option<Option<i64>> {
    let a = jwt::decode::<jwt::Activation>(token).ok()?;
    let by_exporter = a.iss == exporter.sub
        || (a.nats.issuer_account == exporter.sub
            && exporter.nats.signing_keys.iter().any(|k| k.key() == a.iss));
    let revoked = [importer, "*"]
        .iter()
        .any(|k| export.revocations.get(*k).is_some_and(|&at| at >= a.iat));
    let holds = by_exporter
        && a.sub == importer
        && !revoked
        && !a.lapsed(jwt::unix_now())
        && crate::subject::pattern_covers(a.nats.subject.as_bytes(), subject.as_bytes());
    holds.then_some((a.exp > 0).then_some(a.exp))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidrs_hold_what_they_say() {
        let c = Cidr::parse("10.1.0.0/16").unwrap();
        assert!(c.contains("10.1.200.3".parse().unwrap()));
        assert!(!c.contains("10.2.0.1".parse().unwrap()));
        assert!(c.contains("::ffff:10.1.0.9".parse().unwrap()));
        let one = Cidr::parse("127.0.0.1/32").unwrap();
        assert!(one.contains("127.0.0.1".parse().unwrap()));
        assert!(!one.contains("127.0.0.2".parse().unwrap()));
        assert!(Cidr::parse("::/0")
            .unwrap()
            .contains("::1".parse().unwrap()));
        assert!(Cidr::parse("0.0.0.0/0")
            .unwrap()
            .contains("8.8.8.8".parse().unwrap()));
        for bad in [
            "bogus",
            "10.0.0.0/33",
            "10.0.0/8",
            "",
            "127.0.0.1",
            "10.0.0.0/+8",
            "::1/129",
        ] {
            assert!(Cidr::parse(bad).is_none(), "{bad}");
        }
    }
}
