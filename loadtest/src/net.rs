//! Connections: URLs, TCP (optionally from a chosen source address), TLS
//! (rustls), the WebSocket upgrade, and the NATS handshake (INFO, CONNECT,
//! PING/PONG). A [`Conn`] is owned by one thread and used with blocking
//! reads and writes; [`poll_readable`] waits on many.

use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream, ToSocketAddrs};
use std::os::fd::{AsRawFd, FromRawFd, RawFd};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustls::pki_types::ServerName;

use crate::bail;
use crate::buf::ByteBuf;
use crate::error::{Error, Result};
use crate::proto::{self, Op};
use crate::ws::{self, Control, WsReader, WsWriter};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    Nats,
    Tls,
    Ws,
    Wss,
}

/// A parsed `nats://`, `tls://`, `ws://` or `wss://` URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    pub scheme: Scheme,
    pub host: String,
    pub port: u16,
    pub path: String,
    pub user: Option<String>,
    pub pass: Option<String>,
}

impl Endpoint {
    pub fn parse(url: &str) -> Result<Endpoint> {
        let (scheme, rest) = match url.split_once("://") {
            Some((s, r)) => (s.to_ascii_lowercase(), r),
            None => ("nats".to_string(), url),
        };
        let scheme = match scheme.as_str() {
            "nats" | "tcp" => Scheme::Nats,
            "tls" => Scheme::Tls,
            "ws" => Scheme::Ws,
            "wss" => Scheme::Wss,
            other => bail!("unknown URL scheme {other:?} in {url:?} (nats, tls, ws, wss)"),
        };
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], rest[i..].to_string()),
            None => (rest, "/".to_string()),
        };
        let (userinfo, hostport) = match authority.rsplit_once('@') {
            Some((u, h)) => (Some(u), h),
            None => (None, authority),
        };
        let (user, pass) = match userinfo {
            Some(u) => match u.split_once(':') {
                Some((a, b)) => (Some(a.to_string()), Some(b.to_string())),
                None => (Some(u.to_string()), None),
            },
            None => (None, None),
        };
        let default_port = match scheme {
            Scheme::Nats | Scheme::Tls => 4222,
            Scheme::Ws => 80,
            Scheme::Wss => 443,
        };
        let (host, port) = if let Some(h) = hostport.strip_prefix('[') {
            let (h, after) = h
                .split_once(']')
                .ok_or_else(|| Error::new(format!("bad IPv6 host in {url:?}")))?;
            let port = match after.strip_prefix(':') {
                Some(p) => p
                    .parse()
                    .map_err(|_| Error::new(format!("bad port in {url:?}")))?,
                None => default_port,
            };
            (h.to_string(), port)
        } else {
            match hostport.rsplit_once(':') {
                Some((h, p)) => (
                    h.to_string(),
                    p.parse()
                        .map_err(|_| Error::new(format!("bad port in {url:?}")))?,
                ),
                None => (hostport.to_string(), default_port),
            }
        };
        if host.is_empty() {
            bail!("no host in {url:?}");
        }
        Ok(Endpoint {
            scheme,
            host,
            port,
            path,
            user,
            pass,
        })
    }

    /// "tcp", "tls", "ws" or "wss".
    pub fn transport(&self) -> &'static str {
        match self.scheme {
            Scheme::Nats => "tcp",
            Scheme::Tls => "tls",
            Scheme::Ws => "ws",
            Scheme::Wss => "wss",
        }
    }

    pub fn is_ws(&self) -> bool {
        matches!(self.scheme, Scheme::Ws | Scheme::Wss)
    }

    fn host_header(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }

    pub fn socket_addr(&self) -> Result<SocketAddr> {
        (self.host.as_str(), self.port)
            .to_socket_addrs()
            .map_err(|e| Error::new(format!("resolve {}: {e}", self.host)))?
            .next()
            .ok_or_else(|| Error::new(format!("{} resolves to nothing", self.host)))
    }
}

/// What every connection of a run shares.
#[derive(Clone)]
pub struct ConnOpts {
    pub tls: Option<Arc<rustls::ClientConfig>>,
    /// Offer permessage-deflate (WebSocket).
    pub compress: bool,
    pub user: Option<String>,
    pub pass: Option<String>,
    pub token: Option<String>,
    pub name: String,
    /// Initial read buffer size.
    pub buf: usize,
    /// Connect/handshake timeout.
    pub timeout: Duration,
}

impl Default for ConnOpts {
    fn default() -> Self {
        ConnOpts {
            tls: None,
            compress: false,
            user: None,
            pass: None,
            token: None,
            name: "loadtest".into(),
            buf: 256 * 1024,
            timeout: Duration::from_secs(10),
        }
    }
}

/// Accepts any server certificate (`--insecure`).
#[derive(Debug)]
struct NoVerify(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for NoVerify {
    fn verify_server_cert(
        &self,
        _end_entity: &rustls::pki_types::CertificateDer<'_>,
        _intermediates: &[rustls::pki_types::CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: rustls::pki_types::UnixTime,
    ) -> std::result::Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> std::result::Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> std::result::Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// The TLS client configuration: `--ca FILE` (PEM) adds to the web roots;
/// `insecure` skips verification.
pub fn tls_config(insecure: bool, ca: Option<&Path>) -> Result<Arc<rustls::ClientConfig>> {
    use rustls::pki_types::pem::PemObject;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::new(format!("tls: {e}")))?;
    let config = if insecure {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(NoVerify(provider)))
            .with_no_client_auth()
    } else {
        let mut roots = rustls::RootCertStore::empty();
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        if let Some(path) = ca {
            let certs = rustls::pki_types::CertificateDer::pem_file_iter(path)
                .map_err(|e| Error::new(format!("--ca {}: {e}", path.display())))?;
            let mut n = 0;
            for c in certs {
                let c = c.map_err(|e| Error::new(format!("--ca {}: {e}", path.display())))?;
                roots
                    .add(c)
                    .map_err(|e| Error::new(format!("--ca {}: {e}", path.display())))?;
                n += 1;
            }
            if n == 0 {
                bail!("--ca {}: no certificate found", path.display());
            }
        }
        builder.with_root_certificates(roots).with_no_client_auth()
    };
    Ok(Arc::new(config))
}

pub struct TlsStream {
    pub conn: rustls::ClientConnection,
    pub tcp: TcpStream,
}

impl TlsStream {
    fn handshake(&mut self) -> io::Result<()> {
        while self.conn.is_handshaking() {
            self.conn.complete_io(&mut self.tcp)?;
        }
        while self.conn.wants_write() {
            self.conn.write_tls(&mut self.tcp)?;
        }
        Ok(())
    }
}

/// A byte stream: plain TCP or TLS over TCP.
pub enum Transport {
    Tcp(TcpStream),
    Tls(Box<TlsStream>),
}

impl Transport {
    pub fn tcp(&self) -> &TcpStream {
        match self {
            Transport::Tcp(t) => t,
            Transport::Tls(t) => &t.tcp,
        }
    }

    /// Reads what is there, blocking until something is (Ok(0): closed).
    pub fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Transport::Tcp(t) => loop {
                match t.read(buf) {
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    r => return r,
                }
            },
            Transport::Tls(t) => loop {
                match t.conn.reader().read(buf) {
                    Ok(n) => return Ok(n),
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                    Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(0),
                    Err(e) => return Err(e),
                }
                while t.conn.wants_write() {
                    t.conn.write_tls(&mut t.tcp)?;
                }
                let n = match t.conn.read_tls(&mut t.tcp) {
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    r => r?,
                };
                if n == 0 {
                    return Ok(0);
                }
                t.conn
                    .process_new_packets()
                    .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
            },
        }
    }

    /// TLS plaintext already decrypted and waiting (poll cannot see it).
    pub fn buffered(&mut self) -> bool {
        match self {
            Transport::Tcp(_) => false,
            Transport::Tls(t) => t
                .conn
                .process_new_packets()
                .map(|s| s.plaintext_bytes_to_read() > 0)
                .unwrap_or(true),
        }
    }

    pub fn write_all(&mut self, mut buf: &[u8]) -> io::Result<()> {
        match self {
            Transport::Tcp(t) => t.write_all(buf),
            Transport::Tls(t) => {
                while !buf.is_empty() {
                    let n = t.conn.writer().write(buf)?;
                    buf = &buf[n..];
                    while t.conn.wants_write() {
                        t.conn.write_tls(&mut t.tcp)?;
                    }
                }
                Ok(())
            }
        }
    }
}

/// Connects a TCP socket, from `source` when given (to spread many
/// connections over 127.0.0.x when ports run out).
pub fn tcp_connect(
    addr: SocketAddr,
    source: Option<Ipv4Addr>,
    timeout: Duration,
) -> io::Result<TcpStream> {
    let s = match (source, addr) {
        (Some(src), SocketAddr::V4(dst)) => unsafe {
            let fd = libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0);
            if fd < 0 {
                return Err(io::Error::last_os_error());
            }
            let stream = TcpStream::from_raw_fd(fd);
            let mut sa: libc::sockaddr_in = std::mem::zeroed();
            sa.sin_family = libc::AF_INET as libc::sa_family_t;
            sa.sin_addr.s_addr = u32::from_ne_bytes(src.octets());
            if libc::bind(
                fd,
                &sa as *const _ as *const libc::sockaddr,
                std::mem::size_of::<libc::sockaddr_in>() as u32,
            ) != 0
            {
                return Err(io::Error::last_os_error());
            }
            sa.sin_addr.s_addr = u32::from_ne_bytes(dst.ip().octets());
            sa.sin_port = dst.port().to_be();
            loop {
                let r = libc::connect(
                    fd,
                    &sa as *const _ as *const libc::sockaddr,
                    std::mem::size_of::<libc::sockaddr_in>() as u32,
                );
                if r == 0 {
                    break;
                }
                let e = io::Error::last_os_error();
                if e.kind() != io::ErrorKind::Interrupted {
                    return Err(e);
                }
            }
            stream
        },
        _ => TcpStream::connect_timeout(&addr, timeout)?,
    };
    s.set_nodelay(true)?;
    Ok(s)
}

/// One NATS connection.
pub struct Conn {
    pub t: Transport,
    ws: Option<(WsReader, WsWriter)>,
    /// The upgrade request's key, until the answer is checked.
    ws_key: Option<String>,
    /// Decoded NATS bytes from the server, not yet parsed.
    pub rbuf: ByteBuf,
    scratch: Vec<u8>,
    ctrl: Vec<Control>,
    /// The server's INFO.
    pub info: serde_json::Value,
    /// permessage-deflate was agreed.
    pub deflate: bool,
}

impl Conn {
    /// Connects and completes the handshake: the connection is ready for
    /// SUB/PUB when this returns (the server has answered our PING).
    pub fn connect(ep: &Endpoint, opts: &ConnOpts) -> Result<Conn> {
        Self::connect_from(ep, opts, None)
    }

    pub fn connect_from(ep: &Endpoint, opts: &ConnOpts, source: Option<Ipv4Addr>) -> Result<Conn> {
        let mut c = Self::begin(ep, opts, source)?;
        c.advance(ep, opts)?;
        c.wait_pong()
            .map_err(|e| e.context(format!("handshake with {}:{}", ep.host, ep.port)))?;
        c.ready()?;
        Ok(c)
    }

    /// First step of a connection, for opening many at once: TCP (and TLS
    /// for wss), and the WebSocket upgrade request sent. Then
    /// [`advance`](Self::advance), [`wait_pong`](Self::wait_pong),
    /// [`ready`](Self::ready).
    pub fn begin(ep: &Endpoint, opts: &ConnOpts, source: Option<Ipv4Addr>) -> Result<Conn> {
        let addr = ep.socket_addr()?;
        let tcp = tcp_connect(addr, source, opts.timeout)
            .map_err(|e| Error::new(format!("connect {addr}: {e}")))?;
        tcp.set_read_timeout(Some(opts.timeout))?;
        let mut c = Conn {
            t: Transport::Tcp(tcp),
            ws: None,
            ws_key: None,
            rbuf: ByteBuf::with_capacity(opts.buf.min(64 * 1024)),
            scratch: Vec::new(),
            ctrl: Vec::new(),
            info: serde_json::Value::Null,
            deflate: false,
        };
        if ep.scheme == Scheme::Wss {
            let tcp = c.t.tcp().try_clone()?;
            c.t = Self::start_tls(ep, opts, tcp)
                .map_err(|e| e.context(format!("handshake with {addr}")))?;
        }
        if ep.is_ws() {
            c.scratch = vec![0; opts.buf.clamp(4096, 1 << 20)];
            let key = ws::new_key();
            c.t.write_all(&ws::client_request(
                &ep.host_header(),
                &ep.path,
                &key,
                opts.compress,
            ))?;
            c.ws_key = Some(key);
        }
        Ok(c)
    }

    /// The handshake up to CONNECT + PING sent.
    pub fn advance(&mut self, ep: &Endpoint, opts: &ConnOpts) -> Result<()> {
        self.handshake(ep, opts)
            .map_err(|e| e.context(format!("handshake with {}:{}", ep.host, ep.port)))
    }

    /// Ends the handshake phase (no more read timeout).
    pub fn ready(&mut self) -> Result<()> {
        self.t.tcp().set_read_timeout(None)?;
        Ok(())
    }

    fn start_tls(ep: &Endpoint, opts: &ConnOpts, tcp: TcpStream) -> Result<Transport> {
        let cfg = match &opts.tls {
            Some(c) => c.clone(),
            None => tls_config(false, None)?,
        };
        let name = ServerName::try_from(ep.host.clone())
            .map_err(|e| Error::new(format!("tls name {}: {e}", ep.host)))?;
        let conn = rustls::ClientConnection::new(cfg, name)
            .map_err(|e| Error::new(format!("tls: {e}")))?;
        let mut s = TlsStream { conn, tcp };
        s.handshake()
            .map_err(|e| Error::new(format!("tls handshake: {e}")))?;
        Ok(Transport::Tls(Box::new(s)))
    }

    fn handshake(&mut self, ep: &Endpoint, opts: &ConnOpts) -> Result<()> {
        let c = self;
        let tls_done = matches!(c.t, Transport::Tls(_));
        if let Some(key) = c.ws_key.take() {
            let mut head = Vec::new();
            let (deflate, used) = loop {
                let n = c.t.read(&mut c.scratch)?;
                if n == 0 {
                    bail!("server closed the connection during the WebSocket upgrade");
                }
                head.extend_from_slice(&c.scratch[..n]);
                if let Some((h, used)) = ws::parse_http_head(&head)? {
                    break (ws::check_response(&h, &key)?, used);
                }
            };
            c.deflate = deflate && opts.compress;
            let mut reader = WsReader::new(false, c.deflate);
            reader.decode(&head[used..], &mut c.rbuf, &mut c.ctrl)?;
            c.ws = Some((reader, WsWriter::new(true, c.deflate)));
        }
        // INFO.
        let info = c.read_op_line(|op| match op {
            Op::Info(j) => Ok(Some(j.to_vec())),
            Op::Err(e) => Err(Error::new(format!(
                "server error: {}",
                String::from_utf8_lossy(e)
            ))),
            _ => Ok(None),
        })?;
        c.info = serde_json::from_slice(&info).map_err(|e| Error::new(format!("bad INFO: {e}")))?;
        let tls_required = c
            .info
            .get("tls_required")
            .and_then(|v| v.as_bool())
            .unwrap_or(false);
        if !tls_done && !ep.is_ws() && (ep.scheme == Scheme::Tls || tls_required) {
            let tcp = c.t.tcp().try_clone()?;
            c.t = Self::start_tls(ep, opts, tcp)?;
        }
        // CONNECT + PING.
        let mut connect = serde_json::json!({
            "verbose": false, "pedantic": false, "tls_required": ep.scheme == Scheme::Tls || tls_required,
            "name": opts.name, "lang": "rust-loadtest", "version": env!("CARGO_PKG_VERSION"),
            "protocol": 1, "headers": true, "no_responders": true, "echo": true,
        });
        let user = opts.user.clone().or_else(|| ep.user.clone());
        let pass = opts.pass.clone().or_else(|| ep.pass.clone());
        match (&user, &pass) {
            (Some(u), Some(p)) => {
                connect["user"] = u.clone().into();
                connect["pass"] = p.clone().into();
            }
            (Some(t), None) => connect["auth_token"] = t.clone().into(),
            _ => {}
        }
        if let Some(t) = &opts.token {
            connect["auth_token"] = t.clone().into();
        }
        let mut out = b"CONNECT ".to_vec();
        out.extend_from_slice(connect.to_string().as_bytes());
        out.extend_from_slice(b"\r\nPING\r\n");
        c.send(&out)?;
        Ok(())
    }

    /// Reads ops until `f` returns a value (answering server PINGs).
    fn read_op_line<T>(&mut self, mut f: impl FnMut(Op) -> Result<Option<T>>) -> Result<T> {
        loop {
            while let Some((op, n)) = proto::next_op(self.rbuf.filled())? {
                let ping = op == Op::Ping;
                let got = f(op)?;
                self.rbuf.consume(n);
                if ping {
                    self.send(b"PONG\r\n")?;
                }
                if let Some(v) = got {
                    return Ok(v);
                }
            }
            self.fill()?;
        }
    }

    /// Sends PING and waits for the PONG, dropping anything else but errors.
    pub fn ping_pong(&mut self) -> Result<()> {
        self.send(b"PING\r\n")?;
        self.wait_pong()
    }

    /// Reads until a PONG (the PING was sent before).
    pub fn wait_pong(&mut self) -> Result<()> {
        self.read_op_line(|op| match op {
            Op::Pong => Ok(Some(())),
            Op::Err(e) => Err(Error::new(format!(
                "server error: {}",
                String::from_utf8_lossy(e)
            ))),
            _ => Ok(None),
        })
    }

    /// One read from the socket; NATS bytes land in `rbuf`. WebSocket
    /// PINGs are answered here; a CLOSE or EOF is an error.
    pub fn fill(&mut self) -> io::Result<usize> {
        match &mut self.ws {
            None => {
                let spare = self.rbuf.spare(16 * 1024);
                let n = self.t.read(spare)?;
                if n == 0 {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "server closed the connection",
                    ));
                }
                self.rbuf.commit(n);
                Ok(n)
            }
            Some((reader, _)) => {
                let n = self.t.read(&mut self.scratch)?;
                if n == 0 {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "server closed the connection",
                    ));
                }
                let before = self.rbuf.len();
                reader.decode(&self.scratch[..n], &mut self.rbuf, &mut self.ctrl)?;
                let got = self.rbuf.len() - before;
                if !self.ctrl.is_empty() {
                    self.handle_control()?;
                }
                Ok(got)
            }
        }
    }

    #[cold]
    fn handle_control(&mut self) -> io::Result<()> {
        for c in std::mem::take(&mut self.ctrl) {
            match c.opcode {
                ws::OP_PING => {
                    let (_, w) = self.ws.as_mut().unwrap();
                    let frame = w.frame(ws::OP_PONG, &c.payload).to_vec();
                    self.t.write_all(&frame)?;
                }
                ws::OP_CLOSE => {
                    let code = if c.payload.len() >= 2 {
                        u16::from_be_bytes([c.payload[0], c.payload[1]])
                    } else {
                        1005
                    };
                    let reason =
                        String::from_utf8_lossy(c.payload.get(2..).unwrap_or(&[])).to_string();
                    return Err(io::Error::new(
                        io::ErrorKind::ConnectionAborted,
                        format!("server closed the WebSocket: {code} {reason}"),
                    ));
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// Sends NATS bytes (one WebSocket frame when over WebSocket).
    pub fn send(&mut self, nats: &[u8]) -> io::Result<()> {
        match &mut self.ws {
            None => self.t.write_all(nats),
            Some((_, w)) => {
                let frame = w.frame(ws::OP_BINARY, nats);
                self.t.write_all(frame)
            }
        }
    }

    /// Sends bytes as they are (pre-built WebSocket frames).
    pub fn send_raw(&mut self, raw: &[u8]) -> io::Result<()> {
        self.t.write_all(raw)
    }

    /// Queues one WebSocket frame for NATS bytes (sent by [`flush_frames`]).
    pub fn push_frame(&mut self, nats: &[u8]) {
        let (_, w) = self.ws.as_mut().expect("websocket");
        w.push_frame(ws::OP_BINARY, nats);
    }

    pub fn flush_frames(&mut self) -> io::Result<()> {
        let (_, w) = self.ws.as_mut().expect("websocket");
        let r = self.t.write_all(&w.out);
        w.out.clear();
        r
    }

    pub fn is_ws(&self) -> bool {
        self.ws.is_some()
    }

    pub fn fd(&self) -> RawFd {
        self.t.tcp().as_raw_fd()
    }

    /// Parses what is buffered; `f` sees each op. Server PINGs are answered
    /// and -ERR ends the connection with an error.
    pub fn process(&mut self, mut f: impl FnMut(Op) -> Result<()>) -> Result<()> {
        let mut pings = 0;
        let used = proto::parse(self.rbuf.filled(), |op| {
            match op {
                Op::Ping => pings += 1,
                Op::Err(e) => {
                    bail!("server error: {}", String::from_utf8_lossy(e));
                }
                _ => {}
            }
            f(op)
        })??;
        self.rbuf.consume(used);
        for _ in 0..pings {
            self.send(b"PONG\r\n")?;
        }
        Ok(())
    }

    /// Closes gracefully (WebSocket close frame, then shutdown).
    pub fn close(mut self) {
        if let Some((_, w)) = &mut self.ws {
            let f = w.frame(ws::OP_CLOSE, &1000u16.to_be_bytes()).to_vec();
            let _ = self.t.write_all(&f);
        }
        let _ = self.t.tcp().shutdown(std::net::Shutdown::Both);
    }
}

/// Waits until some of `fds` is readable or `timeout` passes; fills
/// `ready` with the indexes that are.
pub fn poll_readable(
    fds: &[RawFd],
    timeout: Duration,
    pfds: &mut Vec<libc::pollfd>,
    ready: &mut Vec<usize>,
) -> io::Result<()> {
    pfds.clear();
    pfds.extend(fds.iter().map(|&fd| libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    }));
    ready.clear();
    let ts = libc::timespec {
        tv_sec: timeout.as_secs() as _,
        tv_nsec: timeout.subsec_nanos() as _,
    };
    let r = unsafe { libc::ppoll(pfds.as_mut_ptr(), pfds.len() as _, &ts, std::ptr::null()) };
    if r < 0 {
        let e = io::Error::last_os_error();
        if e.kind() == io::ErrorKind::Interrupted {
            return Ok(());
        }
        return Err(e);
    }
    for (i, p) in pfds.iter().enumerate() {
        if p.revents != 0 {
            ready.push(i);
        }
    }
    Ok(())
}

/// Reads `VmRSS` of a process, in bytes.
pub fn rss_bytes(pid: u32) -> Result<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .map_err(|e| Error::new(format!("/proc/{pid}/status: {e}")))?;
    for l in s.lines() {
        if let Some(v) = l.strip_prefix("VmRSS:") {
            let kb: u64 = v
                .trim()
                .trim_end_matches("kB")
                .trim()
                .parse()
                .map_err(|_| Error::new("bad VmRSS"))?;
            return Ok(kb * 1024);
        }
    }
    bail!("no VmRSS in /proc/{pid}/status")
}

/// CPU time a process has used so far (user and system, all threads), in
/// seconds.
pub fn cpu_seconds(pid: u32) -> Result<f64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map_err(|e| Error::new(format!("/proc/{pid}/stat: {e}")))?;
    // The command name (field 2) may hold spaces: count from after it.
    let rest = s
        .rsplit_once(')')
        .map(|(_, r)| r)
        .ok_or_else(|| Error::new("bad /proc stat"))?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15; `rest` starts at field 3.
    let tick = |i: usize| -> Result<f64> {
        fields
            .get(i - 3)
            .and_then(|f| f.parse::<f64>().ok())
            .ok_or_else(|| Error::new("bad /proc stat"))
    };
    // SAFETY: sysconf reads a constant.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    Ok((tick(14)? + tick(15)?) / hz)
}

/// Sleeps until `t` (short sleeps, so late by little).
pub fn sleep_until(t: Instant) {
    let now = Instant::now();
    if t > now {
        std::thread::sleep(t - now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let e = Endpoint::parse("nats://127.0.0.1:4222").unwrap();
        assert_eq!(
            (e.scheme, e.host.as_str(), e.port),
            (Scheme::Nats, "127.0.0.1", 4222)
        );
        let e = Endpoint::parse("wss://u:p@example.com/nats").unwrap();
        assert_eq!(
            (
                e.scheme,
                e.host.as_str(),
                e.port,
                e.path.as_str(),
                e.user.as_deref(),
                e.pass.as_deref()
            ),
            (
                Scheme::Wss,
                "example.com",
                443,
                "/nats",
                Some("u"),
                Some("p")
            )
        );
        let e = Endpoint::parse("ws://[::1]:8080").unwrap();
        assert_eq!(
            (e.host.as_str(), e.port, e.host_header()),
            ("::1", 8080, "[::1]:8080".to_string())
        );
        assert_eq!(Endpoint::parse("localhost").unwrap().port, 4222);
        assert!(Endpoint::parse("http://x").is_err());
    }
}
