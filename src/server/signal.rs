//! `--signal CMD[=PID|PID_FILE]` (nats-server's `-sl`): sends a running
//! server the signal for CMD, as nats-server's command does. Without a pid,
//! the one ringnats process running is found by name.

use std::path::Path;

/// The signal nats-server sends for each command.
fn signal_of(command: &str) -> Result<libc::c_int, String> {
    Ok(match command {
        "stop" => libc::SIGKILL,
        "quit" => libc::SIGINT,
        "term" => libc::SIGTERM,
        "reopen" => libc::SIGUSR1,
        "reload" => libc::SIGHUP,
        "ldm" => libc::SIGUSR2,
        _ => return Err(format!("unknown signal {command:?}")),
    })
}

/// Carries out `--signal`: `Err` with the text nats-server prints.
pub fn send(arg: &str) -> Result<(), String> {
    let mut parts = arg.split('=');
    let command = parts.next().unwrap_or("");
    let target = parts.next();
    let rest: Vec<&str> = parts.collect();
    if !rest.is_empty() {
        return Err(format!("invalid signal parameters: {rest:?}"));
    }
    let signal = signal_of(command)?;
    let pid = match target {
        Some(t) => pid_from(t)?,
        None => running()?,
    };
    // SAFETY: kill(2) with a pid and a signal number; no memory involved.
    if unsafe { libc::kill(pid, signal) } != 0 {
        let e = std::io::Error::last_os_error();
        return Err(format!("signal {command:?} {pid}: {e}"));
    }
    Ok(())
}

/// A pid, or the pid in the file of that name.
fn pid_from(target: &str) -> Result<libc::pid_t, String> {
    let text = match std::fs::read_to_string(Path::new(target)) {
        Ok(text) => text,
        Err(_) => target.to_string(),
    };
    let text = text.trim();
    text.parse::<libc::pid_t>()
        .ok()
        .filter(|&p| p > 0)
        .ok_or_else(|| format!("invalid pid: {text}"))
}

/// The one other ringnats process running.
fn running() -> Result<libc::pid_t, String> {
    let me = std::process::id() as libc::pid_t;
    let mut found = Vec::new();
    let entries = std::fs::read_dir("/proc").map_err(|e| e.to_string())?;
    for e in entries.flatten() {
        let Some(pid) = e
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<libc::pid_t>().ok())
        else {
            continue;
        };
        let comm = std::fs::read_to_string(e.path().join("comm")).unwrap_or_default();
        if pid != me && comm.trim() == "ringnats" {
            found.push(pid);
        }
    }
    match found.as_slice() {
        [] => Err("no ringnats processes running".into()),
        [one] => Ok(*one),
        many => Err(format!(
            "multiple ringnats processes running:\n{}",
            many.iter()
                .map(|p| p.to_string())
                .collect::<Vec<_>>()
                .join("\n")
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_map_to_nats_servers_signals() {
        assert_eq!(signal_of("reload"), Ok(libc::SIGHUP));
        assert_eq!(signal_of("reopen"), Ok(libc::SIGUSR1));
        assert_eq!(signal_of("quit"), Ok(libc::SIGINT));
        assert!(signal_of("bogus").is_err());
        assert_eq!(pid_from("123"), Ok(123));
        assert_eq!(pid_from("x1"), Err("invalid pid: x1".into()));
        assert_eq!(
            send("quit=1=2"),
            Err("invalid signal parameters: [\"2\"]".into())
        );
    }
}
