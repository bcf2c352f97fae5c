//! SIGHUP: the configuration read again and put in force without a
//! restart, as nats-server reloads it. What nats-server reloads is
//! reloaded here: logging, TLS certificates, users, tokens, NKEYs,
//! permissions and account limits (every connection's login decided
//! again), connection and message limits, PINGs, the lame duck timings,
//! the pid file. A change nats-server refuses to reload (a port, a host,
//! the websocket block, JWT mode's operators, ...) refuses the whole
//! reload with its words, `config reload not supported for Port: old=4222,
//! new=4223`, and the configuration in use stays as it was.

use std::fmt::Debug;
use std::sync::Arc;
use std::time::Duration;

use super::ServerContext;
use crate::config::Options;

/// How long the shards have to put a reload in force.
const PATIENCE: Duration = Duration::from_secs(5);

/// Reads the configuration again (`read`) and puts it in force; the new
/// context, or why the configuration in use stays.
pub fn reload(
    current: &Arc<ServerContext>,
    read: &dyn Fn() -> Result<Options, String>,
) -> Result<Arc<ServerContext>, String> {
    let new = read()?;
    let old = &current.opts;
    refuse_unsupported(old, &new)?;
    let tls = new
        .tls
        .as_ref()
        .map(crate::tls::server_config)
        .transpose()
        .map_err(|e| format!("TLS configuration of the client port: {e}"))?;
    let ws_tls = new
        .websocket
        .as_ref()
        .and_then(|w| w.tls.as_ref())
        .map(crate::tls::server_config)
        .transpose()
        .map_err(|e| format!("TLS configuration of the websocket port: {e}"))?;
    // What can fail comes first, and undoes itself: nothing changes
    // unless the whole reload goes through.
    let new_pid_file = new
        .pid_file
        .as_ref()
        .filter(|_| new.pid_file != old.pid_file);
    if let Some(path) = new_pid_file {
        std::fs::write(path, std::process::id().to_string())
            .map_err(|e| format!("Could not write pidfile: {e}"))?;
    }
    if logging_changed(old, &new) {
        if let Err(e) = crate::log::init(super::log_settings(&new)) {
            if let Some(path) = new_pid_file {
                let _ = std::fs::remove_file(path);
            }
            return Err(format!("cannot open the log: {e}"));
        }
    }
    if new.pid_file != old.pid_file {
        if let Some(path) = &old.pid_file {
            let _ = std::fs::remove_file(path);
        }
    }
    let notes = changes(old, &new);
    let ctx = Arc::new(current.reloaded(new, tls, ws_tls));
    ctx.rt.set_current(&ctx);
    let kept = ctx.rt.desk.put_in_force(&ctx, PATIENCE);
    if kept.len() < ctx.shards {
        crate::warn!(
            "the reloaded configuration is in force on {} of {} shards so far",
            kept.len(),
            ctx.shards
        );
    }
    // Then lowered connection limits close the connections still over
    // them (as nats-server does), shared out among the shards.
    let total: usize = kept.iter().map(|k| k.total).sum();
    let server_excess = total.saturating_sub(ctx.opts.max_connections);
    let mut by_account = vec![0; ctx.accounts.len()];
    for k in &kept {
        for (n, kept) in by_account.iter_mut().zip(&k.by_account) {
            *n += kept;
        }
    }
    let accounts = ctx.auth.over_limits(&by_account);
    if server_excess > 0 || accounts.iter().any(|&n| n > 0) {
        *ctx.rt.excess.lock().unwrap_or_else(|e| e.into_inner()) = (server_excess, accounts);
        ctx.rt.desk.trim(PATIENCE);
    }
    for n in notes {
        crate::info!("Reloaded: {n}");
    }
    Ok(ctx)
}

/// nats-server's refusal for a changed option it does not reload.
fn refused(name: &str, old: &impl Debug, new: &impl Debug) -> String {
    format!(
        "config reload not supported for {name}: old={}, new={}",
        shown(old),
        shown(new)
    )
}

/// A value as Go's `%v` would print it, near enough: no `Some(..)`, no
/// quotes, nothing for `None`.
fn shown(v: &impl Debug) -> String {
    let s = format!("{v:?}");
    let s = match s.strip_prefix("Some(").and_then(|s| s.strip_suffix(')')) {
        Some(inner) => inner.to_string(),
        None if s == "None" => String::new(),
        None => s,
    };
    s.trim_matches('"').to_string()
}

/// Refuses what nats-server does not reload, naming it as nats-server
/// names it (its option's Go field).
fn refuse_unsupported(old: &Options, new: &Options) -> Result<(), String> {
    macro_rules! fixed {
        ($($field:ident => $name:literal),* $(,)?) => {
            $(
                if old.$field != new.$field {
                    return Err(refused($name, &old.$field, &new.$field));
                }
            )*
        };
    }
    fixed! {
        host => "Host",
        server_name => "ServerName",
        http_host => "HTTPHost",
        http_port => "HTTPPort",
        https_port => "HTTPSPort",
        http_base_path => "HTTPBasePath",
        no_header_support => "NoHeaderSupport",
        proxy_protocol => "ProxyProtocol",
        max_closed_clients => "MaxClosedClients",
        system_account => "SystemAccount",
        shards => "Shards",
        idle_spin => "IdleSpin",
        trusted_operators => "TrustedOperators",
        operator => "TrustedKeys",
        leafnodes => "LeafNode",
        client_advertise => "ClientAdvertise",
    }
    // Port 0 asks for the default or any port: nothing to compare.
    if new.port != 0 && old.port != new.port {
        return Err(refused("Port", &old.port, &new.port));
    }
    // The websocket block, its certificates aside.
    let without_tls = |w: &Option<crate::config::options::WebsocketOptions>| {
        w.clone().map(|mut w| {
            w.tls = None;
            w
        })
    };
    if without_tls(&old.websocket) != without_tls(&new.websocket) {
        return Err(refused("Websocket", &"{...}", &"{...}"));
    }
    // Users, permissions and limits change within the accounts there are;
    // accounts come and go only with a restart here (each shard's subject
    // index is per account).
    let names = |o: &Options| {
        o.accounts
            .iter()
            .map(|a| a.name.clone())
            .collect::<Vec<_>>()
    };
    if names(old) != names(new) {
        return Err(refused("Accounts", &names(old), &names(new)));
    }
    Ok(())
}

fn logging_changed(old: &Options, new: &Options) -> bool {
    (
        old.debug,
        old.trace,
        old.logtime,
        &old.log_file,
        old.log_size_limit,
        old.log_max_files,
        old.syslog,
        &old.remote_syslog,
    ) != (
        new.debug,
        new.trace,
        new.logtime,
        &new.log_file,
        new.log_size_limit,
        new.log_max_files,
        new.syslog,
        &new.remote_syslog,
    )
}

/// What the reload changed, for the log (`Reloaded: debug = true`), in
/// nats-server's words where it has them.
fn changes(old: &Options, new: &Options) -> Vec<String> {
    let mut notes = Vec::new();
    macro_rules! note {
        ($($field:ident => $name:literal),* $(,)?) => {
            $(
                if old.$field != new.$field {
                    notes.push(format!("{} = {}", $name, shown(&new.$field)));
                }
            )*
        };
    }
    note! {
        debug => "debug",
        trace => "trace",
        logtime => "logtime",
        log_file => "log_file",
        syslog => "syslog",
        remote_syslog => "remote_syslog",
        max_connections => "max_connections",
        max_payload => "max_payload",
        max_control_line => "max_control_line",
        max_pending => "max_pending",
        max_subscriptions => "max_subscriptions",
        ping_max => "ping_max",
        pid_file => "pid_file",
    }
    if old.ping_interval != new.ping_interval {
        notes.push(format!("ping_interval = {:?}", new.ping_interval));
    }
    if old.write_deadline != new.write_deadline {
        notes.push(format!("write_deadline = {:?}", new.write_deadline));
    }
    if old.tls != new.tls {
        let state = if new.tls.is_some() {
            "enabled"
        } else {
            "disabled"
        };
        notes.push(format!("tls = {state}"));
    }
    if old.auth != new.auth || old.accounts != new.accounts || old.no_auth_user != new.no_auth_user
    {
        notes.push("authorization users".into());
    }
    if (old.lame_duck_duration, old.lame_duck_grace_period)
        != (new.lame_duck_duration, new.lame_duck_grace_period)
    {
        notes.push("lame duck timings".into());
    }
    notes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn start_only_options_are_refused_in_nats_servers_words() {
        let old = Options::default();
        let new = Options {
            port: 4223,
            ..Options::default()
        };
        assert_eq!(
            refuse_unsupported(&old, &new),
            Err("config reload not supported for Port: old=4222, new=4223".into())
        );
        let new = Options {
            http_port: Some(8222),
            ..Options::default()
        };
        assert_eq!(
            refuse_unsupported(&old, &new),
            Err("config reload not supported for HTTPPort: old=, new=8222".into())
        );
        // A random port asked again is no change; limits and logging reload.
        let new = Options {
            port: 0,
            debug: true,
            max_payload: 10,
            ..Options::default()
        };
        assert_eq!(refuse_unsupported(&old, &new), Ok(()));
        assert_eq!(changes(&old, &new), ["debug = true", "max_payload = 10"]);
    }
}
