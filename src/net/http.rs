//! The monitoring port's listener: one thread, one request per connection,
//! answered by `monitor::answer` and closed. A slow client is given up on
//! after a few seconds; monitoring never touches the shards' threads.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::time::Duration;

/// A request head is read within this time, up to `MAX_HEAD` bytes.
const READ_TIMEOUT: Duration = Duration::from_secs(2);
const MAX_HEAD: usize = 8 * 1024;

/// Serves `listener` on a thread of its own until the process ends.
pub fn serve(listener: TcpListener) -> std::io::Result<()> {
    std::thread::Builder::new()
        .name("monitor".into())
        .spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let _ = stream.set_read_timeout(Some(READ_TIMEOUT));
                let _ = stream.set_write_timeout(Some(READ_TIMEOUT));
                let mut head = Vec::with_capacity(1024);
                let mut chunk = [0u8; 1024];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < MAX_HEAD {
                    match stream.read(&mut chunk) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => head.extend_from_slice(&chunk[..n]),
                    }
                }
                let response = crate::monitor::answer(&head);
                let _ = stream.write_all(&response.to_bytes());
            }
        })?;
    Ok(())
}
