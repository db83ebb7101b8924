//! Palisade's Rego engine against real OPA (v1.20.2, from the `opa-golib-python-bindings`
//! wheel): the same policy, data and input evaluated by both must give the same result, on each
//! engine rego-authz may choose.
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
mod engine;
mod oracle;

use std::collections::BTreeMap;

/// `known_differences.yaml`: builtin -> why it still differs.
fn known_differences() -> BTreeMap<String, String> {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/opa/known_differences.yaml");
    serde_yaml::from_str(&std::fs::read_to_string(&path).unwrap())
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
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
    let stale: Vec<&String> = known
        .keys()
        .filter(|name| !differing.contains_key(name.as_str()))
        .collect();
    assert!(
        stale.is_empty(),
        "these builtins agree with OPA now: remove them from known_differences.yaml: {stale:?}"
    );
}
