//! How Go's `regexp` goes through a text with a pattern, on Rust's matcher: all the matches
//! (`FindAll...`: an empty match right after a match is skipped), `Split` and
//! `ReplaceAllString` with its `$name` templates (`Expand`). Rust's iterators differ on empty
//! matches (Rust's `split` of `""` on `"abc"` is `["", "a", "b", "c", ""]`, Go's `["a", "b",
//! "c"]`), and Rust's templates on names (`$01`, Unicode letters).
//!
//! Rust's `*_at` searches start at an offset and see the text before it, as Go's searches from
//! a position do; both take the leftmost match, preferring as a backtracking matcher would.

use regex::Regex;

use super::compiled::GoRegex;

/// The byte length of the character at `at` (1 at the end, as Go steps past it).
fn width_at(text: &str, at: usize) -> usize {
    text.get(at..)
        .and_then(|rest| rest.chars().next())
        .map_or(1, char::len_utf8)
}

/// Go's `allMatches`: up to `limit` matches (all for `None`), each as the byte ranges of the
/// match and its groups (`None` for a group that took no part).
pub(crate) fn all_matches(
    regex: &Regex,
    text: &str,
    limit: Option<usize>,
    with_groups: bool,
) -> Vec<Vec<Option<(usize, usize)>>> {
    let mut found = Vec::new();
    let mut locations = regex.capture_locations();
    let (mut at, mut previous_end) = (0usize, None);
    while at <= text.len() && limit.is_none_or(|limit| found.len() < limit) {
        let Some((start, end)) = (match with_groups {
            true => regex
                .captures_read_at(&mut locations, text, at)
                .map(|m| (m.start(), m.end())),
            false => regex.find_at(text, at).map(|m| (m.start(), m.end())),
        }) else {
            break;
        };
        let accept = !(end == at && Some(start) == previous_end);
        at = match end == at {
            // Empty here: move on one character.
            true => at + width_at(text, at),
            false => end,
        };
        previous_end = Some(end);
        if accept {
            found.push(match with_groups {
                true => (0..locations.len()).map(|i| locations.get(i)).collect(),
                false => vec![Some((start, end))],
            });
        }
    }
    found
}

/// Go's `Regexp.Split(text, -1)`; `pattern` is the Go pattern (an empty one splits an empty
/// text into nothing).
pub(crate) fn split<'t>(regex: &Regex, pattern: &str, text: &'t str) -> Vec<&'t str> {
    if !pattern.is_empty() && text.is_empty() {
        return vec![""];
    }
    let mut parts = Vec::new();
    let (mut begin, mut end) = (0, 0);
    for found in all_matches(regex, text, None, false) {
        let Some(Some((start, stop))) = found.first().copied() else {
            continue;
        };
        end = start;
        if stop != 0 {
            parts.push(text.get(begin..end).unwrap_or_default());
        }
        begin = stop;
    }
    if end != text.len() {
        parts.push(text.get(begin..).unwrap_or_default());
    }
    parts
}

/// Go's `Regexp.ReplaceAllString(text, template)`.
pub(crate) fn replace_all(compiled: &GoRegex, text: &str, template: &str) -> String {
    let regex = &compiled.regex;
    let expands = template.contains('$');
    let mut locations = regex.capture_locations();
    let mut out = String::with_capacity(text.len());
    let (mut last_end, mut search_at) = (0usize, 0usize);
    while search_at <= text.len() {
        let Some(found) = regex.captures_read_at(&mut locations, text, search_at) else {
            break;
        };
        let (start, end) = (found.start(), found.end());
        out.push_str(text.get(last_end..start).unwrap_or_default());
        // No replacement for an empty match right after a match.
        if end > last_end || start == 0 {
            match expands {
                true => expand(&mut out, template, text, compiled, |i| locations.get(i)),
                false => out.push_str(template),
            }
        }
        last_end = end;
        let width = match text.get(search_at..).and_then(|r| r.chars().next()) {
            Some(c) => c.len_utf8(),
            None => 0,
        };
        search_at = if search_at + width > end {
            search_at + width
        } else if search_at + 1 > end {
            search_at + 1
        } else {
            end
        };
    }
    out.push_str(text.get(last_end..).unwrap_or_default());
    out
}

/// Go's `Regexp.expand`: `$name` / `${name}` is the group of that number or name (empty when
/// there is none, or it took no part), `$$` is `$`, and any other `$` is itself.
fn expand(
    out: &mut String,
    template: &str,
    text: &str,
    compiled: &GoRegex,
    group: impl Fn(usize) -> Option<(usize, usize)>,
) {
    let mut rest = template;
    while let Some((before, after)) = rest.split_once('$') {
        out.push_str(before);
        rest = after;
        if let Some(after) = rest.strip_prefix('$') {
            out.push('$');
            rest = after;
            continue;
        }
        let Some((name, after)) = template_name(rest) else {
            out.push('$');
            continue;
        };
        rest = after;
        let index = match group_number(name) {
            Some(n) => Some(n),
            None => compiled
                .names
                .iter()
                .enumerate()
                .position(|(i, known)| known.as_deref() == Some(name) && group(i).is_some()),
        };
        if let Some((start, end)) = index.and_then(&group) {
            out.push_str(text.get(start..end).unwrap_or_default());
        }
    }
    out.push_str(rest);
}

/// Go's `extract`: the name after a `$` (letters, digits, `_`; in braces or not), and what
/// follows it.
fn template_name(text: &str) -> Option<(&str, &str)> {
    let (braced, text) = match text.strip_prefix('{') {
        Some(text) => (true, text),
        None => (false, text),
    };
    let length: usize = text
        .chars()
        .take_while(|c| c.is_alphabetic() || c.is_numeric() || *c == '_')
        .map(char::len_utf8)
        .sum();
    if length == 0 {
        return None;
    }
    let (name, rest) = text.split_at(length);
    match braced {
        true => rest.strip_prefix('}').map(|rest| (name, rest)),
        false => Some((name, rest)),
    }
}

/// A name that is a group number: digits, no leading zero, below 10^8.
fn group_number(name: &str) -> Option<usize> {
    let digits = name.bytes().all(|b| b.is_ascii_digit());
    let leading_zero = name.len() > 1 && name.starts_with('0');
    match digits && !leading_zero && name.len() <= 8 {
        true => name.parse().ok(),
        false => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::replacements::regex::compiled::compile;

    fn finds(pattern: &str, text: &str) -> Vec<String> {
        let compiled = compile(pattern).unwrap();
        all_matches(&compiled.regex, text, None, false)
            .iter()
            .map(|m| {
                let (s, e) = m[0].unwrap();
                text[s..e].to_string()
            })
            .collect()
    }

    #[test]
    fn an_empty_match_right_after_a_match_is_skipped() {
        assert_eq!(finds("a*", "baaa"), ["", "aaa"]);
        assert_eq!(finds("x*", "axb"), ["", "x", ""]);
        assert_eq!(finds("", "é"), ["", ""]);
        assert_eq!(finds("^a", "aaa"), ["a"]);
    }

    #[test]
    fn splits_as_go() {
        fn split_by<'t>(pattern: &str, text: &'t str) -> Vec<&'t str> {
            let compiled = compile(pattern).unwrap();
            split(&compiled.regex, pattern, text)
        }
        assert_eq!(split_by("", "abc"), ["a", "b", "c"]);
        assert_eq!(split_by("", ""), Vec::<&str>::new());
        assert_eq!(split_by("a", ""), [""]);
        assert_eq!(split_by("x*", "axb"), ["a", "b"]);
        assert_eq!(split_by(",", "a,b,,c,"), ["a", "b", "", "c", ""]);
        assert_eq!(split_by("b$", "ab"), ["a", ""]);
    }

    #[test]
    fn replaces_as_go() {
        let replace = |pattern: &str, text: &str, template: &str| {
            replace_all(&compile(pattern).unwrap(), text, template)
        };
        assert_eq!(replace("^a", "aaa", "b"), "baa");
        assert_eq!(replace("x*", "abc", "-"), "-a-b-c-");
        assert_eq!(replace("a*", "baaac", "-"), "-b-c-");
        assert_eq!(replace("(a)(b)?", "ac", "[$1$2]"), "[a]c");
        assert_eq!(replace("(?P<x>a)", "a", "${x}$$ $x1 $01 $é ${"), "a$    ${");
        assert_eq!(replace("(a)", "a", "$1x ${1}x"), " ax");
        assert_eq!(replace("(?P<01>a)", "a", "$01"), "a");
        assert_eq!(replace("é", "éé", "e"), "ee");
    }
}
