//! `palisade test`: finds Rego policies and decision case files, runs every case through the
//! compiled rego-authz filter in the harness, and reports the way `opa test` and `cargo test`
//! users expect: one line per case, a diff on failure, a summary, exit code 1 on failure.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use serde::Serialize;

use crate::cases::{self, CaseResult, Mismatch, Suite, Verdict};
use crate::command::{Format, UsageError};
use crate::policy_files::{self, PolicySet};
use crate::rego_filter::RegoFilter;

/// `palisade test`'s arguments.
#[derive(Debug, Clone, clap::Args)]
pub struct TestArgs {
    /// Case files (.yaml), policy files (.rego, standing for their directory) or directories
    /// to search recursively [default: .]
    pub paths: Vec<PathBuf>,
    /// `text`: one line per case; `json`: one document on stdout, for CI.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// Decide with this rego_authz.wasm instead of building rego-authz from the workspace.
    #[arg(long, value_name = "FILE")]
    pub wasm: Option<PathBuf>,
}

/// What `palisade test` found to run.
#[derive(Debug, Default)]
struct Found {
    case_files: BTreeSet<PathBuf>,
    policy_dirs: BTreeSet<PathBuf>,
}

/// Directories never searched: build output, dependencies, hidden directories.
fn skipped_dir(path: &Path) -> bool {
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default();
    name.starts_with('.') || name == "target" || name == "node_modules"
}

fn is_yaml(path: &Path) -> bool {
    path.extension().is_some_and(|e| e == "yaml" || e == "yml")
}

impl Found {
    fn search(&mut self, dir: &Path, recursive: bool) -> anyhow::Result<()> {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
            .map_err(|e| anyhow::anyhow!("reading {}: {e}", dir.display()))?
            .filter_map(Result::ok)
            .map(|e| e.path())
            .collect();
        entries.sort();
        for path in entries {
            if path.is_dir() {
                if recursive && !skipped_dir(&path) {
                    self.search(&path, true)?;
                }
            } else if policy_files::is_policy_file(&path) {
                self.policy_dirs.insert(dir.to_path_buf());
            } else if is_yaml(&path) && !policy_files::is_data_file(&path) {
                let text = std::fs::read_to_string(&path).unwrap_or_default();
                if cases::is_case_file(&text) {
                    self.case_files.insert(path);
                }
            }
        }
        Ok(())
    }

    fn add(&mut self, path: &Path) -> anyhow::Result<()> {
        if path.is_dir() {
            return self.search(path, true);
        }
        if !path.exists() {
            return Err(
                UsageError(format!("{}: no such file or directory", path.display())).into(),
            );
        }
        if policy_files::is_policy_file(path) {
            let dir = match path.parent() {
                Some(dir) if !dir.as_os_str().is_empty() => dir,
                _ => Path::new("."),
            };
            return self.search(dir, false);
        }
        if is_yaml(path) {
            self.case_files.insert(path.to_path_buf());
            return Ok(());
        }
        Err(UsageError(format!(
            "{}: not a case file (.yaml), a policy (.rego) or a directory",
            path.display()
        ))
        .into())
    }
}

/// How one reported entry went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
enum Status {
    Pass,
    Fail,
    /// Not run because of a problem (a policy that does not load, a bad case file); counted
    /// as failed.
    Error,
    Skip,
}

/// One reported result: a case, or a file or directory that could not be run.
#[derive(Debug, Clone, Serialize)]
struct Entry {
    file: String,
    note: String,
    result: Status,
    #[serde(skip_serializing_if = "Option::is_none")]
    duration_ms: Option<f64>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    mismatches: Vec<Mismatch>,
    /// Further detail: the filter's log lines, the error, the reason for skipping.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    details: Vec<String>,
}

#[derive(Debug, Default, Serialize)]
struct Report {
    passed: usize,
    failed: usize,
    skipped: usize,
    results: Vec<Entry>,
}

impl Entry {
    fn problem(file: String, note: &str, details: Vec<String>) -> Self {
        Self {
            file,
            note: note.to_string(),
            result: Status::Error,
            duration_ms: None,
            mismatches: Vec::new(),
            details,
        }
    }

    fn from_case(file: &str, result: &CaseResult<'_>) -> Self {
        let (status, mismatches, details) = match &result.verdict {
            Verdict::Passed => (Status::Pass, Vec::new(), Vec::new()),
            Verdict::Failed { mismatches, log } => (Status::Fail, mismatches.clone(), log.clone()),
            Verdict::Error(err) => (Status::Error, Vec::new(), vec![err.clone()]),
            Verdict::Skipped(why) => (Status::Skip, Vec::new(), vec![why.clone()]),
        };
        Self {
            file: file.to_string(),
            note: result.case.note.clone(),
            result: status,
            duration_ms: matches!(status, Status::Pass | Status::Fail)
                .then_some(result.elapsed.as_secs_f64() * 1e3),
            mismatches,
            details,
        }
    }

    /// The entry as `cargo test`-like text: a result line, then the diff or details indented.
    fn text(&self) -> String {
        let mark = match self.result {
            Status::Pass => "PASS",
            Status::Skip => "SKIP",
            Status::Fail | Status::Error => "FAIL",
        };
        let mut out = format!("{mark} {}: {}", self.file, self.note);
        if let Some(ms) = self.duration_ms {
            out.push_str(&format!(" ({ms:.2} ms)"));
        }
        if self.result == Status::Skip {
            for why in &self.details {
                out.push_str(&format!(" ({why})"));
            }
            return out;
        }
        if !self.mismatches.is_empty() {
            out.push_str("\n    expected (-) vs actual (+) decision:");
            for m in &self.mismatches {
                if let Some(expected) = &m.expected {
                    out.push_str(&format!("\n    - {}: {expected}", m.field));
                }
                out.push_str(&format!("\n    + {}: {}", m.field, m.actual));
            }
            if !self.details.is_empty() {
                out.push_str("\n    the filter logged:");
            }
        }
        for line in &self.details {
            out.push_str(&format!("\n      {line}"));
        }
        out
    }
}

impl Report {
    fn add(&mut self, entry: Entry, format: Format) {
        match entry.result {
            Status::Pass => self.passed += 1,
            Status::Skip => self.skipped += 1,
            Status::Fail | Status::Error => self.failed += 1,
        }
        if format == Format::Text {
            println!("{}", entry.text());
        }
        self.results.push(entry);
    }

    fn summary(&self) -> String {
        let mut line = format!("{} passed, {} failed", self.passed, self.failed);
        if self.skipped > 0 {
            line.push_str(&format!(", {} skipped", self.skipped));
        }
        line
    }
}

/// A policy directory without case files that use it: checked by configuring the filter with
/// it, which is where syntax errors show.
fn check_policies(filter: &RegoFilter, dir: &Path) -> Option<Entry> {
    let name = policy_files::display_path(dir);
    let set = match PolicySet::from_dir(dir) {
        Ok(set) => set,
        Err(err) => {
            return Some(Entry::problem(
                name,
                "the policies could not be read",
                vec![err.to_string()],
            ))
        }
    };
    match filter.configure(
        &set.plugin_configuration(&serde_json::Map::new()),
        SystemTime::now(),
    ) {
        Ok(_) => {
            eprintln!("note: {name}: the policies compile; no case files use them");
            None
        }
        Err(err) => Some(Entry::problem(
            name,
            "the policies did not load",
            err.details(),
        )),
    }
}

/// Runs `palisade test`; true when nothing failed.
pub fn run(args: &TestArgs) -> anyhow::Result<bool> {
    let mut found = Found::default();
    let paths = if args.paths.is_empty() {
        vec![PathBuf::from(".")]
    } else {
        args.paths.clone()
    };
    for path in &paths {
        found.add(path)?;
    }
    if found.case_files.is_empty() && found.policy_dirs.is_empty() {
        anyhow::bail!(
            "no case files (YAML with a `cases:` list) or .rego files under {}: see \
             `palisade test --help` for the case format",
            paths
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    // Case files that leave out `policies` cover their directory's .rego files.
    let suites: BTreeMap<PathBuf, Result<Suite, cases::CaseError>> = found
        .case_files
        .iter()
        .map(|path| (path.clone(), Suite::load(path)))
        .collect();
    let covered: BTreeSet<PathBuf> = suites
        .iter()
        .filter(|(_, s)| s.as_ref().is_ok_and(|s| s.file.policies.is_none()))
        .filter_map(|(path, _)| path.parent().map(Path::to_path_buf))
        .map(|dir| {
            if dir.as_os_str().is_empty() {
                PathBuf::from(".")
            } else {
                dir
            }
        })
        .collect();
    let dirs: Vec<&PathBuf> = found.policy_dirs.difference(&covered).collect();

    let filter = crate::command::ready_filter(args.wasm.as_deref())?;
    let mut report = Report::default();
    // Case files and policy directories in path order.
    let mut units: Vec<(&PathBuf, bool)> = suites.keys().map(|p| (p, true)).collect();
    units.extend(dirs.into_iter().map(|d| (d, false)));
    units.sort();
    for (path, is_case_file) in units {
        if !is_case_file {
            if let Some(entry) = check_policies(&filter, path) {
                report.add(entry, args.format);
            }
            continue;
        }
        let suite = match suites.get(path) {
            Some(Ok(suite)) => suite,
            Some(Err(err)) => {
                let name = policy_files::display_path(path);
                report.add(
                    Entry::problem(
                        name,
                        "the case file could not be loaded",
                        vec![err.to_string()],
                    ),
                    args.format,
                );
                continue;
            }
            None => continue,
        };
        match filter.run_suite(suite, &BTreeMap::new()) {
            Ok(results) => {
                for result in &results {
                    report.add(Entry::from_case(&suite.name(), result), args.format);
                }
            }
            Err(err) => report.add(
                Entry::problem(suite.name(), "the policies did not load", err.details()),
                args.format,
            ),
        }
    }
    match args.format {
        Format::Text => println!("\n{}", report.summary()),
        Format::Json => println!("{}", serde_json::to_string_pretty(&report)?),
    }
    Ok(report.failed == 0)
}
