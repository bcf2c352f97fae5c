//! Pre-built PUB batches: `per` identical PUB frames and a PING, built once;
//! for each batch only the 8-byte sequence numbers are patched in, so
//! publishing costs no formatting and no allocation per message.
//!
//! Over WebSocket in one-frame-per-PUB mode the template holds whole masked
//! frames (each with its own key); the sequence numbers are patched in
//! already masked.

use crate::proto;
use crate::ws;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// NATS bytes: written as they are (TCP) or framed per batch (WebSocket).
    Nats,
    /// Masked WebSocket frames, one PUB each.
    WsFrames,
}

pub struct Template {
    pub encoding: Encoding,
    buf: Vec<u8>,
    /// Bytes of one message unit (PUB frame, or WebSocket frame around it).
    pub unit: usize,
    /// Messages in the template.
    pub per: usize,
    /// Offset of the sequence number inside a unit (when `seq`).
    seq_off: usize,
    /// Mask words for the sequence bytes of each unit (WsFrames).
    masks: Vec<u64>,
    /// Payloads carry sequence numbers (size >= 8).
    pub seq: bool,
    /// Length of the PING unit after the messages.
    ping_len: usize,
}

/// The filler after the sequence number: lower-case letters from a fixed
/// seed, so payloads compress like text, not like zeros.
pub fn filler(size: usize) -> Vec<u8> {
    let mut rng = fastrand::Rng::with_seed(0x5eed);
    (0..size).map(|_| rng.lowercase() as u8).collect()
}

/// One PUB frame (`PUB subject size\r\n` payload `\r\n`) with sequence
/// number 0 and the offset of its payload.
pub fn pub_frame(subject: &[u8], reply: Option<&[u8]>, size: usize) -> (Vec<u8>, usize) {
    let mut f = Vec::with_capacity(size + subject.len() + 32);
    proto::push_pub_header(&mut f, subject, reply, size);
    let off = f.len();
    f.extend_from_slice(&filler(size));
    if size >= 8 {
        f[off..off + 8].copy_from_slice(&0u64.to_le_bytes());
    }
    f.extend_from_slice(b"\r\n");
    (f, off)
}

impl Template {
    /// `per` messages of `size` bytes to `subject`.
    pub fn new(subject: &[u8], size: usize, per: usize, encoding: Encoding) -> Template {
        let per = per.max(1);
        let (frame, payload_off) = pub_frame(subject, None, size);
        let seq = size >= 8;
        let mut buf = Vec::new();
        let mut masks = Vec::new();
        let (unit, seq_off, ping_len) = match encoding {
            Encoding::Nats => {
                buf.reserve(frame.len() * per + 6);
                for _ in 0..per {
                    buf.extend_from_slice(&frame);
                }
                buf.extend_from_slice(b"PING\r\n");
                (frame.len(), payload_off, 6)
            }
            Encoding::WsFrames => {
                let hl = ws::header_len(frame.len(), true);
                let unit = hl + frame.len();
                let mut rng = fastrand::Rng::with_seed(0x6d61736b);
                for _ in 0..per {
                    let key = [rng.u8(..), rng.u8(..), rng.u8(..), rng.u8(..)];
                    ws::encode_header(&mut buf, true, false, ws::OP_BINARY, Some(key), frame.len());
                    let at = buf.len();
                    buf.extend_from_slice(&frame);
                    ws::mask_in_place(&mut buf[at..], key, 0);
                    // The mask bytes over the sequence number, as a LE word.
                    let mut m = [0u8; 8];
                    for (j, b) in m.iter_mut().enumerate() {
                        *b = key[(payload_off + j) & 3];
                    }
                    masks.push(u64::from_le_bytes(m));
                }
                let at = buf.len();
                let key = [rng.u8(..), rng.u8(..), rng.u8(..), rng.u8(..)];
                ws::encode_header(&mut buf, true, false, ws::OP_BINARY, Some(key), 6);
                let p = buf.len();
                buf.extend_from_slice(b"PING\r\n");
                ws::mask_in_place(&mut buf[p..], key, 0);
                (unit, hl + payload_off, buf.len() - at)
            }
        };
        Template {
            encoding,
            buf,
            unit,
            per,
            seq_off,
            masks,
            seq,
            ping_len,
        }
    }

    /// Patches `count` (≤ per) sequence numbers `first, first+1, …` and
    /// returns the bytes to send; the PING unit follows when `ping` and the
    /// batch is whole (the second value says whether it was included).
    #[inline]
    pub fn batch(&mut self, first: u64, count: usize, ping: bool) -> (&[u8], bool) {
        debug_assert!(count <= self.per);
        if self.seq {
            let unit = self.unit;
            let off = self.seq_off;
            match self.encoding {
                Encoding::Nats => {
                    for (i, u) in self.buf.chunks_exact_mut(unit).take(count).enumerate() {
                        u[off..off + 8].copy_from_slice(&(first + i as u64).to_le_bytes());
                    }
                }
                Encoding::WsFrames => {
                    for (i, (u, m)) in self
                        .buf
                        .chunks_exact_mut(unit)
                        .zip(&self.masks)
                        .take(count)
                        .enumerate()
                    {
                        u[off..off + 8].copy_from_slice(&((first + i as u64) ^ m).to_le_bytes());
                    }
                }
            }
        }
        let end = count * self.unit;
        if ping && count == self.per {
            (&self.buf[..end + self.ping_len], true)
        } else {
            (&self.buf[..end], false)
        }
    }

    /// Message `i` of the last batch (for sending frame by frame).
    pub fn unit_at(&self, i: usize) -> &[u8] {
        &self.buf[i * self.unit..(i + 1) * self.unit]
    }

    /// The PING unit alone.
    pub fn ping(&self) -> &[u8] {
        let at = self.per * self.unit;
        &self.buf[at..at + self.ping_len]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::buf::ByteBuf;

    #[test]
    fn nats_batches_carry_sequence_numbers() {
        let mut t = Template::new(b"bench.0", 16, 4, Encoding::Nats);
        let (b, with_ping) = t.batch(100, 4, true);
        assert!(with_ping);
        let text = b.to_vec();
        assert!(text.ends_with(b"PING\r\n"));
        let mut seqs = Vec::new();
        crate::proto::parse::<()>(&text.replace_msg(), |op| {
            if let crate::proto::Op::Msg { payload, .. } = op {
                seqs.push(u64::from_le_bytes(payload[..8].try_into().unwrap()));
            }
            Ok(())
        })
        .unwrap()
        .unwrap();
        assert_eq!(seqs, vec![100, 101, 102, 103]);
        let (b, with_ping) = t.batch(7, 2, true);
        assert!(!with_ping);
        assert_eq!(b.len(), 2 * t.unit);
    }

    trait ReplaceMsg {
        fn replace_msg(&self) -> Vec<u8>;
    }

    impl ReplaceMsg for Vec<u8> {
        /// PUB → MSG with a sid, so the client parser reads it.
        fn replace_msg(&self) -> Vec<u8> {
            let s = self.clone();
            let mut out = Vec::new();
            let mut rest = &s[..];
            while let Some(p) = memchr::memmem::find(rest, b"PUB bench.0 ") {
                out.extend_from_slice(&rest[..p]);
                out.extend_from_slice(b"MSG bench.0 1 ");
                rest = &rest[p + 12..];
            }
            out.extend_from_slice(rest);
            out
        }
    }

    #[test]
    fn ws_frames_decode_to_the_same_pubs() {
        let mut a = Template::new(b"bench.0", 128, 5, Encoding::Nats);
        let mut b = Template::new(b"bench.0", 128, 5, Encoding::WsFrames);
        let want = a.batch(42, 5, true).0.to_vec();
        let wire = b.batch(42, 5, true).0.to_vec();
        let mut r = ws::WsReader::new(true, false);
        let mut out = ByteBuf::with_capacity(64);
        let mut ctrl = Vec::new();
        r.decode(&wire, &mut out, &mut ctrl).unwrap();
        assert_eq!(out.filled(), &want[..]);
        assert!(ctrl.is_empty());
        let mut out = ByteBuf::with_capacity(64);
        let mut r = ws::WsReader::new(true, false);
        r.decode(b.unit_at(3), &mut out, &mut ctrl).unwrap();
        r.decode(b.ping(), &mut out, &mut ctrl).unwrap();
        assert_eq!(out.filled(), [a.unit_at(3), b"PING\r\n"].concat());
    }
}
