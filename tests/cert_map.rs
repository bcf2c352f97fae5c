//! `verify_and_map`: the user is the one the client certificate names, on
//! the client port over TLS and on wss://, each listener mapping by its own
//! `tls {}` block. The names are tried as nats-server tries them: e-mail,
//! DNS and URI alternative names, the subject as a distinguished name (in
//! order, then reordered), the subject as Go writes it, with and without
//! its domain components. Who logged in shows in what they may publish.

mod common;

use common::tls::{pki, tls_client, wss_client};
use common::{Conn, Io, Server, Start};
use rcgen::{CertificateParams, DnType, SanType};
use std::path::PathBuf;

type Cert = (PathBuf, PathBuf);

/// Every user may publish only on its own tag.
const USERS: &str = r#"
authorization {
  users = [
    {user: "alice@example.com", permissions: {publish: "alice"}}
    {user: "bob.example", permissions: {publish: "bob"}}
    {user: "spiffe://example/carol", permissions: {publish: "carol"}}
    {user: "CN=dave, OU=ops, O=Example", permissions: {publish: "dave"}}
    {user: "O=Example,CN=erin", permissions: {publish: "erin"}}
    {user: "CN=frank", permissions: {publish: "frank"}}
    {user: "CN=gina,DC=example", permissions: {publish: "gina"}}
    {user: "hank", password: "s", permissions: {publish: "hank"}}
    {user: "wsonly.example", allowed_connection_types: ["WEBSOCKET"], permissions: {publish: "wsonly"}}
    {user: "tcp.example", allowed_connection_types: ["STANDARD"], permissions: {publish: "tcp"}}
    {user: "pw", password: "p", permissions: {publish: "pw"}}
  ]
}
"#;

const UID: [u64; 7] = [0, 9, 2342, 19200300, 100, 1, 1];
const DC: [u64; 7] = [0, 9, 2342, 19200300, 100, 1, 25];

fn sans(file: &str, names: Vec<SanType>, cn: &str) -> Cert {
    pki().issue(file, |p| {
        p.subject_alt_names = names;
        p.distinguished_name.push(DnType::CommonName, cn);
    })
}

fn subject(file: &str, attrs: Vec<(DnType, &str)>) -> Cert {
    pki().issue(file, |p: &mut CertificateParams| {
        for (t, v) in attrs {
            p.distinguished_name.push(t, v);
        }
    })
}

fn dns(name: &str) -> SanType {
    SanType::DnsName(name.try_into().unwrap())
}

/// The certificates, by the tag of the user each should map to.
fn certificates() -> Vec<(&'static str, Cert)> {
    vec![
        (
            "alice",
            sans(
                "alice",
                vec![SanType::Rfc822Name("alice@example.com".try_into().unwrap())],
                "nobody",
            ),
        ),
        (
            "bob",
            sans(
                "bob",
                vec![dns("unknown.example"), dns("bob.example")],
                "nobody",
            ),
        ),
        (
            "carol",
            sans(
                "carol",
                vec![SanType::URI("spiffe://example/carol".try_into().unwrap())],
                "x",
            ),
        ),
        (
            "dave",
            subject(
                "dave",
                vec![
                    (DnType::OrganizationName, "Example"),
                    (DnType::OrganizationalUnitName, "ops"),
                    (DnType::CommonName, "dave"),
                ],
            ),
        ),
        (
            "erin",
            subject(
                "erin",
                vec![
                    (DnType::OrganizationName, "Example"),
                    (DnType::CommonName, "erin"),
                ],
            ),
        ),
        (
            "frank",
            subject(
                "frank",
                vec![
                    (DnType::CommonName, "frank"),
                    (DnType::CustomDnType(UID.to_vec()), "f"),
                ],
            ),
        ),
        (
            "gina",
            subject(
                "gina",
                vec![
                    (DnType::CustomDnType(DC.to_vec()), "example"),
                    (DnType::CommonName, "gina"),
                    (DnType::CustomDnType(UID.to_vec()), "g"),
                ],
            ),
        ),
    ]
}

fn tls_block(extra: &str) -> String {
    pki().block(extra)
}

fn start(io: Io, main_tls: &str, ws_tls: &str) -> Server {
    let config = format!(
        "{}\nwebsocket {{ host: 127.0.0.1, port: -1, {} }}\n{USERS}",
        tls_block(main_tls),
        tls_block(ws_tls)
    );
    Start::new(io).config(&config).start()
}

/// The connection over TLS to the client port, or over wss://.
fn open(server: &Server, cert: &Cert, ws: bool) -> Box<dyn Conn> {
    if ws {
        Box::new(wss_client(&server.ws_addr(), cert))
    } else {
        Box::new(tls_client(&server.addr(), cert))
    }
}

/// Logs in with `connect` and shows it is the user tagged `tag`: it may
/// publish on its tag and on nothing else.
fn logged_in_as(c: &mut dyn Conn, connect: &str, tag: &str) {
    c.send(format!("CONNECT {connect}\r\nPUB {tag} 0\r\n\r\nPUB not.{tag} 0\r\n\r\n").as_bytes());
    assert_eq!(
        c.round_trip(),
        [format!(
            "-ERR 'Permissions Violation for Publish to \"not.{tag}\"'"
        )],
        "expected to be the user tagged {tag}"
    );
}

fn refused(c: &mut dyn Conn, connect: &str) {
    c.send(format!("CONNECT {connect}\r\nPING\r\n").as_bytes());
    assert_eq!(c.line(), "-ERR 'Authorization Violation'");
}

const NO_CREDENTIALS: &str = r#"{"verbose":false}"#;

io_tests! {
    each_kind_of_certificate_name_maps_to_its_user => |io| async move {
        let server = start(io, ", verify_and_map: true", ", verify_and_map: true");
        for ws in [false, true] {
            for (tag, cert) in certificates() {
                logged_in_as(&mut *open(&server, &cert, ws), NO_CREDENTIALS, tag);
            }
        }
    };

    a_certificate_that_names_no_user_is_refused => |io| async move {
        let server = start(io, ", verify_and_map: true", ", verify_and_map: true");
        let nobody = sans("nobody", vec![dns("nobody.example")], "nobody");
        // Near misses: a subject with one RDN more, a value in another case.
        let more = subject("more", vec![(DnType::CountryName, "US"), (DnType::OrganizationName, "Example"), (DnType::CommonName, "erin")]);
        let case = subject("case", vec![(DnType::CommonName, "Frank")]);
        for ws in [false, true] {
            for cert in [&nobody, &more, &case] {
                // Naming a user in CONNECT does not help.
                refused(&mut *open(&server, cert, ws), r#"{"verbose":false,"user":"pw","pass":"p"}"#);
            }
        }
    };

    the_user_named_in_connect_is_ignored_with_a_warning => |io| async move {
        let server = start(io, ", verify_and_map: true", ", verify_and_map: true");
        let alice = &certificates()[0].1;
        for ws in [false, true] {
            logged_in_as(&mut *open(&server, alice, ws), r#"{"verbose":false,"user":"pw"}"#, "alice");
            // The password is still the mapped user's to give (none here).
            refused(&mut *open(&server, alice, ws), r#"{"verbose":false,"user":"pw","pass":"p"}"#);
        }
        server.wait_for_log("User \"pw\" found in connect proto, but user required from cert");
    };

    a_mapped_user_with_a_password_must_give_it => |io| async move {
        let server = start(io, ", verify_and_map: true", ", verify_and_map: true");
        let hank = sans("hank", vec![dns("hank")], "hank");
        for ws in [false, true] {
            refused(&mut *open(&server, &hank, ws), NO_CREDENTIALS);
            refused(&mut *open(&server, &hank, ws), r#"{"verbose":false,"pass":"wrong"}"#);
            logged_in_as(&mut *open(&server, &hank, ws), r#"{"verbose":false,"pass":"s"}"#, "hank");
        }
    };

    users_not_allowed_on_the_connection_type_are_passed_over => |io| async move {
        let server = start(io, ", verify_and_map: true", ", verify_and_map: true");
        let both = sans("both", vec![dns("wsonly.example"), dns("tcp.example")], "x");
        logged_in_as(&mut *open(&server, &both, false), NO_CREDENTIALS, "tcp");
        logged_in_as(&mut *open(&server, &both, true), NO_CREDENTIALS, "wsonly");
        let wsonly = sans("wsonly", vec![dns("wsonly.example")], "x");
        refused(&mut *open(&server, &wsonly, false), NO_CREDENTIALS);
    };

    each_listener_maps_by_its_own_tls_block => |io| async move {
        // The websocket port maps; the client port only verifies.
        let server = start(io, ", verify: true", ", verify_and_map: true");
        let alice = &certificates()[0].1;
        logged_in_as(&mut *open(&server, alice, true), NO_CREDENTIALS, "alice");
        // On the client port users log in by name and password; a user
        // without a password whom the websocket port could map is a
        // certificate's identity only, and is not let in by name.
        let mut tcp = open(&server, alice, false);
        refused(&mut *tcp, r#"{"verbose":false,"user":"alice@example.com"}"#);
        logged_in_as(&mut *open(&server, alice, false), r#"{"verbose":false,"user":"pw","pass":"p"}"#, "pw");
        // One the websocket port may not map (STANDARD only) logs in by name.
        logged_in_as(&mut *open(&server, alice, false), r#"{"verbose":false,"user":"tcp.example"}"#, "tcp");
    };
}
