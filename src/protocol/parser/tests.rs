use super::*;

/// An owned copy of a [`ClientOp`], for comparisons.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Op {
    Connect(Vec<u8>),
    Pub {
        subject: Vec<u8>,
        reply: Option<Vec<u8>>,
        payload: Vec<u8>,
    },
    HPub {
        subject: Vec<u8>,
        reply: Option<Vec<u8>>,
        header_len: usize,
        message: Vec<u8>,
    },
    Sub {
        subject: Vec<u8>,
        queue: Option<Vec<u8>>,
        sid: Vec<u8>,
    },
    Unsub {
        sid: Vec<u8>,
        max: Option<u64>,
    },
    Ping,
    Pong,
}

impl From<ClientOp<'_>> for Op {
    fn from(op: ClientOp<'_>) -> Self {
        let v = |s: &[u8]| s.to_vec();
        match op {
            ClientOp::Connect(j) => Op::Connect(v(j)),
            ClientOp::Pub {
                subject,
                reply,
                payload,
            } => Op::Pub {
                subject: v(subject),
                reply: reply.map(v),
                payload: v(payload),
            },
            ClientOp::HPub {
                subject,
                reply,
                header_len,
                message,
            } => Op::HPub {
                subject: v(subject),
                reply: reply.map(v),
                header_len,
                message: v(message),
            },
            ClientOp::Sub {
                subject,
                queue,
                sid,
            } => Op::Sub {
                subject: v(subject),
                queue: queue.map(v),
                sid: v(sid),
            },
            ClientOp::Unsub { sid, max } => Op::Unsub { sid: v(sid), max },
            ClientOp::Ping => Op::Ping,
            ClientOp::Pong => Op::Pong,
        }
    }
}

fn pub_op(subject: &str, reply: Option<&str>, payload: &[u8]) -> Op {
    Op::Pub {
        subject: subject.into(),
        reply: reply.map(Into::into),
        payload: payload.to_vec(),
    }
}

fn hpub_op(subject: &str, reply: Option<&str>, header_len: usize, message: &[u8]) -> Op {
    Op::HPub {
        subject: subject.into(),
        reply: reply.map(Into::into),
        header_len,
        message: message.to_vec(),
    }
}

fn sub_op(subject: &str, queue: Option<&str>, sid: &str) -> Op {
    Op::Sub {
        subject: subject.into(),
        queue: queue.map(Into::into),
        sid: sid.into(),
    }
}

fn unsub_op(sid: &str, max: Option<u64>) -> Op {
    Op::Unsub {
        sid: sid.into(),
        max,
    }
}

/// Ops and the first error from feeding `chunks` in order.
type Outcome = (Vec<Op>, Option<ProtocolError>);

fn parse_chunks_with(limits: ParserLimits, chunks: &[&[u8]]) -> Outcome {
    let mut p = ClientParser::new(limits);
    let mut ops = Vec::new();
    for c in chunks {
        if let Err(e) = p.feed(c, &mut |op| {
            ops.push(Op::from(op));
            true
        }) {
            assert!(p.is_closed());
            return (ops, Some(e));
        }
    }
    (ops, None)
}

fn parse_chunks(chunks: &[&[u8]]) -> Outcome {
    parse_chunks_with(ParserLimits::default(), chunks)
}

fn parse(input: &[u8]) -> Outcome {
    parse_chunks(&[input])
}

fn ops(input: &[u8]) -> Vec<Op> {
    let (ops, err) = parse(input);
    assert_eq!(err, None, "{:?}", String::from_utf8_lossy(input));
    ops
}

/// Feeds `input` split at every single point, and in 3 chunks at every pair
/// of points when it is short, checking each gives the same as one chunk.
fn assert_split_invariant_with(limits: ParserLimits, input: &[u8]) -> Outcome {
    let whole = parse_chunks_with(limits, &[input]);
    for i in 0..=input.len() {
        let (a, b) = input.split_at(i);
        assert_eq!(
            parse_chunks_with(limits, &[a, b]),
            whole,
            "split at {i} of {:?}",
            String::from_utf8_lossy(input)
        );
    }
    if input.len() <= 160 {
        for i in 0..=input.len() {
            for j in i..=input.len() {
                let parts = [&input[..i], &input[i..j], &input[j..]];
                assert_eq!(parse_chunks_with(limits, &parts), whole, "split at {i},{j}");
            }
        }
    }
    let bytes: Vec<&[u8]> = input.chunks(1).collect();
    assert_eq!(parse_chunks_with(limits, &bytes), whole, "byte at a time");
    whole
}

fn assert_split_invariant(input: &[u8]) -> Outcome {
    assert_split_invariant_with(ParserLimits::default(), input)
}

#[test]
fn every_op() {
    assert_eq!(
        ops(b"CONNECT {\"verbose\":false}\r\n"),
        [Op::Connect(b"{\"verbose\":false}".to_vec())]
    );
    assert_eq!(
        ops(b"PUB foo 5\r\nhello\r\n"),
        [pub_op("foo", None, b"hello")]
    );
    assert_eq!(
        ops(b"PUB foo bar 5\r\nhello\r\n"),
        [pub_op("foo", Some("bar"), b"hello")]
    );
    assert_eq!(
        ops(b"HPUB foo 12 14\r\nNATS/1.0\r\n\r\nhi\r\n"),
        [hpub_op("foo", None, 12, b"NATS/1.0\r\n\r\nhi")]
    );
    assert_eq!(
        ops(b"HPUB foo r 12 14\r\nNATS/1.0\r\n\r\nhi\r\n"),
        [hpub_op("foo", Some("r"), 12, b"NATS/1.0\r\n\r\nhi")]
    );
    assert_eq!(ops(b"SUB foo 1\r\n"), [sub_op("foo", None, "1")]);
    assert_eq!(ops(b"SUB foo q 1\r\n"), [sub_op("foo", Some("q"), "1")]);
    assert_eq!(ops(b"UNSUB 1\r\n"), [unsub_op("1", None)]);
    assert_eq!(ops(b"UNSUB 1 5\r\n"), [unsub_op("1", Some(5))]);
    assert_eq!(ops(b"PING\r\n"), [Op::Ping]);
    assert_eq!(ops(b"PONG\r\n"), [Op::Pong]);
}

#[test]
fn op_verbs() {
    let mut verbs = Vec::new();
    let mut p = ClientParser::default();
    p.feed(
        b"CONNECT {}\r\nPUB a 0\r\n\r\nHPUB a 0 0\r\n\r\nSUB a 1\r\nUNSUB 1\r\nPING\r\nPONG\r\n",
        &mut |op| {
            verbs.push(op.verb());
            true
        },
    )
    .unwrap();
    assert_eq!(
        verbs,
        ["CONNECT", "PUB", "HPUB", "SUB", "UNSUB", "PING", "PONG"]
    );
}

#[test]
fn ops_borrow_the_chunk_when_whole() {
    let input = b"PUB foo 5\r\nhello\r\nSUB foo 1\r\n";
    let range = input.as_ptr_range();
    let mut p = ClientParser::default();
    let mut n = 0;
    p.feed(input, &mut |op| {
        let slices: Vec<&[u8]> = match op {
            ClientOp::Pub {
                subject, payload, ..
            } => vec![subject, payload],
            ClientOp::Sub { subject, sid, .. } => vec![subject, sid],
            _ => unreachable!(),
        };
        for s in slices {
            assert!(range.contains(&s.as_ptr()));
        }
        n += 1;
        true
    })
    .unwrap();
    assert_eq!(n, 2);
    assert_eq!(p.buffer_capacity(), 0, "nothing was copied");
}

#[test]
fn whitespace_and_line_ends() {
    // Runs of blanks, tabs, trailing blanks, bare LF line ends.
    assert_eq!(
        ops(b"PUB\tfoo\t\t5\t\r\nhello\r\n"),
        [pub_op("foo", None, b"hello")]
    );
    assert_eq!(
        ops(b"PUB  foo   bar    5 \r\nhello\r\n"),
        [pub_op("foo", Some("bar"), b"hello")]
    );
    assert_eq!(
        ops(b"PUB foo 5\nhello\r\n"),
        [pub_op("foo", None, b"hello")]
    );
    assert_eq!(ops(b"SUB  foo   1 \r\n"), [sub_op("foo", None, "1")]);
    assert_eq!(ops(b"SUB foo 1\t\n"), [sub_op("foo", None, "1")]);
    assert_eq!(ops(b"UNSUB \t 7 \t 3 \r\n"), [unsub_op("7", Some(3))]);
    assert_eq!(ops(b"PING\n"), [Op::Ping]);
    assert_eq!(ops(b"PONG\n"), [Op::Pong]);
    // Like nats-server, anything after PING/PONG up to the LF is ignored.
    assert_eq!(ops(b"PINGxyz\r\nPONG \t\r\r\n"), [Op::Ping, Op::Pong]);
    // Within SUB/UNSUB arguments a CR separates, as in nats-server.
    assert_eq!(ops(b"SUB foo\r 1\r\n"), [sub_op("foo", None, "1")]);
    // CONNECT needs no blank, takes the rest of the line.
    assert_eq!(ops(b"CONNECT{}\r\n"), [Op::Connect(b"{}".to_vec())]);
    assert_eq!(
        ops(b"CONNECT \t {\"a\": 1} \r\n"),
        [Op::Connect(b"{\"a\": 1} ".to_vec())]
    );
    assert_eq!(ops(b"CONNECT\r\n"), [Op::Connect(b"\r".to_vec())]);
    assert_eq!(ops(b"CONNECT \r\n"), [Op::Connect(b"\r".to_vec())]);
    // Zero-length payloads and payloads holding protocol text.
    assert_eq!(ops(b"PUB foo 0\r\n\r\n"), [pub_op("foo", None, b"")]);
    assert_eq!(
        ops(b"PUB foo 11\r\nPING\r\nPUB x\r\n"),
        [pub_op("foo", None, b"PING\r\nPUB x")]
    );
    assert_eq!(
        ops(b"HPUB foo 0 2\r\nhi\r\n"),
        [hpub_op("foo", None, 0, b"hi")]
    );
    // Sizes of up to 9 digits, leading zeros allowed.
    assert_eq!(
        ops(b"PUB foo 000000005\r\nhello\r\n"),
        [pub_op("foo", None, b"hello")]
    );
}

#[test]
fn nats_server_line_end_quirks() {
    // A CR anywhere after the first argument byte drops the last byte of the
    // line, whatever it is (nats-server assumes it is the CR of a CRLF).
    let quirks: &[(&[u8], Outcome)] = &[
        (b"SUB f\ro q 3\n", (vec![sub_op("f", Some("o"), "q")], None)),
        (b"UNSUB 2 x\rP\n", (vec![unsub_op("2", None)], None)),
        (
            b"PUB a\r.b 3\n",
            (vec![], Some(ProtocolError::InvalidPubArgs)),
        ),
        (
            b"PUB a\rb 1 3\nx\r\n",
            (vec![pub_op("a\rb", None, b"x")], None),
        ),
        // A CR as the first argument byte does not count.
        (b"SUB \rfoo 1\n", (vec![sub_op("foo", None, "1")], None)),
        (b"CONNECT\r\n", (vec![Op::Connect(b"\r".to_vec())], None)),
        // A LF right after the verb's blanks starts the arguments, which end
        // at the next LF.
        (
            b"SUB \nfoo q 1\r\n",
            (vec![sub_op("foo", Some("q"), "1")], None),
        ),
        (b"UNSUB \n7\r\n", (vec![unsub_op("7", None)], None)),
        (
            b"PUB \nfoo 5\r\nhello\r\n",
            (vec![pub_op("\nfoo", None, b"hello")], None),
        ),
        (
            b"CONNECT\n{\"a\":1}\r\nCONNECT \t\n{}\n",
            (
                vec![
                    Op::Connect(b"\n{\"a\":1}".to_vec()),
                    Op::Connect(b"\n{}".to_vec()),
                ],
                None,
            ),
        ),
        (b"CONNECT\n", (vec![], None)),
        (b"INFO \n{}\r\nPING\r\n", (vec![Op::Ping], None)),
    ];
    for (input, expected) in quirks {
        assert_eq!(
            &assert_split_invariant(input),
            expected,
            "{:?}",
            String::from_utf8_lossy(input)
        );
    }
    let limits = ParserLimits {
        max_control_line: 4,
        max_payload: 10,
    };
    // "ab\rcd" is cut to "ab\rc": 4 bytes, within the limit, split at the CR.
    assert_eq!(
        assert_split_invariant_with(limits, b"UNSUB ab\rcd\nPING\r\n"),
        (vec![unsub_op("ab", None), Op::Ping], None)
    );
}

#[test]
fn ignored_lines() {
    assert_eq!(ops(b"+OK\r\nPING\r\n"), [Op::Ping]);
    assert_eq!(ops(b"+okjunk\r\nPING\r\n"), [Op::Ping]);
    assert_eq!(
        ops(b"INFO {}\r\nINFO{\"a\":[1,{}]}\nINFO null\r\nPING\r\n"),
        [Op::Ping]
    );
    for bad in [
        &b"INFO\r\n"[..],
        b"INFO garbage\r\n",
        b"INFO {}}\r\n",
        b"INFO 5\r\n",
    ] {
        let (_, e) = assert_split_invariant(bad);
        assert_eq!(e, Some(ProtocolError::InvalidInfoJson));
    }
    assert_eq!(
        ProtocolError::InvalidInfoJson.err_line(),
        b"-ERR 'Invalid INFO JSON'\r\n"
    );
}

#[test]
fn verbs_are_case_insensitive() {
    let input = b"connect {}\r\nCoNnEcT {}\r\npub a 1\r\nx\r\nPuB a 1\r\nx\r\n\
hpub a 0 1\r\nx\r\nhPuB a 0 1\r\nx\r\nsub a 1\r\nSuB a 1\r\nunsub 1\r\nUnSuB 1\r\n\
ping\r\nPiNg\r\npong\r\npOnG\r\n+ok\r\ninfo {}\r\n";
    let (ops, err) = assert_split_invariant(input);
    assert_eq!(err, None);
    let names: Vec<&str> = ops
        .iter()
        .map(|o| match o {
            Op::Connect(_) => "C",
            Op::Pub { .. } => "P",
            Op::HPub { .. } => "H",
            Op::Sub { .. } => "S",
            Op::Unsub { .. } => "U",
            Op::Ping => "I",
            Op::Pong => "O",
        })
        .collect();
    assert_eq!(names.concat(), "CCPPHHSSUUIIOO");
}

#[test]
fn unsub_max_follows_nats_server() {
    // 0, negative or malformed max: nats-server unsubscribes at once.
    assert_eq!(ops(b"UNSUB 1 0\r\n"), [unsub_op("1", None)]);
    assert_eq!(ops(b"UNSUB 1 -1\r\n"), [unsub_op("1", None)]);
    assert_eq!(ops(b"UNSUB 1 abc\r\n"), [unsub_op("1", None)]);
    assert_eq!(ops(b"UNSUB 1 1234567890\r\n"), [unsub_op("1", None)]);
    assert_eq!(
        ops(b"UNSUB 1 999999999\r\n"),
        [unsub_op("1", Some(999_999_999))]
    );
}

#[test]
fn pipelined() {
    let input = b"CONNECT {\"verbose\":false}\r\nPING\r\nSUB foo 1\r\nSUB bar q 2\r\n\
PUB foo 5\r\nhello\r\nPUB bar r 3\r\nabc\r\nHPUB foo 12 14\r\nNATS/1.0\r\n\r\nhi\r\n\
UNSUB 1\r\nUNSUB 2 10\r\nPONG\r\nPING\r\n";
    let expected = vec![
        Op::Connect(b"{\"verbose\":false}".to_vec()),
        Op::Ping,
        sub_op("foo", None, "1"),
        sub_op("bar", Some("q"), "2"),
        pub_op("foo", None, b"hello"),
        pub_op("bar", Some("r"), b"abc"),
        hpub_op("foo", None, 12, b"NATS/1.0\r\n\r\nhi"),
        unsub_op("1", None),
        unsub_op("2", Some(10)),
        Op::Pong,
        Op::Ping,
    ];
    assert_eq!(assert_split_invariant(input), (expected, None));
}

#[test]
fn splits_with_tricky_payloads() {
    let inputs: [&[u8]; 6] = [
        b"PUB a 7\r\nPUB\r\n\r\n\r\nPING\r\n",
        b"PUB a r 4\r\n\r\n\r\n\r\nPUB b 0\r\n\r\nPONG\r\n",
        b"HPUB a r 12 16\r\nNATS/1.0\r\n\r\nPUB \r\nSUB x 1\r\n",
        b"SUB a 1\r\nPUB a 6\nPING\r\n\r\n+OK\r\nINFO {}\r\nPING\r\n",
        b"pub\t a \t 2 \r\n\n\n\r\nCONNECT {\"x\":\"PUB a 1\\r\\n\"}\r\nPING\n",
        b"PUB a 3\r\n\r\r\r\r\nUNSUB 1 2\r\nPING xx\r\n",
    ];
    for input in inputs {
        let (_, err) = assert_split_invariant(input);
        assert_eq!(err, None, "{:?}", String::from_utf8_lossy(input));
    }
    assert_eq!(
        ops(inputs[0]),
        [pub_op("a", None, b"PUB\r\n\r\n"), Op::Ping]
    );
}

#[test]
fn error_texts() {
    let cases: &[(&[u8], ProtocolError, &str)] = &[
        (
            b"XYZ\r\n",
            ProtocolError::UnknownOperation,
            "Unknown Protocol Operation",
        ),
        (
            b"PUBX foo 1\r\n",
            ProtocolError::UnknownOperation,
            "Unknown Protocol Operation",
        ),
        (
            b"PUB\r\n",
            ProtocolError::UnknownOperation,
            "Unknown Protocol Operation",
        ),
        (
            b"UNSUB\r\n",
            ProtocolError::UnknownOperation,
            "Unknown Protocol Operation",
        ),
        (
            b"PIN\r\n",
            ProtocolError::UnknownOperation,
            "Unknown Protocol Operation",
        ),
        (
            b"+O\r\n",
            ProtocolError::UnknownOperation,
            "Unknown Protocol Operation",
        ),
        (
            b"\r\n",
            ProtocolError::UnknownOperation,
            "Unknown Protocol Operation",
        ),
        (
            b"\n",
            ProtocolError::UnknownOperation,
            "Unknown Protocol Operation",
        ),
        (
            b" PING\r\n",
            ProtocolError::UnknownOperation,
            "Unknown Protocol Operation",
        ),
        (
            b"MSG foo 1 5\r\nhello\r\n",
            ProtocolError::UnknownOperation,
            "Unknown Protocol Operation",
        ),
        (
            b"HMSG foo 1 0 5\r\nhello\r\n",
            ProtocolError::UnknownOperation,
            "Unknown Protocol Operation",
        ),
        (
            b"-ERR 'x'\r\n",
            ProtocolError::UnknownOperation,
            "Unknown Protocol Operation",
        ),
        (
            b"PUB foo 5\r\nhello\nPING\r\n",
            ProtocolError::UnknownOperation,
            "Unknown Protocol Operation",
        ),
        (
            b"PUB foo 5\r\nhelloX\r\n",
            ProtocolError::UnknownOperation,
            "Unknown Protocol Operation",
        ),
        (
            b"PUB foo 5\r\nhello\rX",
            ProtocolError::UnknownOperation,
            "Unknown Protocol Operation",
        ),
        (
            b"PUB foo 2000000\r\n",
            ProtocolError::MaxPayload,
            "Maximum Payload Violation",
        ),
        (
            b"PUB foo 999999999\r\n",
            ProtocolError::MaxPayload,
            "Maximum Payload Violation",
        ),
        (
            b"HPUB foo 0 1048577\r\n",
            ProtocolError::MaxPayload,
            "Maximum Payload Violation",
        ),
        (
            b"PUB foo -1\r\n",
            ProtocolError::InvalidPubSize,
            "Invalid Publish Size",
        ),
        (
            b"PUB foo x\r\n",
            ProtocolError::InvalidPubSize,
            "Invalid Publish Size",
        ),
        (
            b"PUB foo +5\r\n",
            ProtocolError::InvalidPubSize,
            "Invalid Publish Size",
        ),
        (
            b"PUB foo 0000000005\r\n",
            ProtocolError::InvalidPubSize,
            "Invalid Publish Size",
        ),
        (
            b"PUB foo\r\n",
            ProtocolError::InvalidPubArgs,
            "Invalid Publish Arguments",
        ),
        (
            b"PUB \r\n",
            ProtocolError::InvalidPubArgs,
            "Invalid Publish Arguments",
        ),
        (
            b"PUB a b c 5\r\n",
            ProtocolError::InvalidPubArgs,
            "Invalid Publish Arguments",
        ),
        (
            b"HPUB foo 5\r\n",
            ProtocolError::InvalidHPubArgs,
            "Invalid Header Publish Arguments",
        ),
        (
            b"HPUB a b c d e\r\n",
            ProtocolError::InvalidHPubArgs,
            "Invalid Header Publish Arguments",
        ),
        (
            b"HPUB foo x 5\r\n",
            ProtocolError::InvalidHeaderSize,
            "Invalid Header Size",
        ),
        (
            b"HPUB foo -1 5\r\n",
            ProtocolError::InvalidHeaderSize,
            "Invalid Header Size",
        ),
        (
            b"HPUB foo 1 -5\r\n",
            ProtocolError::InvalidTotalSize,
            "Invalid Total Size",
        ),
        (
            b"HPUB foo 10 5\r\n",
            ProtocolError::HeaderSizeTooLarge,
            "Header Size Larger Than Total Size",
        ),
        (
            b"SUB foo\r\n",
            ProtocolError::InvalidSubArgs,
            "Invalid Subscription Arguments",
        ),
        (
            b"SUB foo q 1 x\r\n",
            ProtocolError::InvalidSubArgs,
            "Invalid Subscription Arguments",
        ),
        (
            b"SUB \r\n",
            ProtocolError::InvalidSubArgs,
            "Invalid Subscription Arguments",
        ),
        (
            b"UNSUB 1 2 3\r\n",
            ProtocolError::InvalidUnsubArgs,
            "Invalid Unsubscribe Arguments",
        ),
        (
            b"UNSUB \r\n",
            ProtocolError::InvalidUnsubArgs,
            "Invalid Unsubscribe Arguments",
        ),
    ];
    for &(input, expected, text) in cases {
        let (_, e) = assert_split_invariant(input);
        assert_eq!(e, Some(expected), "{:?}", String::from_utf8_lossy(input));
        assert_eq!(expected.err_text(), text);
        assert_eq!(
            expected.err_line(),
            format!("-ERR '{text}'\r\n").into_bytes()
        );
        assert!(expected.is_fatal());
    }
}

#[test]
fn errors_come_after_earlier_ops() {
    let (ops, e) = assert_split_invariant(b"PING\r\nSUB a 1\r\nXPUB\r\nPING\r\n");
    assert_eq!(ops, [Op::Ping, sub_op("a", None, "1")]);
    assert_eq!(e, Some(ProtocolError::UnknownOperation));
}

#[test]
fn unknown_verbs_fail_without_waiting_for_the_line_end() {
    for partial in [&b"X"[..], b"PUX", b"CONNECX", b"PUB", b"PUBx", b"SUBSCRIBE"] {
        let (_, e) = parse(partial);
        let expected = if partial == b"PUB" {
            None
        } else {
            Some(ProtocolError::UnknownOperation)
        };
        assert_eq!(e, expected, "{:?}", String::from_utf8_lossy(partial));
    }
}

#[test]
fn max_control_line_counts_arguments() {
    let limits = ParserLimits {
        max_control_line: 16,
        max_payload: 1024,
    };
    // Arguments of exactly 16 bytes pass; the verb and blanks don't count.
    let ok = b"PUB    aaaaaaaaaaaaaa 1\r\nx\r\n";
    assert_eq!(assert_split_invariant_with(limits, ok).1, None);
    let ok = b"SUB aaaaaaaaaaaaaa 1\n";
    assert_eq!(assert_split_invariant_with(limits, ok).1, None);
    let too_long = b"PUB aaaaaaaaaaaaaaa 1\r\nx\r\n";
    assert_eq!(
        assert_split_invariant_with(limits, too_long).1,
        Some(ProtocolError::MaxControlLine)
    );
    let connect = b"CONNECT {\"name\":\"abcdefg\"}\r\n";
    assert_eq!(
        assert_split_invariant_with(limits, connect).1,
        Some(ProtocolError::MaxControlLine)
    );
    // A partial line fails once its buffered arguments exceed the limit.
    let (_, e) = parse_chunks_with(limits, &[b"SUB aaaaaaaaaaaaaaaa"]);
    assert_eq!(e, None);
    let (_, e) = parse_chunks_with(limits, &[b"SUB aaaaaaaaaaaaaaaa\r"]);
    assert_eq!(e, None, "a final CR does not count");
    let (_, e) = parse_chunks_with(limits, &[b"SUB aaaaaaaa", b"aaaaaaaaa"]);
    assert_eq!(e, Some(ProtocolError::MaxControlLine));
    let e = ProtocolError::MaxControlLine;
    assert_eq!(e.err_line(), b"-ERR 'maximum control line exceeded'\r\n");
    // Blanks after the verb are never buffered nor counted.
    let blanks = vec![b' '; 100_000];
    let (_, e) = parse_chunks_with(limits, &[b"PUB", &blanks, &blanks, b"a 1\r\nx\r\n"]);
    assert_eq!(e, None);
    // Junk after PING is not buffered nor limited, as in nats-server.
    let junk = vec![b'x'; 100_000];
    let (ops, e) = parse_chunks_with(limits, &[b"PING", &junk, &junk, b"\r\n"]);
    assert_eq!((ops, e), (vec![Op::Ping], None));
}

#[test]
fn default_limits_match_nats_server() {
    // nats-server 2.9.10 accepts 4096 bytes of arguments and refuses 4097.
    let line = |n: usize| {
        let mut v = b"PUB ".to_vec();
        v.extend(std::iter::repeat_n(b'a', n - 2));
        v.extend_from_slice(b" 1\r\nx\r\nPING\r\n");
        v
    };
    assert_eq!(parse(&line(4096)).1, None);
    assert_eq!(parse(&line(4097)).1, Some(ProtocolError::MaxControlLine));
    let partial = |n: usize| {
        let mut v = b"PUB ".to_vec();
        v.extend(std::iter::repeat_n(b'a', n));
        v
    };
    assert_eq!(parse(&partial(4096)).1, None);
    assert_eq!(parse(&partial(4097)).1, Some(ProtocolError::MaxControlLine));
    let l = ParserLimits::default();
    assert_eq!((l.max_control_line, l.max_payload), (4096, 1 << 20));
}

#[test]
fn max_payload() {
    let limits = ParserLimits {
        max_control_line: 4096,
        max_payload: 5,
    };
    let (ops, e) = parse_chunks_with(limits, &[b"PUB a 5\r\nhello\r\nHPUB a 2 5\r\nhi123\r\n"]);
    assert_eq!(ops.len(), 2);
    assert_eq!(e, None);
    let (_, e) = parse_chunks_with(limits, &[b"PUB a 6\r\n"]);
    assert_eq!(e, Some(ProtocolError::MaxPayload));
    let (_, e) = parse_chunks_with(limits, &[b"HPUB a 2 6\r\n"]);
    assert_eq!(e, Some(ProtocolError::MaxPayload));
}

#[test]
fn set_limits_applies_to_later_feeds() {
    let mut p = ClientParser::default();
    let mut n = 0;
    p.feed(b"PUB a 3\r\nabc\r\n", &mut |_| {
        n += 1;
        true
    })
    .unwrap();
    p.set_limits(ParserLimits {
        max_control_line: 4096,
        max_payload: 2,
    });
    assert_eq!(p.limits().max_payload, 2);
    assert_eq!(
        p.feed(b"PUB a 3\r\nabc\r\n", &mut |_| true),
        Err(ProtocolError::MaxPayload)
    );
    assert_eq!(n, 1);
}

#[test]
fn big_payload_across_many_chunks() {
    let payload: Vec<u8> = (0..1_000_000u32).map(|i| (i * 7 + i / 13) as u8).collect();
    let mut input = format!("SUB x 1\r\nPUB big reply {}\r\n", payload.len()).into_bytes();
    input.extend_from_slice(&payload);
    input.extend_from_slice(b"\r\nPING\r\n");

    for chunk_size in [1000, 4096, 65536, 999_983] {
        let mut p = ClientParser::default();
        let mut got = Vec::new();
        for (i, c) in input.chunks(chunk_size).enumerate() {
            p.feed(c, &mut |op| {
                got.push(Op::from(op));
                true
            })
            .unwrap();
            let done = (i + 1) * chunk_size >= input.len();
            if !done && i > 0 {
                assert!(
                    matches!(p.state, State::Payload(_)),
                    "inside the payload, the control line is not rescanned"
                );
                assert!(p.buffer_capacity() <= 2 * payload.len() + 64);
            }
        }
        assert_eq!(
            got,
            [
                sub_op("x", None, "1"),
                pub_op("big", Some("reply"), &payload),
                Op::Ping
            ]
        );
        assert!(p.is_idle());
        assert_eq!(p.buffer_capacity(), 0, "big reassembly buffer released");
    }
}

#[test]
fn reassembly_buffer_grows_with_received_bytes() {
    // Announcing a big payload reserves memory only as bytes arrive.
    let mut p = ClientParser::default();
    p.feed(b"PUB a 1000000\r\nxy", &mut |_| true).unwrap();
    assert!(p.buffer_capacity() < 4096, "{}", p.buffer_capacity());
    p.feed(&[b'z'; 10_000], &mut |_| true).unwrap();
    assert!(p.buffer_capacity() < 64 * 1024, "{}", p.buffer_capacity());
}

#[test]
fn small_buffer_kept_and_released_on_demand() {
    let mut p = ClientParser::default();
    p.feed(b"PUB a 5\r\nhe", &mut |_| true).unwrap();
    let mut n = 0;
    p.feed(b"llo\r\n", &mut |op| {
        assert_eq!(Op::from(op), pub_op("a", None, b"hello"));
        n += 1;
        true
    })
    .unwrap();
    assert_eq!(n, 1);
    assert!(p.is_idle());
    assert!(p.buffer_capacity() <= RETAIN_CAPACITY);
    p.release_memory();
    assert_eq!(p.buffer_capacity(), 0);
}

#[test]
fn stop_early_closes() {
    let mut p = ClientParser::default();
    let mut seen = Vec::new();
    let r = p.feed(b"PING\r\nSUB a 1\r\nPING\r\n", &mut |op| {
        seen.push(Op::from(op));
        seen.len() < 2
    });
    assert_eq!(r, Ok(()));
    assert_eq!(seen, [Op::Ping, sub_op("a", None, "1")]);
    assert!(p.is_closed());
    p.feed(b"PING\r\n", &mut |_| panic!("closed parser emitted"))
        .unwrap();

    // Also when the op came from the reassembly buffer.
    let mut p = ClientParser::default();
    p.feed(b"PUB a 1\r\n", &mut |_| true).unwrap();
    p.feed(b"x\r\nPING\r\n", &mut |_| false).unwrap();
    assert!(p.is_closed());
    assert_eq!(p.buffer_capacity(), 0);
}

#[test]
fn error_closes_parser() {
    let mut p = ClientParser::default();
    assert_eq!(
        p.feed(b"BAD\r\n", &mut |_| true),
        Err(ProtocolError::UnknownOperation)
    );
    assert!(p.is_closed());
    assert_eq!(p.feed(b"PING\r\n", &mut |_| panic!("emitted")), Ok(()));
}

// ---- Randomised comparisons ----

/// Writes `op` the way a (possibly quirky) client might, and returns the op
/// the parser should report for it.
fn random_op(rng: &mut fastrand::Rng, out: &mut Vec<u8>) -> Option<Op> {
    fn word(rng: &mut fastrand::Rng, tail: &[u8]) -> Vec<u8> {
        let len = rng.usize(1..12);
        let mut w: Vec<u8> = (0..len).map(|_| rng.alphanumeric() as u8).collect();
        if rng.u8(..10) == 0 {
            w.extend_from_slice(tail);
        }
        w
    }
    fn verb(rng: &mut fastrand::Rng, v: &str) -> Vec<u8> {
        v.bytes()
            .map(|b| {
                if rng.bool() {
                    b.to_ascii_lowercase()
                } else {
                    b
                }
            })
            .collect()
    }
    fn blanks(rng: &mut fastrand::Rng, min: usize) -> Vec<u8> {
        let n = if rng.u8(..4) == 0 {
            rng.usize(min..4)
        } else {
            min
        };
        (0..n)
            .map(|_| if rng.bool() { b' ' } else { b'\t' })
            .collect()
    }
    fn eol(rng: &mut fastrand::Rng) -> &'static [u8] {
        if rng.u8(..8) == 0 {
            b"\n"
        } else {
            b"\r\n"
        }
    }
    fn payload(rng: &mut fastrand::Rng) -> Vec<u8> {
        let len = if rng.u8(..10) == 0 {
            rng.usize(0..3000)
        } else {
            rng.usize(0..40)
        };
        let specials: [&[u8]; 5] = [b"\r\n", b"PUB ", b"\r", b"\n", b"PING\r\n"];
        let mut p = Vec::with_capacity(len + 8);
        while p.len() < len {
            if rng.u8(..8) == 0 {
                p.extend_from_slice(specials[rng.usize(..specials.len())]);
            } else {
                p.push(rng.u8(..));
            }
        }
        p
    }
    let op = match rng.u8(..9) {
        0 => {
            out.extend(verb(rng, "CONNECT"));
            out.extend(blanks(rng, 1));
            let json = format!("{{\"verbose\":false,\"name\":\"c{}\"}}", rng.u32(..));
            out.extend_from_slice(json.as_bytes());
            Op::Connect(json.into_bytes())
        }
        1 | 2 => {
            let subject = word(rng, b".x");
            let reply = rng.bool().then(|| word(rng, b"-r"));
            let payload = payload(rng);
            out.extend(verb(rng, "PUB"));
            out.extend(blanks(rng, 1));
            out.extend_from_slice(&subject);
            if let Some(r) = &reply {
                out.extend(blanks(rng, 1));
                out.extend_from_slice(r);
            }
            out.extend(blanks(rng, 1));
            out.extend_from_slice(payload.len().to_string().as_bytes());
            out.extend(blanks(rng, 0));
            out.extend_from_slice(eol(rng));
            out.extend_from_slice(&payload);
            out.extend_from_slice(b"\r\n");
            return Some(Op::Pub {
                subject,
                reply,
                payload,
            });
        }
        3 => {
            let subject = word(rng, b".>");
            let reply = rng.bool().then(|| word(rng, b"_"));
            let mut message = b"NATS/1.0\r\nA: b\r\n\r\n".to_vec();
            let header_len = message.len();
            message.extend(payload(rng));
            out.extend(verb(rng, "HPUB"));
            out.extend(blanks(rng, 1));
            out.extend_from_slice(&subject);
            if let Some(r) = &reply {
                out.extend(blanks(rng, 1));
                out.extend_from_slice(r);
            }
            out.extend(blanks(rng, 1));
            out.extend_from_slice(header_len.to_string().as_bytes());
            out.extend(blanks(rng, 1));
            out.extend_from_slice(message.len().to_string().as_bytes());
            out.extend(blanks(rng, 0));
            out.extend_from_slice(eol(rng));
            out.extend_from_slice(&message);
            out.extend_from_slice(b"\r\n");
            return Some(Op::HPub {
                subject,
                reply,
                header_len,
                message,
            });
        }
        4 => {
            let subject = word(rng, b".*");
            let queue = rng.bool().then(|| word(rng, b"q"));
            let sid = rng.u32(..).to_string().into_bytes();
            out.extend(verb(rng, "SUB"));
            out.extend(blanks(rng, 1));
            out.extend_from_slice(&subject);
            if let Some(q) = &queue {
                out.extend(blanks(rng, 1));
                out.extend_from_slice(q);
            }
            out.extend(blanks(rng, 1));
            out.extend_from_slice(&sid);
            out.extend(blanks(rng, 0));
            Op::Sub {
                subject,
                queue,
                sid,
            }
        }
        5 => {
            let sid = rng.u32(..).to_string().into_bytes();
            let max = rng.bool().then(|| rng.u64(1..1_000_000));
            out.extend(verb(rng, "UNSUB"));
            out.extend(blanks(rng, 1));
            out.extend_from_slice(&sid);
            if let Some(m) = max {
                out.extend(blanks(rng, 1));
                out.extend_from_slice(m.to_string().as_bytes());
            }
            Op::Unsub { sid, max }
        }
        6 => {
            out.extend(verb(rng, "PING"));
            Op::Ping
        }
        7 => {
            out.extend(verb(rng, "PONG"));
            Op::Pong
        }
        _ => {
            if rng.bool() {
                out.extend(verb(rng, "+OK"));
            } else {
                out.extend(verb(rng, "INFO"));
                out.extend_from_slice(b" {\"server_id\":\"x\"}");
            }
            out.extend_from_slice(eol(rng));
            return None;
        }
    };
    out.extend_from_slice(eol(rng));
    Some(op)
}

/// Feeds `input` in chunks cut at random points.
fn parse_random_chunks(rng: &mut fastrand::Rng, limits: ParserLimits, input: &[u8]) -> Outcome {
    let mut cuts: Vec<usize> = (0..rng.usize(0..12))
        .map(|_| rng.usize(0..=input.len()))
        .collect();
    if rng.u8(..4) == 0 {
        // Many small pieces.
        cuts.extend((0..input.len()).step_by(rng.usize(1..8)));
    }
    cuts.sort_unstable();
    let mut chunks = Vec::new();
    let mut last = 0;
    for c in cuts {
        chunks.push(&input[last..c]);
        last = c;
    }
    chunks.push(&input[last..]);
    parse_chunks_with(limits, &chunks)
}

#[test]
fn random_valid_streams_match_reference() {
    let mut rng = fastrand::Rng::with_seed(0x5eed);
    for _ in 0..400 {
        let mut input = Vec::new();
        let mut expected = Vec::new();
        for _ in 0..rng.usize(1..40) {
            expected.extend(random_op(&mut rng, &mut input));
        }
        let whole = parse(&input);
        assert_eq!(
            whole,
            (expected, None),
            "{:?}",
            String::from_utf8_lossy(&input[..input.len().min(60)])
        );
        for _ in 0..10 {
            assert_eq!(
                parse_random_chunks(&mut rng, ParserLimits::default(), &input),
                whole
            );
        }
    }
}

#[test]
fn random_corrupted_streams_are_split_invariant() {
    let mut rng = fastrand::Rng::with_seed(0xbad);
    let alphabet = b" \t\r\nPUBSINGOHCTX+0123456789-";
    let mut errors = 0;
    for round in 0..3000 {
        let mut input = Vec::new();
        for _ in 0..rng.usize(1..10) {
            random_op(&mut rng, &mut input);
        }
        for _ in 0..rng.usize(1..4) {
            let i = rng.usize(..input.len());
            match rng.u8(..3) {
                0 => input[i] = alphabet[rng.usize(..alphabet.len())],
                1 => {
                    input.remove(i);
                }
                _ => input.insert(i, alphabet[rng.usize(..alphabet.len())]),
            }
        }
        let limits = if round % 3 == 0 {
            ParserLimits {
                max_control_line: rng.usize(1..40),
                max_payload: rng.usize(0..100),
            }
        } else {
            ParserLimits::default()
        };
        let whole = parse_chunks_with(limits, &[&input]);
        errors += whole.1.is_some() as usize;
        for _ in 0..8 {
            assert_eq!(
                parse_random_chunks(&mut rng, limits, &input),
                whole,
                "{:?}",
                String::from_utf8_lossy(&input)
            );
        }
    }
    assert!(
        errors > 500,
        "corruption should often cause errors ({errors})"
    );
}

#[test]
fn owned_ops_give_back_the_op_they_were_made_from() {
    let ops = [
        ClientOp::Connect(b"{\"user\":\"a\"}"),
        ClientOp::Pub {
            subject: b"a.b",
            reply: Some(b"_INBOX.1"),
            payload: b"hello",
        },
        ClientOp::Pub {
            subject: b"a",
            reply: None,
            payload: b"",
        },
        ClientOp::HPub {
            subject: b"h",
            reply: None,
            header_len: 12,
            message: b"NATS/1.0\r\n\r\nbody",
        },
        ClientOp::Sub {
            subject: b"a.*",
            queue: Some(b"q"),
            sid: b"9",
        },
        ClientOp::Unsub {
            sid: b"9",
            max: Some(3),
        },
        ClientOp::Ping,
        ClientOp::Pong,
    ];
    for op in ops {
        assert_eq!(op.to_owned_op().as_op(), op);
    }
}
