//! Palisade's Rego engine against real OPA (v1.20.2, from the `opa-golib-python-bindings`
//! wheel): the same policy, data and input evaluated by both must give the same result, on each
//! engine rego-authz may choose. Two sweeps: every builtin on a pool of arguments
//! (`builtins.rs`), and the language on policies of `language/*.yaml` (`language.rs`).
#![allow(unreachable_pub)] // test modules share helpers with `pub`
#![allow(unsafe_code)] // the oracle's C interface (oracle.rs)
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod builtins;
mod compare;
mod compatibility;
mod engine;
mod generate;
#[cfg(feature = "jwt-sign")]
mod jwt_signing;
mod language;
mod non_strict;
mod oracle;

use std::collections::BTreeMap;

/// A known-differences file of `tests/opa`: what differs -> why it still does.
fn known(file: &str) -> BTreeMap<String, String> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/opa")
        .join(file);
    serde_yaml::from_str::<Option<BTreeMap<String, String>>>(
        &std::fs::read_to_string(&path).unwrap(),
    )
    .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    .unwrap_or_default()
}

/// Whether the tests (so palisade-rego) are built with the opt-in cargo feature `name`.
fn feature_enabled(name: &str) -> bool {
    match name {
        "yaml" => cfg!(feature = "yaml"),
        "jsonpatch" => cfg!(feature = "jsonpatch"),
        "jsonschema" => cfg!(feature = "jsonschema"),
        "jwt-es512" => cfg!(feature = "jwt-es512"),
        "jwt-eddsa" => cfg!(feature = "jwt-eddsa"),
        "jwt-sign" => cfg!(feature = "jwt-sign"),
        "x509" => cfg!(feature = "x509"),
        "uri" => cfg!(feature = "uri"),
        "globs" => cfg!(feature = "globs"),
        "regex-unicode" => cfg!(feature = "regex-unicode"),
        "rego-metadata" => cfg!(feature = "rego-metadata"),
        _ => false,
    }
}

/// `known_differences.yaml` (and `known_differences_x509.yaml` in a build with the `x509`
/// feature): builtin -> why it still differs. With `regex-unicode`, regex.is_valid reads
/// Unicode patterns as Go does, so it no longer differs.
fn known_differences() -> BTreeMap<String, String> {
    let mut known_differences = known("known_differences.yaml");
    if cfg!(feature = "x509") {
        known_differences.extend(known("known_differences_x509.yaml"));
    }
    if cfg!(feature = "regex-unicode") {
        known_differences.remove("regex.is_valid");
    }
    known_differences
}

#[test]
fn every_builtin_answers_as_opa_does() {
    let tally = builtins::sweep();
    let known = known_differences();
    let mut differing: BTreeMap<&str, Vec<&String>> = BTreeMap::new();
    for difference in &tally.differences {
        let name = difference.split('(').next().unwrap_or_default();
        differing.entry(name).or_default().push(difference);
    }
    eprintln!(
        "{} comparisons ({} builtins); {} differ, in {} builtins listed in known_differences.yaml; \
         {} calls OPA's type checker refuses; not in OPA: {:?}",
        tally.comparisons,
        builtins::provided().len(),
        tally.differences.len(),
        differing.len(),
        tally.refused_by_type_checker,
        tally.not_in_opa
    );
    let unexplained: Vec<&String> = differing
        .iter()
        .filter(|(name, _)| !known.contains_key(**name))
        .flat_map(|(_, differences)| differences.iter().copied())
        .collect();
    assert!(
        unexplained.is_empty(),
        "{} comparisons differ from OPA:\n{}",
        unexplained.len(),
        unexplained
            .iter()
            .map(|d| d.as_str())
            .collect::<Vec<_>>()
            .join("\n")
    );
    // A listed builtin of a feature this build lacks is not swept, so not stale.
    let provided: Vec<String> = builtins::provided().into_iter().map(|(n, _)| n).collect();
    let stale: Vec<&String> = known
        .keys()
        .filter(|name| provided.contains(name) && !differing.contains_key(name.as_str()))
        .collect();
    assert!(
        stale.is_empty(),
        "these builtins agree with OPA now: remove them from known_differences.yaml: {stale:?}"
    );
}

#[test]
fn the_language_answers_as_opa_does() {
    let tally = language::run();
    let known = known("language_known_differences.yaml");
    let comparisons = |engine: &str| tally.comparisons.get(engine).copied().unwrap_or_default();
    let listed = tally
        .differences
        .keys()
        .filter(|key| known.contains_key(*key))
        .count();
    eprintln!(
        "{} policies; comparisons: {} on the VM, {} on the interpreter, {} on the request rules \
         ({} policies); {} policies run on the interpreter only (the VM is not compared for them); {} rule(s) refused by both OPA and \
         Palisade, {} by Palisade alone, naming the construct; {} rules differ on an engine \
         ({listed} listed in language_known_differences.yaml)",
        tally.policies,
        comparisons("vm"),
        comparisons("interpreter"),
        comparisons("request rules"),
        tally.request_rules.len(),
        tally.interpreter_only.len(),
        tally.refused_by_both.len(),
        tally.refused_by_palisade,
        tally.differences.len(),
    );
    // The file of request-rules policies is only worth its comparisons if the filter takes
    // each of them as request rules.
    let (_, cases) = language::cases()
        .into_iter()
        .find(|(file, _)| file == "request_rules.yaml")
        .expect("language/request_rules.yaml");
    for case in cases {
        let key = format!("request_rules.yaml: {}", case.name);
        assert!(
            tally.request_rules.contains(&key),
            "{key}: not taken as request rules"
        );
    }
    if std::env::var_os("OPA_SWEEP_VERBOSE").is_some() {
        eprintln!("on the request rules: {:#?}", tally.request_rules);
        eprintln!("on the interpreter only: {:#?}", tally.interpreter_only);
        eprintln!("refused by both: {:#?}", tally.refused_by_both);
    }
    let unexplained: Vec<(&String, &Vec<String>)> = tally
        .differences
        .iter()
        .filter(|(key, _)| !known.contains_key(*key))
        .collect();
    let shown: Vec<String> = unexplained
        .iter()
        .map(|(key, differences)| {
            let first: Vec<&str> = differences.iter().take(4).map(String::as_str).collect();
            let more = match differences.len().saturating_sub(first.len()) {
                0 => String::new(),
                n => format!("\n  ... and {n} more"),
            };
            format!("{key}:\n  {}{more}", first.join("\n  "))
        })
        .collect();
    assert!(
        unexplained.is_empty(),
        "{} rules differ from OPA:\n{}",
        unexplained.len(),
        shown.join("\n")
    );
    let stale: Vec<&String> = known
        .keys()
        .filter(|key| !tally.differences.contains_key(*key))
        .collect();
    assert!(
        stale.is_empty(),
        "these agree with OPA now: remove them from language_known_differences.yaml: {stale:?}"
    );
}
