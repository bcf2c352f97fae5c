//! The writing half of a connection: sends whatever has gathered in the
//! outbound buffer, one write at a time, swapping between two buffers so
//! deliveries keep appending while a write is in flight.

use std::rc::Rc;
use std::time::Duration;

use crate::conn::{Client, State};
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
    loop {
        let empty = !client.has_output();
        match client.state() {
            State::Closing { flush: false } => break,
            State::Closing { flush: true } if empty => break,
            State::Open if empty || client.is_fenced() => {
                client.writer_wakeup().await;
                continue;
            }
            _ => {}
        }
        let buf = client.take_output(std::mem::take(&mut spare));
        let written = tokio::time::timeout(deadline, stream.write_all(buf)).await;
        client.written();
        match written {
            Ok((Ok(()), mut buf)) => {
                buf.clear();
                let keep = if client.has_output() {
                    KEEP_CAPACITY
                } else {
                    IDLE_CAPACITY
                };
                if buf.capacity() <= keep {
                    spare = buf;
                }
            }
            Ok((Err(_), _)) => {
                client.close(false);
                break;
            }
            Err(_) => {
                crate::debug!("{} write deadline exceeded: slow consumer", client.addr);
                client.close(false);
                break;
            }
        }
    }
    stream.shutdown();
}
