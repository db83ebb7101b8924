//! `x := value` fails when the value is undefined, as in OPA.
//!
//! regorus' bytecode compiler requires a defined value for `x = value` but not for
//! `x := value`: the VM binds `x` to undefined and goes on, so `p := input.missing; not p == 3`
//! was true where OPA's body stops at the assignment. Each assignment of a variable in a body is
//! followed by `x == x`, which fails on an undefined `x` on both engines and holds otherwise (the
//! same value, compared by reference first). (`_ = x` would do on the VM, but regorus'
//! interpreter finds `x` unsafe there when it holds an array built from an iterated variable.)

use super::builtins::{code_only, is_ident_char};
use super::lexical::{apply, expression_end, starts_statement};

/// `source` with `; x == x` after each `x := ...` of a body.
pub(crate) fn rewrite(source: &str) -> String {
    let code = code_only(source);
    let mut edits = Vec::new();
    let mut depth = 0usize;
    for (at, c) in code.char_indices() {
        match c {
            '(' | '[' | '{' => depth += 1,
            ')' | ']' | '}' => depth = depth.saturating_sub(1),
            // Rule heads (`x := 1`, `f(x) := y`, `else := v`) are at the top level.
            ':' if depth > 0 && code.get(at + 1..at + 2) == Some("=") => {
                if let Some(name) = assigned_name(&code, at) {
                    let end = expression_end(&code, at + 2);
                    edits.push((end, end, format!("; {name} == {name}")));
                }
            }
            _ => {}
        }
    }
    apply(source, edits)
}

/// The variable the `:=` at `at` assigns, when it is a plain name that starts a statement.
fn assigned_name(code: &str, at: usize) -> Option<&str> {
    let before = code.get(..at)?.trim_end_matches([' ', '\t']);
    let name_len = before
        .chars()
        .rev()
        .take_while(|c| is_ident_char(*c))
        .count();
    let name_at = before.len() - name_len;
    let name = before.get(name_at..)?;
    let starts_like_a_name = name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_');
    (starts_like_a_name && name != "_" && starts_statement(code, name_at)).then_some(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn assignments_in_bodies_are_checked() {
        assert_eq!(
            rewrite("a if {\n  p := input.p # a comment\n  not p == 3\n}\n"),
            "a if {\n  p := input.p; p == p # a comment\n  not p == 3\n}\n"
        );
        assert_eq!(
            rewrite("r := [y | x := input.a; y := {\n  \"k\": x,\n}]\n"),
            "r := [y | x := input.a; x == x; y := {\n  \"k\": x,\n}; y == y]\n"
        );
    }

    #[test]
    fn heads_destructuring_and_strings_are_left_alone() {
        for policy in [
            "x := 1\nf(a) := b if { b = a }\np[k] := v if { some k, v in input }\n",
            "a if { [x, y] := input.pair; x == y }\n",
            "a if { _ := input.x }\n",
            "s := \"{ x := 1 }\"\n",
        ] {
            assert_eq!(rewrite(policy), policy);
        }
    }

    #[test]
    fn an_undefined_assignment_stops_the_body_on_both_engines() {
        use crate::test_support::{answer, both};
        use crate::Engine;
        use serde_json::json;
        let policy = "package t\nimport rego.v1\ndefault x := false\n\
                      x if {\n  p := input.p\n  not p == 3\n}\n";
        // The policy runs on the VM, which bound p to undefined and found `not p == 3` true.
        assert!(answer(policy, Engine::Vm, json!({})).is_some());
        assert_eq!(both(policy, json!({})), Ok(json!(false)));
        assert_eq!(both(policy, json!({"p": 4})), Ok(json!(true)));
        assert_eq!(both(policy, json!({"p": 3})), Ok(json!(false)));
    }
}
