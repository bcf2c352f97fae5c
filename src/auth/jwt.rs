//! NATS JWTs: `base64url(header).base64url(claims).base64url(signature)`,
//! the signature ed25519 by the issuer's NKEY over the first two parts.
//! Decoding checks the header, the signature against the claims' own
//! issuer and the issuer's kind of key; what the claims then allow is for
//! the caller (see [`super::operator`]). Pure: a string in, claims out.

use std::collections::HashMap;

use base64::Engine;
use serde::de::DeserializeOwned;
use serde::Deserialize;

/// Why a token was refused (for the log; the client hears only
/// "Authorization Violation").
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JwtError {
    #[error("expected 3 chunks")]
    Chunks,
    #[error("invalid base64 in the {0}")]
    Base64(&'static str),
    #[error("invalid header")]
    Header,
    #[error("not a JWT (typ {0:?})")]
    Type(String),
    #[error("unexpected {0:?} algorithm")]
    Algorithm(String),
    #[error("invalid claims: {0}")]
    Claims(String),
    #[error("issuer {0:?} is not a valid {1} key")]
    Issuer(String, &'static str),
    #[error("subject {0:?} is not a valid {1} key")]
    Subject(String, &'static str),
    #[error("claim failed V2 signature verification")]
    Signature,
    #[error("claims are {0:?}, not {1}")]
    Kind(String, &'static str),
    #[error("library supports version 2 or less - received {0}")]
    Version(i64),
}

/// What every NATS JWT carries; `N` is the kind's own `nats` object.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Claims<N> {
    #[serde(default)]
    pub jti: String,
    #[serde(default)]
    pub iat: i64,
    pub iss: String,
    pub sub: String,
    #[serde(default)]
    pub name: String,
    /// Expiry, Unix seconds; 0: never.
    #[serde(default)]
    pub exp: i64,
    /// Not before, Unix seconds; 0: at once.
    #[serde(default)]
    pub nbf: i64,
    pub nats: N,
    /// Only version 1 claims have a `type` of their own.
    #[serde(default, rename = "type")]
    v1_type: Option<String>,
}

/// The kinds of NKEY, by the first letter of the public key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    Operator,
    Account,
    User,
}

impl KeyKind {
    fn prefix(self) -> char {
        match self {
            KeyKind::Operator => 'O',
            KeyKind::Account => 'A',
            KeyKind::User => 'U',
        }
    }

    fn name(self) -> &'static str {
        match self {
            KeyKind::Operator => "operator",
            KeyKind::Account => "account",
            KeyKind::User => "user",
        }
    }

    /// Whether `key` is a valid public NKEY of this kind.
    pub fn is(self, key: &str) -> bool {
        key.starts_with(self.prefix()) && nkeys::KeyPair::from_public_key(key).is_ok()
    }
}

/// A claims kind: its `nats.type` and who may sign it.
pub trait Kind: DeserializeOwned {
    const TYPE: &'static str;
    const SUBJECT: KeyKind;
    const ISSUER: KeyKind;
    fn claimed_type(&self) -> &str;
    fn version(&self) -> i64;
}

/// Declares a claims kind: its `nats.type`, the kinds of key of its
/// subject and of its issuer (its `nats` object has `kind` and `version`).
macro_rules! kind {
    ($claims:ident, $type:literal, $subject:ident, $issuer:ident) => {
        impl Kind for $claims {
            const TYPE: &'static str = $type;
            const SUBJECT: KeyKind = KeyKind::$subject;
            const ISSUER: KeyKind = KeyKind::$issuer;
            fn claimed_type(&self) -> &str {
                &self.kind
            }
            fn version(&self) -> i64 {
                self.version
            }
        }
    };
}

#[derive(Deserialize)]
struct Header {
    #[serde(default)]
    typ: String,
    #[serde(default)]
    alg: String,
}

/// A part decoded: base64url without padding, strictly, as Go's decoder.
fn b64(part: &str, what: &'static str) -> Result<Vec<u8>, JwtError> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|_| JwtError::Base64(what))
}

/// Decodes and verifies a token of kind `N`.
pub fn decode<N: Kind>(token: &str) -> Result<Claims<N>, JwtError> {
    let token = token.trim();
    let mut parts = token.split('.');
    let (Some(h), Some(c), Some(s), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(JwtError::Chunks);
    };
    let header: Header =
        serde_json::from_slice(&b64(h, "header")?).map_err(|_| JwtError::Header)?;
    if !header.typ.eq_ignore_ascii_case("JWT") {
        return Err(JwtError::Type(header.typ));
    }
    let alg = header.alg.to_ascii_lowercase();
    if alg != "ed25519-nkey" && alg != "ed25519" {
        return Err(JwtError::Algorithm(header.alg));
    }
    let claims: Claims<N> =
        serde_json::from_slice(&b64(c, "claims")?).map_err(|e| JwtError::Claims(e.to_string()))?;
    if claims.v1_type.is_some() {
        // Version 1 claims (signed over the claims alone) are not read.
        return Err(JwtError::Version(1));
    }
    if !(1..=2).contains(&claims.nats.version()) {
        return Err(JwtError::Version(claims.nats.version()));
    }
    if !N::ISSUER.is(&claims.iss) {
        return Err(JwtError::Issuer(claims.iss, N::ISSUER.name()));
    }
    if !N::SUBJECT.is(&claims.sub) {
        return Err(JwtError::Subject(claims.sub, N::SUBJECT.name()));
    }
    if claims.nats.claimed_type() != N::TYPE {
        return Err(JwtError::Kind(
            claims.nats.claimed_type().to_string(),
            N::TYPE,
        ));
    }
    let sig = b64(s, "signature")?;
    let signed = &token[..h.len() + 1 + c.len()];
    let issuer = nkeys::KeyPair::from_public_key(&claims.iss)
        .map_err(|_| JwtError::Issuer(claims.iss.clone(), N::ISSUER.name()))?;
    issuer
        .verify(signed.as_bytes(), &sig)
        .map_err(|_| JwtError::Signature)?;
    Ok(claims)
}

/// Seconds since the Unix epoch, as JWT times are written.
pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// The instant a Unix time (seconds) falls on, from now.
pub fn instant_of(unix: i64) -> std::time::Instant {
    let ahead = unix.saturating_sub(unix_now()).max(0) as u64;
    std::time::Instant::now() + std::time::Duration::from_secs(ahead)
}

impl<N> Claims<N> {
    /// An account's JWT has lapsed at `now` (nats-server counts the second
    /// of `exp` itself as expired for accounts and activations).
    pub fn lapsed(&self, now: i64) -> bool {
        self.exp > 0 && self.exp <= now
    }

    /// Whether the token is out of its validity window at `now` (Unix
    /// seconds): expired, or not valid yet.
    pub fn expired(&self, now: i64) -> bool {
        (self.exp > 0 && self.exp < now) || (self.nbf > 0 && self.nbf > now)
    }
}

/// `{allow: [..], deny: [..]}` of a JWT's permissions.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default)]
pub struct Rule {
    pub allow: Vec<String>,
    pub deny: Vec<String>,
}

impl Rule {
    pub fn is_empty(&self) -> bool {
        self.allow.is_empty() && self.deny.is_empty()
    }
}

/// `resp`: a user may answer requests, this many for this long.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default)]
pub struct Responses {
    pub max: i64,
    /// Nanoseconds (Go's `time.Duration`).
    pub ttl: i64,
}

/// Publish and subscribe permissions (users', accounts' defaults).
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default)]
pub struct JwtPermissions {
    #[serde(rename = "pub")]
    pub publish: Rule,
    #[serde(rename = "sub")]
    pub subscribe: Rule,
    pub resp: Option<Responses>,
}

impl JwtPermissions {
    pub fn is_empty(&self) -> bool {
        self.publish.is_empty() && self.subscribe.is_empty() && self.resp.is_none()
    }
}

/// A time of day range (`"hh:mm:ss"`).
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default)]
pub struct TimeRange {
    pub start: String,
    pub end: String,
}

/// A list written as a JSON array or, by older tools, as one
/// comma-separated string.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct List(pub Vec<String>);

impl<'de> Deserialize<'de> for List {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<List, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Form {
            One(String),
            Many(Vec<String>),
        }
        Ok(List(match Option::<Form>::deserialize(d)? {
            None => Vec::new(),
            Some(Form::One(s)) => s
                .split(',')
                .map(|x| x.trim().to_string())
                .filter(|x| !x.is_empty())
                .collect(),
            Some(Form::Many(v)) => v,
        }))
    }
}

/// A user's claims. Limits left out are 0, as Go reads them (0 is a limit
/// of zero; -1 is none).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct User {
    #[serde(rename = "type")]
    pub kind: String,
    pub version: i64,
    #[serde(flatten)]
    pub permissions: JwtPermissions,
    pub src: List,
    pub times: Vec<TimeRange>,
    pub times_location: String,
    pub subs: i64,
    pub data: i64,
    pub payload: i64,
    pub bearer_token: bool,
    pub allowed_connection_types: Vec<String>,
    pub issuer_account: String,
}

kind!(User, "user", User, Account);

/// An account's limits; -1: none, and left out: 0 (no connection at all,
/// as nats-server reads a JWT without them).
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default)]
pub struct AccountLimits {
    pub subs: i64,
    pub conn: i64,
    pub leaf: i64,
    pub imports: i64,
    pub exports: i64,
    pub data: i64,
    pub payload: i64,
    pub wildcards: bool,
    pub disallow_bearer: bool,
}

/// An account signing key: a plain key, or a scoped one whose template
/// sets the permissions of every user it signs.
#[derive(Debug, Clone, PartialEq)]
pub enum SigningKey {
    Plain(String),
    Scoped { key: String, template: Box<User> },
}

impl SigningKey {
    pub fn key(&self) -> &str {
        match self {
            SigningKey::Plain(k) | SigningKey::Scoped { key: k, .. } => k,
        }
    }
}

impl<'de> Deserialize<'de> for SigningKey {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<SigningKey, D::Error> {
        #[derive(Deserialize)]
        struct Scope {
            #[serde(default)]
            kind: String,
            key: String,
            #[serde(default)]
            template: Option<Box<User>>,
        }
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Form {
            Plain(String),
            Scoped(Scope),
        }
        match Form::deserialize(d)? {
            Form::Plain(k) => Ok(SigningKey::Plain(k)),
            Form::Scoped(s) if s.kind == "user_scope" => Ok(SigningKey::Scoped {
                key: s.key,
                template: s.template.unwrap_or_default(),
            }),
            Form::Scoped(s) => Err(serde::de::Error::custom(format!(
                "unknown signing key kind {:?}",
                s.kind
            ))),
        }
    }
}

/// An export in an account JWT.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default)]
pub struct JwtExport {
    pub name: String,
    pub subject: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub token_req: bool,
    pub response_type: String,
    /// Nanoseconds.
    pub response_threshold: i64,
    pub revocations: HashMap<String, i64>,
}

/// An import in an account JWT.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default)]
pub struct JwtImport {
    pub name: String,
    pub subject: String,
    pub account: String,
    pub token: String,
    pub to: String,
    pub local_subject: String,
    #[serde(rename = "type")]
    pub kind: String,
}

/// An account's claims.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct Account {
    #[serde(rename = "type")]
    pub kind: String,
    pub version: i64,
    pub limits: AccountLimits,
    pub signing_keys: Vec<SigningKey>,
    pub revocations: HashMap<String, i64>,
    pub default_permissions: JwtPermissions,
    pub exports: Vec<JwtExport>,
    pub imports: Vec<JwtImport>,
}

kind!(Account, "account", Account, Operator);

/// An operator's claims.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct Operator {
    #[serde(rename = "type")]
    pub kind: String,
    pub version: i64,
    pub signing_keys: Vec<String>,
    pub system_account: String,
    /// Only signing keys sign: not the operator's own key (for accounts),
    /// not an account's own key (for users).
    pub strict_signing_key_usage: bool,
}

kind!(Operator, "operator", Operator, Operator);

/// An activation: the exporting account lets one account import a
/// private export.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct Activation {
    #[serde(rename = "type")]
    pub kind: String,
    pub version: i64,
    pub subject: String,
    pub issuer_account: String,
}

kind!(Activation, "activation", Account, Account);
