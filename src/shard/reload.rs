//! A reloaded configuration on one shard: it takes over for everything
//! that follows, and every connection's login is decided again under it,
//! as nats-server does on SIGHUP. A login that no longer holds (its user
//! gone, its password or token changed, its connection type no longer
//! allowed) is closed with `Authorization Violation`; one that holds takes
//! on its user's new permissions and limits, and loses the subscriptions
//! they no longer allow (each told with nats-server's error).

use std::rc::Rc;
use std::sync::Arc;

use super::Shard;
use crate::auth::{Login, Verdict};
use crate::conn::Client;
use crate::protocol::{encode, ProtocolError};
use crate::server::ServerContext;

impl Shard {
    pub(crate) fn reload(&self, ctx: Arc<ServerContext>) {
        self.set_ctx(ctx.clone());
        for c in self.all_clients() {
            if !c.is_open() || !c.flags().connected {
                // Not logged in yet: its CONNECT meets the new rules.
                continue;
            }
            match login_again(&ctx, &c) {
                Some(login) if login.account == c.account() => self.keep(&c, login),
                _ => {
                    crate::error!(
                        "{} - cid:{} - authentication error - the reloaded configuration does not admit it",
                        c.addr,
                        c.cid
                    );
                    super::close_fatally(&c, ProtocolError::AuthorizationViolation);
                }
            }
            self.mark_dirty(&c);
        }
        self.flush();
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
/// on; a bcrypt-hashed password is not checked again: the same hash keeps
/// the login, another one ends it.
fn login_again(ctx: &ServerContext, c: &Client) -> Option<Login> {
    let creds = c.credentials().unwrap_or_default();
    let given = creds.connect.unwrap_or_default();
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
