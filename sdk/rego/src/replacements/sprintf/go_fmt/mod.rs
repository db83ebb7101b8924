//! Go's `fmt.Sprintf` for the four kinds of operand OPA's `sprintf` passes it: `int64`,
//! `*big.Int`, `float64` and `string` (`print.go`'s `doPrintf` and `format.go`, step for
//! step): flags, widths and precisions (`*` from an operand), explicit operand indexes
//! (`%[2]d`), and the error texts Go writes into the result (`%!d(string=a)`, `%!d(MISSING)`,
//! `%!(EXTRA int64=1)`, `%!(NOVERB)`, `%!(BADWIDTH)`, `%!(BADPREC)`, `%!d(BADINDEX)`).

mod numbers;

use num_bigint::BigInt;

use super::quote::{can_backquote, quote};

/// An operand, as OPA hands it to Go.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Operand {
    Int(i64),
    Big(BigInt),
    Float(f64),
    Text(String),
}

impl Operand {
    /// Go's name of the operand's type (`%T`, and the error texts).
    fn type_name(&self) -> &'static str {
        match self {
            Self::Int(_) => "int64",
            Self::Big(_) => "*big.Int",
            Self::Float(_) => "float64",
            Self::Text(_) => "string",
        }
    }
}

/// A `*big.Int`'s address, which `%p` prints: it differs from run to run.
#[derive(Debug, PartialEq)]
pub(crate) struct Unrepeatable;

/// The largest width or precision Go takes (`tooLarge`).
const MAX_NUMBER: usize = 1_000_000;

#[derive(Debug, Default, Clone, Copy)]
struct Flags {
    minus: bool,
    plus: bool,
    sharp: bool,
    space: bool,
    zero: bool,
    plus_v: bool,
    sharp_v: bool,
    width: Option<usize>,
    precision: Option<usize>,
}

struct Printer<'a> {
    out: String,
    flags: Flags,
    operands: &'a [Operand],
}

/// `format` with `operands`, as Go's `fmt.Sprintf` writes it.
pub(crate) fn sprintf(format: &str, operands: &[Operand]) -> Result<String, Unrepeatable> {
    let mut printer = Printer {
        out: String::with_capacity(format.len()),
        flags: Flags::default(),
        operands,
    };
    printer.print(format)?;
    Ok(printer.out)
}

/// Go's `parsenum`: digits at `at`, the number (`None` past [`MAX_NUMBER`], or no digits) and
/// where they end.
fn parse_number(format: &[u8], mut at: usize) -> (Option<usize>, usize) {
    let start = at;
    let mut number = 0usize;
    while let Some(digit @ b'0'..=b'9') = format.get(at).copied() {
        if number > MAX_NUMBER {
            return (None, format.len());
        }
        number = number * 10 + usize::from(digit - b'0');
        at += 1;
    }
    match at > start {
        true => (Some(number), at),
        false => (None, at),
    }
}

impl Printer<'_> {
    /// Go's `doPrintf`.
    fn print(&mut self, format: &str) -> Result<(), Unrepeatable> {
        let bytes = format.as_bytes();
        let end = bytes.len();
        let mut operand = 0usize;
        let mut reordered = false;
        let mut at = 0usize;
        while at < end {
            let mut good_index = true;
            let literal_start = at;
            while at < end && bytes.get(at) != Some(&b'%') {
                at += 1;
            }
            self.out
                .push_str(format.get(literal_start..at).unwrap_or_default());
            if at >= end {
                break;
            }
            at += 1;
            self.flags = Flags::default();
            while let Some(&c) = bytes.get(at) {
                match c {
                    b'#' => self.flags.sharp = true,
                    b'0' => self.flags.zero = true,
                    b'+' => self.flags.plus = true,
                    b'-' => self.flags.minus = true,
                    b' ' => self.flags.space = true,
                    _ => break,
                }
                at += 1;
            }
            let mut after_index;
            (operand, at, after_index) =
                self.index(bytes, at, operand, &mut reordered, &mut good_index);
            if bytes.get(at) == Some(&b'*') {
                at += 1;
                let (width, next) = self.int_operand(operand);
                operand = next;
                match width {
                    None => self.out.push_str("%!(BADWIDTH)"),
                    Some(w) if w < 0 => {
                        self.flags.width = usize::try_from(w.unsigned_abs()).ok();
                        self.flags.minus = true;
                        self.flags.zero = false;
                    }
                    Some(w) => self.flags.width = usize::try_from(w).ok(),
                }
                after_index = false;
            } else {
                let (width, next) = parse_number(bytes, at);
                at = next;
                self.flags.width = width;
                if after_index && width.is_some() {
                    good_index = false;
                }
            }
            if at + 1 < end && bytes.get(at) == Some(&b'.') {
                at += 1;
                if after_index {
                    good_index = false;
                }
                (operand, at, after_index) =
                    self.index(bytes, at, operand, &mut reordered, &mut good_index);
                if bytes.get(at) == Some(&b'*') {
                    at += 1;
                    let (precision, next) = self.int_operand(operand);
                    operand = next;
                    match precision {
                        Some(p) if p >= 0 => self.flags.precision = usize::try_from(p).ok(),
                        _ => self.out.push_str("%!(BADPREC)"),
                    }
                    after_index = false;
                } else {
                    let (precision, next) = parse_number(bytes, at);
                    at = next;
                    self.flags.precision = Some(precision.unwrap_or(0));
                }
            }
            if !after_index {
                (operand, at, _) = self.index(bytes, at, operand, &mut reordered, &mut good_index);
            }
            let Some(verb) = format.get(at..).and_then(|rest| rest.chars().next()) else {
                self.out.push_str("%!(NOVERB)");
                break;
            };
            at += verb.len_utf8();
            match self.operands.get(operand) {
                _ if verb == '%' => self.out.push('%'),
                _ if !good_index => self.out.push_str(&format!("%!{verb}(BADINDEX)")),
                None => self.out.push_str(&format!("%!{verb}(MISSING)")),
                Some(arg) => {
                    if verb == 'v' {
                        self.flags.sharp_v = self.flags.sharp;
                        self.flags.sharp = false;
                        self.flags.plus_v = self.flags.plus;
                        self.flags.plus = false;
                    }
                    self.operand(arg, verb, false)?;
                    operand += 1;
                }
            }
        }
        if !reordered && operand < self.operands.len() {
            self.flags = Flags::default();
            self.out.push_str("%!(EXTRA ");
            for (i, arg) in self.operands.iter().enumerate().skip(operand) {
                if i > operand {
                    self.out.push_str(", ");
                }
                self.out.push_str(arg.type_name());
                self.out.push('=');
                self.operand(arg, 'v', false)?;
            }
            self.out.push(')');
        }
        Ok(())
    }

    /// Go's `argNumber`: an explicit index `[n]` at `at`, if any.
    fn index(
        &self,
        format: &[u8],
        at: usize,
        operand: usize,
        reordered: &mut bool,
        good_index: &mut bool,
    ) -> (usize, usize, bool) {
        if format.get(at) != Some(&b'[') {
            return (operand, at, false);
        }
        *reordered = true;
        // Go's parseArgNumber: at least `[n]`, the number up to the first `]`.
        let rest = format.get(at..).unwrap_or_default();
        let parsed = match rest.iter().position(|b| *b == b']') {
            Some(close) if rest.len() >= 3 => match parse_number(rest, 1) {
                (Some(n), end) if end == close => (Some(n), close + 1),
                _ => (None, close + 1),
            },
            _ => (None, 1),
        };
        match parsed {
            (Some(n), consumed) if n >= 1 && n - 1 < self.operands.len() => {
                (n - 1, at + consumed, true)
            }
            (found, consumed) => {
                *good_index = false;
                (operand, at + consumed, found.is_some())
            }
        }
    }

    /// Go's `intFromArg`: operand `at` as a width or precision (`None` when it is not an
    /// integer, or too large), and the next operand.
    fn int_operand(&self, at: usize) -> (Option<i64>, usize) {
        match self.operands.get(at) {
            None => (None, at),
            Some(Operand::Int(n)) if n.unsigned_abs() <= MAX_NUMBER as u64 => (Some(*n), at + 1),
            Some(_) => (None, at + 1),
        }
    }

    /// Go's `printArg`; `erroring` inside an error text (no `Format` methods then).
    fn operand(&mut self, arg: &Operand, verb: char, erroring: bool) -> Result<(), Unrepeatable> {
        match (verb, arg) {
            ('T', arg) => self.fmt_s(arg.type_name()),
            ('p', Operand::Big(_)) => return Err(Unrepeatable),
            ('p', arg) => self.bad_verb(arg, verb)?,
            (_, Operand::Int(n)) => self.integer(arg, *n, verb)?,
            (_, Operand::Float(f)) => self.float(arg, *f, verb)?,
            (_, Operand::Text(s)) => self.string(arg, s, verb)?,
            (_, Operand::Big(n)) if !erroring => self.big(n, verb),
            (_, Operand::Big(n)) => self.out.push_str(&n.to_string()),
        }
        Ok(())
    }

    /// Go's `badVerb`: `%!verb(type=value)`.
    fn bad_verb(&mut self, arg: &Operand, verb: char) -> Result<(), Unrepeatable> {
        self.out.push_str("%!");
        self.out.push(verb);
        self.out.push('(');
        self.out.push_str(arg.type_name());
        self.out.push('=');
        self.operand(arg, 'v', true)?;
        self.out.push(')');
        Ok(())
    }

    /// Go's `fmt.writePadding`.
    fn padding(&mut self, count: usize) {
        let fill = if self.flags.zero && !self.flags.minus {
            '0'
        } else {
            ' '
        };
        self.out.extend(std::iter::repeat_n(fill, count));
    }

    /// Go's `fmt.pad`: to the width, on the left (or the right with `-`).
    fn pad_str(&mut self, text: &str) {
        let missing = self
            .flags
            .width
            .map_or(0, |w| w.saturating_sub(text.chars().count()));
        if !self.flags.minus {
            self.padding(missing);
        }
        self.out.push_str(text);
        if self.flags.minus {
            self.padding(missing);
        }
    }

    /// Go's `fmt.fmtS`: cut to the precision (in characters), then padded.
    fn fmt_s(&mut self, text: &str) {
        let cut = match self.flags.precision {
            Some(p) => text
                .char_indices()
                .nth(p)
                .map_or(text, |(at, _)| text.get(..at).unwrap_or(text)),
            None => text,
        };
        self.pad_str(cut);
    }

    /// [`Self::pad_str`] with the zero flag off.
    fn pad_no_zero(&mut self, text: &str) {
        let zero = std::mem::replace(&mut self.flags.zero, false);
        self.pad_str(text);
        self.flags.zero = zero;
    }

    /// Go's `pp.fmtString`.
    fn string(&mut self, arg: &Operand, s: &str, verb: char) -> Result<(), Unrepeatable> {
        match verb {
            'v' if self.flags.sharp_v => self.quoted(s),
            'v' | 's' => self.fmt_s(s),
            'x' | 'X' => self.hex_string(s, verb == 'X'),
            'q' => self.quoted(s),
            _ => self.bad_verb(arg, verb)?,
        }
        Ok(())
    }

    /// Go's `fmt.fmtQ`.
    fn quoted(&mut self, s: &str) {
        let s = match self.flags.precision {
            Some(p) => s
                .char_indices()
                .nth(p)
                .map_or(s, |(at, _)| s.get(..at).unwrap_or(s)),
            None => s,
        };
        if self.flags.sharp && can_backquote(s) {
            self.pad_str(&format!("`{s}`"));
        } else {
            let quoted = quote(s, self.flags.plus);
            self.pad_str(&quoted);
        }
    }

    /// Go's `fmt.fmtSbx` for a string.
    fn hex_string(&mut self, s: &str, upper: bool) {
        let flags = self.flags;
        let bytes = s.as_bytes();
        let length = flags.precision.map_or(bytes.len(), |p| p.min(bytes.len()));
        let mut width = 2 * length;
        if width == 0 {
            self.padding(flags.width.unwrap_or(0));
            return;
        }
        if flags.space {
            if flags.sharp {
                width *= 2;
            }
            width += length - 1;
        } else if flags.sharp {
            width += 2;
        }
        let missing = flags.width.map_or(0, |w| w.saturating_sub(width));
        if !flags.minus {
            self.padding(missing);
        }
        let prefix = if upper { "0X" } else { "0x" };
        if flags.sharp {
            self.out.push_str(prefix);
        }
        for (i, byte) in bytes.iter().take(length).enumerate() {
            if flags.space && i > 0 {
                self.out.push(' ');
                if flags.sharp {
                    self.out.push_str(prefix);
                }
            }
            match upper {
                true => self.out.push_str(&format!("{byte:02X}")),
                false => self.out.push_str(&format!("{byte:02x}")),
            }
        }
        if flags.minus {
            self.padding(missing);
        }
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use Operand::{Big, Int, Text};

    pub(super) fn go(format: &str, operands: &[Operand]) -> String {
        sprintf(format, operands).unwrap()
    }

    fn text(s: &str) -> Operand {
        Text(s.to_string())
    }

    /// `operand` once for each verb of `format`.
    pub(super) fn each(format: &str, operand: Operand) -> Vec<Operand> {
        vec![operand; format.matches('%').count()]
    }

    #[test]
    fn errors_are_written_as_go_writes_them() {
        assert_eq!(
            go("abc", &[Int(1), text("a")]),
            "abc%!(EXTRA int64=1, string=a)"
        );
        assert_eq!(go("%d %d", &[Int(1)]), "1 %!d(MISSING)");
        assert_eq!(go("%!", &[Int(1)]), "%!!(int64=1)");
        assert_eq!(go("%", &[Int(1)]), "%!(NOVERB)%!(EXTRA int64=1)");
        assert_eq!(go("%z", &[Int(1)]), "%!z(int64=1)");
        assert_eq!(go("%d", &[text("a")]), "%!d(string=a)");
        assert_eq!(go("%[3]d", &[Int(1), Int(2)]), "%!d(BADINDEX)");
        assert_eq!(go("%[2]d %[1]d", &[Int(1), Int(2)]), "2 1");
        assert_eq!(go("%[1]d", &[Int(1), Int(2)]), "1");
        assert_eq!(go("%*d", &[text("a"), Int(2)]), "%!(BADWIDTH)2");
        assert_eq!(go("%*d", &[Int(3), Int(2), Int(5)]), "  2%!(EXTRA int64=5)");
        assert_eq!(go("%-*d|", &[Int(-3), Int(2)]), "2  |");
        assert_eq!(go("%.*d", &[Int(-1), Int(2)]), "%!(BADPREC)2");
        assert_eq!(go("%5z", &[Int(1)]), "%!z(int64=    1)");
        assert_eq!(go("%p", &[Int(1)]), "%!p(int64=1)");
        assert_eq!(sprintf("%p", &[Big(BigInt::from(1))]), Err(Unrepeatable));
    }

    #[test]
    fn strings_as_go() {
        let s = |format: &str, v: &str| go(format, &each(format, text(v)));
        assert_eq!(s("%05s|%-5s|%.2s", "ab"), "000ab|ab   |ab");
        assert_eq!(
            s("%x|%X|%#x|% x|%08x|% #x", "hi"),
            "6869|6869|0x6869|68 69|00006869|0x68 0x69"
        );
        assert_eq!(s("%q|%+q|%#q", "é\n"), "\"é\\n\"|\"\\u00e9\\n\"|\"é\\n\"");
        assert_eq!(s("%#q", "a"), "`a`");
        assert_eq!(s("%.1s|%3.1s|", "éa"), "é|  é|");
        assert_eq!(s("%5x|", ""), "     |");
    }
}
