//! Whether a connection is alive and has authenticated in time: the PINGs
//! it is owed, when it is stale, when its time to send CONNECT is up.
//! A pure function of `now`: the shard's periodic pass asks, this answers
//! what to do, and tests drive it with made-up instants. No IO, no clock.

use std::time::{Duration, Instant};

/// The limits a connection is held to.
#[derive(Clone, Copy, Debug)]
pub struct Policy {
    pub ping_interval: Duration,
    /// Unanswered PINGs after which the connection is stale.
    pub ping_max: u32,
    /// How long a client has to authenticate; `None`: no authentication
    /// is required.
    pub auth_timeout: Option<Duration>,
}

/// What the periodic check says to do with a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Due {
    Nothing,
    /// Send a PING.
    Ping,
    /// Too many PINGs unanswered: `-ERR 'Stale Connection'`, close.
    Stale,
    /// No valid CONNECT in time: `-ERR 'Authentication Timeout'`, close.
    AuthTimeout,
    /// The login's JWT expired (the account's when true): close.
    Expired {
        account: bool,
    },
}

#[derive(Clone, Copy, Debug)]
pub struct Liveness {
    created: Instant,
    last_read: Instant,
    next_ping: Instant,
    pings_out: u32,
    /// The client has answered a PING: nats-server spares such a client
    /// its PINGs while it is busy.
    ponged: bool,
    /// When its login expires, and whether by its account's JWT.
    expires: Option<(Instant, bool)>,
}

impl Liveness {
    pub fn new(now: Instant, policy: &Policy) -> Liveness {
        Liveness {
            created: now,
            last_read: now,
            next_ping: now + policy.ping_interval,
            pings_out: 0,
            ponged: false,
            expires: None,
        }
    }

    /// The login holds until `at` (its account's JWT's expiry if `account`).
    pub fn expire_at(&mut self, at: Option<(Instant, bool)>) {
        self.expires = at;
    }

    /// When the connection was accepted.
    pub fn created(&self) -> Instant {
        self.created
    }

    /// When the client last sent something.
    pub fn last_read(&self) -> Instant {
        self.last_read
    }

    /// The client sent something.
    pub fn read(&mut self, now: Instant) {
        self.last_read = now;
    }

    /// The client answered a PING.
    pub fn pong(&mut self) {
        self.pings_out = 0;
        self.ponged = true;
    }

    /// What is due at `now`, given whether the client has authenticated;
    /// a PING counted as sent when it says so.
    pub fn check(&mut self, now: Instant, authenticated: bool, policy: &Policy) -> Due {
        if let Some((at, account)) = self.expires {
            if now >= at {
                return Due::Expired { account };
            }
        }
        if let Some(limit) = policy.auth_timeout.filter(|_| !authenticated) {
            if now.saturating_duration_since(self.created) >= limit {
                return Due::AuthTimeout;
            }
        }
        if now < self.next_ping {
            return Due::Nothing;
        }
        let busy = now.saturating_duration_since(self.last_read) < policy.ping_interval;
        if self.ponged && self.pings_out == 0 && busy {
            // Known to answer, and talking: no PING needed.
            self.next_ping = now + policy.ping_interval;
            return Due::Nothing;
        }
        if self.pings_out + 1 > policy.ping_max {
            return Due::Stale;
        }
        self.pings_out += 1;
        self.next_ping = now + policy.ping_interval;
        Due::Ping
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECOND: Duration = Duration::from_secs(1);

    #[test]
    fn an_expired_login_is_due_to_close() {
        let t0 = Instant::now();
        let p = policy(None);
        let mut l = Liveness::new(t0, &p);
        l.expire_at(Some((t0 + 5 * SECOND, true)));
        assert_eq!(l.check(t0 + 4 * SECOND, true, &p), Due::Nothing);
        assert_eq!(
            l.check(t0 + 5 * SECOND, true, &p),
            Due::Expired { account: true }
        );
        l.expire_at(None);
        assert_eq!(l.check(t0 + 6 * SECOND, true, &p), Due::Nothing);
    }

    fn policy(auth: Option<Duration>) -> Policy {
        Policy {
            ping_interval: 10 * SECOND,
            ping_max: 2,
            auth_timeout: auth,
        }
    }

    #[test]
    fn a_client_that_never_authenticates_times_out_at_the_limit() {
        let p = policy(Some(2 * SECOND));
        let t0 = Instant::now();
        let mut l = Liveness::new(t0, &p);
        assert_eq!(l.check(t0 + SECOND, false, &p), Due::Nothing);
        assert_eq!(l.check(t0 + 2 * SECOND, false, &p), Due::AuthTimeout);
        // Authenticated in time: never.
        let mut l = Liveness::new(t0, &p);
        assert_eq!(l.check(t0 + 3 * SECOND, true, &p), Due::Nothing);
        // No authentication required: never.
        let open = policy(None);
        let mut l = Liveness::new(t0, &open);
        assert_eq!(l.check(t0 + 3 * SECOND, false, &open), Due::Nothing);
    }

    #[test]
    fn unanswered_pings_make_a_connection_stale() {
        let p = policy(None);
        let t0 = Instant::now();
        let mut l = Liveness::new(t0, &p);
        assert_eq!(l.check(t0 + 9 * SECOND, true, &p), Due::Nothing);
        assert_eq!(l.check(t0 + 10 * SECOND, true, &p), Due::Ping);
        assert_eq!(
            l.check(t0 + 15 * SECOND, true, &p),
            Due::Nothing,
            "one interval apart"
        );
        assert_eq!(l.check(t0 + 20 * SECOND, true, &p), Due::Ping);
        assert_eq!(
            l.check(t0 + 30 * SECOND, true, &p),
            Due::Stale,
            "ping_max 2 unanswered"
        );
    }

    #[test]
    fn a_pong_resets_the_count() {
        let p = policy(None);
        let t0 = Instant::now();
        let mut l = Liveness::new(t0, &p);
        assert_eq!(l.check(t0 + 10 * SECOND, true, &p), Due::Ping);
        assert_eq!(l.check(t0 + 20 * SECOND, true, &p), Due::Ping);
        l.pong();
        // Quiet since: pinged again rather than found stale.
        assert_eq!(l.check(t0 + 30 * SECOND, true, &p), Due::Ping);
    }

    #[test]
    fn a_busy_client_known_to_answer_is_spared_pings() {
        let p = policy(None);
        let t0 = Instant::now();
        let mut l = Liveness::new(t0, &p);
        assert_eq!(l.check(t0 + 10 * SECOND, true, &p), Due::Ping);
        l.pong();
        l.read(t0 + 19 * SECOND);
        assert_eq!(l.check(t0 + 20 * SECOND, true, &p), Due::Nothing);
        // Silent for a whole interval: pinged again.
        assert_eq!(l.check(t0 + 30 * SECOND, true, &p), Due::Ping);
        // A client that never answered is pinged however busy it is.
        let mut l = Liveness::new(t0, &p);
        l.read(t0 + 9 * SECOND);
        assert_eq!(l.check(t0 + 10 * SECOND, true, &p), Due::Ping);
    }
}
