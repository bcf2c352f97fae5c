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
}

pub fn pki() -> &'static Pki {
    static PKI: OnceLock<Pki> = OnceLock::new();
    PKI.get_or_init(make)
}

impl Pki {
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
    }
}
