//! OPA's output-argument call form for Palisade's extensions.
//!
//! In OPA, a call with one argument more than the function takes binds its result to that
//! argument: `io.jwt.decode(token, [header, payload, sig])` means
//! `[header, payload, sig] = io.jwt.decode(token)`. regorus knows the form for its own
//! builtins only; for an extension it reports the output as an unsafe variable. So before a
//! policy is compiled, each such call to an extension is rewritten into the unification it
//! means. Comments and string literals are never touched (the search runs on
//! [`code_only`](super::builtins::code_only) text), and a rewrite stays on its line, so error
//! positions keep their line.

use super::builtins::{code_only, is_ident_char};

/// `source` with every output-argument call to one of `functions` (name, arity) rewritten as
/// `output = name(arguments)`.
pub(crate) fn rewrite(source: &str, functions: &[(&str, u8)]) -> String {
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
    fn other_calls_strings_and_comments_are_left_alone() {
        let policy = "x := io.jwt.decode(t)\n# io.jwt.decode(a, b)\n\
                      y := \"io.jwt.decode(a, b)\"\nz := my.io.jwt.decode(a, b)\n\
                      w := io.jwt.decode(f(a, b))\nv := io.jwt.decode(\n";
        assert_eq!(rewrite(policy, JWT), policy);
    }
}
