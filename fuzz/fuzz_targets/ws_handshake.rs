//! The WebSocket upgrade parser on arbitrary bytes, under a policy chosen
//! by the first byte (compression, same origin, an allowed list, TLS,
//! cookie names): it must accept, refuse or ask for more, never panic. An
//! accepted upgrade is answered with a 101, a refusal with its status.

#![no_main]

use libfuzzer_sys::fuzz_target;
use ringnats::websocket::handshake::{self, CookieNames, Origin, Parsed, Policy, MAX_REQUEST_HEAD};

fn policy(bits: u8) -> Policy {
    let allowed_origins = if bits & 4 != 0 {
        [
            "https://example.com",
            "http://localhost:8080",
            "http://[::1]:9222",
        ]
        .iter()
        .map(|u| Origin::parse(u).expect("a valid origin"))
        .collect()
    } else {
        Vec::new()
    };
    let cookie_names = if bits & 16 != 0 {
        let name = |n: &str| Some(n.to_string());
        CookieNames {
            jwt: name("jwt"),
            user: name("user"),
            pass: name("pass"),
            token: name("token"),
        }
    } else {
        CookieNames::default()
    };
    Policy {
        tls: bits & 8 != 0,
        same_origin: bits & 2 != 0,
        allowed_origins,
        compression: bits & 1 != 0,
        extra_headers: String::new(),
        cookie_names,
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&first, input)) = data.split_first() else {
        return;
    };
    let policy = policy(first);
    match handshake::parse(input, &policy) {
        Parsed::Incomplete => {
            assert!(input.len() < MAX_REQUEST_HEAD);
            assert!(!input.windows(4).any(|w| w == b"\r\n\r\n"));
        }
        Parsed::Accepted { upgrade, consumed } => {
            assert!(input[..consumed].ends_with(b"\r\n\r\n"));
            assert!(policy.compression || !upgrade.compression);
            let response = handshake::accepted(&upgrade, &policy);
            assert!(response.starts_with(b"HTTP/1.1 101 "));
            assert!(response.ends_with(b"\r\n\r\n"));
        }
        Parsed::Refused(r) => {
            let response = handshake::refused(r.status);
            assert!(response.starts_with(format!("HTTP/1.1 {} ", r.status).as_bytes()));
        }
    }
});
