//! The records in a results file: one JSON object per line, either the
//! run's `meta` record (machine, date, command) or one `run` (a loadtest
//! JSON object annotated by compare.sh with server, round, pinned and
//! matrix_id).

use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Latency percentiles in microseconds, as loadtest reports them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Latency {
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub p999: f64,
    pub max: f64,
}

/// One measured run. Every loadtest field is optional so that a record with
/// an `error` (the run failed) or from another tool (iperf3) still reads.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Run {
    pub matrix_id: String,
    pub server: String,
    pub round: u32,
    pub pinned: bool,
    pub label: Option<String>,
    pub scenario: Option<String>,
    pub transport: Option<String>,
    pub size: Option<u64>,
    pub publishers: Option<u64>,
    pub subscribers: Option<u64>,
    pub sent: Option<u64>,
    pub received: Option<u64>,
    pub expected: Option<u64>,
    pub lost: Option<u64>,
    pub duplicated: Option<u64>,
    pub seconds: Option<f64>,
    pub msgs_per_sec: Option<f64>,
    pub bytes_per_sec: Option<f64>,
    pub latency_us: Option<Latency>,
    pub rss_per_conn_bytes: Option<f64>,
    /// reqrep with the server's pid: its CPU per request and share of a core.
    pub server_cpu_us_per_request: Option<f64>,
    pub server_cpu_percent: Option<f64>,
    pub connections: Option<u64>,
    pub error: Option<String>,
}

/// The first line of a results file: what ran where.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Meta {
    pub date: String,
    pub command: String,
    pub mode: String,
    pub rounds: u32,
    pub nproc: usize,
    pub kernel: String,
    pub cpu: String,
    pub memory: String,
    /// Anything else compare.sh wanted on record (versions, io backend).
    pub extra: Map<String, Value>,
}

impl Meta {
    /// Reads the machine's facts: nproc, kernel release, CPU model, memory.
    pub fn from_machine() -> Meta {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let cpu = cpuinfo
            .lines()
            .find(|l| l.starts_with("model name"))
            .and_then(|l| l.split_once(':'))
            .map(|(_, v)| v.trim().to_string())
            .unwrap_or_else(|| "unknown CPU".into());
        let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .map(|s| s.trim().to_string())
            .unwrap_or_else(|_| "unknown kernel".into());
        let memory = std::fs::read_to_string("/proc/meminfo")
            .ok()
            .and_then(|m| {
                m.lines()
                    .find(|l| l.starts_with("MemTotal:"))
                    .and_then(|l| l.split_whitespace().nth(1))
                    .and_then(|kb| kb.parse::<f64>().ok())
            })
            .map(|kb| format!("{:.0} GiB", kb / 1024.0 / 1024.0))
            .unwrap_or_default();
        let nproc = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(0);
        Meta {
            nproc,
            kernel,
            cpu,
            memory,
            ..Meta::default()
        }
    }
}

/// Everything in one results file.
#[derive(Debug, Default)]
pub struct Results {
    pub meta: Option<Meta>,
    pub runs: Vec<Run>,
}

/// Parses a results file: JSON lines, or one JSON array of records.
pub fn parse_results(text: &str) -> Result<Results, String> {
    let trimmed = text.trim_start();
    let values: Vec<Value> = if trimmed.starts_with('[') {
        serde_json::from_str(trimmed).map_err(|e| format!("results array: {e}"))?
    } else {
        let mut v = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() {
                continue;
            }
            v.push(serde_json::from_str(line).map_err(|e| format!("line {}: {e}", i + 1))?);
        }
        v
    };
    let mut out = Results::default();
    for (i, v) in values.into_iter().enumerate() {
        let kind = v.get("kind").and_then(Value::as_str).unwrap_or("run");
        match kind {
            "meta" => {
                out.meta =
                    Some(serde_json::from_value(v).map_err(|e| format!("record {}: {e}", i + 1))?)
            }
            _ => out
                .runs
                .push(serde_json::from_value(v).map_err(|e| format!("record {}: {e}", i + 1))?),
        }
    }
    Ok(out)
}

pub fn read_results(path: &Path) -> Result<Results, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    parse_results(&text).map_err(|e| format!("{}: {e}", path.display()))
}

/// Finds the JSON object in a tool's stdout: the whole text if it is one,
/// else the last line that is one (a tool may print other lines first).
pub fn find_json_object(text: &str) -> Option<Map<String, Value>> {
    if let Ok(Value::Object(m)) = serde_json::from_str(text.trim()) {
        return Some(m);
    }
    text.lines()
        .rev()
        .find_map(|l| match serde_json::from_str(l.trim()) {
            Ok(Value::Object(m)) => Some(m),
            _ => None,
        })
}

/// Turns iperf3's `-J` report into a run record's fields.
pub fn from_iperf3(report: &Map<String, Value>) -> Result<Map<String, Value>, String> {
    if let Some(err) = report.get("error").and_then(Value::as_str) {
        return Err(format!("iperf3: {err}"));
    }
    let recv = report
        .get("end")
        .and_then(|e| e.get("sum_received"))
        .ok_or("iperf3 report has no end.sum_received")?;
    let bps = recv
        .get("bits_per_second")
        .and_then(Value::as_f64)
        .ok_or("iperf3 report has no bits_per_second")?;
    let mut m = Map::new();
    m.insert("transport".into(), "tcp".into());
    m.insert("bytes_per_sec".into(), (bps / 8.0).into());
    if let Some(s) = recv.get("seconds").and_then(Value::as_f64) {
        m.insert("seconds".into(), s.into());
    }
    if let Some(b) = recv.get("bytes").and_then(Value::as_u64) {
        m.insert("received".into(), b.into());
    }
    Ok(m)
}

/// A `key=value` pair from the command line; the value is taken as JSON if
/// it parses as JSON (numbers, true/false, null), else as a string.
pub fn parse_kv(s: &str) -> Result<(String, Value), String> {
    let (k, v) = s
        .split_once('=')
        .ok_or_else(|| format!("expected key=value, got {s:?}"))?;
    let value = serde_json::from_str(v).unwrap_or_else(|_| Value::String(v.to_string()));
    Ok((k.to_string(), value))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_json_lines_with_meta() {
        let text = r#"{"kind":"meta","date":"2026-11-25 14:50","command":"perf/compare.sh","rounds":3}
{"kind":"run","matrix_id":"tcp-pubsub-128","server":"ringnats","round":1,"pinned":true,"scenario":"pubsub","transport":"tcp","size":128,"msgs_per_sec":1.5e6,"latency_us":null,"rss_per_conn_bytes":null}

{"matrix_id":"tcp-reqrep-10k","server":"nats-server","round":1,"pinned":true,"latency_us":{"p50":100,"p90":150,"p99":300,"p999":500,"max":900}}
"#;
        let r = parse_results(text).unwrap();
        assert_eq!(r.meta.unwrap().rounds, 3);
        assert_eq!(r.runs.len(), 2);
        assert_eq!(r.runs[0].msgs_per_sec, Some(1.5e6));
        assert_eq!(r.runs[1].latency_us.unwrap().p99, 300.0);
    }

    #[test]
    fn reads_an_array() {
        let text = r#"[{"matrix_id":"a","server":"ringnats","round":2,"pinned":false}]"#;
        let r = parse_results(text).unwrap();
        assert!(r.meta.is_none());
        assert_eq!(r.runs[0].round, 2);
    }

    #[test]
    fn finds_the_object_after_other_lines() {
        let out = "warming up\n{\"scenario\":\"pub\",\"sent\":10}\n";
        let m = find_json_object(out).unwrap();
        assert_eq!(m["sent"], 10);
        let pretty = "{\n  \"a\": 1\n}\n";
        assert_eq!(find_json_object(pretty).unwrap()["a"], 1);
        assert!(find_json_object("no json here").is_none());
    }

    #[test]
    fn converts_iperf3() {
        let j: Value = serde_json::from_str(
            r#"{"end":{"sum_received":{"seconds":5.0,"bytes":100,"bits_per_second":8e9}}}"#,
        )
        .unwrap();
        let m = from_iperf3(j.as_object().unwrap()).unwrap();
        assert_eq!(m["bytes_per_sec"], 1e9);
        let e: Value = serde_json::from_str(r#"{"error":"unable to connect"}"#).unwrap();
        assert!(from_iperf3(e.as_object().unwrap()).is_err());
    }

    #[test]
    fn key_values() {
        assert_eq!(parse_kv("a=1").unwrap(), ("a".into(), Value::from(1)));
        assert_eq!(parse_kv("b=x y").unwrap().1, Value::from("x y"));
        assert_eq!(parse_kv("c=true").unwrap().1, Value::from(true));
        assert!(parse_kv("nokey").is_err());
    }
}
