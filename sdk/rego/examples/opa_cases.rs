//! OPA's own conformance cases against Palisade's engines, with real OPA as the judge.
//!
//! OPA keeps its conformance cases as YAML files (`v1/test/cases/testdata/v1/<topic>/*.yaml` in
//! an OPA checkout: modules, data, input and a query). This runner takes every case whose query
//! reads one rule (`data.test.p = x`), configures the modules as rego-authz would
//! ([`palisade_rego::compile_for`], on each engine the filter may choose), evaluates the rule on
//! OPA (v1.20.2, the wheel `scripts/setup` installs, non-strict as OPA-Envoy runs) and on each of
//! Palisade's engines, and prints what agrees, what is refused and what differs. The cases' own
//! expected results are not read: they assume OPA's strict test mode in places, and the oracle
//! answers in the filter's mode.
//!
//! ```text
//! cargo run -p palisade-rego --example opa_cases -- <dir with OPA's case files> [--show N]
//! ```
//!
//! The cases are OPA's, so they are not in this repository: the runner measures, the language
//! and builtin suites (`tests/opa`) are what CI checks.
#![allow(unsafe_code)] // the oracle's C interface
#![allow(unreachable_pub, dead_code)] // the test modules share helpers with `pub`; the runner uses some
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::print_stdout,
    clippy::print_stderr
)] // a command-line tool, as the test suite it shares modules with

#[path = "../tests/opa/compare.rs"]
mod compare;
#[path = "../tests/opa/engine.rs"]
mod engine;
#[path = "../tests/opa/non_strict.rs"]
mod non_strict;
#[path = "../tests/opa/oracle.rs"]
mod oracle;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use compare::{difference, Expected};
use oracle::{Answer, Opa};
use palisade_rego::RegoVersion;
use serde_json::Value;

/// One case of OPA's files (the fields the runner reads).
#[derive(Debug, serde::Deserialize)]
struct Case {
    note: String,
    #[serde(default)]
    modules: Vec<String>,
    data: Option<Value>,
    input: Option<Value>,
    input_term: Option<String>,
    query: String,
    /// What the case file expects (its OPA version's answer, in strict mode where it says so).
    want_result: Option<Vec<serde_json::Map<String, Value>>>,
    #[serde(default)]
    strict_error: bool,
}

impl Case {
    /// The value the case file expects for `x` (`Some(None)`: undefined), when it expects one
    /// and not a strict-mode error.
    fn wanted(&self) -> Option<Option<Value>> {
        let results = self.want_result.as_ref().filter(|_| !self.strict_error)?;
        Some(
            results
                .first()
                .and_then(|bindings| bindings.get("x").cloned()),
        )
    }
}

#[derive(Debug, serde::Deserialize)]
struct CaseFile {
    #[serde(default)]
    cases: Vec<Case>,
}

/// What became of the cases.
#[derive(Debug, Default)]
struct Tally {
    cases: usize,
    /// Not a query of one rule, or an input that is not JSON.
    other_shape: usize,
    /// OPA refuses the modules, and so does Palisade.
    refused_by_both: usize,
    /// Cases all of whose engines agree with OPA.
    agreed: usize,
    /// Palisade refuses what OPA accepts: the reason's first line, with the cases.
    refused: BTreeMap<String, Vec<String>>,
    /// Differences: case -> what differs.
    differences: Vec<(String, String)>,
    /// Differences where Palisade answers what the case file expects: the file comes from an
    /// OPA later than the oracle's v1.20.2, which answered otherwise.
    as_the_file_expects: Vec<(String, String)>,
    /// Comparisons per engine.
    comparisons: BTreeMap<&'static str, usize>,
}

fn main() {
    let mut args = std::env::args().skip(1);
    let dir = PathBuf::from(args.next().expect("usage: opa_cases <dir> [--show N]"));
    let show: usize = match (args.next().as_deref(), args.next()) {
        (Some("--show"), Some(n)) => n.parse().expect("--show N"),
        _ => 40,
    };
    let mut files = Vec::new();
    collect(&dir, &mut files);
    files.sort();
    let mut tally = Tally::default();
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap();
        let name = file
            .strip_prefix(&dir)
            .unwrap_or(file)
            .display()
            .to_string();
        match serde_yaml::from_str::<CaseFile>(&text) {
            Ok(cases) => {
                for case in &cases.cases {
                    run(&name, case, &mut tally);
                }
            }
            Err(err) => eprintln!("{name}: not read: {err}"),
        }
    }
    report(&tally, files.len(), show);
}

fn collect(dir: &Path, files: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            collect(&path, files);
        } else if path.extension().is_some_and(|e| e == "yaml" || e == "yml") {
            files.push(path);
        }
    }
}

/// The rule a query reads (`data.test.p = x` or `x = data.test.p`), if that is all it does.
fn rule_of(query: &str) -> Option<String> {
    let (left, right) = query.trim().split_once('=')?;
    let (left, right) = (left.trim(), right.trim());
    let rule = match (left, right) {
        (rule, "x") | ("x", rule) => rule,
        _ => return None,
    };
    let plain = rule.starts_with("data.")
        && rule
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.');
    plain.then(|| rule.to_string())
}

fn run(file: &str, case: &Case, tally: &mut Tally) {
    tally.cases += 1;
    let key = format!("{file}: {}", case.note);
    let input = match (&case.input, &case.input_term) {
        (Some(input), _) => input.clone(),
        (None, Some(term)) => match serde_json::from_str(term) {
            Ok(input) => input,
            Err(_) => {
                tally.other_shape += 1;
                return;
            }
        },
        // The filter always has an input document: a case without one runs with `{}` on both.
        (None, None) => Value::Object(Default::default()),
    };
    let (Some(rule), false) = (rule_of(&case.query), case.modules.is_empty()) else {
        tally.other_shape += 1;
        return;
    };
    let names: Vec<String> = (0..case.modules.len())
        .map(|i| format!("m{i}.rego"))
        .collect();
    let modules: Vec<(&str, &str)> = names
        .iter()
        .map(String::as_str)
        .zip(case.modules.iter().map(String::as_str))
        .collect();
    let opa = opa(&modules, case.data.as_ref());
    let config = engine::config(&modules, case.data.as_ref(), &rule, RegoVersion::V1);
    let mut engines = match (opa, engine::compile(&config)) {
        (Err(_), Err(_)) => {
            tally.refused_by_both += 1;
            return;
        }
        (Err(err), Ok(_)) => {
            let first = err.lines().next().unwrap_or_default().to_string();
            let diff = format!("OPA refuses the policy ({first}); Palisade accepts it");
            tally.differences.push((key, diff));
            return;
        }
        (Ok(_), Err(err)) => {
            let reason = err.lines().next().unwrap_or_default();
            let reason = reason.split(" at ").next().unwrap_or(reason).to_string();
            tally.refused.entry(reason).or_default().push(key);
            return;
        }
        (Ok(opa), Ok(engines)) => {
            let answer = opa.query(&format!("x := {rule}"), Some(&input));
            (Expected::of(&answer, "x"), engines)
        }
    };
    let (expected, engines) = (&engines.0, &mut engines.1);
    let mut agreed = true;
    for (name, evaluator) in engines.iter_mut() {
        *tally.comparisons.entry(name).or_default() += 1;
        let ours = engine::evaluate(evaluator, &rule, &input);
        if let Some(diff) = difference(expected, &ours) {
            agreed = false;
            let place = (format!("{key}: {rule} on the {name}"), diff);
            match case.wanted() {
                Some(wanted) if difference(&Expected::Value(wanted.clone()), &ours).is_none() => {
                    tally.as_the_file_expects.push(place)
                }
                _ => tally.differences.push(place),
            }
        }
    }
    tally.agreed += usize::from(agreed);
}

/// OPA with the modules and data; `Err` when it refuses them.
fn opa(modules: &[(&str, &str)], data: Option<&Value>) -> Result<Opa, String> {
    let mut opa = Opa::new();
    if let Some(data) = data {
        opa.add_data(data)?;
    }
    for (name, source) in modules {
        opa.add_policy(name, source)?;
    }
    match opa.query("x := true", None) {
        Answer::Error { code, message } => Err(format!("{code}: {message}")),
        _ => Ok(opa),
    }
}

fn report(tally: &Tally, files: usize, show: usize) {
    let run = tally.cases - tally.other_shape - tally.refused_by_both;
    let refused: usize = tally.refused.values().map(Vec::len).sum();
    println!("{files} files, {} cases", tally.cases);
    println!(
        "  {} not a query of one rule (or an input that is not JSON); {} refused by OPA and by Palisade",
        tally.other_shape, tally.refused_by_both
    );
    println!(
        "  {run} run: {} agree with OPA on every engine ({:.1}%), {refused} refused by Palisade, {} differ",
        tally.agreed,
        100.0 * tally.agreed as f64 / run.max(1) as f64,
        run - tally.agreed - refused,
    );
    println!("  comparisons: {:?}", tally.comparisons);
    println!("\nrefused by Palisade, by reason:");
    let mut reasons: Vec<_> = tally.refused.iter().collect();
    reasons.sort_by_key(|(_, cases)| std::cmp::Reverse(cases.len()));
    for (reason, cases) in reasons {
        println!("  {:>3}  {reason}", cases.len());
        for case in cases.iter().take(3) {
            println!("         {case}");
        }
    }
    println!(
        "\nPalisade answers as the case file expects, OPA v1.20.2 otherwise ({}):",
        tally.as_the_file_expects.len()
    );
    for (case, diff) in tally.as_the_file_expects.iter().take(show) {
        println!("  {case}\n      {diff}");
    }
    println!("\ndifferences ({}):", tally.differences.len());
    for (case, diff) in tally.differences.iter().take(show) {
        println!("  {case}\n      {diff}");
    }
}
