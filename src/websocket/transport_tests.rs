use super::*;
use crate::websocket::mask;

fn masked(b0: u8, payload: &[u8]) -> Vec<u8> {
    let key = [9, 8, 7, 6];
    let mut f = vec![b0];
    if payload.len() < 126 {
        f.push(0x80 | payload.len() as u8);
    } else {
        f.push(0x80 | 126);
        f.extend_from_slice(&(payload.len() as u16).to_be_bytes());
    }
    f.extend_from_slice(&key);
    let mut p = payload.to_vec();
    mask::unmask_bytes(&mut p, key, 0);
    f.extend(p);
    f
}

/// Reads `stream` in one buffer; returns the NATS bytes and the flow.
fn read_all(
    r: &mut WsReader,
    w: &WsWriter,
    mut stream: Vec<u8>,
) -> (Vec<u8>, Result<Flow, Violation>) {
    let mut got = Vec::new();
    let flow = r.read(&mut stream, w, &mut |b| {
        got.extend_from_slice(b);
        true
    });
    (got, flow)
}

fn compressed(data: &[u8]) -> Vec<u8> {
    let mut c = Vec::new();
    deflate::compress(data, &mut c);
    c
}

#[test]
fn compressed_and_plain_messages_give_the_same_nats_bytes() {
    let w = WsWriter::new(Framing::default());
    let mut r = WsReader::new(true, true, 1 << 20);
    let text = b"PUB a 5\r\nhello\r\n".repeat(20);
    let c = compressed(&text);
    let mut s = masked(0x42, &c[..c.len() / 2]);
    s.extend(masked(0x80, &c[c.len() / 2..]));
    s.extend(masked(0x82, b"PING\r\n"));
    let (got, flow) = read_all(&mut r, &w, s);
    assert_eq!(flow, Ok(Flow::Continue));
    let mut expect = text.clone();
    expect.extend_from_slice(b"PING\r\n");
    assert_eq!(got, expect);
    assert!(r.is_idle());
}

#[test]
fn an_inflated_message_over_max_payload_is_too_big() {
    let w = WsWriter::new(Framing::default());
    let mut r = WsReader::new(true, true, 1000);
    let c = compressed(&[b'x'; 5000]);
    let (_, flow) = read_all(&mut r, &w, masked(0xC2, &c));
    assert_eq!(flow.unwrap_err().code, close::MESSAGE_TOO_BIG);
}

#[test]
fn compressed_input_over_its_limit_is_refused_before_it_is_kept() {
    let w = WsWriter::new(Framing::default());
    let mut r = WsReader::new(true, true, 10);
    // The limit is 8 × max_payload = 80 bytes of compressed input.
    let (_, flow) = read_all(&mut r, &w, masked(0x42, &[0u8; 100]));
    assert_eq!(flow.unwrap_err().code, close::MESSAGE_TOO_BIG);
}

#[test]
fn pings_are_answered_and_a_close_is_echoed() {
    let w = WsWriter::new(Framing::default());
    let mut r = WsReader::new(true, false, 1 << 20);
    let (_, flow) = read_all(&mut r, &w, masked(0x89, b"abc"));
    assert_eq!(flow, Ok(Flow::Continue));
    assert!(w.has_control());
    let mut close = 1001u16.to_be_bytes().to_vec();
    close.extend_from_slice(b"bye");
    let mut s = masked(0x88, &close);
    s.extend(masked(0x82, b"PING\r\n"));
    let (got, flow) = read_all(&mut r, &w, s);
    assert_eq!(flow, Ok(Flow::Closed));
    assert!(got.is_empty(), "nothing after a CLOSE is read");
    assert_eq!(
        w.take_close_frame().unwrap(),
        [0x88, 5, 0x03, 0xE9, b'b', b'y', b'e']
    );
    assert_eq!(w.take_close_frame(), None);
    // The PONG goes out in front of the next batch.
    let mut batch = vec![0u8; ROOM];
    batch.extend_from_slice(b"+OK\r\n");
    let f = w.frame(batch, Vec::new());
    assert!(!f.in_place);
    assert_eq!(
        f.wire,
        [0x8A, 3, b'a', b'b', b'c', 0x82, 5, b'+', b'O', b'K', b'\r', b'\n']
    );
}

#[test]
fn the_first_close_reason_wins() {
    let w = WsWriter::new(Framing::default());
    w.set_close(close::POLICY_VIOLATION, "Authorization Violation");
    w.set_close(close::GOING_AWAY, "later");
    let f = w.take_close_frame().unwrap();
    assert_eq!(u16::from_be_bytes([f[2], f[3]]), close::POLICY_VIOLATION);
}

fn batch(payload: &[u8]) -> Vec<u8> {
    let mut b = vec![0u8; ROOM];
    b.extend_from_slice(payload);
    b
}

/// Decodes server frames (unmasked) back into messages: (compressed, bytes).
fn messages(mut wire: &[u8]) -> Vec<(bool, Vec<u8>, usize)> {
    let mut out: Vec<(bool, Vec<u8>, usize)> = Vec::new();
    while !wire.is_empty() {
        let (b0, b1) = (wire[0], wire[1]);
        assert_eq!(b1 & 0x80, 0, "server frames are not masked");
        let (len, at) = match b1 & 0x7f {
            126 => (u16::from_be_bytes([wire[2], wire[3]]) as usize, 4),
            127 => (
                u64::from_be_bytes(wire[2..10].try_into().unwrap()) as usize,
                10,
            ),
            l => (l as usize, 2),
        };
        let payload = &wire[at..at + len];
        if b0 & 0x0f == 0 {
            let last = out.last_mut().unwrap();
            last.1.extend_from_slice(payload);
            last.2 += 1;
        } else {
            out.push((b0 & 0x40 != 0, payload.to_vec(), 1));
        }
        wire = &wire[at + len..];
    }
    out
}

#[test]
fn one_frame_in_place_for_a_plain_client() {
    let w = WsWriter::new(Framing::default());
    for len in [1usize, 125, 126, 70_000] {
        let payload = vec![b'm'; len];
        let f = w.frame(batch(&payload), Vec::new());
        assert!(f.in_place);
        assert_eq!(messages(&f.wire[f.from..]), vec![(false, payload, 1)]);
    }
}

#[test]
fn browsers_get_frames_of_at_most_4096_bytes() {
    let w = WsWriter::new(Framing {
        browser: true,
        ..Framing::default()
    });
    let payload: Vec<u8> = (0..10_000).map(|i| i as u8).collect();
    let f = w.frame(batch(&payload), Vec::new());
    let m = messages(&f.wire[f.from..]);
    assert_eq!(m.len(), 3);
    assert!(m.iter().all(|(c, b, _)| !c && b.len() <= BROWSER_FRAME));
    assert_eq!(
        m.iter().flat_map(|x| x.1.clone()).collect::<Vec<_>>(),
        payload
    );
}

#[test]
fn compressed_batches_inflate_back_and_small_ones_stay_plain() {
    for framing in [
        Framing {
            compression: true,
            ..Framing::default()
        },
        Framing {
            compression: true,
            browser: true,
            ..Framing::default()
        },
        Framing {
            compression: true,
            browser: true,
            no_compressed_fragments: true,
        },
    ] {
        let w = WsWriter::new(framing);
        let payload: Vec<u8> = (0..200_000u32)
            .flat_map(|i| (i % 1000).to_le_bytes())
            .collect();
        let f = w.frame(batch(&payload), Vec::new());
        let m = messages(&f.wire[f.from..]);
        assert_eq!(m.len(), 1, "{framing:?}");
        let (c, mut bytes, frames) = m.into_iter().next().unwrap();
        assert!(c);
        let fragmented = framing.browser && !framing.no_compressed_fragments;
        assert_eq!(frames > 1, fragmented, "{framing:?}");
        let back = deflate::inflate(&mut bytes, 1 << 20, |b| b.to_vec()).unwrap();
        assert_eq!(back, payload);

        let small = w.frame(batch(b"PONG\r\n"), Vec::new());
        assert!(small.in_place);
        assert_eq!(
            messages(&small.wire[small.from..]),
            vec![(false, b"PONG\r\n".to_vec(), 1)]
        );
    }
}
