//! The dated Markdown section that compare.sh appends to perf/RESULTS.md.

use std::fmt::Write as _;

use crate::model::{Meta, Run};
use crate::stats::{
    format_bytes_per_sec, Comparison, Metric, Row, ServerFigures, Single, NATS, RINGNATS,
};
use crate::targets::{Verdict, TARGETS};

/// What the section links to besides the rows.
pub struct Links {
    /// The results file, as the reader should see its path.
    pub results: String,
    /// (title, path relative to RESULTS.md) of each plot written.
    pub plots: Vec<(String, String)>,
}

pub fn format_size(size: Option<u64>) -> String {
    match size {
        None | Some(0) => "—".into(),
        Some(s) if s >= 1024 && s % 1024 == 0 => format!("{} KiB", s / 1024),
        Some(s) => format!("{s} B"),
    }
}

fn fmt_ratio(r: Option<f64>) -> String {
    r.map(|r| format!("{r:.2}×")).unwrap_or_else(|| "—".into())
}

fn fmt_spread(s: Option<(f64, f64)>) -> String {
    s.map(|(lo, hi)| format!("{lo:.2}–{hi:.2}"))
        .unwrap_or_else(|| "—".into())
}

fn fmt_median(m: Metric, f: &ServerFigures) -> String {
    f.median.map(|v| m.format(v)).unwrap_or_else(|| "—".into())
}

fn transport(t: &str) -> String {
    if t.is_empty() {
        "—".into()
    } else {
        t.to_uppercase()
    }
}

fn comparison_table(out: &mut String, rows: &[&Comparison]) {
    out.push_str(
        "| scenario | transport | size | metric | nats-server | ringnats | ratio | spread | rounds |\n\
         |---|---|---|---|---:|---:|---:|---|---:|\n",
    );
    for c in rows {
        let metric = if c.metric.lower_is_better() {
            format!("{} (lower is better)", c.metric.name())
        } else {
            c.metric.name().to_string()
        };
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            c.label,
            transport(&c.transport),
            if c.metric == Metric::RssPerConn {
                "—".to_string()
            } else {
                format_size(c.size)
            },
            metric,
            fmt_median(c.metric, &c.nats),
            fmt_median(c.metric, &c.ringnats),
            fmt_ratio(c.ratio_median),
            fmt_spread(c.ratio_spread),
            c.ratios.len(),
        );
    }
}

fn single_table(out: &mut String, rows: &[&Single]) {
    out.push_str("| ceiling | what runs | median | range | runs |\n|---|---|---:|---|---:|\n");
    for s in rows {
        let vals = s.figures.values();
        let range = match crate::stats::spread(&vals) {
            Some((lo, hi)) if vals.len() > 1 => {
                format!("{}–{}", s.metric.format(lo), s.metric.format(hi))
            }
            _ => "—".into(),
        };
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} |",
            s.label,
            s.server,
            fmt_median(s.metric, &s.figures),
            range,
            vals.len()
        );
    }
}

fn find<'a>(rows: &'a [Row], id: &str) -> Option<&'a Row> {
    rows.iter().find(|r| match r {
        Row::Compare(c) => c.id == id && c.pinned,
        Row::Single(s) => s.id == id,
    })
}

/// Sentences that put the ceilings beside the servers' figures.
fn ceiling_notes(out: &mut String, rows: &[Row]) {
    if let (Some(Row::Single(null)), Some(Row::Compare(c))) = (
        find(rows, "ceiling-null-tcp-pubsub-128"),
        find(rows, "tcp-pubsub-128"),
    ) {
        let best = c
            .nats
            .median
            .into_iter()
            .chain(c.ringnats.median)
            .fold(0.0, f64::max);
        if let (Some(n), true) = (null.figures.median, best > 0.0) {
            let headroom = n / best;
            let _ = writeln!(
                out,
                "- Generator ceiling (null server, TCP 1→1 128 B) is {headroom:.2}× the faster \
                 server's median{}",
                if headroom < 1.5 {
                    ": **too close** — a faster server cannot show up as a higher figure here."
                } else {
                    "."
                }
            );
        }
    }
    if let Some(Row::Single(relay)) = find(rows, "ceiling-relay") {
        if let Some(r) = relay.figures.median.filter(|&r| r > 0.0) {
            for id in ["tcp-pubsub-16384", "ws-pubsub-16384"] {
                if let Some(Row::Compare(c)) = find(rows, id).filter(|r| {
                    matches!(r, Row::Compare(c) if c.nats.median.or(c.ringnats.median).is_some())
                }) {
                    let pct = |f: &ServerFigures| {
                        f.median
                            .map(|v| format!("{:.0} %", 100.0 * v / r))
                            .unwrap_or_else(|| "—".into())
                    };
                    let _ = writeln!(
                        out,
                        "- {} 16 KiB against the bare relay ({}): nats-server {}, ringnats {}.",
                        transport(&c.transport),
                        format_bytes_per_sec(r),
                        pct(&c.nats),
                        pct(&c.ringnats)
                    );
                }
            }
        }
    }
}

fn notes(out: &mut String, rows: &[Row]) -> usize {
    let mut n = 0;
    let mut note = |out: &mut String, id: &str, server: &str, f: &ServerFigures| {
        if f.lost > 0 || f.duplicated > 0 {
            let _ = writeln!(
                out,
                "- `{id}` {server}: {} lost, {} duplicated over all rounds.",
                f.lost, f.duplicated
            );
            n += 1;
        }
        // One line per distinct reason, with the rounds it happened in.
        let mut reasons: Vec<(&str, Vec<u32>)> = Vec::new();
        for (round, e) in &f.errors {
            match reasons.iter_mut().find(|(r, _)| *r == e.as_str()) {
                Some((_, rounds)) => rounds.push(*round),
                None => reasons.push((e, vec![*round])),
            }
        }
        for (reason, rounds) in reasons {
            let rounds: Vec<String> = rounds.iter().map(u32::to_string).collect();
            let s = if rounds.len() == 1 { "" } else { "s" };
            let _ = writeln!(
                out,
                "- `{id}` {server}: failed in round{s} {}: {}",
                rounds.join(", "),
                reason.trim_end_matches('.')
            );
            n += 1;
        }
    };
    for r in rows {
        match r {
            Row::Compare(c) => {
                note(out, &c.id, "nats-server", &c.nats);
                note(out, &c.id, "ringnats", &c.ringnats);
            }
            Row::Single(s) => note(out, &s.id, &s.server, &s.figures),
        }
    }
    n
}

/// Renders the whole section, starting with its `## ` heading.
/// Request/reply rows in full: every percentile, and the server's CPU.
fn latency_detail(out: &mut String, runs: &[Run]) {
    let groups = crate::stats::group_runs(runs);
    let reqrep: Vec<_> = groups
        .iter()
        .filter(|g| {
            g.runs
                .iter()
                .any(|r| r.error.is_none() && r.latency_us.is_some())
        })
        .collect();
    if reqrep.is_empty() {
        return;
    }
    out.push_str(
        "### Request/reply in detail\n\n\
         | scenario | server | p50 µs | p90 µs | p99 µs | p99.9 µs | server CPU µs/request | % of a core | rounds |\n\
         |---|---|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    let median = |v: Vec<f64>| crate::stats::median(&v);
    let fmt =
        |m: Option<f64>, digits: usize| m.map_or("—".to_string(), |v| format!("{v:.digits$}"));
    for g in reqrep {
        let label = g
            .runs
            .iter()
            .find_map(|r| r.label.clone())
            .unwrap_or_else(|| g.id.clone());
        let label = if g.id.starts_with("unpinned-") {
            format!("{label} (unpinned)")
        } else {
            label
        };
        for server in [NATS, RINGNATS] {
            let ok: Vec<&&Run> = g
                .runs
                .iter()
                .filter(|r| r.server == server && r.error.is_none())
                .collect();
            if ok.is_empty() {
                continue;
            }
            let lat = |f: fn(&crate::model::Latency) -> f64| {
                median(
                    ok.iter()
                        .filter_map(|r| r.latency_us.as_ref().map(f))
                        .collect(),
                )
            };
            let _ = writeln!(
                out,
                "| {label} | {server} | {} | {} | {} | {} | {} | {} | {} |",
                fmt(lat(|l| l.p50), 0),
                fmt(lat(|l| l.p90), 0),
                fmt(lat(|l| l.p99), 0),
                fmt(lat(|l| l.p999), 0),
                fmt(
                    median(
                        ok.iter()
                            .filter_map(|r| r.server_cpu_us_per_request)
                            .collect()
                    ),
                    1
                ),
                fmt(
                    median(ok.iter().filter_map(|r| r.server_cpu_percent).collect()),
                    0
                ),
                ok.len(),
            );
        }
    }
    out.push_str("\nMedians over rounds of each percentile.\n\n");
}

pub fn render_section(meta: &Meta, rows: &[Row], runs: &[Run], links: &Links) -> String {
    let mut out = String::new();
    let mode = if meta.mode.is_empty() {
        String::new()
    } else {
        format!(", {}", meta.mode)
    };
    let _ = writeln!(
        out,
        "## {} — side-by-side matrix ({} rounds{mode})\n",
        meta.date, meta.rounds
    );
    let _ = write!(
        out,
        "Machine: {} cores (nproc), {}, {}, kernel {}.",
        meta.nproc, meta.cpu, meta.memory, meta.kernel
    );
    // The servers' versions first, then the rest in key order.
    let mut extra: Vec<(&String, &serde_json::Value)> = meta.extra.iter().collect();
    extra.sort_by_key(|(k, _)| {
        (
            !matches!(k.as_str(), "nats-server" | "ringnats"),
            k.as_str(),
        )
    });
    for (k, v) in extra {
        let v = v
            .as_str()
            .map(str::to_string)
            .unwrap_or_else(|| v.to_string());
        let _ = write!(out, " {k}: {v}.");
    }
    out.push_str(
        "\nPinned rows: each server on core 0 (`taskset -c 0`; ringnats `--shards 1`), the \
         generator on core 1 (`taskset -c 1`); every run starts its server afresh, and the \
         order alternates A B / B A by round.\n\n",
    );
    let _ = writeln!(out, "```sh\n{}\n```\n", meta.command);
    let _ = writeln!(out, "Raw runs: `{}`.\n", links.results);

    let pinned: Vec<&Comparison> = rows
        .iter()
        .filter_map(|r| match r {
            Row::Compare(c) if c.pinned => Some(c),
            _ => None,
        })
        .collect();
    let unpinned: Vec<&Comparison> = rows
        .iter()
        .filter_map(|r| match r {
            Row::Compare(c) if !c.pinned => Some(c),
            _ => None,
        })
        .collect();
    let singles: Vec<&Single> = rows
        .iter()
        .filter_map(|r| match r {
            Row::Single(s) => Some(s),
            _ => None,
        })
        .collect();

    if !pinned.is_empty() {
        comparison_table(&mut out, &pinned);
        out.push_str(
            "\nMedians over rounds; ratio = ringnats / nats-server, the median of the per-round \
             ratios; spread = lowest–highest per-round ratio. For p99 latency and RSS a ratio \
             below 1 favours ringnats.\n\n",
        );
    }

    out.push_str(
        "### Targets (BENCHMARKS.md)\n\n| scenario | target | measured | |\n|---|---|---:|---|\n",
    );
    for t in TARGETS {
        let (measured, verdict) = match t.evaluate(rows) {
            Verdict::Met { ratio } => (format!("{ratio:.2}×"), "met".to_string()),
            Verdict::NotMet { ratio } => (format!("{ratio:.2}×"), "**not met**".to_string()),
            Verdict::NotMeasured(why) => ("—".to_string(), format!("not measured ({why})")),
        };
        let _ = writeln!(
            out,
            "| {} | {} | {measured} | {verdict} |",
            t.scenario,
            t.describe()
        );
    }
    out.push('\n');

    if !singles.is_empty() {
        out.push_str("### Ceilings\n\n");
        single_table(&mut out, &singles);
        out.push('\n');
        let mut s = String::new();
        ceiling_notes(&mut s, rows);
        if !s.is_empty() {
            out.push_str(&s);
            out.push('\n');
        }
    }

    if !unpinned.is_empty() {
        out.push_str(
            "### Unpinned (ringnats `--shards 2`, nats-server and generator unpinned)\n\n",
        );
        comparison_table(&mut out, &unpinned);
        out.push_str(
            "\nThe generator shares both cores with the server here: this shows the cross-shard \
             path, not a headline ratio.\n\n",
        );
    }

    latency_detail(&mut out, runs);

    if !links.plots.is_empty() {
        out.push_str("### Plots\n\n");
        for (title, path) in &links.plots {
            let _ = writeln!(out, "![{title}]({path})");
        }
        out.push('\n');
    }

    let mut n = String::new();
    if notes(&mut n, rows) > 0 {
        out.push_str("### Notes\n\n");
        out.push_str(&n);
        out.push('\n');
    }
    out
}

/// Appends a section at the end of an existing RESULTS.md (sections are in
/// date order, oldest first), leaving one blank line between.
pub fn append_section(existing: &str, section: &str) -> String {
    let mut out = existing.trim_end().to_string();
    if !out.is_empty() {
        out.push_str("\n\n");
    }
    out.push_str(section.trim_end());
    out.push('\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Run;
    use crate::stats::{build_rows, NATS, RINGNATS};

    fn mk(id: &str, server: &str, round: u32, v: f64) -> Run {
        Run {
            matrix_id: id.into(),
            server: server.into(),
            round,
            pinned: true,
            label: Some("1→1".into()),
            scenario: Some("pubsub".into()),
            transport: Some("tcp".into()),
            size: Some(128),
            msgs_per_sec: Some(v),
            ..Run::default()
        }
    }

    fn fail(id: &str, round: u32, e: &str) -> Run {
        Run {
            error: Some(e.into()),
            ..mk(id, RINGNATS, round, 0.0)
        }
    }

    #[test]
    fn request_reply_rows_show_every_percentile_and_the_cpu() {
        use crate::model::Latency;
        let rr = |server: &str, round, p99, cpu| Run {
            latency_us: Some(Latency {
                p50: 40.0,
                p90: 60.0,
                p99,
                p999: 900.0,
                max: 2000.0,
            }),
            server_cpu_us_per_request: Some(cpu),
            server_cpu_percent: Some(cpu / 10.0),
            label: Some("request/reply at 1k req/s".into()),
            ..mk("tcp-reqrep-1k", server, round, 1000.0)
        };
        let runs = vec![
            rr(NATS, 1, 300.0, 140.0),
            rr(RINGNATS, 1, 150.0, 120.0),
            rr(NATS, 2, 500.0, 160.0),
            rr(RINGNATS, 2, 250.0, 100.0),
            rr(NATS, 3, 400.0, 150.0),
            rr(RINGNATS, 3, 200.0, 110.0),
        ];
        let rows = build_rows(&runs);
        let links = Links {
            results: "r.json".into(),
            plots: vec![],
        };
        let s = render_section(&Meta::default(), &rows, &runs, &links);
        assert!(s.contains("### Request/reply in detail"), "{s}");
        assert!(
            s.contains("| request/reply at 1k req/s | nats-server | 40 | 60 | 400 | 900 | 150.0 | 15 | 3 |"),
            "{s}"
        );
        assert!(
            s.contains(
                "| request/reply at 1k req/s | ringnats | 40 | 60 | 200 | 900 | 110.0 | 11 | 3 |"
            ),
            "{s}"
        );
    }

    #[test]
    fn sizes() {
        assert_eq!(format_size(Some(16)), "16 B");
        assert_eq!(format_size(Some(1024)), "1 KiB");
        assert_eq!(format_size(Some(16384)), "16 KiB");
        assert_eq!(format_size(None), "—");
    }

    #[test]
    fn section_has_table_targets_and_notes() {
        let mut lossy = mk("tcp-pubsub-128", NATS, 2, 1.1e6);
        lossy.lost = Some(5);
        let runs = vec![
            mk("tcp-pubsub-128", NATS, 1, 1.0e6),
            mk("tcp-pubsub-128", RINGNATS, 1, 2.2e6),
            mk("tcp-pubsub-128", RINGNATS, 2, 2.0e6),
            lossy,
            mk("ceiling-null-tcp-pubsub-128", "null-server", 1, 9.0e6),
            fail("x", 1, "server exited during the run"),
            fail("x", 2, "loadtest exited 1"),
            fail("x", 3, "server exited during the run"),
        ];
        let rows = build_rows(&runs);
        let meta = Meta {
            date: "2026-11-25 15:00 UTC".into(),
            command: "perf/compare.sh --quick".into(),
            mode: "quick".into(),
            rounds: 2,
            nproc: 2,
            ..Meta::default()
        };
        let links = Links {
            results: "perf/results/x.json".into(),
            plots: vec![("throughput".into(), "results/x/throughput.svg".into())],
        };
        let s = render_section(&meta, &rows, &runs, &links);
        assert!(
            !s.contains("Request/reply in detail"),
            "no request/reply run"
        );
        assert!(s.starts_with("## 2026-11-25 15:00 UTC — side-by-side matrix (2 rounds, quick)"));
        assert!(s.contains("perf/compare.sh --quick"));
        // ratios 2.2 and 1.818..: median 2.009
        assert!(
            s.contains("| 1→1 | TCP | 128 B | msgs/s | 1.05 M | 2.10 M | 2.01× | 1.82–2.20 | 2 |"),
            "{s}"
        );
        assert!(s.contains("| TCP 1→1, 128 B, delivered msgs/s | ≥ 2× | 2.01× | met |"));
        assert!(s.contains("not measured (`tcp-fanout100-128` not in this run)"));
        assert!(s.contains("5 lost, 0 duplicated"));
        assert!(
            s.contains("- `x` ringnats: failed in rounds 1, 3: server exited during the run\n"),
            "{s}"
        );
        assert!(s.contains("- `x` ringnats: failed in round 2: loadtest exited 1\n"));
        assert!(s.contains("Generator ceiling"));
        assert!(s.contains("![throughput](results/x/throughput.svg)"));
    }

    #[test]
    fn appends_at_the_end() {
        let s = append_section("# Title\n\nintro\n\n\n", "## new\n\nbody\n");
        assert_eq!(s, "# Title\n\nintro\n\n## new\n\nbody\n");
        assert_eq!(append_section("", "## a\n"), "## a\n");
    }
}
