//! The number verbs of Go's `fmt` on an `int64` (`pp.fmtInteger`, `fmt.fmtInteger`,
//! `fmtUnicode`), a `*big.Int` (its `Format` method) and a `float64` (`fmt.fmtFloat`).

use num_bigint::{BigInt, Sign};

use super::super::floats::format_float;
use super::super::quote::{is_print, quote_rune};
use super::{Operand, Printer, Unrepeatable};

impl Printer<'_> {
    /// Go's `pp.fmtInteger` for an `int64`.
    pub(super) fn integer(
        &mut self,
        arg: &Operand,
        n: i64,
        verb: char,
    ) -> Result<(), Unrepeatable> {
        let unsigned = n as u64;
        match verb {
            'v' | 'd' => self.digits(n, 10, verb, false),
            'b' => self.digits(n, 2, verb, false),
            'o' | 'O' => self.digits(n, 8, verb, false),
            'x' => self.digits(n, 16, verb, false),
            'X' => self.digits(n, 16, verb, true),
            'c' => {
                let c = u32::try_from(unsigned).ok().and_then(char::from_u32);
                self.pad_str(&c.unwrap_or(char::REPLACEMENT_CHARACTER).to_string());
            }
            'q' => {
                let c = u32::try_from(unsigned).ok().and_then(char::from_u32);
                let quoted = quote_rune(c.unwrap_or(char::REPLACEMENT_CHARACTER), self.flags.plus);
                self.pad_str(&quoted);
            }
            'U' => self.unicode(unsigned),
            _ => self.bad_verb(arg, verb)?,
        }
        Ok(())
    }

    /// Go's `fmt.fmtInteger`.
    fn digits(&mut self, n: i64, base: u32, verb: char, upper: bool) {
        let negative = n < 0;
        let magnitude = n.unsigned_abs();
        let flags = self.flags;
        let mut precision = 0usize;
        match flags.precision {
            Some(0) if magnitude == 0 => {
                let zero = std::mem::replace(&mut self.flags.zero, false);
                self.padding(flags.width.unwrap_or(0));
                self.flags.zero = zero;
                return;
            }
            Some(p) => precision = p,
            None if flags.zero && !flags.minus && flags.width.is_some() => {
                precision = flags.width.unwrap_or(0);
                if negative || flags.plus || flags.space {
                    precision = precision.saturating_sub(1);
                }
            }
            None => {}
        }
        let mut digits = match base {
            2 => format!("{magnitude:b}"),
            8 => format!("{magnitude:o}"),
            16 if upper => format!("{magnitude:X}"),
            16 => format!("{magnitude:x}"),
            _ => magnitude.to_string(),
        };
        if digits.len() < precision {
            digits.insert_str(0, &"0".repeat(precision - digits.len()));
        }
        let mut prefix = String::new();
        if flags.sharp {
            match base {
                2 => prefix.push_str("0b"),
                8 if !digits.starts_with('0') => prefix.push('0'),
                16 => prefix.push_str(if upper { "0X" } else { "0x" }),
                _ => {}
            }
        }
        if verb == 'O' {
            prefix.insert_str(0, "0o");
        }
        if negative {
            prefix.insert(0, '-');
        } else if flags.plus {
            prefix.insert(0, '+');
        } else if flags.space {
            prefix.insert(0, ' ');
        }
        prefix.push_str(&digits);
        self.pad_no_zero(&prefix);
    }

    /// Go's `fmt.fmtUnicode`: `U+0041`, and ` 'A'` with `#`.
    fn unicode(&mut self, code: u64) {
        let width = self.flags.precision.filter(|p| *p > 4).unwrap_or(4);
        let mut text = format!("U+{code:0width$X}");
        if self.flags.sharp {
            if let Some(c) = u32::try_from(code)
                .ok()
                .and_then(char::from_u32)
                .filter(|c| is_print(*c))
            {
                text.push_str(&format!(" '{c}'"));
            }
        }
        self.pad_no_zero(&text);
    }

    /// Go's `pp.fmtFloat` and `fmt.fmtFloat`.
    pub(super) fn float(&mut self, arg: &Operand, v: f64, verb: char) -> Result<(), Unrepeatable> {
        let (format, default_precision) = match verb {
            'v' => ('g', -1),
            'b' | 'g' | 'G' | 'x' | 'X' => (verb, -1),
            'f' | 'e' | 'E' => (verb, 6),
            'F' => ('f', 6),
            _ => return self.bad_verb(arg, verb),
        };
        let precision = self
            .flags
            .precision
            .map_or(default_precision, |p| i32::try_from(p).unwrap_or(i32::MAX));
        let text = format_float(v, format, precision);
        let flags = self.flags;
        let (mut sign, mut number) = match text.strip_prefix('-') {
            Some(rest) => ('-', rest.to_string()),
            None => ('+', text),
        };
        if flags.space && sign == '+' && !flags.plus {
            sign = ' ';
        }
        if flags.sharp && format != 'b' {
            number = sharp_float(&number, format, precision);
        }
        if flags.plus || sign != '+' {
            let length = number.chars().count() + 1;
            if flags.zero && !flags.minus && flags.width.is_some_and(|w| w > length) {
                self.out.push(sign);
                self.padding(flags.width.unwrap_or(0) - length);
                self.out.push_str(&number);
            } else {
                self.pad_str(&format!("{sign}{number}"));
            }
            return Ok(());
        }
        self.pad_str(&number);
        Ok(())
    }

    /// `*big.Int`'s `Format`.
    pub(super) fn big(&mut self, n: &BigInt, verb: char) {
        let base = match verb {
            'b' => 2,
            'o' | 'O' => 8,
            'd' | 's' | 'v' => 10,
            'x' | 'X' => 16,
            _ => {
                self.out.push_str(&format!("%!{verb}(big.Int={n})"));
                return;
            }
        };
        let flags = self.flags;
        let sign = match (n.sign(), flags.plus || flags.plus_v, flags.space) {
            (Sign::Minus, _, _) => "-",
            (_, true, _) => "+",
            (_, _, true) => " ",
            _ => "",
        };
        let mut prefix = match (flags.sharp || flags.sharp_v, verb) {
            (true, 'b') => "0b",
            (true, 'o') => "0",
            (true, 'x') => "0x",
            (true, 'X') => "0X",
            _ => "",
        };
        if verb == 'O' {
            prefix = "0o";
        }
        let mut digits = n.magnitude().to_str_radix(base);
        if verb == 'X' {
            digits = digits.to_ascii_uppercase();
        }
        let mut zeros = 0;
        if let Some(precision) = flags.precision {
            if digits.len() < precision {
                zeros = precision - digits.len();
            } else if digits == "0" && precision == 0 {
                return;
            }
        }
        let length = sign.len() + prefix.len() + zeros + digits.len();
        let (mut left, mut right) = (0, 0);
        if let Some(width) = flags.width.filter(|w| *w > length) {
            let missing = width - length;
            if flags.minus {
                right = missing;
            } else if flags.zero && flags.precision.is_none() {
                zeros = missing;
            } else {
                left = missing;
            }
        }
        self.out.extend(std::iter::repeat_n(' ', left));
        self.out.push_str(sign);
        self.out.push_str(prefix);
        self.out.extend(std::iter::repeat_n('0', zeros));
        self.out.push_str(&digits);
        self.out.extend(std::iter::repeat_n(' ', right));
    }
}

/// Go's `#` flag on a float (`fmt.fmtFloat`): a point always, and for `%g` and `%x` trailing
/// zeros up to the precision (6 when none is given).
fn sharp_float(number: &str, verb: char, precision: i32) -> String {
    let mut digits: i32 = match verb {
        'v' | 'g' | 'G' | 'x' if precision == -1 => 6,
        'v' | 'g' | 'G' | 'x' => precision,
        _ => 0,
    };
    let mut body = String::with_capacity(number.len() + 8);
    let mut tail = "";
    let (mut has_point, mut saw_nonzero) = (false, false);
    for (at, c) in number.char_indices() {
        match c {
            '.' => has_point = true,
            'p' | 'P' => {
                tail = number.get(at..).unwrap_or_default();
                break;
            }
            'e' | 'E' if verb != 'x' && verb != 'X' => {
                tail = number.get(at..).unwrap_or_default();
                break;
            }
            c => {
                saw_nonzero |= c != '0';
                if saw_nonzero {
                    digits -= 1;
                }
            }
        }
        body.push(c);
    }
    if !has_point {
        if body == "0" {
            digits -= 1;
        }
        body.push('.');
    }
    for _ in 0..digits.max(0) {
        body.push('0');
    }
    body.push_str(tail);
    body
}

#[cfg(test)]
mod tests {
    use super::super::tests::{each, go};
    use super::super::Operand::{Big, Float, Int};
    use num_bigint::BigInt;

    #[test]
    fn integers_as_go() {
        let n = |format: &str, v: i64| go(format, &each(format, Int(v)));
        assert_eq!(n("%d|%x|%o|%b|%O", -42), "-42|-2a|-52|-101010|-0o52");
        assert_eq!(
            n("%08d|%-8d|%+d|%.5d|%8.5d", -42),
            "-0000042|-42     |-42|-00042|  -00042"
        );
        assert_eq!(n("%#x|%#X|%#o|%#b", 255), "0xff|0XFF|0377|0b11111111");
        assert_eq!(n("%c|%U|%#U|%q", 233), "é|U+00E9|U+00E9 'é'|'é'");
        assert_eq!(n("%c|%q", -1), "\u{fffd}|'\u{fffd}'");
        assert_eq!(n("%U", -1), "U+FFFFFFFFFFFFFFFF");
        assert_eq!(n("%.0d|%5.0d|", 0), "|     |");
        assert_eq!(n("%+v|%#v|% d", 5), "5|5| 5");
        assert_eq!(n("%T|%6T|", 5), "int64| int64|");
    }

    #[test]
    fn big_integers_as_go() {
        let big = |format: &str| {
            go(
                format,
                &each(format, Big(BigInt::from(u64::MAX) + BigInt::from(1))),
            )
        };
        assert_eq!(
            big("%d|%x|%s|%v"),
            "18446744073709551616|10000000000000000|18446744073709551616|18446744073709551616"
        );
        assert_eq!(big("%+d|%.30d|%z|%T"), "+18446744073709551616|000000000018446744073709551616|%!z(big.Int=18446744073709551616)|*big.Int");
        assert_eq!(
            big("%25d|%-25d|%025d"),
            "     18446744073709551616|18446744073709551616     |0000018446744073709551616"
        );
        assert_eq!(
            go("%v", &[Big(-(BigInt::from(u64::MAX) + BigInt::from(1)))]),
            "-18446744073709551616"
        );
    }

    #[test]
    fn floats_as_go() {
        let f = |format: &str, v: f64| go(format, &each(format, Float(v)));
        assert_eq!(
            f("%v|%g|%e|%.2e|%G", 1.5),
            "1.5|1.5|1.500000e+00|1.50e+00|1.5"
        );
        assert_eq!(
            f("%10.3f|%-10.2f|%+.1e", 3.14158),
            "     3.142|3.14      |+3.1e+00"
        );
        assert_eq!(
            f("%#g|%#.3x|%x|%b", 1.5),
            "1.50000|0x1.800p+00|0x1.8p+00|6755399441055744p-52"
        );
        assert_eq!(f("%08.2f|%+08.2f|% .2f", -1.5), "-0001.50|-0001.50|-1.50");
        assert_eq!(f("%08.2f|% .2f|%+.2f", 1.5), "00001.50| 1.50|+1.50");
        assert_eq!(f("%d", 1.5), "%!d(float64=1.5)");
        assert_eq!(f("%v", 1e21), "1e+21");
        assert_eq!(f("%#.0f|%#e", 2.0), "2.|2.000000e+00");
    }
}
