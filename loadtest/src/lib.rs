//! loadtest: a NATS load generator that speaks the client protocol itself
//! (no client library) over `nats://`, `tls://`, `ws://` and `wss://`, so it
//! measures nats-server and ringnats alike.
//!
//! ```no_run
//! let scenario = loadtest::parse_args(["pubsub", "--url", "nats://127.0.0.1:4222", "--count", "100000"]).unwrap();
//! let report = loadtest::run(&scenario).unwrap();
//! assert!(report.ok(), "{:?}", report.problems());
//! println!("{}", report.json());
//! ```
//!
//! Scenarios: `pub`, `sub`, `pubsub`, `fanout`, `queue` (one engine,
//! [`flow`]), `reqrep` ([`reqrep`]), `conns` ([`conns`]) and the
//! `null-server` ([`null_server`]) for the generator's own ceiling.

pub mod args;
pub mod buf;
pub mod conns;
pub mod error;
pub mod flow;
pub mod net;
pub mod null_server;
mod progress;
pub mod proto;
pub mod report;
pub mod reqrep;
pub mod seq;
pub mod template;
pub mod ws;

pub use args::{
    parse_args, Cli, Common, ConnsArgs, FanoutArgs, NullServerArgs, PubArgs, PubsubArgs, QueueArgs,
    ReqrepArgs, Scenario, SubArgs,
};
pub use error::{Error, Result};
pub use report::{Latency, Report};

use flow::{run_flow, FlowSpec};

/// One publisher on `PREFIX.0`, `subscribers` (at least one) all listening
/// to it: the `sub` and `fanout` scenarios.
fn one_publisher_to_all(
    common: &Common,
    scenario: &'static str,
    subscribers: usize,
) -> Result<Report> {
    let subject = format!("{}.0", common.subject);
    let n = subscribers.max(1);
    run_flow(
        common,
        FlowSpec {
            scenario,
            pub_subjects: vec![subject.clone()],
            subs: (0..n).map(|_| vec![(subject.clone(), None)]).collect(),
            fanout: n as u64,
            queue: false,
        },
    )
}

/// Runs one scenario and returns its report. Counts are checked by the
/// caller: [`Report::ok`] says whether anything was lost or duplicated.
pub fn run(scenario: &Scenario) -> Result<Report> {
    let subj = |c: &Common, i: usize| format!("{}.{i}", c.subject);
    match scenario {
        Scenario::Pub(a) => run_flow(
            &a.common,
            FlowSpec {
                scenario: "pub",
                pub_subjects: (0..a.publishers.max(1))
                    .map(|_| subj(&a.common, 0))
                    .collect(),
                subs: Vec::new(),
                fanout: 0,
                queue: false,
            },
        ),
        Scenario::Sub(a) => one_publisher_to_all(&a.common, "sub", a.subscribers),
        Scenario::Pubsub(a) => {
            let k = a.subjects.max(1);
            let list: Vec<(String, Option<String>)> = if a.wildcard {
                vec![(format!("{}.>", a.common.subject), None)]
            } else {
                (0..k).map(|i| (subj(&a.common, i), None)).collect()
            };
            run_flow(
                &a.common,
                FlowSpec {
                    scenario: "pubsub",
                    pub_subjects: (0..a.publishers.max(1))
                        .map(|i| subj(&a.common, i % k))
                        .collect(),
                    subs: (0..a.subscribers).map(|_| list.clone()).collect(),
                    fanout: a.subscribers as u64,
                    queue: false,
                },
            )
        }
        Scenario::Fanout(a) => one_publisher_to_all(&a.common, "fanout", a.subscribers),
        Scenario::Queue(a) => run_flow(
            &a.common,
            FlowSpec {
                scenario: "queue",
                pub_subjects: vec![subj(&a.common, 0)],
                subs: (0..a.members.max(1))
                    .map(|_| vec![(subj(&a.common, 0), Some("workers".to_string()))])
                    .collect(),
                fanout: 1,
                queue: true,
            },
        ),
        Scenario::Reqrep(a) => reqrep::run_reqrep(a),
        Scenario::Conns(a) => conns::run_conns(a),
        Scenario::NullServer(a) => null_server::run_null_server(a),
    }
}
