//! permessage-deflate: inflating arbitrary bytes ends in the data, a
//! too-big or a corrupt error, never a panic, and never hands out more than
//! the limit. Compressing the bytes and inflating the result gives them
//! back when the limit is their length, and is too big one byte under it.

#![no_main]

use libfuzzer_sys::fuzz_target;
use ringnats::websocket::deflate::{self, InflateError};

/// A small max_payload, so that bombs reach it quickly.
const LIMIT: usize = 64 * 1024;

fuzz_target!(|data: &[u8]| {
    // `inflate` appends the dropped trailer to the message it is given.
    let mut message = data.to_vec();
    if let Ok(n) = deflate::inflate(&mut message, LIMIT, |out| out.len()) {
        assert!(n <= LIMIT);
    }

    let mut packed = Vec::new();
    deflate::compress(data, &mut packed);
    let mut again = packed.clone();
    let back = deflate::inflate(&mut packed, data.len(), |out| out.to_vec());
    assert_eq!(back.as_deref(), Ok(data));
    if let Some(under) = data.len().checked_sub(1) {
        let r = deflate::inflate(&mut again, under, |_| ());
        assert_eq!(r, Err(InflateError::TooBig));
    }
});
