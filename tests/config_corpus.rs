//! The configuration corpus: every file under tests/config/corpus records in
//! its header what nats-server 2.9.10 did with it (`# expect: valid`, or
//! `# expect: error line N`). `ringnats -t` must accept exactly the files
//! nats-server starts with, and refuse the others naming the same line.

use std::path::{Path, PathBuf};
use std::process::Command;

struct Case {
    path: PathBuf,
    expect: Expect,
    env: Vec<(String, String)>,
}

#[derive(Debug, PartialEq)]
enum Expect {
    Valid,
    Error(Option<u32>),
}

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/config/corpus")
}

fn load_cases() -> Vec<Case> {
    let mut cases = Vec::new();
    let mut entries: Vec<_> = std::fs::read_dir(corpus_dir())
        .expect("corpus directory")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "conf"))
        .collect();
    entries.sort();
    for path in entries {
        let text = std::fs::read_to_string(&path).unwrap();
        let mut expect = None;
        let mut ours = None;
        let mut env = Vec::new();
        for line in text.lines().take_while(|l| l.starts_with('#')) {
            let (slot, e) = if let Some(e) = line.strip_prefix("# expect: ") {
                (&mut expect, e)
            } else if let Some(e) = line.strip_prefix("# ringnats expect: ") {
                (&mut ours, e.split("  (").next().unwrap_or(e))
            } else {
                (&mut None, "")
            };
            if !e.is_empty() {
                *slot = Some(match e.trim() {
                    "valid" => Expect::Valid,
                    "error" => Expect::Error(None),
                    other => {
                        let n = other
                            .strip_prefix("error line ")
                            .unwrap_or_else(|| panic!("{}: bad expect line", path.display()));
                        Expect::Error(Some(n.trim().parse().unwrap()))
                    }
                });
            }
            if let Some(kv) = line.strip_prefix("# env: ") {
                let (k, v) = kv.split_once('=').expect("env NAME=value");
                env.push((k.trim().to_string(), v.to_string()));
            }
        }
        let expect = expect.unwrap_or_else(|| panic!("{}: no '# expect:' line", path.display()));
        let expect = ours.unwrap_or(expect);
        cases.push(Case { path, expect, env });
    }
    cases
}

/// Runs `ringnats -t -c FILE` from the corpus folder (certificate paths in
/// the files are relative to it, as nats-server resolves them).
fn check(case: &Case) -> Result<(), String> {
    let name = case.path.file_name().unwrap().to_str().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_ringnats"))
        .args(["-t", "-c", name])
        .current_dir(corpus_dir())
        .envs(case.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    match (&case.expect, out.status.success()) {
        (Expect::Valid, true) | (Expect::Error(None), false) => Ok(()),
        (Expect::Valid, false) => Err(format!(
            "{name}: refused, but nats-server starts with it:\n{stderr}"
        )),
        (Expect::Error(_), true) => Err(format!(
            "{name}: accepted, but nats-server refuses it:\n{stderr}"
        )),
        (Expect::Error(Some(line)), false) => {
            // Every error names file:line:col; one of them must be the line
            // nats-server names.
            let wanted = format!(":{line}:");
            let named = stderr
                .lines()
                .any(|l| l.split(": ").any(|part| has_line(part, &wanted)));
            if named {
                Ok(())
            } else {
                Err(format!(
                    "{name}: refused, but not at line {line}:\n{stderr}"
                ))
            }
        }
    }
}

/// `part` looks like `path:LINE:COL` with the wanted line.
fn has_line(part: &str, wanted: &str) -> bool {
    let part = part.trim_start_matches("ringnats").trim();
    match part.rfind(wanted) {
        Some(i) => part[i + wanted.len()..].chars().all(|c| c.is_ascii_digit()) && i > 0,
        None => false,
    }
}

#[test]
fn corpus_is_accepted_and_refused_as_by_nats_server() {
    let cases = load_cases();
    assert!(cases.len() >= 40, "the corpus holds {} files", cases.len());
    let failures: Vec<String> = cases.iter().filter_map(|c| check(c).err()).collect();
    assert!(
        failures.is_empty(),
        "{} of {} corpus files differ from nats-server:\n\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

#[test]
fn corpus_covers_both_outcomes() {
    let cases = load_cases();
    let valid = cases.iter().filter(|c| c.expect == Expect::Valid).count();
    assert!(valid >= 20, "only {valid} valid files");
    assert!(
        cases.len() - valid >= 20,
        "only {} broken files",
        cases.len() - valid
    );
}
