//! Zero-copy, resumable parser of the operations a client sends to the server.
//!
//! The parser is fed chunks of the byte stream exactly as they were read, split
//! anywhere: in a verb, in a control line, in a payload, between `\r` and `\n`.
//! Operations that lie wholly in one chunk are handed out borrowing that chunk;
//! only an operation that spans chunks is copied, into the parser's reassembly
//! buffer, and handed out from there once complete.
//!
//! What is accepted follows nats-server's parser for client connections:
//!
//! * verbs are case-insensitive; arguments are separated by runs of spaces or
//!   tabs (for SUB and UNSUB also CR and LF), leading and trailing ones
//!   ignored;
//! * a control line ends at `\n`, and the `\r` before it is dropped, so bare
//!   `\n` line ends are accepted; a payload, however, must be followed by
//!   exactly `\r\n`;
//! * two quirks of nats-server are kept, so that every input gets the same
//!   outcome: if a `\r` appears anywhere in the arguments after their first
//!   byte, the line's last byte is dropped whatever it is; and a `\n` right
//!   after the blanks that follow a verb starts its arguments instead of
//!   ending the line;
//! * `PING`, `PONG` and `+OK` ignore whatever follows them up to the line end;
//!   `+OK` lines, and `INFO` lines holding a JSON object, are ignored;
//! * `max_control_line` bounds the arguments of a line (what follows the verb
//!   and its blanks, without the line end); a line still incomplete fails as
//!   soon as its buffered arguments exceed the limit.
//!
//! Feeding the same bytes in any chunking gives the same operations and the
//! same error. The argument-level checks nats-server makes after parsing
//! (subject validity, permissions, headers negotiated) are left to the caller.

use memchr::memchr;

use super::{ProtocolError, DEFAULT_MAX_CONTROL_LINE, DEFAULT_MAX_PAYLOAD};

/// Capacity of the reassembly buffer kept once it is empty again; anything
/// bigger is given back to the allocator at the end of [`ClientParser::feed`].
const RETAIN_CAPACITY: usize = 4096;

/// Size limits enforced while parsing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParserLimits {
    /// Longest allowed control-line arguments, in bytes.
    pub max_control_line: usize,
    /// Largest allowed PUB payload or HPUB headers+payload, in bytes.
    pub max_payload: usize,
}

impl Default for ParserLimits {
    fn default() -> Self {
        Self {
            max_control_line: DEFAULT_MAX_CONTROL_LINE,
            max_payload: DEFAULT_MAX_PAYLOAD,
        }
    }
}

/// One operation sent by a client. Slices borrow either the chunk being fed or
/// the parser's reassembly buffer, and live only for the callback.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientOp<'a> {
    /// `CONNECT <json>`: the raw JSON text (see [`super::ConnectOptions::parse`]).
    Connect(&'a [u8]),
    /// `PUB <subject> [reply] <size>` and its payload.
    Pub {
        subject: &'a [u8],
        reply: Option<&'a [u8]>,
        payload: &'a [u8],
    },
    /// `HPUB <subject> [reply] <header_len> <total_len>`: `message` holds the
    /// `header_len` bytes of headers followed by the payload.
    HPub {
        subject: &'a [u8],
        reply: Option<&'a [u8]>,
        header_len: usize,
        message: &'a [u8],
    },
    /// `SUB <subject> [queue] <sid>`.
    Sub {
        subject: &'a [u8],
        queue: Option<&'a [u8]>,
        sid: &'a [u8],
    },
    /// `UNSUB <sid> [max]`. `max` is `Some(n)` with `n >= 1` when the
    /// subscription is to end after `n` more messages; `None` means remove it
    /// now. As in nats-server, a `max` of 0 or one that is not 1 to 9 decimal
    /// digits also means "now".
    Unsub { sid: &'a [u8], max: Option<u64> },
    /// `PING`.
    Ping,
    /// `PONG`.
    Pong,
}

impl ClientOp<'_> {
    /// The verb of the operation, upper case.
    pub fn verb(&self) -> &'static str {
        match self {
            ClientOp::Connect(_) => "CONNECT",
            ClientOp::Pub { .. } => "PUB",
            ClientOp::HPub { .. } => "HPUB",
            ClientOp::Sub { .. } => "SUB",
            ClientOp::Unsub { .. } => "UNSUB",
            ClientOp::Ping => "PING",
            ClientOp::Pong => "PONG",
        }
    }
}

/// The verbs a client may send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verb {
    Connect,
    Pub,
    HPub,
    Sub,
    Unsub,
    Info,
    Ping,
    Pong,
    Ok,
}

impl Verb {
    fn name(self) -> &'static [u8] {
        match self {
            Verb::Connect => b"CONNECT",
            Verb::Pub => b"PUB",
            Verb::HPub => b"HPUB",
            Verb::Sub => b"SUB",
            Verb::Unsub => b"UNSUB",
            Verb::Info => b"INFO",
            Verb::Ping => b"PING",
            Verb::Pong => b"PONG",
            Verb::Ok => b"+OK",
        }
    }
}

/// Where the recogniser of a line's head (verb and the blanks after it) is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Head {
    /// At the start of a line.
    Start,
    /// After `P`: `PUB`, `PING` or `PONG`.
    P,
    /// `matched` bytes of `verb`'s name seen.
    Name { verb: Verb, matched: u8 },
    /// Verb complete; a space or tab must follow.
    NeedBlank(Verb),
    /// Skipping blanks before the arguments.
    Blanks(Verb),
}

/// How a scan of a line's head ended.
#[derive(Debug, Clone, Copy)]
enum HeadEnd {
    /// All bytes consumed, head not finished.
    More,
    /// The arguments of the verb start at the returned offset.
    Args(Verb),
    /// A verb without arguments ends at the returned offset.
    Bare(Verb),
}

/// Space or tab. Most bytes are above the space, so test that first.
#[inline(always)]
fn is_blank(b: u8) -> bool {
    b <= b' ' && (b == b' ' || b == b'\t')
}

/// Finds the first byte at or below the space (a blank, CR, LF or other
/// control byte) in `s[i..]`, eight bytes at a time.
#[inline(always)]
fn find_low(s: &[u8], mut i: usize) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    while let Some(word) = s.get(i..i + 8) {
        let x = u64::from_le_bytes(word.try_into().unwrap());
        // High bit set in the bytes below 0x21 (exact for the first such
        // byte: only bytes after it can see a borrow).
        let low = x.wrapping_sub(ONES * 0x21) & !x & HIGHS;
        if low != 0 {
            return Some(i + (low.trailing_zeros() / 8) as usize);
        }
        i += 8;
    }
    while let Some(&b) = s.get(i) {
        if b <= b' ' {
            return Some(i);
        }
        i += 1;
    }
    None
}

/// The common case in one pass: a valid `PUB` or `HPUB` whose control line,
/// payload and CRLF all lie at the start of `rest`. Returns the op and the
/// bytes it spans. `None` means "take the general path", which also reports
/// the errors: nothing is rejected here.
#[inline(always)]
fn fast_msg<'a>(rest: &'a [u8], limits: &ParserLimits) -> Option<(ClientOp<'a>, usize)> {
    let w = u32::from_le_bytes(rest.get(..4)?.try_into().unwrap());
    // OR-ing 0x20 folds ASCII letters to lower case and maps no other byte to
    // a letter; the fourth byte of "pub " must be a plain space.
    let (headers, mut i) = if w | 0x0020_2020 == u32::from_le_bytes(*b"pub ") {
        (false, 4)
    } else if w | 0x2020_2020 == u32::from_le_bytes(*b"hpub") && *rest.get(4)? == b' ' {
        (true, 5)
    } else {
        return None;
    };
    while is_blank(*rest.get(i)?) {
        i += 1;
    }
    let args_start = i;
    let mut fields = [Span::default(); 4];
    let max_fields = if headers { 4 } else { 3 };
    let mut n = 0;
    let (args_end, line_end) = loop {
        let end = find_low(rest, i)?;
        if end > i {
            if n == max_fields {
                return None;
            }
            fields[n] = Span { start: i, end };
            n += 1;
        }
        match rest[end] {
            b' ' | b'\t' => i = end + 1,
            b'\n' => break (end, end + 1),
            b'\r' if rest.get(end + 1) == Some(&b'\n') => break (end, end + 2),
            _ => return None,
        }
    };
    if args_end - args_start > limits.max_control_line || n + 1 < max_fields {
        return None;
    }
    let size = parse_size(fields[n - 1].of(rest))?;
    let header_len = if headers {
        let h = parse_size(fields[n - 2].of(rest))?;
        if h > size {
            return None;
        }
        Some(h)
    } else {
        None
    };
    let msg_end = line_end.checked_add(size)?;
    if size > limits.max_payload || rest.get(msg_end..msg_end + 2)? != b"\r\n" {
        return None;
    }
    let msg = MsgArgs {
        subject: fields[0],
        reply: (n == max_fields).then_some(fields[1]),
        header_len,
        size,
    };
    Some((msg.op(rest, &rest[line_end..msg_end]), msg_end + 2))
}

/// Runs the head recogniser over `bytes`, which never hold a `\n`. Returns how
/// many bytes were consumed and how the scan ended.
#[inline]
fn scan_head(head: &mut Head, bytes: &[u8]) -> Result<(usize, HeadEnd), ProtocolError> {
    for (i, &b) in bytes.iter().enumerate() {
        let next = match *head {
            Head::Start => {
                let verb = match b | 0x20 {
                    b'p' => {
                        *head = Head::P;
                        continue;
                    }
                    b'c' => Verb::Connect,
                    b'h' => Verb::HPub,
                    b's' => Verb::Sub,
                    b'u' => Verb::Unsub,
                    b'i' => Verb::Info,
                    _ if b == b'+' => Verb::Ok,
                    _ => return Err(ProtocolError::UnknownOperation),
                };
                Head::Name { verb, matched: 1 }
            }
            Head::P => {
                let verb = match b | 0x20 {
                    b'u' => Verb::Pub,
                    b'i' => Verb::Ping,
                    b'o' => Verb::Pong,
                    _ => return Err(ProtocolError::UnknownOperation),
                };
                Head::Name { verb, matched: 2 }
            }
            Head::Name { verb, matched } => {
                let name = verb.name();
                // Every name byte after the first is an ASCII letter.
                if b | 0x20 != name[matched as usize] | 0x20 {
                    return Err(ProtocolError::UnknownOperation);
                }
                let matched = matched + 1;
                if (matched as usize) < name.len() {
                    Head::Name { verb, matched }
                } else {
                    match verb {
                        Verb::Ping | Verb::Pong | Verb::Ok => {
                            *head = Head::Start;
                            return Ok((i + 1, HeadEnd::Bare(verb)));
                        }
                        Verb::Connect | Verb::Info => Head::Blanks(verb),
                        _ => Head::NeedBlank(verb),
                    }
                }
            }
            Head::NeedBlank(verb) => {
                if !is_blank(b) {
                    return Err(ProtocolError::UnknownOperation);
                }
                Head::Blanks(verb)
            }
            Head::Blanks(verb) => {
                if is_blank(b) {
                    continue;
                }
                *head = Head::Start;
                return Ok((i, HeadEnd::Args(verb)));
            }
        };
        *head = next;
    }
    Ok((bytes.len(), HeadEnd::More))
}

/// A byte range of the arguments.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
struct Span {
    start: usize,
    end: usize,
}

impl Span {
    #[inline]
    fn of(self, s: &[u8]) -> &[u8] {
        &s[self.start..self.end]
    }
}

/// Splits `args` into fields separated by runs of blanks (and of CR and LF
/// when `CRLF`, as nats-server does for SUB and UNSUB). Returns the number of
/// fields, or `N + 1` when there are more than `N`.
#[inline(always)]
fn split_fields<const N: usize, const CRLF: bool>(args: &[u8], out: &mut [Span; N]) -> usize {
    let sep =
        |b: u8| b <= b' ' && (b == b' ' || b == b'\t' || (CRLF && (b == b'\r' || b == b'\n')));
    let mut i = 0;
    let mut n = 0;
    loop {
        match args[i..].iter().position(|&b| !sep(b)) {
            Some(skip) => i += skip,
            None => return n,
        }
        if n == N {
            return N + 1;
        }
        let start = i;
        i += args[i..]
            .iter()
            .position(|&b| sep(b))
            .unwrap_or(args.len() - i);
        out[n] = Span { start, end: i };
        n += 1;
    }
}

/// Parses a size the way nats-server does: 1 to 9 ASCII digits.
#[inline]
fn parse_size(d: &[u8]) -> Option<usize> {
    if d.is_empty() || d.len() > 9 {
        return None;
    }
    let mut n = 0usize;
    for &b in d {
        let digit = b.wrapping_sub(b'0');
        if digit > 9 {
            return None;
        }
        n = n * 10 + digit as usize;
    }
    Some(n)
}

/// The arguments of a complete control line, from `raw`: the bytes from the
/// first one after the verb's blanks up to the LF. As in nats-server, when a
/// CR appears anywhere after the first byte the last byte is dropped (it is
/// normally the CR of the CRLF).
#[inline]
fn line_args(raw: &[u8]) -> &[u8] {
    match raw.split_last() {
        Some((&last, init)) if !init.is_empty() && (last == b'\r' || has_cr(&init[1..])) => init,
        _ => raw,
    }
}

#[inline]
fn has_cr(s: &[u8]) -> bool {
    memchr(b'\r', s).is_some()
}

/// Whether `json` is one JSON object (or `null`, which Go decodes into a
/// struct as "nothing"), ignoring what it holds.
fn is_json_object(json: &[u8]) -> bool {
    struct AnyObject;
    impl<'de> serde::Deserialize<'de> for AnyObject {
        fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            struct ObjectVisitor;
            impl<'de> serde::de::Visitor<'de> for ObjectVisitor {
                type Value = AnyObject;
                fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                    f.write_str("a JSON object")
                }
                fn visit_map<A: serde::de::MapAccess<'de>>(
                    self,
                    mut map: A,
                ) -> Result<AnyObject, A::Error> {
                    use serde::de::IgnoredAny;
                    while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                    Ok(AnyObject)
                }
                fn visit_unit<E>(self) -> Result<AnyObject, E> {
                    Ok(AnyObject)
                }
            }
            d.deserialize_any(ObjectVisitor)
        }
    }
    serde_json::from_slice::<AnyObject>(json).is_ok()
}

/// The parsed arguments of a PUB or HPUB, as spans of its argument bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct MsgArgs {
    subject: Span,
    reply: Option<Span>,
    /// `Some` for HPUB.
    header_len: Option<usize>,
    /// Payload size (headers included for HPUB).
    size: usize,
}

impl MsgArgs {
    #[inline(always)]
    fn op<'a>(&self, args: &'a [u8], payload: &'a [u8]) -> ClientOp<'a> {
        let subject = self.subject.of(args);
        let reply = self.reply.map(|r| r.of(args));
        match self.header_len {
            None => ClientOp::Pub {
                subject,
                reply,
                payload,
            },
            Some(header_len) => ClientOp::HPub {
                subject,
                reply,
                header_len,
                message: payload,
            },
        }
    }
}

#[inline]
fn parse_pub_args(args: &[u8], max_payload: usize) -> Result<MsgArgs, ProtocolError> {
    let mut f = [Span::default(); 3];
    let (subject, reply, size) = match split_fields::<3, false>(args, &mut f) {
        2 => (f[0], None, f[1]),
        3 => (f[0], Some(f[1]), f[2]),
        _ => return Err(ProtocolError::InvalidPubArgs),
    };
    let size = parse_size(size.of(args)).ok_or(ProtocolError::InvalidPubSize)?;
    if size > max_payload {
        return Err(ProtocolError::MaxPayload);
    }
    Ok(MsgArgs {
        subject,
        reply,
        header_len: None,
        size,
    })
}

fn parse_hpub_args(args: &[u8], max_payload: usize) -> Result<MsgArgs, ProtocolError> {
    let mut f = [Span::default(); 4];
    let (subject, reply, hdr, total) = match split_fields::<4, false>(args, &mut f) {
        3 => (f[0], None, f[1], f[2]),
        4 => (f[0], Some(f[1]), f[2], f[3]),
        _ => return Err(ProtocolError::InvalidHPubArgs),
    };
    let hdr = parse_size(hdr.of(args)).ok_or(ProtocolError::InvalidHeaderSize)?;
    let size = parse_size(total.of(args)).ok_or(ProtocolError::InvalidTotalSize)?;
    if hdr > size {
        return Err(ProtocolError::HeaderSizeTooLarge);
    }
    if size > max_payload {
        return Err(ProtocolError::MaxPayload);
    }
    Ok(MsgArgs {
        subject,
        reply,
        header_len: Some(hdr),
        size,
    })
}

/// A PUB/HPUB whose payload is being gathered in the reassembly buffer: its
/// arguments are `buf[..payload_start]`, the payload so far follows them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Pending {
    msg: MsgArgs,
    payload_start: usize,
    /// How many bytes of the CRLF after the payload were checked already.
    crlf: u8,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Recognising a line's head; nothing is buffered.
    Head(Head),
    /// In a control line's arguments; those seen so far are in the buffer.
    /// `cr`: a CR was seen after their first byte.
    Args { verb: Verb, cr: bool },
    /// After `PING`, `PONG` or `+OK`: skipping to the end of the line.
    Skip(Verb),
    /// Gathering the payload of a PUB or HPUB.
    Payload(Pending),
    /// After an error, or after the callback asked to stop.
    Closed,
}

/// Where a complete control line's arguments are.
#[derive(Clone, Copy)]
enum ArgsAt<'c> {
    /// In the chunk being fed.
    Chunk(&'c [u8]),
    /// The first `n` bytes of the reassembly buffer.
    Buf(usize),
}

/// What to do after an operation.
enum Flow {
    /// Go on, this many more bytes of the chunk were consumed.
    Next(usize),
    /// The callback asked to stop.
    Stop,
}

/// Resumable parser of the client -> server byte stream of one connection.
#[derive(Debug)]
pub struct ClientParser {
    limits: ParserLimits,
    state: State,
    /// Reassembly buffer for an operation spanning chunks.
    buf: Vec<u8>,
}

impl Default for ClientParser {
    fn default() -> Self {
        Self::new(ParserLimits::default())
    }
}

impl ClientParser {
    /// A parser at the start of a connection's stream.
    pub fn new(limits: ParserLimits) -> Self {
        Self {
            limits,
            state: State::Head(Head::Start),
            buf: Vec::new(),
        }
    }

    /// Changes the limits; they apply to control lines completed from the
    /// next call to [`feed`](Self::feed) on.
    pub fn set_limits(&mut self, limits: ParserLimits) {
        self.limits = limits;
    }

    /// The limits in force.
    pub fn limits(&self) -> ParserLimits {
        self.limits
    }

    /// Whether the parser stopped, after an error or because the callback
    /// returned `false`. A closed parser ignores whatever it is fed.
    pub fn is_closed(&self) -> bool {
        self.state == State::Closed
    }

    /// Whether the parser is between operations (no partial one pending).
    pub fn is_idle(&self) -> bool {
        self.state == State::Head(Head::Start)
    }

    /// Bytes of memory held by the reassembly buffer.
    pub fn buffer_capacity(&self) -> usize {
        self.buf.capacity()
    }

    /// Gives the reassembly buffer back to the allocator if no partial
    /// operation needs it, e.g. when a connection goes idle.
    pub fn release_memory(&mut self) {
        if !matches!(self.state, State::Args { .. } | State::Payload(_)) {
            self.buf = Vec::new();
        }
    }

    /// Feeds one chunk. Calls `on_op` for each complete operation in order;
    /// ops borrow `chunk` when they lie wholly in it, otherwise the parser's
    /// own reassembly buffer (bytes are copied only when an operation spans
    /// chunks). `on_op` returns `false` to stop early: the rest of the chunk is
    /// dropped and the parser is left closed, because the connection is
    /// closing.
    ///
    /// On error the parser is closed too; the error says what to send the
    /// client (see [`ProtocolError::err_text`]) before closing the connection.
    pub fn feed(
        &mut self,
        chunk: &[u8],
        on_op: &mut dyn FnMut(ClientOp<'_>) -> bool,
    ) -> Result<(), ProtocolError> {
        let result = self.feed_inner(chunk, on_op);
        match result {
            Ok(()) => match self.state {
                State::Head(_) | State::Skip(_) => {
                    if self.buf.capacity() > RETAIN_CAPACITY {
                        self.buf = Vec::new();
                    } else {
                        self.buf.clear();
                    }
                }
                State::Args { .. } => {
                    if self.buf.capacity() > RETAIN_CAPACITY.max(2 * self.buf.len()) {
                        self.buf.shrink_to(RETAIN_CAPACITY.max(self.buf.len()));
                    }
                }
                State::Payload(_) => {}
                State::Closed => self.buf = Vec::new(),
            },
            Err(_) => {
                self.state = State::Closed;
                self.buf = Vec::new();
            }
        }
        result
    }

    fn feed_inner(
        &mut self,
        chunk: &[u8],
        on_op: &mut dyn FnMut(ClientOp<'_>) -> bool,
    ) -> Result<(), ProtocolError> {
        let mut pos = 0;
        while pos < chunk.len() {
            let rest = &chunk[pos..];
            let flow = match self.state {
                State::Head(mut head) => {
                    if head == Head::Start {
                        if let Some((op, used)) = fast_msg(rest, &self.limits) {
                            pos += used;
                            if !on_op(op) {
                                self.state = State::Closed;
                                return Ok(());
                            }
                            continue;
                        }
                    }
                    let nl = memchr(b'\n', rest);
                    let line = match nl {
                        Some(n) => &rest[..n],
                        None => rest,
                    };
                    let (used, end) = scan_head(&mut head, line)?;
                    // Where the arguments start, and the LF after them.
                    let (verb, start, lf) = match (end, nl) {
                        (HeadEnd::Bare(verb), Some(n)) => {
                            pos += n + 1;
                            self.state = State::Head(Head::Start);
                            match Self::bare(verb, on_op) {
                                Flow::Next(_) => continue,
                                Flow::Stop => {
                                    self.state = State::Closed;
                                    return Ok(());
                                }
                            }
                        }
                        (HeadEnd::Bare(verb), None) => {
                            self.state = State::Skip(verb);
                            return Ok(());
                        }
                        (HeadEnd::Args(verb), nl) => (verb, used, nl),
                        (HeadEnd::More, None) => {
                            self.state = State::Head(head);
                            return Ok(());
                        }
                        // As in nats-server, a LF right after the blanks
                        // that follow a verb is the first byte of its
                        // arguments, which end at the next LF.
                        (HeadEnd::More, Some(n)) => match head {
                            Head::Blanks(verb) => {
                                let lf = memchr(b'\n', &rest[n + 1..]).map(|m| n + 1 + m);
                                (verb, n, lf)
                            }
                            _ => return Err(ProtocolError::UnknownOperation),
                        },
                    };
                    let Some(lf) = lf else {
                        // The line goes on in the next chunk.
                        let part = &rest[start..];
                        let cr = has_cr(&part[1..]);
                        self.check_partial(part.len(), cr)?;
                        self.buf.clear();
                        self.buf.extend_from_slice(part);
                        self.state = State::Args { verb, cr };
                        return Ok(());
                    };
                    pos += lf + 1;
                    self.state = State::Head(Head::Start);
                    let args = line_args(&rest[start..lf]);
                    self.complete_line(verb, ArgsAt::Chunk(args), &chunk[pos..], on_op)?
                }
                State::Args { verb, cr } => {
                    let lf = memchr(b'\n', rest);
                    let tail = &rest[..lf.unwrap_or(rest.len())];
                    let cr = cr || has_cr(tail);
                    // The buffer is never empty here: the arguments have a
                    // first byte, and `cr` is about those after it.
                    let Some(n) = lf else {
                        self.check_partial(self.buf.len() + tail.len(), cr)?;
                        self.buf.extend_from_slice(tail);
                        self.state = State::Args { verb, cr };
                        return Ok(());
                    };
                    let len = self.buf.len() + n - cr as usize;
                    if len > self.limits.max_control_line {
                        return Err(ProtocolError::MaxControlLine);
                    }
                    self.buf.extend_from_slice(tail);
                    self.buf.truncate(len);
                    pos += n + 1;
                    self.state = State::Head(Head::Start);
                    self.complete_line(verb, ArgsAt::Buf(len), &chunk[pos..], on_op)?
                }
                State::Skip(verb) => {
                    let Some(n) = memchr(b'\n', rest) else {
                        return Ok(());
                    };
                    pos += n + 1;
                    self.state = State::Head(Head::Start);
                    Self::bare(verb, on_op)
                }
                State::Payload(pending) => self.continue_payload(pending, rest, on_op)?,
                State::Closed => return Ok(()),
            };
            match flow {
                Flow::Next(k) => pos += k,
                Flow::Stop => {
                    self.state = State::Closed;
                    return Ok(());
                }
            }
        }
        Ok(())
    }

    /// Checks the limit on a control line still incomplete, with `have`
    /// bytes of arguments so far, `cr` if a CR was seen after the first.
    #[inline]
    fn check_partial(&self, have: usize, cr: bool) -> Result<(), ProtocolError> {
        // The line's last byte will be dropped if a CR was seen: never count
        // more than the complete line will.
        if have - cr as usize > self.limits.max_control_line {
            return Err(ProtocolError::MaxControlLine);
        }
        Ok(())
    }

    #[inline]
    fn bare(verb: Verb, on_op: &mut dyn FnMut(ClientOp<'_>) -> bool) -> Flow {
        let go_on = match verb {
            Verb::Ping => on_op(ClientOp::Ping),
            Verb::Pong => on_op(ClientOp::Pong),
            _ => true,
        };
        if go_on {
            Flow::Next(0)
        } else {
            Flow::Stop
        }
    }

    /// Handles a complete control line of `verb` whose arguments are at
    /// `at`; `after` is what follows the line in the chunk.
    fn complete_line(
        &mut self,
        verb: Verb,
        at: ArgsAt<'_>,
        after: &[u8],
        on_op: &mut dyn FnMut(ClientOp<'_>) -> bool,
    ) -> Result<Flow, ProtocolError> {
        let args = match at {
            ArgsAt::Chunk(a) => a,
            ArgsAt::Buf(n) => &self.buf[..n],
        };
        if args.len() > self.limits.max_control_line {
            return Err(ProtocolError::MaxControlLine);
        }
        let go_on = match verb {
            Verb::Pub | Verb::HPub => {
                let msg = if verb == Verb::Pub {
                    parse_pub_args(args, self.limits.max_payload)?
                } else {
                    parse_hpub_args(args, self.limits.max_payload)?
                };
                if after.len() >= msg.size + 2 {
                    if after[msg.size] != b'\r' || after[msg.size + 1] != b'\n' {
                        return Err(ProtocolError::UnknownOperation);
                    }
                    let go_on = on_op(msg.op(args, &after[..msg.size]));
                    if let ArgsAt::Buf(_) = at {
                        self.buf.clear();
                    }
                    return Ok(if go_on {
                        Flow::Next(msg.size + 2)
                    } else {
                        Flow::Stop
                    });
                }
                // The payload goes on in later chunks: keep the arguments in
                // the buffer, followed by the payload as it arrives.
                match at {
                    ArgsAt::Chunk(a) => {
                        self.buf.clear();
                        self.buf.extend_from_slice(a);
                    }
                    ArgsAt::Buf(n) => self.buf.truncate(n),
                }
                let pending = Pending {
                    msg,
                    payload_start: self.buf.len(),
                    crlf: 0,
                };
                return self.continue_payload(pending, after, on_op);
            }
            Verb::Connect => on_op(ClientOp::Connect(args)),
            Verb::Sub => {
                let mut f = [Span::default(); 3];
                let op = match split_fields::<3, true>(args, &mut f) {
                    2 => ClientOp::Sub {
                        subject: f[0].of(args),
                        queue: None,
                        sid: f[1].of(args),
                    },
                    3 => ClientOp::Sub {
                        subject: f[0].of(args),
                        queue: Some(f[1].of(args)),
                        sid: f[2].of(args),
                    },
                    _ => return Err(ProtocolError::InvalidSubArgs),
                };
                on_op(op)
            }
            Verb::Unsub => {
                let mut f = [Span::default(); 2];
                let (sid, max) = match split_fields::<2, true>(args, &mut f) {
                    1 => (f[0].of(args), None),
                    2 => {
                        let max = parse_size(f[1].of(args)).filter(|&m| m > 0);
                        (f[0].of(args), max.map(|m| m as u64))
                    }
                    _ => return Err(ProtocolError::InvalidUnsubArgs),
                };
                on_op(ClientOp::Unsub { sid, max })
            }
            // INFO from a client is ignored, if it is a JSON object as
            // nats-server requires.
            Verb::Info => {
                if !is_json_object(args) {
                    return Err(ProtocolError::InvalidInfoJson);
                }
                true
            }
            // Verbs without arguments never get here.
            Verb::Ping | Verb::Pong | Verb::Ok => true,
        };
        if let ArgsAt::Buf(_) = at {
            self.buf.clear();
        }
        Ok(if go_on { Flow::Next(0) } else { Flow::Stop })
    }

    /// Gathers payload bytes from `rest` into the buffer, checks the CRLF
    /// after them, and emits the operation once complete.
    fn continue_payload(
        &mut self,
        mut pending: Pending,
        rest: &[u8],
        on_op: &mut dyn FnMut(ClientOp<'_>) -> bool,
    ) -> Result<Flow, ProtocolError> {
        let size = pending.msg.size;
        let have = self.buf.len() - pending.payload_start;
        let mut used = 0;
        if have < size {
            let take = (size - have).min(rest.len());
            grow(&mut self.buf, take, pending.payload_start + size);
            self.buf.extend_from_slice(&rest[..take]);
            used = take;
            if have + take < size {
                self.state = State::Payload(pending);
                return Ok(Flow::Next(used));
            }
        }
        while pending.crlf < 2 {
            let Some(&b) = rest.get(used) else {
                self.state = State::Payload(pending);
                return Ok(Flow::Next(used));
            };
            let expected = if pending.crlf == 0 { b'\r' } else { b'\n' };
            if b != expected {
                return Err(ProtocolError::UnknownOperation);
            }
            pending.crlf += 1;
            used += 1;
        }
        self.state = State::Head(Head::Start);
        let (args, payload) = self.buf.split_at(pending.payload_start);
        let go_on = on_op(pending.msg.op(args, payload));
        self.buf.clear();
        Ok(if go_on { Flow::Next(used) } else { Flow::Stop })
    }
}

/// Makes room for `additional` more bytes in `buf`, growing geometrically but
/// never past `target` (the size the buffer needs in the end), so that a
/// large announced payload reserves memory only as its bytes arrive.
#[inline]
fn grow(buf: &mut Vec<u8>, additional: usize, target: usize) {
    let needed = buf.len() + additional;
    if needed <= buf.capacity() {
        return;
    }
    let want = (buf.capacity() * 2).clamp(needed, target.max(needed));
    buf.reserve_exact(want - buf.len());
}

#[cfg(test)]
mod tests;

/// An operation kept past the buffer it was parsed from: what a client
/// sent after a CONNECT whose check is still under way, carried out once
/// the check is done.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OwnedOp {
    Connect(Box<[u8]>),
    Pub {
        subject: Box<[u8]>,
        reply: Option<Box<[u8]>>,
        payload: Box<[u8]>,
    },
    HPub {
        subject: Box<[u8]>,
        reply: Option<Box<[u8]>>,
        header_len: usize,
        message: Box<[u8]>,
    },
    Sub {
        subject: Box<[u8]>,
        queue: Option<Box<[u8]>>,
        sid: Box<[u8]>,
    },
    Unsub {
        sid: Box<[u8]>,
        max: Option<u64>,
    },
    Ping,
    Pong,
}

impl ClientOp<'_> {
    pub fn to_owned_op(&self) -> OwnedOp {
        let own = |b: &[u8]| Box::<[u8]>::from(b);
        match *self {
            ClientOp::Connect(json) => OwnedOp::Connect(own(json)),
            ClientOp::Pub {
                subject,
                reply,
                payload,
            } => OwnedOp::Pub {
                subject: own(subject),
                reply: reply.map(own),
                payload: own(payload),
            },
            ClientOp::HPub {
                subject,
                reply,
                header_len,
                message,
            } => OwnedOp::HPub {
                subject: own(subject),
                reply: reply.map(own),
                header_len,
                message: own(message),
            },
            ClientOp::Sub {
                subject,
                queue,
                sid,
            } => OwnedOp::Sub {
                subject: own(subject),
                queue: queue.map(own),
                sid: own(sid),
            },
            ClientOp::Unsub { sid, max } => OwnedOp::Unsub { sid: own(sid), max },
            ClientOp::Ping => OwnedOp::Ping,
            ClientOp::Pong => OwnedOp::Pong,
        }
    }
}

impl OwnedOp {
    pub fn as_op(&self) -> ClientOp<'_> {
        match self {
            OwnedOp::Connect(json) => ClientOp::Connect(json),
            OwnedOp::Pub {
                subject,
                reply,
                payload,
            } => ClientOp::Pub {
                subject,
                reply: reply.as_deref(),
                payload,
            },
            OwnedOp::HPub {
                subject,
                reply,
                header_len,
                message,
            } => ClientOp::HPub {
                subject,
                reply: reply.as_deref(),
                header_len: *header_len,
                message,
            },
            OwnedOp::Sub {
                subject,
                queue,
                sid,
            } => ClientOp::Sub {
                subject,
                queue: queue.as_deref(),
                sid,
            },
            OwnedOp::Unsub { sid, max } => ClientOp::Unsub { sid, max: *max },
            OwnedOp::Ping => ClientOp::Ping,
            OwnedOp::Pong => ClientOp::Pong,
        }
    }
}
