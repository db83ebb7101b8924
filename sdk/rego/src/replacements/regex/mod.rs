//! The `regex.*` builtins, as OPA's (Go's `regexp`): the pattern is read as Go reads it
//! ([`go_syntax`]), and the text gone through as Go goes through it ([`matching`]). regorus
//! hands Go's patterns to Rust's `regex` as they are, which refuses some (`{a,b}`), reads others
//! otherwise (`\d` is Unicode), and steps over empty matches otherwise.

mod char_sets;
mod compiled;
mod go_syntax;
mod matching;
mod template;
#[cfg(feature = "regex-unicode")]
mod unicode_names;

use anyhow::bail;
use regorus::unstable::{Expr, Ref, Span};
use regorus::Value;

use super::{arg, string_arg};
use compiled::{compile, CompileError};

pub(super) use template::regex_template_match;

/// Whether Go reads `pattern` but this build cannot run it (a Unicode class, `\pL`; a
/// case-insensitive letter beyond ASCII; nesting Rust refuses): a call with it is undefined
/// here, where OPA answers.
/// Whether the regex crate as this build has it compiles Unicode classes (`\pL`): the filter's
/// own build does not, but a build of the whole workspace unifies regex's features with other
/// crates', which may turn them on.
#[cfg(test)]
pub(crate) fn unicode_built() -> bool {
    regex::Regex::new(r"\pL").is_ok()
}

pub(crate) fn cannot_run(pattern: &str) -> bool {
    match go_syntax::translate(pattern) {
        Err(go_syntax::GoSyntaxError::Unsupported) => true,
        Err(go_syntax::GoSyntaxError::Refused(_)) => false,
        Ok(_) => matches!(compile(pattern), Err(CompileError::Invalid)),
    }
}

/// `regex.match(pattern, value)`.
pub(super) fn regex_match(
    _: &Span,
    _: &[Ref<Expr>],
    args: &[Value],
    _: bool,
) -> anyhow::Result<Value> {
    const NAME: &str = "regex.match";
    let pattern = string_arg(NAME, args, 0)?;
    let text = string_arg(NAME, args, 1)?;
    let compiled = compile(pattern).map_err(|e| e.into_error(NAME))?;
    Ok(Value::from(compiled.regex.is_match(text)))
}

/// `regex.is_valid(pattern)`: whether Go reads the pattern (and Palisade can run it); `false`
/// for anything but a string.
pub(super) fn regex_is_valid(
    _: &Span,
    _: &[Ref<Expr>],
    args: &[Value],
    _: bool,
) -> anyhow::Result<Value> {
    let Some(Value::String(pattern)) = args.first() else {
        return Ok(Value::from(false));
    };
    match compile(pattern) {
        Ok(_) => Ok(Value::from(true)),
        Err(CompileError::Invalid) => Ok(Value::from(false)),
        Err(too_big) => Err(too_big.into_error("regex.is_valid")),
    }
}

/// `regex.split(pattern, value)`.
pub(super) fn regex_split(
    _: &Span,
    _: &[Ref<Expr>],
    args: &[Value],
    _: bool,
) -> anyhow::Result<Value> {
    const NAME: &str = "regex.split";
    let pattern = string_arg(NAME, args, 0)?;
    let text = string_arg(NAME, args, 1)?;
    let compiled = compile(pattern).map_err(|e| e.into_error(NAME))?;
    let parts = matching::split(&compiled.regex, pattern, text);
    Ok(Value::from(
        parts.into_iter().map(Value::from).collect::<Vec<_>>(),
    ))
}

/// `regex.replace(s, pattern, value)`: every match replaced, `$1` and `${name}` expanded.
pub(super) fn regex_replace(
    _: &Span,
    _: &[Ref<Expr>],
    args: &[Value],
    _: bool,
) -> anyhow::Result<Value> {
    const NAME: &str = "regex.replace";
    let text = string_arg(NAME, args, 0)?;
    let pattern = string_arg(NAME, args, 1)?;
    let template = string_arg(NAME, args, 2)?;
    let compiled = compile(pattern).map_err(|e| e.into_error(NAME))?;
    Ok(Value::from(matching::replace_all(
        &compiled, text, template,
    )))
}

/// OPA's `IntOperand`: an integer (a number written with a fraction or an exponent past 64
/// bits is not); below zero means all.
fn count(name: &str, args: &[Value]) -> anyhow::Result<Option<usize>> {
    let Value::Number(n) = arg(args, 2) else {
        bail!("{name}: operand 3 must be a number");
    };
    match n.as_i64() {
        Some(n) if n < 0 => Ok(None),
        Some(n) => Ok(Some(usize::try_from(n).unwrap_or(usize::MAX))),
        None => bail!("{name}: operand 3 must be integer number but got floating-point number"),
    }
}

/// `regex.find_n(pattern, value, n)`: up to `n` matches (all for `n < 0`).
pub(super) fn regex_find_n(
    _: &Span,
    _: &[Ref<Expr>],
    args: &[Value],
    _: bool,
) -> anyhow::Result<Value> {
    const NAME: &str = "regex.find_n";
    let pattern = string_arg(NAME, args, 0)?;
    let text = string_arg(NAME, args, 1)?;
    let limit = count(NAME, args)?;
    let compiled = compile(pattern).map_err(|e| e.into_error(NAME))?;
    let found: Vec<Value> = matching::all_matches(&compiled.regex, text, limit, false)
        .iter()
        .filter_map(|groups| {
            let (start, end) = groups.first().copied().flatten()?;
            Some(Value::from(text.get(start..end).unwrap_or_default()))
        })
        .collect();
    Ok(Value::from(found))
}

/// `regex.find_all_string_submatch_n(pattern, value, n)`: up to `n` matches, each with its
/// groups (`""` for one that took no part).
pub(super) fn regex_find_all_string_submatch_n(
    _: &Span,
    _: &[Ref<Expr>],
    args: &[Value],
    _: bool,
) -> anyhow::Result<Value> {
    const NAME: &str = "regex.find_all_string_submatch_n";
    let pattern = string_arg(NAME, args, 0)?;
    let text = string_arg(NAME, args, 1)?;
    let limit = count(NAME, args)?;
    let compiled = compile(pattern).map_err(|e| e.into_error(NAME))?;
    let found: Vec<Value> = matching::all_matches(&compiled.regex, text, limit, true)
        .iter()
        .map(|groups| {
            let groups: Vec<Value> = groups
                .iter()
                .map(|group| {
                    let part = group.and_then(|(start, end)| text.get(start..end));
                    Value::from(part.unwrap_or_default())
                })
                .collect();
            Value::from(groups)
        })
        .collect();
    Ok(Value::from(found))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::replacements::testing::call;
    use serde_json::json;

    #[test]
    fn patterns_mean_what_they_mean_in_go() {
        let matches = |pattern: &str, text: &str| call(regex_match, &[json!(pattern), json!(text)]);
        assert_eq!(matches("{a,b}", "x{a,b}"), Some(json!(true)));
        assert_eq!(matches("{a,b}", "-3"), Some(json!(false)));
        assert_eq!(matches("^\\d+$", "١٢٣"), Some(json!(false)));
        assert_eq!(matches("^\\w+$", "é"), Some(json!(false)));
        assert_eq!(matches("^\\s$", "\u{b}"), Some(json!(false)));
        assert_eq!(matches("a**", "a"), None);
        let valid = |pattern: serde_json::Value| call(regex_is_valid, &[pattern]);
        assert_eq!(valid(json!("{\"a\":1}")), Some(json!(true)));
        assert_eq!(valid(json!("a{2}{3}")), Some(json!(false)));
        assert_eq!(valid(json!(1)), Some(json!(false)));
    }

    #[test]
    fn what_this_build_cannot_run_is_told_apart() {
        // Unicode classes run when the build's regex has them; Unicode case folding only with
        // the regex-unicode feature (else the translation from Go's syntax refuses it).
        assert_eq!(cannot_run("\\pL"), !unicode_built());
        assert_eq!(cannot_run("(?i)é"), !cfg!(feature = "regex-unicode"));
        assert!(!cannot_run("(?i)e"));
        assert!(!cannot_run("{a,b}"));
        // Go refuses it too: the same answer (undefined) either way.
        assert!(!cannot_run("a**"));
    }

    #[test]
    fn counts_must_be_integers() {
        let find = |n: serde_json::Value| call(regex_find_n, &[json!("a"), json!("aaa"), n]);
        assert_eq!(find(json!(2)), Some(json!(["a", "a"])));
        assert_eq!(find(json!(-1)), Some(json!(["a", "a", "a"])));
        assert_eq!(find(json!(0)), Some(json!([])));
        assert_eq!(find(json!(1e300)), None);
        assert_eq!(find(json!(1.5)), None);
        assert_eq!(
            call(
                regex_find_all_string_submatch_n,
                &[json!("(a)(b)?"), json!("aab"), json!(-1)]
            ),
            Some(json!([["a", "a", ""], ["ab", "a", "b"]]))
        );
    }

    #[test]
    fn split_and_replace_as_go() {
        assert_eq!(
            call(regex_split, &[json!(""), json!("abc")]),
            Some(json!(["a", "b", "c"]))
        );
        assert_eq!(
            call(regex_split, &[json!("{\"a\":1}"), json!("a")]),
            Some(json!(["a"]))
        );
        assert_eq!(
            call(regex_replace, &[json!("aaa"), json!("^a"), json!("b")]),
            Some(json!("baa"))
        );
        assert_eq!(
            call(
                regex_replace,
                &[json!("A b C"), json!("{\"a\":1}"), json!("x")]
            ),
            Some(json!("A b C"))
        );
    }
}
