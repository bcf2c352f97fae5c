//! A reloaded configuration on one shard: it takes over for everything
//! that follows, and every connection's login is decided again under it,
//! as nats-server does on SIGHUP. A login that no longer holds (its user
//! gone, its password or token changed, its connection type no longer
//! allowed) is closed with `Authorization Violation`; one that holds takes
//! on its user's new permissions and limits, and loses the subscriptions
//! they no longer allow (each told with nats-server's error).

use std::rc::Rc;
use std::sync::Arc;

use super::report::Kept;
use super::Shard;
use crate::auth::{Login, Verdict};
use crate::conn::{Client, Credentials, Reason};
use crate::protocol::{encode, ProtocolError};
use crate::server::ServerContext;
use crate::websocket::close;

impl Shard {
    /// Puts `ctx` in force and decides every login again under it; the
    /// connections it kept.
    pub(crate) fn take_config(&self, ctx: Arc<ServerContext>) -> Kept {
        self.set_ctx(ctx.clone());
        let mut kept = Kept {
            total: 0,
            by_account: vec![0; ctx.accounts.len()],
        };
        for c in self.all_clients() {
            if !c.is_open() {
                continue;
            }
            if c.login_pending() {
                // A password being checked is decided under the new rules
                // when its check ends.
                kept.total += 1;
                continue;
            }
            let admitted = if c.flags().connected {
                // Its login again, in the account it is in.
                match login_again(&ctx, &c) {
                    Some(login) if login.account == c.account() => {
                        self.keep(&c, login);
                        true
                    }
                    _ => false,
                }
            } else {
                // No CONNECT yet: it may stay only if the new rules let a
                // client in without one (as nats-server decides it).
                decide_again(&ctx, &Credentials::default(), &c).is_some()
            };
            if !admitted {
                crate::error!(
                    "{} - cid:{} - authentication error - the reloaded configuration does not admit it",
                    c.addr,
                    c.cid
                );
                super::close_fatally(&c, ProtocolError::AuthorizationViolation);
            } else {
                kept.total += 1;
                if c.counted() {
                    if let Some(n) = kept.by_account.get_mut(c.account() as usize) {
                        *n += 1;
                    }
                }
            }
            self.mark_dirty(&c);
        }
        self.flush();
        kept
    }

    /// After a reload lowered `max_connections` or an account's limit:
    /// closes logins of this shard while the server is over them (newest
    /// first), each claimed from what the shards share.
    pub(crate) fn trim(&self) {
        let mut clients = self.all_clients();
        clients.sort_by_key(|c| std::cmp::Reverse(c.cid));
        for c in clients
            .iter()
            .filter(|c| c.is_open() && c.flags().connected)
        {
            self.over_limit(c);
            self.mark_dirty(c);
        }
        self.flush();
    }

    /// Closes `c` when a lowered limit has connections to spare, claimed
    /// from what the server is over (server-wide first, then its
    /// account's); whether it did.
    fn over_limit(&self, c: &Rc<Client>) -> bool {
        let mut excess = self.rt.excess.lock().unwrap_or_else(|e| e.into_inner());
        if excess.0 > 0 {
            excess.0 -= 1;
            if let Some(n) = excess.1.get_mut(c.account() as usize) {
                // One fewer in its account too.
                *n -= i64::from(c.counted() && *n > 0);
            }
            drop(excess);
            encode::write_err(&mut c.out(), "maximum connections exceeded");
            c.note_reason(Reason::MaxConnectionsExceeded);
            c.close_with(close::POLICY_VIOLATION, "maximum connections exceeded");
            return true;
        }
        match excess.1.get_mut(c.account() as usize) {
            Some(n) if *n > 0 && c.counted() => {
                *n -= 1;
                drop(excess);
                super::close_fatally(c, ProtocolError::MaxAccountConnections);
                true
            }
            _ => false,
        }
    }

    /// A login that still holds: its user's permissions and limits now.
    fn keep(&self, c: &Rc<Client>, login: Login) {
        let user = login.user.clone();
        c.set_permissions(login.permissions, login.user);
        c.set_limits(login.limits);
        for key in c.subs_after_new_permissions() {
            let Some(sub) = self.remove_sub(c, key) else {
                continue;
            };
            let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
            let (subject, sid) = (text(&sub.subject), text(&sub.sid));
            let what = match &sub.queue {
                Some(q) => format!("{subject:?} using queue {:?} (sid {sid:?})", text(q)),
                None => format!("{subject:?} (sid {sid:?})"),
            };
            encode::write_err(
                &mut c.out(),
                &format!("Permissions Violation for Subscription to {what}"),
            );
            crate::info!(
                "Removed sub {what} for {} - not authorized",
                user.as_deref().unwrap_or("")
            );
        }
    }
}

/// The login `c` made, decided again under `ctx` with what it was decided
/// on.
fn login_again(ctx: &ServerContext, c: &Client) -> Option<Login> {
    decide_again(ctx, &c.credentials().unwrap_or_default(), c)
}

/// A login of `c` decided under `ctx` with `creds`; a bcrypt-hashed
/// password is not checked again: the hash it was checked against keeps
/// the login, another one ends it.
pub(crate) fn decide_again(ctx: &ServerContext, creds: &Credentials, c: &Client) -> Option<Login> {
    let given = creds.connect.clone().unwrap_or_default();
    match ctx
        .auth
        .check(&given, c.kind, c.cid, creds.cert.as_ref(), c.addr.ip())
    {
        Verdict::Granted(login) => Some(login),
        Verdict::Bcrypt { hash, login, .. } if creds.hash.as_deref() == Some(hash.as_str()) => {
            Some(login)
        }
        _ => None,
    }
}
