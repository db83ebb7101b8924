//! `palisade test`: finds Rego policies, decision case files and OPA unit tests
//! (`*_test.rego`), runs every case and test through the compiled rego-authz filter in the
//! harness, and reports the way `opa test` and `cargo test` users expect: one line per case or
//! test, a diff on failure, a summary, exit code 1 on failure.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use palisade_testkit::cases::{self, CaseResult, Mismatch, Suite, Verdict};
use palisade_testkit::policy_files::{self, PolicySet};
use palisade_testkit::rego_filter::RegoFilter;
use serde::Serialize;

use crate::command::{Format, UsageError};
use crate::rego_tests::{self, RegoTest, TestVerdict};

/// `palisade test`'s arguments.
#[derive(Debug, Clone, clap::Args)]
pub struct TestArgs {
    /// Case files (.yaml), policy files (.rego, standing for their directory) or directories
    /// to search recursively [default: .]
    pub paths: Vec<PathBuf>,
    /// `text`: one line per case; `json`: one document on stdout, for CI.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// Decide with this rego_authz.wasm instead of the one the command carries.
    #[arg(long, value_name = "FILE")]
    pub wasm: Option<PathBuf>,
    /// Run only the OPA tests (`data.pkg.test_x`) and cases (`FILE: NOTE`) whose name matches
    /// this regular expression, as `opa test --run`.
    #[arg(long, value_name = "REGEX")]
    pub run: Option<String>,
    /// For a failed OPA test, show its rule's text too.
    #[arg(short, long)]
    pub verbose: bool,
}

/// What `palisade test` found to run.
#[derive(Debug, Default)]
struct Found {
    case_files: BTreeSet<PathBuf>,
    policy_dirs: BTreeSet<PathBuf>,
    test_files: BTreeSet<PathBuf>,
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
            } else if policy_files::is_test_file(&path) {
                self.test_files.insert(path);
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
        if policy_files::is_test_file(path) {
            self.test_files.insert(path.to_path_buf());
            return Ok(());
        }
        if policy_files::is_policy_file(path) {
            return self.search(&parent_dir(path), false);
        }
        if is_yaml(path) {
            self.case_files.insert(path.to_path_buf());
            return Ok(());
        }
        Err(UsageError(format!(
            "{}: not a case file (.yaml), a policy or test (.rego) or a directory",
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

    fn from_test(test: &RegoTest, verdict: TestVerdict, verbose: bool) -> Self {
        let (result, mut details) = match verdict {
            TestVerdict::Passed => (Status::Pass, Vec::new()),
            TestVerdict::Skipped => (Status::Skip, vec!["todo_ test".to_string()]),
            TestVerdict::Failed(value) => (Status::Fail, vec![format!("the test is {value}")]),
            TestVerdict::Error(why) => (Status::Error, vec![why]),
        };
        if verbose && matches!(result, Status::Fail | Status::Error) {
            details.extend(test.source.lines().map(|line| format!("| {line}")));
        }
        Self {
            file: test.file.display().to_string(),
            note: test.name(),
            result,
            duration_ms: None,
            mismatches: Vec::new(),
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

/// What one unit of `palisade test` runs: a case file, a directory's OPA tests, or a policy
/// directory nothing else covers (compiled only).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Unit {
    Cases,
    Tests,
    Policies,
}

/// A file's directory, `.` for a bare file name.
fn parent_dir(path: &Path) -> PathBuf {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// Runs the OPA tests of the test `files` in `dir`, with the directory's policies and data.
fn run_rego_tests(
    filter: &RegoFilter,
    dir: &Path,
    files: &[&PathBuf],
    config: &serde_json::Map<String, serde_json::Value>,
    selected: &dyn Fn(&str) -> bool,
    verbose: bool,
) -> Vec<Entry> {
    // A directory of tests alone still has its base document.
    let loaded = match PolicySet::from_dir(dir) {
        Err(policy_files::PolicyFilesError::NoPolicies { .. }) => policy_files::data_file(dir)
            .and_then(|file| file.map(|f| policy_files::read_data(&f)).transpose())
            .map(|data| PolicySet {
                modules: BTreeMap::new(),
                data,
            }),
        loaded => loaded,
    };
    let mut policies = match loaded {
        Ok(set) => set,
        Err(err) => {
            return vec![Entry::problem(
                policy_files::display_path(dir),
                "the policies could not be read",
                vec![err.to_string()],
            )]
        }
    };
    let mut tests = Vec::new();
    let mut entries = Vec::new();
    for file in files {
        let name = policy_files::display_path(file);
        let found = std::fs::read_to_string(file)
            .map_err(|err| format!("reading {name}: {err}"))
            .and_then(|text| {
                let found = rego_tests::discover(Path::new(&name), &text)?;
                policies.modules.insert(name.clone(), text);
                Ok(found)
            });
        match found {
            Ok(found) => tests.extend(found.into_iter().filter(|t| selected(&t.name()))),
            Err(why) => entries.push(Entry::problem(
                name,
                "the test file could not be read",
                vec![why],
            )),
        }
    }
    let verdicts = rego_tests::run(filter, &policies, config, &tests);
    entries.extend(
        tests
            .iter()
            .zip(verdicts)
            .map(|(test, verdict)| Entry::from_test(test, verdict, verbose)),
    );
    entries
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
        .map(|(path, _)| parent_dir(path))
        .collect();
    let test_dirs: BTreeMap<PathBuf, Vec<&PathBuf>> =
        found
            .test_files
            .iter()
            .fold(BTreeMap::new(), |mut dirs, file| {
                dirs.entry(parent_dir(file)).or_default().push(file);
                dirs
            });
    // Policy directories with neither case files nor tests are still compiled.
    let unchecked: Vec<&PathBuf> = found
        .policy_dirs
        .iter()
        .filter(|dir| !covered.contains(*dir) && !test_dirs.contains_key(*dir))
        .collect();
    let selected = args
        .run
        .as_deref()
        .map(regex::Regex::new)
        .transpose()
        .map_err(|err| UsageError(format!("--run is not a regular expression: {err}")))?;
    let selected = |name: &str| selected.as_ref().is_none_or(|re| re.is_match(name));

    let filter = crate::command::ready_filter(args.wasm.as_deref())?;
    let mut report = Report::default();
    // Case files, test directories and policy directories, in path order.
    let mut units: Vec<(&PathBuf, Unit)> = suites.keys().map(|p| (p, Unit::Cases)).collect();
    units.extend(test_dirs.keys().map(|d| (d, Unit::Tests)));
    units.extend(unchecked.into_iter().map(|d| (d, Unit::Policies)));
    units.sort();
    for (path, unit) in units {
        match unit {
            Unit::Policies => {
                if let Some(entry) = check_policies(&filter, path) {
                    report.add(entry, args.format);
                }
            }
            Unit::Tests => {
                let files = test_dirs.get(path).map(Vec::as_slice).unwrap_or_default();
                let config = suites
                    .iter()
                    .filter(|(file, _)| parent_dir(file) == *path)
                    .find_map(|(_, suite)| suite.as_ref().ok())
                    .map(|suite| suite.file.config.clone())
                    .unwrap_or_default();
                for entry in run_rego_tests(&filter, path, files, &config, &selected, args.verbose)
                {
                    report.add(entry, args.format);
                }
            }
            Unit::Cases => match suites.get(path) {
                Some(Ok(suite)) => {
                    let mut suite = suite.clone();
                    let name = suite.name();
                    suite
                        .file
                        .cases
                        .retain(|case| selected(&format!("{name}: {}", case.note)));
                    if suite.file.cases.is_empty() {
                        continue;
                    }
                    match filter.run_suite(&suite, &BTreeMap::new()) {
                        Ok(results) => {
                            for result in &results {
                                report.add(Entry::from_case(&name, result), args.format);
                            }
                        }
                        Err(err) => report.add(
                            Entry::problem(name, "the policies did not load", err.details()),
                            args.format,
                        ),
                    }
                }
                Some(Err(err)) => report.add(
                    Entry::problem(
                        policy_files::display_path(path),
                        "the case file could not be loaded",
                        vec![err.to_string()],
                    ),
                    args.format,
                ),
                None => {}
            },
        }
    }
    if report.results.is_empty() && args.run.is_some() {
        eprintln!("note: no case or test matches --run");
    }
    match args.format {
        Format::Text => println!("\n{}", report.summary()),
        Format::Json => println!("{}", serde_json::to_string_pretty(&report)?),
    }
    Ok(report.failed == 0)
}
