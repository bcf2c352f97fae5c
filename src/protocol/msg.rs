//! Messages as subscribers get them, written fast: a published message's
//! MSG line split around the sid and built once, then completed for each
//! subscriber ([`Outgoing`]), and runs of messages on one subject written
//! for one subscriber in a single pass ([`MsgRun`]).
//!
//! These are the fast paths of [`encode::write_msg`] and
//! [`encode::write_hmsg`], which stay the reference: every path here writes
//! exactly their bytes (a randomized test below compares them). No IO.

use super::encode::{self, Decimal};

/// The verb and its space.
const MSG: &[u8] = b"MSG ";
const CRLF: &[u8] = b"\r\n";

/// Length of `MSG <subject> `, what comes before the sid.
fn head_len(subject: &[u8]) -> usize {
    MSG.len() + subject.len() + 1
}

/// Length of ` [reply ]<size>\r\n`, what comes after the sid.
fn tail_len(reply: Option<&[u8]>, size: &[u8]) -> usize {
    1 + reply.map_or(0, |r| r.len() + 1) + size.len() + CRLF.len()
}

/// Appends `MSG <subject> `.
fn write_head(out: &mut Vec<u8>, subject: &[u8]) {
    out.extend_from_slice(MSG);
    out.extend_from_slice(subject);
    out.push(b' ');
}

/// Appends ` [reply ]<size>\r\n`.
fn write_tail(out: &mut Vec<u8>, reply: Option<&[u8]>, size: &[u8]) {
    out.push(b' ');
    if let Some(r) = reply {
        out.extend_from_slice(r);
        out.push(b' ');
    }
    out.extend_from_slice(size);
    out.extend_from_slice(CRLF);
}

/// Deliveries from which copying the payload behind the line template pays
/// for itself (each delivery is then three copies).
const FANOUT_REST: usize = 4;

/// A message about to be written to subscribers: sizes formatted once, and
/// for several subscribers the MSG line built once around the sid.
pub struct Outgoing<'a> {
    subject: &'a [u8],
    reply: Option<&'a [u8]>,
    header_len: usize,
    message: &'a [u8],
    /// MSG size (the whole message when it has no headers).
    size: Decimal,
    /// For a PUB going to several subscribers: `MSG <subject> ` then
    /// ` [reply ]<size>\r\n`, and for many subscribers the payload and its
    /// CRLF behind them. `None`: one delivery, or an HMSG (written directly).
    line: Option<LineTemplate>,
}

struct LineTemplate {
    bytes: Vec<u8>,
    /// Where the head ends (the sid goes there).
    head: usize,
    /// Whether the payload and its CRLF follow the tail in `bytes`.
    with_payload: bool,
}

impl<'a> Outgoing<'a> {
    /// `message` holds `header_len` bytes of headers and then the payload;
    /// `fanout` is how many deliveries are expected.
    pub fn new(
        subject: &'a [u8],
        reply: Option<&'a [u8]>,
        header_len: usize,
        message: &'a [u8],
        fanout: usize,
    ) -> Self {
        let size = Decimal::new(message.len() as u64);
        let line = (header_len == 0 && fanout > 1).then(|| {
            let head = head_len(subject);
            let with_payload = fanout >= FANOUT_REST;
            let payload = if with_payload {
                message.len() + CRLF.len()
            } else {
                0
            };
            let mut bytes = Vec::with_capacity(head + tail_len(reply, size.as_bytes()) + payload);
            write_head(&mut bytes, subject);
            write_tail(&mut bytes, reply, size.as_bytes());
            if with_payload {
                bytes.extend_from_slice(message);
                bytes.extend_from_slice(CRLF);
            }
            LineTemplate {
                bytes,
                head,
                with_payload,
            }
        });
        Outgoing {
            subject,
            reply,
            header_len,
            message,
            size,
            line,
        }
    }

    /// Appends the message for subscription `sid`; `headers`: whether that
    /// client reads HMSG (one that does not gets the payload alone).
    #[inline]
    pub fn subject(&self) -> &'a [u8] {
        self.subject
    }

    /// What the counters count of one delivery: the payload bytes sent
    /// (headers included when the receiver reads them), and the header
    /// bytes left out for a receiver that does not.
    pub fn counted(&self, headers: bool) -> (u64, u64) {
        let whole = self.message.len() as u64;
        if headers || self.header_len == 0 {
            (whole, 0)
        } else {
            (whole - self.header_len as u64, self.header_len as u64)
        }
    }

    pub fn reply(&self) -> Option<&'a [u8]> {
        self.reply
    }

    pub fn write(&self, out: &mut Vec<u8>, sid: &[u8], headers: bool) {
        if let Some(t) = &self.line {
            let (head, rest) = t.bytes.split_at(t.head);
            if t.with_payload {
                out.reserve(head.len() + sid.len() + rest.len());
                out.extend_from_slice(head);
                out.extend_from_slice(sid);
                out.extend_from_slice(rest);
            } else {
                out.reserve(head.len() + sid.len() + rest.len() + self.message.len() + 2);
                out.extend_from_slice(head);
                out.extend_from_slice(sid);
                out.extend_from_slice(rest);
                out.extend_from_slice(self.message);
                out.extend_from_slice(CRLF);
            }
            return;
        }
        if self.header_len == 0 {
            let size = self.size.as_bytes();
            out.reserve(
                head_len(self.subject)
                    + sid.len()
                    + tail_len(self.reply, size)
                    + self.message.len()
                    + CRLF.len(),
            );
            write_head(out, self.subject);
            out.extend_from_slice(sid);
            write_tail(out, self.reply, size);
            out.extend_from_slice(self.message);
        } else if headers {
            let hdr = Decimal::new(self.header_len as u64);
            out.reserve(self.message.len() + CRLF.len());
            encode::write_hmsg_line_digits(
                out,
                self.subject,
                sid,
                self.reply,
                hdr.as_bytes(),
                self.size.as_bytes(),
            );
            out.extend_from_slice(self.message);
        } else {
            let payload = &self.message[self.header_len..];
            let size = Decimal::new(payload.len() as u64);
            out.reserve(payload.len() + CRLF.len());
            encode::write_msg_line_digits(out, self.subject, sid, self.reply, size.as_bytes());
            out.extend_from_slice(payload);
        }
        out.extend_from_slice(CRLF);
    }
}

/// Consecutive messages on one subject, gathered once and written for each
/// subscriber in one pass: the head (`MSG <subject> `) is kept apart, and
/// per message what follows the sid. Buffers are kept from run to run.
#[derive(Default)]
pub struct MsgRun {
    head: Vec<u8>,
    /// Per message: ` [reply ]<size>\r\n<payload>\r\n`.
    body: Vec<u8>,
    /// Where each message ends in `body`.
    ends: Vec<usize>,
    /// The payload bytes of the messages up to each one, for the counters.
    payloads: Vec<u64>,
}

impl MsgRun {
    /// Empties the run for messages on `subject`.
    pub fn start(&mut self, subject: &[u8]) {
        self.head.clear();
        write_head(&mut self.head, subject);
        self.body.clear();
        self.ends.clear();
        self.payloads.clear();
    }

    /// The run's subject.
    pub fn subject(&self) -> &[u8] {
        &self.head[MSG.len()..self.head.len() - 1]
    }

    /// Adds one message (without headers).
    pub fn push(&mut self, reply: Option<&[u8]>, payload: &[u8]) {
        let size = Decimal::new(payload.len() as u64);
        write_tail(&mut self.body, reply, size.as_bytes());
        self.body.extend_from_slice(payload);
        self.body.extend_from_slice(CRLF);
        self.ends.push(self.body.len());
        let before = self.payloads.last().copied().unwrap_or(0);
        self.payloads.push(before + payload.len() as u64);
    }

    /// The payload bytes of the first `n` messages.
    pub fn payload_bytes(&self, n: usize) -> u64 {
        n.checked_sub(1).map_or(0, |i| self.payloads[i])
    }

    /// Messages in the run.
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// Bytes gathered (after the sids).
    pub fn bytes(&self) -> usize {
        self.body.len()
    }

    /// Bytes the gathered messages' buffer holds room for.
    pub fn capacity(&self) -> usize {
        self.body.capacity()
    }

    /// Appends the first `n` messages for subscription `sid`.
    pub fn write(&self, out: &mut Vec<u8>, sid: &[u8], n: usize) {
        let Some(&last) = n.checked_sub(1).map(|i| &self.ends[i]) else {
            return;
        };
        out.reserve(n * (self.head.len() + sid.len()) + last);
        let mut start = 0;
        for &end in &self.ends[..n] {
            out.extend_from_slice(&self.head);
            out.extend_from_slice(sid);
            out.extend_from_slice(&self.body[start..end]);
            start = end;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A subject of 1 to 6 tokens, some long (past any stack buffer).
    fn any_subject(rng: &mut fastrand::Rng) -> Vec<u8> {
        let tokens = rng.usize(1..=6);
        let mut s = Vec::new();
        for i in 0..tokens {
            if i > 0 {
                s.push(b'.');
            }
            let len = if rng.u8(..10) == 0 {
                rng.usize(50..300)
            } else {
                rng.usize(1..12)
            };
            s.extend((0..len).map(|_| rng.alphanumeric() as u8));
        }
        s
    }

    fn any_sid(rng: &mut fastrand::Rng) -> Vec<u8> {
        let digits = rng.u32(1..12);
        rng.u64(..10u64.pow(digits)).to_string().into_bytes()
    }

    fn any_bytes(rng: &mut fastrand::Rng, max: usize) -> Vec<u8> {
        let len = match rng.u8(..4) {
            0 => 0,
            1 => rng.usize(..10),
            2 => rng.usize(..300),
            _ => rng.usize(..max),
        };
        (0..len).map(|_| rng.u8(..)).collect()
    }

    /// What the reference encoders write for one delivery.
    fn reference(
        subject: &[u8],
        sid: &[u8],
        reply: Option<&[u8]>,
        header_len: usize,
        message: &[u8],
        headers: bool,
    ) -> Vec<u8> {
        let mut out = Vec::new();
        if header_len == 0 {
            encode::write_msg(&mut out, subject, sid, reply, message);
        } else if headers {
            encode::write_hmsg(&mut out, subject, sid, reply, header_len, message);
        } else {
            encode::write_msg(&mut out, subject, sid, reply, &message[header_len..]);
        }
        out
    }

    #[test]
    fn outgoing_writes_what_the_reference_writes() {
        let mut rng = fastrand::Rng::with_seed(0x5eed_0001);
        for case in 0..3000 {
            let subject = any_subject(&mut rng);
            let reply = rng.bool().then(|| any_subject(&mut rng));
            let with_headers = rng.u8(..3) == 0;
            let mut message = Vec::new();
            let mut header_len = 0;
            if with_headers {
                message.extend_from_slice(b"NATS/1.0\r\nK: ");
                message.extend(any_bytes(&mut rng, 40).iter().map(|b| b'a' + b % 26));
                message.extend_from_slice(b"\r\n\r\n");
                header_len = message.len();
            }
            message.extend(any_bytes(&mut rng, 70_000));
            let fanout = [1, 2, 3, 4, 5, 100][rng.usize(..6)];
            let out = Outgoing::new(&subject, reply.as_deref(), header_len, &message, fanout);
            // Several subscribers, appended one after another as deliveries are.
            let mut got = b"prefix".to_vec();
            let mut want = b"prefix".to_vec();
            for _ in 0..rng.usize(1..4) {
                let sid = any_sid(&mut rng);
                let headers = rng.bool();
                out.write(&mut got, &sid, headers);
                want.extend(reference(
                    &subject,
                    &sid,
                    reply.as_deref(),
                    header_len,
                    &message,
                    headers,
                ));
            }
            assert!(
                got == want,
                "case {case}: fanout {fanout}, header_len {header_len}"
            );
        }
    }

    #[test]
    fn a_run_writes_what_the_reference_writes() {
        let mut rng = fastrand::Rng::with_seed(0x5eed_0002);
        let mut run = MsgRun::default();
        for case in 0..500 {
            let subject = any_subject(&mut rng);
            run.start(&subject);
            assert_eq!(run.subject(), &subject[..]);
            let mut messages = Vec::new();
            for _ in 0..rng.usize(1..20) {
                let reply = rng.bool().then(|| any_subject(&mut rng));
                let payload = any_bytes(&mut rng, 5_000);
                run.push(reply.as_deref(), &payload);
                messages.push((reply, payload));
            }
            assert_eq!(run.len(), messages.len());
            let sid = any_sid(&mut rng);
            let n = rng.usize(0..=messages.len());
            let mut got = Vec::new();
            run.write(&mut got, &sid, n);
            let mut want = Vec::new();
            for (reply, payload) in &messages[..n] {
                encode::write_msg(&mut want, &subject, &sid, reply.as_deref(), payload);
            }
            assert!(
                got == want,
                "case {case}: {n} of {} messages",
                messages.len()
            );
        }
    }
}
