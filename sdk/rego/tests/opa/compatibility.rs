//! `docs/COMPATIBILITY.md` tells the truth: its table names OPA builtins only (each one real
//! OPA knows), every builtin the filter provides that OPA has is in it, and a row says "yes"
//! exactly when the filter provides the builtin ("yes (Palisade)" when an extension does), or
//! "opt-in: `--features F`" when it does with the feature F the tests are built with.

use std::collections::BTreeMap;

use crate::oracle::{Answer, Opa};

/// The table's rows: builtin -> what the page says of it.
fn rows() -> BTreeMap<String, String> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/COMPATIBILITY.md");
    let page = std::fs::read_to_string(&path).unwrap();
    page.lines()
        .skip_while(|line| !line.starts_with("| builtin |"))
        .take_while(|line| line.starts_with('|'))
        .filter_map(|line| {
            let mut cells = line.strip_prefix("| `")?.split(" | ");
            let name = cells.next()?.strip_suffix('`')?;
            Some((name.to_string(), cells.next()?.to_string()))
        })
        .collect()
}

/// Whether the filter's configure check accepts a call of `name`.
fn provided(name: &str, extensions: &[&str]) -> bool {
    let source = format!("package t\nx := {name}()\n");
    palisade_rego::builtins::unsupported_calls(&[&source], extensions).is_empty()
}

/// Whether a row's status says the build the tests run provides the builtin.
fn says_provided(status: &str) -> bool {
    let opt_in = status
        .strip_prefix("opt-in: `--features ")
        .and_then(|rest| rest.split_once('`'))
        .map(|(feature, _)| feature);
    status.starts_with("yes") || opt_in.is_some_and(crate::feature_enabled)
}

/// Whether real OPA has a builtin of this name (calling it with no argument is then an arity
/// error, not an undefined function).
fn in_opa(opa: &Opa, name: &str) -> bool {
    match opa.query(&format!("x := {name}()"), None) {
        Answer::Error { message, .. } => !message.contains("undefined function"),
        _ => true,
    }
}

#[test]
fn the_compatibility_page_says_what_the_filter_provides() {
    let rows = rows();
    assert!(rows.len() > 150, "only {} rows read", rows.len());
    let extensions = palisade_rego::extensions::all();
    let extension_names: Vec<&str> = extensions.iter().map(|e| e.name).collect();
    let opa = Opa::new();
    let mut wrong = Vec::new();
    for (name, status) in &rows {
        if !in_opa(&opa, name) {
            wrong.push(format!("{name}: OPA has no such builtin"));
        }
        let says = says_provided(status);
        let is = provided(name, &extension_names);
        if says != is {
            wrong.push(format!(
                "{name}: the page says {status:?}, the filter provides it: {is}"
            ));
        }
        let says_extension = status.contains("(Palisade)");
        if says && says_extension != extension_names.contains(&name.as_str()) {
            wrong.push(format!("{name}: {status:?}, but is it an extension?"));
        }
    }
    let regorus = regorus::unstable::BUILTINS.keys().copied();
    for name in regorus.chain(extension_names.iter().copied()) {
        if !rows.contains_key(name) && in_opa(&opa, name) && !name.starts_with("internal.") {
            wrong.push(format!(
                "{name}: provided and in OPA, missing from the page"
            ));
        }
    }
    assert!(
        wrong.is_empty(),
        "docs/COMPATIBILITY.md:\n{}",
        wrong.join("\n")
    );
}
