//! One client connection: its shared state (outbound buffer, subscriptions,
//! flags), the task that reads and parses what it sends (`reader`), and the
//! task that writes what it is owed (`writer`).
//!
//! Delivery from any connection of the shard appends to the receiver's
//! outbound buffer; the shard wakes the writer once per batch, and the writer
//! sends everything gathered in one write. The writer never blocks anyone:
//! a connection that falls behind by more than max_pending is closed.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Instant;

use slab::Slab;
use tokio::sync::Notify;

use crate::config::options::ConnectionType;

pub mod reader;
pub mod writer;

/// Where a connection is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    Open,
    /// Closing: with `flush`, what is queued is written first (e.g. a fatal
    /// -ERR); without, the socket is shut at once (slow consumer, peer gone).
    Closing {
        flush: bool,
    },
}

/// What the client asked for in CONNECT (or nats-server's defaults before it).
#[derive(Clone, Copy, Debug)]
pub struct Flags {
    pub connected: bool,
    pub verbose: bool,
    pub pedantic: bool,
    pub echo: bool,
    pub headers: bool,
    pub no_responders: bool,
}

impl Default for Flags {
    fn default() -> Self {
        // nats-server's client defaults before CONNECT says otherwise.
        Flags {
            connected: false,
            verbose: true,
            pedantic: true,
            echo: true,
            headers: false,
            no_responders: false,
        }
    }
}

pub struct Sub {
    pub sid: Box<[u8]>,
    pub subject: Box<[u8]>,
    pub queue: Option<Box<[u8]>>,
    /// Auto-unsubscribe after this many deliveries (UNSUB sid max).
    pub max: Option<u64>,
    pub delivered: u64,
}

#[derive(Default)]
pub struct Subs {
    pub slab: Slab<Sub>,
    pub by_sid: HashMap<Box<[u8]>, usize>,
}

pub struct Client {
    /// Unique across the server (INFO's client_id).
    pub cid: u64,
    /// Key in the shard's connection slab.
    pub key: Cell<usize>,
    pub addr: SocketAddr,
    pub kind: ConnectionType,
    pub account: Cell<u32>,
    pub flags: Cell<Flags>,
    pub name: RefCell<Option<String>>,
    state: Cell<State>,
    /// Bytes waiting to be written.
    out: RefCell<Vec<u8>>,
    /// Bytes handed to the socket and not yet confirmed written.
    in_flight: Cell<usize>,
    writer: Notify,
    /// Queued on the shard's list of connections to flush.
    pub(crate) dirty: Cell<bool>,
    pub subs: RefCell<Subs>,
    /// The interest sequence this client's last SUB/UNSUB announced to the
    /// other shards.
    pub interest_needed: Cell<u64>,
    /// Output is held until the other shards have applied `interest_needed`:
    /// whatever the client hears after a SUB (a PONG, a reply to its own
    /// request) then means the subscription is live on every shard.
    pub(crate) fenced: Cell<bool>,
    pub created: Instant,
    pub pings_out: Cell<u32>,
    pub next_ping: Cell<Instant>,
    /// When the client last sent anything, and whether it ever answered a
    /// PING: nats-server spares such a client its PINGs while it is busy.
    pub last_read: Cell<Instant>,
    pub ponged: Cell<bool>,
    pub msgs_in: Cell<u64>,
    pub msgs_out: Cell<u64>,
}

impl Client {
    pub fn new(cid: u64, addr: SocketAddr, kind: ConnectionType, now: Instant) -> Client {
        Client {
            cid,
            key: Cell::new(usize::MAX),
            addr,
            kind,
            account: Cell::new(0),
            flags: Cell::new(Flags::default()),
            name: RefCell::new(None),
            state: Cell::new(State::Open),
            out: RefCell::new(Vec::new()),
            in_flight: Cell::new(0),
            writer: Notify::new(),
            dirty: Cell::new(false),
            subs: RefCell::new(Subs::default()),
            interest_needed: Cell::new(0),
            fenced: Cell::new(false),
            created: now,
            pings_out: Cell::new(0),
            next_ping: Cell::new(now),
            last_read: Cell::new(now),
            ponged: Cell::new(false),
            msgs_in: Cell::new(0),
            msgs_out: Cell::new(0),
        }
    }

    pub fn state(&self) -> State {
        self.state.get()
    }

    pub fn is_open(&self) -> bool {
        self.state.get() == State::Open
    }

    /// Starts closing; the writer finishes the job. Never reopens.
    pub fn close(&self, flush: bool) {
        match self.state.get() {
            State::Open => self.state.set(State::Closing { flush }),
            State::Closing { flush: true } if !flush => self.state.set(State::Closing { flush }),
            State::Closing { .. } => {}
        }
        self.writer.notify_one();
    }

    /// Appends protocol bytes for the client.
    pub fn out(&self) -> std::cell::RefMut<'_, Vec<u8>> {
        self.out.borrow_mut()
    }

    /// Bytes handed to the socket and not yet confirmed written.
    pub fn in_flight(&self) -> usize {
        self.in_flight.get()
    }

    /// Bytes owed to the client and not yet written.
    pub fn pending(&self) -> usize {
        self.out.borrow().len() + self.in_flight.get()
    }

    pub(crate) fn wake_writer(&self) {
        self.writer.notify_one();
    }

    pub fn flags(&self) -> Flags {
        self.flags.get()
    }
}
