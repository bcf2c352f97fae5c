//! The targets table of /work/shared/BENCHMARKS.md (ringnats / nats-server,
//! pinned), and which of them a run met.

use crate::stats::{Comparison, Row};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bound {
    AtLeast,
    AtMost,
}

#[derive(Debug, Clone, Copy)]
pub struct Target {
    pub scenario: &'static str,
    /// The matrix_id that measures it; None when compare.sh does not.
    pub matrix_id: Option<&'static str>,
    pub bound: Bound,
    pub ratio: f64,
    /// Where it is measured when not here.
    pub elsewhere: &'static str,
}

const fn t(scenario: &'static str, id: &'static str, bound: Bound, ratio: f64) -> Target {
    Target {
        scenario,
        matrix_id: Some(id),
        bound,
        ratio,
        elsewhere: "",
    }
}

pub const TARGETS: &[Target] = &[
    t(
        "TCP 1→1, 128 B, delivered msgs/s",
        "tcp-pubsub-128",
        Bound::AtLeast,
        2.0,
    ),
    t(
        "TCP 1→100 fan-out, 128 B, deliveries/s",
        "tcp-fanout100-128",
        Bound::AtLeast,
        2.0,
    ),
    t(
        "WS 1→1, 128 B, many PUBs per frame",
        "ws-pubsub-128",
        Bound::AtLeast,
        2.0,
    ),
    t(
        "WS 1→1, 128 B, one PUB per frame",
        "ws1f-pubsub-128",
        Bound::AtLeast,
        3.0,
    ),
    t(
        "TCP 1→1, 16 KiB, delivered bytes/s",
        "tcp-pubsub-16384",
        Bound::AtLeast,
        1.15,
    ),
    t(
        "WS 1→1, 16 KiB, delivered bytes/s",
        "ws-pubsub-16384",
        Bound::AtLeast,
        1.4,
    ),
    t(
        "request/reply p99 latency at 10k req/s, TCP",
        "tcp-reqrep-10k",
        Bound::AtMost,
        0.5,
    ),
    t(
        "request/reply p99 latency at 10k req/s, WS",
        "ws-reqrep-10k",
        Bound::AtMost,
        0.5,
    ),
    t(
        "RSS per idle connection, TCP",
        "tcp-conns-idle",
        Bound::AtMost,
        0.25,
    ),
    t(
        "RSS per idle connection, WS",
        "ws-conns-idle",
        Bound::AtMost,
        0.25,
    ),
    Target {
        scenario: "SIMD unmasking vs byte loop, 4 KiB (criterion)",
        matrix_id: None,
        bound: Bound::AtLeast,
        ratio: 8.0,
        elsewhere: "`cargo bench`, not this script",
    },
    t(
        "next mark: TCP 1→1, 128 B, delivered msgs/s",
        "tcp-pubsub-128",
        Bound::AtLeast,
        3.0,
    ),
];

#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    Met { ratio: f64 },
    NotMet { ratio: f64 },
    NotMeasured(String),
}

impl Target {
    pub fn describe(&self) -> String {
        match self.bound {
            Bound::AtLeast => format!("≥ {}×", self.ratio),
            Bound::AtMost => format!("≤ {}×", self.ratio),
        }
    }

    pub fn judge(&self, ratio: f64) -> Verdict {
        let ok = match self.bound {
            Bound::AtLeast => ratio >= self.ratio,
            Bound::AtMost => ratio <= self.ratio,
        };
        if ok {
            Verdict::Met { ratio }
        } else {
            Verdict::NotMet { ratio }
        }
    }

    /// Judges the target on the pinned comparison rows of a run.
    pub fn evaluate(&self, rows: &[Row]) -> Verdict {
        let Some(id) = self.matrix_id else {
            return Verdict::NotMeasured(self.elsewhere.to_string());
        };
        let found: Option<&Comparison> = rows.iter().find_map(|r| match r {
            Row::Compare(c) if c.id == id && c.pinned => Some(c),
            _ => None,
        });
        match found.map(|c| c.ratio_median) {
            Some(Some(ratio)) => self.judge(ratio),
            Some(None) => {
                Verdict::NotMeasured(format!("`{id}`: no round with both servers' figures"))
            }
            None => Verdict::NotMeasured(format!("`{id}` not in this run")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Run;
    use crate::stats::{build_rows, NATS, RINGNATS};

    #[test]
    fn bounds() {
        let at_least = TARGETS[0];
        assert_eq!(at_least.judge(2.0), Verdict::Met { ratio: 2.0 });
        assert_eq!(at_least.judge(1.9), Verdict::NotMet { ratio: 1.9 });
        let at_most = TARGETS.iter().find(|t| t.bound == Bound::AtMost).unwrap();
        assert!(matches!(at_most.judge(0.4), Verdict::Met { .. }));
        assert!(matches!(at_most.judge(0.6), Verdict::NotMet { .. }));
        assert_eq!(at_most.describe(), "≤ 0.5×");
    }

    #[test]
    fn evaluates_on_pinned_rows_only() {
        let mk = |server: &str, round, v, pinned| Run {
            matrix_id: "tcp-pubsub-128".into(),
            server: server.into(),
            round,
            pinned,
            scenario: Some("pubsub".into()),
            size: Some(128),
            msgs_per_sec: Some(v),
            ..Run::default()
        };
        let rows = build_rows(&[mk(NATS, 1, 1.0, true), mk(RINGNATS, 1, 2.5, true)]);
        assert_eq!(TARGETS[0].evaluate(&rows), Verdict::Met { ratio: 2.5 });
        let next = TARGETS.last().unwrap();
        assert_eq!(next.evaluate(&rows), Verdict::NotMet { ratio: 2.5 });
        assert!(matches!(
            TARGETS[1].evaluate(&rows),
            Verdict::NotMeasured(_)
        ));
        let unpinned = build_rows(&[mk(NATS, 1, 1.0, false), mk(RINGNATS, 1, 2.5, false)]);
        assert!(matches!(
            TARGETS[0].evaluate(&unpinned),
            Verdict::NotMeasured(_)
        ));
    }
}
