//! `loadtest SCENARIO [flags]`: see `loadtest --help`.

use clap::Parser;

fn main() {
    let cli = loadtest::Cli::parse();
    let json = cli.scenario.common().is_some_and(|c| c.json);
    match loadtest::run(&cli.scenario) {
        Ok(report) => {
            if json {
                println!("{}", report.json());
            } else {
                print!("{}", report.table());
            }
            if !report.ok() {
                eprintln!("loadtest: {}", report.problems().join(", "));
                std::process::exit(1);
            }
        }
        Err(e) => {
            eprintln!("loadtest {}: {e}", cli.scenario.name());
            std::process::exit(2);
        }
    }
}
