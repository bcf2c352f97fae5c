//! Who a client is: the credentials it gives in CONNECT checked against the
//! options, and the account it binds to. Accounts keep subject spaces apart;
//! every client belongs to one (`$G` when none is configured).

use std::collections::HashMap;
use std::time::Duration;

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
        for a in &opts.accounts {
            if a.name != GLOBAL_ACCOUNT {
                names.push(a.name.clone());
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
}

/// Checks CONNECT credentials against the configured users and token.
pub struct Authenticator {
    token: Option<String>,
    single: Option<(String, String)>,
    users: HashMap<String, UserEntry>,
    no_auth_user: Option<String>,
    timeout: Duration,
}

impl Authenticator {
    pub fn new(opts: &Options, accounts: &Accounts) -> Authenticator {
        let mut users = HashMap::new();
        for u in opts.auth.users.iter().flatten() {
            users.insert(
                u.username.clone(),
                UserEntry {
                    password: u.password.clone(),
                    account: 0,
                    types: u.allowed_connection_types.clone(),
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
                    },
                );
            }
        }
        let single = match (&opts.auth.user, &opts.auth.password) {
            (Some(u), p) => Some((u.clone(), p.clone().unwrap_or_default())),
            (None, _) => None,
        };
        Authenticator {
            token: opts.auth.token.clone(),
            single,
            users,
            no_auth_user: opts.no_auth_user.clone(),
            timeout: opts.auth.timeout.unwrap_or(DEFAULT_AUTH_TIMEOUT),
        }
    }

    /// Whether clients must authenticate (INFO's `auth_required`).
    pub fn required(&self) -> bool {
        self.token.is_some() || self.single.is_some() || !self.users.is_empty()
    }

    /// How long a client may take to send a valid CONNECT.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// The account the client binds to, or `None`: Authorization Violation.
    pub fn check(&self, c: &ConnectOptions, kind: ConnectionType) -> Option<u32> {
        if !self.required() {
            return Some(0);
        }
        if let Some(token) = &self.token {
            return (c.auth_token.as_deref() == Some(token.as_str())).then_some(0);
        }
        if let Some((user, pass)) = &self.single {
            let ok = c.user.as_deref() == Some(user.as_str())
                && c.pass.as_deref().unwrap_or("") == pass.as_str();
            return ok.then_some(0);
        }
        let (name, entry) = match (&c.user, &self.no_auth_user) {
            (Some(name), _) => (name.as_str(), self.users.get(name)?),
            (None, Some(default)) if c.auth_token.is_none() => {
                (default.as_str(), self.users.get(default)?)
            }
            _ => return None,
        };
        let given_user = c.user.as_deref() == Some(name);
        if given_user && entry.password.as_deref().unwrap_or("") != c.pass.as_deref().unwrap_or("")
        {
            return None;
        }
        if let Some(types) = &entry.types {
            if !types.is_empty() && !types.contains(&kind) {
                return None;
            }
        }
        Some(entry.account)
    }
}
