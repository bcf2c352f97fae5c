use super::*;

/// A masked client frame.
fn client_frame(b0: u8, payload: &[u8], key: [u8; 4]) -> Vec<u8> {
    let mut f = vec![b0];
    match payload.len() {
        0..=125 => f.push(0x80 | payload.len() as u8),
        126..=0xffff => {
            f.push(0x80 | 126);
            f.extend_from_slice(&(payload.len() as u16).to_be_bytes());
        }
        n => {
            f.push(0x80 | 127);
            f.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    f.extend_from_slice(&key);
    let mut p = payload.to_vec();
    mask::unmask_bytes(&mut p, key, 0);
    f.extend_from_slice(&p);
    f
}

#[derive(Debug, PartialEq, Eq)]
enum Seen {
    Data(Vec<u8>, bool),
    End,
    Ping(Vec<u8>),
    Pong,
    Close(Option<u16>, Vec<u8>),
}

/// Decodes `stream` cut at every position in `cuts`; returns the events
/// (data of one message joined) or the violation.
fn decode_split(stream: &[u8], cuts: &[usize], compression: bool) -> Result<Vec<Seen>, Violation> {
    let mut d = Decoder::new(true, compression);
    let mut seen = Vec::new();
    let mut data: Vec<u8> = Vec::new();
    let mut bufs = Vec::new();
    let mut at = 0;
    for &c in cuts.iter().chain(std::iter::once(&stream.len())) {
        bufs.push(stream[at..c.max(at)].to_vec());
        at = c.max(at);
    }
    for mut b in bufs {
        d.decode(&mut b, &mut |e| {
            match e {
                Event::Data {
                    bytes,
                    compressed,
                    end,
                } => {
                    data.extend_from_slice(bytes);
                    if end {
                        seen.push(Seen::Data(std::mem::take(&mut data), compressed));
                        seen.push(Seen::End);
                    }
                }
                Event::Ping(p) => seen.push(Seen::Ping(p.to_vec())),
                Event::Pong => seen.push(Seen::Pong),
                Event::Close { code, reason } => seen.push(Seen::Close(code, reason.to_vec())),
            }
            true
        })?;
    }
    assert!(d.is_idle(), "a whole stream leaves nothing partial");
    Ok(seen)
}

fn key() -> [u8; 4] {
    [0xa1, 0x07, 0x5c, 0xee]
}

#[test]
fn frames_of_every_length_form_decode_at_every_split() {
    for len in [0usize, 1, 125, 126, 127, 1000, 65535, 65536, 70000] {
        let payload: Vec<u8> = (0..len).map(|i| (i % 253) as u8).collect();
        let stream = client_frame(0x82, &payload, key());
        let cuts: Vec<Vec<usize>> = if len < 200 {
            (0..=stream.len()).map(|c| vec![c]).collect()
        } else {
            vec![
                vec![1],
                vec![2],
                vec![3],
                vec![5],
                vec![9],
                vec![13],
                vec![14],
                vec![15],
                vec![stream.len() / 2],
                vec![1, 2, 3, 4, 5, 6, 7, 8, 9, 10],
            ]
        };
        for c in cuts {
            let seen = decode_split(&stream, &c, false).unwrap();
            assert_eq!(
                seen,
                vec![Seen::Data(payload.clone(), false), Seen::End],
                "len {len} cuts {c:?}"
            );
        }
    }
}

#[test]
fn fragments_with_control_frames_between_them_join_into_one_message() {
    let mut s = client_frame(0x01, b"PUB a 5\r\n", key()); // text, no FIN
    s.extend(client_frame(0x89, b"hi", key())); // PING between fragments
    s.extend(client_frame(0x00, b"hel", key())); // continuation
    s.extend(client_frame(0x8A, b"", key())); // PONG
    s.extend(client_frame(0x80, b"lo\r\n", key())); // final continuation
    for cut in 0..=s.len() {
        let seen = decode_split(&s, &[cut], false).unwrap();
        assert_eq!(
            seen,
            vec![
                Seen::Ping(b"hi".to_vec()),
                Seen::Pong,
                Seen::Data(b"PUB a 5\r\nhello\r\n".to_vec(), false),
                Seen::End
            ],
            "cut {cut}"
        );
    }
}

#[test]
fn close_frames_are_checked_and_reported() {
    let mut ok = 1000u16.to_be_bytes().to_vec();
    ok.extend_from_slice("bye ✓".as_bytes());
    assert_eq!(
        decode_split(&client_frame(0x88, &ok, key()), &[], false).unwrap(),
        vec![Seen::Close(Some(1000), "bye ✓".as_bytes().to_vec())]
    );
    assert_eq!(
        decode_split(&client_frame(0x88, b"", key()), &[], false).unwrap(),
        vec![Seen::Close(None, vec![])]
    );
    let err =
        |payload: &[u8]| decode_split(&client_frame(0x88, payload, key()), &[], false).unwrap_err();
    assert_eq!(err(b"\x03").code, close::PROTOCOL_ERROR);
    for bad in [999u16, 1004, 1005, 1006, 1015, 1016, 2999, 5000] {
        assert_eq!(err(&bad.to_be_bytes()).code, close::PROTOCOL_ERROR, "{bad}");
    }
    for good in [1000u16, 1001, 1003, 1007, 1014, 3000, 4999] {
        assert!(
            decode_split(&client_frame(0x88, &good.to_be_bytes(), key()), &[], false).is_ok(),
            "{good}"
        );
    }
    let mut bad_utf8 = 1000u16.to_be_bytes().to_vec();
    bad_utf8.extend_from_slice(&[0xff, 0xfe]);
    assert_eq!(err(&bad_utf8).code, close::INVALID_PAYLOAD);
}

#[test]
fn each_rule_of_the_header_is_a_protocol_error() {
    let err = |s: Vec<u8>, compression: bool| decode_split(&s, &[], compression).unwrap_err();
    // RSV2, RSV3.
    assert_eq!(
        err(client_frame(0xA2, b"x", key()), true).code,
        close::PROTOCOL_ERROR
    );
    assert_eq!(
        err(client_frame(0x92, b"x", key()), true).code,
        close::PROTOCOL_ERROR
    );
    // RSV1 without compression agreed, and on a control frame.
    assert_eq!(
        err(client_frame(0xC2, b"x", key()), false).code,
        close::PROTOCOL_ERROR
    );
    assert_eq!(
        err(client_frame(0xC9, b"x", key()), true).code,
        close::PROTOCOL_ERROR
    );
    // Unknown opcodes.
    for op in [3u8, 4, 5, 6, 7, 0xB, 0xC, 0xD, 0xE, 0xF] {
        assert_eq!(
            err(client_frame(0x80 | op, b"x", key()), false).reason,
            "unknown opcode"
        );
    }
    // Unmasked.
    assert_eq!(
        err(vec![0x82, 0x01, b'x'], false).reason,
        "mask bit missing"
    );
    // A control frame too long, or not final.
    assert_eq!(
        err(client_frame(0x89, &[0; 126], key()), false).code,
        close::PROTOCOL_ERROR
    );
    assert_eq!(
        err(client_frame(0x09, b"", key()), false).code,
        close::PROTOCOL_ERROR
    );
    // A 64-bit length with the top bit set.
    let mut huge = vec![0x82, 0x80 | 127];
    huge.extend_from_slice(&(1u64 << 63).to_be_bytes());
    huge.extend_from_slice(&key());
    assert_eq!(err(huge, false).reason, "invalid 64-bit payload length");
    // A new message before the previous one's final frame.
    let mut s = client_frame(0x02, b"a", key());
    s.extend(client_frame(0x82, b"b", key()));
    assert_eq!(err(s, false).code, close::PROTOCOL_ERROR);
    // A continuation with nothing to continue, and one with RSV1.
    assert_eq!(
        err(client_frame(0x80, b"a", key()), false).reason,
        "invalid continuation frame"
    );
    let mut s = client_frame(0x42, b"a", key());
    s.extend(client_frame(0xC0, b"b", key()));
    assert_eq!(err(s, true).reason, "invalid continuation frame");
}

#[test]
fn compressed_messages_are_marked_on_every_fragment() {
    let mut s = client_frame(0x42, b"ab", key());
    s.extend(client_frame(0x80, b"cd", key()));
    assert_eq!(
        decode_split(&s, &[7], true).unwrap(),
        vec![Seen::Data(b"abcd".to_vec(), true), Seen::End]
    );
}

#[test]
fn no_mask_required_when_the_client_asked_for_none() {
    let mut d = Decoder::new(false, false);
    let mut got = Vec::new();
    d.decode(&mut [0x82, 0x02, b'h', b'i'], &mut |e| {
        if let Event::Data { bytes, .. } = e {
            got.extend_from_slice(bytes);
        }
        true
    })
    .unwrap();
    assert_eq!(got, b"hi");
}

#[test]
fn headers_are_the_shortest_form() {
    for (len, expect) in [
        (0usize, vec![0x82, 0]),
        (125, vec![0x82, 125]),
        (126, vec![0x82, 126, 0, 126]),
        (65535, vec![0x82, 126, 0xff, 0xff]),
        (65536, vec![0x82, 127, 0, 0, 0, 0, 0, 1, 0, 0]),
    ] {
        let mut room = [0u8; MAX_SERVER_HEADER];
        let at = header(&mut room, true, true, false, len);
        assert_eq!(room[at..].to_vec(), expect, "len {len}");
    }
    let mut room = [0u8; MAX_SERVER_HEADER];
    let at = header(&mut room, true, false, true, 3);
    assert_eq!(room[at..], [0x42, 3]);
    let at = header(&mut room, false, true, false, 3);
    assert_eq!(room[at..], [0x80, 3]);
}

#[test]
fn a_close_reason_is_cut_on_a_character_boundary() {
    let mut out = Vec::new();
    let reason = "é".repeat(100); // 200 bytes
    write_close(&mut out, 1002, reason.as_bytes());
    assert_eq!(out[0], 0x88);
    let len = out[1] as usize;
    assert!(len <= 125);
    assert_eq!(u16::from_be_bytes([out[2], out[3]]), 1002);
    assert!(std::str::from_utf8(&out[4..]).is_ok());
    assert_eq!(len, 2 + 122);
}
