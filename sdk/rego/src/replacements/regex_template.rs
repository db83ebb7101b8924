//! `regex.template_match`, as OPA's (gorilla/mux templates).

use anyhow::bail;
use regorus::unstable::{Expr, Ref, Span};
use regorus::Value;

use super::string_arg;

/// The largest compiled `regex.template_match` pattern (as for regorus' own regexes).
const TEMPLATE_REGEX_SIZE: usize = 100 << 10;

/// `regex.template_match(template, value, start, end)`, as OPA (gorilla/mux templates): the
/// delimiters are one character each, the parts between balanced delimiters are regular
/// expressions, everything else literal text, and the whole value must match. (regorus slices
/// the value at the template's byte offsets and panics when it is shorter.)
pub(super) fn regex_template_match(
    _: &Span,
    _: &[Ref<Expr>],
    args: &[Value],
    _: bool,
) -> anyhow::Result<Value> {
    const NAME: &str = "regex.template_match";
    let template = string_arg(NAME, args, 0)?;
    let value = string_arg(NAME, args, 1)?;
    let one_char = |at: usize, which: &str| -> anyhow::Result<char> {
        let delimiter = string_arg(NAME, args, at)?;
        let mut chars = delimiter.chars();
        match (chars.next(), chars.next()) {
            (Some(c), None) => Ok(c),
            _ => bail!("{NAME}: {which} delimiter has to be exactly one character long"),
        }
    };
    let (open, close) = (one_char(2, "start")?, one_char(3, "end")?);
    let mut pattern = String::from("^");
    let mut literal_from = 0;
    let mut level = 0usize;
    let mut part_from = 0;
    for (at, c) in template.char_indices() {
        if c == open {
            level += 1;
            if level == 1 {
                pattern.push_str(&regex::escape(template.get(literal_from..at).unwrap_or("")));
                part_from = at + c.len_utf8();
            }
        } else if c == close && level > 0 {
            level -= 1;
            if level == 0 {
                pattern.push('(');
                pattern.push_str(template.get(part_from..at).unwrap_or(""));
                pattern.push(')');
                literal_from = at + c.len_utf8();
            }
        } else if c == close {
            bail!("{NAME}: unbalanced braces");
        }
    }
    if level != 0 {
        bail!("{NAME}: unbalanced braces");
    }
    pattern.push_str(&regex::escape(template.get(literal_from..).unwrap_or("")));
    pattern.push('$');
    let regex = regex::RegexBuilder::new(&pattern)
        .size_limit(TEMPLATE_REGEX_SIZE)
        .build()
        .map_err(|_| anyhow::anyhow!("{NAME}: the template is not a valid regular expression"))?;
    Ok(Value::from(regex.is_match(value)))
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
        assert_eq!(t("ab", "ab", "ab", "b"), None);
        assert_eq!(t("{a", "a", "{", "}"), None);
    }
}
