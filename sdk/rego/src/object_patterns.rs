//! Object patterns, which regorus matches otherwise than OPA: found when the policy is
//! configured, and refused.
//!
//! In OPA, unifying an object pattern with a value binds the pattern's variables only when the
//! value has exactly the pattern's keys: `{"k": v} := {"k": 1, "j": 2}` is undefined. regorus
//! (both engines) matches a value with more keys, so the rule goes on where OPA's stops. This
//! holds for `{"k": v} := x`, `{"k": v} = x`, `x = {"k": v}` and a function parameter
//! `f({"k": v})`. An object of literals only is a comparison, which regorus gets right.
//!
//! The reading is lexical, on [`code_only`] text.

use super::builtins::{code_only, is_ident_char};
use super::lexical::{closing, expression_end, previous_char, starts_statement, text};

/// The first object pattern of `source`, quoted.
pub fn find(source: &str) -> Option<String> {
    let code = code_only(source);
    let mut depth = 0usize;
    for (open, c) in code.char_indices() {
        match c {
            '{' => {
                // Rule heads (`allow = {"k": v} { ... }` in Rego v0) are at the top level.
                if depth > 0 {
                    if let Some(quote) = pattern_at(source, &code, open) {
                        return Some(quote);
                    }
                }
                depth += 1;
            }
            '(' | '[' => depth += 1,
            ')' | ']' | '}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    None
}

/// The object pattern that starts at `open`, quoted, if it is one.
fn pattern_at(source: &str, code: &str, open: usize) -> Option<String> {
    let close = closing(code, open)?;
    if !is_pattern(text(code, open..close + 1)) {
        return None;
    }
    let after = code.get(close + 1..)?.trim_start_matches([' ', '\t']);
    let unified_after =
        after.starts_with(":=") || (after.starts_with('=') && !after.starts_with("=="));
    let unified_before = previous_char(code, open) == Some('=')
        && !matches!(
            code.get(..open)?.trim_end().chars().rev().nth(1),
            Some('=' | '!' | '<' | '>' | ':')
        );
    let parameter =
        matches!(previous_char(code, open), Some('(' | ',')) && in_function_head(code, open);
    let pattern = (unified_after && starts_statement(code, open)) || unified_before || parameter;
    if !pattern {
        return None;
    }
    let end = match unified_after {
        true => expression_end(code, open).max(close + 1),
        false => close + 1,
    };
    Some(source.get(open..end)?.chars().take(60).collect())
}

/// An object (not a set or a body) with a name among its values: a variable to bind.
fn is_pattern(object: &str) -> bool {
    let inner = object
        .strip_prefix('{')
        .and_then(|o| o.strip_suffix('}'))
        .unwrap_or_default();
    let mut depth = 0usize;
    let mut colon = false;
    let mut name = false;
    let mut word = String::new();
    let mut in_value = false;
    for c in inner.chars().chain(std::iter::once(',')) {
        if is_ident_char(c) {
            word.push(c);
        } else {
            let is_name = word.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
                && !matches!(word.as_str(), "true" | "false" | "null");
            name |= in_value && is_name && c != '(' && c != '.';
            word.clear();
        }
        match c {
            '(' | '[' | '{' => depth += 1,
            ')' | ']' | '}' => depth = depth.saturating_sub(1),
            ':' if depth == 0 => {
                colon = true;
                in_value = true;
            }
            ',' if depth == 0 => in_value = false,
            '\n' | ';' | '|' if depth == 0 => return false,
            _ => {}
        }
    }
    colon && name
}

/// Whether the bracket at `at` is in the parameters of a rule head (a line that starts with the
/// function's name).
fn in_function_head(code: &str, at: usize) -> bool {
    let line_start = code
        .get(..at)
        .and_then(|s| s.rfind('\n'))
        .map_or(0, |i| i + 1);
    let line = code.get(line_start..at).unwrap_or_default();
    let line = line.strip_prefix("default ").unwrap_or(line);
    line.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        && line
            .split('(')
            .next()
            .is_some_and(|name| name.chars().all(|c| is_ident_char(c) || c == '.'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn object_patterns_are_found() {
        for (rules, quote) in [
            ("a if { {\"k\": v} := input.o; v }", "{\"k\": v} := input.o"),
            ("a if {\n  {\"k\": v} = input.o\n}", "{\"k\": v} = input.o"),
            ("e := y if { input.o = {\"k\": y} }", "{\"k\": y}"),
            ("name({\"name\": n}) := n", "{\"name\": n}"),
        ] {
            let policy = format!("package t\n{rules}\n");
            assert_eq!(find(&policy).as_deref(), Some(quote), "{rules}");
        }
    }

    #[test]
    fn objects_that_are_values_or_comparisons_are_not() {
        for rules in [
            "x := {\"k\": input.v}",
            "a if { x := input.o; x = {\"k\": 3} }",
            "a if { input.o == {\"k\": y} }",
            "allow := {\"allowed\": true, \"headers\": {\"x\": u}} if { u := input.u }",
            "a if {\n  x := 1\n}",
            "s := {x | some x in input.xs}",
            "o := {k: v | some k, v in input.o}",
            "f(x) := {\"k\": x}",
            "g(x) := y if { y := {\"k\": x} }",
        ] {
            let policy = format!("package t\n{rules}\n");
            assert_eq!(find(&policy), None, "{rules}");
        }
    }

    #[test]
    fn a_policy_with_one_is_refused_naming_it() {
        let policy = "package t\nimport rego.v1\nx := v if { {\"k\": v} := input.o }\n";
        let err = crate::compile_for(&crate::test_support::config(policy), crate::Engine::Vm)
            .unwrap_err();
        assert_eq!(err.field.as_deref(), Some("policy"));
        assert!(
            err.message
                .contains("unifies an object pattern (`{\"k\": v} := input.o`)"),
            "{err}"
        );
    }
}
