//! The Rego language, OPA against Palisade: each case of `language/*.yaml` is a policy (Rego v1,
//! or v0 with `rego_version: v0`), optional data documents, the rules to read and a list of
//! inputs (and inputs made by a generator, `generate`), evaluated by OPA and by the filter on
//! each engine it may run the policy on. Where the filter runs a policy on the interpreter only
//! (its bytecode compiler refuses the policy, or a construct is routed to the interpreter), the
//! VM is not compared for it; the count says how many.
//!
//! OPA's bridge parses Rego v1 only: a v0 case also gives its v1 form (`opa_policy`), written by
//! hand, for OPA.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use palisade_rego::RegoVersion;
use serde::Deserialize;
use serde_json::Value;

use crate::compare::{difference, Expected};
use crate::engine;
use crate::generate;
use crate::oracle::{Answer, Opa};

/// One case of a `language/*.yaml` file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Case {
    /// What the case checks (unique in its file).
    pub name: String,
    /// One module (`t.rego`) ...
    #[serde(default)]
    pub policy: Option<String>,
    /// ... or several, by file name.
    #[serde(default)]
    pub policies: BTreeMap<String, String>,
    /// For `rego_version: v0`: the same module in Rego v1, for OPA.
    #[serde(default)]
    pub opa_policy: Option<String>,
    /// `v0` or `v1` (the default).
    #[serde(default)]
    pub rego_version: Option<String>,
    /// One data document, or a list of them (each case runs with each).
    #[serde(default)]
    pub data: Documents,
    /// The rules to read, as rego-authz's `path` (`t/allow`).
    pub rules: Vec<String>,
    /// The inputs.
    #[serde(default)]
    pub inputs: Vec<Value>,
    /// More inputs, from a generator of [`generate`]: `{kind: ..., count: ...}`.
    #[serde(default)]
    pub generate: Option<generate::Spec>,
    /// Rules (as in `rules`) Palisade refuses at configure where OPA accepts them, each with
    /// what the refusal must say: the construct it names.
    #[serde(default)]
    pub refused: BTreeMap<String, String>,
    /// A cargo feature of palisade-rego the case needs: in a build without it, the filter must
    /// refuse every rule, naming the feature.
    #[serde(default)]
    pub needs: Option<String>,
}

impl Case {
    /// What Palisade's refusal of the rule at `path` must name, if it must refuse it.
    fn refusal(&self, path: &str) -> Option<String> {
        let missing = self.needs.as_ref().filter(|f| !crate::feature_enabled(f));
        match missing {
            Some(feature) => Some(format!("--features {feature}")),
            None => self.refused.get(path).cloned(),
        }
    }
}

/// No data, one document, or several.
#[derive(Debug, Default, Deserialize)]
#[serde(untagged)]
pub enum Documents {
    #[default]
    None,
    Many(Vec<Value>),
    One(Value),
}

impl Documents {
    fn list(&self) -> Vec<Option<&Value>> {
        match self {
            Documents::None => vec![None],
            Documents::One(data) => vec![Some(data)],
            Documents::Many(documents) => documents.iter().map(Some).collect(),
        }
    }
}

/// The case files, by file name.
pub fn cases() -> Vec<(String, Vec<Case>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/opa/language");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|path| {
            let text = std::fs::read_to_string(&path).unwrap();
            let cases: Vec<Case> =
                serde_yaml::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            (name, cases)
        })
        .collect()
}

/// What the language suite found.
#[derive(Debug, Default)]
pub struct Tally {
    /// Policies (cases) compared.
    pub policies: usize,
    /// Comparisons, by engine.
    pub comparisons: BTreeMap<&'static str, usize>,
    /// Cases the filter runs on the interpreter only: the VM is not compared for them.
    pub interpreter_only: Vec<String>,
    /// Cases the filter answers with the request rules (`file: case`).
    pub request_rules: std::collections::BTreeSet<String>,
    /// Rules OPA and the filter both refuse at configure (`file: case: rule`).
    pub refused_by_both: Vec<String>,
    /// Rules the filter refuses, naming the construct, where OPA accepts them (`refused`).
    pub refused_by_palisade: usize,
    /// Differences, by key (`file: case: rule on the engine`, or `file: case: rule` for a
    /// configure-time difference), each with what differs.
    pub differences: BTreeMap<String, Vec<String>>,
}

/// Runs every case.
pub fn run() -> Tally {
    let mut tally = Tally::default();
    for (file, cases) in cases() {
        let mut names = std::collections::BTreeSet::new();
        for case in &cases {
            assert!(
                names.insert(&case.name),
                "{file}: two cases named {}",
                case.name
            );
            run_case(&file, case, &mut tally);
        }
    }
    tally
}

fn modules(case: &Case) -> Vec<(&str, &str)> {
    let mut modules: Vec<(&str, &str)> = case
        .policies
        .iter()
        .map(|(name, source)| (name.as_str(), source.as_str()))
        .collect();
    if let Some(policy) = &case.policy {
        modules.push(("t.rego", policy.as_str()));
    }
    assert!(!modules.is_empty(), "{}: no policy", case.name);
    modules
}

fn rego_version(case: &Case) -> RegoVersion {
    match case.rego_version.as_deref() {
        None | Some("v1") => RegoVersion::V1,
        Some("v0") => RegoVersion::V0,
        Some(other) => panic!("{}: rego_version {other}", case.name),
    }
}

/// OPA with the case's policy (its v1 form for a v0 case) and `data`; `Err` when OPA refuses it.
fn opa(case: &Case, data: Option<&Value>) -> Result<Opa, String> {
    let mut opa = Opa::new();
    if let Some(data) = data {
        opa.add_data(data)?;
    }
    let mut modules = modules(case);
    if rego_version(case) == RegoVersion::V0 {
        let v1 = case
            .opa_policy
            .as_deref()
            .unwrap_or_else(|| panic!("{}: a v0 case needs its v1 form, opa_policy", case.name));
        modules = vec![("t.rego", v1)];
    }
    for (name, source) in modules {
        opa.add_policy(name, source)?;
    }
    // The bridge only parses a module when it is added; OPA compiles the modules (type checks,
    // safety, recursion, conflicts between rules) for the first query.
    match opa.query("x := true", None) {
        Answer::Error { code, message } => Err(format!("{code}: {message}")),
        _ => Ok(opa),
    }
}

fn run_case(file: &str, case: &Case, tally: &mut Tally) {
    tally.policies += 1;
    let key = format!("{file}: {}", case.name);
    let mut inputs = case.inputs.clone();
    if let Some(spec) = &case.generate {
        inputs.extend(generate::inputs(spec, &key));
    }
    assert!(!inputs.is_empty(), "{key}: no input");
    let mut on_vm = true;
    for data in case.data.list() {
        let opa = opa(case, data);
        // The filter compiles one rule per configuration (its `path`).
        for path in &case.rules {
            let rule = palisade_rego::rule_path(path);
            let rule_key = format!("{key}: {}", rule.rsplit('.').next().unwrap_or_default());
            let config = engine::config(&modules(case), data, path, rego_version(case));
            let (opa, mut engines) = match (&opa, engine::compile(&config)) {
                (Ok(opa), Ok(engines)) => (opa, engines),
                (Err(_), Err(_)) => {
                    tally.refused_by_both.push(rule_key);
                    continue;
                }
                (Err(err), Ok(_)) => {
                    let diff = format!("OPA refuses the policy ({err}); Palisade accepts it");
                    note(tally, &rule_key, diff);
                    continue;
                }
                (Ok(_), Err(err)) => {
                    match case.refusal(path) {
                        Some(construct) if err.contains(construct.as_str()) => {
                            tally.refused_by_palisade += 1;
                        }
                        _ => {
                            let diff =
                                format!("Palisade refuses the policy ({err}); OPA accepts it");
                            note(tally, &rule_key, diff);
                        }
                    }
                    continue;
                }
            };
            if let Some(construct) = case.refusal(path) {
                let diff = format!("Palisade accepts the policy, expected a refusal: {construct}");
                note(tally, &rule_key, diff);
                continue;
            }
            on_vm &= engines.iter().any(|(name, _)| *name == "vm");
            if engines.iter().any(|(name, _)| *name == "request rules") {
                tally.request_rules.insert(key.clone());
            }
            for input in &inputs {
                let answer = opa.query(&format!("x := {rule}"), Some(input));
                if let Answer::Error { message, .. } = &answer {
                    assert!(
                        !message.contains("rego_"),
                        "{key}: OPA refused the query for {rule}: {message}"
                    );
                }
                let expected = Expected::of(&answer, "x");
                for (engine, evaluator) in &mut engines {
                    *tally.comparisons.entry(*engine).or_default() += 1;
                    let ours = engine::evaluate(evaluator, &rule, input);
                    if let Some(diff) = difference(&expected, &ours) {
                        let data = data.map_or("none".to_string(), Value::to_string);
                        note(
                            tally,
                            &format!("{rule_key} on the {engine}"),
                            format!("data {data}, input {input}: {diff}"),
                        );
                    }
                }
            }
        }
    }
    if !on_vm {
        tally.interpreter_only.push(key);
    }
}

fn note(tally: &mut Tally, key: &str, difference: String) {
    tally
        .differences
        .entry(key.to_string())
        .or_default()
        .push(difference);
}
