//! A listener in PROXY mode (`proxy_protocol: true`): the load balancer's
//! PROXY header is read off the socket before anything else and exactly
//! its bytes are consumed, so what follows (a TLS ClientHello, an HTTP
//! upgrade, CONNECT) is read as if the header had never been there.
//! Bytes are peeked, judged by `protocol::proxy`, and only header bytes
//! are taken: no buffer has to be handed on to the next stage.

use std::net::SocketAddr;
use std::time::Duration;

use super::Stream;
use crate::protocol::proxy::{self, Parsed, Proxied};

/// nats-server gives a client this long to send its PROXY header.
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(5);
/// Bytes looked at per peek: every usual header fits (v1 at most 107).
const PEEK: usize = 512;

/// Why a connection is refused, and the first byte it sent (if any), to
/// answer it in its own protocol.
pub struct Refusal {
    pub why: String,
    pub first: Option<u8>,
}

/// Reads the header; the client's real address (`peer` when the header
/// says LOCAL or UNKNOWN, a health check), or why the connection must be
/// refused.
pub async fn read_header<S: Stream>(stream: &S, peer: SocketAddr) -> Result<SocketAddr, Refusal> {
    let first = std::cell::Cell::new(None);
    match tokio::time::timeout(HEADER_TIMEOUT, header(stream, &first)).await {
        Ok(Ok(Proxied::Peer { source, .. })) => Ok(source),
        Ok(Ok(Proxied::Local)) => Ok(peer),
        Ok(Err(why)) => Err(Refusal {
            why,
            first: first.get(),
        }),
        Err(_) => Err(Refusal {
            why: "no PROXY protocol header in time".into(),
            first: first.get(),
        }),
    }
}

async fn header<S: Stream>(
    stream: &S,
    first: &std::cell::Cell<Option<u8>>,
) -> Result<Proxied, String> {
    // Header bytes taken so far: while the header is incomplete, every
    // byte that has arrived is part of it.
    let mut taken: Vec<u8> = Vec::new();
    loop {
        let (res, seen) = stream.peek(Vec::with_capacity(PEEK)).await;
        if first.get().is_none() {
            first.set(seen.first().copied());
        }
        match res {
            Ok(0) => return Err("connection closed before its PROXY protocol header".into()),
            Ok(_) => {}
            Err(e) => return Err(format!("reading the PROXY protocol header: {e}")),
        }
        let mut candidate = taken.clone();
        candidate.extend_from_slice(&seen);
        match proxy::parse(&candidate).map_err(|e| e.to_string())? {
            Parsed::Incomplete => {
                take(stream, seen.len()).await?;
                taken = candidate;
            }
            Parsed::Done { len, proxied } => {
                take(stream, len - taken.len()).await?;
                return Ok(proxied);
            }
        }
    }
}

/// Consumes `n` bytes that have been peeked (so they are there).
async fn take<S: Stream>(stream: &S, mut n: usize) -> Result<(), String> {
    while n > 0 {
        let (res, _) = stream.read(Vec::with_capacity(n)).await;
        match res {
            Ok(0) => return Err("connection closed in its PROXY protocol header".into()),
            Ok(k) => n -= k.min(n),
            Err(e) => return Err(format!("reading the PROXY protocol header: {e}")),
        }
    }
    Ok(())
}
