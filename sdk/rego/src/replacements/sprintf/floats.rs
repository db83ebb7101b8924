//! Go's `strconv.FormatFloat` for 64-bit floats: `%b`, `%e`, `%f`, `%g` and `%x`, shortest
//! (precision -1) or to a precision. Decimal digits come from Rust's formatting, which is
//! exact and rounds a tie to even, as Go's does; Go's layout of them is applied here.

/// Decimal digits of a number, without trailing zeros, and where the point is: the value is
/// `0.digits × 10^point`.
struct Digits {
    digits: Vec<u8>,
    point: i32,
}

impl Digits {
    /// Rust's `{:e}` text (`1.2345e-5`) of a positive number, as digits.
    fn from_exponential(text: &str) -> Self {
        let (mantissa, exponent) = text.split_once('e').unwrap_or((text, "0"));
        let exponent: i32 = exponent.parse().unwrap_or(0);
        let mut digits: Vec<u8> = mantissa.bytes().filter(u8::is_ascii_digit).collect();
        while digits.last() == Some(&b'0') {
            digits.pop();
        }
        match digits.is_empty() {
            // Zero: no digits.
            true => Self { digits, point: 0 },
            false => Self {
                digits,
                point: exponent + 1,
            },
        }
    }

    /// The shortest digits that read back as `v`.
    fn shortest(v: f64) -> Self {
        Self::from_exponential(&format!("{:e}", v.abs()))
    }

    /// `v` rounded to `count` significant digits.
    fn significant(v: f64, count: usize) -> Self {
        Self::from_exponential(&format!("{:.*e}", count.saturating_sub(1), v.abs()))
    }

    fn len(&self) -> i32 {
        i32::try_from(self.digits.len()).unwrap_or(i32::MAX)
    }

    fn at(&self, index: i32) -> u8 {
        usize::try_from(index)
            .ok()
            .and_then(|i| self.digits.get(i))
            .copied()
            .unwrap_or(b'0')
    }

    /// Go's `fmtE`.
    fn exponential(&self, out: &mut String, precision: i32, letter: char) {
        out.push(char::from(self.at(0)));
        if precision > 0 {
            out.push('.');
            for i in 1..=precision {
                out.push(char::from(self.at(i)));
            }
        }
        out.push(letter);
        let exponent = if self.digits.is_empty() {
            0
        } else {
            self.point - 1
        };
        out.push(if exponent < 0 { '-' } else { '+' });
        let exponent = exponent.unsigned_abs();
        if exponent < 10 {
            out.push('0');
        }
        out.push_str(&exponent.to_string());
    }

    /// Go's `fmtF`.
    fn fixed(&self, out: &mut String, precision: i32) {
        if self.point > 0 {
            for i in 0..self.point {
                out.push(char::from(self.at(i)));
            }
        } else {
            out.push('0');
        }
        if precision > 0 {
            out.push('.');
            for i in 1..=precision {
                let index = self.point + i - 1;
                let digit = if (0..self.len()).contains(&index) {
                    self.at(index)
                } else {
                    b'0'
                };
                out.push(char::from(digit));
            }
        }
    }
}

/// `v` as Go's `strconv.FormatFloat(v, format, precision, 64)` writes it (precision < 0: the
/// shortest that reads back). `v` is finite.
pub(super) fn format_float(v: f64, format: char, precision: i32) -> String {
    let mut out = String::new();
    if v.is_sign_negative() {
        out.push('-');
    }
    let shortest = precision < 0;
    match format {
        'b' => binary(&mut out, v),
        'x' | 'X' => hexadecimal(&mut out, v, precision, format),
        'f' if !shortest => out.push_str(&format!(
            "{:.*}",
            usize::try_from(precision).unwrap_or(0),
            v.abs()
        )),
        'f' => {
            let digits = Digits::shortest(v);
            let precision = (digits.len() - digits.point).max(0);
            digits.fixed(&mut out, precision);
        }
        'e' | 'E' => {
            let digits = match shortest {
                true => Digits::shortest(v),
                false => Digits::significant(v, usize::try_from(precision).unwrap_or(0) + 1),
            };
            let precision = match shortest {
                true => (digits.len() - 1).max(0),
                false => precision,
            };
            digits.exponential(&mut out, precision, format);
        }
        _ => general(&mut out, v, precision, format),
    }
    out
}

/// `%g` / `%G`: exponential for large and small exponents, else fixed (Go's `formatDigits`).
fn general(out: &mut String, v: f64, precision: i32, format: char) {
    let shortest = precision < 0;
    let (digits, mut precision) = match shortest {
        true => {
            let digits = Digits::shortest(v);
            let precision = digits.len();
            (digits, precision)
        }
        false => {
            let precision = precision.max(1);
            let count = usize::try_from(precision).unwrap_or(1);
            (Digits::significant(v, count), precision)
        }
    };
    let mut exponent_limit = precision;
    if exponent_limit > digits.len() && digits.len() >= digits.point {
        exponent_limit = digits.len();
    }
    if shortest {
        exponent_limit = 6;
    }
    let exponent = digits.point - 1;
    let letter = if format == 'G' { 'E' } else { 'e' };
    if exponent < -4 || exponent >= exponent_limit {
        if precision > digits.len() {
            precision = digits.len();
        }
        digits.exponential(out, precision - 1, letter);
        return;
    }
    if precision > digits.point {
        precision = digits.len();
    }
    digits.fixed(out, (precision - digits.point).max(0));
}

/// The mantissa (with its hidden bit) and binary exponent of a finite `v`, as Go unpacks it.
fn parts(v: f64) -> (u64, i32) {
    let bits = v.to_bits();
    let biased = i32::try_from((bits >> 52) & 0x7ff).unwrap_or(0);
    let fraction = bits & ((1 << 52) - 1);
    match biased {
        0 => (fraction, 1 - 1023),
        _ => (fraction | 1 << 52, biased - 1023),
    }
}

/// `%b`: the mantissa, `p`, the exponent (Go's `fmtB`).
fn binary(out: &mut String, v: f64) {
    let (mantissa, exponent) = parts(v);
    let exponent = exponent - 52;
    out.push_str(&format!(
        "{mantissa}p{}{exponent}",
        if exponent >= 0 { "+" } else { "" }
    ));
}

/// `%x`: `0x1.8p+00`, rounded to `precision` hex digits (Go's `fmtX`).
fn hexadecimal(out: &mut String, v: f64, precision: i32, format: char) {
    let (mut mantissa, mut exponent) = parts(v);
    if mantissa == 0 {
        exponent = 0;
    }
    // The leading 1 (if any) at bit 60.
    mantissa <<= 60 - 52;
    while mantissa != 0 && mantissa & (1 << 60) == 0 {
        mantissa <<= 1;
        exponent -= 1;
    }
    if (0..15).contains(&precision) {
        let shift = u32::try_from(precision * 4).unwrap_or(0);
        let extra = (mantissa << shift) & ((1 << 60) - 1);
        mantissa >>= 60 - shift;
        if extra | (mantissa & 1) > 1 << 59 {
            mantissa += 1;
        }
        mantissa <<= 60 - shift;
        if mantissa & (1 << 61) != 0 {
            mantissa >>= 1;
            exponent += 1;
        }
    }
    let digits: &[u8] = match format {
        'X' => b"0123456789ABCDEF",
        _ => b"0123456789abcdef",
    };
    let hex = |m: u64| {
        char::from(
            digits
                .get(usize::try_from((m >> 60) & 15).unwrap_or(0))
                .copied()
                .unwrap_or(b'0'),
        )
    };
    out.push('0');
    out.push(format);
    out.push(char::from(
        b'0' + u8::try_from((mantissa >> 60) & 1).unwrap_or(0),
    ));
    mantissa <<= 4;
    if precision < 0 && mantissa != 0 {
        out.push('.');
        while mantissa != 0 {
            out.push(hex(mantissa));
            mantissa <<= 4;
        }
    } else if precision > 0 {
        out.push('.');
        for _ in 0..precision {
            out.push(hex(mantissa));
            mantissa <<= 4;
        }
    }
    out.push(if format == 'X' { 'P' } else { 'p' });
    out.push(if exponent < 0 { '-' } else { '+' });
    let exponent = exponent.unsigned_abs();
    if exponent < 10 {
        out.push('0');
    }
    out.push_str(&exponent.to_string());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_as_go_writes_them() {
        let f = format_float;
        assert_eq!(f(1234.5678, 'e', 6), "1.234568e+03");
        assert_eq!(f(0.00001234, 'g', 3), "1.23e-05");
        assert_eq!(f(1.5, 'e', 2), "1.50e+00");
        assert_eq!(f(1e-7, 'G', -1), "1E-07");
        assert_eq!(f(1.5, 'x', -1), "0x1.8p+00");
        assert_eq!(f(1.5, 'x', 3), "0x1.800p+00");
        assert_eq!(f(1.5, 'b', -1), "6755399441055744p-52");
        assert_eq!(f(3.14158, 'f', 3), "3.142");
        assert_eq!(f(-2.5, 'f', 0), "-2");
        assert_eq!(f(1e21, 'g', -1), "1e+21");
        assert_eq!(f(100_000.0, 'g', -1), "100000");
        assert_eq!(f(1_000_000.0, 'g', -1), "1e+06");
        assert_eq!(f(0.0001, 'g', -1), "0.0001");
        assert_eq!(f(0.00001, 'g', -1), "1e-05");
        assert_eq!(f(1.0, 'g', 3), "1");
        assert_eq!(f(100.0, 'g', 2), "1e+02");
        assert_eq!(f(123_456.0, 'g', 3), "1.23e+05");
        assert_eq!(f(0.1, 'f', -1), "0.1");
        assert_eq!(f(1.5, 'e', -1), "1.5e+00");
        assert_eq!(f(2.675, 'f', 2), "2.67");
        assert_eq!(f(1e300, 'e', -1), "1e+300");
    }
}
