//! TLS settings: a `tls {}` block turned into a rustls server configuration,
//! shared by the client port (tls://) and the websocket port (wss://).
//! The names a block may use (cipher suites, curves, versions) are Go's, as
//! nats-server reads them; a restriction is honoured by offering only what
//! it allows, never by offering more.

use std::sync::Arc;

use rustls::crypto::{ring, CryptoProvider};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig};

use crate::config::options::TlsOptions;

/// How long a client has to finish the TLS handshake on the client port
/// when the block sets no `timeout` (nats-server's TLS_TIMEOUT).
pub const DEFAULT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);

/// Every suite name Go's crypto/tls knows (secure and insecure): a name
/// from this list is valid in `cipher_suites` even when rustls does not
/// implement it (it is then simply not offered).
const GO_CIPHER_SUITES: &[&str] = &[
    "TLS_AES_128_GCM_SHA256",
    "TLS_AES_256_GCM_SHA384",
    "TLS_CHACHA20_POLY1305_SHA256",
    "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA",
    "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA",
    "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA",
    "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA",
    "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
    "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
    "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
    "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
    "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
    "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
    "TLS_RSA_WITH_RC4_128_SHA",
    "TLS_RSA_WITH_3DES_EDE_CBC_SHA",
    "TLS_RSA_WITH_AES_128_CBC_SHA",
    "TLS_RSA_WITH_AES_256_CBC_SHA",
    "TLS_RSA_WITH_AES_128_CBC_SHA256",
    "TLS_RSA_WITH_AES_128_GCM_SHA256",
    "TLS_RSA_WITH_AES_256_GCM_SHA384",
    "TLS_ECDHE_ECDSA_WITH_RC4_128_SHA",
    "TLS_ECDHE_RSA_WITH_RC4_128_SHA",
    "TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA",
    "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256",
    "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256",
];

/// Go's curve names and the rustls group each stands for (`None`: rustls
/// has no such group, so it is not offered).
const GO_CURVES: &[(&str, Option<&str>)] = &[
    ("X25519", Some("X25519")),
    ("CurveP256", Some("secp256r1")),
    ("CurveP384", Some("secp384r1")),
    ("CurveP521", None),
];

pub fn is_known_cipher(name: &str) -> bool {
    GO_CIPHER_SUITES.contains(&name)
}

pub fn is_known_curve(name: &str) -> bool {
    GO_CURVES.iter().any(|(n, _)| *n == name)
}

/// `min_version`: "1.2" or "1.3" (true); older versions are refused with
/// nats-server's message.
pub fn parse_min_version(v: &str) -> Result<bool, String> {
    match v.trim() {
        "1.3" => Ok(true),
        "1.2" => Ok(false),
        old @ ("1.0" | "1.1") => Err(format!("unsupported TLS version: TLS {old}")),
        other => Err(format!("unknown version: {other}")),
    }
}

/// The rustls configuration for a `tls {}` block. Errors are for the
/// operator (the start refuses with them).
pub fn server_config(t: &TlsOptions) -> Result<Arc<ServerConfig>, String> {
    let (Some(cert_file), Some(key_file)) = (&t.cert_file, &t.key_file) else {
        return Err("TLS needs both 'cert_file' and 'key_file'".into());
    };
    let certs = CertificateDer::pem_file_iter(cert_file)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .map_err(|e| format!("error parsing X509 certificate/key pair: {e}"))?;
    let key = PrivateKeyDer::from_pem_file(key_file)
        .map_err(|e| format!("error parsing X509 certificate/key pair: {e}"))?;

    let provider = Arc::new(provider(t)?);
    let versions: &[&rustls::SupportedProtocolVersion] = if t.min_version_13 {
        &[&rustls::version::TLS13]
    } else {
        &[&rustls::version::TLS13, &rustls::version::TLS12]
    };
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(versions)
        .map_err(|e| format!("TLS configuration: {e}"))?;
    let builder = if t.verify {
        let Some(ca_file) = &t.ca_file else {
            return Err("'verify' needs a 'ca_file' to check client certificates against".into());
        };
        let mut roots = RootCertStore::empty();
        for ca in CertificateDer::pem_file_iter(ca_file)
            .map_err(|e| format!("failed to parse root ca certificate: {e}"))?
        {
            let ca = ca.map_err(|e| format!("failed to parse root ca certificate: {e}"))?;
            roots
                .add(ca)
                .map_err(|e| format!("failed to parse root ca certificate: {e}"))?;
        }
        let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
            .build()
            .map_err(|e| format!("TLS client verification: {e}"))?;
        builder.with_client_cert_verifier(verifier)
    } else {
        builder.with_no_client_auth()
    };
    let mut config = builder
        .with_single_cert(certs, key)
        .map_err(|e| format!("error parsing X509 certificate/key pair: {e}"))?;
    // No tickets: a NATS client keeps one long connection, and a ticket
    // would cost every handshake a record it rarely uses.
    config.send_tls13_tickets = 0;
    Ok(Arc::new(config))
}

/// rustls's ring provider, narrowed to the block's suites and curves.
fn provider(t: &TlsOptions) -> Result<CryptoProvider, String> {
    let mut p = ring::default_provider();
    if !t.cipher_suites.is_empty() {
        // TLS 1.3 suites stay: Go does not let them be configured either.
        p.cipher_suites.retain(|s| {
            s.version() == &rustls::version::TLS13
                || s.suite()
                    .as_str()
                    .is_some_and(|n| t.cipher_suites.iter().any(|c| c == n))
        });
    }
    if !t.curve_preferences.is_empty() {
        let all = std::mem::take(&mut p.kx_groups);
        for name in &t.curve_preferences {
            let rustls_name = GO_CURVES.iter().find(|(n, _)| n == name).and_then(|c| c.1);
            if let Some(g) = all.iter().find(|g| {
                rustls_name.is_some_and(|r| format!("{:?}", g.name()).eq_ignore_ascii_case(r))
            }) {
                p.kx_groups.push(*g);
            }
        }
        if p.kx_groups.is_empty() {
            return Err(
                "none of the curve_preferences is supported (X25519, CurveP256, CurveP384 are)"
                    .into(),
            );
        }
    }
    Ok(p)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions() {
        assert_eq!(parse_min_version("1.3"), Ok(true));
        assert_eq!(parse_min_version("1.2"), Ok(false));
        assert_eq!(
            parse_min_version("1.1"),
            Err("unsupported TLS version: TLS 1.1".into())
        );
        assert!(parse_min_version("2").is_err());
    }

    #[test]
    fn suites_and_curves_narrow_the_offer() {
        let t = TlsOptions {
            cipher_suites: vec!["TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384".into()],
            curve_preferences: vec!["CurveP521".into(), "CurveP384".into()],
            ..TlsOptions::default()
        };
        let p = provider(&t).unwrap();
        let tls12: Vec<_> = p
            .cipher_suites
            .iter()
            .filter(|s| s.version() == &rustls::version::TLS12)
            .map(|s| s.suite())
            .collect();
        assert_eq!(
            tls12,
            [rustls::CipherSuite::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384]
        );
        assert!(p
            .cipher_suites
            .iter()
            .any(|s| s.version() == &rustls::version::TLS13));
        let groups: Vec<_> = p.kx_groups.iter().map(|g| g.name()).collect();
        assert_eq!(groups, [rustls::NamedGroup::secp384r1]);

        let only_p521 = TlsOptions {
            curve_preferences: vec!["CurveP521".into()],
            ..TlsOptions::default()
        };
        assert!(provider(&only_p521).is_err());
        assert!(is_known_cipher("TLS_RSA_WITH_AES_128_CBC_SHA"));
        assert!(!is_known_cipher("TLS_NOPE"));
    }
}
