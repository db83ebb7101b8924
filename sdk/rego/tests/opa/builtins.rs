//! Every builtin rego-authz provides, called by OPA and by Palisade (each engine) on the same
//! arguments: a pool of values every family meets (strings of every shape the builtins parse,
//! numbers, collections, sets), and the families' own good arguments (`builtins.yaml`). A
//! builtin's error is undefined (non-strict), as in OPA-Envoy.

use std::collections::{BTreeMap, BTreeSet};

use palisade_rego::RegoVersion;
use serde_json::{json, Value};

use crate::compare::{difference, Expected};
use crate::engine;
use crate::oracle::{Answer, Opa};

/// Builtins left out: their value changes from call to call.
const NONDETERMINISTIC: [&str; 3] = ["time.now_ns", "rand.intn", "uuid.rfc4122"];

/// Values every builtin is called with. `{"$set": [...]}` stands for a set (JSON has none).
pub fn pool() -> Vec<Value> {
    let strings = [
        "",
        "a",
        "abc",
        "A b C",
        "héllo",
        "1",
        "1.5",
        "-3",
        "true",
        "null",
        "a,b,c",
        "a.b",
        "/a/b",
        "  x  ",
        "%d",
        "%s %v",
        "*",
        "a*",
        "[a-z]+",
        "(",
        "{a,b}",
        "1.2.3",
        "v1.0.0",
        "10.0.0.0/8",
        "10.0.0.1",
        "::1",
        "2001:db8::/32",
        "2020-01-02T03:04:05Z",
        "2020-01-02",
        "1h30m",
        "10s",
        "YWJj",
        "YWJj==",
        "616263",
        "{\"a\":1}",
        "[1,2]",
        "1KiB",
        "10M",
        "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhIn0.x",
    ];
    let mut pool: Vec<Value> = strings.iter().map(|s| json!(s)).collect();
    pool.extend([
        json!(0),
        json!(1),
        json!(-1),
        json!(2),
        json!(1.5),
        json!(-2.5),
        json!(100),
        json!(1e300),
        json!(null),
        json!(true),
        json!(false),
        json!([]),
        json!([1, 2, 3]),
        json!(["a", "b"]),
        json!([[1, 2], [3]]),
        json!({}),
        json!({"a": 1, "b": "x"}),
        json!({"$set": [1, 2]}),
        json!({"$set": ["a"]}),
        json!({"$set": []}),
    ]);
    pool
}

/// Calls that would make OPA itself allocate without bound (it has no budget; Palisade stops
/// them with `budget_exceeded`, tested in `tests/reliability/bounds.rs`).
fn too_big_for_opa(name: &str, args: &[Value]) -> bool {
    let number = |at: usize| args.get(at).and_then(Value::as_f64);
    match name {
        "net.cidr_expand" => args.first().and_then(Value::as_str).is_none_or(|cidr| {
            let (address, prefix) = cidr.split_once('/').unwrap_or((cidr, ""));
            let width = if address.contains(':') { 128 } else { 32 };
            let prefix: i32 = prefix.parse().unwrap_or(width);
            width - prefix > 16
        }),
        "numbers.range" | "numbers.range_step" => match (number(0), number(1)) {
            (Some(a), Some(b)) => (a - b).abs() > 1e6,
            _ => false,
        },
        "bits.lsh" => number(1).is_some_and(|shift| shift > 1e4),
        _ => false,
    }
}

/// Deterministic argument tuples for a builtin: every pool value alone for one argument, a
/// sample of combinations for more (seeded by the builtin's name).
fn tuples(name: &str, arity: usize, pool: &[Value]) -> Vec<Vec<Value>> {
    match arity {
        0 => vec![vec![]],
        1 => pool.iter().map(|v| vec![v.clone()]).collect(),
        _ => {
            let mut seed = name.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
                (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
            });
            let mut next = || {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                usize::try_from(seed % pool.len() as u64).unwrap()
            };
            (0..90)
                .map(|_| (0..arity).map(|_| pool[next()].clone()).collect())
                .collect()
        }
    }
}

fn is_set(value: &Value) -> bool {
    value.get("$set").is_some()
}

/// The call as Rego: each argument read from the input (a set built from the input's array).
fn call_source(name: &str, args: &[Value]) -> String {
    let args: Vec<String> = args
        .iter()
        .enumerate()
        .map(|(i, a)| match is_set(a) {
            true => format!("{{v | some v in input[{i}][\"$set\"]}}"),
            false => format!("input[{i}]"),
        })
        .collect();
    format!(
        "package t\nimport rego.v1\nx := {name}({})\n",
        args.join(", ")
    )
}

/// Every builtin rego-authz provides, with its arity.
pub fn provided() -> Vec<(String, usize)> {
    let mut all: BTreeMap<String, usize> = regorus::unstable::BUILTINS
        .iter()
        .map(|(name, (_, arity))| (name.to_string(), usize::from(*arity)))
        .collect();
    let extensions = palisade_rego::extensions::all();
    for extension in &extensions {
        all.insert(extension.name.to_string(), usize::from(extension.arity));
    }
    let extension_names: Vec<&str> = extensions.iter().map(|e| e.name).collect();
    all.into_iter()
        .filter(|(name, _)| !NONDETERMINISTIC.contains(&name.as_str()))
        .filter(|(name, _)| {
            let source = format!("package t\nx := {name}()\n");
            palisade_rego::builtins::unsupported_calls(&[&source], &extension_names).is_empty()
        })
        .collect()
}

/// The outcome of calling one builtin on its arguments.
#[derive(Debug, Default)]
pub struct Tally {
    pub comparisons: usize,
    pub differences: Vec<String>,
    /// Builtins OPA does not have (regorus extras).
    pub not_in_opa: BTreeSet<String>,
    /// Calls OPA's type checker refuses at compile time.
    pub refused_by_type_checker: usize,
}

/// Calls `name` with each argument tuple in OPA and in Palisade, and tallies.
pub fn compare_calls(name: &str, calls: &[Vec<Value>], tally: &mut Tally) {
    let mut by_source: BTreeMap<String, Vec<&Vec<Value>>> = BTreeMap::new();
    for args in calls {
        by_source
            .entry(call_source(name, args))
            .or_default()
            .push(args);
    }
    for (source, calls) in by_source {
        let mut opa = Opa::new();
        if let Err(err) = opa.add_policy("t.rego", &source) {
            if err.contains("undefined function") {
                tally.not_in_opa.insert(name.to_string());
            } else {
                tally
                    .differences
                    .push(format!("{name}: OPA refused the call: {err}"));
            }
            continue;
        }
        let config = engine::config(&[("t.rego", &source)], None, "data.t.x", RegoVersion::V1);
        let mut engines = match engine::compile(&config) {
            Ok(engines) => engines,
            Err(err) => {
                tally
                    .differences
                    .push(format!("{name}: Palisade refused the call: {err}"));
                continue;
            }
        };
        for args in calls {
            let input = Value::Array(args.clone());
            let answer = opa.query("x := data.t.x", Some(&input));
            match &answer {
                Answer::Error { message, .. } if message.contains("undefined function") => {
                    tally.not_in_opa.insert(name.to_string());
                    break;
                }
                // OPA's type checker refuses the call before evaluating anything (a set where a
                // string belongs): the policy would not load in OPA. Palisade, which has no type
                // checker, finds the call undefined when it runs.
                Answer::Error { message, .. } if message.contains("rego_type_error") => {
                    tally.refused_by_type_checker += 1;
                    continue;
                }
                _ => {}
            }
            let expected = Expected::of(&answer, "x");
            for (engine, evaluator) in &mut engines {
                tally.comparisons += 1;
                let ours = engine::evaluate(evaluator, "data.t.x", &input);
                if let Some(diff) = difference(&expected, &ours) {
                    tally.differences.push(format!(
                        "{name}({}) on the {engine}: {diff}",
                        show_args(args)
                    ));
                }
            }
        }
    }
}

fn show_args(args: &[Value]) -> String {
    args.iter()
        .map(|a| match a.get("$set") {
            Some(members) => format!("set{members}"),
            None => a.to_string(),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The families' good arguments: `builtins.yaml`, and each `builtins.<features>.yaml` whose
/// opt-in features (joined by `+`) the tests are built with: builtin name -> argument lists.
pub fn good_arguments() -> BTreeMap<String, Vec<Vec<Value>>> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/opa");
    let mut files: Vec<std::path::PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| {
            let name = path
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or_default();
            name.strip_prefix("builtins.")
                .and_then(|n| n.strip_suffix(".yaml"))
                .is_some_and(|features| features.split('+').all(crate::feature_enabled))
        })
        .collect();
    files.push(dir.join("builtins.yaml"));
    let mut good: BTreeMap<String, Vec<Vec<Value>>> = BTreeMap::new();
    for path in files {
        let text = std::fs::read_to_string(&path).unwrap();
        let calls: BTreeMap<String, Vec<Vec<Value>>> =
            serde_yaml::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        for (name, calls) in calls {
            good.entry(name).or_default().extend(calls);
        }
    }
    good
}

pub fn sweep() -> Tally {
    let pool = pool();
    let good = good_arguments();
    let mut tally = Tally::default();
    for (name, arity) in provided() {
        if std::env::var_os("OPA_SWEEP_VERBOSE").is_some() {
            eprintln!("{name}");
        }
        let mut calls = tuples(&name, arity, &pool);
        calls.extend(good.get(&name).cloned().unwrap_or_default());
        calls.retain(|args| !too_big_for_opa(&name, args));
        compare_calls(&name, &calls, &mut tally);
    }
    tally
}
