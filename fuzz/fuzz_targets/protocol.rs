//! Fuzzes the client protocol parser: the input (after its first byte) is
//! fed in two chunks, split at a point taken from the first byte, and must
//! give exactly the ops and error that feeding it in one chunk gives. Parsed
//! CONNECT arguments also go through `ConnectOptions::parse`.

#![no_main]

use libfuzzer_sys::fuzz_target;
use ringnats::protocol::{ClientOp, ClientParser, ConnectOptions, ParserLimits, ProtocolError};

/// An owned copy of an op.
#[derive(Debug, PartialEq, Eq)]
enum Op {
    Connect(Vec<u8>),
    Pub(Vec<u8>, Option<Vec<u8>>, Vec<u8>),
    HPub(Vec<u8>, Option<Vec<u8>>, usize, Vec<u8>),
    Sub(Vec<u8>, Option<Vec<u8>>, Vec<u8>),
    Unsub(Vec<u8>, Option<u64>),
    Ping,
    Pong,
}

fn owned(op: ClientOp<'_>) -> Op {
    let v = |s: &[u8]| s.to_vec();
    match op {
        ClientOp::Connect(j) => {
            // Must not panic, whatever the JSON.
            let _ = ConnectOptions::parse(j).map(|o| o.validate(true));
            Op::Connect(v(j))
        }
        ClientOp::Pub {
            subject,
            reply,
            payload,
        } => Op::Pub(v(subject), reply.map(v), v(payload)),
        ClientOp::HPub {
            subject,
            reply,
            header_len,
            message,
        } => {
            assert!(header_len <= message.len());
            Op::HPub(v(subject), reply.map(v), header_len, v(message))
        }
        ClientOp::Sub {
            subject,
            queue,
            sid,
        } => Op::Sub(v(subject), queue.map(v), v(sid)),
        ClientOp::Unsub { sid, max } => {
            assert_ne!(max, Some(0));
            Op::Unsub(v(sid), max)
        }
        ClientOp::Ping => Op::Ping,
        ClientOp::Pong => Op::Pong,
    }
}

fn run(limits: ParserLimits, chunks: &[&[u8]]) -> (Vec<Op>, Option<ProtocolError>) {
    let mut parser = ClientParser::new(limits);
    let mut ops = Vec::new();
    for chunk in chunks {
        if let Err(e) = parser.feed(chunk, &mut |op| {
            ops.push(owned(op));
            true
        }) {
            assert!(parser.is_closed());
            assert!(e.is_fatal());
            return (ops, Some(e));
        }
    }
    (ops, None)
}

fuzz_target!(|data: &[u8]| {
    let Some((&first, input)) = data.split_first() else {
        return;
    };
    // Small limits now and then, so that their checks are reached.
    let limits = if first & 1 == 1 {
        ParserLimits {
            max_control_line: 32,
            max_payload: 64,
        }
    } else {
        ParserLimits::default()
    };
    let split = (first as usize * input.len()) / 255;
    let (a, b) = input.split_at(split.min(input.len()));
    let whole = run(limits, &[input]);
    let halves = run(limits, &[a, b]);
    assert_eq!(whole, halves, "split at {split}");
});
