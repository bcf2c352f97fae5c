//! permessage-deflate (RFC 7692) as nats-server agrees it (miniz_oxide
//! compresses, for its sync flush; libdeflate inflates):
//! no context takeover either way, so every message is a DEFLATE stream of
//! its own and nothing is kept per connection between messages. The
//! compressor and decompressor are one per thread (a shard is a thread).

use std::cell::RefCell;

use miniz_oxide::deflate::core::{
    compress as compress_core, create_comp_flags_from_zip_params, CompressorOxide, TDEFLFlush,
    TDEFLStatus,
};

/// Batches this small go out uncompressed (nats-server's threshold).
pub const COMPRESS_THRESHOLD: usize = 64;
/// What the sender dropped (RFC 7692 §7.2.1) and a final empty block, so
/// a one-shot decompressor sees a stream that ends.
const TRAILER: [u8; 9] = [0x00, 0x00, 0xff, 0xff, 0x01, 0x00, 0x00, 0xff, 0xff];
/// A scratch buffer larger than this after an inflate is let go.
const KEEP_SCRATCH: usize = 256 * 1024;

thread_local! {
    static COMPRESSOR: RefCell<Box<CompressorOxide>> = RefCell::new(Box::new(
        CompressorOxide::new(create_comp_flags_from_zip_params(1, -15, 0)),
    ));
    static DECOMPRESSOR: RefCell<libdeflater::Decompressor> =
        RefCell::new(libdeflater::Decompressor::new());
    static INFLATED: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
    static DEFLATED: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// The largest compressed message accepted: room for several max_payload
/// operations, bounded (nats-server's rule).
pub fn compressed_limit(max_payload: usize) -> usize {
    max_payload.saturating_mul(8).min(64 * 1024 * 1024)
}

/// Appends `input` compressed to `out`, at level 1 (nats-server's
/// flate.BestSpeed), sync-flushed with the trailing `00 00 ff ff` dropped
/// (RFC 7692 §7.2.1). A stream ended by a final block instead is allowed by
/// the RFC, but Chromium drops the connection on the second such message.
pub fn compress(input: &[u8], out: &mut Vec<u8>) {
    COMPRESSOR.with_borrow_mut(|c| {
        c.reset();
        let start = out.len();
        let mut done_in = 0;
        let mut len = start;
        out.resize(start + input.len() / 2 + 64, 0);
        loop {
            let (status, used, wrote) =
                compress_core(c, &input[done_in..], &mut out[len..], TDEFLFlush::Sync);
            done_in += used;
            len += wrote;
            if status == TDEFLStatus::Okay && done_in == input.len() && len < out.len() {
                break;
            }
            if status != TDEFLStatus::Okay {
                break;
            }
            let grow = out.len().max(64);
            out.resize(out.len() + grow, 0);
        }
        out.truncate(len);
        if out[start..].ends_with(&[0, 0, 0xff, 0xff]) {
            out.truncate(len - 4);
        }
    });
}

/// Compresses `input` into this thread's scratch buffer and hands the
/// result to `with`: a batch is compressed without an allocation.
pub fn with_compressed<R>(input: &[u8], with: impl FnOnce(&[u8]) -> R) -> R {
    DEFLATED.with_borrow_mut(|out| {
        out.clear();
        compress(input, out);
        let r = with(out);
        release(out);
        r
    })
}

#[derive(Debug, PartialEq, Eq)]
pub enum InflateError {
    /// The message inflates to more than the limit.
    TooBig,
    /// Not a DEFLATE stream.
    Corrupt,
}

/// Inflates one message's compressed bytes (`message`, to which the
/// trailer is appended here) and hands the result, at most `limit` bytes,
/// to `with`. The output buffer grows only as far as the message needs.
pub fn inflate<R>(
    message: &mut Vec<u8>,
    limit: usize,
    with: impl FnOnce(&[u8]) -> R,
) -> Result<R, InflateError> {
    message.extend_from_slice(&TRAILER);
    INFLATED.with_borrow_mut(|out| {
        let ceiling = limit.saturating_add(1);
        let mut size = (message.len() * 4)
            .clamp(16 * 1024, ceiling.max(16 * 1024))
            .min(ceiling);
        let n = loop {
            if out.len() < size {
                out.resize(size, 0);
            }
            let r =
                DECOMPRESSOR.with_borrow_mut(|d| d.deflate_decompress(message, &mut out[..size]));
            match r {
                Ok(n) => break n,
                Err(libdeflater::DecompressionError::InsufficientSpace) if size < ceiling => {
                    size = size.saturating_mul(2).min(ceiling);
                }
                Err(libdeflater::DecompressionError::InsufficientSpace) => {
                    release(out);
                    return Err(InflateError::TooBig);
                }
                Err(libdeflater::DecompressionError::BadData) => {
                    release(out);
                    return Err(InflateError::Corrupt);
                }
            }
        };
        if n > limit {
            release(out);
            return Err(InflateError::TooBig);
        }
        let r = with(&out[..n]);
        release(out);
        Ok(r)
    })
}

fn release(out: &mut Vec<u8>) {
    if out.capacity() > KEEP_SCRATCH {
        *out = Vec::new();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Compressed as a client does (sync flush, trailer dropped), with
    /// miniz_oxide's raw DEFLATE in several blocks.
    fn client_compressed(data: &[u8], block: usize) -> Vec<u8> {
        let mut c = compressed_in_blocks(data, block);
        assert_eq!(&c[c.len() - 4..], &[0, 0, 0xff, 0xff]);
        c.truncate(c.len() - 4);
        c
    }

    /// A sync-flushed stream of several blocks (one per `block` bytes).
    fn compressed_in_blocks(data: &[u8], block: usize) -> Vec<u8> {
        use miniz_oxide::deflate::core::{
            compress, create_comp_flags_from_zip_params, CompressorOxide, TDEFLFlush,
        };
        let mut c = CompressorOxide::new(create_comp_flags_from_zip_params(9, -15, 0));
        let mut out = vec![0u8; data.len() * 2 + 1024];
        let mut written = 0;
        let chunks: Vec<&[u8]> = data.chunks(block).collect();
        for chunk in &chunks {
            let (_, _, n) = compress(&mut c, chunk, &mut out[written..], TDEFLFlush::Sync);
            written += n;
        }
        if chunks.is_empty() {
            let (_, _, n) = compress(&mut c, &[], &mut out[written..], TDEFLFlush::Sync);
            written += n;
        }
        out.truncate(written);
        out
    }

    #[test]
    fn our_output_inflates_back() {
        let data: Vec<u8> = (0..100_000).map(|i| (i % 7) as u8 + b'a').collect();
        let mut c = Vec::new();
        compress(&data, &mut c);
        assert!(c.len() < data.len() / 10);
        let got = inflate(&mut c, 1 << 20, |b| b.to_vec()).unwrap();
        assert_eq!(got, data);
    }

    #[test]
    fn a_client_message_of_several_blocks_inflates() {
        let data: Vec<u8> = (0..50_000u32).flat_map(|i| i.to_le_bytes()).collect();
        let mut c = client_compressed(&data, 1000);
        assert_eq!(inflate(&mut c, 1 << 20, |b| b.to_vec()).unwrap(), data);
        let mut empty = client_compressed(b"", 1000);
        assert_eq!(inflate(&mut empty, 1 << 20, |b| b.len()).unwrap(), 0);
    }

    #[test]
    fn a_bomb_stops_at_the_limit() {
        let zeros = vec![0u8; 64 << 20];
        let mut c = client_compressed(&zeros, 1 << 20);
        assert!(c.len() < 256 * 1024);
        assert_eq!(inflate(&mut c, 1 << 20, |_| ()), Err(InflateError::TooBig));
        // Exactly at the limit still inflates.
        let mut c = client_compressed(&zeros[..1 << 20], 1 << 16);
        assert_eq!(inflate(&mut c, 1 << 20, |b| b.len()), Ok(1 << 20));
        // The scratch was let go.
        assert!(INFLATED.with_borrow(|v| v.capacity()) <= KEEP_SCRATCH);
    }

    #[test]
    fn garbage_is_corrupt_not_a_crash() {
        let mut junk = vec![0xff; 100];
        assert_eq!(
            inflate(&mut junk, 1 << 20, |_| ()),
            Err(InflateError::Corrupt)
        );
    }
}
