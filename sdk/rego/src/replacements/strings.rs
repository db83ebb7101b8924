//! String builtins answered as OPA answers them: `strings.count` as Go's `strings.Count`,
//! `strings.replace_n` as Go's `strings.Replacer`, `glob.quote_meta` as gobwas/glob's
//! `QuoteMeta`, and `trace`.

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

/// `strings.replace_n(patterns, s)`, as OPA answers it with Go's `strings.NewReplacer` over the
/// patterns in their keys' order: one pass over `s`, left to right, where at each position the
/// first pattern that starts there is replaced and the replacement is not read again; an empty
/// pattern matches at each byte (once) where no other does. (regorus replaces each pattern
/// in the result of the one before: `{"a": "b", "b": "a"}` turned `abba` into `aaaa`, where OPA
/// answers `baab`.)
pub(super) fn strings_replace_n(
    _: &Span,
    _: &[Ref<Expr>],
    args: &[Value],
    _: bool,
) -> anyhow::Result<Value> {
    let Some(Value::Object(patterns)) = args.first() else {
        bail!("strings.replace_n: operand 1 must be an object");
    };
    let s = string_arg("strings.replace_n", args, 1)?;
    // An object's keys iterate in order: strings in byte order, as OPA sorts them.
    let mut pairs = Vec::with_capacity(patterns.len());
    for (key, value) in patterns.iter() {
        match (key, value) {
            (Value::String(key), Value::String(value)) => {
                pairs.push((key.as_ref(), value.as_ref()))
            }
            _ => bail!("strings.replace_n: operand 1 must map strings to strings"),
        }
    }
    // Byte by byte, as Go: an empty pattern goes between the bytes of a character too.
    let mut out = Vec::with_capacity(s.len());
    let (mut at, mut after_empty) = (0, false);
    loop {
        let rest = s.as_bytes().get(at..).unwrap_or_default();
        let found = pairs
            .iter()
            .find(|(key, _)| rest.starts_with(key.as_bytes()) && !(key.is_empty() && after_empty));
        after_empty = found.is_some_and(|(key, _)| key.is_empty());
        if let Some((key, value)) = found {
            out.extend_from_slice(value.as_bytes());
            at += key.len();
            continue;
        }
        let Some(byte) = rest.first() else {
            break;
        };
        out.push(*byte);
        at += 1;
    }
    Ok(Value::from(crate::go_bytes::lossy_text(&out)))
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
    fn strings_replace_n_replaces_in_one_pass_as_go_does() {
        let replace =
            |patterns: serde_json::Value, s: &str| call(strings_replace_n, &[patterns, json!(s)]);
        // No chained replacements, the output is not read again.
        assert_eq!(
            replace(json!({"a": "b", "b": "a"}), "abba"),
            Some(json!("baab"))
        );
        assert_eq!(
            replace(json!({"ab": "b", "b": "Y"}), "baaabbbba"),
            Some(json!("YaabYYYa"))
        );
        // At one position the first key in sorted order wins, longer or shorter.
        assert_eq!(
            replace(json!({"info": "X", "anotherinfo": "Y"}), "anotherinfo"),
            Some(json!("Y"))
        );
        assert_eq!(
            replace(json!({"a": "YY", "bba": "bX"}), "bbab"),
            Some(json!("bXb"))
        );
        // The empty key, once at each position where nothing else matches.
        assert_eq!(replace(json!({"": "X"}), "ab"), Some(json!("XaXbX")));
        assert_eq!(replace(json!({"": "X"}), ""), Some(json!("X")));
        // Between the bytes of `é` too, as Go: each stray byte is then U+FFFD.
        assert_eq!(
            replace(json!({"": "-", "b": "B"}), "héb"),
            Some(json!("-h-\u{fffd}-\u{fffd}-B-"))
        );
        assert_eq!(replace(json!({"a": 1}), "a"), None);
        assert_eq!(replace(json!(["a"]), "a"), None);
    }

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
