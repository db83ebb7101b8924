//! Regular expressions written into a policy that this build cannot run (a Unicode class,
//! `\p{Greek}`; a case-insensitive letter beyond ASCII, `(?i)é`): found when the policy is
//! configured, and refused, naming the pattern. At run time such a pattern makes the call
//! undefined where OPA answers, which in a rule that denies, or under `not`, would let through
//! what OPA stops. (A pattern that comes from data or the request is only known at run time.)
//!
//! The reading is lexical, on [`code_only`] text: a call of a `regex.*` builtin whose pattern
//! argument is a string literal.

use super::builtins::code_only;
use super::lexical::{closing, comma_separated, is_word_at, text};

/// The builtins that take a pattern, and which argument it is.
const PATTERN_ARGUMENT: &[(&str, usize)] = &[
    ("regex.match", 0),
    ("regex.split", 0),
    ("regex.find_n", 0),
    ("regex.find_all_string_submatch_n", 0),
    ("regex.replace", 1),
];

/// The first call of `source` with a pattern this build cannot run: the builtin and the
/// pattern.
pub(crate) fn find(source: &str) -> Option<(&'static str, String)> {
    let code = code_only(source);
    PATTERN_ARGUMENT.iter().find_map(|(name, index)| {
        code.match_indices(name).find_map(|(at, _)| {
            if !is_word_at(&code, at, name) {
                return None;
            }
            let after = code.get(at + name.len()..)?;
            let open = at + name.len() + (after.len() - after.trim_start().len());
            if !code.get(open..)?.starts_with('(') {
                return None;
            }
            let close = closing(&code, open)?;
            let argument = comma_separated(&code, open + 1..close)
                .into_iter()
                .nth(*index)?;
            let pattern = string_literal(text(source, argument))?;
            super::replacements::regex_cannot_run(&pattern).then_some((*name, pattern))
        })
    })
}

/// The value of a Rego string literal: `"..."` with JSON's escapes, or a raw `` `...` ``.
fn string_literal(literal: &str) -> Option<String> {
    if let Some(raw) = literal.strip_prefix('`').and_then(|l| l.strip_suffix('`')) {
        return Some(raw.to_string());
    }
    match literal.starts_with('"') {
        true => serde_json::from_str(literal).ok(),
        false => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_this_build_cannot_run_are_found() {
        let found = |source: &str| find(source).map(|(name, pattern)| format!("{name} {pattern}"));
        let classes = crate::replacements::regex::unicode_built();
        let unless = |built: bool, text: &str| (!built).then(|| text.to_string());
        assert_eq!(
            found("allow if regex.match(\"\\\\p{Greek}\", input.x)"),
            unless(classes, "regex.match \\p{Greek}")
        );
        assert_eq!(
            found("deny if not regex.match(`(?i)é`, input.x)"),
            unless(cfg!(feature = "regex-unicode"), "regex.match (?i)é")
        );
        assert_eq!(
            found("x := regex.replace(input.s, \"\\\\pL+\", \"-\")"),
            unless(classes, "regex.replace \\pL+")
        );
        assert_eq!(found("allow if regex.match(\"^[a-z]+$\", input.x)"), None);
        assert_eq!(found("allow if regex.match(input.p, input.x)"), None);
        assert_eq!(found("# regex.match(\"\\\\pL\", x)\nallow := true"), None);
        assert_eq!(found("allow if my.regex.match(\"\\\\pL\", x)"), None);
    }
}
