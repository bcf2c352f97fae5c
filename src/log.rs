//! Logging in nats-server's format: `[pid] 2006/01/02 15:04:05.000000 [INF] text`
//! (no time with `logtime: false`), to stderr or to `log_file`. `-D` adds
//! [DBG] lines, `-V` [TRC] lines.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, RwLock};

struct Logger {
    pid: u32,
    time: bool,
    file: Option<Mutex<LogFile>>,
    /// `syslog`/`remote_syslog` (when there is no log file), and its facility.
    syslog: Option<(Mutex<crate::syslog::Syslog>, u8)>,
}

/// The log file, reopened on SIGUSR1 (after logrotate moved it) and
/// rotated by ourselves past `logfile_size_limit`, as nats-server does.
struct LogFile {
    path: PathBuf,
    file: File,
    /// Bytes written to this file (since it was opened or rotated).
    written: u64,
    /// Rotate past this many bytes; 0: never.
    limit: u64,
    /// Backups kept after a rotation; 0: all.
    keep: usize,
    /// Lines carry the time (`logtime`).
    time: bool,
}

/// Set at start, replaced by a reload.
static LOGGER: RwLock<Option<Logger>> = RwLock::new(None);

fn logger() -> std::sync::RwLockReadGuard<'static, Option<Logger>> {
    LOGGER.read().unwrap_or_else(|e| e.into_inner())
}
static DEBUG: AtomicBool = AtomicBool::new(false);
static TRACE: AtomicBool = AtomicBool::new(false);

/// Where and how the log is written.
pub struct Settings<'a> {
    pub debug: bool,
    pub trace: bool,
    pub time: bool,
    pub file: Option<&'a Path>,
    pub size_limit: u64,
    pub max_files: usize,
    /// `syslog: true`.
    pub syslog: bool,
    /// `remote_syslog: udp://host:port` (or tcp://, unix://).
    pub remote_syslog: Option<&'a str>,
}

fn open_append(path: &Path) -> std::io::Result<File> {
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
}

/// Sets the logger up before the shards start, and again on a reload
/// (whatever fails to open leaves the logger as it was).
pub fn init(s: Settings<'_>) -> std::io::Result<()> {
    let file = match s.file {
        Some(p) => {
            let file = open_append(p)?;
            let written = file.metadata().map(|m| m.len()).unwrap_or(0);
            Some(Mutex::new(LogFile {
                path: p.to_path_buf(),
                file,
                written,
                limit: s.size_limit,
                keep: s.max_files,
                time: s.time,
            }))
        }
        None => None,
    };
    // As nats-server: a log file first, else a remote syslog, else the
    // local one.
    let syslog = match (&file, s.remote_syslog, s.syslog) {
        (Some(_), ..) => None,
        (None, Some(url), _) => Some(crate::syslog::Syslog::remote(url)?),
        (None, None, true) => Some(crate::syslog::Syslog::local()?),
        (None, None, false) => None,
    };
    let logger = Logger {
        pid: std::process::id(),
        time: s.time,
        file,
        syslog: syslog.map(|(sink, facility)| (Mutex::new(sink), facility)),
    };
    *LOGGER.write().unwrap_or_else(|e| e.into_inner()) = Some(logger);
    DEBUG.store(s.debug, Ordering::Relaxed);
    TRACE.store(s.trace, Ordering::Relaxed);
    Ok(())
}

/// SIGUSR1: the log file opened again under its name (logrotate moved the
/// old one away); the new file starts by saying so.
pub fn reopen() {
    let reopened = {
        let logger = logger();
        let Some(f) = logger.as_ref().and_then(|l| l.file.as_ref()) else {
            return;
        };
        let Ok(mut f) = f.lock() else { return };
        open_append(&f.path).map(|file| {
            f.written = file.metadata().map(|m| m.len()).unwrap_or(0);
            f.file = file;
        })
    };
    // Logged once the logger is let go (a line takes it again).
    match reopened {
        Ok(()) => crate::info!("File log re-opened"),
        Err(e) => crate::error!("Unable to re-open the log file: {e}"),
    }
}

impl LogFile {
    fn write(&mut self, line: &str) {
        if self.file.write_all(line.as_bytes()).is_ok() {
            self.written += line.len() as u64;
        }
        if self.limit > 0 && self.written > self.limit {
            self.rotate();
        }
    }

    /// Moves the full file aside as `<name>.YYYY.MM.DD.hh.mm.ss.nanos`,
    /// starts a new one saying where the old went, and drops the oldest
    /// backups beyond `keep`.
    fn rotate(&mut self) {
        let backup = format!("{}.{}", self.path.display(), backup_time());
        if std::fs::rename(&self.path, &backup).is_err() {
            // Tried again at twice the size, as nats-server does.
            self.limit *= 2;
            return;
        }
        let Ok(file) = open_append(&self.path) else {
            return;
        };
        self.file = file;
        self.written = 0;
        let note = format_line(
            std::process::id(),
            self.time,
            "INF",
            format_args!("Rotated log, backup saved as {backup:?}"),
        );
        if self.file.write_all(note.as_bytes()).is_ok() {
            self.written = note.len() as u64;
        }
        if self.keep > 0 {
            self.purge();
        }
    }

    fn purge(&self) {
        let (Some(dir), Some(name)) = (self.path.parent(), self.path.file_name()) else {
            return;
        };
        let dir = if dir.as_os_str().is_empty() {
            Path::new(".")
        } else {
            dir
        };
        let stem = format!("{}.", name.to_string_lossy());
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        let mut backups: Vec<PathBuf> = entries
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().starts_with(&stem))
            .map(|e| e.path())
            .collect();
        // The names sort as the times they hold.
        backups.sort();
        let extra = backups.len().saturating_sub(self.keep);
        for old in &backups[..extra] {
            let _ = std::fs::remove_file(old);
        }
    }
}

/// The time in a backup's name: `2006.01.02.15.04.05.000000000`.
fn backup_time() -> String {
    let (tm, nanos) = broken_down(false);
    format!("{}.{nanos:09}", stamp(&tm, '.', '.', '.'))
}

pub fn debug_enabled() -> bool {
    DEBUG.load(Ordering::Relaxed)
}

pub fn trace_enabled() -> bool {
    TRACE.load(Ordering::Relaxed)
}

/// One line as nats-server writes it: `[pid] time [LVL] text`.
fn format_line(pid: u32, time: bool, level: &str, args: std::fmt::Arguments<'_>) -> String {
    let mut line = String::with_capacity(128);
    use std::fmt::Write as _;
    let _ = write!(line, "[{pid}] ");
    if time {
        line.push_str(&local_time());
        line.push(' ');
    }
    let _ = writeln!(line, "[{level}] {args}");
    line
}

#[doc(hidden)]
pub fn write(level: &str, args: std::fmt::Arguments<'_>) {
    let logger = logger();
    let logger = logger.as_ref();
    if let Some((sink, facility)) = logger.and_then(|l| l.syslog.as_ref()) {
        let _ = sink
            .lock()
            .map(|mut s| s.send(*facility, level, &args.to_string()));
        return;
    }
    let (pid, time) = logger.map_or((std::process::id(), true), |l| (l.pid, l.time));
    let line = format_line(pid, time, level, args);
    match logger.and_then(|l| l.file.as_ref()) {
        Some(f) => {
            let _ = f.lock().map(|mut f| f.write(&line));
        }
        None => {
            let _ = std::io::stderr().write_all(line.as_bytes());
        }
    }
}

/// Local time as nats-server prints it: 2006/01/02 15:04:05.000000.
fn local_time() -> String {
    let (tm, nanos) = broken_down(false);
    format!("{}.{:06}", stamp(&tm, '/', ' ', ':'), nanos / 1000)
}

/// Now in UTC as RFC 3339 with seconds (`2006-01-02T15:04:05Z`), as Go's
/// syslog writer stamps network messages.
pub fn rfc3339_now() -> String {
    format!("{}Z", stamp(&broken_down(true).0, '-', 'T', ':'))
}

/// `YYYY<d>MM<d>DD<between>hh<t>mm<t>ss`.
fn stamp(tm: &libc::tm, date: char, between: char, time: char) -> String {
    format!(
        "{:04}{date}{:02}{date}{:02}{between}{:02}{time}{:02}{time}{:02}",
        tm.tm_year + 1900,
        tm.tm_mon + 1,
        tm.tm_mday,
        tm.tm_hour,
        tm.tm_min,
        tm.tm_sec
    )
}

/// Now, broken down in UTC or local time, and its nanoseconds.
fn broken_down(utc: bool) -> (libc::tm, u32) {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let secs = now.as_secs() as libc::time_t;
    // SAFETY: gmtime_r and localtime_r write only into the tm we own.
    let tm = unsafe {
        let mut tm: libc::tm = std::mem::zeroed();
        if utc {
            libc::gmtime_r(&secs, &mut tm);
        } else {
            libc::localtime_r(&secs, &mut tm);
        }
        tm
    };
    (tm, now.subsec_nanos())
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
