//! Rego that OPA accepts and regorus refuses, rewritten before compiling into what it means:
//!
//! - **Output arguments of Palisade's extensions.** In OPA, a call with one argument more than
//!   the function takes binds its result to that argument: `io.jwt.decode(token, [h, p, s])`
//!   means `[h, p, s] = io.jwt.decode(token)`. regorus knows the form for its own builtins
//!   only; for an extension it reports the output as an unsafe variable.
//! - **`with f as <builtin>`.** OPA replaces `f` by another builtin (`with count as max`);
//!   regorus reads the builtin's name as a variable. The rewrite names a function of the
//!   module's own that calls the builtin (`__palisade_with_max(a1) := max(a1)`, appended).
//!
//! Comments and string literals are never touched (the search runs on
//! [`code_only`](super::builtins::code_only) text), and a rewrite stays on its line, so error
//! positions keep their line.

use super::builtins::{code_only, is_ident_char};

/// `source` with both rewrites applied; `extensions` are Palisade's (name, arity).
pub(crate) fn rewrite(source: &str, extensions: &[(&str, u8)]) -> String {
    let source = output_arguments(source, extensions);
    with_builtins(&source, extensions)
}

/// Every output-argument call to one of `functions` (name, arity) rewritten as
/// `output = name(arguments)`.
fn output_arguments(source: &str, functions: &[(&str, u8)]) -> String {
    let code = code_only(source);
    let mut edits: Vec<(usize, usize, String)> = Vec::new();
    for (name, arity) in functions {
        for (start, _) in code.match_indices(name) {
            let before = code.get(..start).and_then(|s| s.chars().next_back());
            if before.is_some_and(|c| is_ident_char(c) || c == '.') {
                continue;
            }
            let Some(open) = open_paren_after(&code, start + name.len()) else {
                continue;
            };
            let Some((arguments, close)) = arguments(&code, open) else {
                continue;
            };
            if arguments.len() != usize::from(*arity) + 1 {
                continue;
            }
            let text = |(from, to): (usize, usize)| source.get(from..to).unwrap_or_default().trim();
            let Some((&output, inputs)) = arguments.split_last() else {
                continue;
            };
            let inputs: Vec<&str> = inputs.iter().map(|range| text(*range)).collect();
            let replacement = format!("{} = {name}({})", text(output), inputs.join(", "));
            edits.push((start, close + 1, replacement));
        }
    }
    apply(source, edits)
}

/// The prefix of the functions [`with_builtins`] adds.
const WITH_PREFIX: &str = "__palisade_with_";

/// Every `with <target> as <builtin>` pointed at a function of the module's own that calls the
/// builtin (regorus' or an extension), defined at the end of the module.
fn with_builtins(source: &str, extensions: &[(&str, u8)]) -> String {
    let code = code_only(source);
    let defined = super::builtins::defined_functions(source);
    let arity = |name: &str| {
        regorus::unstable::BUILTINS
            .get(name)
            .map(|(_, arity)| *arity)
            .or_else(|| extensions.iter().find(|(n, _)| *n == name).map(|(_, a)| *a))
    };
    // Adjacent words: only blanks between them.
    let adjacent = |a: &(usize, &str), b: &(usize, &str)| {
        code.get(a.0 + a.1.len()..b.0)
            .is_some_and(|gap| gap.chars().all(char::is_whitespace))
    };
    let mut edits = Vec::new();
    let mut wrappers: Vec<(String, &str, u8)> = Vec::new();
    for window in words(&code).windows(4) {
        let [with, target, as_, value] = window else {
            continue;
        };
        if with.1 != "with"
            || as_.1 != "as"
            || !(adjacent(with, target) && adjacent(target, as_) && adjacent(as_, value))
        {
            continue;
        }
        // `with input...`/`with data...` replace a document by a value, not a function.
        let replaces_a_function = !["input", "data"]
            .iter()
            .any(|root| target.1 == *root || target.1.starts_with(&format!("{root}.")));
        let Some(arity) =
            arity(value.1).filter(|_| replaces_a_function && !defined.iter().any(|d| d == value.1))
        else {
            continue;
        };
        let wrapper = format!("{WITH_PREFIX}{}", value.1.replace('.', "_"));
        edits.push((value.0, value.0 + value.1.len(), wrapper.clone()));
        if !wrappers.iter().any(|(w, _, _)| *w == wrapper) {
            wrappers.push((wrapper, value.1, arity));
        }
    }
    let mut out = apply(source, edits);
    for (wrapper, builtin, arity) in wrappers {
        let params: Vec<String> = (1..=arity).map(|i| format!("a{i}")).collect();
        let params = params.join(", ");
        out.push_str(&format!("\n{wrapper}({params}) := {builtin}({params})\n"));
    }
    out
}

/// The dotted words of `code` (`with`, `count`, `io.jwt.decode`) and where each starts.
fn words(code: &str) -> Vec<(usize, &str)> {
    let mut out = Vec::new();
    let mut start = None;
    for (at, c) in code
        .char_indices()
        .chain(std::iter::once((code.len(), ' ')))
    {
        match (start, is_ident_char(c) || c == '.') {
            (None, true) => start = Some(at),
            (Some(from), false) => {
                out.push((from, code.get(from..at).unwrap_or_default()));
                start = None;
            }
            _ => {}
        }
    }
    out
}

/// `source` with each (start, end, replacement) edit made; the edits do not overlap.
fn apply(source: &str, mut edits: Vec<(usize, usize, String)>) -> String {
    edits.sort_by_key(|(start, _, _)| std::cmp::Reverse(*start));
    let mut out = source.to_string();
    for (start, end, replacement) in edits {
        if out.is_char_boundary(start) && out.is_char_boundary(end) {
            out.replace_range(start..end, &replacement);
        }
    }
    out
}

/// The offset of the `(` that follows `at` after blanks on the same line, if one does.
fn open_paren_after(code: &str, at: usize) -> Option<usize> {
    let rest = code.get(at..)?;
    let skipped = rest.len() - rest.trim_start_matches([' ', '\t']).len();
    rest.get(skipped..)?
        .starts_with('(')
        .then_some(at + skipped)
}

/// The byte ranges of the top-level arguments of the call whose `(` is at `open`, and the
/// offset of its `)`; `None` when the parentheses do not close or the call has no argument.
fn arguments(code: &str, open: usize) -> Option<(Vec<(usize, usize)>, usize)> {
    let mut ranges = Vec::new();
    let mut depth = 0usize;
    let mut from = open + 1;
    for (offset, c) in code.get(open..)?.char_indices() {
        let at = open + offset;
        match c {
            '(' | '[' | '{' => depth += 1,
            ')' | ']' | '}' => {
                depth = depth.checked_sub(1)?;
                if depth == 0 {
                    ranges.push((from, at));
                    let empty = ranges.len() == 1 && code.get(from..at)?.trim().is_empty();
                    return (!empty).then_some((ranges, at));
                }
            }
            ',' if depth == 1 => {
                ranges.push((from, at));
                from = at + 1;
            }
            _ => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    const JWT: &[(&str, u8)] = &[("io.jwt.decode", 1), ("io.jwt.verify_hs256", 2)];

    #[test]
    fn an_extra_argument_becomes_the_result() {
        let policy = "allow if {\n  io.jwt.decode(input.token, [_, payload, _])\n  \
                      io.jwt.verify_hs256 (input.token, \"s,(\", ok)\n  ok\n}\n";
        assert_eq!(
            rewrite(policy, JWT),
            "allow if {\n  [_, payload, _] = io.jwt.decode(input.token)\n  \
             ok = io.jwt.verify_hs256(input.token, \"s,(\")\n  ok\n}\n"
        );
    }

    #[test]
    fn with_a_builtin_calls_it_through_a_function_of_the_module() {
        let policy = "allow if {\n  count(x) == 3 with count as max\n  y with input.v as max\n  \
                      z with input.o as {\"m\": max}\n}\n";
        assert_eq!(
            rewrite(policy, JWT),
            "allow if {\n  count(x) == 3 with count as __palisade_with_max\n  \
             y with input.v as max\n  z with input.o as {\"m\": max}\n}\n\
             \n__palisade_with_max(a1) := max(a1)\n"
        );
        let own = "f(_) := 1\nallow if { count(x) == 1 with count as f }\n";
        assert_eq!(rewrite(own, JWT), own);
    }

    #[test]
    fn text_after_non_ascii_strings_and_comments_is_rewritten_in_place() {
        let policy = "greeting := \"héllo ✓\" # ünïcode\n\
                      allow if {\n  io.jwt.decode(input.token, [_, payload, _])\n}\n";
        assert_eq!(
            rewrite(policy, JWT),
            "greeting := \"héllo ✓\" # ünïcode\n\
             allow if {\n  [_, payload, _] = io.jwt.decode(input.token)\n}\n"
        );
    }

    #[test]
    fn other_calls_strings_and_comments_are_left_alone() {
        let policy = "x := io.jwt.decode(t)\n# io.jwt.decode(a, b)\n\
                      y := \"io.jwt.decode(a, b)\"\nz := my.io.jwt.decode(a, b)\n\
                      w := io.jwt.decode(f(a, b))\nv := io.jwt.decode(\n";
        assert_eq!(rewrite(policy, JWT), policy);
    }
}
