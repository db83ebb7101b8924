//! Array comprehensions whose element may be undefined, as OPA evaluates them.
//!
//! In OPA, an element that is undefined is left out of the array: `[u.name | some u in users]`
//! skips a user with no name. regorus' bytecode VM keeps it (written out as `"<undefined>"`), so
//! `count(...)` and comparisons saw one element too many. Each array comprehension's element is
//! assigned at the end of its body instead, where an undefined value stops that iteration (see
//! [`super::assignments`]):
//!
//! ```text
//! [u.name | some u in users]   ->   [__palisade_element_0 | some u in users; __palisade_element_0 := u.name]
//! ```
//!
//! A comprehension whose element holds another comprehension is left as it is (the policy then
//! runs on the interpreter, [`super::interpreter_only`]).

use super::builtins::code_only;
use super::lexical::{apply, text, trim};

/// The names of the variables the rewrite introduces.
const PREFIX: &str = "__palisade_element_";

/// `source` with every array comprehension's element assigned at the end of its body.
pub(crate) fn rewrite(source: &str) -> String {
    let code = code_only(source);
    let mut edits = Vec::new();
    for (number, (open, bar, close)) in array_comprehensions(&code).into_iter().enumerate() {
        let element = trim(&code, open + 1..bar);
        if nests_a_comprehension(&code, element.clone()) {
            continue;
        }
        let var = format!("{PREFIX}{number}");
        let body_end = trim(&code, bar + 1..close).end;
        edits.push((element.start, element.end, var.clone()));
        edits.push((
            body_end,
            body_end,
            format!("; {var} := {}", text(source, element)),
        ));
    }
    apply(source, edits)
}

/// Whether the text at `range` holds a comprehension.
pub(crate) fn nests_a_comprehension(code: &str, range: std::ops::Range<usize>) -> bool {
    let inner = text(code, range.clone());
    !array_comprehensions(inner).is_empty()
        || inner.contains('|') && (inner.contains('{') || inner.contains('['))
}

/// Every array comprehension of `code`: where its `[`, its `|` and its `]` are.
pub(crate) fn array_comprehensions(code: &str) -> Vec<(usize, usize, usize)> {
    // One pass: for each open bracket, the first `|` directly inside it.
    let mut open: Vec<(usize, char, Option<usize>)> = Vec::new();
    let mut found = Vec::new();
    for (at, c) in code.char_indices() {
        match c {
            '[' | '{' | '(' => open.push((at, c, None)),
            '|' => {
                if let Some(top) = open.last_mut() {
                    top.2 = top.2.or(Some(at));
                }
            }
            ']' | '}' | ')' => {
                if let Some((start, '[', Some(bar))) = open.pop() {
                    if c == ']' {
                        found.push((start, bar, at));
                    }
                }
            }
            _ => {}
        }
    }
    found.sort_unstable();
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_element_is_assigned_at_the_end_of_the_body() {
        assert_eq!(
            rewrite("names := [u.name | some u in input.users]\n"),
            "names := [__palisade_element_0 | some u in input.users; \
             __palisade_element_0 := u.name]\n"
        );
        // Nested in the body: both; in the element: neither (the interpreter runs it).
        assert_eq!(
            rewrite("m := [r | some x in xs; r := [x * y | some y in ys]]\n"),
            "m := [__palisade_element_0 | some x in xs; r := [__palisade_element_1 | some y in \
             ys; __palisade_element_1 := x * y]; __palisade_element_0 := r]\n"
        );
        let nested = "m := [[y | some y in ys] | some x in xs]\n";
        assert_eq!(rewrite(nested), "m := [[__palisade_element_1 | some y in ys; __palisade_element_1 := y] | some x in xs]\n");
        // Arrays, sets, objects and unions stay.
        for policy in ["a := [1, 2]\n", "s := {x | some x in xs}\n", "u := a | b\n"] {
            assert_eq!(rewrite(policy), policy);
        }
    }

    #[test]
    fn an_undefined_element_is_left_out_on_both_engines() {
        use crate::test_support::{answer, both};
        use serde_json::json;
        let policy = "package t\nimport rego.v1\n\
                      x := [[u.name | some u in input.users], [to_number(s) | some s in input.s]]\n";
        // The policy runs on the VM, which kept the undefined elements.
        assert!(answer(policy, crate::Engine::Vm, json!({})).is_some());
        let input = json!({"users": [{"name": "a"}, {"id": 2}], "s": ["1", "x"]});
        assert_eq!(both(policy, input), Ok(json!([["a"], [1]])));
    }
}
