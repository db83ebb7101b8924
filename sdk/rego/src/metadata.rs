//! `rego.metadata.rule()` and `rego.metadata.chain()` (the `rego-metadata` feature), done as
//! OPA's compiler does them: each call is replaced by the value it has, which the modules'
//! METADATA annotations decide before any evaluation.
//!
//! - `rego.metadata.rule()`: the first `rule`-scope annotation of the rule the call is in (`{}`
//!   when it has none, and in an `else` branch, which OPA reads as a rule of its own).
//! - `rego.metadata.chain()`: `{path, annotations}` entries from the rule up: its `rule`-scope
//!   annotations, latest first (or its path alone), the `document`-scope one of its path (from
//!   any module), the `package`-scope one of its package, then the `subpackages`-scope ones of
//!   its package and each package above it. Paths leave `data` out.
//!
//! A block belongs to the first statement below it (package, import or rule; a block with
//! none is an error, as in OPA); without a scope it is `rule` (`document` with
//! `entrypoint: true`) on a rule and `package` on a package. A `document`, `package` or
//! `subpackages` annotation declared twice for the same path is an error, as in OPA, and so is
//! a call with arguments. Blocks that OPA attaches oddly (a `package` scope on a rule, a `rule` scope
//! on a package) are refused when a policy calls these functions, so no call can differ.

mod annotations;

use std::collections::BTreeMap;

use regorus::unstable::{Module, Rule};
use serde_json::{json, Map, Value};

use super::builtins::code_only;
use super::lexical::{apply, is_word_at};
use annotations::{Annotation, Block};

const RULE: &str = "rego.metadata.rule";
const CHAIN: &str = "rego.metadata.chain";

/// The modules (file name, source) with every call of the two functions replaced by its value;
/// unchanged when none calls them. The values may add at most `max_added` bytes (each call
/// repeats its annotations). The error names the module and what is wrong.
pub(crate) fn rewrite(
    modules: &[(String, &str)],
    rego_v0: bool,
    max_added: usize,
) -> Result<Vec<String>, String> {
    let calls = modules
        .iter()
        .map(|(name, source)| calls(source).map_err(|err| format!("{name}: {err}")))
        .collect::<Result<Vec<_>, _>>()?;
    let unchanged = || modules.iter().map(|(_, s)| s.to_string()).collect();
    if calls.iter().all(Vec::is_empty) {
        return Ok(unchanged());
    }
    let mut parsed = Vec::new();
    for (name, source) in modules {
        // A module that does not parse is left for the compiler to report.
        let Ok(module) = super::syntax::parse(name, source, rego_v0) else {
            return Ok(unchanged());
        };
        parsed.push(Annotated::of(name, source, &module)?);
    }
    let shared = Shared::of(&parsed)?;
    let mut out = Vec::new();
    let mut added = 0usize;
    for (((name, source), module), calls) in modules.iter().zip(&parsed).zip(calls) {
        let mut edits = Vec::new();
        for call in calls {
            let Some(rule) = module.rules.iter().find(|r| r.span.contains(&call.start)) else {
                return Err(format!(
                    "{name}: {} is called outside a rule",
                    call.function
                ));
            };
            let in_else = rule.else_at.is_some_and(|at| at < call.start);
            let own: &[Annotation] = match in_else {
                true => &[],
                false => &rule.annotations,
            };
            let value = match call.function {
                RULE => own.first().map_or(json!({}), |a| a.value("rule")),
                _ => shared.chain(&module.package, &rule.path, own),
            };
            let value = value.to_string();
            added = added.saturating_add(value.len());
            if added > max_added {
                return Err(format!(
                    "the values of the calls would add more than {max_added} bytes to the \
                     policies"
                ));
            }
            edits.push((call.start, call.end, value));
        }
        out.push(apply(source, edits));
    }
    Ok(out)
}

/// A call of `rego.metadata.rule` or `rego.metadata.chain`, and its text's byte offsets.
struct Call {
    function: &'static str,
    start: usize,
    end: usize,
}

/// The calls of `rego.metadata.rule` and `rego.metadata.chain` in `source`; one with
/// arguments is an error (they take none).
fn calls(source: &str) -> Result<Vec<Call>, String> {
    let code = code_only(source);
    let mut found = Vec::new();
    for name in [RULE, CHAIN] {
        for (start, _) in code.match_indices(name) {
            if !is_word_at(&code, start, name) {
                continue;
            }
            let after = start + name.len();
            let rest = code.get(after..).unwrap_or_default();
            let Some(inside) = rest.trim_start_matches([' ', '\t']).strip_prefix('(') else {
                continue;
            };
            let Some(closed) = inside.trim_start_matches([' ', '\t']).strip_prefix(')') else {
                return Err(format!("{name} takes no arguments"));
            };
            found.push(Call {
                function: name,
                start,
                end: code.len() - closed.len(),
            });
        }
    }
    Ok(found)
}

/// A module's package, rules and annotations.
struct Annotated {
    package: Vec<String>,
    /// The package's annotations, by scope (`package`, `subpackages`).
    package_annotations: Vec<(String, Annotation)>,
    rules: Vec<AnnotatedRule>,
}

struct AnnotatedRule {
    /// The rule's text.
    span: std::ops::Range<usize>,
    /// Where its first `else` is, if it has one.
    else_at: Option<usize>,
    /// Its path after the package (the constant part of its head).
    path: Vec<String>,
    /// Its `rule`-scope annotations, in order.
    annotations: Vec<Annotation>,
    /// Its `document`-scope annotation.
    document: Option<Annotation>,
}

impl Annotated {
    fn of(name: &str, source: &str, module: &Module) -> Result<Self, String> {
        let package = super::ref_head_prefixes::constant_prefix(&module.package.refr).0;
        let mut annotated = Self {
            package,
            package_annotations: Vec::new(),
            rules: Vec::new(),
        };
        let code = code_only(source);
        for rule in &module.policy {
            let span = rule.span();
            let (start, end) = (span.start as usize, span.end as usize);
            let (refr, bodies) = match rule.as_ref() {
                Rule::Spec { head, bodies, .. } => (head_ref(head), Some(bodies)),
                Rule::Default { refr, .. } => (refr, None),
            };
            // The first `else` after the first body (`else` is a keyword: never a name).
            let else_at = bodies
                .filter(|bodies| bodies.iter().any(|body| body.is_else))
                .and_then(|bodies| bodies.first())
                .and_then(|first| {
                    let from = first.span.end as usize;
                    let at = code.get(from..end)?.find("else")?;
                    Some(from + at)
                });
            annotated.rules.push(AnnotatedRule {
                span: start..end,
                else_at,
                path: super::ref_head_prefixes::constant_prefix(refr).0,
                annotations: Vec::new(),
                document: None,
            });
        }
        // The statements, by line: the package, the imports, the rules.
        let mut statements: Vec<(usize, Option<usize>)> =
            vec![(module.package.span.line as usize, None)];
        statements.extend(module.imports.iter().map(|i| (i.span.line as usize, None)));
        statements.extend(
            module
                .policy
                .iter()
                .enumerate()
                .map(|(index, rule)| (rule.span().line as usize, Some(index))),
        );
        statements.sort_unstable();
        let is_import = |line: usize| module.imports.iter().any(|i| i.span.line as usize == line);
        for Block { line, yaml } in annotations::blocks(source) {
            let annotation = annotations::read(&yaml)
                .map_err(|err| format!("{name}:{line}: METADATA: {err}"))?;
            let refuse = |what: &str| Err(format!("{name}:{line}: METADATA: {what}"));
            let Some(&(statement_line, rule)) = statements.iter().find(|(l, _)| *l > line) else {
                return refuse("no statement below the block to annotate");
            };
            match (rule, annotation.scope.as_str()) {
                (Some(index), scope @ ("" | "rule" | "document")) => {
                    let Some(rule) = annotated.rules.get_mut(index) else {
                        continue;
                    };
                    if scope == "document" || (scope.is_empty() && annotation.entrypoint) {
                        if rule.document.is_some() {
                            return refuse("document annotation redeclared");
                        }
                        rule.document = Some(annotation);
                    } else {
                        rule.annotations.push(annotation);
                    }
                }
                (None, _) if is_import(statement_line) => {}
                (None, scope @ ("" | "package" | "subpackages")) => {
                    let scope = if scope.is_empty() { "package" } else { scope };
                    annotated
                        .package_annotations
                        .push((scope.to_string(), annotation));
                }
                (_, scope) => {
                    return refuse(&format!(
                        "a `{scope}` scope on the {} below it, which Palisade does not read",
                        if rule.is_some() { "rule" } else { "package" }
                    ))
                }
            }
        }
        Ok(annotated)
    }
}

fn head_ref(
    head: &regorus::unstable::RuleHead,
) -> &regorus::unstable::Ref<regorus::unstable::Expr> {
    use regorus::unstable::RuleHead;
    match head {
        RuleHead::Compr { refr, .. } | RuleHead::Set { refr, .. } | RuleHead::Func { refr, .. } => {
            refr
        }
    }
}

/// What every module sees: the `document`, `package` and `subpackages` annotations, by path.
struct Shared<'a> {
    document: BTreeMap<Vec<String>, &'a Annotation>,
    package: BTreeMap<&'a [String], &'a Annotation>,
    subpackages: BTreeMap<&'a [String], &'a Annotation>,
}

impl<'a> Shared<'a> {
    fn of(modules: &'a [Annotated]) -> Result<Self, String> {
        let mut shared = Self {
            document: BTreeMap::new(),
            package: BTreeMap::new(),
            subpackages: BTreeMap::new(),
        };
        for module in modules {
            for rule in &module.rules {
                if let Some(annotation) = &rule.document {
                    let path = [module.package.clone(), rule.path.clone()].concat();
                    if shared.document.insert(path, annotation).is_some() {
                        return Err("a document annotation is redeclared".into());
                    }
                }
            }
            for (scope, annotation) in &module.package_annotations {
                let map = match scope.as_str() {
                    "package" => &mut shared.package,
                    _ => &mut shared.subpackages,
                };
                if map.insert(&module.package, annotation).is_some() {
                    return Err(format!(
                        "the {scope} annotation of package {} is redeclared",
                        module.package.join(".")
                    ));
                }
            }
        }
        Ok(shared)
    }

    /// `rego.metadata.chain()` for the rule at `path` in `package`, with its own annotations.
    fn chain(&self, package: &[String], path: &[String], own: &[Annotation]) -> Value {
        let full = [package, path].concat();
        let entry = |path: &[String], annotation: Option<(&Annotation, &str)>| {
            let mut entry = Map::new();
            entry.insert("path".into(), json!(path));
            if let Some((annotation, scope)) = annotation {
                entry.insert("annotations".into(), annotation.value(scope));
            }
            Value::Object(entry)
        };
        let mut chain: Vec<Value> = own
            .iter()
            .rev()
            .map(|a| entry(&full, Some((a, "rule"))))
            .collect();
        if chain.is_empty() {
            chain.push(entry(&full, None));
        }
        if let Some(annotation) = self.document.get(&full) {
            chain.push(entry(&full, Some((annotation, "document"))));
        }
        if let Some(annotation) = self.package.get(package) {
            chain.push(entry(package, Some((annotation, "package"))));
        }
        for length in (1..=package.len()).rev() {
            let prefix = package.get(..length).unwrap_or_default();
            if let Some(annotation) = self.subpackages.get(prefix) {
                chain.push(entry(prefix, Some((annotation, "subpackages"))));
            }
        }
        Value::Array(chain)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(source: &str) -> Vec<(String, &str)> {
        vec![("t.rego".to_string(), source)]
    }

    #[test]
    fn without_calls_the_modules_are_left_alone() {
        let source = "package t\n# METADATA\n# title: [\nx := 1\n";
        assert_eq!(rewrite(&one(source), false, 1000).unwrap(), vec![source]);
    }

    #[test]
    fn each_call_becomes_its_value_on_its_line() {
        let source = "package t\n# METADATA\n# title: x\nr := rego.metadata.rule( )\n\
                      c := [rego.metadata.chain()]\n";
        let out = rewrite(&one(source), false, 1000).unwrap();
        assert_eq!(
            out[0],
            "package t\n# METADATA\n# title: x\nr := {\"scope\":\"rule\",\"title\":\"x\"}\n\
             c := [[{\"path\":[\"t\",\"c\"]}]]\n"
        );
        let err = rewrite(&one("package t\nf := rego.metadata.rule(1)\n"), false, 1000);
        assert!(err.unwrap_err().contains("takes no arguments"));
    }

    #[test]
    fn values_past_the_bound_are_refused() {
        let source = "package t\n# METADATA\n# title: long\nr := [rego.metadata.rule(), \
                      rego.metadata.rule()]\n";
        assert!(rewrite(&one(source), false, 62).is_ok());
        let err = rewrite(&one(source), false, 61).unwrap_err();
        assert!(err.contains("more than 61 bytes"), "{err}");
    }
}
