//! String builtins answered as OPA answers them: `strings.count` as Go's `strings.Count`,
//! `glob.quote_meta` as gobwas/glob's `QuoteMeta`, and `trace`.

use anyhow::bail;
use regorus::unstable::{Expr, Ref, Span};
use regorus::Value;

use super::string_arg;

/// `strings.count(search, substring)`, as Go's `strings.Count`: non-overlapping occurrences,
/// and one more than the number of characters for an empty substring. (regorus counts
/// overlapping ones, and panics on an empty substring.)
pub(super) fn strings_count(
    _: &Span,
    _: &[Ref<Expr>],
    args: &[Value],
    _: bool,
) -> anyhow::Result<Value> {
    let search = string_arg("strings.count", args, 0)?;
    let substring = string_arg("strings.count", args, 1)?;
    let count = match substring {
        "" => search.chars().count() + 1,
        _ => search.matches(substring).count(),
    };
    Ok(Value::from(count))
}

/// `glob.quote_meta(pattern)`: a `\` before each of `* ? [ ] { } \`, the characters
/// gobwas/glob reads as syntax. (regorus leaves `[ ] { }` alone.)
pub(super) fn glob_quote_meta(
    _: &Span,
    _: &[Ref<Expr>],
    args: &[Value],
    _: bool,
) -> anyhow::Result<Value> {
    let pattern = string_arg("glob.quote_meta", args, 0)?;
    let mut quoted = String::with_capacity(pattern.len());
    for c in pattern.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '{' | '}' | '\\') {
            quoted.push('\\');
        }
        quoted.push(c);
    }
    Ok(Value::from(quoted))
}

/// `trace(note)`: `true`, as OPA answers (it adds the note to the evaluation's trace, which
/// the filter does not keep). regorus returns the note.
pub(super) fn trace(_: &Span, _: &[Ref<Expr>], args: &[Value], _: bool) -> anyhow::Result<Value> {
    match args.first() {
        Some(Value::String(_)) => Ok(Value::from(true)),
        _ => bail!("trace: operand 1 must be a string"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::replacements::testing::call;
    use serde_json::json;

    #[test]
    fn strings_count_counts_as_go_does() {
        assert_eq!(
            call(strings_count, &[json!("11111"), json!("11")]),
            Some(json!(2))
        );
        assert_eq!(
            call(strings_count, &[json!("abc"), json!("")]),
            Some(json!(4))
        );
        assert_eq!(
            call(strings_count, &[json!("héllo"), json!("")]),
            Some(json!(6))
        );
        assert_eq!(call(strings_count, &[json!(1), json!("")]), None);
    }

    #[test]
    fn glob_quote_meta_escapes_what_gobwas_reads_as_syntax() {
        assert_eq!(
            call(glob_quote_meta, &[json!("*?[]{}\\,!-^.$()|+/é")]),
            Some(json!("\\*\\?\\[\\]\\{\\}\\\\,!-^.$()|+/é"))
        );
        assert_eq!(call(glob_quote_meta, &[json!(1)]), None);
    }

    #[test]
    fn trace_is_true() {
        assert_eq!(call(trace, &[json!("note")]), Some(json!(true)));
        assert_eq!(call(trace, &[json!(1)]), None);
    }
}
