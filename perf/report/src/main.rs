//! perf-report: the bookkeeping half of perf/compare.sh.
//!
//! - `annotate` turns one loadtest (or iperf3) JSON output into a results
//!   line tagged with server, round, pinned and matrix_id;
//! - `meta` prints the results file's first line: machine, date, command;
//! - `report` reads a results file, groups runs by matrix_id, and appends a
//!   dated section (side-by-side table, targets, ceilings) to
//!   perf/RESULTS.md, writing SVG plots beside the results.

mod markdown;
mod model;
mod plots;
mod stats;
mod targets;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use serde_json::{Map, Value};

use model::{find_json_object, from_iperf3, parse_kv, read_results, Meta};

#[derive(Parser)]
#[command(
    name = "perf-report",
    about = "Side-by-side benchmark bookkeeping for ringnats"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Clone, Copy, ValueEnum)]
enum Format {
    Loadtest,
    Iperf3,
}

#[derive(Subcommand)]
enum Cmd {
    /// Tag one tool output (a file, or stdin) and print it as one JSON line.
    /// Exits 2 when the line it printed records a failure.
    Annotate {
        /// The tool's stdout; stdin when absent.
        #[arg(long)]
        input: Option<PathBuf>,
        #[arg(long, value_enum, default_value = "loadtest")]
        format: Format,
        #[arg(long)]
        server: String,
        #[arg(long)]
        round: u32,
        #[arg(long, action = clap::ArgAction::Set)]
        pinned: bool,
        #[arg(long)]
        matrix_id: String,
        /// Scenario text for the table ("1→1", "1→100 fan-out", ...).
        #[arg(long)]
        label: Option<String>,
        /// Records the run as failed with this reason (keeping the input's
        /// figures if it has any).
        #[arg(long)]
        error: Option<String>,
        /// Extra fields, key=value (value parsed as JSON when it is JSON).
        #[arg(long = "set", value_parser = parse_kv)]
        set: Vec<(String, Value)>,
    },
    /// Print the results file's meta line (machine facts read here).
    Meta {
        #[arg(long)]
        date: String,
        #[arg(long)]
        command: String,
        #[arg(long, default_value = "")]
        mode: String,
        #[arg(long, default_value_t = 3)]
        rounds: u32,
        #[arg(long = "set", value_parser = parse_kv)]
        set: Vec<(String, Value)>,
    },
    /// Summarise a results file: print the section, append it to the
    /// Markdown file, write the plots.
    Report {
        #[arg(long)]
        results: PathBuf,
        /// RESULTS.md to append to; print only when absent.
        #[arg(long)]
        markdown: Option<PathBuf>,
        /// Directory for the SVG plots; none when absent.
        #[arg(long)]
        plots: Option<PathBuf>,
    },
}

fn annotate(
    input: Option<PathBuf>,
    format: Format,
    tags: Map<String, Value>,
    error: Option<String>,
) -> Result<(Map<String, Value>, bool), String> {
    let mut record = Map::new();
    record.insert("kind".into(), "run".into());
    let mut failed = None;
    match error {
        // A failed run keeps whatever figures the tool printed, for the
        // record; the report leaves runs with an error out of every median.
        Some(e) => {
            if let Some(obj) = input
                .as_ref()
                .and_then(|p| std::fs::read_to_string(p).ok())
                .and_then(|t| find_json_object(&t))
            {
                record.extend(obj);
            }
            failed = Some(e);
        }
        None => {
            let text = match &input {
                Some(p) => {
                    std::fs::read_to_string(p).map_err(|e| format!("{}: {e}", p.display()))?
                }
                None => {
                    let mut s = String::new();
                    std::io::stdin()
                        .read_to_string(&mut s)
                        .map_err(|e| format!("stdin: {e}"))?;
                    s
                }
            };
            match find_json_object(&text) {
                None => failed = Some("no JSON object in the tool's output".into()),
                Some(obj) => match format {
                    Format::Loadtest => record.extend(obj),
                    Format::Iperf3 => match from_iperf3(&obj) {
                        Ok(m) => record.extend(m),
                        Err(e) => failed = Some(e),
                    },
                },
            }
        }
    }
    record.extend(tags);
    let ok = failed.is_none();
    if let Some(e) = failed {
        record.insert("error".into(), e.into());
    }
    Ok((record, ok))
}

/// `path` relative to `base` when it lies under it, else as given.
fn relative_to(path: &Path, base: &Path) -> String {
    let abs = |p: &Path| std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf());
    let (p, b) = (abs(path), abs(base));
    p.strip_prefix(&b)
        .map(|r| r.display().to_string())
        .unwrap_or_else(|_| p.display().to_string())
}

fn report(results: &Path, markdown: Option<&Path>, plots: Option<&Path>) -> Result<(), String> {
    let data = read_results(results)?;
    if data.runs.is_empty() {
        return Err(format!("{}: no runs", results.display()));
    }
    let meta = data.meta.clone().unwrap_or_else(|| Meta {
        date: "(date not recorded)".into(),
        command: "(command not recorded)".into(),
        ..Meta::from_machine()
    });
    let rows = stats::build_rows(&data.runs);
    let mut plot_links = Vec::new();
    if let Some(dir) = plots {
        let base = markdown
            .and_then(Path::parent)
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("."));
        for (title, file) in plots::write_plots(&data.runs, dir)? {
            plot_links.push((title, relative_to(&dir.join(file), &base)));
        }
    }
    let links = markdown::Links {
        results: results.display().to_string(),
        plots: plot_links,
    };
    let section = markdown::render_section(&meta, &rows, &data.runs, &links);
    print!("{section}");
    if let Some(md) = markdown {
        let existing = match std::fs::read_to_string(md) {
            Ok(s) => s,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(e) => return Err(format!("{}: {e}", md.display())),
        };
        std::fs::write(md, markdown::append_section(&existing, &section))
            .map_err(|e| format!("{}: {e}", md.display()))?;
        eprintln!("perf-report: appended a section to {}", md.display());
    }
    Ok(())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.cmd {
        Cmd::Annotate {
            input,
            format,
            server,
            round,
            pinned,
            matrix_id,
            label,
            error,
            set,
        } => {
            let mut tags = Map::new();
            tags.insert("server".into(), server.into());
            tags.insert("round".into(), round.into());
            tags.insert("pinned".into(), pinned.into());
            tags.insert("matrix_id".into(), matrix_id.into());
            if let Some(l) = label {
                tags.insert("label".into(), l.into());
            }
            tags.extend(set);
            match annotate(input, format, tags, error) {
                Ok((record, ok)) => {
                    println!("{}", Value::Object(record));
                    return if ok {
                        ExitCode::SUCCESS
                    } else {
                        ExitCode::from(2)
                    };
                }
                Err(e) => Err(e),
            }
        }
        Cmd::Meta {
            date,
            command,
            mode,
            rounds,
            set,
        } => {
            let meta = Meta {
                date,
                command,
                mode,
                rounds,
                extra: set.into_iter().collect(),
                ..Meta::from_machine()
            };
            let mut v = serde_json::to_value(&meta).expect("meta serialises");
            v.as_object_mut()
                .expect("meta is an object")
                .insert("kind".into(), "meta".into());
            println!("{v}");
            Ok(())
        }
        Cmd::Report {
            results,
            markdown,
            plots,
        } => report(&results, markdown.as_deref(), plots.as_deref()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("perf-report: {e}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn annotate_tags_and_failures() {
        let dir = std::env::temp_dir().join(format!("perf-report-ann-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("out.json");
        std::fs::write(&f, "{\"scenario\":\"pubsub\",\"msgs_per_sec\":5.0}\n").unwrap();
        let mut tags = Map::new();
        tags.insert("server".into(), "ringnats".into());
        let (rec, ok) = annotate(Some(f.clone()), Format::Loadtest, tags.clone(), None).unwrap();
        assert!(ok);
        assert_eq!(rec["server"], "ringnats");
        assert_eq!(rec["msgs_per_sec"], 5.0);
        assert_eq!(rec["kind"], "run");

        std::fs::write(&f, "panicked\n").unwrap();
        let (rec, ok) = annotate(Some(f.clone()), Format::Loadtest, tags.clone(), None).unwrap();
        assert!(!ok);
        assert!(rec["error"].as_str().unwrap().contains("no JSON"));

        let (rec, ok) = annotate(None, Format::Loadtest, tags, Some("server died".into())).unwrap();
        assert!(!ok);
        assert_eq!(rec["error"], "server died");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
