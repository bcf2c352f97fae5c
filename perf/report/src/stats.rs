//! Grouping runs by matrix_id and the side-by-side arithmetic: medians of
//! each server, per-round ratios (ringnats / nats-server, both runs from
//! the same round), their median and their spread.

use std::collections::BTreeMap;

use crate::model::Run;

pub const NATS: &str = "nats-server";
pub const RINGNATS: &str = "ringnats";

/// What a row compares, and which way is better.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Metric {
    /// Delivered messages per second (deliveries for fan-out).
    MsgsPerSec,
    /// Delivered payload bytes per second.
    BytesPerSec,
    /// Request/reply p99 latency in microseconds.
    P99Us,
    /// Resident memory per idle connection in bytes.
    RssPerConn,
}

impl Metric {
    /// Picks the metric a run is judged by: p99 for reqrep, RSS for conns,
    /// bytes/s for 16 KiB and up and for byte-stream tools, else msgs/s.
    pub fn for_run(run: &Run) -> Metric {
        match run.scenario.as_deref() {
            Some("reqrep") => Metric::P99Us,
            Some("conns") => Metric::RssPerConn,
            Some("iperf3") | Some("relay") => Metric::BytesPerSec,
            _ if run.size.unwrap_or(0) >= 16 * 1024 => Metric::BytesPerSec,
            _ if run.msgs_per_sec.is_none() && run.bytes_per_sec.is_some() => Metric::BytesPerSec,
            _ => Metric::MsgsPerSec,
        }
    }

    pub fn value(self, run: &Run) -> Option<f64> {
        let v = match self {
            Metric::MsgsPerSec => run.msgs_per_sec,
            Metric::BytesPerSec => run.bytes_per_sec,
            Metric::P99Us => run.latency_us.map(|l| l.p99),
            Metric::RssPerConn => run.rss_per_conn_bytes,
        }?;
        v.is_finite().then_some(v)
    }

    pub fn lower_is_better(self) -> bool {
        matches!(self, Metric::P99Us | Metric::RssPerConn)
    }

    pub fn name(self) -> &'static str {
        match self {
            Metric::MsgsPerSec => "msgs/s",
            Metric::BytesPerSec => "bytes/s",
            Metric::P99Us => "p99 latency",
            Metric::RssPerConn => "RSS per conn",
        }
    }

    /// Formats a value of this metric for a table.
    pub fn format(self, v: f64) -> String {
        match self {
            Metric::MsgsPerSec => format_count(v),
            Metric::BytesPerSec => format_bytes_per_sec(v),
            Metric::P99Us => format!("{v:.0} µs"),
            Metric::RssPerConn => format!("{:.1} KiB", v / 1024.0),
        }
    }
}

pub fn format_count(v: f64) -> String {
    if v >= 1e6 {
        format!("{:.2} M", v / 1e6)
    } else if v >= 1e3 {
        format!("{:.0} k", v / 1e3)
    } else {
        format!("{v:.0}")
    }
}

pub fn format_bytes_per_sec(v: f64) -> String {
    if v >= 1e9 {
        format!("{:.2} GB/s", v / 1e9)
    } else {
        format!("{:.0} MB/s", v / 1e6)
    }
}

/// The median of the finite values; the mean of the middle two for an even
/// count; None when there is none.
pub fn median(values: &[f64]) -> Option<f64> {
    let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    Some(if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    })
}

/// min and max of the finite values.
pub fn spread(values: &[f64]) -> Option<(f64, f64)> {
    values
        .iter()
        .copied()
        .filter(|x| x.is_finite())
        .fold(None, |acc, x| match acc {
            None => Some((x, x)),
            Some((lo, hi)) => Some((lo.min(x), hi.max(x))),
        })
}

/// All runs of one matrix_id, in the order the file has them.
#[derive(Debug, Clone)]
pub struct Group<'a> {
    pub id: String,
    pub runs: Vec<&'a Run>,
}

/// Groups runs by matrix_id, keeping the order in which ids first appear.
pub fn group_runs(runs: &[Run]) -> Vec<Group<'_>> {
    let mut groups: Vec<Group> = Vec::new();
    let mut index: BTreeMap<&str, usize> = BTreeMap::new();
    for run in runs {
        match index.get(run.matrix_id.as_str()) {
            Some(&i) => groups[i].runs.push(run),
            None => {
                index.insert(&run.matrix_id, groups.len());
                groups.push(Group {
                    id: run.matrix_id.clone(),
                    runs: vec![run],
                });
            }
        }
    }
    groups
}

/// One server's figures in a group.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ServerFigures {
    /// (round, value), one per round (the median if a round has several).
    pub by_round: Vec<(u32, f64)>,
    pub median: Option<f64>,
    pub lost: u64,
    pub duplicated: u64,
    /// (round, reason) of each failed run.
    pub errors: Vec<(u32, String)>,
}

impl ServerFigures {
    fn collect(runs: &[&Run], server: &str, metric: Metric) -> ServerFigures {
        let mut rounds: BTreeMap<u32, Vec<f64>> = BTreeMap::new();
        let mut f = ServerFigures::default();
        for r in runs.iter().filter(|r| r.server == server) {
            if let Some(e) = &r.error {
                f.errors.push((r.round, e.clone()));
                continue;
            }
            f.lost += r.lost.unwrap_or(0);
            f.duplicated += r.duplicated.unwrap_or(0);
            match metric.value(r) {
                Some(v) => rounds.entry(r.round).or_default().push(v),
                None => f
                    .errors
                    .push((r.round, format!("no {} in the record", metric.name()))),
            }
        }
        f.by_round = rounds
            .into_iter()
            .filter_map(|(round, vs)| median(&vs).map(|m| (round, m)))
            .collect();
        let values: Vec<f64> = f.by_round.iter().map(|&(_, v)| v).collect();
        f.median = median(&values);
        f
    }

    pub fn values(&self) -> Vec<f64> {
        self.by_round.iter().map(|&(_, v)| v).collect()
    }
}

/// A side-by-side row: nats-server against ringnats for one matrix_id.
#[derive(Debug, Clone)]
pub struct Comparison {
    pub id: String,
    pub label: String,
    pub transport: String,
    pub size: Option<u64>,
    pub pinned: bool,
    pub metric: Metric,
    pub nats: ServerFigures,
    pub ringnats: ServerFigures,
    /// ringnats / nats-server for each round where both have a figure.
    pub ratios: Vec<(u32, f64)>,
    pub ratio_median: Option<f64>,
    pub ratio_spread: Option<(f64, f64)>,
}

/// One server alone in a group (a ceiling: null server, iperf3, relay).
#[derive(Debug, Clone)]
pub struct Single {
    pub id: String,
    pub label: String,
    pub server: String,
    pub metric: Metric,
    pub figures: ServerFigures,
}

#[derive(Debug, Clone)]
pub enum Row {
    Compare(Comparison),
    Single(Single),
}

/// Builds the row of one group: a comparison when both servers ran, else
/// one row for the server that did.
pub fn build_row(group: &Group) -> Row {
    let first = group
        .runs
        .iter()
        .find(|r| r.error.is_none())
        .unwrap_or(&group.runs[0]);
    let metric = Metric::for_run(first);
    let label = first
        .label
        .clone()
        .or_else(|| first.scenario.clone())
        .unwrap_or_else(|| group.id.clone());
    let has = |s: &str| group.runs.iter().any(|r| r.server == s);
    if has(NATS) || has(RINGNATS) {
        let nats = ServerFigures::collect(&group.runs, NATS, metric);
        let ringnats = ServerFigures::collect(&group.runs, RINGNATS, metric);
        let ratios: Vec<(u32, f64)> = ringnats
            .by_round
            .iter()
            .filter_map(|&(round, rv)| {
                nats.by_round
                    .iter()
                    .find(|&&(r, _)| r == round)
                    .filter(|&&(_, nv)| nv > 0.0)
                    .map(|&(_, nv)| (round, rv / nv))
            })
            .collect();
        let rv: Vec<f64> = ratios.iter().map(|&(_, r)| r).collect();
        Row::Compare(Comparison {
            id: group.id.clone(),
            label,
            transport: first.transport.clone().unwrap_or_default(),
            size: first.size,
            pinned: first.pinned,
            metric,
            nats,
            ringnats,
            ratio_median: median(&rv),
            ratio_spread: spread(&rv),
            ratios,
        })
    } else {
        let server = first.server.clone();
        Row::Single(Single {
            id: group.id.clone(),
            label,
            metric,
            figures: ServerFigures::collect(&group.runs, &server, metric),
            server,
        })
    }
}

pub fn build_rows(runs: &[Run]) -> Vec<Row> {
    group_runs(runs).iter().map(build_row).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Latency;

    fn run(id: &str, server: &str, round: u32, mps: f64) -> Run {
        Run {
            matrix_id: id.into(),
            server: server.into(),
            round,
            pinned: true,
            scenario: Some("pubsub".into()),
            transport: Some("tcp".into()),
            size: Some(128),
            msgs_per_sec: Some(mps),
            bytes_per_sec: Some(mps * 128.0),
            ..Run::default()
        }
    }

    #[test]
    fn median_odd_even_empty() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), Some(2.5));
        assert_eq!(median(&[]), None);
        assert_eq!(median(&[f64::NAN, 5.0]), Some(5.0));
    }

    #[test]
    fn spread_min_max() {
        assert_eq!(spread(&[1.2, 0.9, 1.5]), Some((0.9, 1.5)));
        assert_eq!(spread(&[]), None);
    }

    #[test]
    fn groups_keep_first_seen_order() {
        let runs = vec![
            run("b", NATS, 1, 1.0),
            run("a", NATS, 1, 1.0),
            run("b", RINGNATS, 1, 2.0),
        ];
        let g = group_runs(&runs);
        assert_eq!(g.len(), 2);
        assert_eq!(g[0].id, "b");
        assert_eq!(g[0].runs.len(), 2);
        assert_eq!(g[1].id, "a");
    }

    #[test]
    fn ratio_is_median_of_per_round_ratios() {
        // Round ratios: 2.0, 1.0, 3.0 -> median 2.0; ratio of medians would
        // be 200/100 = 2.0 here too, so make them differ:
        // nats 100, 200, 50; ringnats 200, 200, 150 -> ratios 2, 1, 3.
        let runs = vec![
            run("x", NATS, 1, 100.0),
            run("x", RINGNATS, 1, 200.0),
            run("x", RINGNATS, 2, 200.0),
            run("x", NATS, 2, 200.0),
            run("x", NATS, 3, 50.0),
            run("x", RINGNATS, 3, 150.0),
        ];
        let Row::Compare(c) = build_row(&group_runs(&runs)[0]) else {
            panic!("expected a comparison")
        };
        assert_eq!(c.metric, Metric::MsgsPerSec);
        assert_eq!(c.nats.median, Some(100.0));
        assert_eq!(c.ringnats.median, Some(200.0));
        assert_eq!(c.ratios, vec![(1, 2.0), (2, 1.0), (3, 3.0)]);
        assert_eq!(c.ratio_median, Some(2.0));
        assert_eq!(c.ratio_spread, Some((1.0, 3.0)));
    }

    #[test]
    fn unpaired_and_failed_rounds_give_no_ratio() {
        let mut failed = run("x", NATS, 2, 0.0);
        failed.error = Some("server died".into());
        let runs = vec![
            run("x", NATS, 1, 100.0),
            run("x", RINGNATS, 1, 150.0),
            failed,
            run("x", RINGNATS, 2, 999.0),
            run("x", RINGNATS, 3, 120.0),
        ];
        let Row::Compare(c) = build_row(&group_runs(&runs)[0]) else {
            panic!()
        };
        assert_eq!(c.ratios, vec![(1, 1.5)]);
        assert_eq!(c.nats.errors.len(), 1);
        assert_eq!(c.ringnats.median, Some(150.0));
    }

    #[test]
    fn latency_rows_use_p99_and_lower_is_better() {
        let lat = |p99| Latency {
            p50: 10.0,
            p90: 20.0,
            p99,
            p999: 500.0,
            max: 900.0,
        };
        let mk = |server: &str, round, p99| Run {
            matrix_id: "tcp-reqrep-10k".into(),
            server: server.into(),
            round,
            scenario: Some("reqrep".into()),
            latency_us: Some(lat(p99)),
            msgs_per_sec: Some(10_000.0),
            ..Run::default()
        };
        let runs = vec![
            mk(NATS, 1, 400.0),
            mk(RINGNATS, 1, 100.0),
            mk(RINGNATS, 2, 300.0),
            mk(NATS, 2, 300.0),
        ];
        let Row::Compare(c) = build_row(&group_runs(&runs)[0]) else {
            panic!()
        };
        assert_eq!(c.metric, Metric::P99Us);
        assert!(c.metric.lower_is_better());
        assert_eq!(c.ratios, vec![(1, 0.25), (2, 1.0)]);
        assert_eq!(c.ratio_median, Some(0.625));
    }

    #[test]
    fn metric_choice() {
        let mut r = run("x", NATS, 1, 1.0);
        assert_eq!(Metric::for_run(&r), Metric::MsgsPerSec);
        r.size = Some(16384);
        assert_eq!(Metric::for_run(&r), Metric::BytesPerSec);
        r.scenario = Some("conns".into());
        assert_eq!(Metric::for_run(&r), Metric::RssPerConn);
    }

    #[test]
    fn a_single_server_group_is_a_single_row() {
        let runs = vec![run("ceiling-null", "null-server", 1, 9e6)];
        let Row::Single(s) = build_row(&group_runs(&runs)[0]) else {
            panic!()
        };
        assert_eq!(s.server, "null-server");
        assert_eq!(s.figures.median, Some(9e6));
    }

    #[test]
    fn losses_are_summed() {
        let mut a = run("x", NATS, 1, 1.0);
        a.lost = Some(3);
        let mut b = run("x", NATS, 2, 1.0);
        b.lost = Some(4);
        b.duplicated = Some(1);
        let runs = vec![a, b];
        let Row::Compare(c) = build_row(&group_runs(&runs)[0]) else {
            panic!()
        };
        assert_eq!((c.nats.lost, c.nats.duplicated), (7, 1));
    }

    #[test]
    fn formats() {
        assert_eq!(format_count(2_345_678.0), "2.35 M");
        assert_eq!(format_count(45_600.0), "46 k");
        assert_eq!(format_bytes_per_sec(1.5e9), "1.50 GB/s");
        assert_eq!(Metric::RssPerConn.format(20480.0), "20.0 KiB");
    }
}
