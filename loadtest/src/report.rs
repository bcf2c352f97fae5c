//! The result of one run: serialized as ONE JSON object (`--json`; the perf
//! report reads these field names) or printed as a table.

use serde::Serialize;

/// Latency percentiles in microseconds.
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq)]
pub struct Latency {
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub p999: f64,
    pub max: f64,
    pub mean: f64,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Report {
    pub scenario: String,
    /// "tcp", "tls", "ws" or "wss".
    pub transport: String,
    pub url: String,
    /// Payload bytes per message.
    pub size: usize,
    pub publishers: usize,
    pub subscribers: usize,
    /// Messages published after the warm-up (reqrep: requests; conns:
    /// connections asked for).
    pub sent: u64,
    /// Distinct deliveries after the warm-up (pub: messages the server
    /// acknowledged with its PONG; reqrep: replies; conns: connections
    /// opened). Duplicates are never counted here.
    pub received: u64,
    /// Deliveries that should have arrived.
    pub expected: u64,
    /// Messages that never arrived (warm-up traffic included).
    pub lost: u64,
    /// Messages that arrived more than once (queue: at two members).
    pub duplicated: u64,
    /// Measured seconds: from the end of the warm-up to the last delivery.
    pub seconds: f64,
    /// Delivered per second (pub: ingested; reqrep: replies).
    pub msgs_per_sec: f64,
    /// Delivered payload bytes per second.
    pub bytes_per_sec: f64,
    /// reqrep only.
    pub latency_us: Option<Latency>,
    /// conns only (needs --pid).
    pub rss_per_conn_bytes: Option<f64>,
    /// Connections the run used.
    pub connections: usize,

    // Beyond the fields the perf report reads:
    /// Messages that arrived after a later one from the same publisher.
    pub reordered: u64,
    /// Messages no publisher of this run sent.
    pub unexpected: u64,
    /// Published per second (what the publishers pushed).
    pub published_per_sec: f64,
    /// "batch" or "one-per-frame" over WebSocket.
    pub ws_mode: Option<String>,
    /// permessage-deflate was used.
    pub compression: bool,
    pub warmup_seconds: f64,
    /// queue: deliveries per member (after the warm-up).
    pub per_member: Option<Vec<u64>>,
    /// reqrep with --pid: the server's CPU time while requests were
    /// measured, per request (µs) and as a share of one core (%).
    pub server_cpu_us_per_request: Option<f64>,
    pub server_cpu_percent: Option<f64>,
    /// conns: server RSS before and after, bytes.
    pub rss_before_bytes: Option<u64>,
    pub rss_after_bytes: Option<u64>,
    /// Loss was allowed (--allow-loss).
    pub allow_loss: bool,
    /// Things the reader should know (limits hit, fallbacks taken).
    pub notes: Vec<String>,
}

impl Report {
    /// Nothing lost, duplicated, reordered or foreign, and every expected
    /// delivery counted (or loss was allowed).
    pub fn ok(&self) -> bool {
        self.allow_loss || self.problems().is_empty()
    }

    /// What is wrong with the counts, in words.
    pub fn problems(&self) -> Vec<String> {
        let mut p = Vec::new();
        if self.lost > 0 {
            p.push(format!("{} lost", self.lost));
        }
        if self.duplicated > 0 {
            p.push(format!("{} duplicated", self.duplicated));
        }
        if self.reordered > 0 {
            p.push(format!("{} reordered", self.reordered));
        }
        if self.unexpected > 0 {
            p.push(format!("{} unexpected", self.unexpected));
        }
        if self.received != self.expected {
            p.push(format!(
                "received {} of {} expected",
                self.received, self.expected
            ));
        }
        p
    }

    pub fn json(&self) -> String {
        serde_json::to_string(self).expect("report serializes")
    }

    /// The human table.
    pub fn table(&self) -> String {
        let mut rows: Vec<(String, String)> = vec![
            ("scenario".into(), self.scenario.clone()),
            ("url".into(), format!("{} ({})", self.url, self.transport)),
        ];
        if let Some(m) = &self.ws_mode {
            rows.push((
                "websocket".into(),
                format!("{m}{}", if self.compression { ", compressed" } else { "" }),
            ));
        }
        if self.scenario != "conns" {
            rows.push(("size".into(), format!("{} B", self.size)));
            rows.push((
                "publishers / subscribers".into(),
                format!("{} / {}", self.publishers, self.subscribers),
            ));
        }
        rows.push(("connections".into(), self.connections.to_string()));
        rows.push(("sent".into(), group(self.sent)));
        rows.push((
            "received / expected".into(),
            format!("{} / {}", group(self.received), group(self.expected)),
        ));
        rows.push((
            "lost / duplicated / reordered".into(),
            format!("{} / {} / {}", self.lost, self.duplicated, self.reordered),
        ));
        if self.scenario == "conns" {
            if self.seconds > 0.0 {
                rows.push(("seconds to open".into(), format!("{:.3}", self.seconds)));
                rows.push((
                    "connections/s".into(),
                    group(self.msgs_per_sec.round() as u64),
                ));
            }
        } else if self.seconds > 0.0 {
            rows.push(("seconds".into(), format!("{:.3}", self.seconds)));
            rows.push((
                "delivered msgs/s".into(),
                group(self.msgs_per_sec.round() as u64),
            ));
            rows.push((
                "delivered MB/s".into(),
                format!("{:.1}", self.bytes_per_sec / 1e6),
            ));
            if self.published_per_sec > 0.0 {
                rows.push((
                    "published msgs/s".into(),
                    group(self.published_per_sec.round() as u64),
                ));
            }
        }
        if let Some(l) = &self.latency_us {
            rows.push((
                "latency µs p50/p90/p99/p99.9/max".into(),
                format!(
                    "{:.1} / {:.1} / {:.1} / {:.1} / {:.1}",
                    l.p50, l.p90, l.p99, l.p999, l.max
                ),
            ));
        }
        if let Some(m) = &self.per_member {
            let min = m.iter().min().copied().unwrap_or(0);
            let max = m.iter().max().copied().unwrap_or(0);
            rows.push((
                "per member min / max".into(),
                format!("{} / {}  {:?}", group(min), group(max), m),
            ));
        }
        if let (Some(a), Some(b)) = (self.rss_before_bytes, self.rss_after_bytes) {
            rows.push((
                "server RSS before / after".into(),
                format!("{:.1} / {:.1} MB", a as f64 / 1e6, b as f64 / 1e6),
            ));
        }
        if let Some(r) = self.rss_per_conn_bytes {
            rows.push(("RSS per connection".into(), format!("{:.0} B", r)));
        }
        if let (Some(us), Some(pct)) = (self.server_cpu_us_per_request, self.server_cpu_percent) {
            rows.push((
                "server CPU".into(),
                format!("{us:.1} µs per request, {pct:.0} % of a core"),
            ));
        }
        for n in &self.notes {
            rows.push(("note".into(), n.clone()));
        }
        let problems = self.problems();
        rows.push((
            "check".into(),
            if problems.is_empty() && self.scenario == "conns" {
                "ok: every connection opened".into()
            } else if problems.is_empty() {
                "ok: every message delivered once, in order".into()
            } else if self.allow_loss {
                format!("{} (allowed)", problems.join(", "))
            } else {
                format!("FAILED: {}", problems.join(", "))
            },
        ));
        let w = rows
            .iter()
            .map(|(k, _)| k.chars().count())
            .max()
            .unwrap_or(0);
        let mut s = String::new();
        for (k, v) in rows {
            s.push_str(&format!("{k:<w$}  {v}\n"));
        }
        s
    }
}

/// 1234567 → "1,234,567".
pub fn group(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_has_the_fields_the_perf_report_reads() {
        let r = Report {
            scenario: "pubsub".into(),
            ..Default::default()
        };
        let v: serde_json::Value = serde_json::from_str(&r.json()).unwrap();
        for k in [
            "scenario",
            "transport",
            "url",
            "size",
            "publishers",
            "subscribers",
            "sent",
            "received",
            "expected",
            "lost",
            "duplicated",
            "seconds",
            "msgs_per_sec",
            "bytes_per_sec",
            "latency_us",
            "rss_per_conn_bytes",
            "connections",
        ] {
            assert!(v.get(k).is_some(), "missing {k}");
        }
        assert!(v["latency_us"].is_null());
        assert_eq!(group(1234567), "1,234,567");
        assert_eq!(group(12), "12");
    }
}
