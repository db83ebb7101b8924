//! `regex.template_match(template, value, start, end)`, as OPA's (gorilla/mux templates): the
//! delimiters are one byte each, the parts between balanced delimiters are regular expressions
//! (each must compile alone), everything else is literal text, and the whole value must match.
//! (regorus slices the value at the template's byte offsets, and panics when it is shorter.)

use anyhow::bail;
use regorus::unstable::{Expr, Ref, Span};
use regorus::Value;

use super::super::string_arg;
use super::compiled::compile;

const NAME: &str = "regex.template_match";

pub(in crate::replacements) fn regex_template_match(
    _: &Span,
    _: &[Ref<Expr>],
    args: &[Value],
    _: bool,
) -> anyhow::Result<Value> {
    let template = string_arg(NAME, args, 0)?;
    let value = string_arg(NAME, args, 1)?;
    let delimiter = |at: usize, which: &str| -> anyhow::Result<u8> {
        match string_arg(NAME, args, at)?.as_bytes() {
            [byte] => Ok(*byte),
            _ => bail!("{NAME}: {which} delimiter has to be exactly one character long"),
        }
    };
    let (open, close) = (delimiter(2, "start")?, delimiter(3, "end")?);
    let pattern = go_pattern(template, open, close)?;
    let compiled = compile(&pattern).map_err(|e| e.into_error(NAME))?;
    Ok(Value::from(compiled.regex.is_match(value)))
}

/// The Go pattern OPA compiles for `template`: `^`, the literal text quoted and each part in a
/// group, `$`. Each part must compile on its own too.
fn go_pattern(template: &str, open: u8, close: u8) -> anyhow::Result<String> {
    let mut pattern = String::from("^");
    let mut literal_from = 0;
    let mut part_from = 0;
    let mut level = 0usize;
    for (at, byte) in template.bytes().enumerate() {
        if byte == open {
            level += 1;
            if level == 1 {
                pattern.push_str(&quote_meta(template.get(literal_from..at).unwrap_or("")));
                part_from = at + 1;
            }
        } else if byte == close {
            let Some(inner) = level.checked_sub(1) else {
                bail!("{NAME}: unbalanced braces");
            };
            level = inner;
            if level == 0 {
                let part = template.get(part_from..at).unwrap_or("");
                compile(&format!("^{part}$")).map_err(|e| e.into_error(NAME))?;
                pattern.push('(');
                pattern.push_str(part);
                pattern.push(')');
                literal_from = at + 1;
            }
        }
    }
    if level != 0 {
        bail!("{NAME}: unbalanced braces");
    }
    pattern.push_str(&quote_meta(template.get(literal_from..).unwrap_or("")));
    pattern.push('$');
    Ok(pattern)
}

/// Go's `regexp.QuoteMeta`.
fn quote_meta(text: &str) -> String {
    let mut quoted = String::with_capacity(text.len());
    for c in text.chars() {
        if "\\.+*?()|[]{}^$".contains(c) {
            quoted.push('\\');
        }
        quoted.push(c);
    }
    quoted
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::replacements::testing::call;
    use serde_json::json;

    #[test]
    fn template_match_as_opa() {
        let t = |template: &str, value: &str, open: &str, close: &str| {
            call(
                regex_template_match,
                &[json!(template), json!(value), json!(open), json!(close)],
            )
        };
        assert_eq!(t("urn:foo:{.*}", "u", "{", "}"), Some(json!(false)));
        assert_eq!(
            t("urn:foo:{.*}", "urn:foo:bar:baz", "{", "}"),
            Some(json!(true))
        );
        assert_eq!(t("é{.*}", "aé", "{", "}"), Some(json!(false)));
        assert_eq!(t("a.{[0-9]+}", "a.42", "{", "}"), Some(json!(true)));
        assert_eq!(t("a.{[0-9]+}", "ab42", "{", "}"), Some(json!(false)));
        assert_eq!(t("{a{1,2}}", "aa", "{", "}"), Some(json!(true)));
        assert_eq!(t("<\\d+>", "12", "<", ">"), Some(json!(true)));
        assert_eq!(t("<\\d+>", "١٢", "<", ">"), Some(json!(false)));
        assert_eq!(t("ab", "ab", "ab", "b"), None);
        assert_eq!(t("{a", "a", "{", "}"), None);
        assert_eq!(t("a}", "a", "{", "}"), None);
        assert_eq!(t("{a}", "a", "é", "}"), None);
        // Each part alone must compile.
        assert_eq!(t("{a(}{)b}", "ab", "{", "}"), None);
    }
}
