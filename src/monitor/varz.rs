//! `/varz`: the server's options and totals, with nats-server's keys.

use std::time::{Duration, SystemTime};

use serde::Serialize;

use super::report::Ask;
use super::time::{go_float, rfc3339_nano, uptime};
use super::{totals, RequestStats, Source};

#[derive(Serialize)]
pub struct Varz {
    pub server_id: String,
    pub server_name: String,
    pub version: String,
    pub proto: i64,
    pub go: String,
    pub host: String,
    pub port: u16,
    #[serde(skip_serializing_if = "is_false")]
    pub auth_required: bool,
    #[serde(skip_serializing_if = "is_false")]
    pub tls_required: bool,
    #[serde(skip_serializing_if = "is_false")]
    pub tls_verify: bool,
    pub max_connections: usize,
    #[serde(skip_serializing_if = "is_zero")]
    pub max_subscriptions: usize,
    /// Nanoseconds, as Go writes a duration.
    pub ping_interval: u128,
    pub ping_max: u32,
    pub http_host: String,
    pub http_port: u16,
    pub http_base_path: String,
    pub https_port: u16,
    /// Seconds.
    #[serde(serialize_with = "go_float")]
    pub auth_timeout: f64,
    pub max_control_line: u32,
    pub max_payload: u32,
    pub max_pending: i64,
    pub cluster: Empty,
    pub gateway: Empty,
    pub leaf: Empty,
    pub mqtt: Empty,
    pub websocket: Websocket,
    pub jetstream: Empty,
    /// Seconds.
    #[serde(serialize_with = "go_float")]
    pub tls_timeout: f64,
    pub write_deadline: u128,
    pub start: String,
    pub now: String,
    pub uptime: String,
    pub mem: u64,
    pub cores: usize,
    pub gomaxprocs: usize,
    #[serde(serialize_with = "go_float")]
    pub cpu: f64,
    pub connections: usize,
    pub total_connections: u64,
    pub routes: u32,
    pub remotes: u32,
    pub leafnodes: u32,
    pub in_msgs: u64,
    pub out_msgs: u64,
    pub in_bytes: u64,
    pub out_bytes: u64,
    pub slow_consumers: u64,
    pub subscriptions: usize,
    pub http_req_stats: RequestStats,
    pub config_load_time: String,
    pub system_account: String,
}

/// What nats-server writes for a subsystem that is off: `{}`.
#[derive(Serialize)]
pub struct Empty {}

/// The websocket block, its unset fields left out as nats-server does.
#[derive(Serialize, Default)]
pub struct Websocket {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub host: String,
    #[serde(skip_serializing_if = "is_zero_u16")]
    pub port: u16,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub advertise: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub no_auth_user: String,
    #[serde(skip_serializing_if = "is_false")]
    pub no_tls: bool,
    #[serde(skip_serializing_if = "is_false")]
    pub same_origin: bool,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub allowed_origins: Vec<String>,
    #[serde(skip_serializing_if = "is_false")]
    pub compression: bool,
    #[serde(skip_serializing_if = "is_zero_u128")]
    pub handshake_timeout: u128,
}

fn is_false(b: &bool) -> bool {
    !*b
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

fn is_zero_u16(n: &u16) -> bool {
    *n == 0
}

fn is_zero_u128(n: &u128) -> bool {
    *n == 0
}

pub fn varz(src: &dyn Source, stats: &RequestStats, now: SystemTime) -> Varz {
    let ctx = src.ctx();
    let opts = &ctx.opts;
    let info = ctx.info();
    let t = totals(&src.ask(&Ask::default()));
    let process = src.process();
    let started = rfc3339_nano(ctx.rt.started);
    let websocket = match (&opts.websocket, &ctx.websocket) {
        (Some(w), Some(c)) => Websocket {
            host: w.host.clone(),
            port: c.info.port,
            advertise: w.advertise.clone().unwrap_or_default(),
            no_auth_user: w.no_auth_user.clone().unwrap_or_default(),
            no_tls: w.no_tls,
            same_origin: w.same_origin,
            allowed_origins: w.allowed_origins.clone(),
            compression: w.compression,
            handshake_timeout: w.handshake_timeout.as_nanos(),
        },
        _ => Websocket::default(),
    };
    Varz {
        server_id: ctx.server_id.clone(),
        server_name: info.server_name.clone(),
        version: info.version.clone(),
        proto: info.proto,
        go: info.go.clone(),
        host: opts.host.clone(),
        port: info.port,
        auth_required: info.auth_required,
        tls_required: info.tls_required,
        tls_verify: info.tls_verify,
        max_connections: opts.max_connections,
        max_subscriptions: opts.max_subscriptions,
        ping_interval: opts.ping_interval.as_nanos(),
        ping_max: opts.ping_max,
        http_host: opts.http_host.clone().unwrap_or_else(|| opts.host.clone()),
        http_port: ctx.http_port,
        http_base_path: opts.http_base_path.clone(),
        https_port: ctx.https_port,
        auth_timeout: ctx.auth.timeout().as_secs_f64(),
        max_control_line: opts.max_control_line,
        max_payload: opts.max_payload,
        max_pending: opts.max_pending,
        cluster: Empty {},
        gateway: Empty {},
        leaf: Empty {},
        mqtt: Empty {},
        websocket,
        jetstream: Empty {},
        tls_timeout: opts
            .tls
            .as_ref()
            .and_then(|t| t.timeout)
            .unwrap_or(crate::tls::DEFAULT_TIMEOUT)
            .as_secs_f64(),
        write_deadline: opts.write_deadline.as_nanos(),
        start: started.clone(),
        now: rfc3339_nano(now),
        uptime: uptime(now.duration_since(ctx.rt.started).unwrap_or(Duration::ZERO)),
        mem: process.rss,
        cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
        gomaxprocs: ctx.shards,
        cpu: (process.cpu * 100.0).round() / 100.0,
        connections: t.connections,
        total_connections: t.total_connections,
        routes: 0,
        remotes: 0,
        leafnodes: 0,
        in_msgs: t.counters.in_msgs,
        out_msgs: t.counters.out_msgs,
        in_bytes: t.counters.in_bytes,
        out_bytes: t.counters.out_bytes,
        slow_consumers: t.slow_consumers,
        subscriptions: t.index.subscriptions,
        http_req_stats: stats.clone(),
        config_load_time: rfc3339_nano(src.loaded()),
        system_account: ctx.system_account().to_string(),
    }
}
