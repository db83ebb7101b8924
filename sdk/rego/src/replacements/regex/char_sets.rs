//! Sets of characters as Go's `regexp/syntax` builds them (`[...]`, `\d`, `[:alpha:]`), written
//! in Rust's syntax: every character as a hex escape (nothing Rust reads as syntax, `[`, `&&`,
//! `--`, is left), ASCII sets spelled out (Rust's `\d` and `[[:alpha:]]`-alikes are Unicode or
//! need tables), and, for case-insensitive patterns (`(?i)`), folded as Go folds them.
//!
//! Case folding is done here for ASCII letters (with their two non-ASCII partners, U+212A
//! KELVIN SIGN for `k` and U+017F LONG S for `s`), so that Rust needs no case tables. A
//! case-insensitive set holding any other character that has case (or a Unicode class) is
//! folded by Rust's own `(?i)` in a build with the `regex-unicode` feature, whose simple case
//! folding is Go's; without it, such a set is not supported.

/// An ASCII set: ranges of characters.
pub(super) type Ranges = &'static [(u32, u32)];

pub(super) const DIGIT: Ranges = &[(0x30, 0x39)];
/// Go's `\s`: no vertical tab.
pub(super) const PERL_SPACE: Ranges = &[(0x09, 0x0a), (0x0c, 0x0d), (0x20, 0x20)];
pub(super) const WORD: Ranges = &[(0x30, 0x39), (0x41, 0x5a), (0x5f, 0x5f), (0x61, 0x7a)];

/// The set of a Perl class letter (`d`, `s`, `w`; upper case is the negation).
pub(super) fn perl_class(letter: char) -> Option<Ranges> {
    match letter.to_ascii_lowercase() {
        'd' => Some(DIGIT),
        's' => Some(PERL_SPACE),
        'w' => Some(WORD),
        _ => None,
    }
}

/// A POSIX class's set (Go's `posixGroup`).
pub(super) fn posix_class(name: &str) -> Option<Ranges> {
    Some(match name {
        "alnum" => &[(0x30, 0x39), (0x41, 0x5a), (0x61, 0x7a)],
        "alpha" => &[(0x41, 0x5a), (0x61, 0x7a)],
        "ascii" => &[(0x00, 0x7f)],
        "blank" => &[(0x09, 0x09), (0x20, 0x20)],
        "cntrl" => &[(0x00, 0x1f), (0x7f, 0x7f)],
        "digit" => DIGIT,
        "graph" => &[(0x21, 0x7e)],
        "lower" => &[(0x61, 0x7a)],
        "print" => &[(0x20, 0x7e)],
        "punct" => &[(0x21, 0x2f), (0x3a, 0x40), (0x5b, 0x60), (0x7b, 0x7e)],
        "space" => &[(0x09, 0x0d), (0x20, 0x20)],
        "upper" => &[(0x41, 0x5a)],
        "word" => WORD,
        "xdigit" => &[(0x30, 0x39), (0x41, 0x46), (0x61, 0x66)],
        _ => return None,
    })
}

/// A case-insensitive set holds a character with case other than an ASCII letter.
#[derive(Debug, PartialEq)]
pub(super) struct Unsupported;

/// Whether Rust's regex has its Unicode case tables here (the `regex-unicode` feature), so
/// that it folds letters beyond ASCII.
const RUST_FOLDS_UNICODE: bool = cfg!(feature = "regex-unicode");

/// A set being built, as Go builds a class: ranges, negated sets inside it (`[\W]`), and
/// Unicode classes (`\pL`, passed on to Rust).
#[derive(Debug, Default)]
pub(super) struct CharSet {
    ranges: Vec<(u32, u32)>,
    negated: Vec<Vec<(u32, u32)>>,
    unicode: String,
    /// Case-insensitive with characters beyond ASCII: written inside Rust's `(?i:...)`.
    rust_folds: bool,
}

impl CharSet {
    /// `low-high`, folded when `fold`.
    pub(super) fn add_range(&mut self, low: u32, high: u32, fold: bool) -> Result<(), Unsupported> {
        match fold {
            true => {
                let ranges = self.folded(&[(low, high)])?;
                self.ranges.extend(ranges);
            }
            false => self.ranges.push((low, high)),
        }
        Ok(())
    }

    /// A named set, or its negation; Go folds it before negating it.
    pub(super) fn add_set(
        &mut self,
        set: Ranges,
        negated: bool,
        fold: bool,
    ) -> Result<(), Unsupported> {
        let set = match fold {
            true => self.folded(set)?,
            false => set.to_vec(),
        };
        match negated {
            true => self.negated.push(set),
            false => self.ranges.extend(set),
        }
        Ok(())
    }

    /// A Unicode class (`\pL`), folded by Rust when `fold` (only with its case tables).
    pub(super) fn add_unicode(&mut self, class: &str, fold: bool) -> Result<(), Unsupported> {
        if fold {
            self.fold_in_rust()?;
        }
        self.unicode.push_str(class);
        Ok(())
    }

    /// The ranges with what Go's case folding adds for their ASCII letters; characters beyond
    /// ASCII are left to Rust's folding.
    fn folded(&mut self, ranges: &[(u32, u32)]) -> Result<Vec<(u32, u32)>, Unsupported> {
        if ranges
            .iter()
            .any(|&(low, high)| has_case_beyond_ascii(low, high))
        {
            self.fold_in_rust()?;
        }
        Ok(ascii_folded(ranges))
    }

    /// Has Rust fold the set: only a build with its case tables can.
    fn fold_in_rust(&mut self) -> Result<(), Unsupported> {
        match RUST_FOLDS_UNICODE {
            true => {
                self.rust_folds = true;
                Ok(())
            }
            false => Err(Unsupported),
        }
    }

    /// The set as a Rust class, negated when `negated`.
    pub(super) fn written(&self, negated: bool) -> String {
        let mut class = String::from(if negated { "[^" } else { "[" });
        let start = class.len();
        for &(low, high) in &self.ranges {
            push_range(&mut class, low, high);
        }
        for set in &self.negated {
            class.push_str("[^");
            for &(low, high) in set {
                push_range(&mut class, low, high);
            }
            class.push(']');
        }
        class.push_str(&self.unicode);
        if class.len() == start {
            class.push_str(NOTHING);
        }
        class.push(']');
        match self.rust_folds {
            true => format!("(?i:{class})"),
            false => class,
        }
    }
}

/// Never matches: a surrogate, which Go allows as a character and no text holds.
pub(super) const NOTHING: &str = "[^\\x{0}-\\x{10FFFF}]";

/// `low-high` inside a class, as hex escapes, without surrogates (Rust refuses them).
fn push_range(class: &mut String, low: u32, high: u32) {
    for (low, high) in [(low, high.min(0xd7ff)), (low.max(0xe000), high)] {
        if low <= high {
            class.push_str(&format!("\\x{{{low:X}}}"));
            if high != low {
                class.push_str(&format!("-\\x{{{high:X}}}"));
            }
        }
    }
}

/// A literal character, folded when `fold`: itself when Rust reads it as such, else a hex
/// escape or a class.
pub(super) fn literal(c: u32, fold: bool) -> Result<String, Unsupported> {
    let folds = fold && char::from_u32(c).is_some_and(has_case);
    if folds {
        let mut set = CharSet::default();
        set.add_range(c, c, true)?;
        return Ok(set.written(false));
    }
    Ok(match char::from_u32(c) {
        Some(c) if c.is_ascii_alphanumeric() || !c.is_ascii() => c.to_string(),
        Some(_) => format!("\\x{{{c:X}}}"),
        None => NOTHING.to_string(),
    })
}

fn has_case(c: char) -> bool {
    !c.to_lowercase().eq([c]) || !c.to_uppercase().eq([c])
}

/// The ranges with what Go's case folding adds for their ASCII letters.
fn ascii_folded(ranges: &[(u32, u32)]) -> Vec<(u32, u32)> {
    let mut out = ranges.to_vec();
    for &(low, high) in ranges {
        let overlap = |from: u32, to: u32| (low.max(from), high.min(to));
        let (a, b) = overlap(0x61, 0x7a);
        if a <= b {
            out.push((a - 0x20, b - 0x20));
        }
        let (a, b) = overlap(0x41, 0x5a);
        if a <= b {
            out.push((a + 0x20, b + 0x20));
        }
        let holds = |c: u32| (low..=high).contains(&c);
        if holds(u32::from('k')) || holds(u32::from('K')) {
            out.push((0x212a, 0x212a));
        }
        if holds(u32::from('s')) || holds(u32::from('S')) {
            out.push((0x17f, 0x17f));
        }
    }
    out
}

/// Whether `low..=high` holds a character beyond ASCII that has case (for a wide range, taken
/// to be so without looking).
fn has_case_beyond_ascii(low: u32, high: u32) -> bool {
    let wide = low.max(0x80);
    wide <= high && (high - wide > 1024 || (wide..=high).filter_map(char::from_u32).any(has_case))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sets_are_written_with_hex_escapes() {
        let mut set = CharSet::default();
        set.add_range(0x61, 0x61, false).unwrap();
        set.add_range(0x5b, 0x5b, false).unwrap();
        set.add_set(DIGIT, true, false).unwrap();
        assert_eq!(set.written(false), "[\\x{61}\\x{5B}[^\\x{30}-\\x{39}]]");
        assert_eq!(CharSet::default().written(true), format!("[^{NOTHING}]"));
        let mut surrogates = CharSet::default();
        surrogates.add_range(0xd000, 0xe000, false).unwrap();
        assert_eq!(surrogates.written(false), "[\\x{D000}-\\x{D7FF}\\x{E000}]");
    }

    #[test]
    fn ascii_letters_fold_as_go_folds_them() {
        assert_eq!(literal(u32::from('a'), true).unwrap(), "[\\x{61}\\x{41}]");
        assert_eq!(
            literal(u32::from('k'), true).unwrap(),
            "[\\x{6B}\\x{4B}\\x{212A}]"
        );
        assert_eq!(literal(u32::from('1'), true).unwrap(), "1");
        assert_eq!(literal(u32::from('中'), true).unwrap(), "中");
        assert_eq!(literal(u32::from('é'), false).unwrap(), "é");
        assert_eq!(literal(u32::from('.'), false).unwrap(), "\\x{2E}");
        let mut word = CharSet::default();
        word.add_set(WORD, true, true).unwrap();
        assert!(word.written(false).contains("\\x{17F}"));
    }

    #[cfg(not(feature = "regex-unicode"))]
    #[test]
    fn without_rusts_case_tables_letters_beyond_ascii_do_not_fold() {
        assert_eq!(literal(u32::from('é'), true), Err(Unsupported));
        let mut wide = CharSet::default();
        assert_eq!(wide.add_range(0x80, 0x10ffff, true), Err(Unsupported));
        assert_eq!(
            CharSet::default().add_unicode("\\pL", true),
            Err(Unsupported)
        );
    }

    #[cfg(feature = "regex-unicode")]
    #[test]
    fn with_rusts_case_tables_rust_folds_letters_beyond_ascii() {
        assert_eq!(literal(u32::from('é'), true).unwrap(), "(?i:[\\x{E9}])");
        let mut set = CharSet::default();
        set.add_range(u32::from('a'), u32::from('a'), true).unwrap();
        set.add_unicode("\\p{Greek}", true).unwrap();
        assert_eq!(set.written(true), "(?i:[^\\x{61}\\x{41}\\p{Greek}])");
    }
}
