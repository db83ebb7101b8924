//! Rego source read lexically, for the rewrites that make regorus read a policy as OPA does:
//! where an expression ends, its brackets and top-level parts, and edits applied in place.
//!
//! Everything here works on [`code_only`](super::builtins::code_only) text (comments and strings
//! blanked, byte offsets kept), so a bracket or keyword in a string is never taken for code.

use std::ops::Range;

use super::builtins::is_ident_char;

/// `source` with each (start, end, replacement) edit made; edits that overlap one made
/// already, or that do not fall on character boundaries, are left out.
pub(crate) fn apply(source: &str, mut edits: Vec<(usize, usize, String)>) -> String {
    edits.sort_by_key(|(start, _, _)| std::cmp::Reverse(*start));
    let mut out = source.to_string();
    let mut lowest = usize::MAX;
    for (start, end, replacement) in edits {
        if end > lowest || !out.is_char_boundary(start) || !out.is_char_boundary(end) {
            continue;
        }
        out.replace_range(start..end, &replacement);
        lowest = start;
    }
    out
}

/// The end of the expression that starts at `start`: the first newline or `;` outside
/// brackets, or the bracket that closes the one the expression is in; trailing blanks left out.
pub(crate) fn expression_end(code: &str, start: usize) -> usize {
    let mut depth = 0usize;
    let rest = code.get(start..).unwrap_or_default();
    let mut end = code.len();
    for (offset, c) in rest.char_indices() {
        match c {
            '(' | '[' | '{' => depth += 1,
            ')' | ']' | '}' if depth == 0 => {
                end = start + offset;
                break;
            }
            ')' | ']' | '}' => depth -= 1,
            '\n' | ';' if depth == 0 => {
                end = start + offset;
                break;
            }
            _ => {}
        }
    }
    start + code.get(start..end).unwrap_or_default().trim_end().len()
}

/// The offset of the bracket that closes the one at `open`.
pub(crate) fn closing(code: &str, open: usize) -> Option<usize> {
    let mut depth = 0usize;
    for (offset, c) in code.get(open..)?.char_indices() {
        match c {
            '(' | '[' | '{' => depth += 1,
            ')' | ']' | '}' => {
                depth = depth.checked_sub(1)?;
                if depth == 0 {
                    return Some(open + offset);
                }
            }
            _ => {}
        }
    }
    None
}

/// `range` without the blanks around it.
pub(crate) fn trim(code: &str, range: Range<usize>) -> Range<usize> {
    let text = code.get(range.clone()).unwrap_or_default();
    let start = range.start + (text.len() - text.trim_start().len());
    let end = range.start + text.trim_end().len();
    start..end.max(start)
}

/// The text of `range`.
pub(crate) fn text(code: &str, range: Range<usize>) -> &str {
    code.get(range).unwrap_or_default()
}

/// The parts of `range` separated by top-level commas (an empty range: none).
pub(crate) fn comma_separated(code: &str, range: Range<usize>) -> Vec<Range<usize>> {
    if text(code, range.clone()).trim().is_empty() {
        return Vec::new();
    }
    let mut parts = Vec::new();
    let mut depth = 0usize;
    let mut from = range.start;
    for (offset, c) in text(code, range.clone()).char_indices() {
        match c {
            '(' | '[' | '{' => depth += 1,
            ')' | ']' | '}' => depth = depth.saturating_sub(1),
            ',' if depth == 0 => {
                parts.push(trim(code, from..range.start + offset));
                from = range.start + offset + 1;
            }
            _ => {}
        }
    }
    parts.push(trim(code, from..range.end));
    parts.retain(|part| !part.is_empty());
    parts
}

/// Whether `word` occurs in `code` at `at` as a whole word (not inside a name or a path).
pub(crate) fn is_word_at(code: &str, at: usize, word: &str) -> bool {
    let before = code.get(..at).and_then(|s| s.chars().next_back());
    let after = code.get(at + word.len()..).and_then(|s| s.chars().next());
    code.get(at..).is_some_and(|s| s.starts_with(word))
        && !before.is_some_and(|c| is_ident_char(c) || c == '.')
        && !after.is_some_and(is_ident_char)
}

/// The last character before `at` that is not a blank on the same line (a newline counts).
pub(crate) fn previous_char(code: &str, at: usize) -> Option<char> {
    code.get(..at)?
        .chars()
        .rev()
        .find(|c| *c != ' ' && *c != '\t' && *c != '\r')
}

/// Whether the text before `at` (blanks left out) ends with the keyword `word`.
pub(crate) fn follows_word(code: &str, at: usize, word: &str) -> bool {
    let before = code
        .get(..at)
        .unwrap_or_default()
        .trim_end_matches([' ', '\t']);
    before.ends_with(word)
        && !before
            .get(..before.len() - word.len())
            .and_then(|s| s.chars().next_back())
            .is_some_and(|c| is_ident_char(c) || c == '.')
}

/// Whether an expression may start at `at`: at the beginning of a line, or after `{`, `;` or
/// the `|` of a comprehension.
pub(crate) fn starts_statement(code: &str, at: usize) -> bool {
    matches!(previous_char(code, at), Some('{' | ';' | '|' | '\n') | None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expressions_end_at_a_newline_a_semicolon_or_the_enclosing_bracket() {
        let code = "a if { x := f(1,\n 2) ; y }\nz";
        assert_eq!(text(code, 7..expression_end(code, 7)), "x := f(1,\n 2)");
        let y = code.find('y').unwrap();
        assert_eq!(text(code, y..expression_end(code, y)), "y");
        assert_eq!(expression_end(code, code.len() - 1), code.len());
    }

    #[test]
    fn brackets_commas_and_words() {
        let code = "f(a, [b, c], {\"k\": d})";
        assert_eq!(closing(code, 1), Some(code.len() - 1));
        let parts: Vec<&str> = comma_separated(code, 2..code.len() - 1)
            .into_iter()
            .map(|r| text(code, r))
            .collect();
        assert_eq!(parts, ["a", "[b, c]", "{\"k\": d}"]);
        assert!(is_word_at("x in y", 2, "in"));
        assert!(!is_word_at("input", 0, "in"));
        assert!(follows_word("a if  ", 6, "if"));
        assert!(!follows_word("a.if ", 5, "if"));
        assert!(starts_statement("a {\n  x", 6));
        assert!(!starts_statement("a := x", 5));
    }

    #[test]
    fn overlapping_edits_are_left_out() {
        let edits = vec![(0, 3, "A".to_string()), (1, 2, "B".to_string())];
        assert_eq!(apply("abcd", edits), "aBcd");
    }
}
