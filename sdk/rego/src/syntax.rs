//! Rewrites of a policy's text made from regorus' syntax tree: the module parsed as regorus
//! parses it, the exact text of an expression, and edits at byte offsets applied in one pass.

use anyhow::Result;
use regorus::unstable::{Expr, Module, Parser, Ref};
use regorus::Source;

/// `source` parsed as the engine parses it (Rego v1 unless `rego_v0`).
pub(crate) fn parse(name: &str, source: &str, rego_v0: bool) -> Result<Module> {
    let source = Source::from_contents(name.to_string(), source.to_string())?;
    let mut parser = Parser::new(&source)?;
    if !rego_v0 {
        parser.enable_rego_v1()?;
    }
    parser.parse()
}

/// The byte offsets of `expr`'s text. regorus' span of a string leaves its quotes out, and so
/// does the span of an expression that starts or ends with one.
pub(crate) fn bounds(expr: &Ref<Expr>) -> (usize, usize) {
    let span = expr.span();
    let (mut start, mut end) = (span.start as usize, span.end as usize);
    // regorus 0.14.1 starts the span of an object with two fields or more at its last key: the
    // object starts at the `{` before its first key.
    if let Expr::Object { fields, .. } = expr.as_ref() {
        if let Some((_, first_key, _)) = fields.first() {
            let before = span.source.contents().get(..bounds(first_key).0);
            if let Some(brace) = before.and_then(|text| text.rfind('{')) {
                start = brace;
            }
        }
    }
    let quoted = |e: &Expr| matches!(e, Expr::String { .. } | Expr::RawString { .. });
    let first = leftmost(expr);
    if quoted(first) && first.span().start as usize == start {
        start = start.saturating_sub(1);
    }
    let last = rightmost(expr);
    if quoted(last) && last.span().end as usize == end {
        end += 1;
    }
    (start, end)
}

/// The expression `expr`'s text starts with.
fn leftmost(expr: &Expr) -> &Expr {
    match expr {
        Expr::ArithExpr { lhs, .. }
        | Expr::BinExpr { lhs, .. }
        | Expr::BoolExpr { lhs, .. }
        | Expr::AssignExpr { lhs, .. } => leftmost(lhs),
        Expr::Membership { key: Some(key), .. } => leftmost(key),
        Expr::Membership { value, .. } => leftmost(value),
        Expr::RefDot { refr, .. } | Expr::RefBrack { refr, .. } => leftmost(refr),
        Expr::Call { fcn, .. } => leftmost(fcn),
        _ => expr,
    }
}

/// The expression `expr`'s text ends with.
fn rightmost(expr: &Expr) -> &Expr {
    match expr {
        Expr::ArithExpr { rhs, .. }
        | Expr::BinExpr { rhs, .. }
        | Expr::BoolExpr { rhs, .. }
        | Expr::AssignExpr { rhs, .. } => rightmost(rhs),
        Expr::Membership { collection, .. } => rightmost(collection),
        _ => expr,
    }
}

/// Whether the `length` bytes at `at` of `code` are a word of their own.
pub(crate) fn is_word(code: &str, at: usize, length: usize) -> bool {
    let bytes = code.as_bytes();
    let ident = |i: Option<&u8>| i.is_some_and(|b| b.is_ascii_alphanumeric() || *b == b'_');
    !ident(at.checked_sub(1).and_then(|i| bytes.get(i))) && !ident(bytes.get(at + length))
}

/// Edits of one module's text, applied together.
pub(crate) struct TextEdits<'a> {
    pub(crate) source: &'a str,
    /// `(offset, order, replaced, text)`: `text` replaces `replaced` bytes at `offset`; edits at
    /// one offset apply in `order`.
    edits: Vec<(usize, Order, usize, String)>,
}

/// The order of edits at one offset (smallest first).
pub(crate) type Order = (u8, i64, i64);

impl<'a> TextEdits<'a> {
    pub(crate) fn new(source: &'a str) -> Self {
        Self {
            source,
            edits: Vec::new(),
        }
    }

    /// How many edits there are (a count that orders edits by when they were made).
    pub(crate) fn len(&self) -> usize {
        self.edits.len()
    }

    /// `text` in place of the `replaced` bytes at `offset`.
    pub(crate) fn replace(&mut self, offset: usize, order: Order, replaced: usize, text: String) {
        self.edits.push((offset, order, replaced, text));
    }

    /// The text with every edit made, if it parses (as `source` is parsed); else `source` as it
    /// is, so that a rewrite never refuses a policy regorus accepts.
    pub(crate) fn apply_checked(self, name: &str, rego_v0: bool) -> String {
        let source = self.source;
        let text = self.apply();
        match parse(name, &text, rego_v0) {
            Ok(_) => text,
            Err(err) => {
                log::warn!(
                    "{name}: a rewrite for the interpreter did not parse ({err}); kept as written"
                );
                source.to_string()
            }
        }
    }

    /// The text with every edit made.
    fn apply(mut self) -> String {
        self.edits
            .sort_by_key(|(offset, order, _, _)| (*offset, *order));
        let mut out = String::with_capacity(self.source.len() + 24 * self.edits.len());
        let mut at = 0;
        for (offset, _, replaced, text) in &self.edits {
            if let Some(kept) = self.source.get(at..*offset) {
                out.push_str(kept);
                at = *offset;
            }
            out.push_str(text);
            at += replaced;
        }
        out.push_str(self.source.get(at..).unwrap_or_default());
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edits_that_do_not_parse_leave_the_text_as_it_is() {
        let source = "package t\nimport rego.v1\nx := 1 + 2\n";
        let mut edits = TextEdits::new(source);
        edits.replace(source.len() - 2, (0, 0, 0), 0, "(".into());
        assert_eq!(edits.apply_checked("t.rego", false), source);
        let mut edits = TextEdits::new(source);
        edits.replace(source.len() - 2, (0, 0, 0), 1, "3".into());
        assert_eq!(
            edits.apply_checked("t.rego", false),
            "package t\nimport rego.v1\nx := 1 + 3\n"
        );
    }
}
