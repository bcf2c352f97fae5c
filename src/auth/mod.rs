//! Who a client is: the credentials it gives in CONNECT checked against the
//! options, and the account it binds to. Accounts keep subject spaces apart;
//! every client belongs to one (`$G` when none is configured).

pub mod bcrypt;
pub mod cert;
pub mod imports;
pub mod jwt;
pub mod operator;
pub mod permissions;

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

pub use bcrypt::BcryptPool;
pub use permissions::{ConnPermissions, Permissions};

use crate::config::options::{ConnectionType, Options, DEFAULT_AUTH_TIMEOUT};
use crate::protocol::ConnectOptions;

/// The global account every client is in when no account is configured.
pub const GLOBAL_ACCOUNT: &str = "$G";

/// Account names by id; id 0 is `$G`.
#[derive(Debug, Clone)]
pub struct Accounts {
    names: Vec<String>,
}

impl Accounts {
    pub fn from_options(opts: &Options) -> Accounts {
        let mut names = vec![GLOBAL_ACCOUNT.to_string()];
        let jwt_accounts = opts.operator.preload.iter().map(|(key, ..)| key);
        for name in opts.accounts.iter().map(|a| &a.name).chain(jwt_accounts) {
            if name != GLOBAL_ACCOUNT && !names.contains(name) {
                names.push(name.clone());
            }
        }
        Accounts { names }
    }

    pub fn id(&self, name: &str) -> Option<u32> {
        self.names.iter().position(|n| n == name).map(|i| i as u32)
    }

    pub fn name(&self, id: u32) -> &str {
        &self.names[id as usize]
    }

    pub fn len(&self) -> usize {
        self.names.len()
    }

    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }
}

struct UserEntry {
    password: Option<String>,
    account: u32,
    types: Option<Vec<ConnectionType>>,
    permissions: Option<Arc<Permissions>>,
    /// Its account's subscription and payload limits.
    limits: Limits,
}

impl UserEntry {
    /// Whether its `allowed_connection_types` admit `kind`.
    fn admits(&self, kind: ConnectionType) -> bool {
        self.types
            .as_ref()
            .is_none_or(|t| t.is_empty() || t.contains(&kind))
    }

    fn login(&self, name: &str) -> Login {
        Login {
            user: Some(name.to_string()),
            account: self.account,
            permissions: self.permissions.clone(),
            limits: self.limits,
            ..Login::default()
        }
    }
}

/// What CONNECT's credentials come to.
#[derive(Debug)]
pub enum Verdict {
    Granted(Login),
    Denied,
    /// Denied, and why (for the log).
    Refused(String),
    /// Granted if `password` matches the bcrypt `hash` (a check for the
    /// pool, never for a shard thread).
    Bcrypt {
        hash: String,
        password: String,
        login: Login,
    },
}

impl Verdict {
    /// A configured secret (plain or bcrypt) against the one given.
    fn secret(stored: &str, given: &str, login: Login) -> Verdict {
        if crate::config::is_bcrypt(stored) {
            Verdict::Bcrypt {
                hash: stored.to_string(),
                password: given.to_string(),
                login,
            }
        } else if constant_time_eq(stored.as_bytes(), given.as_bytes()) {
            Verdict::Granted(login)
        } else {
            Verdict::Denied
        }
    }
}

/// Equality whose time does not depend on where the bytes differ.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Who a client turned out to be.
#[derive(Debug, Clone, Default)]
pub struct Login {
    /// The user's name, from a users list (for logs).
    pub user: Option<String>,
    pub account: u32,
    /// `None`: it may publish and subscribe to anything.
    pub permissions: Option<Arc<Permissions>>,
    /// Its own limits, where its JWT and account set them.
    pub limits: Limits,
    /// When its JWT (or its account's) expires, Unix seconds, and whether
    /// it is the account's.
    pub expires: Option<(i64, bool)>,
}

/// A connection's own limits; `None`: the server's.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Limits {
    /// Subscriptions it may hold (0: none at all).
    pub subs: Option<u32>,
    /// The largest message it may publish.
    pub payload: Option<u32>,
}

/// The smallest of account and user limits (-1: none) and the server's
/// (0: none), as a connection's limit: `None` for none, else the number
/// (0 included: a limit of nothing, as nats-server reads it).
pub(crate) fn smallest(limits: &[i64], server: i64) -> Option<u32> {
    limits
        .iter()
        .copied()
        .filter(|&l| l >= 0)
        .chain((server > 0).then_some(server))
        .min()
        .map(|l| l.min(u32::MAX as i64) as u32)
}

/// A signature as clients send it: base64url without padding, or
/// standard base64, as nats-server accepts both.
fn decode_signature(sig: &str) -> Option<Vec<u8>> {
    use base64::Engine;
    let engines = [
        base64::engine::general_purpose::URL_SAFE_NO_PAD,
        base64::engine::general_purpose::URL_SAFE,
        base64::engine::general_purpose::STANDARD,
        base64::engine::general_purpose::STANDARD_NO_PAD,
    ];
    engines.iter().find_map(|e| e.decode(sig).ok())
}

/// Checks CONNECT credentials against the configured users and token.
pub struct Authenticator {
    token: Option<String>,
    single: Option<(String, String)>,
    users: HashMap<String, UserEntry>,
    no_auth_user: Option<String>,
    timeout: Duration,
    /// The websocket block's `authorization` (user/password or token): in
    /// place of the main block's for websocket clients.
    ws_single: Option<(String, String)>,
    ws_token: Option<String>,
    /// The websocket block's `no_auth_user`, in place of the main one's.
    ws_no_auth_user: Option<String>,
    ws_timeout: Option<Duration>,
    /// Where bcrypt-hashed secrets are checked.
    pub bcrypt: BcryptPool,
    /// NKEY users by public key.
    nkeys: HashMap<String, UserEntry>,
    /// Makes each connection's nonce (see [`Authenticator::nonce`]); only
    /// when NKEY users are configured.
    nonce_key: Option<ring::hmac::Key>,
    /// `verify_and_map` on the client port's TLS and on the websocket
    /// port's (each listener its own, as nats-server has it).
    tls_map: bool,
    ws_tls_map: bool,
    /// User names written as distinguished names, parsed once, in name
    /// order, for matching certificate subjects.
    user_dns: Vec<(String, cert::Dn)>,
    /// JWT mode: the trusted accounts; every client logs in with a JWT.
    pub operator: Option<operator::Operator>,
    /// By account id: connections logged in to it, server-wide (kept
    /// across a reload), and its limit (-1: none).
    counts: Arc<[AtomicI64]>,
    limits: Vec<i64>,
}

impl Authenticator {
    pub fn new(opts: &Options, accounts: &Accounts) -> Authenticator {
        let limits_of = |account: &crate::config::options::Account| {
            let l = &account.limits;
            Limits {
                subs: smallest(
                    &[l.subscriptions.unwrap_or(-1)],
                    opts.max_subscriptions as i64,
                ),
                payload: smallest(&[l.payload.unwrap_or(-1)], opts.max_payload as i64),
            }
        };
        let mut users = HashMap::new();
        let defaults = opts.auth.default_permissions.as_ref();
        let compile =
            |p: Option<&crate::config::options::Permissions>| p.and_then(Permissions::from_config);
        for u in opts.auth.users.iter().flatten() {
            users.insert(
                u.username.clone(),
                UserEntry {
                    password: u.password.clone(),
                    account: 0,
                    types: u.allowed_connection_types.clone(),
                    permissions: compile(u.permissions.as_ref().or(defaults)),
                    limits: Limits::default(),
                },
            );
        }
        for a in &opts.accounts {
            let id = accounts.id(&a.name).unwrap_or(0);
            for u in a.users.iter().filter(|u| u.nkey.is_none()) {
                users.insert(
                    u.username.clone(),
                    UserEntry {
                        password: u.password.clone(),
                        account: id,
                        types: u.allowed_connection_types.clone(),
                        permissions: compile(u.permissions.as_ref()),
                        limits: limits_of(a),
                    },
                );
            }
        }
        let single = match (&opts.auth.user, &opts.auth.password) {
            (Some(u), p) => Some((u.clone(), p.clone().unwrap_or_default())),
            (None, _) => None,
        };
        let ws = opts.websocket.as_ref();
        let ws_single = ws.and_then(|w| {
            let user = w.auth.user.clone()?;
            Some((user, w.auth.password.clone().unwrap_or_default()))
        });
        let mut nkeys = HashMap::new();
        let nkey_users = opts
            .auth
            .nkeys
            .iter()
            .map(|u| (u, 0, defaults, Limits::default()));
        let account_nkeys = opts.accounts.iter().flat_map(|a| {
            let id = accounts.id(&a.name).unwrap_or(0);
            let limits = limits_of(a);
            a.users
                .iter()
                .filter(|u| u.nkey.is_some())
                .map(move |u| (u, id, None, limits))
        });
        for (u, account, default, limits) in nkey_users.chain(account_nkeys) {
            let Some(key) = &u.nkey else { continue };
            nkeys.insert(
                key.clone(),
                UserEntry {
                    password: None,
                    account,
                    types: u.allowed_connection_types.clone(),
                    permissions: compile(u.permissions.as_ref().or(default)),
                    limits,
                },
            );
        }
        // Each account's connection limit (-1: none), from the file or its
        // JWT, held server-wide.
        let mut limits = vec![-1; accounts.len()];
        for a in &opts.accounts {
            if let (Some(id), Some(n)) = (accounts.id(&a.name), a.limits.connections) {
                limits[id as usize] = n;
            }
        }
        for (key, claims, _) in &opts.operator.preload {
            if let Some(id) = accounts.id(key) {
                limits[id as usize] = claims.nats.limits.conn;
            }
        }
        let counts = (0..accounts.len()).map(|_| AtomicI64::new(0)).collect();
        let operator = operator::Operator::new(opts, accounts);
        let nonce_key = (!nkeys.is_empty() || operator.is_some()).then(|| {
            let rng = ring::rand::SystemRandom::new();
            ring::hmac::Key::generate(ring::hmac::HMAC_SHA256, &rng).expect("random bytes")
        });
        let maps =
            |t: Option<&crate::config::options::TlsOptions>| t.is_some_and(|t| t.verify_and_map);
        let mut user_dns: Vec<(String, cert::Dn)> = users
            .keys()
            .filter_map(|name: &String| Some((name.clone(), cert::Dn::parse(name)?)))
            .collect();
        user_dns.sort_by(|a, b| a.0.cmp(&b.0));
        let authenticator = Authenticator {
            operator,
            counts,
            limits,
            tls_map: maps(opts.tls.as_ref()),
            ws_tls_map: maps(ws.and_then(|w| w.tls.as_ref())),
            user_dns,
            token: opts.auth.token.clone(),
            single,
            users,
            no_auth_user: opts.no_auth_user.clone(),
            timeout: opts.auth.timeout.unwrap_or(DEFAULT_AUTH_TIMEOUT),
            ws_single,
            ws_token: ws.and_then(|w| w.auth.token.clone()),
            ws_no_auth_user: ws.and_then(|w| w.no_auth_user.clone()),
            ws_timeout: ws.and_then(|w| w.auth.timeout),
            bcrypt: BcryptPool::default(),
            nkeys,
            nonce_key,
        };
        if authenticator.has_hashed_secret() {
            authenticator.bcrypt.start();
        }
        authenticator
    }

    fn has_hashed_secret(&self) -> bool {
        fn password(s: &Option<(String, String)>) -> Option<&str> {
            s.as_ref().map(|(_, p)| p.as_str())
        }
        [
            self.token.as_deref(),
            self.ws_token.as_deref(),
            password(&self.single),
            password(&self.ws_single),
        ]
        .into_iter()
        .flatten()
        .chain(self.users.values().filter_map(|u| u.password.as_deref()))
        .any(crate::config::is_bcrypt)
    }

    /// Whether some user may answer requests by `allow_responses`: then
    /// deliveries of requests are noted per connection.
    pub fn tracks_replies(&self) -> bool {
        self.users
            .values()
            .chain(self.nkeys.values())
            .any(|u| u.permissions.as_ref().is_some_and(|p| p.allows_responses()))
    }

    /// Whether clients must authenticate (INFO's `auth_required`).
    pub fn required(&self) -> bool {
        self.operator.is_some()
            || self.token.is_some()
            || self.single.is_some()
            || !self.users.is_empty()
            || !self.nkeys.is_empty()
    }

    /// The nonce INFO gives connection `cid` to sign, when NKEY users may
    /// log in: 11 bytes, URL-safe base64 without padding, as nats-server
    /// makes them. Made from the connection's id under a key drawn at start
    /// (an HMAC), so each connection's is its own and unguessable, and
    /// nothing is kept per connection to check it.
    pub fn nonce(&self, cid: u64) -> Option<String> {
        use base64::Engine;
        let key = self.nonce_key.as_ref()?;
        let tag = ring::hmac::sign(key, &cid.to_le_bytes());
        Some(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&tag.as_ref()[..11]))
    }

    /// An NKEY login: the signature of this connection's nonce by the key
    /// it names.
    fn check_nkey(&self, c: &ConnectOptions, kind: ConnectionType, cid: u64) -> Verdict {
        let (Some(key), Some(nonce)) = (c.nkey.as_deref(), self.nonce(cid)) else {
            return Verdict::Denied;
        };
        let Some(entry) = self.nkeys.get(key) else {
            return Verdict::Denied;
        };
        let Some(sig) = decode_signature(c.sig.as_deref().unwrap_or("")) else {
            return Verdict::Denied;
        };
        let signed = nkeys::KeyPair::from_public_key(key)
            .is_ok_and(|kp| kp.verify(nonce.as_bytes(), &sig).is_ok());
        if !signed || !entry.admits(kind) {
            return Verdict::Denied;
        }
        Verdict::Granted(entry.login(key))
    }

    /// Whether clients of `kind` must authenticate: the websocket block's
    /// own user or token makes websocket clients authenticate too.
    pub fn required_for(&self, kind: ConnectionType) -> bool {
        self.required() || (kind == ConnectionType::Websocket && self.ws_override())
    }

    fn ws_override(&self) -> bool {
        self.ws_single.is_some() || self.ws_token.is_some()
    }

    /// How long a client may take to send a valid CONNECT.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// The same for clients of `kind` (the websocket block may set its own).
    pub fn timeout_for(&self, kind: ConnectionType) -> Duration {
        match (kind, self.ws_timeout) {
            (ConnectionType::Websocket, Some(t)) => t,
            _ => self.timeout,
        }
    }

    /// Counts a login into account `id`; false when the account's
    /// connection limit is reached.
    pub fn enter(&self, id: u32) -> bool {
        let (Some(count), Some(limit)) =
            (self.counts.get(id as usize), self.limits.get(id as usize))
        else {
            return true;
        };
        let n = count.fetch_add(1, Ordering::AcqRel);
        if *limit >= 0 && n >= *limit {
            count.fetch_sub(1, Ordering::AcqRel);
            return false;
        }
        true
    }

    /// A login counted by `enter` is over.
    pub fn leave(&self, id: u32) {
        if let Some(count) = self.counts.get(id as usize) {
            count.fetch_sub(1, Ordering::AcqRel);
        }
    }

    /// By account id: how many of `logins` (by account) are over its
    /// limit (after a reload lowered one).
    pub fn over_limits(&self, logins: &[i64]) -> Vec<i64> {
        logins
            .iter()
            .zip(&self.limits)
            .map(|(&n, &limit)| if limit >= 0 { (n - limit).max(0) } else { 0 })
            .collect()
    }

    /// After a reload (same accounts): the logins counted so far are the
    /// old configuration's, and so are the nonces (a connection's NKEY
    /// signature is checked again against the nonce it signed).
    pub fn carry_from(&mut self, old: &Authenticator) {
        if old.counts.len() == self.counts.len() {
            self.counts = old.counts.clone();
        }
        if self.nonce_key.is_some() && old.nonce_key.is_some() {
            self.nonce_key = old.nonce_key.clone();
        }
    }

    /// Whether the listener of clients of `kind` takes users from their
    /// certificates (and there are users to take).
    pub fn maps_certificates(&self, kind: ConnectionType) -> bool {
        let map = match kind {
            ConnectionType::Websocket => self.ws_tls_map,
            _ => self.tls_map,
        };
        map && !self.users.is_empty()
    }

    /// Whether a listener that maps certificates could pick this user: a
    /// user without a password is then a certificate's identity only, and
    /// never logs in by name elsewhere (as newer nats-server has it).
    fn certificate_only(&self, entry: &UserEntry) -> bool {
        entry.password.as_deref().unwrap_or("").is_empty()
            && ((self.tls_map && entry.admits(ConnectionType::Standard))
                || (self.ws_tls_map && entry.admits(ConnectionType::Websocket)))
    }

    /// The user a certificate names, tried as nats-server tries them: the
    /// e-mail, DNS and URI alternative names by exact name, the subject
    /// as a distinguished name (the same RDNs in order, then in any
    /// order), then the subject as text with and without its domain
    /// components. Users not allowed on `kind` are passed over.
    fn mapped_user(
        &self,
        names: &cert::CertNames,
        kind: ConnectionType,
    ) -> Option<(&str, &UserEntry)> {
        let literal = |name: &str| {
            let (name, entry) = self.users.get_key_value(name)?;
            entry.admits(kind).then_some((name.as_str(), entry))
        };
        let sans = names.emails.iter().chain(&names.dns).chain(&names.uris);
        if let Some(found) = sans.map(String::as_str).find_map(literal) {
            return Some(found);
        }
        if let Some(dn) = &names.dn {
            let candidates = || {
                self.user_dns
                    .iter()
                    .filter_map(|(name, d)| Some((d, literal(name)?)))
            };
            let found = candidates()
                .find(|(d, _)| d.equal(dn))
                .or_else(|| candidates().find(|(d, _)| d.rdns_match(dn)));
            if let Some((_, found)) = found {
                return Some(found);
            }
        }
        let subjects = names.subject_with_dcs.iter().chain([&names.subject]);
        subjects.map(String::as_str).find_map(literal)
    }

    /// Who the client is (its account and permissions), or `None`:
    /// Authorization Violation. `cert`: the names in its certificate, where
    /// its listener maps certificates to users.
    pub fn check(
        &self,
        c: &ConnectOptions,
        kind: ConnectionType,
        cid: u64,
        cert: Option<&cert::CertNames>,
        ip: std::net::IpAddr,
    ) -> Verdict {
        if let Some(op) = &self.operator {
            let nonce = self.nonce(cid).unwrap_or_default();
            return match op.login(c.jwt.as_deref(), c.sig.as_deref(), &nonce, kind, ip) {
                Ok(login) => Verdict::Granted(login),
                Err(operator::Refused(why)) => Verdict::Refused(why),
            };
        }
        if !self.required_for(kind) {
            return Verdict::Granted(Login::default());
        }
        if c.nkey.is_some() && !self.nkeys.is_empty() {
            return self.check_nkey(c, kind, cid);
        }
        let ws = kind == ConnectionType::Websocket;
        let (token, single) = if ws && self.ws_override() {
            (&self.ws_token, &self.ws_single)
        } else {
            (&self.token, &self.single)
        };
        if let Some(token) = token {
            return match &c.auth_token {
                Some(given) => Verdict::secret(token, given, Login::default()),
                None => Verdict::Denied,
            };
        }
        if let Some((user, pass)) = single {
            if c.user.as_deref() != Some(user.as_str()) {
                return Verdict::Denied;
            }
            return Verdict::secret(pass, c.pass.as_deref().unwrap_or(""), Login::default());
        }
        if self.maps_certificates(kind) {
            // The user is the certificate's, whatever CONNECT names; a
            // password it has must still be given.
            let Some((name, entry)) = cert
                .filter(|n| !n.is_empty())
                .and_then(|n| self.mapped_user(n, kind))
            else {
                return Verdict::Denied;
            };
            let stored = entry.password.as_deref().unwrap_or("");
            return Verdict::secret(stored, c.pass.as_deref().unwrap_or(""), entry.login(name));
        }
        let no_auth_user = if ws && self.ws_no_auth_user.is_some() {
            &self.ws_no_auth_user
        } else {
            &self.no_auth_user
        };
        let found = match (&c.user, no_auth_user) {
            (Some(name), _) => self.users.get(name).map(|e| (name.as_str(), e)),
            (None, Some(default)) if c.auth_token.is_none() => {
                self.users.get(default).map(|e| (default.as_str(), e))
            }
            _ => None,
        };
        let Some((name, entry)) = found else {
            return Verdict::Denied;
        };
        if !entry.admits(kind) {
            return Verdict::Denied;
        }
        let login = entry.login(name);
        if c.user.as_deref() != Some(name) {
            // The no_auth_user: no credentials to check.
            return Verdict::Granted(login);
        }
        if self.certificate_only(entry) && no_auth_user.as_deref() != Some(name) {
            return Verdict::Denied;
        }
        let stored = entry.password.as_deref().unwrap_or("");
        Verdict::secret(stored, c.pass.as_deref().unwrap_or(""), login)
    }
}

#[cfg(test)]
mod tests {
    use super::smallest;

    #[test]
    fn limits_take_the_smallest_that_is_set() {
        assert_eq!(smallest(&[-1, -1], 0), None);
        assert_eq!(smallest(&[-1, 5], 0), Some(5));
        assert_eq!(smallest(&[3, 5], 4), Some(3));
        assert_eq!(smallest(&[-1, -1], 4), Some(4));
        // Zero is a limit (of nothing), as nats-server reads it.
        assert_eq!(smallest(&[0, -1], 0), Some(0));
    }
}
