//! Partial rules whose head computes its element, key or value, on regorus' interpreter.
//!
//! `deny contains sprintf("%s", [x]) if { some x in input.xs }`: when the head's expression is
//! undefined for one `x` (a builtin fails on it), OPA leaves that element out and keeps the
//! others; regorus' interpreter drops every element the rule has produced, so a deny set can
//! come out empty and let the request through. [`rewrite`] moves such an expression into the
//! body, where an undefined value fails only its own iteration:
//! `deny contains __palisade_key if { some x in input.xs; __palisade_key := sprintf(...) }`.
//! The same holds for a partial object rule's key and value (`h[lower(k)] := v if ...`).

use regorus::unstable::{Expr, Ref, Rule, RuleHead};

use super::syntax::{bounds, parse, TextEdits};

/// `source` with the computed heads of its partial rules moved into their bodies; `source` as
/// it is when it does not parse (compiling it reports the error).
pub(crate) fn rewrite(name: &str, source: &str, rego_v0: bool) -> String {
    let Ok(module) = parse(name, source, rego_v0) else {
        return source.to_string();
    };
    let mut edits = TextEdits::new(source);
    for rule in &module.policy {
        move_computed_head(&mut edits, rule, rego_v0);
    }
    edits.apply_checked(name, rego_v0)
}

fn move_computed_head(edits: &mut TextEdits<'_>, rule: &Ref<Rule>, rego_v0: bool) {
    let Rule::Spec { head, bodies, span } = rule.as_ref() else {
        return;
    };
    let computed: Vec<(&Ref<Expr>, &str)> = match head {
        RuleHead::Set { key: Some(key), .. } => vec![(key, "__palisade_key")],
        RuleHead::Compr { refr, assign, .. } => match refr.as_ref() {
            Expr::RefBrack { index, .. } => {
                let mut both = vec![(index, "__palisade_key")];
                if let Some(assign) = assign {
                    both.push((&assign.value, "__palisade_value"));
                }
                both
            }
            _ => vec![],
        },
        _ => vec![],
    };
    let computed: Vec<_> = computed
        .into_iter()
        .filter(|(expr, _)| !always_defined(expr))
        .collect();
    if computed.is_empty() || bodies.iter().any(|body| body.assign.is_some()) {
        return;
    }
    let mut bindings = String::new();
    for (expr, var) in &computed {
        let (start, end) = bounds(expr);
        let Some(text) = edits.source.get(start..end) else {
            return;
        };
        bindings.push_str(&format!("\n{var} := {text}\n"));
        edits.replace(start, (0, 0, 0), end - start, (*var).to_string());
    }
    if bodies.is_empty() {
        let keyword = if rego_v0 { "" } else { " if" };
        let end = span.end as usize;
        edits.replace(end, (0, 0, 0), 0, format!("{keyword} {{{bindings}}}"));
    }
    for body in bodies {
        let (start, end) = (body.query.span.start as usize, body.query.span.end as usize);
        match edits.source.get(start..end) {
            Some(query) if query.starts_with('{') && query.ends_with('}') => {
                edits.replace(end - 1, (0, 0, 0), 0, bindings.clone());
            }
            Some(_) => {
                edits.replace(start, (0, 0, 0), 0, "{ ".into());
                edits.replace(end, (0, 0, 0), 0, format!("{bindings}}}"));
            }
            None => {}
        }
    }
}

/// Whether an expression is defined wherever the rule's body holds: a variable the body binds,
/// a constant, or a collection of those.
fn always_defined(expr: &Ref<Expr>) -> bool {
    match expr.as_ref() {
        Expr::String { .. }
        | Expr::RawString { .. }
        | Expr::Number { .. }
        | Expr::Bool { .. }
        | Expr::Null { .. }
        | Expr::Var { .. } => true,
        Expr::Array { items, .. } | Expr::Set { items, .. } => items.iter().all(always_defined),
        Expr::Object { fields, .. } => fields
            .iter()
            .all(|(_, key, value)| always_defined(key) && always_defined(value)),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rewritten(rules: &str, rego_v0: bool) -> String {
        let header = match rego_v0 {
            true => "package t\n",
            false => "package t\nimport rego.v1\n",
        };
        let out = rewrite("t.rego", &format!("{header}{rules}\n"), rego_v0);
        out.strip_prefix(header).unwrap().trim_end().to_string()
    }

    #[test]
    fn a_computed_element_moves_into_the_body() {
        assert_eq!(
            rewritten("nums contains to_number(s) if some s in input.xs", false),
            "nums contains __palisade_key if { some s in input.xs\n\
             __palisade_key := to_number(s)\n}"
        );
        assert_eq!(
            rewritten(
                "msgs contains sprintf(\"%s\", [x]) if {\n  some x in input.xs\n}",
                false
            ),
            "msgs contains __palisade_key if {\n  some x in input.xs\n\
             \n__palisade_key := sprintf(\"%s\", [x])\n}"
        );
        assert_eq!(
            rewritten("one contains lower(input.a)", false),
            "one contains __palisade_key if {\n__palisade_key := lower(input.a)\n}"
        );
        assert_eq!(
            rewritten("nums[to_number(s)] { s := input.xs[_] }", true),
            "nums[__palisade_key] { s := input.xs[_] \n__palisade_key := to_number(s)\n}"
        );
    }

    #[test]
    fn a_computed_key_or_value_of_an_object_rule_moves_into_the_body() {
        assert_eq!(
            rewritten("h[lower(k)] := upper(v) if { some k, v in input.o }", false),
            "h[__palisade_key] := __palisade_value if { some k, v in input.o \n\
             __palisade_key := lower(k)\n\n__palisade_value := upper(v)\n}"
        );
    }

    #[test]
    fn an_object_with_several_fields_moves_whole() {
        // regorus' span of such an object starts at its last key.
        assert_eq!(
            rewritten(
                "l[t] := {\"a\": r, \"b\": r * 2} if some t, r in input.o",
                false
            ),
            "l[t] := __palisade_value if { some t, r in input.o\n\
             __palisade_value := {\"a\": r, \"b\": r * 2}\n}"
        );
    }

    #[test]
    fn heads_that_are_always_defined_stay() {
        for rules in [
            "s contains x if some x in input.xs",
            "s contains [x, \"a\"] if some x in input.xs",
            "h[k] := v if some k, v in input.o",
            "x := lower(input.a)",
            "f(x) := lower(x)",
        ] {
            assert_eq!(rewritten(rules, false), rules);
        }
    }
}
