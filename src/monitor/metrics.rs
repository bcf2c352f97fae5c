//! `/metrics`: the monitoring figures in Prometheus's text format, under
//! the names prometheus-nats-exporter gives them (`gnatsd_varz_*` for each
//! number in /varz, `gnatsd_connz_*` summed over the connections,
//! `gnatsd_subsz_*`, `gnatsd_routez_*`), so dashboards built on it work
//! without the exporter; and the connections by type.

use std::fmt::Write;
use std::time::SystemTime;

use super::report::Ask;
use super::{subsz, varz, Request, RequestStats, Source};

pub fn metrics(src: &dyn Source, stats: &RequestStats, now: SystemTime) -> String {
    let id = src.ctx().server_id.clone();
    let mut out = Out {
        text: String::new(),
        id,
    };
    let varz = serde_json::to_value(varz::varz(src, stats, now)).unwrap_or_default();
    out.numbers("gnatsd_varz", &varz);
    for key in ["server_id", "server_name", "version"] {
        if let Some(v) = varz.get(key).and_then(|v| v.as_str()) {
            let name = format!("gnatsd_varz_{key}");
            out.head(&name, key, "gauge");
            out.sample(&name, &[("value", v)], 1.0);
        }
    }
    let subsz = subsz::Query::from(&Request::default()).map(|q| subsz::subsz(src, &q, now));
    if let Ok(s) = subsz {
        out.numbers("gnatsd_subsz", &serde_json::to_value(s).unwrap_or_default());
    }
    out.connz(src);
    out.head("gnatsd_routez_num_routes", "num_routes", "gauge");
    out.sample("gnatsd_routez_num_routes", &[], 0.0);
    out.text
}

struct Out {
    text: String,
    id: String,
}

impl Out {
    fn head(&mut self, name: &str, help: &str, kind: &str) {
        let _ = writeln!(self.text, "# HELP {name} {help}\n# TYPE {name} {kind}");
    }

    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: f64) {
        let _ = write!(self.text, "{name}{{server_id=\"{}\"", escape(&self.id));
        for (k, v) in labels {
            let _ = write!(self.text, ",{k}=\"{}\"", escape(v));
        }
        let _ = writeln!(self.text, "}} {value}");
    }

    /// A gauge for every number at the top of `value`.
    fn numbers(&mut self, prefix: &str, value: &serde_json::Value) {
        let Some(map) = value.as_object() else { return };
        let mut keys: Vec<&String> = map.keys().collect();
        keys.sort();
        for k in keys {
            if let Some(n) = map[k].as_f64() {
                let name = format!("{prefix}_{k}");
                self.head(&name, k, "gauge");
                self.sample(&name, &[], n);
            }
        }
    }

    /// The exporter's connz figures (sums over the connections), and the
    /// connections by type.
    fn connz(&mut self, src: &dyn Source) {
        let ask = Ask {
            conns: true,
            ..Ask::default()
        };
        let mut conns: Vec<_> = src.ask(&ask).into_iter().flat_map(|r| r.conns).collect();
        // The exporter reads /connz's first page (1024 by cid) and sums it.
        conns.sort_by_key(|c| c.cid);
        let limit = super::page_size(0);
        let first = &conns[super::page(conns.len(), 0, limit)];
        let sum =
            |f: &dyn Fn(&super::report::ConnReport) -> u64| first.iter().map(f).sum::<u64>() as f64;
        let gauges = [
            ("num_connections", first.len() as f64),
            ("total", conns.len() as f64),
            ("offset", 0.0),
            ("limit", limit as f64),
            ("pending_bytes", sum(&|c| c.pending as u64)),
            ("subscriptions", sum(&|c| c.subscriptions as u64)),
        ];
        let counters = [
            ("in_bytes", sum(&|c| c.counters.in_bytes)),
            ("out_bytes", sum(&|c| c.counters.out_bytes)),
            ("in_msgs", sum(&|c| c.counters.in_msgs)),
            ("out_msgs", sum(&|c| c.counters.out_msgs)),
        ];
        for (kind, figures) in [("gauge", &gauges[..]), ("counter", &counters[..])] {
            for &(key, value) in figures {
                let name = format!("gnatsd_connz_{key}");
                self.head(&name, key, kind);
                self.sample(&name, &[], value);
            }
        }
        let name = "gnatsd_connz_connections_by_type";
        self.head(name, "open client connections by type", "gauge");
        for kind in ["nats", "websocket"] {
            let count = conns
                .iter()
                .filter(|c| c.websocket == (kind == "websocket"))
                .count();
            self.sample(name, &[("type", kind)], count as f64);
        }
    }
}

/// A label value as the text format wants it.
fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}
