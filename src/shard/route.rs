//! The message path of a shard: subscribing (and announcing first and last
//! interest to the other shards), publishing (local subscribers directly,
//! other shards through their mailboxes, once each), delivering, and what
//! arrives from the other shards.

use std::rc::Rc;
use std::time::Instant;

use super::run::Origin;
use super::{AccountIndex, Envelope, PeerInterest, Published, QueueNames, Shard, SubRef};
use crate::auth::imports;
use crate::conn::{Added, Client};
use crate::protocol::msg::Outgoing;
use crate::protocol::{encode, ProtocolError};
use crate::subject::queue::{self, Spread};
use crate::subject::QueueGroup;
use slab::Slab;

/// Where one published message goes on another shard.
pub(crate) struct Target {
    shard: u16,
    plain: bool,
    queues: QueueNames,
}

/// The target for `shard` in `targets`, added if missing.
fn target(targets: &mut Vec<Target>, shard: u16) -> &mut Target {
    let i = match targets.iter().position(|t| t.shard == shard) {
        Some(i) => i,
        None => {
            targets.push(Target {
                shard,
                plain: false,
                queues: QueueNames::default(),
            });
            targets.len() - 1
        }
    };
    &mut targets[i]
}

/// A queue group's member for one message, chosen among all the server's
/// members: one on this shard, or the shard that will pick one of its own.
enum Member {
    Here(SubRef),
    On(u16),
}

/// One member of a queue group, every member of the server equally likely:
/// `here` holds this shard's members (`skip`: the publisher's own, when it
/// asked not to hear itself), `there` the other shards' with their counts.
fn choose_member(
    here: Option<&QueueGroup<SubRef>>,
    there: Option<&QueueGroup<PeerInterest>>,
    skip: Option<u32>,
) -> Option<Member> {
    let members = here.map_or(&[][..], |g| &g.members[..]);
    let remote = there.map_or(&[][..], |g| &g.members[..]);
    let eligible = |s: &&SubRef| skip != Some(s.conn);
    let local = match skip {
        None => members.len(),
        Some(_) => members.iter().filter(eligible).count(),
    };
    match queue::pick_spread(local, remote, |p| p.members)? {
        Spread::Local(i) => members
            .iter()
            .filter(eligible)
            .nth(i)
            .copied()
            .map(Member::Here),
        Spread::Remote(p) => Some(Member::On(p.shard)),
    }
}

impl Shard {
    pub fn subscribe(
        &self,
        client: &Rc<Client>,
        subject: &[u8],
        queue: Option<&[u8]>,
        sid: &[u8],
    ) -> Result<(), ProtocolError> {
        // The login's own limit (from its JWTs) already counts the server's.
        let limit = match client.limits().subs {
            // Never reached (such a login is closed at once), but 0 means
            // "none" below.
            Some(0) => return Err(ProtocolError::MaxSubscriptions),
            Some(n) => n as usize,
            None => self.ctx().opts.max_subscriptions,
        };
        let key = match client.add_sub(sid, subject, queue, limit)? {
            Added::New(key) => key,
            // nats-server ignores a SUB whose sid is taken.
            Added::SidTaken => return Ok(()),
        };
        let sub_ref = SubRef {
            conn: client.key() as u32,
            sub: key as u32,
        };
        let account = client.account();
        let mut accounts = self.accounts.borrow_mut();
        let acct = &mut accounts[account as usize];
        if acct.local.insert(subject, queue, sub_ref).is_err() {
            drop(accounts);
            client.remove_sub(key);
            return Err(ProtocolError::InvalidSubject);
        }
        let count = acct
            .interest
            .entry((subject.into(), queue.map(Into::into)))
            .or_insert(0);
        *count += 1;
        let members = *count;
        drop(accounts);
        self.announce(client, account, subject, queue, members, members == 1);
        Ok(())
    }

    /// UNSUB: now, or after `max` deliveries in all.
    pub fn unsubscribe(&self, client: &Rc<Client>, sid: &[u8], max: Option<u64>) {
        if let Some(key) = client.unsubscribe(sid, max) {
            self.remove_sub(client, key);
        }
    }

    pub fn unsubscribe_all(&self, client: &Rc<Client>) {
        for key in client.sub_keys() {
            self.remove_sub(client, key);
        }
    }

    /// Removes one subscription of `client`, from the connection and the
    /// subject index; the subscription, when there was one.
    pub(crate) fn remove_sub(&self, client: &Rc<Client>, key: usize) -> Option<crate::conn::Sub> {
        let sub = client.remove_sub(key)?;
        let account = client.account();
        let mut accounts = self.accounts.borrow_mut();
        let acct = &mut accounts[account as usize];
        let sub_ref = SubRef {
            conn: client.key() as u32,
            sub: key as u32,
        };
        acct.local
            .remove(&sub.subject, sub.queue.as_deref(), sub_ref);
        let interest_key = (sub.subject.clone(), sub.queue.clone());
        let left = match acct.interest.get_mut(&interest_key) {
            Some(n) if *n > 1 => {
                *n -= 1;
                Some(*n)
            }
            Some(_) => {
                acct.interest.remove(&interest_key);
                Some(0)
            }
            None => None,
        };
        drop(accounts);
        if let Some(left) = left {
            let queue = sub.queue.as_deref();
            self.announce(client, account, &sub.subject, queue, left, left == 0);
        }
        Some(sub)
    }

    /// Tells every other shard how many subscriptions this shard now has
    /// on (subject, queue): for plain interest only when it starts or ends
    /// (`edge`), for a queue group at every change. Interest that starts or
    /// ends fences the client until every shard has it; a queue group's
    /// changed count does not (the group is reachable either way, only its
    /// weight changes).
    fn announce(
        &self,
        client: &Rc<Client>,
        account: u32,
        subject: &[u8],
        queue: Option<&[u8]>,
        members: u32,
        edge: bool,
    ) {
        let shards = self.shard_count();
        if shards < 2 || (!edge && queue.is_none()) {
            return;
        }
        let mut seq = self.interest_seq.get();
        if edge {
            seq += 1;
            self.interest_seq.set(seq);
            if client.fence(seq) {
                self.fenced.borrow_mut().push(client.clone());
            }
        }
        let mut outbox = self.outbox.borrow_mut();
        for to in (0..shards).filter(|&s| s != self.id) {
            outbox.send(
                to,
                Envelope::Interest {
                    account,
                    subject: subject.into(),
                    queue: queue.map(Into::into),
                    members,
                    seq,
                },
                0,
            );
        }
    }

    /// PING: PONG. (Held, like all output after a SUB, until the other
    /// shards have the subscription: see `Client::fenced`.)
    pub fn pong(&self, client: &Rc<Client>) {
        encode::write_pong(&mut client.out());
    }

    fn peers_applied(&self, seq: u64) -> bool {
        self.acked
            .borrow()
            .iter()
            .enumerate()
            .all(|(shard, &acked)| shard == self.id || acked >= seq)
    }

    /// Routes one published message to every interested subscriber, here
    /// and on the other shards.
    pub fn publish(
        &self,
        from: &Rc<Client>,
        subject: &[u8],
        reply: Option<&[u8]>,
        header_len: usize,
        message: &[u8],
    ) {
        let account = from.account();
        let mut interest = self.route(account, Some(from), subject, reply, header_len, message);
        if self.crosses_accounts.get() && self.ctx().imports.involve(account) {
            interest |= self.cross_accounts(account, subject, reply, header_len, message, 0);
        }
        if let Some(reply) = reply {
            if interest {
                self.activity.passed_request();
            } else {
                self.no_responders(from, reply);
            }
        }
    }

    /// Routes a message published in `account` (by `from`, or arriving
    /// through an import) to every interested subscriber of that account,
    /// here and on the other shards; whether there was one.
    fn route(
        &self,
        account: u32,
        from: Option<&Rc<Client>>,
        subject: &[u8],
        reply: Option<&[u8]>,
        header_len: usize,
        message: &[u8],
    ) -> bool {
        let (local, remote) = {
            let mut accounts = self.accounts.borrow_mut();
            let acct: &mut AccountIndex = &mut accounts[account as usize];
            let local = acct.local.matches(subject);
            let remote = (self.shard_count() > 1).then(|| acct.peers.matches(subject));
            (local, remote)
        };
        let echo = from.is_none_or(|f| f.flags().echo);
        let me = from.map_or(u32::MAX, |f| f.key() as u32);
        let mut interest = false;
        let gathered = self.gather(
            Origin {
                account,
                conn: from.map(|_| me),
            },
            subject,
            reply,
            header_len,
            message,
            &local,
        );
        if gathered {
            interest = true;
        } else {
            // Whatever was gathered goes before this message.
            self.write_run();
        }
        // Queue groups: one member each among all the server's members;
        // those chosen on other shards are sent there with the group named.
        let mut targets = std::mem::take(&mut *self.targets.borrow_mut());
        if !gathered && !local.is_empty() {
            let out = Outgoing::new(
                subject,
                reply,
                header_len,
                message,
                local.plain.len() + local.queues.len(),
            );
            let clients = self.clients.borrow();
            for &sub in &local.plain {
                if !echo && sub.conn == me {
                    continue;
                }
                interest = true;
                self.deliver(&clients, sub, &out);
            }
            let skip = (!echo).then_some(me);
            for group in &local.queues {
                let there = remote.as_ref().and_then(|r| r.queue(&group.name));
                match choose_member(Some(group), there, skip) {
                    Some(Member::Here(sub)) => {
                        interest = true;
                        self.deliver(&clients, sub, &out);
                    }
                    Some(Member::On(shard)) => target(&mut targets, shard).queues.push(&group.name),
                    None => {}
                }
            }
        }
        if let Some(remote) = remote {
            for p in &remote.plain {
                target(&mut targets, p.shard).plain = true;
            }
            // Groups with no member here.
            for group in &remote.queues {
                if local.queue(&group.name).is_none() {
                    if let Some(Member::On(shard)) = choose_member(None, Some(group), None) {
                        target(&mut targets, shard).queues.push(&group.name);
                    }
                }
            }
            if !targets.is_empty() {
                interest = true;
                let msg = Published::new(account, subject, reply, header_len, message);
                let weight = msg.weight();
                let mut outbox = self.outbox.borrow_mut();
                for t in targets.drain(..) {
                    outbox.send(
                        t.shard as usize,
                        Envelope::Msg {
                            msg: msg.clone(),
                            plain: t.plain,
                            queues: t.queues,
                            handed_on: false,
                        },
                        weight,
                    );
                }
            }
        }
        *self.targets.borrow_mut() = targets;
        interest
    }

    /// Where a message published in `account` goes in other accounts: a
    /// response owed to a requester of another account, the streams other
    /// accounts import from this one, the services this one imports (the
    /// request's reply subject becomes a response subject of the exporter,
    /// and the exporter learns the requesting account from a header, as
    /// nats-server tells it). Whether anyone took it; a service import
    /// always does (nats-server counts it as interest).
    fn cross_accounts(
        &self,
        account: u32,
        subject: &[u8],
        reply: Option<&[u8]>,
        header_len: usize,
        message: &[u8],
        hops: u8,
    ) -> bool {
        let imports = &self.ctx().imports;
        // The clock is read only when a response is owed or answered.
        let now = std::cell::OnceCell::new();
        let now = || *now.get_or_init(Instant::now);
        let mut interest = false;
        let onward = |to: u32, subject: &[u8], reply: Option<&[u8]>, hl: usize, m: &[u8]| {
            let mut took = self.route(to, None, subject, reply, hl, m);
            if hops + 1 < imports::MAX_HOPS && imports.involve(to) {
                took |= self.cross_accounts(to, subject, reply, hl, m, hops + 1);
            }
            took
        };
        if let Some((to, requester_reply)) = imports.answer(account, subject, now) {
            interest |= onward(to, &requester_reply, None, header_len, message);
        }
        for r in imports.streams(account) {
            if let Some(mapped) = r.map(subject, now) {
                interest |= onward(r.to_account, &mapped, reply, header_len, message);
            }
        }
        for r in imports.services(account) {
            let Some(mapped) = r.map(subject, now) else {
                continue;
            };
            let token = reply.map(|reply| {
                let token = response_subject();
                imports.owe(token.clone(), account, reply, r, now());
                token
            });
            let (hl, m) = with_request_info(header_len, message, self.ctx().accounts.name(account));
            onward(r.to_account, &mapped, token.as_deref(), hl, &m);
            interest = true;
        }
        interest
    }

    /// A request nobody listens to: tell the requester at once with a 503
    /// status on its reply subscription (when it asked for that).
    fn no_responders(&self, from: &Rc<Client>, reply: &[u8]) {
        let flags = from.flags();
        if !(flags.no_responders && flags.headers) {
            return;
        }
        if from.write_to_sub_matching(reply, |out, sid| {
            encode::write_no_responders(out, reply, sid)
        }) {
            self.mark_dirty(from);
        }
    }

    /// Writes one message to one subscription's connection.
    fn deliver(&self, clients: &Slab<Rc<Client>>, sub: SubRef, msg: &Outgoing<'_>) {
        self.deliver_with(clients, sub, 1, msg.subject(), |out, sid, _, headers| {
            msg.write(out, sid, headers);
            msg.counted(headers)
        });
        if self.tracks_replies.get() {
            if let (Some(reply), Some(client)) = (msg.reply(), clients.get(sub.conn as usize)) {
                client.delivered_request(reply);
            }
        }
    }

    /// Writes up to `available` messages on `subject` for one subscription
    /// (fewer when its auto-unsubscribe limit comes first, none when its
    /// user may not receive them) with `write(out, sid, n, headers)`,
    /// which returns their payload bytes (those sent, those stripped);
    /// then
    /// counts them, wakes the writer, checks for a slow consumer and
    /// removes a subscription that reached its limit.
    #[inline(always)]
    pub(crate) fn deliver_with(
        &self,
        clients: &Slab<Rc<Client>>,
        sub: SubRef,
        available: usize,
        subject: &[u8],
        write: impl FnOnce(&mut Vec<u8>, &[u8], usize, bool) -> (u64, u64),
    ) {
        let Some(client) = clients.get(sub.conn as usize) else {
            return;
        };
        if !client.is_open() {
            return;
        }
        let Some(delivered) = client.deliver(sub.sub as usize, available, subject, write) else {
            return;
        };
        self.mark_dirty(client);
        if delivered.pending as i64 > self.max_pending.get() {
            self.slow_consumer(client);
        }
        if delivered.expired {
            self.remove_sub(client, sub.sub as usize);
        }
    }

    /// One envelope from shard `from`. Interest changes to acknowledge are
    /// gathered in `acks`.
    pub(crate) fn receive(&self, from: usize, envelope: Envelope, acks: &mut Vec<(usize, u64)>) {
        match envelope {
            Envelope::Interest {
                account,
                subject,
                queue,
                members,
                seq,
            } => {
                let mut accounts = self.accounts.borrow_mut();
                accounts[account as usize].set_peer_interest(subject, queue, from as u16, members);
                match acks.iter_mut().find(|(s, _)| *s == from) {
                    Some(a) => a.1 = a.1.max(seq),
                    None => acks.push((from, seq)),
                }
            }
            Envelope::InterestAck { seq } => {
                {
                    let mut acked = self.acked.borrow_mut();
                    acked[from] = acked[from].max(seq);
                }
                self.release_fences();
            }
            Envelope::Msg {
                msg,
                plain,
                queues,
                handed_on,
            } => self.deliver_remote(&msg, plain, &queues, handed_on),
        }
    }

    /// Lets out the output of connections whose interest every shard has.
    fn release_fences(&self) {
        let fenced = std::mem::take(&mut *self.fenced.borrow_mut());
        let mut still = Vec::new();
        for client in fenced {
            if self.peers_applied(client.fence_needed()) {
                client.lift_fence();
            } else {
                still.push(client);
            }
        }
        self.fenced.borrow_mut().extend(still);
    }

    fn deliver_remote(&self, msg: &Published, plain: bool, queues: &QueueNames, handed_on: bool) {
        let local = {
            let mut accounts = self.accounts.borrow_mut();
            accounts[msg.account as usize].local.matches(msg.subject())
        };
        if msg.reply().is_some() {
            self.activity.passed_request();
        }
        let origin = Origin {
            account: msg.account,
            conn: None,
        };
        if plain
            && queues.is_empty()
            && self.gather(
                origin,
                msg.subject(),
                msg.reply(),
                msg.header_len,
                msg.message(),
                &local,
            )
        {
            return;
        }
        self.write_run();
        let fanout = if plain { local.plain.len() } else { 0 } + queues.iter().count();
        let out = Outgoing::new(
            msg.subject(),
            msg.reply(),
            msg.header_len,
            msg.message(),
            fanout,
        );
        let clients = self.clients.borrow();
        if plain {
            for &sub in &local.plain {
                self.deliver(&clients, sub, &out);
            }
        }
        let mut orphaned: Vec<&[u8]> = Vec::new();
        for name in queues.iter() {
            match local.queue(name).and_then(|g| queue::pick(&g.members)) {
                Some(sub) => self.deliver(&clients, sub, &out),
                None => orphaned.push(name),
            }
        }
        drop(clients);
        if !orphaned.is_empty() && !handed_on {
            self.hand_on(msg, &orphaned);
        }
    }

    /// Messages for queue groups whose members here left while the messages
    /// were on their way: each goes to one shard that still has members
    /// (chosen by their counts), once; past that leg a message with no
    /// member left is dropped, so nothing goes back and forth.
    fn hand_on(&self, msg: &Published, groups: &[&[u8]]) {
        let peers = {
            let mut accounts = self.accounts.borrow_mut();
            accounts[msg.account as usize].peers.matches(msg.subject())
        };
        let mut outbox = self.outbox.borrow_mut();
        for name in groups {
            let Some(Member::On(shard)) = choose_member(None, peers.queue(name), None) else {
                continue;
            };
            outbox.send(
                shard as usize,
                Envelope::Msg {
                    msg: msg.clone(),
                    plain: false,
                    queues: QueueNames::one(name),
                    handed_on: true,
                },
                msg.weight(),
            );
        }
    }
}

impl AccountIndex {
    /// Shard `shard` now has `members` subscriptions on (subject, queue).
    fn set_peer_interest(
        &mut self,
        subject: Box<[u8]>,
        queue: Option<Box<[u8]>>,
        shard: u16,
        members: u32,
    ) {
        let key = ((subject, queue), shard);
        let before = match members {
            0 => self.peer_members.remove(&key),
            n => self.peer_members.insert(key.clone(), n),
        };
        if before == Some(members) {
            return;
        }
        let ((subject, queue), _) = &key;
        if let Some(old) = before {
            let old = PeerInterest {
                shard,
                members: old,
            };
            self.peers.remove(subject, queue.as_deref(), old);
        }
        if members > 0 {
            let _ = self
                .peers
                .insert(subject, queue.as_deref(), PeerInterest { shard, members });
        }
    }
}

/// A fresh reply subject for a request handed to another account: random,
/// so that nobody there can guess one owed to someone else.
fn response_subject() -> Box<[u8]> {
    let mut s = imports::RESPONSE_PREFIX.to_vec();
    s.extend((0..6).map(|_| fastrand::alphanumeric() as u8));
    s.push(b'.');
    s.extend((0..10).map(|_| fastrand::alphanumeric() as u8));
    s.into()
}

/// The message with nats-server's `Nats-Request-Info` header naming the
/// requesting account added (after any headers it has): `(header_len, message)`.
fn with_request_info(header_len: usize, message: &[u8], account: &str) -> (usize, Vec<u8>) {
    let line = format!(
        "Nats-Request-Info: {}\r\n",
        serde_json::json!({ "acc": account })
    );
    let mut out = Vec::with_capacity(message.len() + line.len() + 12);
    if header_len >= 4 {
        // Before the blank line that ends the headers.
        out.extend_from_slice(&message[..header_len - 2]);
    } else {
        out.extend_from_slice(b"NATS/1.0\r\n");
    }
    out.extend_from_slice(line.as_bytes());
    out.extend_from_slice(b"\r\n");
    let hl = out.len();
    out.extend_from_slice(&message[header_len.min(message.len())..]);
    (hl, out)
}
