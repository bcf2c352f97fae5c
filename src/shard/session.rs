//! A client connection's session on its shard: reads, feeds the protocol
//! parser, and carries out each operation against the shard. Also the
//! connection's start (INFO, admission, its writer) and end (unsubscribe
//! everything, leave the shard). `serve` is what the server runs for every
//! connection accepted on the client port.

use std::net::SocketAddr;
use std::rc::Rc;
use std::time::{Duration, Instant};

use super::{writer, Shard};
use crate::config::options::ConnectionType;
use crate::conn::{Client, Flags};
use crate::net::Stream;
use crate::protocol::{
    encode, ClientOp, ClientParser, ConnectOptions, ParserLimits, ProtocolError,
};
use crate::subject;

/// Read buffers start small and double while reads fill them, up to the
/// largest; they shrink back as soon as a read comes in small (nats-server
/// starts at 512 too).
const READ_MIN: usize = 512;
const READ_MAX: usize = 256 * 1024;
/// A read this soon after the previous one marks a conversation: the next
/// read goes in flight at once with its buffer. After a longer pause the
/// connection waits for readiness holding no buffer (most connections are
/// idle most of the time) and takes one only when bytes are there.
const CONVERSATION: Duration = Duration::from_millis(50);

/// Serves one connection accepted on the client port until it closes.
pub async fn serve<S: Stream>(shard: Rc<Shard>, stream: S, addr: SocketAddr) {
    let ctx = shard.ctx.clone();
    let client = Rc::new(Client::new(
        ctx.next_client_id(),
        addr,
        ConnectionType::Standard,
        Instant::now(),
        &ctx.liveness,
    ));
    let stream = Rc::new(stream);
    ctx.write_info(&mut client.out(), client.cid, addr);
    let admitted = ctx.admit_connection();
    tokio::task::spawn_local(writer::write_loop(
        client.clone(),
        stream.clone(),
        ctx.opts.write_deadline,
    ));
    if !admitted {
        encode::write_err(&mut client.out(), "maximum connections exceeded");
        client.close(true);
        return;
    }
    shard.register(&client);
    crate::debug!(
        "{addr} - cid:{} - Client connection created on shard {}",
        client.cid,
        shard.id
    );
    shard.mark_dirty(&client);
    shard.flush();

    let mut parser = ClientParser::new(ParserLimits {
        max_control_line: ctx.opts.max_control_line as usize,
        max_payload: ctx.opts.max_payload as usize,
    });
    let mut buf: Vec<u8> = Vec::new();
    let mut previous_read: Option<Instant> = None;
    while client.is_open() {
        if buf.capacity() == 0 {
            if stream.readable().await.is_err() {
                client.close(false);
                break;
            }
            buf = Vec::with_capacity(READ_MIN);
        }
        buf.clear();
        let (res, b) = stream.read(buf).await;
        buf = b;
        let n = match res {
            Ok(0) | Err(_) => {
                client.close(false);
                break;
            }
            Ok(n) => n,
        };
        if !client.is_open() {
            break;
        }
        let now = Instant::now();
        client.read_at(now);
        let conversing = previous_read.is_some_and(|p| now - p < CONVERSATION);
        previous_read = Some(now);
        if n < crate::shard::STREAM_READ {
            shard.activity.note(now);
        }
        let mut fatal = None;
        let parsed = parser.feed(&buf[..n], &mut |op| match handle(&shard, &client, op) {
            Ok(()) => client.is_open(),
            Err(e) if !e.is_fatal() => {
                e.write_err(&mut client.out());
                true
            }
            Err(e) => {
                fatal = Some(e);
                false
            }
        });
        if let Err(e) = parsed {
            fatal = Some(e);
        }
        if let Some(e) = fatal {
            crate::debug!("{addr} - cid:{} - closing: {}", client.cid, e.err_text());
            e.write_err(&mut client.out());
            client.close(true);
        }
        shard.mark_dirty(&client);
        shard.flush();
        resize_read_buffer(&mut buf, n);
        if buf.capacity() == READ_MIN && parser.is_idle() {
            parser.release_memory();
            if !conversing {
                buf = Vec::new();
            }
        }
        // Another shard behind on our mail: stop reading until it catches up,
        // so the backlog stays bounded and TCP pushes back on the publisher.
        shard.wait_for_peers().await;
    }
    shard.unregister(&client);
    ctx.release_connection();
    shard.flush();
    crate::debug!("{addr} - cid:{} - Client connection closed", client.cid);
}

fn resize_read_buffer(buf: &mut Vec<u8>, n: usize) {
    let cap = buf.capacity();
    if n == cap && cap < READ_MAX {
        *buf = Vec::with_capacity(cap * 2);
    } else if n < cap / 8 && cap > READ_MIN {
        *buf = Vec::with_capacity((n * 2).next_power_of_two().max(READ_MIN));
    }
}

/// Carries out one operation. Non-fatal errors come back as `Err` too; the
/// caller sends them and goes on.
fn handle(shard: &Shard, client: &Rc<Client>, op: ClientOp<'_>) -> Result<(), ProtocolError> {
    if crate::log::trace_enabled() {
        trace_op(client, &op);
    }
    let flags = client.flags();
    if !flags.connected && shard.ctx.auth.required() && !matches!(op, ClientOp::Connect(_)) {
        return Err(ProtocolError::AuthorizationViolation);
    }
    match op {
        ClientOp::Connect(json) => connect(shard, client, json),
        ClientOp::Pub {
            subject,
            reply,
            payload,
        } => {
            publish(shard, client, flags, subject, reply, 0, payload);
            Ok(())
        }
        ClientOp::HPub {
            subject,
            reply,
            header_len,
            message,
        } => {
            if !flags.headers {
                return Err(ProtocolError::HeadersNotSupported);
            }
            publish(shard, client, flags, subject, reply, header_len, message);
            Ok(())
        }
        ClientOp::Sub {
            subject,
            queue,
            sid,
        } => {
            shard.subscribe(client, subject, queue, sid)?;
            if flags.verbose {
                encode::write_ok(&mut client.out());
            }
            Ok(())
        }
        ClientOp::Unsub { sid, max } => {
            shard.unsubscribe(client, sid, max);
            if flags.verbose {
                encode::write_ok(&mut client.out());
            }
            Ok(())
        }
        ClientOp::Ping => {
            shard.pong(client);
            Ok(())
        }
        ClientOp::Pong => {
            client.ponged();
            Ok(())
        }
    }
}

fn publish(
    shard: &Shard,
    client: &Rc<Client>,
    flags: Flags,
    subject: &[u8],
    reply: Option<&[u8]>,
    header_len: usize,
    message: &[u8],
) {
    client.count_in();
    if flags.pedantic && !subject::is_valid_literal_subject(subject) {
        // nats-server reports it and still delivers the message.
        ProtocolError::InvalidPublishSubject.write_err(&mut client.out());
    }
    if flags.verbose {
        encode::write_ok(&mut client.out());
    }
    shard.publish(client, subject, reply, header_len, message);
}

fn connect(shard: &Shard, client: &Rc<Client>, json: &[u8]) -> Result<(), ProtocolError> {
    let ctx = &shard.ctx;
    let opts = ConnectOptions::parse(json)?;
    let Some(account) = ctx.auth.check(&opts, client.kind) else {
        crate::error!(
            "{} - cid:{} - authentication error - User {:?}",
            client.addr,
            client.cid,
            opts.user.as_deref().unwrap_or("")
        );
        return Err(ProtocolError::AuthorizationViolation);
    };
    let server_headers = !ctx.opts.no_header_support;
    opts.validate(server_headers)?;
    if account != client.account() && client.has_subs() {
        // Subscriptions made before CONNECT live in the global account.
        shard.unsubscribe_all(client);
    }
    client.set_account(account);
    client.set_flags(Flags {
        connected: true,
        verbose: opts.verbose,
        pedantic: opts.pedantic,
        echo: opts.echo,
        headers: opts.headers_enabled(server_headers),
        no_responders: opts.no_responders,
    });
    client.set_name(opts.name);
    if opts.verbose {
        encode::write_ok(&mut client.out());
    }
    Ok(())
}

/// `-V`: each operation as nats-server traces it, `<<- [PUB foo 5]`.
fn trace_op(client: &Client, op: &ClientOp<'_>) {
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    let args = match op {
        ClientOp::Connect(json) => text(json),
        ClientOp::Pub {
            subject,
            reply,
            payload,
        } => match reply {
            Some(r) => format!("{} {} {}", text(subject), text(r), payload.len()),
            None => format!("{} {}", text(subject), payload.len()),
        },
        ClientOp::HPub {
            subject,
            reply,
            header_len,
            message,
        } => match reply {
            Some(r) => format!(
                "{} {} {header_len} {}",
                text(subject),
                text(r),
                message.len()
            ),
            None => format!("{} {header_len} {}", text(subject), message.len()),
        },
        ClientOp::Sub {
            subject,
            queue,
            sid,
        } => match queue {
            Some(q) => format!("{} {} {}", text(subject), text(q), text(sid)),
            None => format!("{} {}", text(subject), text(sid)),
        },
        ClientOp::Unsub { sid, max } => match max {
            Some(m) => format!("{} {m}", text(sid)),
            None => text(sid),
        },
        ClientOp::Ping | ClientOp::Pong => String::new(),
    };
    let sep = if args.is_empty() { "" } else { " " };
    crate::trace!(
        "{} - cid:{} - <<- [{}{sep}{args}]",
        client.addr,
        client.cid,
        op.verb()
    );
}
