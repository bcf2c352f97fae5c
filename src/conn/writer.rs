//! The writing half of a connection: sends whatever has gathered in the
//! outbound buffer, one write at a time, swapping between two buffers so
//! deliveries keep appending while a write is in flight.

use std::rc::Rc;
use std::time::Duration;

use super::{Client, State};
use crate::net::Stream;

/// A buffer that grew past this is dropped after its write, so one burst
/// does not pin memory on an idle connection.
const KEEP_CAPACITY: usize = 64 * 1024;

pub async fn write_loop<S: Stream>(client: Rc<Client>, stream: Rc<S>, deadline: Duration) {
    let mut spare: Vec<u8> = Vec::new();
    loop {
        let empty = client.out.borrow().is_empty();
        match client.state() {
            State::Closing { flush: false } => break,
            State::Closing { flush: true } if empty => break,
            State::Open if empty || client.fenced.get() => {
                client.writer.notified().await;
                continue;
            }
            _ => {}
        }
        let buf = std::mem::replace(&mut *client.out.borrow_mut(), std::mem::take(&mut spare));
        client.in_flight.set(buf.len());
        let written = tokio::time::timeout(deadline, stream.write_all(buf)).await;
        client.in_flight.set(0);
        match written {
            Ok((Ok(()), mut buf)) => {
                buf.clear();
                if buf.capacity() <= KEEP_CAPACITY {
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
