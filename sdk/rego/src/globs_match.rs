//! OPA's `regex.globs_match(glob1, glob2)`: whether some non-empty string matches both
//! "globs", in the small regex dialect of the Go library OPA uses (`glob-intersection` v0.2.0):
//! a character, `.` (any character) or a class `[a-z\]]`, each optionally followed by `+` or `*`;
//! `\` escapes the next character. There are no groups, alternations or anchors: `(`, `{`, `?`
//! are plain characters.
//!
//! The answer is that library's, quirks included (`""` and `""` match; `[z-a]` is an error), so
//! this module follows its algorithm step by step: tokenise, merge repeated flagged tokens,
//! trim the common unflagged prefix and suffix, then walk both globs, letting a `*` or `+`
//! token swallow tokens of the other glob. Unlike OPA, the walk has a step budget: a pair of
//! globs that would take longer is an error (the call is undefined) rather than a stalled
//! proxy.

use anyhow::{anyhow, bail};
use regorus::Value;

/// How many token comparisons one call may make.
const STEP_BUDGET: u32 = 1_000_000;

/// `regex.globs_match(glob1, glob2)`.
pub(crate) fn globs_match(args: &[Value]) -> anyhow::Result<Value> {
    let operand = |at: usize| match args.get(at) {
        Some(Value::String(text)) => Ok(text.as_ref()),
        _ => Err(anyhow!(
            "regex.globs_match: operand {} must be a string",
            at + 1
        )),
    };
    let (first, second) = (parse(operand(0)?)?, parse(operand(1)?)?);
    let mut walk = Walk { steps: STEP_BUDGET };
    let Some((first, second)) = trim(&first, &second, &mut walk) else {
        return walk.answer(false);
    };
    let matched = walk.normal(first, second);
    walk.answer(matched)
}

/// What one token stands for.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Symbol {
    Char(u32),
    /// `.`
    Any,
    /// `[...]`: sorted, merged, inclusive code point ranges (Go's ranges may span surrogates,
    /// hence `u32` rather than `char`).
    Class(Vec<(u32, u32)>),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Repeat {
    Once,
    /// `+`
    OneOrMore,
    /// `*`
    ZeroOrMore,
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct Token {
    symbol: Symbol,
    repeat: Repeat,
}

impl Token {
    fn flagged(&self) -> bool {
        self.repeat != Repeat::Once
    }
}

/// Whether two symbols share a character (repeats aside). As in the Go library, `.` matches
/// even an empty class.
fn symbols_meet(a: &Symbol, b: &Symbol) -> bool {
    let in_class =
        |c: u32, ranges: &[(u32, u32)]| ranges.iter().any(|(lo, hi)| (*lo..=*hi).contains(&c));
    match (a, b) {
        (Symbol::Any, _) | (_, Symbol::Any) => true,
        (Symbol::Char(x), Symbol::Char(y)) => x == y,
        (Symbol::Char(c), Symbol::Class(ranges)) | (Symbol::Class(ranges), Symbol::Char(c)) => {
            in_class(*c, ranges)
        }
        (Symbol::Class(a), Symbol::Class(b)) => a
            .iter()
            .any(|(lo, hi)| b.iter().any(|(l, h)| lo <= h && l <= hi)),
    }
}

// ---- parsing ----

/// One character of the glob: `(character, escaped)`.
fn next_char(chars: &[char], at: usize) -> anyhow::Result<Option<(char, bool, usize)>> {
    match chars.get(at) {
        None => Ok(None),
        Some('\\') => match chars.get(at + 1) {
            Some(c) => Ok(Some((*c, true, at + 2))),
            None => bail!("regex.globs_match: input ends with a \\ (escape) character"),
        },
        Some(c) => Ok(Some((*c, false, at + 1))),
    }
}

/// The glob's tokens, with runs of equal flagged tokens merged (`a*a+` is `a+`).
fn parse(glob: &str) -> anyhow::Result<Vec<Token>> {
    let chars: Vec<char> = glob.chars().collect();
    let mut tokens: Vec<Token> = Vec::new();
    let mut at = 0;
    while let Some((c, escaped, next)) = next_char(&chars, at)? {
        at = next;
        let symbol = match (c, escaped) {
            ('.', false) => Symbol::Any,
            ('[', false) => {
                let (class, next) = parse_class(&chars, at)?;
                at = next;
                class
            }
            (']', false) => bail!("regex.globs_match: set-close ']' with no preceding '['"),
            ('+' | '*', false) => {
                bail!("regex.globs_match: flag '{c}' must be preceded by a non-flag")
            }
            (c, _) => Symbol::Char(u32::from(c)),
        };
        let repeat = match next_char(&chars, at)? {
            Some(('+', false, next)) => {
                at = next;
                Repeat::OneOrMore
            }
            Some(('*', false, next)) => {
                at = next;
                Repeat::ZeroOrMore
            }
            _ => Repeat::Once,
        };
        let token = Token { symbol, repeat };
        match tokens.last_mut() {
            Some(last) if last.flagged() && token.flagged() && last.symbol == token.symbol => {
                if token.repeat == Repeat::OneOrMore {
                    last.repeat = Repeat::OneOrMore;
                }
            }
            _ => tokens.push(token),
        }
    }
    Ok(tokens)
}

/// The class after a `[`, and where the glob goes on after its `]`.
fn parse_class(chars: &[char], mut at: usize) -> anyhow::Result<(Symbol, usize)> {
    let mut ranges: Vec<(u32, u32)> = Vec::new();
    let mut previous: Option<u32> = None;
    while let Some((c, escaped, next)) = next_char(chars, at)? {
        at = next;
        match (c, escaped) {
            (']', false) => return Ok((Symbol::Class(normalise(ranges)), at)),
            ('-', false) => {
                let Some(low) = previous.take() else {
                    bail!("regex.globs_match: range character '-' must be preceded by a character");
                };
                if at + 1 >= chars.len() {
                    bail!("regex.globs_match: range character '-' must be followed by a character");
                }
                let Some((high, escaped, next)) = next_char(chars, at)? else {
                    bail!("regex.globs_match: range character '-' must be followed by a character");
                };
                at = next;
                if !escaped && matches!(high, ']' | '-') {
                    bail!("regex.globs_match: range character '-' cannot be followed by a special symbol");
                }
                let high = u32::from(high);
                if high < low {
                    bail!("regex.globs_match: range is out of order");
                }
                ranges.push((low, high));
            }
            (c, _) => {
                ranges.push((u32::from(c), u32::from(c)));
                previous = Some(u32::from(c));
            }
        }
    }
    bail!("regex.globs_match: found [ without matching ]")
}

fn normalise(mut ranges: Vec<(u32, u32)>) -> Vec<(u32, u32)> {
    ranges.sort_unstable();
    let mut merged: Vec<(u32, u32)> = Vec::with_capacity(ranges.len());
    for (lo, hi) in ranges {
        match merged.last_mut() {
            Some(last) if lo <= last.1.saturating_add(1) => last.1 = last.1.max(hi),
            _ => merged.push((lo, hi)),
        }
    }
    merged
}

// ---- intersection ----

/// Drops the unflagged tokens both globs start and end with (keeping one at each end, as the
/// Go library does); `None` when those tokens already differ.
fn trim<'a>(a: &'a [Token], b: &'a [Token], walk: &mut Walk) -> Option<(&'a [Token], &'a [Token])> {
    let unflagged = |t: &Token| !t.flagged();
    let mut start = 0;
    while let (Some(x), Some(y)) = (a.get(start), b.get(start)) {
        if !(unflagged(x) && unflagged(y)) {
            break;
        }
        if !walk.meet(x, y) {
            return None;
        }
        start += 1;
    }
    start = start.saturating_sub(1);
    // Ends as signed positions: -1 means "before the first token".
    let (mut end_a, mut end_b) = (a.len() as isize - 1, b.len() as isize - 1);
    let start_i = start as isize;
    while end_a >= start_i && end_b >= start_i {
        let (Some(x), Some(y)) = (a.get(end_a as usize), b.get(end_b as usize)) else {
            break;
        };
        if !(unflagged(x) && unflagged(y)) {
            break;
        }
        if !walk.meet(x, y) {
            return None;
        }
        end_a -= 1;
        end_b -= 1;
    }
    if end_a < a.len() as isize - 1 {
        end_a += 1;
        end_b += 1;
    }
    let slice = |tokens: &'a [Token], end: isize| {
        let end = usize::try_from(end + 1).unwrap_or(0);
        tokens.get(start..end.max(start)).unwrap_or_default()
    };
    Some((slice(a, end_a), slice(b, end_b)))
}

/// The walk over two globs, counting token comparisons against the budget.
struct Walk {
    steps: u32,
}

impl Walk {
    fn answer(&self, matched: bool) -> anyhow::Result<Value> {
        if self.steps == 0 {
            bail!("regex.globs_match: the globs are too complex to intersect");
        }
        Ok(Value::from(matched))
    }

    fn meet(&mut self, a: &Token, b: &Token) -> bool {
        if self.steps == 0 {
            return false;
        }
        self.steps -= 1;
        symbols_meet(&a.symbol, &b.symbol)
    }

    /// Token by token while neither is flagged; both globs must end together.
    fn normal(&mut self, a: &[Token], b: &[Token]) -> bool {
        let mut i = 0;
        while let (Some(x), Some(y)) = (a.get(i), b.get(i)) {
            if x.flagged() || y.flagged() {
                let (rest_a, rest_b) = (
                    a.get(i..).unwrap_or_default(),
                    b.get(i..).unwrap_or_default(),
                );
                return self.special(rest_a, rest_b);
            }
            if !self.meet(x, y) {
                return false;
            }
            i += 1;
        }
        i == a.len() && i == b.len()
    }

    /// At least one of the globs starts with a flagged token.
    fn special(&mut self, a: &[Token], b: &[Token]) -> bool {
        let (Some(x), Some(y)) = (a.first(), b.first()) else {
            return false;
        };
        let (flagged, other) = if x.flagged() { (a, b) } else { (b, a) };
        let repeat = if x.flagged() { x.repeat } else { y.repeat };
        match repeat {
            Repeat::OneOrMore => self.plus(flagged, other),
            Repeat::ZeroOrMore => self.star(flagged, other),
            Repeat::Once => false,
        }
    }

    /// `flagged` starts with `t+`: it must take `other`'s first token, then behave as `t*`;
    /// or, when that first token is flagged itself, it may take `t+` whole.
    fn plus(&mut self, flagged: &[Token], other: &[Token]) -> bool {
        let (Some(first), Some(other_first)) = (flagged.first(), other.first()) else {
            return false;
        };
        if !self.meet(first, other_first) {
            return false;
        }
        if self.star(flagged, other.get(1..).unwrap_or_default()) {
            return true;
        }
        other_first.flagged() && self.normal(flagged.get(1..).unwrap_or_default(), other)
    }

    /// `flagged` starts with `t*`: it takes `other`'s tokens while they match `t`, trying at
    /// each token that matches the one after `t*` whether the rest of both globs intersect.
    fn star(&mut self, flagged: &[Token], other: &[Token]) -> bool {
        let Some(star) = flagged.first() else {
            return false;
        };
        let after = flagged.get(1..).unwrap_or_default();
        for (i, token) in other.iter().enumerate() {
            if let Some(next) = after.first() {
                if self.meet(token, next) {
                    if self.normal(after, other.get(i..).unwrap_or_default()) {
                        return true;
                    }
                    if !self.meet(token, star) {
                        return false;
                    }
                    continue;
                }
            }
            if !self.meet(token, star) {
                return false;
            }
        }
        after.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(a: &str, b: &str) -> Option<bool> {
        match globs_match(&[Value::from(a), Value::from(b)]) {
            Ok(Value::Bool(matched)) => Some(matched),
            _ => None,
        }
    }

    #[test]
    fn answers_as_opa_does() {
        // Each answer is real OPA's (v1.20.2); None is an error there.
        for (a, b, want) in [
            ("[a]", "a", Some(true)),
            ("[a]b", "ab", Some(true)),
            ("[a]b", "a", Some(false)),
            ("a", "[a]", Some(true)),
            ("[a", "a", None),
            ("", "", Some(true)),
            ("a", "", Some(false)),
            ("a*", "", Some(false)),
            ("*", "a", None),
            ("a**", "a", None),
            ("[z-a]", "a", None),
            ("a.*", "abc", Some(true)),
            ("a+", "aaa", Some(true)),
            ("[a-c]+x", "bbx", Some(true)),
            ("\\\\", "a", Some(false)),
            ("a\\\\*", "a*", Some(false)),
            ("(", "(", Some(true)),
            ("{a,b}", "{a,b}", Some(true)),
            ("[a-z]+", "abc", Some(true)),
            ("a]", "a]", None),
            ("[]", "a", Some(false)),
            ("[-a]", "a", None),
            ("[a-]", "a", None),
            ("[a\\]]", "]", None),
            ("a+b*", "ab", Some(true)),
            ("ab", "a.+", Some(true)),
            ("x[ab]y", "xay", Some(true)),
            ("x[ab]", "xa", Some(true)),
        ] {
            assert_eq!(check(a, b), want, "{a:?} {b:?}");
        }
    }

    #[test]
    fn merges_repeated_flagged_tokens() {
        let tokens = parse("a*a+b").unwrap_or_default();
        assert_eq!(tokens.len(), 2);
        assert_eq!(tokens.first().map(|t| t.repeat), Some(Repeat::OneOrMore));
        assert_eq!(
            parse("[b-da]")
                .unwrap_or_default()
                .first()
                .map(|t| t.symbol.clone()),
            Some(Symbol::Class(vec![(97, 100)]))
        );
    }

    #[test]
    fn a_costly_pair_is_an_error_not_a_stall() {
        // Without the budget this pair takes over 4e9 comparisons (minutes); OPA has no limit.
        let stars = ".*a*".repeat(30) + "b";
        assert_eq!(check(&stars, &("a".repeat(60) + "cb")), None);
        assert_eq!(check(&stars, &("a".repeat(60) + "b")), Some(true));
    }
}
