//! Rego source read lexically, for the rewrites that make regorus read a policy as OPA does:
//! where an expression ends, its brackets and top-level parts, and edits applied in place.
//!
//! Everything here works on [`code_only`](super::builtins::code_only) text (comments and strings
//! blanked, byte offsets kept), so a bracket or keyword in a string is never taken for code.

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn brackets_close() {
        let code = "f(a, [b, c], {\"k\": d})";
        assert_eq!(closing(code, 1), Some(code.len() - 1));
        assert_eq!(closing(code, 5), Some(10));
        assert_eq!(closing("f(a", 1), None);
    }

    #[test]
    fn overlapping_edits_are_left_out() {
        let edits = vec![(0, 3, "A".to_string()), (1, 2, "B".to_string())];
        assert_eq!(apply("abcd", edits), "aBcd");
    }
}
