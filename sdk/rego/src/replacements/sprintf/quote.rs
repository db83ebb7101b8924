//! Go's `strconv.Quote`, `QuoteToASCII`, `QuoteRune` and `CanBackquote`: how OPA writes a
//! string inside a value (`["a"]`) and `%q`.

/// Whether Go's `strconv.IsPrint` holds: letters, marks, numbers, punctuation, symbols and
/// the ASCII space. Without Unicode's category tables, the characters that are not are told
/// by what Rust knows (controls, white space) and by the ranges of format characters and
/// private use; an unassigned code point counts as printable here (Go's tables know better).
pub(super) fn is_print(c: char) -> bool {
    if c == ' ' {
        return true;
    }
    if c.is_control() || c.is_whitespace() {
        return false;
    }
    let u = u32::from(c);
    let format_or_private = [
        (0xad, 0xad),
        (0x600, 0x605),
        (0x61c, 0x61c),
        (0x6dd, 0x6dd),
        (0x70f, 0x70f),
        (0x890, 0x891),
        (0x8e2, 0x8e2),
        (0x180e, 0x180e),
        (0x200b, 0x200f),
        (0x202a, 0x202e),
        (0x2060, 0x2064),
        (0x2066, 0x206f),
        (0xe000, 0xf8ff),
        (0xfdd0, 0xfdef),
        (0xfeff, 0xfeff),
        (0xfff9, 0xfffb),
        (0x110bd, 0x110bd),
        (0x110cd, 0x110cd),
        (0x13430, 0x1343f),
        (0x1bca0, 0x1bca3),
        (0x1d173, 0x1d17a),
        (0xe0001, 0xe0001),
        (0xe0020, 0xe007f),
        (0xf0000, 0x10ffff),
    ];
    let noncharacter = u & 0xfffe == 0xfffe;
    !noncharacter
        && !format_or_private
            .iter()
            .any(|(low, high)| (*low..=*high).contains(&u))
}

/// Go's `appendEscapedRune`.
fn push_escaped(out: &mut String, c: char, quote: char, ascii_only: bool) {
    if c == quote || c == '\\' {
        out.push('\\');
        out.push(c);
        return;
    }
    let printable = match ascii_only {
        true => c.is_ascii() && is_print(c),
        false => is_print(c),
    };
    if printable {
        out.push(c);
        return;
    }
    match c {
        '\u{7}' => out.push_str("\\a"),
        '\u{8}' => out.push_str("\\b"),
        '\u{c}' => out.push_str("\\f"),
        '\n' => out.push_str("\\n"),
        '\r' => out.push_str("\\r"),
        '\t' => out.push_str("\\t"),
        '\u{b}' => out.push_str("\\v"),
        c if c < ' ' || c == '\u{7f}' => out.push_str(&format!("\\x{:02x}", u32::from(c))),
        c if u32::from(c) < 0x10000 => out.push_str(&format!("\\u{:04x}", u32::from(c))),
        c => out.push_str(&format!("\\U{:08x}", u32::from(c))),
    }
}

/// `text` in double quotes, escaped as Go's `strconv.Quote` (or `QuoteToASCII`) escapes it.
pub(super) fn quote(text: &str, ascii_only: bool) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        push_escaped(&mut out, c, '"', ascii_only);
    }
    out.push('"');
    out
}

/// `c` in single quotes, as Go's `strconv.QuoteRune` (or `QuoteRuneToASCII`).
pub(super) fn quote_rune(c: char, ascii_only: bool) -> String {
    let mut out = String::from("'");
    push_escaped(&mut out, c, '\'', ascii_only);
    out.push('\'');
    out
}

/// Go's `strconv.CanBackquote`.
pub(super) fn can_backquote(text: &str) -> bool {
    text.chars().all(|c| match c.is_ascii() {
        true => !((c < ' ' && c != '\t') || c == '`' || c == '\u{7f}'),
        false => c != '\u{feff}',
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_as_go() {
        assert_eq!(quote("a\"b\\c", false), "\"a\\\"b\\\\c\"");
        assert_eq!(
            quote("é\n\u{200b}\u{1}\u{7f}", false),
            "\"é\\n\\u200b\\x01\\x7f\""
        );
        assert_eq!(quote("é😀", true), "\"\\u00e9\\U0001f600\"");
        assert_eq!(quote("\u{a0}", false), "\"\\u00a0\"");
        assert_eq!(quote_rune('\'', false), "'\\''");
        assert_eq!(quote_rune('"', false), "'\"'");
        assert!(can_backquote("a\tb"));
        assert!(!can_backquote("a`b"));
        assert!(!can_backquote("\u{feff}"));
    }
}
