//! The WebSocket frame decoder on arbitrary bytes (after the first), fed in
//! one read and in two split at a point taken from the first byte, which
//! also picks whether masking is required and compression agreed. The
//! decoder is resumable, so both must give the same control frames, the
//! same messages and the same violation. How a message's data is cut into
//! `Data` events follows the reads, so data is compared joined per message.

#![no_main]

use libfuzzer_sys::fuzz_target;
use ringnats::websocket::frame::{Decoder, Event, Violation, MAX_CONTROL_PAYLOAD};

#[derive(Debug, PartialEq, Eq)]
enum Seen {
    Message { data: Vec<u8>, compressed: bool },
    Ping(Vec<u8>),
    Pong,
    Close(Option<u16>, Vec<u8>),
}

#[derive(Debug, PartialEq, Eq)]
struct Outcome {
    seen: Vec<Seen>,
    /// Data of a message whose final frame has not come.
    partial: Vec<u8>,
    violation: Option<Violation>,
    /// Only without a violation: the decoder's state after one is moot.
    idle: Option<bool>,
}

fn run(require_mask: bool, compression: bool, reads: &[&[u8]]) -> Outcome {
    let mut decoder = Decoder::new(require_mask, compression);
    let mut seen = Vec::new();
    let mut partial = Vec::new();
    for read in reads {
        // Unmasked in place: each read is a buffer of its own.
        let mut buf = read.to_vec();
        let r = decoder.decode(&mut buf, &mut |e| {
            match e {
                Event::Data {
                    bytes,
                    compressed,
                    end,
                } => {
                    assert!(!bytes.is_empty() || end, "an empty, non-final Data event");
                    assert!(compression || !compressed);
                    partial.extend_from_slice(bytes);
                    if end {
                        let data = std::mem::take(&mut partial);
                        seen.push(Seen::Message { data, compressed });
                    }
                }
                Event::Ping(p) => {
                    assert!(p.len() <= MAX_CONTROL_PAYLOAD);
                    seen.push(Seen::Ping(p.to_vec()));
                }
                Event::Pong => seen.push(Seen::Pong),
                Event::Close { code, reason } => {
                    assert!(std::str::from_utf8(reason).is_ok());
                    seen.push(Seen::Close(code, reason.to_vec()));
                }
            }
            true
        });
        if let Err(v) = r {
            return Outcome {
                seen,
                partial,
                violation: Some(v),
                idle: None,
            };
        }
    }
    Outcome {
        seen,
        partial,
        violation: None,
        idle: Some(decoder.is_idle()),
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&first, input)) = data.split_first() else {
        return;
    };
    let (require_mask, compression) = (first & 1 != 0, first & 2 != 0);
    let split = ((first >> 2) as usize * input.len()) / 63;
    let (a, b) = input.split_at(split.min(input.len()));
    let whole = run(require_mask, compression, &[input]);
    let halves = run(require_mask, compression, &[a, b]);
    assert_eq!(whole, halves, "split at {split}");
});
