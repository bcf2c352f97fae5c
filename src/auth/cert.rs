//! Who a client certificate names, for `verify_and_map`: the names a
//! user may be looked up by, in the order and the forms nats-server tries
//! them (e-mail SANs, DNS SANs, URI SANs, the subject as a distinguished
//! name matched attribute by attribute, then the subject written the way
//! Go's `pkix.RDNSequence.String()` writes it, first with its domain
//! components appended). Pure: bytes of a certificate in, names out.

use x509_parser::prelude::{FromDer, GeneralName, X509Certificate};

/// Short names of the attribute types a distinguished name may use, as
/// nats-server's DN matching knows them (an attribute of another type
/// makes the subject unusable as a DN, as there).
const DN_TYPES: [(&str, &str); 10] = [
    ("2.5.4.3", "CN"),
    ("2.5.4.5", "SERIALNUMBER"),
    ("2.5.4.6", "C"),
    ("2.5.4.7", "L"),
    ("2.5.4.8", "ST"),
    ("2.5.4.9", "STREET"),
    ("2.5.4.10", "O"),
    ("2.5.4.11", "OU"),
    ("2.5.4.17", "POSTALCODE"),
    ("0.9.2342.19200300.100.1.25", "DC"),
];

/// The OID of a DN attribute type by its short name.
fn oid(name: &str) -> &'static str {
    DN_TYPES
        .iter()
        .find(|(_, n)| *n == name)
        .map(|(o, _)| *o)
        .expect("a known attribute type")
}

/// The identities a client certificate offers.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct CertNames {
    pub emails: Vec<String>,
    pub dns: Vec<String>,
    pub uris: Vec<String>,
    /// The subject as a DN, most specific RDN first; `None` when an
    /// attribute is of a type DN matching does not know.
    pub dn: Option<Dn>,
    /// The subject with its domain components appended (`…,DC=a,DC=b`),
    /// when it has any.
    pub subject_with_dcs: Option<String>,
    /// The subject as Go prints a parsed certificate's subject.
    pub subject: String,
}

impl CertNames {
    /// The names in a DER certificate, or `None` when it does not parse.
    pub fn from_der(der: &[u8]) -> Option<CertNames> {
        let (_, cert) = X509Certificate::from_der(der).ok()?;
        let mut names = CertNames::default();
        if let Ok(Some(san)) = cert.subject_alternative_name() {
            for name in &san.value.general_names {
                match name {
                    GeneralName::RFC822Name(s) => names.emails.push(s.to_string()),
                    GeneralName::DNSName(s) => names.dns.push(s.to_string()),
                    GeneralName::URI(s) => names.uris.push(s.to_string()),
                    _ => {}
                }
            }
        }
        // The subject's attributes in certificate order, grouped by RDN.
        let rdns: Vec<Vec<(String, Option<String>)>> = cert
            .subject()
            .iter()
            .map(|rdn| {
                rdn.iter()
                    .map(|a| {
                        let value = a.as_str().ok().map(str::to_string);
                        (a.attr_type().to_id_string(), value)
                    })
                    .collect()
            })
            .collect();
        names.dn = Dn::from_subject(&rdns);
        names.subject = go_subject(&rdns);
        let dcs: Vec<String> = rdns
            .iter()
            .flatten()
            .filter_map(|(o, v)| (o == oid("DC")).then_some(v.as_ref()?))
            .map(|v| format!("DC={v}"))
            .collect();
        if !dcs.is_empty() {
            names.subject_with_dcs = Some(format!("{},{}", names.subject, dcs.join(",")));
        }
        Some(names)
    }

    /// Whether the certificate names anything at all.
    pub fn is_empty(&self) -> bool {
        self.emails.is_empty()
            && self.dns.is_empty()
            && self.uris.is_empty()
            && self.subject.is_empty()
            && self.dn.as_ref().is_none_or(|d| d.rdns.is_empty())
    }
}

/// What Go's `pkix.Name` keeps of a parsed subject, written as
/// `RDNSequence.String()` writes `Name.ToRDNSequence()`: the known
/// attributes grouped by type in Go's fixed order (several values of one
/// type become one multi-valued RDN, the last CN and serial number win),
/// most specific first, values escaped as Go escapes them. Other
/// attributes (DC, e-mail, UID) are left out, as Go leaves them out.
fn go_subject(rdns: &[Vec<(String, Option<String>)>]) -> String {
    let values = |name: &str| -> Vec<&str> {
        rdns.iter()
            .flatten()
            .filter(|(o, _)| o == oid(name))
            .filter_map(|(_, v)| v.as_deref())
            .collect()
    };
    // Go's ToRDNSequence order, printed in reverse; one CN and one serial
    // number, the last.
    const GO_ORDER: [&str; 9] = [
        "C",
        "ST",
        "L",
        "STREET",
        "POSTALCODE",
        "O",
        "OU",
        "CN",
        "SERIALNUMBER",
    ];
    let order = GO_ORDER.map(|name| {
        let mut v = values(name);
        if matches!(name, "CN" | "SERIALNUMBER") && v.len() > 1 {
            v.drain(..v.len() - 1);
        }
        (name, v)
    });
    order
        .iter()
        .rev()
        .filter(|(_, v)| !v.is_empty())
        .map(|(name, values)| {
            values
                .iter()
                .map(|v| format!("{name}={}", go_escape(v)))
                .collect::<Vec<_>>()
                .join("+")
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// Go's escaping of an attribute value in `RDNSequence.String()`.
fn go_escape(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for (k, c) in v.char_indices() {
        let escape = match c {
            ',' | '+' | '"' | '\\' | '<' | '>' | ';' => true,
            ' ' => k == 0 || k == v.len() - 1,
            '#' => k == 0,
            _ => false,
        };
        if escape {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// A distinguished name: RDNs, each a set of (type, value) attributes.
#[derive(Debug, Clone, PartialEq)]
pub struct Dn {
    rdns: Vec<Vec<(String, String)>>,
}

impl Dn {
    /// A certificate subject (RDNs in certificate order) as a DN, most
    /// specific first; `None` when an attribute's type is not one DN
    /// matching knows or its value is not a string.
    fn from_subject(rdns: &[Vec<(String, Option<String>)>]) -> Option<Dn> {
        let mut out = Vec::new();
        for rdn in rdns.iter().rev().filter(|r| !r.is_empty()) {
            let mut attrs = Vec::new();
            for (oid, value) in rdn.iter().rev() {
                let (_, name) = DN_TYPES.iter().find(|(o, _)| o == oid)?;
                attrs.push((name.to_string(), value.clone()?));
            }
            out.push(attrs);
        }
        Some(Dn { rdns: out })
    }

    /// An LDAP-style DN string (`CN=a,OU=b+O=c`, RFC 4514 escapes), as a
    /// user name written for certificate mapping; `None` when it is not
    /// one (a plain user name has no `=`).
    pub fn parse(s: &str) -> Option<Dn> {
        let bytes = s.as_bytes();
        let mut rdns = Vec::new();
        let mut rdn = Vec::new();
        let mut buf: Vec<u8> = Vec::new();
        let mut kind: Option<String> = None;
        // Spaces at the end of a type or value are dropped unless escaped.
        let mut trailing = 0;
        let take = |buf: &mut Vec<u8>, trailing: &mut usize| {
            buf.truncate(buf.len() - *trailing);
            *trailing = 0;
            String::from_utf8(std::mem::take(buf)).ok()
        };
        let mut i = 0;
        while i < bytes.len() {
            let c = bytes[i];
            match c {
                b'\\' => {
                    trailing = 0;
                    let next = *bytes.get(i + 1)?;
                    if b" \"#+,;<=>\\".contains(&next) {
                        buf.push(next);
                        i += 2;
                        continue;
                    }
                    let hex = s.get(i + 1..i + 3)?;
                    buf.push(u8::from_str_radix(hex, 16).ok()?);
                    i += 3;
                    continue;
                }
                b'=' => {
                    kind = Some(take(&mut buf, &mut trailing)?);
                    if bytes.get(i + 1) == Some(&b'#') {
                        return None; // BER-encoded values are not supported
                    }
                }
                b',' | b'+' => {
                    let k = kind.take().filter(|k| !k.is_empty())?;
                    rdn.push((k, take(&mut buf, &mut trailing)?));
                    if c == b',' {
                        rdns.push(std::mem::take(&mut rdn));
                    }
                }
                b' ' if buf.is_empty() => {}
                _ => {
                    trailing = if c == b' ' { trailing + 1 } else { 0 };
                    buf.push(c);
                }
            }
            i += 1;
        }
        if !buf.is_empty() {
            let k = kind.take().filter(|k| !k.is_empty())?;
            rdn.push((k, take(&mut buf, &mut trailing)?));
            rdns.push(rdn);
        }
        Some(Dn { rdns })
    }

    /// The same RDNs in the same order (attribute types compared without
    /// case, values exactly).
    pub fn equal(&self, other: &Dn) -> bool {
        self.rdns.len() == other.rdns.len()
            && self
                .rdns
                .iter()
                .zip(&other.rdns)
                .all(|(a, b)| rdn_equal(a, b))
    }

    /// The same RDNs in any order.
    pub fn rdns_match(&self, other: &Dn) -> bool {
        if self.rdns.len() != other.rdns.len() {
            return false;
        }
        let mut used = vec![false; other.rdns.len()];
        self.rdns.iter().all(|a| {
            let found = other
                .rdns
                .iter()
                .enumerate()
                .find(|(j, b)| !used[*j] && rdn_equal(a, b));
            found.map(|(j, _)| used[j] = true).is_some()
        })
    }
}

fn rdn_equal(a: &[(String, String)], b: &[(String, String)]) -> bool {
    let has = |set: &[(String, String)], (t, v): &(String, String)| {
        set.iter()
            .any(|(t2, v2)| t.eq_ignore_ascii_case(t2) && v == v2)
    };
    a.len() == b.len() && a.iter().all(|x| has(b, x)) && b.iter().all(|x| has(a, x))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rcgen::{CertificateParams, DnType, KeyPair, SanType};

    fn cert(params: CertificateParams) -> CertNames {
        let key = KeyPair::generate().unwrap();
        let der = params.self_signed(&key).unwrap().der().to_vec();
        CertNames::from_der(&der).unwrap()
    }

    fn subject(attrs: &[(DnType, &str)]) -> CertNames {
        let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
        p.distinguished_name = rcgen::DistinguishedName::new();
        for (t, v) in attrs {
            p.distinguished_name.push(t.clone(), *v);
        }
        cert(p)
    }

    #[test]
    fn sans_are_read_by_kind() {
        let mut p = CertificateParams::new(vec!["a.example".to_string()]).unwrap();
        p.subject_alt_names
            .push(SanType::Rfc822Name("u@example.com".try_into().unwrap()));
        p.subject_alt_names
            .push(SanType::URI("spiffe://x/y".try_into().unwrap()));
        let n = cert(p);
        assert_eq!(n.dns, ["a.example"]);
        assert_eq!(n.emails, ["u@example.com"]);
        assert_eq!(n.uris, ["spiffe://x/y"]);
    }

    #[test]
    fn the_subject_is_written_as_go_writes_it() {
        // Certificate order C, O, OU, CN; Go prints most specific first.
        let n = subject(&[
            (DnType::CountryName, "US"),
            (DnType::OrganizationName, "Synadia"),
            (DnType::OrganizationalUnitName, "NATS.io"),
            (DnType::CommonName, "example.com"),
        ]);
        assert_eq!(n.subject, "CN=example.com,OU=NATS.io,O=Synadia,C=US");
        assert_eq!(n.subject_with_dcs, None);
        // Go's fixed order, whatever the certificate's: CN before O.
        let n = subject(&[(DnType::CommonName, "x"), (DnType::OrganizationName, "o")]);
        assert_eq!(n.subject, "CN=x,O=o");
    }

    #[test]
    fn domain_components_are_appended_and_escapes_applied() {
        let dc = DnType::CustomDnType(vec![0, 9, 2342, 19200300, 100, 1, 25]);
        let n = subject(&[(dc, "org"), (DnType::CommonName, " a,b+c#")]);
        assert_eq!(n.subject, "CN=\\ a\\,b\\+c#");
        assert_eq!(
            n.subject_with_dcs.as_deref(),
            Some("CN=\\ a\\,b\\+c#,DC=org")
        );
        let dn = n.dn.unwrap();
        assert!(dn.equal(&Dn::parse("cn=\\ a\\,b\\+c#, dc=org").unwrap()));
        // Reordered RDNs are not equal, but match.
        let reordered = Dn::parse("DC=org,CN=\\ a\\,b\\+c#").unwrap();
        assert!(!dn.equal(&reordered));
        assert!(dn.rdns_match(&reordered));
        assert!(!dn.rdns_match(&Dn::parse("DC=org,CN=\\ a\\,b\\+c").unwrap()));
    }

    #[test]
    fn dn_strings_parse_as_ldap_writes_them() {
        let d = Dn::parse("CN=a , OU=b+O=c,DC=\\41\\20").unwrap();
        assert_eq!(
            d.rdns,
            [
                vec![("CN".into(), "a".into())],
                vec![("OU".into(), "b".into()), ("O".into(), "c".into())],
                vec![("DC".into(), "A ".into())],
            ]
        );
        // Multi-valued RDNs match in any attribute order.
        assert!(d.equal(&Dn::parse("CN=a,O=c+OU=b,DC=A\\ ").unwrap()));
        // Values compare exactly.
        assert!(!d.equal(&Dn::parse("CN=A,OU=b+O=c,DC=A\\ ").unwrap()));
        for not_a_dn in ["alice", "=x", "CN=#0401", "CN=a,=b", "CN=a\\", "CN=\\zz"] {
            assert_eq!(Dn::parse(not_a_dn), None, "{not_a_dn}");
        }
    }

    #[test]
    fn unknown_attribute_types_leave_no_dn_but_a_subject_string() {
        let uid = DnType::CustomDnType(vec![0, 9, 2342, 19200300, 100, 1, 1]);
        let n = subject(&[(DnType::CommonName, "x"), (uid, "u1")]);
        assert_eq!(n.dn, None);
        assert_eq!(n.subject, "CN=x");
    }

    #[test]
    fn garbage_is_not_a_certificate() {
        assert_eq!(CertNames::from_der(b"\x30\x03\x02\x01"), None);
        assert_eq!(CertNames::from_der(&[]), None);
    }
}
