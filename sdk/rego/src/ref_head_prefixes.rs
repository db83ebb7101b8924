//! The prefixes of rule heads that are paths, as documents, on regorus' interpreter.
//!
//! `p.q.r := 1 if input.a`: in OPA, `p` and `p.q` are objects whatever the rules answer, so with
//! every such rule undefined `p` is `{"q": {}}`; regorus' interpreter leaves `p` undefined, and
//! a policy reading it (`r := p`, `count(p) == 0`) answers otherwise than OPA. [`rewrite`] adds,
//! for each prefix, a rule with a variable key whose body never holds
//! (`p.q[__palisade_prefix] := 1 if { __palisade_prefix := 1; false }`): regorus then knows the
//! prefix as an object, empty when nothing else is in it.
//!
//! A head's segments are read up to a variable key (`users[name].role`: `users` is an object
//! too); a function (`lib.f(x)`) is no document.

use std::collections::BTreeSet;

use regorus::unstable::{Expr, Ref, Rule, RuleHead};

use super::syntax::parse;

/// The name of the variable the added rules use as their key.
const KEY: &str = "__palisade_prefix";

/// `source` with a rule for each prefix of its path heads; `source` as it is when it has none
/// or does not parse (compiling it reports the error).
pub(crate) fn rewrite(name: &str, source: &str, rego_v0: bool) -> String {
    let Ok(module) = parse(name, source, rego_v0) else {
        return source.to_string();
    };
    let mut heads = BTreeSet::new();
    let mut prefixes = BTreeSet::new();
    for rule in &module.policy {
        let refr = match rule.as_ref() {
            Rule::Spec {
                head: RuleHead::Compr { refr, .. } | RuleHead::Set { refr, .. },
                ..
            } => refr,
            Rule::Default { refr, .. } => refr,
            _ => continue,
        };
        let (path, complete) = constant_prefix(refr);
        // Every proper prefix; all of it when a variable key follows.
        let last = if complete { path.len() } else { path.len() + 1 };
        for end in 1..last {
            prefixes.insert(path.get(..end).unwrap_or_default().to_vec());
        }
        if complete {
            heads.insert(path);
        }
    }
    let added: Vec<String> = prefixes
        .iter()
        .filter(|prefix| !heads.contains(*prefix))
        .map(|prefix| {
            let path = written(prefix);
            match rego_v0 {
                true => format!("{path}[{KEY}] = 1 {{ {KEY} := 1; false }}"),
                false => format!("{path}[{KEY}] := 1 if {{ {KEY} := 1; false }}"),
            }
        })
        .collect();
    match added.is_empty() {
        true => source.to_string(),
        false => format!("{source}\n{}\n", added.join("\n")),
    }
}

/// The segments of a head like `p.q["r"]` that are names or strings, up to the first that is
/// not (`users[name].role`: `users`), and whether that is all of them.
pub(crate) fn constant_prefix(refr: &Ref<Expr>) -> (Vec<String>, bool) {
    let constant = |value: &regorus::Value| value.as_string().ok().map(|s| s.to_string());
    let (inner, segment) = match refr.as_ref() {
        Expr::Var { value, .. } => return (constant(value).into_iter().collect(), true),
        Expr::RefDot { refr, field, .. } => (refr, constant(&field.1)),
        Expr::RefBrack { refr, index, .. } => match index.as_ref() {
            Expr::String { value, .. } => (refr, constant(value)),
            _ => (refr, None),
        },
        _ => return (Vec::new(), false),
    };
    let (mut path, complete) = constant_prefix(inner);
    match (complete, segment) {
        (true, Some(segment)) => {
            path.push(segment);
            (path, true)
        }
        _ => (path, false),
    }
}

/// `p["q"]["r"]`: every segment after the first quoted, which holds any string.
fn written(path: &[String]) -> String {
    let mut text = path.first().cloned().unwrap_or_default();
    for segment in path.iter().skip(1) {
        text.push_str(&format!("[{}]", serde_json::Value::from(segment.as_str())));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::answer;
    use crate::Engine;
    use serde_json::json;

    #[test]
    fn each_prefix_of_a_path_head_gets_a_rule_that_never_holds() {
        let source = "package t\np.q.r := 1 if input.a\np.s contains 2 if input.b\n";
        let out = rewrite("t.rego", source, false);
        assert!(out.starts_with(source));
        assert!(out.contains("p[__palisade_prefix] := 1 if { __palisade_prefix := 1; false }"));
        assert!(out.contains("p[\"q\"][__palisade_prefix] := 1 if"));
        assert!(!out.contains("p[\"s\"][__palisade_prefix]"));
        let plain = "package t\nx := 1\nf(a) := a\nlib.g(a) := a\n";
        assert_eq!(rewrite("t.rego", plain, false), plain);
        let keyed = "package t\nusers[name].role := 1 if name := \"a\"\n";
        assert!(rewrite("t.rego", keyed, false).contains("users[__palisade_prefix] := 1 if"));
    }

    #[test]
    fn an_undefined_path_head_leaves_empty_objects_as_in_opa() {
        // OPA: data.t.p is {"q": {}} when every rule under it is undefined.
        let policy = "package t\nimport rego.v1\np.q.r := 1 if input.a\nx := p\n";
        let on = |input| answer(policy, Engine::Interpreter, input).unwrap();
        assert_eq!(on(json!({})), Ok(json!({"q": {}})));
        assert_eq!(on(json!({"a": true})), Ok(json!({"q": {"r": 1}})));
    }
}
