//! NKEY users: INFO carries a nonce, the client signs it with its seed, and
//! the server checks the signature against the public key in its
//! configuration. async-nats over TCP and WebSocket, and raw CONNECTs for
//! what a real client never sends (another connection's nonce, another
//! key's signature, a malformed one), on both IO runtimes.

mod common;

use base64::Engine;
use common::ws::WsRaw;
use common::{Raw, Server, Start};

const WS: &str = "websocket { host: 127.0.0.1, port: -1, no_tls: true }";
const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// A user key pair (seed, public key) made for the test.
fn user_key() -> (String, String) {
    let kp = nkeys::KeyPair::new_user();
    (kp.seed().unwrap(), kp.public_key())
}

fn nonce(info: &str) -> String {
    let json = info.strip_prefix("INFO ").expect("INFO");
    let v: serde_json::Value = serde_json::from_str(json).unwrap();
    v["nonce"].as_str().expect("a nonce in INFO").to_string()
}

fn sign(seed: &str, nonce: &str) -> String {
    let kp = nkeys::KeyPair::from_seed(seed).unwrap();
    B64.encode(kp.sign(nonce.as_bytes()).unwrap())
}

/// CONNECT with `nkey` and `sig`, then PING: the first answer.
fn answer(c: &mut Raw, nkey: &str, sig: &str) -> String {
    c.send(
        format!("CONNECT {{\"verbose\":false,\"nkey\":\"{nkey}\",\"sig\":\"{sig}\"}}\r\nPING\r\n")
            .as_bytes(),
    );
    c.line()
}

const DENIED: &str = "-ERR 'Authorization Violation'";

fn start(io: common::Io, public: &str, other: &str) -> Server {
    let config = format!(
        "authorization {{\n  users [\n    {{nkey: {public}, permissions: {{publish: \"ok.>\"}}}}\n    {{nkey: {other}, allowed_connection_types: [\"WEBSOCKET\"]}}\n    {{user: plain, password: p}}\n  ]\n}}\n{WS}\n"
    );
    Start::new(io).config(&config).start()
}

io_tests! {
    async_nats_logs_in_with_its_seed => |io| async move {
        let (seed, public) = user_key();
        let (_, other) = user_key();
        let server = start(io, &public, &other);
        for url in [server.url(), server.ws_url()] {
            let client = async_nats::ConnectOptions::with_nkey(seed.clone())
                .connect(&url)
                .await
                .unwrap_or_else(|e| panic!("{url}: {e}"));
            // Its permissions came with it.
            let plain = async_nats::ConnectOptions::with_user_and_password("plain".into(), "p".into())
                .connect(&url)
                .await
                .unwrap();
            let mut sub = plain.subscribe("ok.x").await.unwrap();
            plain.flush().await.unwrap();
            plain.publish("ok.x", "self".into()).await.unwrap();
            common::next(&mut sub).await;
            client.publish("ok.x", "signed".into()).await.unwrap();
            assert_eq!(&common::next(&mut sub).await.payload[..], b"signed", "{url}");
        }
        // Another seed is refused.
        let (stranger, _) = user_key();
        let refused = async_nats::ConnectOptions::with_nkey(stranger).connect(server.url()).await;
        assert!(refused.is_err(), "a seed the server does not know logged in");
    };

    every_connection_signs_its_own_nonce => |io| async move {
        let (seed, public) = user_key();
        let (other_seed, other) = user_key();
        let server = start(io, &public, &other);
        let (mut first, info) = Raw::connect(&server);
        let first_nonce = nonce(&info);
        assert_eq!(first_nonce.len(), 15, "11 bytes in URL-safe base64: {first_nonce}");
        assert!(info.contains("\"auth_required\":true"), "{info}");
        let (mut second, info2) = Raw::connect(&server);
        let second_nonce = nonce(&info2);
        assert_ne!(first_nonce, second_nonce);
        // A signature of another connection's nonce (a replay) is refused.
        assert_eq!(answer(&mut second, &public, &sign(&seed, &first_nonce)), DENIED);
        assert_eq!(answer(&mut first, &public, &sign(&seed, &first_nonce)), "PONG");
        // Another key's signature under this key's name; no signature; one
        // that is not base64; and a key not configured, signing correctly.
        let (stranger_seed, stranger) = user_key();
        type Sig = fn(&str, &str, &str) -> String;
        let cases: [(&str, &str, Sig); 4] = [
            ("another key's signature", &public, |_, other, n| sign(other, n)),
            ("no signature", &public, |_, _, _| String::new()),
            ("not base64", &public, |_, _, _| "!!not base64!!".into()),
            ("a key not configured", &stranger, |own, _, n| sign(own, n)),
        ];
        for (what, key, make) in cases {
            let (mut c, info) = Raw::connect(&server);
            let own = if key == stranger { &stranger_seed } else { &seed };
            let sig = make(own, &other_seed, &nonce(&info));
            assert_eq!(answer(&mut c, key, &sig), DENIED, "{what}");
        }
        // A standard-encoded signature is taken too, as nats-server takes it.
        let (mut c, info) = Raw::connect(&server);
        let kp = nkeys::KeyPair::from_seed(&seed).unwrap();
        let std_sig = base64::engine::general_purpose::STANDARD.encode(kp.sign(nonce(&info).as_bytes()).unwrap());
        assert_eq!(answer(&mut c, &public, &std_sig), "PONG");
    };

    connection_types_hold_for_nkey_users => |io| async move {
        let (_, public) = user_key();
        let (other_seed, other) = user_key();
        let server = start(io, &public, &other);
        // `other` may come over WebSocket only.
        let (mut tcp, info) = Raw::connect(&server);
        assert_eq!(answer(&mut tcp, &other, &sign(&other_seed, &nonce(&info))), DENIED);
        let (mut ws, info) = WsRaw::upgrade(&server.ws_addr(), &[]);
        let sig = sign(&other_seed, &nonce(&info));
        ws.send(format!("CONNECT {{\"verbose\":false,\"nkey\":\"{other}\",\"sig\":\"{sig}\"}}\r\nPING\r\n").as_bytes());
        assert_eq!(ws.line(), "PONG");
    };
}
