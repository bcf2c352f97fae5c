use super::*;

const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";

fn request(extra: &[&str], skip: &[&str]) -> String {
    let mut lines = vec!["GET / HTTP/1.1".to_string()];
    for (name, value) in [
        ("Host", "127.0.0.1:8080"),
        ("Upgrade", "websocket"),
        ("Connection", "Upgrade"),
        ("Sec-WebSocket-Key", KEY),
        ("Sec-WebSocket-Version", "13"),
    ] {
        if !skip.contains(&name) {
            lines.push(format!("{name}: {value}"));
        }
    }
    lines.extend(extra.iter().map(|s| s.to_string()));
    lines.join("\r\n") + "\r\n\r\n"
}

fn status(req: &str, policy: &Policy) -> u16 {
    match parse(req.as_bytes(), policy) {
        Parsed::Accepted { .. } => 101,
        Parsed::Refused(r) => r.status,
        Parsed::Incomplete => 0,
    }
}

fn accepted_upgrade(req: &str, policy: &Policy) -> Upgrade {
    match parse(req.as_bytes(), policy) {
        Parsed::Accepted { upgrade, consumed } => {
            assert_eq!(consumed, req.len());
            upgrade
        }
        other => panic!("not accepted: {other:?}"),
    }
}

#[test]
fn the_rfc_example_key_gets_its_accept_value() {
    assert_eq!(accept_key(KEY), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
}

#[test]
fn a_good_request_is_accepted_and_answered_in_order() {
    let up = accepted_upgrade(&request(&[], &[]), &Policy::default());
    let policy = Policy {
        extra_headers: "X-Extra: 1\r\n".into(),
        ..Policy::default()
    };
    let text = String::from_utf8(accepted(&up, &policy)).unwrap();
    assert_eq!(
        text,
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\nX-Extra: 1\r\n\r\n"
    );
}

#[test]
fn each_fault_gets_nats_servers_status_in_its_order() {
    let p = Policy::default();
    assert_eq!(
        status(&request(&[], &[]).replacen("GET", "POST", 1), &p),
        405
    );
    // The method is checked before the Host.
    assert_eq!(
        status(&request(&[], &["Host"]).replacen("GET", "PUT", 1), &p),
        405
    );
    assert_eq!(status(&request(&[], &["Host"]), &p), 400);
    assert_eq!(status(&request(&[], &["Upgrade"]), &p), 400);
    assert_eq!(status(&request(&["Upgrade: h2c"], &["Upgrade"]), &p), 400);
    assert_eq!(status(&request(&[], &["Connection"]), &p), 400);
    assert_eq!(status(&request(&[], &["Sec-WebSocket-Key"]), &p), 400);
    assert_eq!(
        status(
            &request(&["Sec-WebSocket-Key: c2hvcnQ="], &["Sec-WebSocket-Key"]),
            &p
        ),
        400
    );
    assert_eq!(
        status(
            &request(&["Sec-WebSocket-Key: !!!"], &["Sec-WebSocket-Key"]),
            &p
        ),
        400
    );
    assert_eq!(status(&request(&[], &["Sec-WebSocket-Version"]), &p), 400);
    assert_eq!(
        status(
            &request(&["Sec-WebSocket-Version: 8"], &["Sec-WebSocket-Version"]),
            &p
        ),
        400
    );
    assert_eq!(status("GARBAGE\r\n\r\n", &p), 400);
    assert_eq!(status("GET / HTTP/1.1\r\nno colon\r\n\r\n", &p), 400);
}

#[test]
fn tokens_compare_case_insensitively_inside_comma_lists() {
    let req = request(
        &["Upgrade: h2c, WebSocket", "Connection: keep-alive, upgrade"],
        &["Upgrade", "Connection"],
    );
    assert_eq!(status(&req, &Policy::default()), 101);
    let req = request(
        &["Sec-WebSocket-Version: 8, 13"],
        &["Sec-WebSocket-Version"],
    );
    assert_eq!(status(&req, &Policy::default()), 101);
}

#[test]
fn a_partial_head_waits_and_a_huge_one_is_refused() {
    let req = request(&[], &[]);
    assert_eq!(
        parse(&req.as_bytes()[..req.len() - 1], &Policy::default()),
        Parsed::Incomplete
    );
    let huge = format!("GET / HTTP/1.1\r\nX: {}", "a".repeat(MAX_REQUEST_HEAD));
    assert_eq!(status(&huge, &Policy::default()), 431);
}

#[test]
fn bytes_after_the_head_are_left_for_the_frames() {
    let req = request(&[], &[]);
    let mut bytes = req.clone().into_bytes();
    bytes.extend_from_slice(&[0x81, 0x80, 1, 2, 3, 4]);
    match parse(&bytes, &Policy::default()) {
        Parsed::Accepted { consumed, .. } => assert_eq!(consumed, req.len()),
        other => panic!("{other:?}"),
    }
}

#[test]
fn origin_rules() {
    let same = Policy {
        same_origin: true,
        ..Policy::default()
    };
    let with = |o: &str| request(&[&format!("Origin: {o}")], &[]);
    // Without an Origin header: accepted (not a browser).
    assert_eq!(status(&request(&[], &[]), &same), 101);
    assert_eq!(status(&with("http://127.0.0.1:8080"), &same), 101);
    assert_eq!(status(&with("http://127.0.0.1:8081"), &same), 403);
    assert_eq!(status(&with("https://127.0.0.1:8080"), &same), 403);
    assert_eq!(status(&with("not a url"), &same), 403);
    // Default ports: 80 for http, 443 for https.
    let req = request(&["Origin: http://example.com"], &["Host"]).replacen(
        "\r\n",
        "\r\nHost: EXAMPLE.com:80\r\n",
        1,
    );
    assert_eq!(status(&req, &same), 101);
    let tls = Policy {
        tls: true,
        ..same.clone()
    };
    let req = request(&["Origin: https://example.com"], &["Host"]).replacen(
        "\r\n",
        "\r\nHost: example.com\r\n",
        1,
    );
    assert_eq!(status(&req, &tls), 101);

    let listed = Policy {
        allowed_origins: vec![
            Origin::parse("http://app.example.com:3000/ignored/path").unwrap(),
            Origin::parse("https://secure.example.com").unwrap(),
        ],
        ..Policy::default()
    };
    assert_eq!(status(&with("http://app.example.com:3000"), &listed), 101);
    assert_eq!(status(&with("http://APP.example.com:3000"), &listed), 101);
    assert_eq!(
        status(&with("https://secure.example.com:443"), &listed),
        101
    );
    assert_eq!(status(&with("http://secure.example.com"), &listed), 403);
    assert_eq!(status(&with("http://app.example.com:3001"), &listed), 403);
    assert_eq!(status(&with("http://evil.example.com:3000"), &listed), 403);
    assert_eq!(status(&request(&[], &[]), &listed), 101);
    // Sec-WebSocket-Origin stands in for Origin.
    let req = request(&["Sec-WebSocket-Origin: http://evil.example.com"], &[]);
    assert_eq!(status(&req, &listed), 403);
}

#[test]
fn compression_only_when_offered_and_enabled() {
    let offer = request(
        &["Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits"],
        &[],
    );
    let on = Policy {
        compression: true,
        ..Policy::default()
    };
    let up = accepted_upgrade(&offer, &on);
    assert!(up.compression);
    let text = String::from_utf8(accepted(&up, &on)).unwrap();
    assert!(text.contains("\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\nSec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover; client_no_context_takeover\r\n\r\n"), "{text}");
    assert!(!accepted_upgrade(&offer, &Policy::default()).compression);
    assert!(!accepted_upgrade(&request(&[], &[]), &on).compression);
}

#[test]
fn browsers_safari_forwarded_for_and_cookies() {
    let chrome =
        "User-Agent: Mozilla/5.0 (Macintosh) AppleWebKit/537.36 Chrome/120.0 Safari/537.36";
    let safari =
        "User-Agent: Mozilla/5.0 (Macintosh) AppleWebKit/605.1.15 Version/17.0 Safari/605.1.15";
    let on = Policy {
        compression: true,
        cookie_names: CookieNames {
            jwt: Some("jwt".into()),
            user: Some("u".into()),
            ..CookieNames::default()
        },
        ..Policy::default()
    };
    let ext = "Sec-WebSocket-Extensions: permessage-deflate";
    let up = accepted_upgrade(&request(&[chrome, ext], &[]), &on);
    assert!(up.browser && !up.no_compressed_fragments);
    let up = accepted_upgrade(&request(&[safari, ext], &[]), &on);
    assert!(up.browser && up.no_compressed_fragments);
    let up = accepted_upgrade(&request(&["User-Agent: nats.go"], &[]), &on);
    assert!(!up.browser);
    let up = accepted_upgrade(
        &request(
            &[
                "X-Forwarded-For: 10.1.2.3, 10.0.0.1",
                "Cookie: a=1; jwt=abc; u=\"bob\"",
            ],
            &[],
        ),
        &on,
    );
    assert_eq!(up.forwarded_for.as_deref(), Some("10.1.2.3"));
    assert_eq!(up.cookies.jwt.as_deref(), Some("abc"));
    assert_eq!(up.cookies.user.as_deref(), Some("bob"));
    let up = accepted_upgrade(&request(&["X-Forwarded-For: not-an-ip"], &[]), &on);
    assert_eq!(up.forwarded_for, None);
}

#[test]
fn no_masking_is_answered() {
    let up = accepted_upgrade(
        &request(&["Nats-No-Masking: true"], &[]),
        &Policy::default(),
    );
    assert!(up.no_masking);
    let text = String::from_utf8(accepted(&up, &Policy::default())).unwrap();
    assert!(text.contains("\r\nNats-No-Masking: true\r\n"));
}

#[test]
fn error_responses_carry_the_version_header() {
    let text = String::from_utf8(refused(403)).unwrap();
    assert!(text.starts_with("HTTP/1.1 403 Forbidden\r\n"));
    assert!(text.contains("\r\nSec-Websocket-Version: 13\r\n"));
    assert!(text.ends_with("\r\n\r\nForbidden\n"));
}

#[test]
fn origins_parse_as_the_configuration_checks_them() {
    assert_eq!(
        Origin::parse("HTTPS://Example.COM/x").unwrap(),
        Origin {
            scheme: "https".into(),
            host: "example.com".into(),
            port: 443
        }
    );
    assert_eq!(Origin::parse("http://[::1]:3000").unwrap().host, "::1");
    assert!(Origin::parse("ftp://x").is_err());
    assert!(Origin::parse("example.com").is_err());
    assert!(Origin::parse("http://:80").is_err());
    assert!(Origin::parse("http://x:99999").is_err());
}
