//! The writing half of a connection: sends whatever has gathered in the
//! outbound buffer, one write at a time, swapping between two buffers so
//! deliveries keep appending while a write is in flight. A WebSocket
//! client's batch is framed here, just before the write (`WsWriter`), and
//! its connection ends with a CLOSE frame when it has one owed.

use std::rc::Rc;
use std::time::Duration;

use crate::conn::{Client, Reason, State};
use crate::net::Stream;

/// While more output is waiting, the written buffer is kept for the next
/// write up to this size: growing a fresh buffer for every batch costs a
/// chain of reallocations, each copying what was already gathered. Once
/// the connection has nothing more to send, a buffer over `IDLE_CAPACITY`
/// is let go, so a quiet connection holds little.
const KEEP_CAPACITY: usize = 4 * 1024 * 1024;
const IDLE_CAPACITY: usize = 64 * 1024;

pub async fn write_loop<S: Stream>(client: Rc<Client>, stream: Rc<S>, deadline: Duration) {
    let mut spare: Vec<u8> = Vec::new();
    // Frames built apart from the batch (WebSocket, when they cannot be
    // framed in place).
    let mut spare_wire: Vec<u8> = Vec::new();
    let mut delivered = 0;
    loop {
        let empty = !client.has_output();
        match client.state() {
            State::Closing { flush: false } => break,
            State::Closing { flush: true } if empty => {
                if let Some(close) = client.ws().and_then(|w| w.take_close_frame()) {
                    let _ = tokio::time::timeout(deadline, stream.write_all(close, 0)).await;
                }
                break;
            }
            State::Open if empty || client.is_fenced() => {
                client.writer_wakeup().await;
                continue;
            }
            _ => {}
        }
        let batch = client.take_output(std::mem::take(&mut spare));
        let (wire, from, other, in_place) = match client.ws() {
            None => (batch, 0, Vec::new(), true),
            Some(ws) => {
                let f = ws.frame(batch, std::mem::take(&mut spare_wire));
                (f.wire, f.from, f.other, f.in_place)
            }
        };
        let written = tokio::time::timeout(deadline, stream.write_all(wire, from)).await;
        client.written();
        match written {
            Ok((Ok(()), written)) => {
                // Messages went out with this batch: activity, as
                // nats-server counts it (the clock read only then).
                let out = client.counters().out_msgs;
                if out != delivered {
                    delivered = out;
                    client.active_at(std::time::Instant::now());
                }
                let keep = if client.has_output() {
                    KEEP_CAPACITY
                } else {
                    IDLE_CAPACITY
                };
                let (mut out, mut wire) = if in_place {
                    (written, other)
                } else {
                    (other, written)
                };
                out.clear();
                wire.clear();
                if out.capacity() <= keep {
                    spare = out;
                }
                if wire.capacity() <= keep {
                    spare_wire = wire;
                }
            }
            Ok((Err(_), _)) => {
                client.close_for(Reason::WriteError, false);
                break;
            }
            Err(_) => {
                crate::debug!("{} write deadline exceeded: slow consumer", client.addr);
                client.close_for(Reason::SlowConsumerWriteDeadline, false);
                break;
            }
        }
    }
    stream.shutdown();
}
