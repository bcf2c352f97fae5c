//! Logging in nats-server's format: `[pid] 2006/01/02 15:04:05.000000 [INF] text`
//! (no time with `logtime: false`), to stderr or to `log_file`. `-D` adds
//! [DBG] lines, `-V` [TRC] lines.

use std::fs::File;
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, OnceLock};

struct Logger {
    pid: u32,
    time: bool,
    file: Option<Mutex<File>>,
}

static LOGGER: OnceLock<Logger> = OnceLock::new();
static DEBUG: AtomicBool = AtomicBool::new(false);
static TRACE: AtomicBool = AtomicBool::new(false);

/// Sets the logger up once, before the shards start.
pub fn init(
    debug: bool,
    trace: bool,
    time: bool,
    file: Option<&std::path::Path>,
) -> std::io::Result<()> {
    DEBUG.store(debug, Ordering::Relaxed);
    TRACE.store(trace, Ordering::Relaxed);
    let file = match file {
        Some(p) => Some(Mutex::new(
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(p)?,
        )),
        None => None,
    };
    let _ = LOGGER.set(Logger {
        pid: std::process::id(),
        time,
        file,
    });
    Ok(())
}

pub fn debug_enabled() -> bool {
    DEBUG.load(Ordering::Relaxed)
}

pub fn trace_enabled() -> bool {
    TRACE.load(Ordering::Relaxed)
}

#[doc(hidden)]
pub fn write(level: &str, args: std::fmt::Arguments<'_>) {
    let (pid, time, file) = match LOGGER.get() {
        Some(l) => (l.pid, l.time, l.file.as_ref()),
        None => (std::process::id(), true, None),
    };
    let mut line = String::with_capacity(128);
    use std::fmt::Write as _;
    let _ = write!(line, "[{pid}] ");
    if time {
        line.push_str(&local_time());
        line.push(' ');
    }
    let _ = writeln!(line, "[{level}] {args}");
    match file {
        Some(f) => {
            let _ = f.lock().map(|mut f| f.write_all(line.as_bytes()));
        }
        None => {
            let _ = std::io::stderr().write_all(line.as_bytes());
        }
    }
}

/// Local time as nats-server prints it: 2006/01/02 15:04:05.000000.
fn local_time() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let secs = now.as_secs() as libc::time_t;
    // SAFETY: localtime_r writes only into the tm we own.
    let tm = unsafe {
        let mut tm: libc::tm = std::mem::zeroed();
        libc::localtime_r(&secs, &mut tm);
        tm
    };
    format!(
        "{:04}/{:02}/{:02} {:02}:{:02}:{:02}.{:06}",
        tm.tm_year + 1900,
        tm.tm_mon + 1,
        tm.tm_mday,
        tm.tm_hour,
        tm.tm_min,
        tm.tm_sec,
        now.subsec_micros()
    )
}

#[macro_export]
macro_rules! info {
    ($($t:tt)*) => { $crate::log::write("INF", format_args!($($t)*)) };
}
#[macro_export]
macro_rules! warn {
    ($($t:tt)*) => { $crate::log::write("WRN", format_args!($($t)*)) };
}
#[macro_export]
macro_rules! error {
    ($($t:tt)*) => { $crate::log::write("ERR", format_args!($($t)*)) };
}
#[macro_export]
macro_rules! fatal {
    ($($t:tt)*) => { $crate::log::write("FTL", format_args!($($t)*)) };
}
#[macro_export]
macro_rules! debug {
    ($($t:tt)*) => { if $crate::log::debug_enabled() { $crate::log::write("DBG", format_args!($($t)*)) } };
}
#[macro_export]
macro_rules! trace {
    ($($t:tt)*) => { if $crate::log::trace_enabled() { $crate::log::write("TRC", format_args!($($t)*)) } };
}
