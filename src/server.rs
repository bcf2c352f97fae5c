//! Starting and stopping the server: options in, shards running, exit code out.

use std::process::ExitCode;

use crate::config::{IoMode, Options};

/// Runs the server until SIGINT or SIGTERM.
pub fn run(_opts: Options, _io: IoMode) -> ExitCode {
    eprintln!("ringnats: the server is not built yet; use -t to check a configuration");
    ExitCode::FAILURE
}
