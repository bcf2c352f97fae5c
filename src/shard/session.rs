//! A client connection's session on its shard: reads, feeds the protocol
//! parser, and carries out each operation against the shard. Also the
//! connection's start (INFO, admission, its writer) and end (unsubscribe
//! everything, leave the shard). `serve` is what the server runs for every
//! connection accepted on the client port.

use std::cell::Cell;
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{writer, Port, Shard};
use crate::auth::cert::CertNames;
use crate::auth::{permissions, Login, Verdict};
use crate::config::options::ConnectionType;
use crate::conn::{About, Client, Credentials, Flags, Reason, TlsSummary};
use crate::net::{self, Stream};
use crate::protocol::{encode, ClientOp, ClientParser, ConnectOptions, OwnedOp, ProtocolError};
use crate::subject;
use crate::websocket::close;
use crate::websocket::handshake;
use crate::websocket::transport::{Flow, Framing, WsReader, WsWriter};

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

/// Serves one connection accepted on `port` until it closes. TLS comes
/// first where the port has it (on the client port after an INFO in the
/// clear, as nats-server 2.9 does, unless `handshake_first`); a WebSocket
/// connection upgrades next. From then on every connection runs the same
/// loop, the WebSocket frames decoded in place between the read (and its
/// decryption) and the NATS parser.
///
/// Each stage's future is boxed: a task is as big as its largest state,
/// and an idle connection should pay for the session loop only, not for
/// the handshakes it went through.
pub async fn serve<S: Stream>(shard: Rc<Shard>, stream: S, addr: SocketAddr, port: Port) {
    let ctx = shard.ctx().clone();
    let cid = ctx.next_client_id();
    match port {
        Port::Client => {
            let tls = ctx.client_tls.as_ref();
            let behind_proxy = ctx.opts.proxy_protocol;
            // INFO goes out in the clear at once (unless TLS comes first),
            // written here when a PROXY header or a handshake follows it;
            // behind a proxy without client_ip, which is the proxy's until
            // the header names the client (nats-server does the same).
            let info_now =
                tls.is_none_or(|t| !t.handshake_first) && (behind_proxy || tls.is_some());
            if info_now {
                let mut info = Vec::new();
                let ip = (!behind_proxy).then(|| addr.ip());
                ctx.write_info(&mut info, cid, ip, Port::Client);
                if stream.write_all(info, 0).await.0.is_err() {
                    stream.shutdown();
                    return;
                }
            }
            let addr = if behind_proxy {
                match Box::pin(proxy_header(&stream, addr, port)).await {
                    Some(a) => a,
                    None => return,
                }
            } else {
                addr
            };
            let Some(tls) = tls else {
                let plain = Secured::default();
                return Box::pin(run(
                    shard,
                    Rc::new(stream),
                    addr,
                    cid,
                    None,
                    info_now,
                    plain,
                ))
                .await;
            };
            let deadline = tokio::time::Instant::now() + tls.timeout;
            let start = Box::pin(handshake(stream, tls.config.clone(), addr, deadline, port));
            if let Some(stream) = start.await {
                let secured = secured(&ctx, &stream, ConnectionType::Standard);
                Box::pin(run(shard, stream, addr, cid, None, info_now, secured)).await;
            }
        }
        Port::Websocket => {
            let Some(ws) = ctx.websocket.as_ref() else {
                return;
            };
            // The handshake timeout runs from accept to the 101, TLS included.
            let deadline = tokio::time::Instant::now() + ws.handshake_timeout;
            let addr = if ctx
                .opts
                .websocket
                .as_ref()
                .is_some_and(|w| w.proxy_protocol)
            {
                match Box::pin(proxy_header(&stream, addr, port)).await {
                    Some(a) => a,
                    None => return,
                }
            } else {
                addr
            };
            let Some(tls) = &ws.tls else {
                let stream = Rc::new(stream);
                let plain = Secured::default();
                return Box::pin(websocket(shard, stream, addr, cid, deadline, plain)).await;
            };
            let start = Box::pin(handshake(
                stream,
                tls.clone(),
                addr,
                deadline,
                Port::Websocket,
            ));
            if let Some(stream) = start.await {
                let secured = secured(&ctx, &stream, ConnectionType::Websocket);
                Box::pin(websocket(shard, stream, addr, cid, deadline, secured)).await;
            }
        }
    }
}

/// A listener in PROXY mode: the load balancer's header first, before
/// TLS and anything else. The client's address it names; `None` (the
/// connection refused and shut) when there is no valid header: a
/// client port's client is told so, a websocket port's gets a 400 when
/// it spoke HTTP.
async fn proxy_header<S: Stream>(stream: &S, peer: SocketAddr, port: Port) -> Option<SocketAddr> {
    match net::proxy::read_header(stream, peer).await {
        Ok(addr) => Some(addr),
        Err(net::proxy::Refusal { why: e, first }) => {
            crate::warn!("Error reading PROXY protocol header from {peer}: {e}");
            let refusal: Option<Vec<u8>> = match port {
                Port::Client => {
                    let mut out = Vec::new();
                    encode::write_err(&mut out, &format!("PROXY protocol header required: {e}"));
                    Some(out)
                }
                Port::Websocket => {
                    // An answer in HTTP to what began as HTTP (a request
                    // line's method), else none (a TLS ClientHello).
                    let http = first.is_some_and(|b| b.is_ascii_uppercase());
                    http.then(|| {
                        let body = format!("PROXY protocol header required: {e}\n");
                        format!(
                            "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                            body.len()
                        )
                        .into_bytes()
                    })
                }
            };
            if let Some(out) = refusal {
                let _ = stream.write_all(out, 0).await;
            }
            stream.shutdown();
            None
        }
    }
}

/// What a TLS handshake told of the connection: the names in the
/// client's certificate (read only where its listener maps certificates
/// to users), the session's version and cipher suite.
#[derive(Default)]
struct Secured {
    cert: Option<Box<CertNames>>,
    tls: Option<TlsSummary>,
}

fn secured<S: Stream>(
    ctx: &crate::server::ServerContext,
    stream: &net::tls::TlsStream<S>,
    kind: ConnectionType,
) -> Secured {
    let cert = ctx
        .auth
        .maps_certificates(kind)
        .then(|| stream.peer_certificate())
        .flatten()
        .and_then(|der| CertNames::from_der(&der).map(Box::new));
    let tls = stream
        .summary()
        .map(|(version, cipher)| TlsSummary { version, cipher });
    Secured { cert, tls }
}

/// A TLS handshake by `deadline` (for wss://, the deadline of the whole
/// upgrade); the stream comes back on the heap, where the session keeps it.
async fn handshake<S: Stream>(
    stream: S,
    config: std::sync::Arc<rustls::ServerConfig>,
    addr: SocketAddr,
    deadline: tokio::time::Instant,
    port: Port,
) -> Option<Rc<net::tls::TlsStream<S>>> {
    let what = if port == Port::Websocket {
        "websocket "
    } else {
        ""
    };
    match tokio::time::timeout_at(deadline, net::tls::accept(stream, config)).await {
        Ok(Ok(tls)) => Some(Rc::new(tls)),
        Ok(Err(e)) => {
            crate::error!("{addr} - {what}TLS handshake error: {e}");
            None
        }
        Err(_) => {
            crate::error!("{addr} - {what}TLS handshake error: timeout");
            None
        }
    }
}

/// A WebSocket connection: the upgrade, then the session.
async fn websocket<S: Stream>(
    shard: Rc<Shard>,
    stream: Rc<S>,
    addr: SocketAddr,
    cid: u64,
    deadline: tokio::time::Instant,
    secured: Secured,
) {
    match Box::pin(upgrade(&shard, &*stream, addr, deadline)).await {
        Some(up) => Box::pin(run(shard, stream, addr, cid, Some(up), false, secured)).await,
        None => stream.shutdown(),
    }
}

/// The session proper, once the connection is what it will stay: `ws` is
/// the upgrade (and any bytes sent right after it) for a WebSocket client;
/// `info_sent` when INFO already went out in the clear.
async fn run<S: Stream>(
    shard: Rc<Shard>,
    stream: Rc<S>,
    addr: SocketAddr,
    cid: u64,
    ws: Option<(handshake::Upgrade, Vec<u8>)>,
    info_sent: bool,
    secured: Secured,
) {
    let Secured { cert, tls } = secured;
    let ctx = shard.ctx().clone();
    let (port, kind, ws, mut early) = match ws {
        None => (Port::Client, ConnectionType::Standard, None, Vec::new()),
        Some((up, early)) => (Port::Websocket, ConnectionType::Websocket, Some(up), early),
    };
    let max_payload = ctx.opts.max_payload as usize;
    let mut ws_reader = ws
        .as_ref()
        .map(|up| WsReader::new(!up.no_masking, up.compression, max_payload));
    let ws_writer = ws.as_ref().map(|up| {
        WsWriter::new(Framing {
            compression: up.compression,
            browser: up.browser,
            no_compressed_fragments: up.no_compressed_fragments,
        })
    });
    let client = Rc::new(Client::new(
        cid,
        addr,
        kind,
        Instant::now(),
        ctx.liveness_for(kind),
        ws_writer,
    ));
    if tls.is_some() {
        client.set_tls(tls);
    }
    if !info_sent {
        ctx.write_info(&mut client.out(), client.cid, Some(addr.ip()), port);
    }
    let admitted = ctx.admit_connection();
    tokio::task::spawn_local(writer::write_loop(
        client.clone(),
        stream.clone(),
        ctx.opts.write_deadline,
    ));
    shard.tally.connection_opened();
    if !admitted {
        encode::write_err(&mut client.out(), "maximum connections exceeded");
        client.note_reason(Reason::MaxConnectionsExceeded);
        client.close_with(close::POLICY_VIOLATION, "maximum connections exceeded");
        shard.record_closed(&client);
        return;
    }
    shard.register(&client);
    let what = if ws.is_some() { "Websocket" } else { "Client" };
    crate::debug!(
        "{} - cid:{} - {what} connection created on shard {}",
        log_name(addr, ws.as_ref()),
        client.cid,
        shard.id
    );
    shard.mark_dirty(&client);
    shard.flush();

    let mut parser = ClientParser::new(super::parser_limits(&ctx.opts));
    let mut buf: Vec<u8> = Vec::new();
    let mut deferred = Deferred::default();
    let mut previous_read: Option<Instant> = None;
    while client.is_open() {
        let n = if !early.is_empty() {
            // Bytes the client sent right after its upgrade request.
            buf = std::mem::take(&mut early);
            buf.len()
        } else {
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
            match res {
                Ok(0) => {
                    client.close(false);
                    break;
                }
                Err(_) => {
                    client.close_for(Reason::ReadError, false);
                    break;
                }
                Ok(n) => n,
            }
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
        let presented = Presented {
            cookies: ws.as_ref().map(|up| &up.cookies),
            cert: cert.as_deref(),
        };
        // A reload's limits hold from the next read on.
        parser.set_limits(super::parser_limits(&shard.ctx().opts));
        let active = client.activity();
        consume(
            &shard,
            &client,
            &mut parser,
            ws_reader.as_mut(),
            presented,
            &mut deferred,
            &mut buf[..n],
        );
        if client.activity() != active {
            client.active_at(now);
        }
        shard.mark_dirty(&client);
        shard.flush();
        if deferred.login.is_some() {
            // Nothing more is read until the login is decided.
            finish_logins(&shard, &client, presented, &mut deferred).await;
        }
        resize_read_buffer(&mut buf, n);
        if buf.capacity() <= READ_MIN && parser.is_idle() {
            parser.release_memory();
            if let Some(r) = ws_reader.as_mut() {
                r.release_memory();
            }
            if !conversing {
                buf = Vec::new();
            }
        }
        // Another shard behind on our mail: stop reading until it catches up,
        // so the backlog stays bounded and TCP pushes back on the publisher.
        shard.wait_for_peers().await;
    }
    shard.record_closed(&client);
    shard.unregister(&client);
    ctx.release_connection();
    if client.counted() {
        ctx.auth.leave(client.account());
    }
    shard.flush();
    crate::debug!("{addr} - cid:{} - {what} connection closed", client.cid);
}

/// Feeds what was read to the parser (through the frame decoder for a
/// WebSocket client) and carries out each operation; a fatal error is
/// sent and closes the connection.
fn consume(
    shard: &Shard,
    client: &Rc<Client>,
    parser: &mut ClientParser,
    ws: Option<&mut WsReader>,
    presented: Presented<'_>,
    deferred: &mut Deferred,
    bytes: &mut [u8],
) {
    let fatal = Cell::new(None);
    let mut on_op = |op: ClientOp<'_>| {
        if deferred.login.is_some() {
            // Carried out once the login is decided, in order.
            deferred.ops.push(op.to_owned_op());
            return true;
        }
        carry_out(shard, client, op, presented, deferred, &fatal)
    };
    match ws {
        None => {
            if let Err(e) = parser.feed(bytes, &mut on_op) {
                fatal.set(Some(e));
            }
        }
        Some(reader) => {
            let writer = client.ws().expect("a WebSocket client has its writer");
            let flow = reader.read(bytes, writer, &mut |nats| {
                if let Err(e) = parser.feed(nats, &mut on_op) {
                    fatal.set(Some(e));
                }
                fatal.get().is_none() && client.is_open()
            });
            match flow {
                Ok(Flow::Continue | Flow::Stopped) => {}
                // The echo is queued: it goes out after what is owed.
                Ok(Flow::Closed) => client.close(true),
                Err(v) => {
                    crate::debug!(
                        "{} - cid:{} - websocket closing: {}",
                        client.addr,
                        client.cid,
                        v.reason
                    );
                    // nats-server's reason for a frame it cannot read.
                    client.note_reason(Reason::ReadError);
                    client.close_with(v.code, v.reason);
                }
            }
        }
    }
    if let Some(e) = fatal.get() {
        close_on(client, e);
    }
}

fn close_on(client: &Client, e: ProtocolError) {
    crate::debug!(
        "{} - cid:{} - closing: {}",
        client.addr,
        client.cid,
        e.err_text()
    );
    super::close_fatally(client, e);
}

/// Carries out one operation; a non-fatal error is sent, a fatal one is
/// left in `fatal`. False: stop reading this connection.
fn carry_out(
    shard: &Shard,
    client: &Rc<Client>,
    op: ClientOp<'_>,
    presented: Presented<'_>,
    deferred: &mut Deferred,
    fatal: &Cell<Option<ProtocolError>>,
) -> bool {
    settle(
        client,
        handle(shard, client, op, presented, deferred),
        fatal,
    )
}

fn settle(
    client: &Client,
    result: Result<(), ProtocolError>,
    fatal: &Cell<Option<ProtocolError>>,
) -> bool {
    match result {
        Ok(()) => client.is_open(),
        Err(e) if !e.is_fatal() => {
            e.write_err(&mut client.out());
            true
        }
        Err(e) => {
            fatal.set(Some(e));
            false
        }
    }
}

/// What the transport learned of who the client is before its CONNECT:
/// the upgrade request's cookies, the names in its TLS certificate (when
/// its listener maps certificates to users).
#[derive(Clone, Copy, Default)]
struct Presented<'a> {
    cookies: Option<&'a handshake::Cookies>,
    cert: Option<&'a CertNames>,
}

/// A CONNECT whose secret the bcrypt pool is checking, and what the client
/// sent after it meanwhile (nothing of it is carried out before the login
/// is decided, as nats-server decides a login before the next operation).
#[derive(Default)]
struct Deferred {
    login: Option<PendingLogin>,
    ops: Vec<OwnedOp>,
}

struct PendingLogin {
    answer: tokio::sync::oneshot::Receiver<bool>,
    opts: ConnectOptions,
    login: Login,
    creds: Credentials,
    /// The configuration the login was checked under: a reload while the
    /// pool checks the password decides it again under the new one.
    decided_under: Arc<crate::server::ServerContext>,
}

/// Waits for the pool's answers (the shard serves its other connections
/// meanwhile), admits or refuses, then carries out what waited.
async fn finish_logins(
    shard: &Shard,
    client: &Rc<Client>,
    presented: Presented<'_>,
    deferred: &mut Deferred,
) {
    while let Some(pending) = deferred.login.take() {
        let granted = pending.answer.await.unwrap_or(false);
        client.set_login_pending(false);
        if !client.is_open() {
            return;
        }
        let fatal = Cell::new(None);
        let now = shard.ctx().clone();
        let login = match granted {
            false => None,
            true if Arc::ptr_eq(&now, &pending.decided_under) => Some(pending.login),
            // Reloaded meanwhile: the new configuration decides.
            true => super::reload::decide_again(&now, &pending.creds, client),
        };
        let admitted = match login {
            Some(login) => admit(shard, client, pending.opts, login, Some(pending.creds)),
            None => Err(refuse(client, &pending.opts)),
        };
        if settle(client, admitted, &fatal) {
            for op in std::mem::take(&mut deferred.ops) {
                if deferred.login.is_some() {
                    // Behind another CONNECT that waits in turn.
                    deferred.ops.push(op);
                } else if !carry_out(shard, client, op.as_op(), presented, deferred, &fatal) {
                    break;
                }
            }
        }
        if let Some(e) = fatal.get() {
            deferred.ops.clear();
            close_on(client, e);
        }
        shard.mark_dirty(client);
        shard.flush();
    }
}

/// The WebSocket upgrade, by the handshake's deadline: reads the request,
/// answers 101 or the refusal's status. Returns the upgrade and any bytes
/// read past the request.
async fn upgrade<S: Stream>(
    shard: &Shard,
    stream: &S,
    addr: SocketAddr,
    deadline: tokio::time::Instant,
) -> Option<(handshake::Upgrade, Vec<u8>)> {
    let ctx = shard.ctx().clone();
    let ws = ctx.websocket.as_ref()?;
    let read_request = async {
        let mut head: Vec<u8> = Vec::with_capacity(1024);
        loop {
            if head.len() == head.capacity() {
                head.reserve(head.capacity());
            }
            let (res, h) = stream.read(head).await;
            head = h;
            match res {
                Ok(0) | Err(_) => return None,
                Ok(_) => {}
            }
            match handshake::parse(&head, &ws.policy) {
                handshake::Parsed::Incomplete => continue,
                handshake::Parsed::Accepted { upgrade, consumed } => {
                    let early = head.split_off(consumed);
                    let (res, _) = stream
                        .write_all(handshake::accepted(&upgrade, &ws.policy), 0)
                        .await;
                    return res.ok().map(|()| (upgrade, early));
                }
                handshake::Parsed::Refused(r) => {
                    crate::error!("{addr} - websocket handshake error: {}", r.reason);
                    let _ = stream.write_all(handshake::refused(r.status), 0).await;
                    return None;
                }
            }
        }
    };
    match tokio::time::timeout_at(deadline, read_request).await {
        Ok(done) => done,
        Err(_) => {
            crate::debug!("{addr} - websocket handshake timeout");
            None
        }
    }
}

/// How logs name a connection: the forwarded client address when a proxy
/// gave one (nats-server does the same), else the peer.
fn log_name(addr: SocketAddr, ws: Option<&handshake::Upgrade>) -> String {
    match ws.and_then(|u| u.forwarded_for.as_deref()) {
        Some(ip) => format!("{ip}/{addr}"),
        None => addr.to_string(),
    }
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
fn handle(
    shard: &Shard,
    client: &Rc<Client>,
    op: ClientOp<'_>,
    presented: Presented<'_>,
    deferred: &mut Deferred,
) -> Result<(), ProtocolError> {
    if crate::log::trace_enabled() {
        trace_op(client, &op);
    }
    if !matches!(op, ClientOp::Ping | ClientOp::Pong) {
        client.count_activity();
    }
    let flags = client.flags();
    if !flags.connected
        && shard.ctx().auth.required_for(client.kind)
        && !matches!(op, ClientOp::Connect(_))
    {
        return Err(ProtocolError::AuthorizationViolation);
    }
    match op {
        ClientOp::Connect(json) => connect(shard, client, json, presented, deferred),
        ClientOp::Pub {
            subject,
            reply,
            payload,
        } => {
            within_payload_limit(client, payload.len())?;
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
            within_payload_limit(client, message.len())?;
            publish(shard, client, flags, subject, reply, header_len, message);
            Ok(())
        }
        ClientOp::Sub {
            subject,
            queue,
            sid,
        } => {
            if !client.may_subscribe(subject, queue) {
                let sid = String::from_utf8_lossy(sid);
                let detail = match queue {
                    Some(q) => format!(
                        "Subject {}, Queue: {}, SID {sid}",
                        permissions::quoted(subject),
                        permissions::quoted(q)
                    ),
                    None => format!("Subject {}, SID {sid}", permissions::quoted(subject)),
                };
                let err = permissions::subscribe_violation(subject, queue);
                violation(client, &err, "Subscription", &detail);
                return Ok(());
            }
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
            if flags.info_after_pong {
                client.set_flags(Flags {
                    info_after_pong: false,
                    ..flags
                });
                let mut info = Vec::new();
                shard.ctx().write_later_info(&mut info, client, false);
                client.out().extend_from_slice(&info);
            }
            Ok(())
        }
        ClientOp::Pong => {
            client.ponged();
            Ok(())
        }
    }
}

/// A message over its login's own payload limit (below the server's,
/// which the parser holds to) closes the connection, as in nats-server.
fn within_payload_limit(client: &Client, size: usize) -> Result<(), ProtocolError> {
    match client.limits().payload {
        Some(limit) if size > limit as usize => {
            crate::error!(
                "{} - cid:{} - maximum payload exceeded: {size} vs {limit}",
                client.addr,
                client.cid
            );
            Err(ProtocolError::MaxPayload)
        }
        _ => Ok(()),
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
    client.count_in(message.len());
    if flags.pedantic && !subject::is_valid_literal_subject(subject) {
        // nats-server reports it and still delivers the message.
        ProtocolError::InvalidPublishSubject.write_err(&mut client.out());
    }
    if !client.may_publish(subject) {
        // Dropped, and the connection stays, as in nats-server.
        let detail = format!("Subject {}", permissions::quoted(subject));
        violation(
            client,
            &permissions::publish_violation(subject),
            "Publish",
            &detail,
        );
        return;
    }
    if flags.verbose {
        encode::write_ok(&mut client.out());
    }
    shard.publish(client, subject, reply, header_len, message);
}

/// A refused publish or subscription: the client hears why (and stays);
/// the log says who and what, as nats-server logs it (`Publish Violation
/// - User "u", Subject "x"`).
fn violation(client: &Client, err: &str, kind: &str, detail: &str) {
    encode::write_err(&mut client.out(), err);
    crate::error!(
        "{} - cid:{} - {kind} Violation - User {}, {detail}",
        client.addr,
        client.cid,
        permissions::quoted(client.permissions_user().as_bytes())
    );
}

fn connect(
    shard: &Shard,
    client: &Rc<Client>,
    json: &[u8],
    presented: Presented<'_>,
    deferred: &mut Deferred,
) -> Result<(), ProtocolError> {
    let ctx = shard.ctx().clone();
    let mut opts = ConnectOptions::parse(json)?;
    if let Some(c) = presented.cookies {
        // Credentials from the upgrade's cookies, where CONNECT has none.
        if opts.user.is_none() {
            opts.user = c.user.clone();
        }
        if opts.pass.is_none() {
            opts.pass = c.pass.clone();
        }
        if opts.auth_token.is_none() {
            opts.auth_token = c.token.clone();
        }
        if opts.jwt.as_deref().is_none_or(str::is_empty) {
            opts.jwt = c.jwt.clone();
        }
    }
    let verdict = ctx.auth.check(
        &opts,
        client.kind,
        client.cid,
        presented.cert,
        client.addr.ip(),
    );
    let mapped = matches!(verdict, Verdict::Granted(_) | Verdict::Bcrypt { .. });
    let named = opts.user.as_deref().filter(|u| !u.is_empty());
    if let Some(user) = named.filter(|_| mapped && ctx.auth.maps_certificates(client.kind)) {
        crate::warn!(
            "{} - cid:{} - User {user:?} found in connect proto, but user required from cert",
            client.addr,
            client.cid,
        );
    }
    // What the login is decided on, for a reload to decide again (nothing
    // when nothing was given and nothing asked).
    let given = opts.credentials();
    let creds = (given.is_some() || presented.cert.is_some()).then(|| Credentials {
        connect: given,
        cert: presented.cert.cloned(),
        hash: match &verdict {
            Verdict::Bcrypt { hash, .. } => Some(hash.clone()),
            _ => None,
        },
    });
    match verdict {
        Verdict::Granted(login) => admit(shard, client, opts, login, creds),
        Verdict::Denied => Err(refuse(client, &opts)),
        Verdict::Refused(why) => {
            crate::debug!("{} - cid:{} - {why}", client.addr, client.cid);
            Err(refuse(client, &opts))
        }
        Verdict::Bcrypt {
            hash,
            password,
            login,
        } => {
            let answer = ctx.auth.bcrypt.verify(&hash, &password);
            client.set_login_pending(true);
            deferred.login = Some(PendingLogin {
                answer,
                opts,
                login,
                creds: creds.unwrap_or_default(),
                decided_under: ctx.clone(),
            });
            Ok(())
        }
    }
}

/// A failed login: logged, and the error that closes the connection.
fn refuse(client: &Client, opts: &ConnectOptions) -> ProtocolError {
    crate::error!(
        "{} - cid:{} - authentication error - User {:?}",
        client.addr,
        client.cid,
        opts.user.as_deref().unwrap_or("")
    );
    ProtocolError::AuthorizationViolation
}

/// A login that succeeded: the connection takes on what CONNECT asked for.
fn admit(
    shard: &Shard,
    client: &Rc<Client>,
    opts: ConnectOptions,
    login: Login,
    creds: Option<Credentials>,
) -> Result<(), ProtocolError> {
    client.set_credentials(creds);
    let server_headers = !shard.ctx().opts.no_header_support;
    opts.validate(server_headers)?;
    let auth = &shard.ctx().auth;
    if client.counted() {
        // A second CONNECT: counted again where it logs in now.
        auth.leave(client.account());
        client.set_counted(false);
    }
    if !auth.enter(login.account) {
        return Err(ProtocolError::MaxAccountConnections);
    }
    client.set_counted(true);
    if (client.flags().connected || login.account != client.account()) && client.has_subs() {
        // Subscriptions made before CONNECT live in the global account; a
        // second CONNECT starts afresh, as in nats-server (what the first
        // login allowed is not the second's).
        shard.unsubscribe_all(client);
    }
    client.set_account(login.account);
    client.set_limits(login.limits);
    client.expire_at(
        login
            .expires
            .map(|(at, account)| (crate::auth::jwt::instant_of(at), account)),
    );
    client.set_permissions(login.permissions, login.user.clone());
    client.set_flags(Flags {
        connected: true,
        verbose: opts.verbose,
        pedantic: opts.pedantic,
        echo: opts.echo,
        headers: opts.headers_enabled(server_headers),
        no_responders: opts.no_responders,
        async_info: opts.protocol >= 1,
        info_after_pong: opts.protocol >= 1
            && login
                .limits
                .payload
                .is_some_and(|p| p != shard.ctx().opts.max_payload),
    });
    client.connected_at(Instant::now());
    let tls = client.about().as_ref().and_then(|a| a.tls);
    // Who it authenticated as, as nats-server's monitoring names it: its
    // NKEY, its user, its JWT's key (or the user its certificate or the
    // no_auth_user names), a token (not shown).
    let nonempty = |s: Option<String>| s.filter(|s| !s.is_empty());
    let user = nonempty(opts.nkey)
        .or(nonempty(opts.user))
        .or(login.user)
        .or(nonempty(opts.auth_token).map(|_| "[REDACTED]".to_string()));
    client.set_about(About {
        name: opts.name,
        lang: opts.lang,
        version: opts.version,
        user,
        tls,
    });
    if opts.verbose {
        encode::write_ok(&mut client.out());
    }
    if login.limits.subs == Some(0) {
        // Allowed no subscription at all: told so, and closed.
        return Err(ProtocolError::MaxSubscriptionsAtLogin);
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
