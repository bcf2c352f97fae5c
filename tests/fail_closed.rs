//! Fail closed: an option that restricts who may connect or what they may
//! do is either enforced or refused when the server starts, naming it with
//! file:line:col, and `-t` says the same. Never a warning and an open door.
//! The forms of authentication that are enforced keep working.

mod common;

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use common::{Raw, Start};

/// The test certificates of the configuration corpus.
fn certs() -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/config/corpus/certs")
        .display()
        .to_string()
}

fn run(args: &[&str], config: &Path) -> Output {
    Command::new(common::binary())
        .args(args)
        .arg("-c")
        .arg(config)
        .args(["-a", "127.0.0.1", "-p", "-1"])
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

/// `config` is refused by `-t` and by a start, with an error that names
/// `what` at the option: line `line`, the column where `key` starts in it.
fn refused(config: &str, line: usize, key: &str, what: &str) {
    let mut f = tempfile::Builder::new().suffix(".conf").tempfile().unwrap();
    f.write_all(config.as_bytes()).unwrap();
    let text = config.lines().nth(line - 1).expect("the line");
    let col = text.find(key).expect("the key on its line") + 1;
    let at = format!("{}:{line}:{col}: ", f.path().display());
    for args in [&["-t"][..], &[]] {
        let out = run(args, f.path());
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success(),
            "{args:?} accepted a configuration it cannot enforce:\n{config}\n{stderr}"
        );
        let named = stderr
            .lines()
            .any(|l| l.contains(&at) && l.contains(what) && l.contains("refuses to start"));
        assert!(
            named,
            "{args:?}: expected an error at {at} naming {what:?}:\n{config}\n{stderr}"
        );
        assert!(
            !stderr.contains("Listening for client connections"),
            "{args:?} listened:\n{stderr}"
        );
    }
}

const HASH: &str = "$2a$11$W2zko751KUvVy59mUTWmpOdWjpEm5qhcCZRd05GjI/sSOT.xtiHyG";

#[test]
fn default_permissions_without_a_users_list_are_refused() {
    // nats-server gives them to nobody: a single user or a token would be
    // unrestricted.
    for who in ["user: a, password: b", "token: t0k3n"] {
        refused(
            &format!("authorization {{\n  {who}\n  permissions: {{ publish: \"a.>\" }}\n}}\n"),
            3,
            "permissions",
            "default_permissions apply to the users of a users list",
        );
    }
}

#[test]
fn export_and_import_options_not_acted_on_are_refused() {
    // Exports and imports are enforced; their latency tracking, message
    // tracing and the sharing of the requester's details are not.
    refused(
        "accounts {\n  A {\n    users [ {user: a, password: a} ]\n    exports [ {service: \"a\", latency: \"lat.a\"} ]\n  }\n}\n",
        4,
        "latency",
        "export \"latency\"",
    );
    refused(
        "accounts {\n  A { exports [ {service: \"a\"} ] }\n  B {\n    imports [ {service: {account: A, subject: \"a\"}, share: true} ]\n  }\n}\n",
        4,
        "share",
        "import \"share\"",
    );
}

#[test]
fn resolvers_that_fetch_or_keep_accounts_elsewhere_are_refused() {
    refused(
        "resolver: URL(\"http://127.0.0.1:9090/jwt/v1/accounts/\")\n",
        1,
        "resolver",
        "\"resolver\" URL(...)",
    );
    refused(
        "resolver {\n  type: full\n  dir: \"./jwt\"\n}\n",
        1,
        "resolver",
        "a \"resolver\" directory",
    );
    refused(
        "resolver_pinned_accounts: [\"ADSA4DLDMQIA37YQSXLMCOKGFS2IMHOLGDXPCZVTFR4DVFKL7PT5HKGS\"]\n",
        1,
        "resolver_pinned_accounts",
        "\"resolver_pinned_accounts\"",
    );
}

#[test]
fn pinned_client_certificates_are_refused() {
    let certs = certs();
    refused(
        &format!(
            "leafnodes {{\n  port: -1\n  tls {{\n    cert_file: \"{certs}/server-cert.pem\"\n    key_file: \"{certs}/server-key.pem\"\n    pinned_certs: [\"a8c4e94e5f0a4c0e9b8bd1e5ec4ea3b4\"]\n  }}\n}}\n"
        ),
        6,
        "pinned_certs",
        "\"pinned_certs\"",
    );
}

#[test]
fn an_empty_permissions_block_restricts_nothing_and_is_accepted() {
    let mut f = tempfile::Builder::new().suffix(".conf").tempfile().unwrap();
    f.write_all(b"authorization { users [ {user: a, password: b, permissions: {}} ] }\n")
        .unwrap();
    let out = run(&["-t"], f.path());
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// CONNECT with `json`; the server's first answer to a PING after it.
fn login(server: &common::Server, json: &str) -> String {
    let (mut c, info) = Raw::connect(server);
    assert!(info.contains("\"auth_required\":true"), "{info}");
    c.send(format!("CONNECT {json}\r\nPING\r\n").as_bytes());
    c.line()
}

io_tests! {
    enforced_authentication_keeps_working => |io| async move {
        // Plain passwords in a users list, a connection type, a default user.
        let server = Start::new(io)
            .config(
                "authorization {\n  users [\n    {user: a, password: pa}\n    {user: w, password: pw, allowed_connection_types: [\"WEBSOCKET\"]}\n    {user: s, password: ps, allowed_connection_types: [\"STANDARD\"]}\n  ]\n}\nno_auth_user: a\n",
            )
            .start();
        assert_eq!(login(&server, r#"{"verbose":false,"user":"a","pass":"pa"}"#), "PONG");
        assert_eq!(login(&server, r#"{"verbose":false,"user":"s","pass":"ps"}"#), "PONG");
        assert_eq!(login(&server, r#"{"verbose":false}"#), "PONG", "no_auth_user");
        for json in [
            r#"{"verbose":false,"user":"a","pass":"x"}"#,
            r#"{"verbose":false,"user":"w","pass":"pw"}"#,
            &format!(r#"{{"verbose":false,"user":"a","pass":"{HASH}"}}"#),
        ] {
            assert_eq!(login(&server, json), "-ERR 'Authorization Violation'", "{json}");
        }
        drop(server);

        // A token.
        let server = Start::new(io).config("authorization { token: s3cret }\n").start();
        assert_eq!(login(&server, r#"{"verbose":false,"auth_token":"s3cret"}"#), "PONG");
        assert_eq!(
            login(&server, r#"{"verbose":false,"auth_token":"guess"}"#),
            "-ERR 'Authorization Violation'"
        );
        drop(server);

        // Accounts with users.
        let server = Start::new(io)
            .config("accounts { A { users [ {user: a, password: pa} ] } }\n")
            .start();
        assert_eq!(login(&server, r#"{"verbose":false,"user":"a","pass":"pa"}"#), "PONG");
        assert_eq!(
            login(&server, r#"{"verbose":false}"#),
            "-ERR 'Authorization Violation'"
        );
    };
}
