//! The progress line on stderr while a run goes (hidden with --json,
//! --quiet, or when stderr is not a terminal).

use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::args::Common;

pub struct Progress(Option<ProgressBar>);

impl Progress {
    pub fn new(c: &Common) -> Progress {
        if c.json || c.quiet || !std::io::stderr().is_terminal() {
            return Progress(None);
        }
        let pb = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
        pb.set_style(
            ProgressStyle::with_template("{spinner} {elapsed:>4} {msg}").expect("template"),
        );
        pb.enable_steady_tick(Duration::from_millis(200));
        Progress(Some(pb))
    }

    pub fn set(&self, msg: String) {
        if let Some(pb) = &self.0 {
            pb.set_message(msg);
        }
    }

    pub fn finish(&self) {
        if let Some(pb) = &self.0 {
            pb.finish_and_clear();
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.finish();
    }
}
