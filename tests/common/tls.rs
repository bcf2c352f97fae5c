//! Test certificates, made once per test binary with rcgen: a CA, a server
//! certificate for 127.0.0.1 and localhost, a client certificate from the
//! same CA, and one from a CA the server does not trust.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};

pub struct Pki {
    _dir: tempfile::TempDir,
    pub ca: PathBuf,
    pub server_cert: PathBuf,
    pub server_key: PathBuf,
    pub client_cert: PathBuf,
    pub client_key: PathBuf,
    /// A client certificate the server's CA did not sign.
    pub stranger_cert: PathBuf,
    pub stranger_key: PathBuf,
    ca_params: CertificateParams,
    ca_key: KeyPair,
}

pub fn pki() -> &'static Pki {
    static PKI: OnceLock<Pki> = OnceLock::new();
    PKI.get_or_init(make)
}

impl Pki {
    /// A client certificate from the test CA, with no subject but what
    /// `shape` gives it (names, alternative names); written as
    /// `<file>-<n>-cert.pem` and `<file>-<n>-key.pem`.
    pub fn issue(
        &self,
        file: &str,
        shape: impl FnOnce(&mut CertificateParams),
    ) -> (PathBuf, PathBuf) {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name = rcgen::DistinguishedName::new();
        shape(&mut params);
        let key = KeyPair::generate().unwrap();
        let issuer = Issuer::from_params(&self.ca_params, &self.ca_key);
        let cert = params.signed_by(&key, &issuer).unwrap();
        // Tests issue at once from several threads: each pair its own files.
        static ISSUED: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = ISSUED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let d = self._dir.path();
        (
            write(d, &format!("{file}-{n}-cert.pem"), &cert.pem()),
            write(d, &format!("{file}-{n}-key.pem"), &key.serialize_pem()),
        )
    }

    /// A rustls client trusting the test CA and presenting `cert`.
    pub fn client_config(&self, cert: &Path, key: &Path) -> rustls::ClientConfig {
        use rustls::pki_types::pem::PemObject;
        use rustls::pki_types::{CertificateDer, PrivateKeyDer};
        let mut roots = rustls::RootCertStore::empty();
        for c in CertificateDer::pem_file_iter(&self.ca).unwrap() {
            roots.add(c.unwrap()).unwrap();
        }
        let chain = CertificateDer::pem_file_iter(cert)
            .unwrap()
            .map(Result::unwrap)
            .collect();
        let key = PrivateKeyDer::from_pem_file(key).unwrap();
        let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
        rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_client_auth_cert(chain, key)
            .unwrap()
    }

    /// A `tls {}` block serving the server certificate, plus `extra`.
    pub fn block(&self, extra: &str) -> String {
        format!(
            "tls {{ cert_file: \"{}\", key_file: \"{}\", ca_file: \"{}\" {extra} }}",
            self.server_cert.display(),
            self.server_key.display(),
            self.ca.display()
        )
    }
}

fn ca(name: &str) -> (CertificateParams, KeyPair) {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, name);
    let key = KeyPair::generate().unwrap();
    (params, key)
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

fn make() -> Pki {
    let dir = tempfile::tempdir().unwrap();
    let (ca_params, ca_key) = ca("ringnats test CA");
    let ca_cert = ca_params.self_signed(&ca_key).unwrap();
    let issuer = Issuer::from_params(&ca_params, &ca_key);

    let leaf = |names: Vec<String>, cn: &str, issuer: &Issuer<'_, &KeyPair>| {
        let mut params = CertificateParams::new(names).unwrap();
        params.distinguished_name.push(DnType::CommonName, cn);
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, issuer).unwrap();
        (cert.pem(), key.serialize_pem())
    };
    let (server_cert, server_key) = leaf(
        vec!["127.0.0.1".into(), "localhost".into()],
        "ringnats",
        &issuer,
    );
    let (client_cert, client_key) = leaf(vec!["client".into()], "client", &issuer);
    let (other_params, other_key) = ca("another CA");
    let other = Issuer::from_params(&other_params, &other_key);
    let (stranger_cert, stranger_key) = leaf(vec!["stranger".into()], "stranger", &other);

    let d = dir.path();
    Pki {
        ca: write(d, "ca.pem", &ca_cert.pem()),
        server_cert: write(d, "server-cert.pem", &server_cert),
        server_key: write(d, "server-key.pem", &server_key),
        client_cert: write(d, "client-cert.pem", &client_cert),
        client_key: write(d, "client-key.pem", &client_key),
        stranger_cert: write(d, "stranger-cert.pem", &stranger_cert),
        stranger_key: write(d, "stranger-key.pem", &stranger_key),
        _dir: dir,
        ca_params,
        ca_key,
    }
}

/// A client's TLS connection, blocking.
pub type TlsStream = rustls::StreamOwned<rustls::ClientConnection, std::net::TcpStream>;

/// TLS from the client's side over a connected socket.
pub fn over(tcp: std::net::TcpStream, config: rustls::ClientConfig) -> TlsStream {
    let name = rustls::pki_types::ServerName::try_from("127.0.0.1").unwrap();
    let conn = rustls::ClientConnection::new(std::sync::Arc::new(config), name).unwrap();
    rustls::StreamOwned::new(conn, tcp)
}

fn tcp(addr: &str) -> std::net::TcpStream {
    let tcp = std::net::TcpStream::connect(addr).unwrap();
    tcp.set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    tcp
}

/// The client port over TLS presenting `cert`: the INFO in the clear is
/// read first (as nats-server 2.9 sends it), then TLS starts.
pub fn tls_client(addr: &str, cert: &(PathBuf, PathBuf)) -> super::Raw<TlsStream> {
    let mut clear = super::Raw::over(tcp(addr));
    let info = clear.line();
    assert!(info.starts_with("INFO {"), "{info}");
    let config = pki().client_config(&cert.0, &cert.1);
    super::Raw::over(over(clear.stream, config))
}

/// wss:// presenting `cert`: TLS, the upgrade, the INFO.
pub fn wss_client(addr: &str, cert: &(PathBuf, PathBuf)) -> super::ws::WsRaw<TlsStream> {
    let config = pki().client_config(&cert.0, &cert.1);
    let stream = over(tcp(addr), config);
    super::ws::WsRaw::over(stream, &super::ws::request(&[]))
        .upgraded()
        .0
}
