//! `not` as OPA evaluates it.
//!
//! OPA's compiler takes parts of a negated expression out of it and evaluates them before the
//! negation (its `RewriteExprTerms` and `RewriteDynamicTerms` stages; see
//! <https://github.com/open-policy-agent/opa/issues/1877>). When one of them is undefined, the
//! body fails there and `not` is never reached: with no `input.user`,
//! `not blocked(input.user)` is undefined in OPA, where regorus, which negates the whole
//! expression, finds it true and lets the rule match. So each such `not` is rewritten into the
//! form OPA evaluates:
//!
//! ```text
//! not blocked(input.user)   ->   __palisade_not_0 = input.user; not blocked(__palisade_not_0)
//! allow if not f(input.x)   ->   allow if { __palisade_not_1 = input.x; not f(__palisade_not_1) }
//! ```
//!
//! What OPA evaluates first depends on the form of the negated expression:
//!
//! - `a == b` (and `a = b`): a side that is a call or an operation (`count(x) == 1`,
//!   `input.n + 1 == 2`); a side that is an array, object or set holding more than literals;
//!   what the brackets of a reference hold (`obj[input.k] == 1`). A plain reference is not
//!   (`not input.a == input.b` is true when either is undefined).
//! - any other operator (`!=`, `<`, `in`, `+`, `|`, ...) or a call `f(a, b)`: every side or
//!   argument that is not a literal (a local variable taken out is harmless: it is bound).
//! - a term alone: what its brackets hold (`not obj[input.k]`), or the whole array, object or
//!   set.
//!
//! The `with` modifiers of a negated expression apply to what is taken out of it too.
//!
//! A module that imports OPA's `not` keyword (`import future.keywords.not`, or every future
//! keyword with `import future.keywords`) is not rewritten so: there OPA negates the expression
//! as a whole (`not blocked(input.user)` is true with no `input.user`), as regorus' bytecode VM
//! does. On the interpreter, which takes the parts out as OPA otherwise does, [`hold_whole`]
//! keeps them in.

use std::ops::Range;

use super::builtins::{code_only, is_ident_char};
use super::lexical::{
    apply, closing, comma_separated, expression_end, follows_word, is_word_at, starts_statement,
    text, trim,
};

/// The names of the variables the rewrite introduces.
const PREFIX: &str = "__palisade_not_";

/// `source` with every negated expression that OPA takes parts out of rewritten.
pub(crate) fn rewrite(source: &str) -> String {
    let code = code_only(source);
    rewrite_each(source, &code, |negation, next_var| {
        negation.taking_out(source, next_var)
    })
}

/// For regorus' interpreter, in a module that imports OPA's `not` keyword: `source` with each
/// negated expression held whole. The interpreter, like OPA without the keyword, fails the body
/// when a part of the expression is undefined (`not f(input.missing)`), where OPA with it
/// negates the whole, undefined, expression. `not E` becomes `count({1 | E}) == 0`: the
/// comprehension is empty exactly when `E` is undefined or false, and holds the undefined part.
/// Only expressions that have such parts are rewritten; the bytecode VM needs none of this.
pub(crate) fn hold_whole(source: &str) -> String {
    let code = code_only(source);
    rewrite_each(source, &code, |negation, _| negation.held_whole(source))
}

fn rewrite_each(
    source: &str,
    code: &str,
    mut render: impl FnMut(&Negation, &mut usize) -> String,
) -> String {
    let mut edits = Vec::new();
    let mut next_var = 0usize;
    for (at, _) in code.match_indices("not") {
        if !is_word_at(code, at, "not") {
            continue;
        }
        if let Some(negation) = Negation::at(source, code, at) {
            edits.push((negation.at, negation.end, render(&negation, &mut next_var)));
        }
    }
    apply(source, edits)
}

/// Whether the module imports OPA's `not` keyword, alone or with every future keyword: then
/// OPA takes nothing out of a negated expression.
pub(crate) fn imports_not_keyword(source: &str) -> bool {
    code_only(source).lines().any(|line| {
        let mut words = line.split_whitespace();
        words.next() == Some("import")
            && matches!(
                words.next(),
                Some("future.keywords" | "future.keywords.not")
            )
    })
}

/// A `not` whose expression has parts OPA evaluates before the negation.
struct Negation {
    /// Where `not` starts and the expression (with its modifiers) ends.
    at: usize,
    end: usize,
    /// The expression, without its `with` modifiers.
    negated: Range<usize>,
    /// The modifiers (` with input as y`), or empty.
    modifiers: String,
    /// The `not` is a rule's whole body after `if`: its rewrite needs braces.
    wrap: bool,
    /// The parts OPA takes out, in order.
    taken: Vec<Range<usize>>,
}

impl Negation {
    /// The negation at `at`, if OPA takes anything out of its expression.
    fn at(source: &str, code: &str, at: usize) -> Option<Self> {
        let after = code.get(at + 3..)?;
        let blanks = after.len() - after.trim_start_matches([' ', '\t']).len();
        if blanks == 0 {
            return None;
        }
        let start = at + 3 + blanks;
        let end = expression_end(code, start);
        let negated = start..end;
        let word_at = |word: &str| {
            code.get(negated.clone())
                .unwrap_or_default()
                .match_indices(word)
                .map(|(offset, _)| start + offset)
                .find(|at| is_word_at(code, *at, word))
        };
        if word_at("some").is_some() || word_at("every").is_some() {
            return None;
        }
        // `not f(x) with input as y`: what OPA takes out keeps the `with`.
        let (negated, modifiers) = match word_at("with") {
            Some(with) => (
                trim(code, start..with),
                format!(" {}", text(source, with..end)),
            ),
            None => (negated, String::new()),
        };
        let wrap = match (starts_statement(code, at), follows_word(code, at, "if")) {
            (true, _) => false,
            (false, true) => true,
            (false, false) => return None,
        };
        let mut taken = taken_out(code, negated.clone());
        taken.sort_by_key(|range| range.start);
        taken.dedup_by(|inner, outer| inner.start < outer.end);
        (!taken.is_empty()).then_some(Self {
            at,
            end,
            negated,
            modifiers,
            wrap,
            taken,
        })
    }

    /// The parts bound first, then the negation of what is left, as OPA evaluates it.
    fn taking_out(&self, source: &str, next_var: &mut usize) -> String {
        let modifiers = &self.modifiers;
        let mut bindings = String::new();
        let mut rest = String::new();
        let mut cursor = self.negated.start;
        for range in &self.taken {
            let var = format!("{PREFIX}{next_var}");
            *next_var += 1;
            bindings.push_str(&format!(
                "{var} = {}{modifiers}; ",
                text(source, range.clone())
            ));
            rest.push_str(text(source, cursor..range.start));
            rest.push_str(&var);
            cursor = range.end;
        }
        rest.push_str(text(source, cursor..self.negated.end));
        self.braced(format!("{bindings}not {rest}{modifiers}"))
    }

    /// The expression held whole in a comprehension ([`hold_whole`]).
    fn held_whole(&self, source: &str) -> String {
        let negated = text(source, self.negated.clone());
        self.braced(format!("count({{1 | {negated}{}}}) == 0", self.modifiers))
    }

    fn braced(&self, body: String) -> String {
        match self.wrap {
            true => format!("{{ {body} }}"),
            false => body,
        }
    }
}

/// The parts of the negated expression at `range` that OPA evaluates before the negation.
fn taken_out(code: &str, range: Range<usize>) -> Vec<Range<usize>> {
    let range = unparenthesized(code, trim(code, range));
    if let Some((operator, sides)) = operation(code, range.clone()) {
        return sides
            .into_iter()
            .flat_map(|side| match operator {
                "==" | "=" => equality_side(code, side),
                _ => other_side(code, side),
            })
            .collect();
    }
    if let Some(arguments) = call_arguments(code, range.clone()) {
        return arguments
            .into_iter()
            .flat_map(|argument| other_side(code, argument))
            .collect();
    }
    if is_collection_of_terms(code, range.clone()) {
        return vec![range];
    }
    bracketed(code, range)
}

/// What OPA takes out of a side of `==`: a call, an operation or a collection holding terms;
/// else what the brackets of a reference hold.
fn equality_side(code: &str, side: Range<usize>) -> Vec<Range<usize>> {
    let bare = unparenthesized(code, side.clone());
    let computed = call_arguments(code, bare.clone()).is_some()
        || operation(code, bare.clone()).is_some()
        || is_collection_of_terms(code, bare.clone());
    match computed {
        true => vec![side],
        false => bracketed(code, bare),
    }
}

/// What OPA takes out of an operand of any other call: all of it, unless it is a literal or a
/// comprehension.
fn other_side(code: &str, side: Range<usize>) -> Vec<Range<usize>> {
    let bare = unparenthesized(code, side.clone());
    match is_literal(code, bare.clone()) || is_comprehension(code, bare) {
        true => Vec::new(),
        false => vec![side],
    }
}

/// `range` without the parentheses that enclose all of it.
fn unparenthesized(code: &str, range: Range<usize>) -> Range<usize> {
    let range = trim(code, range);
    let encloses = text(code, range.clone()).starts_with('(')
        && closing(code, range.start) == Some(range.end.saturating_sub(1));
    match encloses && range.len() >= 2 {
        true => unparenthesized(code, range.start + 1..range.end - 1),
        false => range,
    }
}

/// Binary operators by precedence, lowest first, as OPA's parser reads them.
const LEVELS: &[&[&str]] = &[
    &["in"],
    &["==", "!=", "<=", ">=", "<", ">", "="],
    &["|"],
    &["&"],
    &["+", "-"],
    &["*", "/", "%"],
];

/// The operator of `range` that binds last (lowest precedence, rightmost), and its two sides.
fn operation(code: &str, range: Range<usize>) -> Option<(&'static str, Vec<Range<usize>>)> {
    let mut found: Vec<(usize, usize, &'static str)> = Vec::new();
    let mut depth = 0usize;
    let body = text(code, range.clone());
    let mut offset = 0;
    while offset < body.len() {
        let at = range.start + offset;
        let c = body
            .get(offset..)
            .and_then(|s| s.chars().next())
            .unwrap_or(' ');
        match c {
            '(' | '[' | '{' => depth += 1,
            ')' | ']' | '}' => depth = depth.saturating_sub(1),
            _ if depth == 0 => {
                if let Some((level, operator)) = operator_at(code, at, range.start) {
                    found.push((level, at, operator));
                    offset += operator.len();
                    continue;
                }
            }
            _ => {}
        }
        offset += c.len_utf8();
    }
    let lowest = found.iter().map(|(level, _, _)| *level).min()?;
    let (_, at, operator) = found.into_iter().rev().find(|(l, _, _)| *l == lowest)?;
    let sides = vec![
        trim(code, range.start..at),
        trim(code, at + operator.len()..range.end),
    ];
    if sides.iter().any(|side| side.is_empty()) {
        return None;
    }
    Some((operator, sides))
}

/// The binary operator at `at`, with its precedence level; `start` is where the expression
/// begins (an operator needs an operand before it).
fn operator_at(code: &str, at: usize, start: usize) -> Option<(usize, &'static str)> {
    let rest = code.get(at..)?;
    let before = code.get(start..at)?.trim_end();
    let operand_before = before
        .chars()
        .next_back()
        .is_some_and(|c| is_ident_char(c) || matches!(c, ')' | ']' | '}' | '"'));
    for (level, operators) in LEVELS.iter().enumerate() {
        for operator in *operators {
            if !rest.starts_with(operator) || !operand_before {
                continue;
            }
            let next = rest.get(operator.len()..).and_then(|s| s.chars().next());
            let matched = match *operator {
                "in" => is_word_at(code, at, "in"),
                "=" => !matches!(next, Some('=')) && !before.ends_with([':', '!', '<', '>', '=']),
                "<" | ">" => next != Some('='),
                "+" | "-" => !is_exponent(before),
                _ => true,
            };
            if matched {
                return Some((level, operator));
            }
        }
    }
    None
}

/// Whether `before` ends with the mantissa of a number in exponent notation (`1e` of `1e-9`).
fn is_exponent(before: &str) -> bool {
    let word: String = before
        .chars()
        .rev()
        .take_while(|c| is_ident_char(*c) || *c == '.')
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    word.ends_with(['e', 'E']) && word.starts_with(|c: char| c.is_ascii_digit())
}

/// The arguments of `range` when it is a call, `name(...)` or `a.b.name(...)`.
fn call_arguments(code: &str, range: Range<usize>) -> Option<Vec<Range<usize>>> {
    let body = text(code, range.clone());
    let name_len = body
        .find(|c: char| !(is_ident_char(c) || c == '.'))
        .unwrap_or(body.len());
    if name_len == 0 || body.starts_with(|c: char| c.is_ascii_digit()) {
        return None;
    }
    let open = range.start + name_len;
    if code.get(open..open + 1) != Some("(") || closing(code, open)? + 1 != range.end {
        return None;
    }
    Some(comma_separated(code, open + 1..range.end - 1))
}

/// A string, number, `true`, `false`, `null` or `_`.
fn is_literal(code: &str, range: Range<usize>) -> bool {
    let body = text(code, range);
    (body.starts_with('"') && body.ends_with('"') && body.len() >= 2)
        || matches!(body, "true" | "false" | "null" | "_")
        || body.parse::<f64>().is_ok()
}

/// An array, object or set (not a comprehension) with something in it that is not a literal.
fn is_collection_of_terms(code: &str, range: Range<usize>) -> bool {
    let body = text(code, range.clone());
    let encloses = (body.starts_with('[') || body.starts_with('{'))
        && closing(code, range.start) == Some(range.end.saturating_sub(1));
    if !encloses || is_comprehension(code, range) {
        return false;
    }
    body.split(|c: char| !(is_ident_char(c) || c == '.'))
        .filter(|word| !word.is_empty())
        .any(|word| {
            !word.starts_with(|c: char| c.is_ascii_digit())
                && !matches!(word, "true" | "false" | "null")
        })
}

/// `[x | ...]`, `{x | ...}` or `{k: v | ...}`.
fn is_comprehension(code: &str, range: Range<usize>) -> bool {
    let body = text(code, range.clone());
    if !(body.starts_with('[') || body.starts_with('{'))
        || closing(code, range.start) != Some(range.end.saturating_sub(1))
    {
        return false;
    }
    let mut depth = 0usize;
    body.chars().any(|c| {
        match c {
            '(' | '[' | '{' => depth += 1,
            ')' | ']' | '}' => depth = depth.saturating_sub(1),
            '|' if depth == 1 => return true,
            _ => {}
        }
        false
    })
}

/// What the brackets of the reference at `range` hold, where that is not a literal.
fn bracketed(code: &str, range: Range<usize>) -> Vec<Range<usize>> {
    let body = text(code, range.clone());
    if !body.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_') {
        return Vec::new();
    }
    let mut out = Vec::new();
    let mut at = range.start;
    while at < range.end {
        let c = code.get(at..).and_then(|s| s.chars().next()).unwrap_or(' ');
        match c {
            '[' => {
                let Some(close) = closing(code, at) else {
                    return Vec::new();
                };
                let inside = trim(code, at + 1..close);
                if !is_literal(code, inside.clone()) {
                    out.push(inside);
                }
                at = close + 1;
            }
            c if is_ident_char(c) || c == '.' => at += 1,
            // A call, an operator: not a reference.
            _ => return Vec::new(),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rewritten(policy: &str) -> String {
        rewrite(policy)
    }

    #[test]
    fn arguments_of_a_negated_call_are_evaluated_first() {
        assert_eq!(
            rewritten("allow if {\n  not blocked(input.user)\n}\n"),
            "allow if {\n  __palisade_not_0 = input.user; not blocked(__palisade_not_0)\n}\n"
        );
        assert_eq!(
            rewritten("allow if not startswith(input.path, \"/admin\")\n"),
            "allow if { __palisade_not_0 = input.path; \
             not startswith(__palisade_not_0, \"/admin\") }\n"
        );
        // Literals stay; an operator's sides other than `==`'s are taken out whole.
        assert_eq!(
            rewritten("a if { x := 1; not input.role in {\"admin\"} }"),
            "a if { x := 1; __palisade_not_0 = input.role; __palisade_not_1 = {\"admin\"}; \
             not __palisade_not_0 in __palisade_not_1 }"
        );
        assert_eq!(
            rewritten("a if { not count(input.xs) > 0 }"),
            "a if { __palisade_not_0 = count(input.xs); not __palisade_not_0 > 0 }"
        );
    }

    #[test]
    fn equality_takes_out_calls_operations_and_brackets_only() {
        // A plain reference is compared, undefined or not.
        let plain = "a if { not input.a == input.b }";
        assert_eq!(rewritten(plain), plain);
        assert_eq!(
            rewritten("a if { not count(input.s) == 3 }"),
            "a if { __palisade_not_0 = count(input.s); not __palisade_not_0 == 3 }"
        );
        assert_eq!(
            rewritten("a if { not input.n + 1 == 2 }"),
            "a if { __palisade_not_0 = input.n + 1; not __palisade_not_0 == 2 }"
        );
        assert_eq!(
            rewritten("a if { not obj[input.k] == 1 }"),
            "a if { __palisade_not_0 = input.k; not obj[__palisade_not_0] == 1 }"
        );
        assert_eq!(
            rewritten("a if { not obj[input.k] }"),
            "a if { __palisade_not_0 = input.k; not obj[__palisade_not_0] }"
        );
    }

    #[test]
    fn what_opa_negates_whole_is_left_alone() {
        for policy in [
            "a if not input.user\n",
            "a if not deny\n",
            "a if not input.headers[\"x-user\"]\n",
            "a if not startswith(\"abc\", \"a\")\n",
            "a if { x := [y | not f(input.y)]; count(x) == 0 }\n",
            "# not f(input.x)\nb := \"not f(input.x)\"\n",
            "notice := cannot(input.x)\n",
            "a if not 1e-3 < 2e-3\n",
        ] {
            let out = rewritten(policy);
            if policy.contains("[y |") {
                assert!(out.contains("__palisade_not_0 = input.y; not f"), "{out}");
            } else {
                assert_eq!(out, policy);
            }
        }
    }

    #[test]
    fn what_is_taken_out_keeps_the_with_modifiers() {
        assert_eq!(
            rewritten("a if { not f(input.x) with input as {\"x\": 1} }"),
            "a if { __palisade_not_0 = input.x with input as {\"x\": 1}; \
             not f(__palisade_not_0) with input as {\"x\": 1} }"
        );
    }

    #[test]
    fn bodies_comprehensions_and_lines_keep_their_shape() {
        let policy = "g := [x | some x in input.xs; not startswith(x.name, \"a\")]\n\
                      f(y) if not startswith(input.s, y)\n\
                      h if {\n  every v in input.vs { not startswith(v.n, \"a\") }\n}\n";
        let out = rewritten(policy);
        assert_eq!(out.lines().count(), policy.lines().count());
        assert!(
            out.contains("some x in input.xs; __palisade_not_0 = x.name; not startswith"),
            "{out}"
        );
        assert!(
            out.contains("f(y) if { __palisade_not_1 = input.s; __palisade_not_2 = y; not"),
            "{out}"
        );
        assert!(
            out.contains("{ __palisade_not_3 = v.n; not startswith(__palisade_not_3"),
            "{out}"
        );
    }

    #[test]
    fn a_negated_call_with_an_undefined_argument_is_undefined_on_both_engines() {
        use crate::test_support::both;
        use serde_json::json;
        let policy = "package t\nimport rego.v1\ndefault x := \"denied\"\n\
                      x := \"allowed\" if not blocked(input.user)\n\
                      blocked(u) if u in {\"eve\"}\n";
        assert_eq!(both(policy, json!({"user": "bob"})), Ok(json!("allowed")));
        assert_eq!(both(policy, json!({"user": "eve"})), Ok(json!("denied")));
        // OPA: the argument is evaluated before the negation, and the body fails there.
        assert_eq!(both(policy, json!({})), Ok(json!("denied")));
    }

    #[test]
    fn with_the_not_keyword_the_interpreter_holds_the_expression_whole() {
        let policy = "package t\nimport future.keywords.not\na if not obj[input.k]\nb if {\n  x := 1\n  not f(input.k, x) with input as {}\n}\n";
        assert!(imports_not_keyword(policy));
        assert_eq!(
            hold_whole(policy),
            "package t\nimport future.keywords.not\na if { count({1 | obj[input.k]}) == 0 }\nb if {\n  x := 1\n  count({1 | f(input.k, x) with input as {}}) == 0\n}\n"
        );
        assert!(imports_not_keyword("import future.keywords\n"));
        assert!(!imports_not_keyword("import future.keywords.in\n"));
        assert!(!imports_not_keyword("# import future.keywords.not\n"));
    }
}
