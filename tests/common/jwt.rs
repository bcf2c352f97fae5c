//! NATS JWTs for the tests, made here with the `nkeys` crate: an operator,
//! accounts it signs, users an account (or one of its signing keys)
//! signs. A JWT is `base64url(header).base64url(claims).base64url(sig)`,
//! the signature an ed25519 one by the issuer's key over the first two.

#![allow(dead_code)]

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use nkeys::KeyPair;
use serde_json::{json, Value};

pub const HEADER: &str = r#"{"typ":"JWT","alg":"ed25519-nkey"}"#;

pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// Signs `claims` (given `sub` and `nats`; `iss`, `iat`, `jti` filled in
/// unless present) by `issuer`, with `header`.
pub fn encode_with(header: &str, mut claims: Value, issuer: &KeyPair) -> String {
    let c = claims.as_object_mut().expect("claims are an object");
    c.entry("iss").or_insert(json!(issuer.public_key()));
    c.entry("iat").or_insert(json!(now()));
    c.entry("jti")
        .or_insert(json!(format!("{:X}", fastrand::u128(..))));
    let signed = format!(
        "{}.{}",
        B64.encode(header),
        B64.encode(serde_json::to_vec(&claims).unwrap())
    );
    let sig = issuer.sign(signed.as_bytes()).unwrap();
    format!("{signed}.{}", B64.encode(sig))
}

pub fn encode(claims: Value, issuer: &KeyPair) -> String {
    encode_with(HEADER, claims, issuer)
}

/// A self-signed operator JWT; `nats` adds to its claims.
pub fn operator(op: &KeyPair, nats: Value) -> String {
    let mut n = json!({"type": "operator", "version": 2});
    merge(&mut n, nats);
    encode(json!({"sub": op.public_key(), "name": "op", "nats": n}), op)
}

/// An account JWT for `account`, signed by `issuer` (the operator or one of
/// its signing keys); `nats` adds to its claims (limits unlimited unless
/// it says otherwise).
pub fn account(issuer: &KeyPair, account: &KeyPair, nats: Value) -> String {
    let mut n = json!({
        "type": "account",
        "version": 2,
        "limits": {"subs": -1, "conn": -1, "leaf": -1, "imports": -1, "exports": -1,
                   "data": -1, "payload": -1, "wildcards": true},
    });
    merge(&mut n, nats);
    encode(
        json!({"sub": account.public_key(), "name": "acc", "nats": n}),
        issuer,
    )
}

/// A user JWT for `user`, signed by `issuer` (the account, or a signing key
/// of the account then named in `issuer_account`); `nats` adds to it.
pub fn user(issuer: &KeyPair, user: &KeyPair, nats: Value) -> String {
    let mut n = json!({
        "type": "user", "version": 2, "pub": {}, "sub": {},
        "subs": -1, "data": -1, "payload": -1,
    });
    merge(&mut n, nats);
    encode(
        json!({"sub": user.public_key(), "name": "u", "nats": n}),
        issuer,
    )
}

/// `extra`'s keys into `base` (objects merged one level down).
fn merge(base: &mut Value, extra: Value) {
    let (Some(b), Value::Object(e)) = (base.as_object_mut(), extra) else {
        return;
    };
    for (k, v) in e {
        match (b.get_mut(&k), v) {
            (Some(Value::Object(bo)), Value::Object(vo)) => bo.extend(vo),
            (_, v) => {
                b.insert(k, v);
            }
        }
    }
}

/// The nonce in an INFO line, signed by `user`: CONNECT's `sig`.
pub fn sign_nonce(info: &str, user: &KeyPair) -> String {
    let v: Value = serde_json::from_str(info.trim_start_matches("INFO ")).unwrap();
    let nonce = v["nonce"].as_str().expect("a nonce in INFO");
    B64.encode(user.sign(nonce.as_bytes()).unwrap())
}

/// CONNECT's JSON for a user JWT and the signature of INFO's nonce.
pub fn connect(info: &str, jwt: &str, user: &KeyPair) -> String {
    json!({"verbose": false, "jwt": jwt, "sig": sign_nonce(info, user)}).to_string()
}

/// A `.creds` file's text, as nsc writes it.
pub fn creds(jwt: &str, user: &KeyPair) -> String {
    format!(
        "-----BEGIN NATS USER JWT-----\n{jwt}\n------END NATS USER JWT------\n\n\
         ************************* IMPORTANT *************************\n\
         NKEY Seed printed below can be used to sign and prove identity.\n\n\
         -----BEGIN USER NKEY SEED-----\n{}\n------END USER NKEY SEED------\n",
        user.seed().unwrap()
    )
}

/// An operator with a system account and the accounts given, written as
/// the configuration that trusts them: `operator`, `system_account`,
/// `resolver: MEMORY` and `resolver_preload`.
pub struct Operator {
    pub key: KeyPair,
    pub system: KeyPair,
    /// A strict operator's signing key: the only key that signs accounts.
    pub signing: Option<KeyPair>,
    accounts: Vec<(String, String)>,
}

impl Operator {
    pub fn new() -> Operator {
        Operator::made(None)
    }

    /// An operator with `strict_signing_key_usage`: accounts are signed by
    /// its signing key.
    pub fn strict() -> Operator {
        Operator::made(Some(KeyPair::new_operator()))
    }

    fn made(signing: Option<KeyPair>) -> Operator {
        let key = KeyPair::new_operator();
        let system = KeyPair::new_account();
        let sys_jwt = account(signing.as_ref().unwrap_or(&key), &system, json!({}));
        Operator {
            accounts: vec![(system.public_key(), sys_jwt)],
            key,
            system,
            signing,
        }
    }

    /// Adds an account JWT, signed as the operator signs accounts.
    pub fn with(mut self, account_key: &KeyPair, nats: Value) -> Operator {
        let jwt = account(
            self.signing.as_ref().unwrap_or(&self.key),
            account_key,
            nats,
        );
        self.accounts.push((account_key.public_key(), jwt));
        self
    }

    /// Adds an account under `key` with a JWT made elsewhere.
    pub fn with_jwt(mut self, key: &str, jwt: String) -> Operator {
        self.accounts.push((key.to_string(), jwt));
        self
    }

    pub fn config(&self) -> String {
        let mut nats = json!({"system_account": self.system.public_key()});
        if let Some(sk) = &self.signing {
            nats["signing_keys"] = json!([sk.public_key()]);
            nats["strict_signing_key_usage"] = json!(true);
        }
        let op = operator(&self.key, nats);
        let preload: Vec<String> = self
            .accounts
            .iter()
            .map(|(k, j)| format!("  {k}: \"{j}\""))
            .collect();
        format!(
            "operator: \"{op}\"\nsystem_account: {}\nresolver: MEMORY\nresolver_preload {{\n{}\n}}\n",
            self.system.public_key(),
            preload.join("\n")
        )
    }
}

impl Default for Operator {
    fn default() -> Self {
        Operator::new()
    }
}
