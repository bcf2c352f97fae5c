//! HTTP monitoring on `http_port`, as nats-server serves it: `/varz`,
//! `/connz`, `/subsz`, `/accountz`, `/leafz`, `/routez`, `/healthz`, `/`
//! (the index) and `/metrics` (the same figures for Prometheus). Pure: a
//! request head and a [`Source`] of figures in, a response out. The
//! listener is in `net::http`; the figures come from the shards
//! (`shard::report`).

mod accountz;
mod connz;
mod metrics;
pub mod report;
mod request;
mod subsz;
pub mod time;
mod varz;

use std::collections::BTreeMap;

use serde::Serialize;

pub use request::Request;

use crate::server::ServerContext;
use report::{Ask, ConnReport, ShardReport, Totals};

/// Where the endpoints get their figures.
pub trait Source {
    fn ctx(&self) -> &ServerContext;
    /// Every shard's answer to `ask`.
    fn ask(&self, ask: &Ask) -> Vec<ShardReport>;
    /// The closed connections, oldest first.
    fn closed(&self) -> Vec<std::sync::Arc<ConnReport>>;
    /// The process's memory and CPU use.
    fn process(&self) -> Process;
    /// When the configuration in force was loaded.
    fn loaded(&self) -> std::time::SystemTime;
}

/// What the process uses.
#[derive(Clone, Copy, Debug, Default)]
pub struct Process {
    /// Resident memory, bytes.
    pub rss: u64,
    /// CPU use in percent of one core (may pass 100 with several shards).
    pub cpu: f64,
}

/// Requests served, by endpoint (`/varz`'s `http_req_stats`).
pub type RequestStats = BTreeMap<String, u64>;

/// An answer to one request.
#[derive(Debug, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    pub content_type: &'static str,
    pub body: Vec<u8>,
}

impl Response {
    fn json(value: &impl Serialize) -> Response {
        Response {
            status: 200,
            content_type: "application/json",
            body: serde_json::to_vec_pretty(value).unwrap_or_default(),
        }
    }

    /// nats-server's answer to bad parameters: 400 and the error's text.
    fn bad_request(text: impl Into<String>) -> Response {
        Response {
            status: 400,
            content_type: "text/plain; charset=utf-8",
            body: text.into().into_bytes(),
        }
    }

    fn not_found() -> Response {
        Response {
            status: 404,
            content_type: "text/plain; charset=utf-8",
            body: b"404 page not found\n".to_vec(),
        }
    }

    /// The status line's reason phrase.
    pub fn reason(&self) -> &'static str {
        match self.status {
            200 => "OK",
            400 => "Bad Request",
            404 => "Not Found",
            503 => "Service Unavailable",
            _ => "Error",
        }
    }

    /// The whole HTTP/1.1 response, the connection closed after it (for a
    /// HEAD request, without the body).
    pub fn to_bytes(&self, head_only: bool) -> Vec<u8> {
        // Browsers' dashboards may read the JSON (nats-server allows any
        // origin there).
        let cors = if self.content_type == "application/json" {
            "Access-Control-Allow-Origin: *\r\n"
        } else {
            ""
        };
        let mut out = format!(
            "HTTP/1.1 {} {}\r\nContent-Type: {}\r\n{cors}Content-Length: {}\r\nConnection: close\r\n\r\n",
            self.status,
            self.reason(),
            self.content_type,
            self.body.len()
        )
        .into_bytes();
        if !head_only {
            out.extend_from_slice(&self.body);
        }
        out
    }
}

/// The endpoints, in the index's order.
const ENDPOINTS: [&str; 8] = [
    "/varz",
    "/connz",
    "/routez",
    "/leafz",
    "/subsz",
    "/accountz",
    "/healthz",
    "/metrics",
];

/// Answers one request; `stats` counts it.
pub fn answer(req: &Request, src: &dyn Source, stats: &mut RequestStats) -> Response {
    let base = src.ctx().opts.http_base_path.trim_end_matches('/');
    let Some(path) = req.path.strip_prefix(base) else {
        return Response::not_found();
    };
    let path = match path {
        "" => "/",
        // nats-server's other name for it, counted as it.
        "/subscriptionsz" => "/subsz",
        p => p,
    };
    if path == "/" || ENDPOINTS.contains(&path) {
        *stats.entry(path.to_string()).or_default() += 1;
    }
    let now = std::time::SystemTime::now();
    let ctx = src.ctx();
    match path {
        "/" => index(base),
        "/varz" => Response::json(&varz::varz(src, stats, now)),
        "/connz" => match connz::Query::from(req) {
            Ok(q) => match connz::connz(src, &q, now) {
                Ok(c) => Response::json(&c),
                Err(e) => Response::bad_request(e),
            },
            Err(e) => Response::bad_request(e),
        },
        "/subsz" => match subsz::Query::from(req) {
            Ok(q) => Response::json(&subsz::subsz(src, &q, now)),
            Err(e) => Response::bad_request(e),
        },
        "/accountz" => accountz::accountz(src, req, now),
        "/leafz" => Response::json(&Leafz {
            server_id: &ctx.server_id,
            now: time::rfc3339_nano(now),
            leafnodes: 0,
            leafs: None,
        }),
        "/routez" => Response::json(&Routez {
            server_id: &ctx.server_id,
            now: time::rfc3339_nano(now),
            num_routes: 0,
            routes: Vec::new(),
        }),
        // nats-server writes this one compact.
        "/healthz" => Response {
            status: 200,
            content_type: "application/json",
            body: b"{\"status\":\"ok\"}".to_vec(),
        },
        "/metrics" => Response {
            status: 200,
            content_type: "text/plain; version=0.0.4; charset=utf-8",
            body: metrics::metrics(src, stats, now).into_bytes(),
        },
        _ => Response::not_found(),
    }
}

/// nats-server's page of a list: `limit` entries from `offset` on (both
/// clamped to the list).
fn page(len: usize, offset: usize, limit: usize) -> std::ops::Range<usize> {
    let from = offset.min(len);
    from..from + limit.min(len - from)
}

/// A page's size as asked (`limit`), nats-server's 1024 when not set.
fn page_size(limit: i64) -> usize {
    if limit <= 0 {
        1024
    } else {
        limit as usize
    }
}

/// The sum of every shard's totals.
fn totals(reports: &[ShardReport]) -> Totals {
    let mut t = Totals::default();
    for r in reports {
        t += r.totals;
    }
    t
}

/// The index page: a link to each endpoint.
fn index(base: &str) -> Response {
    let links: String = ENDPOINTS
        .iter()
        .map(|p| format!("<a href=\"{base}{p}\">{}</a><br>\n", &p[1..]))
        .collect();
    Response {
        status: 200,
        content_type: "text/html; charset=utf-8",
        body: format!("<html><body>\n<h1>ringnats</h1>\n{links}</body></html>\n").into_bytes(),
    }
}

#[derive(Serialize)]
struct Leafz<'a> {
    server_id: &'a str,
    now: String,
    leafnodes: u32,
    /// nats-server writes `null` when there are none.
    leafs: Option<Vec<()>>,
}

#[derive(Serialize)]
struct Routez<'a> {
    server_id: &'a str,
    now: String,
    num_routes: u32,
    routes: Vec<()>,
}

#[cfg(test)]
mod tests;
