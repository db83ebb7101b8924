//! A bound on bracket nesting, checked before a policy is parsed.
//!
//! regorus' parser takes time exponential in the nesting depth of `[` and `{` (each level
//! about doubles it, closed or not: 16 levels take tens of milliseconds, 20 about a second, 24
//! tens of seconds), and `on_configure` would block Envoy's thread meanwhile. Policies do not
//! nest that deep (data does, and it is parsed as JSON, not here), so deeper nesting is refused
//! with where it happens. Found by fuzzing the plugin configuration (`fuzz/`).

use super::builtins::code_only;

/// The deepest `[`/`{` nesting a policy may have.
pub const MAX_DEPTH: usize = 16;

/// The line and column (1-based) of the first bracket nested deeper than [`MAX_DEPTH`].
pub fn too_deep(source: &str) -> Option<(usize, usize)> {
    let mut depth = 0usize;
    for (line, text) in code_only(source).lines().enumerate() {
        for (column, c) in text.chars().enumerate() {
            match c {
                '[' | '{' => {
                    depth += 1;
                    if depth > MAX_DEPTH {
                        return Some((line + 1, column + 1));
                    }
                }
                ']' | '}' => depth = depth.saturating_sub(1),
                _ => {}
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nesting_past_the_bound_is_found_where_it_happens() {
        let ok = format!("x := {}1{}", "[".repeat(MAX_DEPTH), "]".repeat(MAX_DEPTH));
        assert_eq!(too_deep(&ok), None);
        let deep = format!("package a\nx := {}", "[{".repeat(MAX_DEPTH));
        assert_eq!(too_deep(&deep), Some((2, 6 + MAX_DEPTH)));
        // Brackets in strings and comments do not count; closed ones unwind.
        let text = format!("s := \"{}\" # {}\n", "[".repeat(40), "{".repeat(40));
        assert_eq!(too_deep(&text), None);
        assert_eq!(too_deep(&"[]{}".repeat(100)), None);
    }
}
