//! JWT mode: an operator trusted by the configuration, accounts preloaded
//! into `resolver: MEMORY`, users logging in with a user JWT and the
//! signature of their connection's nonce, over TCP and WebSocket (and the
//! JWT from a cookie of the upgrade). Every check nats-server makes is
//! tried both ways: what it lets in, and each attempt to get past it.

mod common;

use common::jwt::{self, now, Operator};
use common::ws::WsRaw;
use common::{Conn, Io, Raw, Server, Start};
use nkeys::KeyPair;
use serde_json::json;

const WS: &str = "websocket { host: 127.0.0.1, port: -1, no_tls: true, jwt_cookie: \"jwt\" }\n";

fn start(io: Io, op: &Operator) -> Server {
    start_on(io, op, 2)
}

fn start_on(io: Io, op: &Operator, shards: usize) -> Server {
    Start::new(io)
        .shards(shards)
        .config(&format!("{}{WS}", op.config()))
        .args(&["-D"])
        .start()
}

/// A connection (over WebSocket when `ws`, with the JWT cookie when
/// given) that sent `connect(info)` and a PING; the first answer.
fn attempt(
    server: &Server,
    ws: bool,
    cookie: Option<&str>,
    connect: impl FnOnce(&str) -> String,
) -> (Box<dyn Conn>, String) {
    let (mut c, info): (Box<dyn Conn>, String) = if ws {
        let header = cookie.map(|j| format!("Cookie: other=1; jwt={j}"));
        let extra: Vec<&str> = header.iter().map(String::as_str).collect();
        let (w, info) = WsRaw::upgrade(&server.ws_addr(), &extra);
        (Box::new(w), info)
    } else {
        let (r, info) = Raw::connect(server);
        (Box::new(r), info)
    };
    assert!(
        info.contains("\"auth_required\":true") && info.contains("\"nonce\":"),
        "{info}"
    );
    let json = connect(&info);
    c.send(format!("CONNECT {json}\r\nPING\r\n").as_bytes());
    let first = c.line();
    (c, first)
}

/// Logs in with `token` signed for by `user`; the first answer.
fn with_jwt(server: &Server, ws: bool, token: &str, user: &KeyPair) -> (Box<dyn Conn>, String) {
    attempt(server, ws, None, |info| jwt::connect(info, token, user))
}

const VIOLATION: &str = "-ERR 'Authorization Violation'";

fn refused(server: &Server, token: &str, user: &KeyPair, why: &str) {
    for ws in [false, true] {
        let (_, first) = with_jwt(server, ws, token, user);
        assert_eq!(first, VIOLATION, "{why} (ws {ws})");
    }
}

/// Over TCP and WebSocket, `user` (its JWT `token`) gets in.
fn admitted(server: &Server, token: &str, user: &KeyPair) {
    for ws in [false, true] {
        let (_, first) = with_jwt(server, ws, token, user);
        assert_eq!(first, "PONG", "ws {ws}");
    }
}

io_tests! {
    users_of_an_account_log_in_and_stay_in_their_account => |io| async move {
        let (a, b) = (KeyPair::new_account(), KeyPair::new_account());
        let op = Operator::new().with(&a, json!({})).with(&b, json!({}));
        let server = start(io, &op);
        let (ua, ub) = (KeyPair::new_user(), KeyPair::new_user());
        let (ja, jb) = (jwt::user(&a, &ua, json!({})), jwt::user(&b, &ub, json!({})));
        for ws in [false, true] {
            let (mut sub_a, first) = with_jwt(&server, ws, &ja, &ua);
            assert_eq!(first, "PONG");
            let (mut sub_b, _) = with_jwt(&server, !ws, &jb, &ub);
            sub_a.send(b"SUB x 1\r\n");
            sub_b.send(b"SUB x 1\r\n");
            assert!(sub_a.round_trip().is_empty() && sub_b.round_trip().is_empty());
            let (mut publisher, _) = with_jwt(&server, ws, &jb, &ub);
            publisher.send(b"PUB x 2\r\nhi\r\n");
            assert!(publisher.round_trip().is_empty());
            // B's message reaches B's subscriber, never A's.
            assert_eq!(sub_b.line(), "MSG x 1 2");
            assert_eq!(sub_b.line(), "hi");
            let (mut pa, _) = with_jwt(&server, ws, &ja, &ua);
            pa.send(b"PUB x 1\r\na\r\n");
            assert!(pa.round_trip().is_empty());
            assert_eq!(sub_a.line(), "MSG x 1 1", "A heard B's message first");
        }
    };

    the_official_client_logs_in_with_a_creds_file => |io| async move {
        let a = KeyPair::new_account();
        let op = Operator::new().with(&a, json!({}));
        let server = start(io, &op);
        let u = KeyPair::new_user();
        let creds = jwt::creds(&jwt::user(&a, &u, json!({})), &u);
        for url in [server.url(), server.ws_url()] {
            let nc = async_nats::ConnectOptions::with_credentials(&creds)
                .unwrap()
                .connect(&url)
                .await
                .expect("logged in with a creds file");
            let mut sub = nc.subscribe("c").await.unwrap();
            nc.publish("c", "ok".into()).await.unwrap();
            let m = common::next(&mut sub).await;
            assert_eq!(&m.payload[..], b"ok", "{url}");
        }
        // The same JWT with another key's seed is refused.
        let stranger = jwt::creds(&jwt::user(&a, &u, json!({})), &KeyPair::new_user());
        let refused = async_nats::ConnectOptions::with_credentials(&stranger)
            .unwrap()
            .connect(server.url());
        let refused = tokio::time::timeout(std::time::Duration::from_secs(10), refused).await;
        assert!(refused.expect("an answer in time").is_err(), "a forged signature got in");
    };

    each_forgery_and_stale_token_is_refused => |io| async move {
        let a = KeyPair::new_account();
        let revoked_user = KeyPair::new_user();
        let everyone_before = now() - 100;
        let stranger_account = KeyPair::new_account();
        let op = Operator::new()
            .with(&a, json!({"revocations": {revoked_user.public_key(): now() + 5}}))
            .with(&stranger_account, json!({"revocations": {"*": everyone_before}}));
        let server = start(io, &op);
        let u = KeyPair::new_user();

        // No JWT at all, or not a JWT.
        for connect in [json!({"verbose": false}), json!({"verbose": false, "jwt": "not.a.jwt"})] {
            for ws in [false, true] {
                let (_, first) = attempt(&server, ws, None, |_| connect.to_string());
                assert_eq!(first, VIOLATION, "{connect} (ws {ws})");
            }
        }
        // Signed by an account the operator never signed (unknown here).
        let unknown = KeyPair::new_account();
        refused(&server, &jwt::user(&unknown, &u, json!({})), &u, "unknown account");
        // Naming a known account but signed by a key the account does not list.
        let forged = jwt::user(&KeyPair::new_account(), &u, json!({"issuer_account": a.public_key()}));
        refused(&server, &forged, &u, "issuer not listed by the account");
        // Expired, and not valid yet.
        let expired = jwt::encode(
            json!({"sub": u.public_key(), "exp": now() - 10, "nats": {"type": "user", "version": 2, "subs": -1, "payload": -1}}),
            &a,
        );
        refused(&server, &expired, &u, "expired");
        let early = jwt::encode(
            json!({"sub": u.public_key(), "nbf": now() + 3600, "nats": {"type": "user", "version": 2, "subs": -1, "payload": -1}}),
            &a,
        );
        refused(&server, &early, &u, "not valid yet");
        // Revoked: issued before the account's revocation of the user, and
        // before the account revoked everyone.
        refused(&server, &jwt::user(&a, &revoked_user, json!({})), &revoked_user, "revoked user");
        let old = jwt::encode(
            json!({"sub": u.public_key(), "iat": everyone_before - 1, "nats": {"type": "user", "version": 2, "subs": -1, "payload": -1}}),
            &stranger_account,
        );
        refused(&server, &old, &u, "revoked by *");
        // The algorithm changed, a claim changed after signing, padding.
        let good = jwt::user(&a, &u, json!({}));
        let hs = jwt::encode_with(r#"{"typ":"JWT","alg":"HS256"}"#, serde_json::from_slice(&b64d(good.split('.').nth(1).unwrap())).unwrap(), &a);
        refused(&server, &hs, &u, "alg HS256");
        let mut parts: Vec<String> = good.split('.').map(str::to_string).collect();
        let mut claims: serde_json::Value = serde_json::from_slice(&b64d(&parts[1])).unwrap();
        claims["nats"]["pub"] = json!({"allow": [">"]});
        claims["name"] = json!("changed");
        parts[1] = b64e(&serde_json::to_vec(&claims).unwrap());
        refused(&server, &parts.join("."), &u, "claims changed after signing");
        refused(&server, &format!("{good}=="), &u, "padded signature");
        // A user JWT is not an account JWT and back.
        refused(&server, &jwt::account(&op.key, &a, json!({})), &u, "account JWT as user");
        // The nonce signed by another key, and a signature over an earlier
        // connection's nonce (a replay).
        for ws in [false, true] {
            let (_, first) = attempt(&server, ws, None, |info| jwt::connect(info, &good, &KeyPair::new_user()));
            assert_eq!(first, VIOLATION, "signed by another key");
            let (_, earlier_info) = Raw::connect(&server);
            let replayed = jwt::sign_nonce(&earlier_info, &u);
            let (_, first) = attempt(&server, ws, None, |_| {
                json!({"verbose": false, "jwt": good, "sig": replayed}).to_string()
            });
            assert_eq!(first, VIOLATION, "replayed signature (ws {ws})");
            let (_, first) = attempt(&server, ws, None, |_| json!({"verbose": false, "jwt": good}).to_string());
            assert_eq!(first, VIOLATION, "no signature (ws {ws})");
        }
        // And the genuine article gets in.
        admitted(&server, &good, &u);
        server.wait_for_log("User authentication revoked");
        server.wait_for_log("Signature not verified");
    };

    bearer_tokens_need_no_signature_unless_the_account_forbids_them => |io| async move {
        let (a, strict) = (KeyPair::new_account(), KeyPair::new_account());
        let op = Operator::new()
            .with(&a, json!({}))
            .with(&strict, json!({"limits": {"disallow_bearer": true}}));
        let server = start(io, &op);
        let u = KeyPair::new_user();
        let bearer = jwt::user(&a, &u, json!({"bearer_token": true}));
        for ws in [false, true] {
            let (_, first) = attempt(&server, ws, None, |_| json!({"verbose": false, "jwt": bearer}).to_string());
            assert_eq!(first, "PONG", "bearer (ws {ws})");
        }
        let forbidden = jwt::user(&strict, &u, json!({"bearer_token": true}));
        for ws in [false, true] {
            let (_, first) = attempt(&server, ws, None, |_| json!({"verbose": false, "jwt": forbidden}).to_string());
            assert_eq!(first, VIOLATION, "bearer in a disallowing account (ws {ws})");
        }
    };

    signing_keys_and_their_scopes => |io| async move {
        let (a, sk, scoped) = (KeyPair::new_account(), KeyPair::new_account(), KeyPair::new_account());
        let (ws_scope, far_scope) = (KeyPair::new_account(), KeyPair::new_account());
        let op = Operator::new().with(
            &a,
            json!({"signing_keys": [
                sk.public_key(),
                {"kind": "user_scope", "key": scoped.public_key(), "role": "r",
                 "template": {"pub": {"allow": ["t.{{ Name() }}.>"]}, "sub": {}, "subs": -1, "payload": -1}},
                {"kind": "user_scope", "key": ws_scope.public_key(),
                 "template": {"allowed_connection_types": ["WEBSOCKET"], "subs": -1, "payload": -1}},
                {"kind": "user_scope", "key": far_scope.public_key(),
                 "template": {"src": ["10.0.0.0/8"], "subs": -1, "payload": -1}}
            ]}),
        );
        let server = start(io, &op);
        let u = KeyPair::new_user();
        // A plain signing key: the user names the account it signs for.
        admitted(&server, &jwt::user(&sk, &u, json!({"issuer_account": a.public_key()})), &u);
        // Without naming it, the signing key is looked up as an account.
        refused(&server, &jwt::user(&sk, &u, json!({})), &u, "signing key without issuer_account");
        // A scoped key: the template's permissions are the user's.
        let scoped_user = jwt::encode(
            json!({"sub": u.public_key(), "name": "bo", "nats": {"type": "user", "version": 2, "issuer_account": a.public_key()}}),
            &scoped,
        );
        for ws in [false, true] {
            let (mut c, first) = with_jwt(&server, ws, &scoped_user, &u);
            assert_eq!(first, "PONG");
            c.send(b"PUB t.bo.x 0\r\n\r\nPUB t.other.x 0\r\n\r\n");
            assert_eq!(c.round_trip(), ["-ERR 'Permissions Violation for Publish to \"t.other.x\"'"]);
        }
        // The template's connection types and source ranges are the user's.
        let scoped_by = |key: &KeyPair| {
            jwt::encode(
                json!({"sub": u.public_key(), "nats": {"type": "user", "version": 2, "issuer_account": a.public_key()}}),
                key,
            )
        };
        assert_eq!(with_jwt(&server, true, &scoped_by(&ws_scope), &u).1, "PONG");
        assert_eq!(with_jwt(&server, false, &scoped_by(&ws_scope), &u).1, VIOLATION);
        refused(&server, &scoped_by(&far_scope), &u, "outside the scope's src");
        // A scoped key's user may not bring permissions of its own.
        let greedy = jwt::user(&scoped, &u, json!({"issuer_account": a.public_key(), "pub": {"allow": [">"]}}));
        refused(&server, &greedy, &u, "scoped user with its own permissions");
    };

    permissions_come_from_the_user_or_the_account_defaults => |io| async move {
        let a = KeyPair::new_account();
        let op = Operator::new().with(&a, json!({"default_permissions": {"pub": {"deny": ["secret.>"]}}}));
        let server = start(io, &op);
        let (plain, own) = (KeyPair::new_user(), KeyPair::new_user());
        for ws in [false, true] {
            let (mut c, _) = with_jwt(&server, ws, &jwt::user(&a, &plain, json!({})), &plain);
            c.send(b"PUB secret.x 0\r\n\r\nPUB open 0\r\n\r\n");
            assert_eq!(c.round_trip(), ["-ERR 'Permissions Violation for Publish to \"secret.x\"'"]);
            // The user's own permissions replace the defaults entirely.
            let token = jwt::user(&a, &own, json!({"sub": {"deny": ["nope"]}}));
            let (mut c, _) = with_jwt(&server, ws, &token, &own);
            c.send(b"PUB secret.x 0\r\n\r\nSUB nope 1\r\n");
            assert_eq!(c.round_trip(), ["-ERR 'Permissions Violation for Subscription to \"nope\"'"]);
        }
    };

    connection_types_and_source_addresses_are_enforced => |io| async move {
        let a = KeyPair::new_account();
        let op = Operator::new().with(&a, json!({}));
        let server = start(io, &op);
        let u = KeyPair::new_user();
        let tcp_only = jwt::user(&a, &u, json!({"allowed_connection_types": ["STANDARD"]}));
        let ws_only = jwt::user(&a, &u, json!({"allowed_connection_types": ["websocket"]}));
        assert_eq!(with_jwt(&server, false, &tcp_only, &u).1, "PONG");
        assert_eq!(with_jwt(&server, true, &tcp_only, &u).1, VIOLATION);
        assert_eq!(with_jwt(&server, true, &ws_only, &u).1, "PONG");
        assert_eq!(with_jwt(&server, false, &ws_only, &u).1, VIOLATION);
        refused(&server, &jwt::user(&a, &u, json!({"allowed_connection_types": ["FOO"]})), &u, "unknown type only");
        admitted(&server, &jwt::user(&a, &u, json!({"src": ["127.0.0.0/8"]})), &u);
        admitted(&server, &jwt::user(&a, &u, json!({"src": "10.0.0.0/8, 127.0.0.1/32"})), &u);
        refused(&server, &jwt::user(&a, &u, json!({"src": ["10.0.0.0/8"]})), &u, "outside src");
        refused(&server, &jwt::user(&a, &u, json!({"src": ["bogus"]})), &u, "bad src");
        // A proxy header does not change the address that is checked.
        let token = jwt::user(&a, &u, json!({"src": ["10.0.0.0/8"]}));
        let (mut w, info) = WsRaw::upgrade(&server.ws_addr(), &["X-Forwarded-For: 10.1.2.3"]);
        w.send(format!("CONNECT {}\r\nPING\r\n", jwt::connect(&info, &token, &u)).as_bytes());
        assert_eq!(w.line(), VIOLATION);
    };

    limits_of_the_account_and_the_user => |io| async move {
        let (a, one) = (KeyPair::new_account(), KeyPair::new_account());
        let op = Operator::new()
            .with(&a, json!({"limits": {"subs": 3, "payload": 64}}))
            .with(&one, json!({"limits": {"conn": 1}}));
      for shards in [1, 2] {
        let server = start_on(io, &op, shards);
        let u = KeyPair::new_user();
        for ws in [false, true] {
            // The user's own limits, below the account's.
            let token = jwt::user(&a, &u, json!({"subs": 2, "payload": 10}));
            let (mut c, first) = with_jwt(&server, ws, &token, &u);
            assert_eq!(first, "PONG");
            c.send(b"SUB a 1\r\nSUB b 2\r\nSUB c 3\r\n");
            assert_eq!(c.round_trip(), ["-ERR 'maximum subscriptions exceeded'"]);
            c.send(b"PUB a 10\r\n0123456789\r\n");
            assert_eq!(c.line(), "MSG a 1 10");
            assert_eq!(c.line(), "0123456789");
            c.send(b"PUB a 11\r\n0123456789x\r\nPING\r\n");
            assert_eq!(c.line(), "-ERR 'Maximum Payload Violation'");
            // A client that takes asynchronous INFO is told its own limit
            // after its first PONG, as nats-server 2.9 tells it.
            let (mut c, first) = attempt(&server, ws, None, |info| {
                json!({"verbose": false, "protocol": 1, "jwt": token, "sig": jwt::sign_nonce(info, &u)}).to_string()
            });
            assert_eq!(first, "PONG");
            let info = c.line();
            assert!(info.starts_with("INFO {") && info.contains("\"max_payload\":10,"), "{info}");
            assert!(c.round_trip().is_empty(), "a second INFO");
            // The account's, where the user sets none.
            let token = jwt::user(&a, &u, json!({}));
            let (mut c, _) = with_jwt(&server, ws, &token, &u);
            c.send(b"SUB a 1\r\nSUB b 2\r\nSUB c 3\r\nSUB d 4\r\n");
            assert_eq!(c.round_trip(), ["-ERR 'maximum subscriptions exceeded'"]);
            // A user allowed no subscription is told so and closed.
            let none = jwt::user(&a, &u, json!({"subs": 0}));
            let (_, first) = with_jwt(&server, ws, &none, &u);
            assert_eq!(first, "-ERR 'maximum subscriptions exceeded'");
        }
        // One connection at a time in account `one`, server-wide; a place
        // frees when its holder leaves.
        let token = jwt::user(&one, &u, json!({}));
        let (mut held, info) = Raw::connect(&server);
        held.send(format!("CONNECT {}\r\nPING\r\n", jwt::connect(&info, &token, &u)).as_bytes());
        assert_eq!(held.line(), "PONG");
        for ws in [false, true] {
            let (_, first) = with_jwt(&server, ws, &token, &u);
            assert_eq!(first, "-ERR 'maximum account active connections exceeded'");
        }
        let cid: serde_json::Value = serde_json::from_str(info.trim_start_matches("INFO ")).unwrap();
        drop(held);
        server.wait_for_log(&format!("cid:{} - Client connection closed", cid["client_id"]));
        assert_eq!(with_jwt(&server, true, &token, &u).1, "PONG", "the place was not freed");
      }
    };

    a_login_ends_when_its_jwt_expires => |io| async move {
        let a = KeyPair::new_account();
        let op = Operator::new().with(&a, json!({}));
        let server = start(io, &op);
        let u = KeyPair::new_user();
        for ws in [false, true] {
            let token = jwt::encode(
                json!({"sub": u.public_key(), "exp": now() + 2, "nats": {"type": "user", "version": 2, "subs": -1, "payload": -1}}),
                &a,
            );
            let (mut c, first) = with_jwt(&server, ws, &token, &u);
            assert_eq!(first, "PONG", "ws {ws}");
            assert_eq!(c.line(), "-ERR 'User Authentication Expired'");
        }
    };

    the_jwt_comes_from_the_cookie_when_connect_has_none => |io| async move {
        let a = KeyPair::new_account();
        let op = Operator::new().with(&a, json!({}));
        let server = start(io, &op);
        let u = KeyPair::new_user();
        let token = jwt::user(&a, &u, json!({}));
        let (_, first) = attempt(&server, true, Some(&token), |info| {
            json!({"verbose": false, "sig": jwt::sign_nonce(info, &u)}).to_string()
        });
        assert_eq!(first, "PONG");
        // Still signed for: a cookie alone is not enough.
        let (_, first) = attempt(&server, true, Some(&token), |_| json!({"verbose": false}).to_string());
        assert_eq!(first, VIOLATION);
        // A bearer token in a cookie needs nothing more, unless its user
        // may not use WebSocket.
        let bearer = jwt::user(&a, &u, json!({"bearer_token": true}));
        let (_, first) = attempt(&server, true, Some(&bearer), |_| json!({"verbose": false}).to_string());
        assert_eq!(first, "PONG");
        let standard = jwt::user(&a, &u, json!({"bearer_token": true, "allowed_connection_types": ["STANDARD"]}));
        let (_, first) = attempt(&server, true, Some(&standard), |_| json!({"verbose": false}).to_string());
        assert_eq!(first, VIOLATION);
        // CONNECT's own JWT wins over the cookie.
        let other = KeyPair::new_user();
        let (_, first) = attempt(&server, true, Some(&bearer), |info| jwt::connect(info, &jwt::user(&a, &other, json!({})), &other));
        assert_eq!(first, "PONG");
    };

    streams_and_services_cross_accounts_by_their_jwts => |io| async move {
        let (a, b, c) = (KeyPair::new_account(), KeyPair::new_account(), KeyPair::new_account());
        let activation = jwt::encode(
            json!({"sub": c.public_key(), "nats": {"type": "activation", "version": 2, "subject": "private.>", "kind": "stream"}}),
            &a,
        );
        let op = Operator::new()
            .with(&a, json!({"exports": [
                {"subject": "pub.>", "type": "stream"},
                {"subject": "private.>", "type": "stream", "token_req": true},
                {"subject": "help", "type": "service"}
            ]}))
            .with(&b, json!({"imports": [
                {"subject": "pub.>", "account": a.public_key(), "type": "stream"},
                {"subject": "private.>", "account": a.public_key(), "type": "stream"},
                {"subject": "help", "account": a.public_key(), "type": "service", "local_subject": "ahelp"}
            ]}))
            .with(&c, json!({"imports": [
                {"subject": "private.>", "account": a.public_key(), "type": "stream", "token": activation}
            ]}));
        let server = start(io, &op);
        let (ua, ub, uc) = (KeyPair::new_user(), KeyPair::new_user(), KeyPair::new_user());
        let login = |acc: &KeyPair, u: &KeyPair, ws: bool| with_jwt(&server, ws, &jwt::user(acc, u, json!({})), u).0;
        for ws in [false, true] {
            let mut sb = login(&b, &ub, ws);
            let mut sc = login(&c, &uc, !ws);
            sb.send(b"SUB pub.> 1\r\nSUB private.> 2\r\nSUB r.1 3\r\n");
            sc.send(b"SUB private.> 1\r\n");
            assert!(sb.round_trip().is_empty() && sc.round_trip().is_empty());
            let mut pa = login(&a, &ua, ws);
            pa.send(b"SUB help 9\r\nPUB private.x 1\r\np\r\nPUB pub.x 1\r\nq\r\n");
            assert!(pa.round_trip().is_empty());
            // B has no activation for the private stream: the public one only.
            assert_eq!(sb.line(), "MSG pub.x 1 1");
            assert_eq!(sb.line(), "q");
            assert_eq!(sc.line(), "MSG private.x 1 1");
            assert_eq!(sc.line(), "p");
            // B asks A's service under its own name; the answer comes back.
            sb.send(b"PUB ahelp r.1 1\r\n?\r\n");
            let m = pa.line();
            assert!(m.starts_with("MSG help 9 _R_."), "{m}");
            let reply = m.split(' ').nth(3).unwrap().to_string();
            assert_eq!(pa.line(), "?");
            pa.send(format!("PUB {reply} 1\r\n!\r\n").as_bytes());
            assert_eq!(sb.line(), "MSG r.1 3 1");
            assert_eq!(sb.line(), "!");
        }
    };

    a_strict_operator_lets_only_signing_keys_sign => |io| async move {
        let op = Operator::strict();
        let (a, sk) = (KeyPair::new_account(), KeyPair::new_account());
        let by_identity = KeyPair::new_account();
        let op = op.with(&a, json!({"signing_keys": [sk.public_key()]}));
        // An account the operator's own key signed is not trusted.
        let own = jwt::account(&op.key, &by_identity, json!({}));
        let op = op.with_jwt(&by_identity.public_key(), own);
        let server = start(io, &op);
        let u = KeyPair::new_user();
        refused(&server, &jwt::user(&by_identity, &u, json!({})), &u, "account signed by the operator's identity");
        // Users signed by the account's own key are not let in either.
        refused(&server, &jwt::user(&a, &u, json!({})), &u, "user signed by the account's identity");
        admitted(&server, &jwt::user(&sk, &u, json!({"issuer_account": a.public_key()})), &u);
    };

    imports_hold_only_what_is_exported_to_the_importer => |io| async move {
        let (a, b, c, d) = (KeyPair::new_account(), KeyPair::new_account(), KeyPair::new_account(), KeyPair::new_account());
        let grant = |to: &KeyPair, exp: Option<i64>| {
            let mut claims = json!({"sub": to.public_key(), "nats": {"type": "activation", "version": 2, "subject": "private.>", "kind": "stream"}});
            if let Some(exp) = exp {
                claims["exp"] = json!(exp);
            }
            jwt::encode(claims, &a)
        };
        let expiry = now() + 5;
        let (revoked, expiring) = (grant(&c, None), grant(&d, Some(expiry)));
        let op = Operator::new()
            .with(&a, json!({"exports": [
                {"subject": "public", "type": "stream"},
                {"subject": "private.>", "type": "stream", "token_req": true,
                 "revocations": {c.public_key(): now()}}
            ]}))
            // Wider than anything exported, and a service never exported.
            .with(&b, json!({"imports": [
                {"subject": ">", "account": a.public_key(), "type": "stream"},
                {"subject": "svc.secret", "account": a.public_key(), "type": "service"},
                {"subject": "public", "account": a.public_key(), "type": "stream"}
            ]}))
            .with(&c, json!({"imports": [
                {"subject": "private.>", "account": a.public_key(), "type": "stream", "token": revoked},
                {"subject": "public", "account": a.public_key(), "type": "stream"}
            ]}))
            .with(&d, json!({"imports": [
                {"subject": "private.>", "account": a.public_key(), "type": "stream", "token": expiring},
                {"subject": "public", "account": a.public_key(), "type": "stream"}
            ]}));
        let server = start(io, &op);
        let login = |acc: &KeyPair| {
            let u = KeyPair::new_user();
            let (c, first) = with_jwt(&server, false, &jwt::user(acc, &u, json!({})), &u);
            assert_eq!(first, "PONG");
            c
        };
        let (mut sa, mut sb, mut sc, mut sd) = (login(&a), login(&b), login(&c), login(&d));
        sa.send(b"SUB svc.secret 1\r\n");
        sb.send(b"SUB > 1\r\n");
        sc.send(b"SUB > 1\r\n");
        sd.send(b"SUB > 1\r\n");
        for s in [&mut sa, &mut sb, &mut sc, &mut sd] {
            assert!(s.round_trip().is_empty());
        }
        let mut pa = login(&a);
        pa.send(b"PUB internal.y 1\r\nx\r\nPUB private.x 1\r\np\r\nPUB public 1\r\nq\r\n");
        assert!(pa.round_trip().is_empty());
        // B hears the one stream exported to all; C's activation is revoked.
        for s in [&mut sb, &mut sc] {
            assert_eq!(s.line(), "MSG public 1 1");
        }
        assert_eq!(sd.line(), "MSG private.x 1 1");
        assert_eq!(sd.line(), "p");
        assert_eq!(sd.line(), "MSG public 1 1");
        // B's request to a service A never exported reaches nobody in A.
        let mut pb = login(&b);
        pb.send(b"PUB svc.secret 1\r\n?\r\n");
        assert!(pb.round_trip().is_empty());
        pa.send(b"PUB svc.secret 1\r\n!\r\n");
        assert!(pa.round_trip().is_empty());
        assert_eq!(sa.line(), "MSG svc.secret 1 1");
        assert_eq!(sa.line(), "!", "B's request crossed");
        // Once D's activation expires, nothing private crosses to it (its
        // expiry is a time on the clock: there is no event to wait for).
        let left = (expiry + 1 - now()).max(0) as u64;
        std::thread::sleep(std::time::Duration::from_secs(left));
        pa.send(b"PUB private.x 1\r\np\r\nPUB public 1\r\nq\r\n");
        assert!(pa.round_trip().is_empty());
        assert_eq!(sd.line(), "q");
        assert_eq!(sd.line(), "MSG public 1 1", "a private message after the activation expired");
    };

    a_second_connect_starts_afresh => |io| async move {
        let a = KeyPair::new_account();
        let op = Operator::new().with(&a, json!({}));
        let server = start(io, &op);
        let (broad, narrow) = (KeyPair::new_user(), KeyPair::new_user());
        let (mut c, info) = Raw::connect(&server);
        c.send(format!("CONNECT {}\r\nSUB secret.> 1\r\nPING\r\n", jwt::connect(&info, &jwt::user(&a, &broad, json!({})), &broad)).as_bytes());
        assert_eq!(c.line(), "PONG");
        let narrow_jwt = jwt::user(&a, &narrow, json!({"sub": {"allow": ["mine"]}}));
        c.send(format!("CONNECT {}\r\nSUB mine 2\r\nPING\r\n", jwt::connect(&info, &narrow_jwt, &narrow)).as_bytes());
        assert_eq!(c.line(), "PONG");
        let (mut p, _) = with_jwt(&server, true, &jwt::user(&a, &broad, json!({})), &broad);
        p.send(b"PUB secret.x 1\r\ns\r\nPUB mine 1\r\nm\r\n");
        assert!(p.round_trip().is_empty());
        assert_eq!(c.line(), "MSG mine 2 1", "the first login's subscription outlived it");
    };

    an_empty_jwt_in_connect_leaves_the_cookie_to_count => |io| async move {
        let a = KeyPair::new_account();
        let op = Operator::new().with(&a, json!({}));
        let server = start(io, &op);
        let bearer = jwt::user(&a, &KeyPair::new_user(), json!({"bearer_token": true}));
        let (_, first) = attempt(&server, true, Some(&bearer), |_| json!({"verbose": false, "jwt": ""}).to_string());
        assert_eq!(first, "PONG");
    };
}

fn b64d(s: &str) -> Vec<u8> {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(s)
        .unwrap()
}

fn b64e(b: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
}

/// What `-t` says of `config` (written to a file): the error lines, or
/// "valid".
fn check(config: &str) -> String {
    use std::io::Write;
    let mut f = tempfile::Builder::new().suffix(".conf").tempfile().unwrap();
    f.write_all(config.as_bytes()).unwrap();
    let out = std::process::Command::new(common::binary())
        .args(["-t", "-c"])
        .arg(f.path())
        .output()
        .unwrap();
    if out.status.success() {
        return "valid".into();
    }
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn rejects(config: &str, line: usize, text: &str) {
    let said = check(config);
    assert!(
        said.lines()
            .any(|l| l.contains(&format!(":{line}:")) && l.contains(text)),
        "expected {text:?} at line {line}:\n{config}\n{said}"
    );
}

#[test]
fn jwt_mode_start_rules_are_nats_servers() {
    let a = KeyPair::new_account();
    let op = Operator::new().with(&a, json!({}));
    let base = op.config();
    let lines = base.lines().count();
    assert_eq!(check(&base), "valid");
    // No resolver; accounts or users of the file's own.
    let no_resolver = base.replace("resolver: MEMORY\n", "");
    rejects(
        &no_resolver,
        1,
        "operators require an account resolver to be configured",
    );
    rejects(
        &format!("{base}accounts {{ X {{ users [{{user: x, password: y}}] }} }}\n"),
        lines + 1,
        "operators do not allow Accounts to be configured directly",
    );
    rejects(
        &format!("{base}authorization {{ users [{{user: x, password: y}}] }}\n"),
        lines + 1,
        "operators do not allow users to be configured directly",
    );
    rejects(
        &format!("{base}no_auth_user: x\n"),
        lines + 1,
        "no_auth_user not compatible with Trusted Operator",
    );
    // A token beside operators is taken (and ignored, as nats-server does).
    assert_eq!(
        check(&format!("{base}authorization {{ token: x }}\n")),
        "valid"
    );
    // Trusted keys beside operators; a key that is not an operator's.
    rejects(
        &format!("{base}trusted_keys: [\"{}\"]\n", op.key.public_key()),
        1,
        "conflicting options for 'TrustedKeys' and 'TrustedOperators'",
    );
    rejects(
        &format!("trusted_keys: [\"{}\"]\n", a.public_key()),
        1,
        "required to be a valid public operator nkey",
    );
    // The system account: the operator's, and one that resolves.
    let other = KeyPair::new_account().public_key();
    rejects(
        &base.replace(
            &format!("system_account: {}", op.system.public_key()),
            &format!("system_account: {other}"),
        ),
        2,
        "system_account in config and operator JWT must be identical",
    );
    let unlisted = base
        .lines()
        .filter(|l| !l.trim_start().starts_with(&op.system.public_key()))
        .collect::<Vec<_>>()
        .join("\n");
    rejects(
        &unlisted,
        2,
        "error resolving system account: account missing",
    );
    // Operators and accounts that are not what they claim.
    rejects(
        "operator: \"/nonexistent/op.jwt\"\n",
        1,
        "error parsing operator JWT: open /nonexistent/op.jwt: no such file or directory",
    );
    let account_jwt = jwt::account(&op.key, &a, json!({}));
    rejects(
        &format!("operator: \"{account_jwt}\"\n"),
        1,
        "error parsing operator JWT",
    );
    rejects(
        &format!(
            "{base}resolver_preload {{ {}: \"{}\" }}\n",
            a.public_key(),
            jwt::user(&a, &KeyPair::new_user(), json!({}))
        ),
        lines + 1,
        "invalid account JWT",
    );
    rejects(
        &format!("{base}resolver_preload: 3\n"),
        lines + 1,
        "preload should be a map of account_public_key:account_jwt",
    );
    rejects(
        "resolver: SOMETHING\n",
        1,
        "error parsing account resolver, should be MEM or  URL(\"url\")",
    );
    // jwt_cookie needs an operator.
    rejects(
        "websocket { port: -1, no_tls: true, jwt_cookie: \"jwt\" }\n",
        1,
        "trusted operators or trusted keys configuration is required for JWT authentication via cookie \"jwt\"",
    );
}

/// Malformed CONNECT JSON and JWTs, made from a valid login by a seeded
/// generator: each is refused with an -ERR (none gets in), the server and
/// a client already connected carry on.
#[test]
fn malformed_connects_and_jwts_are_all_refused() {
    let a = KeyPair::new_account();
    let op = Operator::new().with(&a, json!({}));
    let server = start(Io::Epoll, &op);
    let u = KeyPair::new_user();
    let good = jwt::user(&a, &u, json!({}));
    let (mut watcher, first) = with_jwt(&server, false, &good, &u);
    assert_eq!(first, "PONG");
    watcher.send(b"SUB alive 1\r\n");
    assert!(watcher.round_trip().is_empty());

    let mut rng = fastrand::Rng::with_seed(7);
    let parts: Vec<String> = good.split('.').map(str::to_string).collect();
    let claims = String::from_utf8(b64d(&parts[1])).unwrap();
    let mut cases: Vec<(String, bool)> = Vec::new();
    // CONNECT JSON that is not JSON, or not of the expected types.
    for json in [
        "{",
        "}",
        "[]",
        "null",
        "\"jwt\"",
        "{\"jwt\":5}",
        "{\"jwt\":[]}",
        "{\"jwt\":{}}",
        "{\"sig\":true}",
        "{\"jwt\":\"a\",\"jwt\":\"b\"}",
        "{\"jwt\":\"\\ud800\"}",
        "{\"verbose\":false,\"jwt\":null,\"sig\":null}",
        "{\"verbose\":false,\"nkey\":\"U\",\"sig\":\"x\"}",
    ] {
        cases.push((json.to_string(), false));
    }
    cases.push((
        format!("{{\"verbose\":false,\"jwt\":\"{}\"}}", "[".repeat(5000)),
        false,
    ));
    cases.push((
        format!("{}{}", "{\"a\":".repeat(2000), "}".repeat(2000)),
        false,
    ));
    // JWTs of every wrong shape, with a genuine signature of the nonce.
    let header = |h: &str| b64e(h.as_bytes());
    let mut tokens: Vec<String> = vec![
        String::new(),
        ".".into(),
        "..".into(),
        "...".into(),
        format!("{}.{}", parts[0], parts[1]),
        format!("{}.{}.{}.{}", parts[0], parts[1], parts[2], parts[2]),
        format!("{}.{}.", parts[0], parts[1]),
        format!(
            "{}.{}.{}",
            header(r#"{"typ":"JWT","alg":"none"}"#),
            parts[1],
            parts[2]
        ),
        format!(
            "{}.{}.{}",
            header(r#"{"alg":"ed25519-nkey"}"#),
            parts[1],
            parts[2]
        ),
        format!("{}.{}.{}", header("[]"), parts[1], parts[2]),
        format!("{}.{}.{}", header("\u{0}"), parts[1], parts[2]),
    ];
    for bad_claims in [
        claims.replace("\"nats\":", "\"x\":"),
        claims.replace("\"version\":2", "\"version\":99"),
        claims.replace("\"version\":2", "\"version\":\"2\""),
        claims.replace("\"type\":\"user\"", "\"type\":\"operator\""),
        "{}".to_string(),
        "[1,2]".to_string(),
        format!("{{\"sub\":5,{}", &claims[1..]),
        claims.replace("\"iat\":", "\"iat\":1e400,\"x\":"),
    ] {
        // Signed properly by the account: only the content is wrong.
        let signed = format!("{}.{}", parts[0], b64e(bad_claims.as_bytes()));
        let sig = a.sign(signed.as_bytes()).unwrap();
        tokens.push(format!("{signed}.{}", b64e(&sig)));
    }
    // And the genuine token with bytes flipped, dropped or added anywhere.
    for _ in 0..300 {
        let mut t = good.clone().into_bytes();
        let i = rng.usize(..t.len());
        match rng.u8(..3) {
            0 => t[i] = b"ABCxyz019-_.=+/"[rng.usize(..15)],
            1 => {
                t.remove(i);
            }
            _ => t.insert(i, b"A._"[rng.usize(..3)]),
        }
        if t != good.as_bytes() {
            tokens.push(String::from_utf8(t).unwrap());
        }
    }
    for t in tokens {
        cases.push((t, true));
    }
    for (i, (case, is_token)) in cases.iter().enumerate() {
        let ws = i % 5 == 0;
        let (_, first) = attempt(&server, ws, None, |info| {
            if *is_token {
                json!({"verbose": false, "jwt": case, "sig": jwt::sign_nonce(info, &u)}).to_string()
            } else {
                case.clone()
            }
        });
        assert!(
            first.starts_with("-ERR "),
            "case {i} ({case:?}) got in: {first}"
        );
    }
    // Nothing broke: the watcher hears a new login's message.
    let (mut c, first) = with_jwt(&server, true, &good, &u);
    assert_eq!(first, "PONG");
    c.send(b"PUB alive 2\r\nok\r\n");
    assert!(c.round_trip().is_empty());
    assert_eq!(watcher.line(), "MSG alive 1 2");
}
