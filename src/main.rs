//! The `ringnats` command: nats-server's flags, then the server.

use std::process::ExitCode;

use ringnats::config::Cli;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = match Cli::parse_args(std::env::args_os()) {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
    if cli.version {
        println!("ringnats: v{}", ringnats::VERSION);
        return ExitCode::SUCCESS;
    }
    if let Some(signal) = &cli.signal {
        return match ringnats::server::signal::send(signal) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("ringnats: {e}");
                ExitCode::FAILURE
            }
        };
    }
    let opts = match cli.load_options() {
        Ok(opts) => opts,
        Err(errors) => {
            eprintln!("ringnats: {errors}");
            return ExitCode::FAILURE;
        }
    };
    for w in &opts.warnings {
        eprintln!("ringnats: warning: {w}");
    }
    if cli.test_config {
        match &cli.config {
            Some(path) => eprintln!("ringnats: configuration file {} is valid", path.display()),
            None => eprintln!("ringnats: no configuration file given; the defaults are valid"),
        }
        return ExitCode::SUCCESS;
    }
    let io = cli.io;
    let read = Box::new(move || cli.load_options().map_err(|e| e.to_string()));
    ringnats::server::run(opts, io, read)
}
