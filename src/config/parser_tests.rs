//! Behaviours of the configuration parser, one syntax form per test.

use std::path::Path;

use super::parser::parse_str;
use super::value::{Map, Value};

fn parse(text: &str) -> Map {
    parse_str(text, Path::new("test.conf")).unwrap_or_else(|e| panic!("{e}"))
}

fn fails(text: &str) -> (u32, u32, String) {
    let e = parse_str(text, Path::new("test.conf")).expect_err("should fail");
    let p = e.pos.clone().expect("position");
    (p.line, p.col, e.message)
}

fn get<'a>(m: &'a Map, key: &str) -> &'a Value {
    &m.get(key).unwrap_or_else(|| panic!("no key {key}")).value
}

fn s(v: &str) -> Value {
    Value::String(v.to_string())
}

#[test]
fn separators_equal_colon_and_space() {
    let m = parse("a = 1\nb: 2\nc 3\nd=4\ne:5\n");
    for (k, v) in [("a", 1), ("b", 2), ("c", 3), ("d", 4), ("e", 5)] {
        assert_eq!(get(&m, k), &Value::Integer(v));
    }
}

#[test]
fn blocks_with_and_without_separator() {
    let m = parse("a { x: 1 }\nb = { x: 2 }\nc: {\n x: 3\n}\n");
    for (k, v) in [("a", 1), ("b", 2), ("c", 3)] {
        let Value::Map(inner) = get(&m, k) else {
            panic!()
        };
        assert_eq!(get(inner, "x"), &Value::Integer(v));
    }
}

#[test]
fn arrays_with_commas_newlines_and_comments() {
    let m = parse("a [1, 2, 3 ]\nb [\n  x # one\n  y, // two\n  z\n]\nc []\n");
    let Value::Array(a) = get(&m, "a") else {
        panic!()
    };
    assert_eq!(a.len(), 3);
    let Value::Array(b) = get(&m, "b") else {
        panic!()
    };
    let words: Vec<_> = b.iter().map(|i| i.value.clone()).collect();
    assert_eq!(words, vec![s("x"), s("y"), s("z")]);
    assert_eq!(get(&m, "c"), &Value::Array(vec![]));
}

#[test]
fn nested_maps_and_arrays_of_maps() {
    let m = parse("auth { users [ {user: a, password: b}, {user: c; password: d} ] }");
    let Value::Map(auth) = get(&m, "auth") else {
        panic!()
    };
    let Value::Array(users) = get(auth, "users") else {
        panic!()
    };
    let Value::Map(u1) = &users[1].value else {
        panic!()
    };
    assert_eq!(get(u1, "password"), &s("d"));
}

#[test]
fn comments_hash_and_slashes() {
    let m =
        parse("# top\n// also\na: 1 # trailing\nb: 2 // trailing\nc { # in map\n d: 3 // x\n}\n");
    assert_eq!(get(&m, "a"), &Value::Integer(1));
    assert_eq!(get(&m, "b"), &Value::Integer(2));
}

#[test]
fn strings_quoted_and_bare() {
    let m = parse(
        "a: \"t\\tn\\nr\\rq\\\"b\\\\x\\x41\"\nb: 'no \\t escapes'\nc: localhost\nd: 127.0.0.1:4222\ne: /var/run/x.pid\nf: \"with # hash\"\n",
    );
    assert_eq!(get(&m, "a"), &s("t\tn\nr\rq\"b\\xA"));
    assert_eq!(get(&m, "b"), &s("no \\t escapes"));
    assert_eq!(get(&m, "c"), &s("localhost"));
    assert_eq!(get(&m, "d"), &s("127.0.0.1:4222"));
    assert_eq!(get(&m, "e"), &s("/var/run/x.pid"));
    assert_eq!(get(&m, "f"), &s("with # hash"));
}

#[test]
fn numbers_floats_and_booleans() {
    let m = parse("a: -5\nb: 2.5\nc: true\nd: FALSE\ne: yes\nf: No\ng: on\nh: OFF\n");
    assert_eq!(get(&m, "a"), &Value::Integer(-5));
    assert_eq!(get(&m, "b"), &Value::Float(2.5));
    for (k, v) in [
        ("c", true),
        ("d", false),
        ("e", true),
        ("f", false),
        ("g", true),
        ("h", false),
    ] {
        assert_eq!(get(&m, k), &Value::Bool(v), "{k}");
    }
}

#[test]
fn sizes_in_nats_server_meaning() {
    let cases = [
        ("1k", 1000),
        ("1K", 1000),
        ("1kb", 1024),
        ("1KB", 1024),
        ("1ki", 1024),
        ("1kib", 1024),
        ("2m", 2_000_000),
        ("2mb", 2 << 20),
        ("1g", 1_000_000_000),
        ("1gb", 1 << 30),
        ("1t", 1_000_000_000_000),
        ("1tb", 1 << 40),
        ("1p", 1_000_000_000_000_000),
        ("1e", 1_000_000_000_000_000_000),
        ("1eib", 1 << 60),
    ];
    for (text, want) in cases {
        let m = parse(&format!("x: {text}\n"));
        assert_eq!(get(&m, "x"), &Value::Integer(want), "{text}");
    }
    // An unknown suffix combination sets nothing, as in nats-server.
    assert!(parse("x: 1kbb\n").get("x").is_none());
}

#[test]
fn durations_stay_strings_for_the_options_to_read() {
    let m = parse("a: 2s\nb: 100ms\nc: \"1m30s\"\nd: 1h\n");
    assert_eq!(get(&m, "a"), &s("2s"));
    assert_eq!(get(&m, "b"), &s("100ms"));
    assert_eq!(get(&m, "c"), &s("1m30s"));
    assert_eq!(get(&m, "d"), &s("1h"));
}

#[test]
fn number_directly_before_closing_bracket_is_refused_like_nats_server() {
    // nats-server reads "2]" as a string and goes on looking for the end of
    // the array: here it stumbles on the '=' of the next line.
    assert_eq!(fails("a = [1, 2]\nb = 3\n").0, 2);
    let m = parse("a = [1, 2 ]\nb = [1k]\nc = [1.5]\n");
    let Value::Array(b) = get(&m, "b") else {
        panic!()
    };
    assert_eq!(b[0].value, s("1k"));
    let Value::Array(c) = get(&m, "c") else {
        panic!()
    };
    assert_eq!(c[0].value, Value::Float(1.5));
}

#[test]
fn datetimes() {
    let m = parse("t: 2016-05-04T18:53:41Z\n");
    assert_eq!(
        get(&m, "t"),
        &Value::Datetime("2016-05-04T18:53:41Z".into())
    );
    let (line, _, _) = fails("t: 2016-05-04 18:53:41Z\n");
    assert_eq!(line, 1);
}

#[test]
fn block_strings() {
    let m = parse("a: (\nline one\nline (two)\n)\nb: 1\n");
    assert_eq!(get(&m, "a"), &s("\nline one\nline (two)"));
    assert_eq!(get(&m, "b"), &Value::Integer(1));
}

#[test]
fn terminators_semicolon_and_comma() {
    let m = parse("a: 1; b: 2, c: 3\nd { e: 4; f: 5, g: 6 }\n");
    assert_eq!(get(&m, "c"), &Value::Integer(3));
    let Value::Map(d) = get(&m, "d") else {
        panic!()
    };
    assert_eq!(get(d, "g"), &Value::Integer(6));
}

#[test]
fn quoted_keys() {
    let m = parse("\"a key\": 1\n'b.key' = 2\n");
    assert_eq!(get(&m, "a key"), &Value::Integer(1));
    assert_eq!(get(&m, "b.key"), &Value::Integer(2));
}

#[test]
fn variables_from_earlier_in_scope() {
    let m = parse("PORT: 4333\nport: $PORT\nw { P2: 5 ; x: $P2, y: $PORT }\nlist [$PORT, $PORT]\n");
    assert_eq!(get(&m, "port"), &Value::Integer(4333));
    let Value::Map(w) = get(&m, "w") else {
        panic!()
    };
    assert_eq!(get(w, "x"), &Value::Integer(5));
    assert_eq!(get(w, "y"), &Value::Integer(4333));
    assert!(m.entries().any(|e| e.key == "PORT" && e.used_as_variable));
}

#[test]
fn variables_from_the_environment_are_parsed_as_values() {
    std::env::set_var("RINGNATS_TEST_PARSER_VAR", "2kb");
    let m = parse("x: $RINGNATS_TEST_PARSER_VAR\n");
    assert_eq!(get(&m, "x"), &Value::Integer(2048));
}

#[test]
fn undefined_variable_is_an_error_at_its_reference() {
    let (line, col, msg) = fails("a: 1\nb: $NOPE_NOT_DEFINED_ANYWHERE\n");
    assert_eq!((line, col), (2, 4));
    assert!(msg.contains("NOPE_NOT_DEFINED_ANYWHERE"), "{msg}");
}

#[test]
fn bcrypt_hashes_are_not_variables() {
    let m = parse("p: $2a$11$W2zko751KUvVy59mUTWmpOdWjpEm5qhcCZRd05GjI/sSOT.xtiHyG\n");
    assert_eq!(
        get(&m, "p"),
        &s("$2a$11$W2zko751KUvVy59mUTWmpOdWjpEm5qhcCZRd05GjI/sSOT.xtiHyG")
    );
}

#[test]
fn later_duplicate_key_wins() {
    let m = parse("a: 1\na: 2\n");
    assert_eq!(get(&m, "a"), &Value::Integer(2));
    assert_eq!(m.len(), 1);
}

#[test]
fn whole_file_in_braces() {
    let m = parse("{\n  port: 4222\n}\n");
    assert_eq!(get(&m, "port"), &Value::Integer(4222));
}

#[test]
fn errors_carry_line_and_column() {
    assert_eq!(fails("a: 1\nb: \"open\n").0, 3);
    assert_eq!(fails("a {\n b: 1\n").0, 3);
    assert_eq!(fails("a [1, 2\n").0, 2);
    let (line, col, _) = fails("a: \"x\\q\"\n");
    assert_eq!((line, col), (1, 7));
    let (line, _, msg) = fails("a: 1 2\n");
    assert_eq!(line, 1);
    assert!(msg.contains("'2'"), "{msg}");
    // A new line is counted on the line it starts, as nats-server does.
    assert_eq!(fails("a = \n").0, 2);
    assert_eq!(fails("= 1\n").0, 1);
    assert_eq!(fails("a: .5\n").0, 1);
    assert_eq!(fails("a [1,,2]\n").0, 1);
    assert_eq!(fails("x: 99999999999999999999\n").0, 1);
}

#[test]
fn deep_nesting_is_refused_not_a_crash() {
    let text = format!("a: {}{}\n", "[".repeat(10_000), "]".repeat(10_000));
    let e = parse_str(&text, Path::new("t.conf")).unwrap_err();
    assert!(e.message.contains("nest"), "{e}");
}

#[test]
fn include_reads_relative_to_the_including_file() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("sub")).unwrap();
    std::fs::write(dir.path().join("sub/users.conf"), "user: a\npassword: b\n").unwrap();
    std::fs::write(
        dir.path().join("main.conf"),
        "port: 1\nauthorization {\n  include ./sub/users.conf\n  timeout: 2\n}\n",
    )
    .unwrap();
    let m = super::parse_file(&dir.path().join("main.conf")).unwrap();
    let Value::Map(auth) = get(&m, "authorization") else {
        panic!()
    };
    assert_eq!(get(auth, "user"), &s("a"));
    assert_eq!(get(auth, "timeout"), &Value::Integer(2));
}

#[test]
fn include_cycles_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("a.conf"), "include b.conf\n").unwrap();
    std::fs::write(dir.path().join("b.conf"), "include a.conf\n").unwrap();
    let e = super::parse_file(&dir.path().join("a.conf")).unwrap_err();
    assert!(e.message.contains("nest"), "{e}");
}

#[test]
fn include_errors_name_the_included_file() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("bad.conf"), "a: 1\nb: \n").unwrap();
    std::fs::write(dir.path().join("main.conf"), "include bad.conf\n").unwrap();
    let e = super::parse_file(&dir.path().join("main.conf")).unwrap_err();
    let pos = e.pos.unwrap();
    assert!(pos.file.ends_with("bad.conf"));
    assert_eq!(pos.line, 3);
    let e = super::parse_file(&dir.path().join("nope.conf")).unwrap_err();
    assert!(e.message.contains("nope.conf"));
}

#[test]
fn arbitrary_bytes_never_panic() {
    let mut rng = fastrand::Rng::with_seed(7);
    let alphabet = b"ab{}[]()=:,;#/\\\"' \t\n\r$0123456789.-kKmMgGbBiIxtT\xff\xc3";
    for _ in 0..20_000 {
        let len = rng.usize(0..60);
        let bytes: Vec<u8> = (0..len)
            .map(|_| alphabet[rng.usize(..alphabet.len())])
            .collect();
        let text = String::from_utf8_lossy(&bytes);
        let _ = parse_str(&text, Path::new("fuzz.conf"));
    }
}
