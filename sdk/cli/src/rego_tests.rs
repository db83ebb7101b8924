//! OPA unit tests: the `test_*` rules of `*_test.rego` files, run as `opa test` runs them (a
//! test passes when its rule is defined and not `false`; `todo_test_*` rules are skipped) but
//! through the rego-authz module, so they see the engine and builtins the filter decides with.
//!
//! A directory's tests run with that directory's policies and base document, and with the
//! plugin configuration of its case file when it has one (`rego_version`, for instance). All
//! tests of a directory are evaluated at once; when that evaluation fails (a strict builtin
//! error, a conflict), each test is evaluated alone, so the error lands on the test that made
//! it.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use palisade_testkit::cases::CaseRequest;
use palisade_testkit::policy_files::PolicySet;
use palisade_testkit::rego_filter::RegoFilter;

/// One `test_*` (or `todo_test_*`) rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegoTest {
    /// The test file.
    pub file: PathBuf,
    /// Its package path, `data.` included (`data.envoy.authz_test`).
    pub package: String,
    /// The rule's name (`test_admin_may_delete`).
    pub rule: String,
    /// The rule's text, as written (shown for a failure with `-v`).
    pub source: String,
}

impl RegoTest {
    /// The name `opa test` reports and `--run` matches: `data.pkg.test_x`.
    pub fn name(&self) -> String {
        format!("{}.{}", self.package, self.rule)
    }

    /// `todo_test_*` rules are reported as skipped, as `opa test` does.
    pub fn is_todo(&self) -> bool {
        self.rule.starts_with("todo_")
    }
}

/// How one test went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TestVerdict {
    /// Defined, and not `false`.
    Passed,
    /// Undefined, or `false`: what the rule evaluated to.
    Failed(String),
    /// The evaluation failed: why.
    Error(String),
    /// A `todo_test_*` rule.
    Skipped,
}

/// The tests in a test file's text, in the order written (a rule defined in several pieces
/// counts once). The package is the file's first `package` line.
pub fn discover(file: &Path, text: &str) -> Result<Vec<RegoTest>, String> {
    let lines: Vec<&str> = text.lines().collect();
    let package = lines
        .iter()
        .find_map(|line| line.trim().strip_prefix("package "))
        .map(|rest| {
            rest.split('#')
                .next()
                .unwrap_or_default()
                .trim()
                .to_string()
        })
        .filter(|p| !p.is_empty())
        .ok_or_else(|| format!("{}: no `package` line", file.display()))?;
    let mut tests: Vec<RegoTest> = Vec::new();
    for (at, line) in lines.iter().enumerate() {
        let Some(rule) = test_rule_head(line) else {
            continue;
        };
        if tests.iter().any(|t| t.rule == rule) {
            continue;
        }
        tests.push(RegoTest {
            file: file.to_path_buf(),
            package: format!("data.{package}"),
            rule: rule.to_string(),
            source: rule_text(lines.get(at..).unwrap_or_default()),
        });
    }
    Ok(tests)
}

/// The rule name when `line` starts a `test_*` or `todo_test_*` rule (at column 0, as `opa
/// fmt` writes rules).
fn test_rule_head(line: &str) -> Option<&str> {
    if !(line.starts_with("test_") || line.starts_with("todo_test_")) {
        return None;
    }
    let end = line
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(line.len());
    let (name, rest) = line.split_at(end);
    let rest = rest.trim_start();
    let is_head = rest.is_empty()
        || ["if", "{", ":=", "=", "contains", "["]
            .iter()
            .any(|start| rest.starts_with(start));
    is_head.then_some(name)
}

/// A rule's text: its first line, and the lines up to the next one at column 0 (the closing
/// brace included).
fn rule_text(lines: &[&str]) -> String {
    let mut text = vec![lines.first().copied().unwrap_or_default()];
    for line in lines.iter().skip(1) {
        let starts_rule = !line.is_empty() && !line.starts_with(char::is_whitespace);
        if starts_rule && !line.starts_with('}') {
            break;
        }
        text.push(line);
        if line.starts_with('}') {
            break;
        }
    }
    while text.last().is_some_and(|l| l.trim().is_empty()) {
        text.pop();
    }
    text.join("\n")
}

/// Runs a directory's tests (`policies` holds its policies, test modules included), returning
/// each test's verdict in order.
pub fn run(
    filter: &RegoFilter,
    policies: &PolicySet,
    config: &serde_json::Map<String, serde_json::Value>,
    tests: &[RegoTest],
) -> Vec<TestVerdict> {
    let clock = SystemTime::now();
    // The request the tests' evaluation rides on: tests give their own `input` with `with`.
    let request = CaseRequest {
        method: "GET".into(),
        path: "/".into(),
        headers: Default::default(),
        body: None,
    };
    let evaluate =
        |tests: &[&RegoTest]| filter.evaluate(policies, config, &request, clock, &values_of(tests));
    let runnable: Vec<&RegoTest> = tests.iter().filter(|t| !t.is_todo()).collect();
    let together = if runnable.is_empty() {
        Ok(serde_json::Value::Null)
    } else {
        evaluate(&runnable)
    };
    tests
        .iter()
        .map(|test| {
            if test.is_todo() {
                return TestVerdict::Skipped;
            }
            let values = match &together {
                Ok(all) => Ok(all.get(test.name()).cloned().unwrap_or_default()),
                Err(_) => {
                    evaluate(&[test]).map(|one| one.get(test.name()).cloned().unwrap_or_default())
                }
            };
            match values {
                Ok(values) => verdict(&values),
                Err(why) => TestVerdict::Error(why),
            }
        })
        .collect()
}

/// A Rego object of each test's outcome: `{"data.p.test_a": [PASSED, FALSE], ...}`, where
/// PASSED is whether the rule is defined and not false (`opa test`'s criterion) and FALSE
/// whether it is false. Both are counted in comprehensions whose body is the rule itself, so
/// a rule left undefined by an error counts as undefined.
fn values_of(tests: &[&RegoTest]) -> String {
    let fields: Vec<String> = tests
        .iter()
        .map(|test| {
            let rule = test.name();
            format!(
                "{}: [count([1 | {rule}]) > 0, count([1 | {rule} == false]) > 0]",
                serde_json::Value::String(test.name()),
            )
        })
        .collect();
    format!("{{{}}}", fields.join(", "))
}

/// The verdict from a test's `[PASSED, FALSE]`.
fn verdict(outcome: &serde_json::Value) -> TestVerdict {
    match (outcome.get(0), outcome.get(1)) {
        (Some(serde_json::Value::Bool(true)), _) => TestVerdict::Passed,
        (_, Some(serde_json::Value::Bool(true))) => TestVerdict::Failed("false".into()),
        _ => TestVerdict::Failed("undefined".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TESTS: &str = r#"# Tests
package envoy.authz_test

import rego.v1

import data.envoy.authz

test_get_allowed if {
	authz.allow with input as {"method": "GET"}
}

test_get_allowed if {
	true
}

todo_test_later if false

test_value := true

not_a_test if true
    test_indented_is_not_a_rule_head
"#;

    #[test]
    fn tests_are_found_by_their_rule_heads_once_each() {
        let found = discover(Path::new("p_test.rego"), TESTS).unwrap();
        let names: Vec<String> = found.iter().map(RegoTest::name).collect();
        assert_eq!(
            names,
            [
                "data.envoy.authz_test.test_get_allowed",
                "data.envoy.authz_test.todo_test_later",
                "data.envoy.authz_test.test_value",
            ]
        );
        assert_eq!(
            found[0].source,
            "test_get_allowed if {\n\tauthz.allow with input as {\"method\": \"GET\"}\n}"
        );
        assert!(found[1].is_todo());
        assert!(!found[0].is_todo());
    }

    #[test]
    fn a_file_without_a_package_is_an_error() {
        let err = discover(Path::new("x_test.rego"), "test_a if true\n").unwrap_err();
        assert!(err.contains("x_test.rego"), "{err}");
    }

    #[test]
    fn undefined_and_false_fail_anything_else_passes() {
        assert_eq!(
            verdict(&serde_json::json!([false, false])),
            TestVerdict::Failed("undefined".into())
        );
        assert_eq!(
            verdict(&serde_json::json!([false, true])),
            TestVerdict::Failed("false".into())
        );
        assert_eq!(
            verdict(&serde_json::json!([true, false])),
            TestVerdict::Passed
        );
        assert_eq!(
            verdict(&serde_json::Value::Null),
            TestVerdict::Failed("undefined".into())
        );
    }
}
