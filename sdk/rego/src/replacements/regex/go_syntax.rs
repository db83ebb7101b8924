//! Go's regular-expression syntax (`regexp/syntax` with its Perl flags, what OPA compiles)
//! rewritten for Rust's `regex` crate, so that a pattern means what it means in OPA:
//!
//! - a `{` that starts no repetition (`{a,b}`, `x{,2}`, `x{01}`) is a literal;
//! - `\d`, `\w`, `\s`, `\b`, `\B` are ASCII (Go's `\s` has no `\v`); Rust's are Unicode;
//! - `\Q...\E` is literal text, and octal escapes (`\012`) are characters;
//! - inside `[...]`, `[`, `&&`, `--` and `~~` are characters (Rust nests and combines classes);
//! - named groups may have any ASCII letters, digits and `_` as names, twice the same
//!   ([`Translated::names`] keeps them; Rust gets plain groups), and flags may repeat (`(?ii)`,
//!   `(?)`); a repetition after a flag group applies to the item before it (`a(?i)*`);
//! - `(?i)` folds ASCII letters as Go does ([`super::char_sets`]), without Rust's case tables
//!   (other letters are folded by Rust, with the `regex-unicode` feature's tables);
//! - what Go refuses is refused: stacked repetitions (`a**`, `a{2}{3}`), counts past 1,000
//!   or nested beyond a product of 1,000, `\C`, `\1`, `\8`, escaped letters Go does not know,
//!   and Rust's own syntax (`(?x)`, `\u0041`, `\<`, look-around).
//!
//! What a build cannot run ([`GoSyntaxError::Unsupported`]): without the `regex-unicode`
//! feature, Unicode classes (`\pL`; Rust needs tables the default build leaves out) and
//! case-insensitive letters beyond ASCII; in any build, nesting deeper than Rust's 250 levels
//! (Go allows 1,000; Rust refuses it when compiling).

use super::char_sets::{self, CharSet, Unsupported};
#[cfg(feature = "regex-unicode")]
use super::unicode_names;

/// A Go pattern in Rust's syntax.
#[derive(Debug, PartialEq)]
pub(crate) struct Translated {
    /// The pattern for Rust's `regex`.
    pub(crate) pattern: String,
    /// The name of each group, in order (index 0 is the whole match).
    pub(crate) names: Vec<Option<String>>,
}

/// Why a pattern is not translated.
#[derive(Debug, PartialEq)]
pub(crate) enum GoSyntaxError {
    /// Go refuses it.
    Refused(&'static str),
    /// Go reads it, but this build cannot run it.
    Unsupported,
}

impl From<Unsupported> for GoSyntaxError {
    fn from(_: Unsupported) -> Self {
        Self::Unsupported
    }
}

/// Go's `syntax.ErrInvalidRepeatSize` bound on a count, and on the product of nested counts.
const MAX_REPEAT: u64 = 1000;

/// `pattern` (Go) in Rust's syntax, or why not.
pub(crate) fn translate(pattern: &str) -> Result<Translated, GoSyntaxError> {
    let mut translator = Translator {
        rest: pattern,
        out: String::with_capacity(pattern.len() * 2),
        names: vec![None],
        outermost: Group::default(),
        open: Vec::new(),
        pending_flags: String::new(),
    };
    translator.run()?;
    Ok(Translated {
        pattern: translator.out,
        names: translator.names,
    })
}

/// What the last item of a group is, for Go's checks on repetitions.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
enum Last {
    /// None yet: the group's start, or after `|`.
    #[default]
    Nothing,
    /// An item a repetition may apply to; the largest product of counted repetitions in it.
    Item(u64),
    /// A repetition, which another may not follow.
    Repetition(u64),
}

/// A group being read.
#[derive(Debug, Default)]
struct Group {
    /// The largest product of counted repetitions in the group's finished items.
    product: u64,
    last: Last,
    /// Whether letters match either case (`(?i)`) here.
    fold: bool,
}

impl Group {
    /// A new item starts: the last one is finished.
    fn finish_last(&mut self) {
        if let Last::Item(p) | Last::Repetition(p) = self.last {
            self.product = self.product.max(p);
        }
        self.last = Last::Nothing;
    }

    fn item(&mut self, product: u64) {
        self.finish_last();
        self.last = Last::Item(product);
    }

    fn product(&self) -> u64 {
        match self.last {
            Last::Item(p) | Last::Repetition(p) => self.product.max(p),
            Last::Nothing => self.product,
        }
    }
}

struct Translator<'p> {
    rest: &'p str,
    out: String,
    names: Vec<Option<String>>,
    outermost: Group,
    open: Vec<Group>,
    /// A flag group (`(?s)`) not written yet: Go lets a repetition after it apply to the item
    /// before it (`a(?s)*` is `a*(?s)`), Rust does not; flags act on what follows, so it is
    /// written after such a repetition.
    pending_flags: String,
}

fn refused<T>(reason: &'static str) -> Result<T, GoSyntaxError> {
    Err(GoSyntaxError::Refused(reason))
}

impl Translator<'_> {
    fn peek(&self) -> Option<char> {
        self.rest.chars().next()
    }

    fn next(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.rest = self.rest.get(c.len_utf8()..).unwrap_or_default();
        Some(c)
    }

    fn eat(&mut self, prefix: &str) -> bool {
        match self.rest.strip_prefix(prefix) {
            Some(rest) => {
                self.rest = rest;
                true
            }
            None => false,
        }
    }

    /// The innermost open group.
    fn group(&mut self) -> &mut Group {
        match self.open.last_mut() {
            Some(group) => group,
            None => &mut self.outermost,
        }
    }

    fn fold(&mut self) -> bool {
        self.group().fold
    }

    /// Writes a flag group held back (see [`Translator::pending_flags`]).
    fn flush_flags(&mut self) {
        let flags = std::mem::take(&mut self.pending_flags);
        self.out.push_str(&flags);
    }

    fn run(&mut self) -> Result<(), GoSyntaxError> {
        while let Some(c) = self.next() {
            match c {
                '(' => self.open_group()?,
                ')' => self.close_group()?,
                '|' => {
                    self.flush_flags();
                    self.group().finish_last();
                    self.out.push('|');
                }
                '*' | '+' | '?' => self.repetition(c.to_string(), None)?,
                '{' => match go_repeat(self.rest) {
                    Some((min, max, after)) => {
                        let text = self.rest.get(..self.rest.len() - after.len()).unwrap_or("");
                        let text = format!("{{{text}");
                        self.rest = after;
                        self.repetition(text, Some((min, max)))?;
                    }
                    None => self.literal(u32::from('{'))?,
                },
                '[' => self.class()?,
                '.' => self.item(".", 1),
                '^' => self.item("(?:^)", 1),
                '$' => self.item("(?:$)", 1),
                '\\' => self.escape()?,
                c => self.literal(u32::from(c))?,
            }
        }
        self.flush_flags();
        if !self.open.is_empty() {
            return refused("missing closing )");
        }
        Ok(())
    }

    fn item(&mut self, text: &str, product: u64) {
        self.flush_flags();
        self.group().item(product);
        self.out.push_str(text);
    }

    fn literal(&mut self, c: u32) -> Result<(), GoSyntaxError> {
        let fold = self.fold();
        let text = char_sets::literal(c, fold)?;
        self.item(&text, 1);
        Ok(())
    }

    /// `*`, `+`, `?` or a count (`text`), and a `?` after it.
    fn repetition(
        &mut self,
        mut text: String,
        count: Option<(u64, Option<u64>)>,
    ) -> Result<(), GoSyntaxError> {
        let inner = match self.group().last {
            Last::Nothing => return refused("missing argument to repetition operator"),
            Last::Repetition(_) => return refused("invalid nested repetition operator"),
            Last::Item(p) => p,
        };
        let product = match count {
            None => inner,
            Some((min, max)) => {
                if min > MAX_REPEAT || max.is_some_and(|max| max > MAX_REPEAT || min > max) {
                    return refused("invalid repeat count");
                }
                let product = max.unwrap_or(min).saturating_mul(inner);
                if (min >= 2 || max.is_some_and(|max| max >= 2)) && product > MAX_REPEAT {
                    return refused("invalid repeat count");
                }
                product
            }
        };
        if self.eat("?") {
            text.push('?');
        }
        self.group().last = Last::Repetition(product);
        self.out.push_str(&text);
        self.flush_flags();
        Ok(())
    }

    fn open_group(&mut self) -> Result<(), GoSyntaxError> {
        let fold = self.fold();
        if !self.eat("?") {
            self.names.push(None);
            self.push_group("(", fold);
            return Ok(());
        }
        // A named group: (?P<name> or (?<name>.
        if self.rest.starts_with("P<") || self.rest.starts_with('<') {
            self.eat("P");
            self.eat("<");
            let Some(end) = self.rest.find('>') else {
                return refused("invalid named capture");
            };
            let name = self.rest.get(..end).unwrap_or_default();
            let valid =
                !name.is_empty() && name.bytes().all(|b| b == b'_' || b.is_ascii_alphanumeric());
            if !valid {
                return refused("invalid named capture");
            }
            self.names.push(Some(name.to_string()));
            self.rest = self.rest.get(end + 1..).unwrap_or_default();
            self.push_group("(", fold);
            return Ok(());
        }
        self.flags(fold)
    }

    /// `(?flags)` or `(?flags:` (after the `?`), as Go reads them: `i`, `m`, `s`, `U`, then
    /// `-` and the flags to clear. `i` is done here ([`super::char_sets`]); the others are
    /// Rust's.
    fn flags(&mut self, mut fold: bool) -> Result<(), GoSyntaxError> {
        let (mut set, mut clear) = (String::new(), String::new());
        let mut negated = false;
        let mut saw_flag = false;
        loop {
            let Some(c) = self.next() else {
                return refused("missing closing )");
            };
            match c {
                'i' | 'm' | 's' | 'U' => {
                    if c == 'i' {
                        fold = !negated;
                    } else {
                        let (on, off) = match negated {
                            false => (&mut set, &mut clear),
                            true => (&mut clear, &mut set),
                        };
                        if !on.contains(c) {
                            on.push(c);
                        }
                        off.retain(|f| f != c);
                    }
                    saw_flag = true;
                }
                '-' if !negated => {
                    negated = true;
                    saw_flag = false;
                }
                ':' | ')' => {
                    if negated && !saw_flag {
                        return refused("invalid or unsupported Perl syntax");
                    }
                    let flags = match clear.is_empty() {
                        true => set,
                        false => format!("{set}-{clear}"),
                    };
                    if c == ':' {
                        self.push_group(&format!("(?{flags}:"), fold);
                        return Ok(());
                    }
                    if !flags.is_empty() {
                        self.pending_flags.push_str(&format!("(?{flags})"));
                    }
                    let group = self.group();
                    group.fold = fold;
                    // A repetition may follow the item before the flags.
                    if let Last::Repetition(p) = group.last {
                        group.last = Last::Item(p);
                    }
                    return Ok(());
                }
                _ => return refused("invalid or unsupported Perl syntax"),
            }
        }
    }

    fn push_group(&mut self, text: &str, fold: bool) {
        self.flush_flags();
        self.group().finish_last();
        self.open.push(Group {
            fold,
            ..Group::default()
        });
        self.out.push_str(text);
    }

    fn close_group(&mut self) -> Result<(), GoSyntaxError> {
        self.flush_flags();
        let Some(closed) = self.open.pop() else {
            return refused("unexpected )");
        };
        self.out.push(')');
        self.group().last = Last::Item(closed.product());
        Ok(())
    }

    /// An escape outside a class (after the `\`).
    fn escape(&mut self) -> Result<(), GoSyntaxError> {
        let Some(c) = self.peek() else {
            return refused("trailing backslash at end of expression");
        };
        let assertion = match c {
            'A' => Some("(?:\\A)"),
            'z' => Some("(?:\\z)"),
            'b' => Some("(?:(?-u:\\b))"),
            'B' => Some("(?:(?-u:\\B))"),
            _ => None,
        };
        if let Some(assertion) = assertion {
            self.next();
            self.item(assertion, 1);
            return Ok(());
        }
        let fold = self.fold();
        match c {
            'C' => refused("invalid escape sequence"),
            'Q' => {
                self.next();
                let (text, rest) = self.rest.split_once("\\E").unwrap_or((self.rest, ""));
                self.rest = rest;
                for c in text.chars() {
                    self.literal(u32::from(c))?;
                }
                Ok(())
            }
            'p' | 'P' => {
                let mut set = CharSet::default();
                let class = self.unicode_class()?;
                set.add_unicode(&class, fold)?;
                self.item(&set.written(false), 1);
                Ok(())
            }
            _ => match char_sets::perl_class(c) {
                Some(ranges) => {
                    self.next();
                    let mut set = CharSet::default();
                    set.add_set(ranges, c.is_ascii_uppercase(), fold)?;
                    self.item(&set.written(false), 1);
                    Ok(())
                }
                None => {
                    let c = self.escaped_char()?;
                    self.literal(c)
                }
            },
        }
    }

    /// `\pN`, `\p{Name}`, `\PN`, `\P{Name}` (after the `\`), as Rust writes them, for the
    /// names Go knows ([`class_text`]); Go's `\p{^Name}` is `\P{Name}`.
    fn unicode_class(&mut self) -> Result<String, GoSyntaxError> {
        let Some(letter) = self.next() else {
            return refused("invalid character class range");
        };
        let mut negated = letter == 'P';
        let name = match self.next() {
            Some('{') => {
                let Some(end) = self.rest.find('}') else {
                    return refused("invalid character class range");
                };
                let mut name = self.rest.get(..end).unwrap_or_default();
                self.rest = self.rest.get(end + 1..).unwrap_or_default();
                if let Some(positive) = name.strip_prefix('^') {
                    name = positive;
                    negated = !negated;
                }
                name.to_string()
            }
            Some(c) => c.to_string(),
            None => return refused("invalid character class range"),
        };
        class_text(&name, negated)
    }

    /// Go's `parseEscape` (after the `\`): a character.
    fn escaped_char(&mut self) -> Result<u32, GoSyntaxError> {
        let Some(c) = self.next() else {
            return refused("trailing backslash at end of expression");
        };
        let octal = |c: Option<char>| c.and_then(|c| c.to_digit(8));
        match c {
            // A non-word ASCII character stands for itself.
            c if c.is_ascii() && !c.is_ascii_alphanumeric() => Ok(u32::from(c)),
            // Octal: \0 and up to two more digits, or \1-\7 and one or two more.
            '0'..='7' => {
                if c != '0' && octal(self.peek()).is_none() {
                    return refused("invalid escape sequence");
                }
                let mut value = c.to_digit(8).unwrap_or(0);
                for _ in 0..2 {
                    match octal(self.peek()) {
                        Some(d) => {
                            value = value * 8 + d;
                            self.next();
                        }
                        None => break,
                    }
                }
                Ok(value)
            }
            'x' => self.hex_escape(),
            'a' => Ok(0x07),
            'f' => Ok(0x0c),
            'n' => Ok(0x0a),
            'r' => Ok(0x0d),
            't' => Ok(0x09),
            'v' => Ok(0x0b),
            _ => refused("invalid escape sequence"),
        }
    }

    /// `\x41` or `\x{10FFFF}` (after the `x`).
    fn hex_escape(&mut self) -> Result<u32, GoSyntaxError> {
        let hex = |c: Option<char>| c.and_then(|c| c.to_digit(16));
        if self.eat("{") {
            let mut value: u32 = 0;
            let mut digits = 0;
            loop {
                match self.next() {
                    Some('}') if digits > 0 => return Ok(value),
                    c => match hex(c) {
                        Some(d) => {
                            value = value.saturating_mul(16).saturating_add(d);
                            digits += 1;
                            if value > 0x10_ffff {
                                return refused("invalid escape sequence");
                            }
                        }
                        None => return refused("invalid escape sequence"),
                    },
                }
            }
        }
        match (hex(self.next()), hex(self.next())) {
            (Some(high), Some(low)) => Ok(high * 16 + low),
            _ => refused("invalid escape sequence"),
        }
    }

    /// A class `[...]` (after the `[`), as Go's `parseClass` reads it.
    fn class(&mut self) -> Result<(), GoSyntaxError> {
        let fold = self.fold();
        let negated = self.eat("^");
        let mut set = CharSet::default();
        let mut first = true;
        loop {
            match self.peek() {
                None => return refused("missing closing ]"),
                Some(']') if !first => {
                    self.next();
                    break;
                }
                _ => {}
            }
            first = false;
            // [:alpha:] and [:^alpha:]
            if self.rest.starts_with("[:") {
                if let Some(end) = self.rest.get(2..).and_then(|r| r.find(":]")) {
                    let name = self.rest.get(2..2 + end).unwrap_or_default();
                    let (negated, name) = match name.strip_prefix('^') {
                        Some(name) => (true, name),
                        None => (false, name),
                    };
                    let Some(ranges) = char_sets::posix_class(name) else {
                        return refused("invalid character class range");
                    };
                    self.rest = self.rest.get(end + 4..).unwrap_or_default();
                    set.add_set(ranges, negated, fold)?;
                    continue;
                }
            }
            if self.rest.starts_with("\\p") || self.rest.starts_with("\\P") {
                self.next();
                let class = self.unicode_class()?;
                set.add_unicode(&class, fold)?;
                continue;
            }
            let perl = self.rest.strip_prefix('\\').and_then(|r| r.chars().next());
            if let Some((letter, ranges)) = perl.and_then(|l| Some((l, char_sets::perl_class(l)?)))
            {
                self.rest = self.rest.get(2..).unwrap_or_default();
                set.add_set(ranges, letter.is_ascii_uppercase(), fold)?;
                continue;
            }
            let low = self.class_char()?;
            let mut high = low;
            if self.rest.len() > 1 && self.rest.starts_with('-') && !self.rest.starts_with("-]") {
                self.next();
                high = self.class_char()?;
                if high < low {
                    return refused("invalid character class range");
                }
            }
            set.add_range(low, high, fold)?;
        }
        self.item(&set.written(negated), 1);
        Ok(())
    }

    /// One character of a class: an escape (Go's `parseEscape`) or the character itself.
    fn class_char(&mut self) -> Result<u32, GoSyntaxError> {
        match self.next() {
            None => refused("missing closing ]"),
            Some('\\') => self.escaped_char(),
            Some(c) => Ok(u32::from(c)),
        }
    }
}

/// Go's `parseRepeat` (after the `{`): `{n}`, `{n,}` or `{n,m}`, numbers without leading
/// zeros; the counts (`None`: no upper bound) and what follows. `None` when the `{` starts no
/// repetition, and is a literal.
fn go_repeat(text: &str) -> Option<(u64, Option<u64>, &str)> {
    let (min, rest) = go_int(text)?;
    let (max, rest) = match rest.strip_prefix(',') {
        None => (Some(min), rest),
        Some(rest) if rest.starts_with('}') => (None, rest),
        Some(rest) => {
            let (max, rest) = go_int(rest)?;
            (Some(max), rest)
        }
    };
    let rest = rest.strip_prefix('}')?;
    Some((min, max, rest))
}

/// Digits without a leading zero (a lone `0` is one), as Go's `parseInt`; large values are
/// kept large (they are refused as counts).
fn go_int(text: &str) -> Option<(u64, &str)> {
    let digits = text.bytes().take_while(u8::is_ascii_digit).count();
    if digits == 0 || (digits > 1 && text.starts_with('0')) {
        return None;
    }
    let (number, rest) = text.split_at(digits);
    let value = number.bytes().fold(0u64, |n, d| {
        n.saturating_mul(10).saturating_add(u64::from(d - b'0'))
    });
    Some((value.min(u64::from(u32::MAX)), rest))
}

/// `\p{name}` (`\P` when `negated`) for Rust: the names Go knows ([`unicode_names`]), as Rust
/// reads them the same way; anything else is refused, as Go refuses it.
#[cfg(feature = "regex-unicode")]
fn class_text(name: &str, negated: bool) -> Result<String, GoSyntaxError> {
    let Some((name, inverted)) = unicode_names::resolve(name) else {
        return refused("invalid character class range");
    };
    let negated = negated != inverted;
    if name == "Cs" {
        // Surrogates, which no text holds (Rust refuses a class of them).
        return Ok(match negated {
            true => "[\\x{0}-\\x{10FFFF}]".to_string(),
            false => char_sets::NOTHING.to_string(),
        });
    }
    let letter = if negated { 'P' } else { 'p' };
    Ok(format!("\\{letter}{{{name}}}"))
}

/// `\p{name}` (`\P` when `negated`) as written: without Unicode tables Rust refuses every
/// class, so the pattern is [`GoSyntaxError::Unsupported`] when it compiles.
#[cfg(not(feature = "regex-unicode"))]
fn class_text(name: &str, negated: bool) -> Result<String, GoSyntaxError> {
    let letter = if negated { 'P' } else { 'p' };
    Ok(format!("\\{letter}{{{name}}}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rust(go: &str) -> String {
        match translate(go) {
            Ok(t) => t.pattern,
            Err(e) => panic!("{go}: {e:?}"),
        }
    }

    fn refused(go: &str) -> bool {
        translate(go).is_err()
    }

    #[test]
    fn braces_that_start_no_repetition_are_literals() {
        assert_eq!(rust("{a,b}"), "\\x{7B}a\\x{2C}b\\x{7D}");
        assert_eq!(rust("x{,2}"), "x\\x{7B}\\x{2C}2\\x{7D}");
        assert_eq!(rust("x{01}"), "x\\x{7B}01\\x{7D}");
        assert_eq!(rust("x{2}"), "x{2}");
        assert_eq!(rust("x{2,}?"), "x{2,}?");
        assert_eq!(rust("x{2,5}"), "x{2,5}");
        assert_eq!(rust("{\"a\":1}"), "\\x{7B}\\x{22}a\\x{22}\\x{3A}1\\x{7D}");
    }

    #[test]
    fn perl_classes_and_boundaries_are_ascii() {
        assert_eq!(rust("\\d"), "[\\x{30}-\\x{39}]");
        assert_eq!(
            rust("\\W"),
            "[[^\\x{30}-\\x{39}\\x{41}-\\x{5A}\\x{5F}\\x{61}-\\x{7A}]]"
        );
        assert_eq!(rust("[\\s]"), "[\\x{9}-\\x{A}\\x{C}-\\x{D}\\x{20}]");
        assert_eq!(rust("[^\\D]"), "[^[^\\x{30}-\\x{39}]]");
        assert_eq!(rust("\\b"), "(?:(?-u:\\b))");
        assert_eq!(
            rust("[[:^alpha:]x]"),
            "[\\x{78}[^\\x{41}-\\x{5A}\\x{61}-\\x{7A}]]"
        );
    }

    #[test]
    fn classes_hold_characters_rust_would_read_as_syntax() {
        assert_eq!(rust("[a[b]"), "[\\x{61}\\x{5B}\\x{62}]");
        assert_eq!(rust("[a&&b]"), "[\\x{61}\\x{26}\\x{26}\\x{62}]");
        assert_eq!(rust("[]a]"), "[\\x{5D}\\x{61}]");
        assert_eq!(rust("[a-]"), "[\\x{61}\\x{2D}]");
        assert_eq!(rust("[a-b-c]"), "[\\x{61}-\\x{62}\\x{2D}\\x{63}]");
        assert!(refused("[z-a]"));
        assert!(refused("[a"));
        assert!(refused("[]"));
        assert!(refused("[[:foo:]]"));
        assert!(refused("[\\b]"));
        assert!(refused("[a-\\d]"));
    }

    #[test]
    fn escapes_as_go_reads_them() {
        assert_eq!(rust("\\Qa.b*\\E*"), "a\\x{2E}b\\x{2A}*");
        assert_eq!(rust("\\Qa.b"), "a\\x{2E}b");
        assert_eq!(rust("\\012\\0"), "\\x{A}\\x{0}");
        assert_eq!(rust("\\x41\\x{1F600}"), "A😀");
        assert_eq!(rust("\\<\\_\\."), "\\x{3C}\\x{5F}\\x{2E}");
        assert_eq!(rust("\\x{D800}"), char_sets::NOTHING);
        for bad in [
            "\\1",
            "\\8",
            "\\C",
            "\\e",
            "\\u0041",
            "\\x{}",
            "\\x{110000}",
            "\\xg0",
            "\\",
            "\\é",
            "\\q",
        ] {
            assert!(refused(bad), "{bad}");
        }
    }

    #[test]
    fn repetitions_as_go_allows_them() {
        for bad in [
            "a**",
            "a*+",
            "a{2}{3}",
            "a{2}*",
            "*",
            "a|*",
            "(*)",
            "{2}",
            "a{1001}",
            "a{3,2}",
            "(a{30}){40}",
            "((a{10}){10}){11}",
            "a*??",
        ] {
            assert!(refused(bad), "{bad}");
        }
        for good in [
            "a*?",
            "(a*)*",
            "a{1000}",
            "(a{10}){100}",
            "(a{1000}){1}",
            "(a{500}){0}",
            "^*",
            "\\b+",
            "a(?i)*",
            "a*(?i)*",
        ] {
            assert!(!refused(good), "{good}");
        }
    }

    #[test]
    fn case_insensitive_patterns_fold_ascii_letters() {
        assert_eq!(rust("(?i)ab1"), "[\\x{61}\\x{41}][\\x{62}\\x{42}]1");
        assert_eq!(rust("(?i:k)k"), "(?:[\\x{6B}\\x{4B}\\x{212A}])k");
        assert_eq!(rust("((?i)a)a"), "([\\x{61}\\x{41}])a");
        assert_eq!(rust("(?i)[^a-c]"), "[^\\x{61}-\\x{63}\\x{41}-\\x{43}]");
        assert_eq!(rust("(?i)中"), "中");
        // Letters beyond ASCII: Rust folds them, when it has the tables.
        if cfg!(feature = "regex-unicode") {
            assert_eq!(rust("(?i)é"), "(?i:[\\x{E9}])");
            assert_eq!(rust("(?i)\\pL"), "(?i:[\\p{L}])");
        } else {
            assert_eq!(translate("(?i)é"), Err(GoSyntaxError::Unsupported));
            assert_eq!(translate("(?i)\\pL"), Err(GoSyntaxError::Unsupported));
        }
    }

    #[test]
    fn groups_and_flags_as_go_reads_them() {
        let t = translate("(?P<first>a)(b)(?<last_1>c)").unwrap();
        assert_eq!(t.pattern, "(a)(b)(c)");
        assert_eq!(
            t.names,
            [None, Some("first".into()), None, Some("last_1".into())]
        );
        assert_eq!(rust("(?P<1a>x)"), "(x)");
        assert_eq!(rust("(?ii)a"), "[\\x{61}\\x{41}]");
        assert_eq!(rust("(?i-i)a"), "a");
        assert_eq!(rust("(?is)a(?-i)b"), "(?s)[\\x{61}\\x{41}]b");
        assert_eq!(rust("(?)a"), "a");
        assert_eq!(rust("(?s-m:a)"), "(?s-m:a)");
        assert_eq!(rust("(?:a)"), "(?:a)");
        assert_eq!(rust("a(?s)*b"), "a*(?s)b");
        assert_eq!(rust("a(?i)(?s)+?"), "a+?(?s)");
        for bad in [
            "(?x)",
            "(?-)",
            "(?i-)",
            "(?=a)",
            "(?<=a)",
            "(?P<>a)",
            "(?P<a-b>x)",
            "(a",
            "a)",
            "(?",
            "(?#c)",
            "(?R)",
        ] {
            assert!(refused(bad), "{bad}");
        }
    }
}
