//! Starting and stopping the server: options in, shard threads running,
//! signals handled, exit code out.

use std::net::{IpAddr, SocketAddr};
use std::process::ExitCode;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use crate::config::{IoMode, Options};
use crate::net::{self, Backend};
use crate::shard::{self, mailbox, Envelope, Port, ShardSetup};

mod context;
mod reload;
pub mod signal;

pub use context::{Runtime, ServerContext};

/// Reads the configuration again, for a reload (the file and the flags).
pub type ReadConfig = Box<dyn Fn() -> Result<Options, String>>;

/// Where and how `opts` says to log.
fn log_settings(opts: &Options) -> crate::log::Settings<'_> {
    crate::log::Settings {
        debug: opts.debug,
        trace: opts.trace,
        time: opts.logtime,
        file: opts.log_file.as_deref(),
        size_limit: opts.log_size_limit,
        max_files: opts.log_max_files,
        syslog: opts.syslog,
        remote_syslog: opts.remote_syslog.as_deref(),
    }
}

/// Runs the server until SIGINT or SIGTERM; 0 on a clean stop. SIGHUP
/// reloads what `read` gives.
pub fn run(opts: Options, io: IoMode, read: ReadConfig) -> ExitCode {
    if let Err(e) = crate::log::init(log_settings(&opts)) {
        eprintln!("ringnats: cannot open the log: {e}");
        return ExitCode::FAILURE;
    }
    let uring = match io {
        IoMode::Epoll => false,
        IoMode::Uring => match net::probe::io_uring_available() {
            Ok(()) => true,
            Err(why) => {
                crate::fatal!("io_uring was asked for but is not available: {why}");
                return ExitCode::FAILURE;
            }
        },
        IoMode::Auto => match net::probe::io_uring_available() {
            Ok(()) => true,
            Err(why) => {
                crate::warn!(
                    "io_uring is not available ({why}): running on epoll (in a container, the seccomp profile docker/seccomp-io_uring.json allows io_uring)"
                );
                false
            }
        },
    };
    if uring {
        start::<net::uring::Uring>(opts, read)
    } else {
        start::<net::epoll::Epoll>(opts, read)
    }
}

fn start<B: Backend>(opts: Options, read: ReadConfig) -> ExitCode {
    // Catch SIGINT/SIGTERM before anything can see the server (pid file,
    // "Listening" line): one sent at once must be a clean stop, not the
    // default action killing the process.
    let signals = Signals::install();
    // TLS configurations are built before anything listens: one that cannot
    // be built stops the start (never a plain port where TLS was asked for).
    let client_tls = match opts.tls.as_ref().map(crate::tls::server_config).transpose() {
        Ok(c) => c,
        Err(e) => {
            crate::fatal!("TLS configuration of the client port: {e}");
            return ExitCode::FAILURE;
        }
    };
    let ws_tls = match opts
        .websocket
        .as_ref()
        .and_then(|w| w.tls.as_ref())
        .map(crate::tls::server_config)
        .transpose()
    {
        Ok(c) => c,
        Err(e) => {
            crate::fatal!("TLS configuration of the websocket port: {e}");
            return ExitCode::FAILURE;
        }
    };
    let shards = opts
        .shards
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
        .max(1);
    let host: IpAddr = match opts.host.parse() {
        Ok(ip) => ip,
        Err(_) => match resolve(&opts.host) {
            Some(ip) => ip,
            None => {
                crate::fatal!(
                    "Error listening on port: {}:{}, \"cannot resolve host\"",
                    opts.host,
                    opts.port
                );
                return ExitCode::FAILURE;
            }
        },
    };
    let Some((port, client_listeners)) = bind_shards(host, &opts.host, opts.bind_port(), shards)
    else {
        return ExitCode::FAILURE;
    };
    let mut ws_port = None;
    let mut ws_listeners = Vec::new();
    if let Some(ws) = &opts.websocket {
        let ws_host: IpAddr = match ws.host.parse().ok().or_else(|| resolve(&ws.host)) {
            Some(ip) => ip,
            None => {
                crate::fatal!(
                    "Error listening on port: {}:{}, \"cannot resolve host\"",
                    ws.host,
                    ws.port
                );
                return ExitCode::FAILURE;
            }
        };
        // nats-server: -1 asks for a random port, as for the client port.
        let wanted = if ws.port < 0 { 0 } else { ws.port as u16 };
        let Some((p, l)) = bind_shards(ws_host, &ws.host, wanted, shards) else {
            return ExitCode::FAILURE;
        };
        ws_port = Some(p);
        ws_listeners = l;
    }
    let monitor = match bind_monitor(&opts) {
        Ok(m) => m,
        Err(()) => return ExitCode::FAILURE,
    };
    if let Some(pid_file) = &opts.pid_file {
        if let Err(e) = std::fs::write(pid_file, std::process::id().to_string()) {
            crate::fatal!("Could not write pidfile: {e}");
            return ExitCode::FAILURE;
        }
    }
    let mut ctx = ServerContext::new(opts, shards, port, client_tls);
    if let Some(p) = ws_port {
        ctx.websocket_listening(p, ws_tls);
    }
    if let Some(m) = &monitor {
        let port = m.listener.local_addr().map_or(0, |a| a.port());
        if m.tls.is_some() {
            ctx.https_port = port;
        } else {
            ctx.http_port = port;
        }
    }
    let ctx = Arc::new(ctx);
    ctx.rt.set_current(&ctx);
    crate::info!("Starting ringnats");
    crate::info!("  Version:  {}", crate::VERSION);
    crate::info!(
        "  IO:       {}, {} shard{}",
        B::NAME,
        shards,
        if shards == 1 { "" } else { "s" }
    );
    crate::info!("  ID:       {}", ctx.server_id);
    if let Some(file) = &ctx.opts.config_file {
        crate::info!("Using configuration file: {}", file.display());
    }
    for w in &ctx.opts.warnings {
        crate::warn!("{w}");
    }
    warn_unserved(&ctx.opts);
    if let Some(m) = monitor {
        crate::info!("Starting {}", m.shown);
        if let Err(e) = net::http::serve(m.listener, ctx.clone(), m.tls) {
            crate::fatal!("cannot start the http monitor: {e}");
            return ExitCode::FAILURE;
        }
    }

    let mut doorbells = Vec::new();
    let mut threads = Vec::new();
    let mut ws_listeners = ws_listeners.into_iter();
    for (id, ((outbox, inbox), listener)) in mailbox::mesh::<Envelope>(shards)
        .into_iter()
        .zip(client_listeners)
        .enumerate()
    {
        doorbells.push(inbox.waker());
        let mut listeners = vec![(Port::Client, listener)];
        if let Some(l) = ws_listeners.next() {
            listeners.push((Port::Websocket, l));
        }
        let setup = ShardSetup {
            id,
            ctx: ctx.clone(),
            outbox,
            inbox,
            listeners,
            desk: ctx.rt.desk.open(),
        };
        let thread = std::thread::Builder::new()
            .name(format!("shard-{id}"))
            .spawn(move || shard::run::<B, _, _>(setup, shard::session::serve::<B::Stream>));
        match thread {
            Ok(t) => threads.push(t),
            Err(e) => {
                crate::fatal!("cannot start shard {id}: {e}");
                return ExitCode::FAILURE;
            }
        }
    }
    if let (Some(ws), Some(p)) = (&ctx.opts.websocket, ws_port) {
        if ws.tls.is_none() {
            crate::warn!("Websocket not configured with TLS. DO NOT USE IN PRODUCTION!");
        }
        let scheme = if ws.tls.is_some() { "wss" } else { "ws" };
        crate::info!(
            "Listening for websocket clients on {scheme}://{}:{p}",
            ws.host
        );
        if ws.proxy_protocol {
            crate::info!("PROXY protocol enabled for websocket connections");
        }
    }
    if ctx.client_tls.is_some() {
        crate::info!("TLS required for client connections");
    }
    crate::info!(
        "Listening for client connections on {}:{}",
        ctx.opts.host,
        port
    );
    if ctx.opts.proxy_protocol {
        crate::info!("PROXY protocol enabled for client connections");
    }
    crate::info!("Server is ready");

    // SIGHUP puts a reloaded configuration in force; what follows (lame
    // duck, the stop) runs under the latest.
    let current = std::cell::RefCell::new(ctx);
    let stop = signals.wait(|| {
        let ctx = current.borrow().clone();
        match reload::reload(&ctx, &*read) {
            Ok(new) => {
                *current.borrow_mut() = new;
                crate::info!("Reloaded server configuration");
            }
            Err(e) => crate::error!("Failed to reload server configuration: {e}"),
        }
    });
    let ctx = current.into_inner();
    match stop {
        Stop::Signal(signal) => crate::info!("Trapped \"{signal}\" signal"),
        Stop::LameDuck => lame_duck(&ctx, &doorbells),
    }
    ctx.rt.stopping.store(true, Ordering::SeqCst);
    for d in &doorbells {
        d.wake();
    }
    for t in threads {
        let _ = t.join();
    }
    if let Some(pid_file) = &ctx.opts.pid_file {
        let _ = std::fs::remove_file(pid_file);
    }
    crate::info!("Server Exiting..");
    ExitCode::SUCCESS
}

/// Lame duck mode, as nats-server runs it: the listeners close, clients
/// that take INFO at any time hear `"ldm":true`, and after the grace
/// period the clients are closed one by one, spread over the rest of
/// `lame_duck_duration` (at most a second apart); then the server stops.
fn lame_duck(ctx: &ServerContext, doorbells: &[std::sync::Arc<mailbox::Doorbell>]) {
    crate::info!("Entering lame duck mode, stop accepting new clients");
    ctx.rt.lame_duck.store(true, Ordering::SeqCst);
    ctx.rt.lame_duck_begun.notify_waiters();
    for d in doorbells {
        d.wake();
    }
    let clients = ctx.connections();
    if clients == 0 {
        return;
    }
    let opts = &ctx.opts;
    std::thread::sleep(opts.lame_duck_grace_period);
    crate::info!("Closing existing clients");
    let spread = opts
        .lame_duck_duration
        .saturating_sub(opts.lame_duck_grace_period)
        .max(std::time::Duration::from_secs(1));
    let interval = (spread / clients as u32).min(std::time::Duration::from_secs(1));
    for i in 0..clients {
        ctx.rt.lame_duck_quota.store(i + 1, Ordering::SeqCst);
        if ctx.connections() == 0 {
            break;
        }
        // At least half the interval, as nats-server draws it.
        let half = interval / 2;
        let wait = half + half.mul_f64(fastrand::f64());
        std::thread::sleep(wait);
    }
}

/// The monitoring port, when `http_port` or `https_port` asks for one
/// (-1: any port; 0: none).
struct Monitor {
    listener: std::net::TcpListener,
    /// How the log names it: `https monitor on 0.0.0.0:8222`.
    shown: String,
    /// HTTPS: the `tls {}` block's certificate, no client certificate
    /// asked for (as nats-server serves it).
    tls: Option<std::sync::Arc<rustls::ServerConfig>>,
}

/// The monitoring port; `Err`: it cannot be had (logged with nats-server's
/// words).
fn bind_monitor(opts: &Options) -> Result<Option<Monitor>, ()> {
    let given = |p: Option<i32>| p.filter(|&p| p != 0);
    let (port, secure) = match (given(opts.http_port), given(opts.https_port)) {
        (None, None) => return Ok(None),
        (Some(h), Some(s)) => {
            crate::fatal!("can't specify both HTTP ({h}) and HTTPs ({s}) ports");
            return Err(());
        }
        (Some(p), None) => (p, false),
        (None, Some(p)) => (p, true),
    };
    let tls = if secure {
        let Some(t) = &opts.tls else {
            crate::fatal!("TLS cert and key required for HTTPS");
            return Err(());
        };
        let no_client_certs = crate::config::options::TlsOptions {
            verify: false,
            verify_and_map: false,
            ..t.clone()
        };
        match crate::tls::server_config(&no_client_certs) {
            Ok(c) => Some(c),
            Err(e) => {
                crate::fatal!("TLS configuration of the monitoring port: {e}");
                return Err(());
            }
        }
    } else {
        None
    };
    let port = if port < 0 { 0 } else { port as u16 };
    let host = opts.http_host.as_deref().unwrap_or(&opts.host);
    let Some(ip) = host.parse().ok().or_else(|| resolve(host)) else {
        crate::fatal!("Error listening on monitor port: {host}:{port}, \"cannot resolve host\"");
        return Err(());
    };
    match std::net::TcpListener::bind(SocketAddr::new(ip, port)) {
        Ok(listener) => {
            let bound = listener.local_addr().map(|a| a.port()).unwrap_or(port);
            let scheme = if secure { "https" } else { "http" };
            Ok(Some(Monitor {
                listener,
                shown: format!("{scheme} monitor on {host}:{bound}"),
                tls,
            }))
        }
        Err(e) => {
            crate::fatal!("Error listening on monitor port: {host}:{port}, \"{e}\"");
            Err(())
        }
    }
}

/// Listeners the configuration asks for that this build does not serve yet.
fn warn_unserved(opts: &Options) {
    if opts.leafnodes.is_some() {
        crate::warn!("leafnodes are configured but not served yet");
    }
}

/// Binds one listening socket per shard on `ip:port` (SO_REUSEPORT), so a
/// port in use stops the start. SO_REUSEPORT would let a second server
/// quietly share a port with a first one, so a plain bind first checks
/// that nobody listens there (and picks the port when 0 asks for any).
/// `None` (logged): the port cannot be had.
fn bind_shards(
    ip: IpAddr,
    host: &str,
    port: u16,
    shards: usize,
) -> Option<(u16, Vec<std::net::TcpListener>)> {
    let mut port = match std::net::TcpListener::bind(SocketAddr::new(ip, port)) {
        Ok(probe) => probe.local_addr().map(|a| a.port()).unwrap_or(0),
        Err(e) => {
            crate::fatal!("Error listening on port: {host}:{port}, \"{e}\"");
            return None;
        }
    };
    let mut listeners = Vec::with_capacity(shards);
    for _ in 0..shards {
        match net::bind_reuseport(SocketAddr::new(ip, port)) {
            Ok(l) => {
                port = l.local_addr().map(|a| a.port()).unwrap_or(port);
                listeners.push(l);
            }
            Err(e) => {
                crate::fatal!("Error listening on port: {host}:{port}, \"{e}\"");
                return None;
            }
        }
    }
    Some((port, listeners))
}

fn resolve(host: &str) -> Option<IpAddr> {
    use std::net::ToSocketAddrs;
    (host, 0).to_socket_addrs().ok()?.next().map(|a| a.ip())
}

/// How the server is told to stop.
enum Stop {
    /// At once, by this signal.
    Signal(&'static str),
    /// Lame duck mode first (SIGUSR2).
    LameDuck,
}

/// SIGINT and SIGTERM (stop), SIGUSR1 (reopen the log file), SIGHUP
/// (reload) and SIGUSR2 (lame duck), caught from the moment this is made
/// on; one that comes before `wait` is kept for it.
struct Signals {
    rt: tokio::runtime::Runtime,
    term: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
    usr1: tokio::signal::unix::Signal,
    hup: tokio::signal::unix::Signal,
    usr2: tokio::signal::unix::Signal,
}

impl Signals {
    fn install() -> Signals {
        use tokio::signal::unix::{signal, SignalKind};
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime for signals");
        let _in_runtime = rt.enter();
        let catch = |kind: SignalKind| signal(kind).expect("a signal handler");
        let (term, int) = (
            catch(SignalKind::terminate()),
            catch(SignalKind::interrupt()),
        );
        let (usr1, hup) = (
            catch(SignalKind::user_defined1()),
            catch(SignalKind::hangup()),
        );
        let usr2 = catch(SignalKind::user_defined2());
        drop(_in_runtime);
        Signals {
            rt,
            term,
            int,
            usr1,
            hup,
            usr2,
        }
    }

    /// Serves the signals that do not stop the server until one that does
    /// (SIGHUP by `reload`).
    fn wait(self, mut reload: impl FnMut()) -> Stop {
        let Signals {
            rt,
            mut term,
            mut int,
            mut usr1,
            mut hup,
            mut usr2,
        } = self;
        rt.block_on(async {
            loop {
                tokio::select! {
                    _ = term.recv() => return Stop::Signal("terminated"),
                    _ = int.recv() => return Stop::Signal("interrupt"),
                    _ = usr1.recv() => crate::log::reopen(),
                    _ = hup.recv() => reload(),
                    _ = usr2.recv() => return Stop::LameDuck,
                }
            }
        })
    }
}
