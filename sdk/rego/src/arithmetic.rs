//! `+ - * / %` on numbers as OPA v1.20 computes them.
//!
//! An OPA number is its decimal text. An operation on two integers (`1.0` and `1.5e300` are
//! integers) is exact, but for a division that does not come out whole or leaves the int32
//! range; anything else is computed on binary floats with a 64-bit mantissa (Go's `big.Float`
//! at its default precision), and the result is written as the shortest decimal that reads back
//! to the same float. So `0.1 + 0.2` is `0.3`, `2^62 + 1e-9` is `2^62`, `big + 0.5 - big` keeps
//! the digits OPA keeps, and `1.5e300 % 7` is computed on the integer `1.5e300` stands for.
//!
//! regorus computes the same operations on 64-bit floats once a fraction is involved: the
//! interpreter's operators are calls of these functions ([`super::operator_calls`]), and a
//! policy with arithmetic does not run on the VM. Operands and results travel as decimal text:
//! an integer result is exact (regorus holds integers of any size), a fraction is the 64-bit
//! float nearest to OPA's text.

use std::cmp::Ordering;

use anyhow::{bail, Result};
use num_bigint::{BigInt, BigUint, Sign};
use num_traits::{One, Signed, ToPrimitive, Zero};

/// An arithmetic operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Operator {
    Plus,
    Minus,
    Times,
    Divide,
    Remainder,
}

/// Mantissa bits of Go's `big.Float` at its default precision.
const MANTISSA_BITS: u64 = 64;

/// Binary exponents beyond this are refused: the value is beyond 10^2400, far past anything a
/// request or a policy holds (Palisade refuses data beyond ±1e308), and writing it out would
/// take long.
const MAX_BINARY_EXPONENT: i64 = 8_000;

/// `a <operator> b` for two numbers written as decimal text, written as decimal text (an
/// integer without exponent); an error where OPA's is one (division or modulo by zero, modulo
/// of a fraction).
pub(crate) fn apply(operator: Operator, a: &str, b: &str) -> Result<String> {
    let (Some(x), Some(y)) = (Decimal::parse(a), Decimal::parse(b)) else {
        bail!("not a number");
    };
    if let (Some(i), Some(j)) = (x.integer(), y.integer()) {
        if let Some(exact) = on_integers(operator, &i, &j)? {
            return Ok(exact.to_string());
        }
    }
    if operator == Operator::Remainder {
        bail!("modulo on floating-point number");
    }
    let (x, y) = (x.to_binary()?, y.to_binary()?);
    let result = match operator {
        Operator::Plus => x.add(&y),
        Operator::Minus => x.add(&y.negated()),
        Operator::Times => x.times(&y),
        _ if y.mantissa.is_zero() => bail!("divide by zero"),
        _ => x.divide(&y),
    }?;
    result.shortest_text()
}

/// The exact result on integers, or `None` where OPA goes on to floats: a division that does
/// not come out whole, of zero, or of operands beyond the int32 range.
fn on_integers(operator: Operator, a: &BigInt, b: &BigInt) -> Result<Option<BigInt>> {
    Ok(Some(match operator {
        Operator::Plus => a + b,
        Operator::Minus => a - b,
        Operator::Times => a * b,
        Operator::Remainder if b.is_zero() => bail!("modulo by zero"),
        Operator::Remainder => a % b,
        Operator::Divide if b.is_zero() => bail!("divide by zero"),
        Operator::Divide => {
            let small = |n: &BigInt| n.to_i32().is_some();
            if a.is_zero() || !small(a) || !small(b) || !(a % b).is_zero() {
                return Ok(None);
            }
            a / b
        }
    }))
}

/// An exact decimal: `digits × 10^exponent`, without trailing zeros in `digits`.
#[derive(Debug, PartialEq)]
struct Decimal {
    digits: BigInt,
    exponent: i64,
}

impl Decimal {
    /// `-12.5`, `1500`, `1e-9`, `2.5E+3`.
    fn parse(text: &str) -> Option<Decimal> {
        let (negative, rest) = match text.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, text.strip_prefix('+').unwrap_or(text)),
        };
        let (mantissa, exponent) = match rest.find(['e', 'E']) {
            Some(at) => (rest.get(..at)?, rest.get(at + 1..)?.parse::<i64>().ok()?),
            None => (rest, 0),
        };
        let (whole, fraction) = mantissa.split_once('.').unwrap_or((mantissa, ""));
        let all = [whole, fraction].concat();
        if all.is_empty() || !all.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        // Trailing zeros go to the exponent, as text: a number regorus holds may have many.
        let significant = all.trim_end_matches('0');
        let zeros = i64::try_from(all.len() - significant.len()).ok()?;
        let exponent = exponent
            .checked_sub(i64::try_from(fraction.len()).ok()?)?
            .checked_add(zeros)?;
        // Nothing regorus holds is written with such an exponent; computing 10^it would take
        // long.
        if exponent.unsigned_abs() > 100_000 {
            return None;
        }
        let digits = match significant.is_empty() {
            true => BigInt::zero(),
            false => BigInt::parse_bytes(significant.as_bytes(), 10)?,
        };
        Some(Decimal::normalized(
            if negative { -digits } else { digits },
            exponent,
        ))
    }

    fn normalized(mut digits: BigInt, mut exponent: i64) -> Decimal {
        if digits.is_zero() {
            return Decimal {
                digits,
                exponent: 0,
            };
        }
        let ten = BigInt::from(10u8);
        while (&digits % &ten).is_zero() {
            digits /= &ten;
            exponent = exponent.saturating_add(1);
        }
        Decimal { digits, exponent }
    }

    /// The integer this is, if it is one.
    fn integer(&self) -> Option<BigInt> {
        let exponent = u32::try_from(self.exponent).ok()?;
        Some(&self.digits * BigInt::from(10u8).pow(exponent))
    }

    /// The nearest binary float with a 64-bit mantissa.
    fn to_binary(&self) -> Result<Binary> {
        // Beyond this, the value is beyond MAX_BINARY_EXPONENT anyway.
        if self.exponent.unsigned_abs() > 2_400 {
            bail!("a number beyond 10^2400");
        }
        let negative = self.digits.is_negative();
        let digits = self.digits.magnitude().clone();
        let power = BigUint::from(10u8).pow(u32::try_from(self.exponent.unsigned_abs())?);
        match self.exponent >= 0 {
            true => Binary::nearest(negative, digits * power, BigUint::one()),
            false => Binary::nearest(negative, digits, power),
        }
    }
}

/// A binary float: `±mantissa × 2^exponent`, the mantissa of exactly 64 bits (or zero).
#[derive(Debug, PartialEq)]
struct Binary {
    negative: bool,
    mantissa: BigUint,
    exponent: i64,
}

impl Binary {
    /// The float with a 64-bit mantissa nearest to `±numerator / denominator` (ties to even).
    fn nearest(negative: bool, numerator: BigUint, denominator: BigUint) -> Result<Binary> {
        if numerator.is_zero() {
            return Ok(Binary {
                negative: false,
                mantissa: numerator,
                exponent: 0,
            });
        }
        let bits = |n: &BigUint| i64::try_from(n.bits()).unwrap_or(i64::MAX);
        let width = i64::try_from(MANTISSA_BITS)?;
        // The quotient scaled by 2^-exponent has 64 or 65 bits; one more halving if 65.
        let mut exponent = bits(&numerator) - bits(&denominator) - width;
        if exponent.abs() > MAX_BINARY_EXPONENT {
            bail!("a number beyond 2^{MAX_BINARY_EXPONENT}");
        }
        let scaled = |exponent: i64| -> (BigUint, BigUint) {
            let shift = exponent.unsigned_abs();
            match exponent >= 0 {
                true => (numerator.clone(), &denominator << shift),
                false => (&numerator << shift, denominator.clone()),
            }
        };
        let (mut n, mut d) = scaled(exponent);
        if n >= (&d << MANTISSA_BITS) {
            exponent += 1;
            (n, d) = scaled(exponent);
        }
        let mut mantissa = &n / &d;
        let twice_remainder = (&n % &d) << 1u8;
        if twice_remainder > d || (twice_remainder == d && mantissa.bit(0)) {
            mantissa += 1u8;
            // 2^64: the next binade's smallest mantissa.
            if mantissa.bits() > MANTISSA_BITS {
                mantissa >>= 1u8;
                exponent += 1;
            }
        }
        Ok(Binary {
            negative,
            mantissa,
            exponent,
        })
    }

    fn negated(&self) -> Binary {
        Binary {
            negative: !self.negative && !self.mantissa.is_zero(),
            mantissa: self.mantissa.clone(),
            exponent: self.exponent,
        }
    }

    fn signed(&self) -> BigInt {
        let sign = match self.negative {
            true => Sign::Minus,
            false => Sign::Plus,
        };
        BigInt::from_biguint(sign, self.mantissa.clone())
    }

    fn add(&self, other: &Binary) -> Result<Binary> {
        let low = self.exponent.min(other.exponent);
        let aligned = |x: &Binary| x.signed() << (x.exponent - low).unsigned_abs();
        let sum = aligned(self) + aligned(other);
        let (numerator, denominator) = power_of_two(sum.magnitude().clone(), low);
        Binary::nearest(sum.is_negative(), numerator, denominator)
    }

    fn times(&self, other: &Binary) -> Result<Binary> {
        let exponent = self.exponent.saturating_add(other.exponent);
        let (numerator, denominator) = power_of_two(&self.mantissa * &other.mantissa, exponent);
        Binary::nearest(self.negative != other.negative, numerator, denominator)
    }

    fn divide(&self, other: &Binary) -> Result<Binary> {
        let exponent = self.exponent.saturating_sub(other.exponent);
        let (numerator, over) = power_of_two(self.mantissa.clone(), exponent);
        Binary::nearest(
            self.negative != other.negative,
            numerator,
            over * &other.mantissa,
        )
    }

    /// The shortest decimal that reads back to this float, as Go's `Text('g', -1)` finds it,
    /// written as an integer when it is one.
    fn shortest_text(&self) -> Result<String> {
        if self.mantissa.is_zero() {
            return Ok("0".into());
        }
        // Exactly: value = whole / 10^scale.
        let scale = u32::try_from((-self.exponent).max(0))?;
        let whole = match self.exponent >= 0 {
            true => &self.mantissa << self.exponent.unsigned_abs(),
            false => &self.mantissa * BigUint::from(5u8).pow(scale),
        };
        let all = whole.to_str_radix(10);
        let length = i64::try_from(all.len())?;
        // The floats next to this one are a mantissa unit away; any decimal closer than half a
        // unit reads back to this one (the bounds too when the mantissa is even, as Go rounds
        // ties to even).
        let twice = &self.mantissa << 1u8;
        let lower = (&twice - 1u8, self.exponent - 1);
        let upper = (&twice + 1u8, self.exponent - 1);
        let inclusive = !self.mantissa.bit(0);
        for kept in 1..=all.len() {
            let (digits, exponent) = rounded(&all, kept)?;
            let exponent = exponent + length - i64::from(scale);
            let above_lower = compare(&digits, exponent, &lower.0, lower.1);
            let below_upper = compare(&digits, exponent, &upper.0, upper.1);
            let inside = match inclusive {
                true => above_lower.is_ge() && below_upper.is_le(),
                false => above_lower.is_gt() && below_upper.is_lt(),
            };
            if inside {
                let sign = if self.negative { "-" } else { "" };
                let decimal = Decimal::normalized(BigInt::from(digits), exponent);
                return Ok(match decimal.integer() {
                    Some(integer) => format!("{sign}{integer}"),
                    None => format!("{sign}{}e{}", decimal.digits, decimal.exponent),
                });
            }
        }
        bail!("no decimal reads back to the float")
    }
}

/// `mantissa × 2^exponent` as a numerator and a denominator.
fn power_of_two(mantissa: BigUint, exponent: i64) -> (BigUint, BigUint) {
    let shift = exponent.unsigned_abs();
    match exponent >= 0 {
        true => (mantissa << shift, BigUint::one()),
        false => (mantissa, BigUint::one() << shift),
    }
}

/// The first `kept` digits of the decimal digits `all`, rounded half to even on the rest, and
/// the power of ten they are scaled by relative to `all`'s length (`-kept`; a carry makes the
/// digits one longer, `999` kept to one is `10`, and the value stays right).
fn rounded(all: &str, kept: usize) -> Result<(BigUint, i64)> {
    let (head, rest) = all.split_at_checked(kept).unwrap_or((all, ""));
    let Some(mut digits) = BigUint::parse_bytes(head.as_bytes(), 10) else {
        bail!("not digits");
    };
    let up = match rest.as_bytes().first() {
        Some(b'6'..=b'9') => true,
        Some(b'5') => rest.bytes().skip(1).any(|b| b != b'0') || digits.bit(0),
        _ => false,
    };
    if up {
        digits += 1u8;
    }
    Ok((digits, -i64::try_from(kept)?))
}

/// `digits × 10^exponent` against `binary × 2^power`.
fn compare(digits: &BigUint, exponent: i64, binary: &BigUint, power: i64) -> Ordering {
    let ten = |e: i64| BigUint::from(10u8).pow(u32::try_from(e.max(0)).unwrap_or(u32::MAX));
    let left = (digits * ten(exponent)) << power.min(0).unsigned_abs();
    let right = (binary * ten(-exponent)) << power.max(0).unsigned_abs();
    left.cmp(&right)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opa(operator: Operator, a: &str, b: &str) -> String {
        apply(operator, a, b).unwrap()
    }

    // Every expected answer is OPA v1.20.2's, `json.marshal(<a> <op> <b>)` (the oracle the
    // differential suite runs, `tests/opa`), written as this module writes numbers.
    #[test]
    fn fractions_are_computed_on_64_bit_mantissas_and_written_shortest() {
        use Operator::*;
        assert_eq!(opa(Plus, "0.1", "0.2"), "3e-1");
        assert_eq!(opa(Times, "0.1", "3"), "3e-1");
        assert_eq!(opa(Divide, "1", "3"), "33333333333333333334e-20");
        assert_eq!(opa(Divide, "2", "3"), "6666666666666666667e-19");
        assert_eq!(opa(Divide, "7", "2"), "35e-1");
        assert_eq!(opa(Times, "1e-9", "1e-9"), "1e-18");
        assert_eq!(opa(Times, "1e-300", "1e-300"), "99999999999999999994e-620");
        assert_eq!(
            opa(Minus, "12345678901234567890123", "0.1"),
            "12345678901234567890000"
        );
    }

    #[test]
    fn integers_are_exact_and_a_float_result_keeps_opas_digits() {
        use Operator::*;
        let big = "123456789012345678901234567890";
        assert_eq!(opa(Plus, big, "0.5"), "123456789012345678900000000000");
        assert_eq!(opa(Times, big, "1.0"), big);
        assert_eq!(
            opa(Plus, "4611686018427387904", "0.000000001"),
            "4611686018427387904"
        );
        assert_eq!(
            opa(Remainder, "1.5e300", "18446744073709551615"),
            "16042244703609172455"
        );
        assert_eq!(opa(Remainder, "1.5e300", "7"), "5");
        assert_eq!(opa(Remainder, "-7", "3"), "-1");
        // Division is exact on small integers only.
        assert_eq!(opa(Divide, "6", "3"), "2");
        assert_eq!(
            opa(Divide, "1180591620717411303424", "2"),
            "590295810358705651700"
        );
        assert_eq!(opa(Divide, "0", "-5"), "0");
        assert_eq!(
            opa(Minus, "100000000000000000001.5", "1"),
            "100000000000000000000"
        );
    }

    #[test]
    fn errors_are_opas() {
        use Operator::*;
        for (operator, a, b) in [
            (Divide, "5", "0.0"),
            (Divide, "5", "0"),
            (Remainder, "5", "0"),
            (Remainder, "2.5", "2"),
            (Plus, "1e9999", "0.5"),
            (Plus, "1e999999", "1"),
            (Plus, "x", "1"),
        ] {
            assert!(apply(operator, a, b).is_err(), "{a} {operator:?} {b}");
        }
    }

    #[test]
    fn on_ordinary_floats_the_result_is_within_rounding_of_the_float_answer() {
        // OPA computes on the decimals, with 11 more bits than a float: its answer and the
        // float answer differ by the floats' rounding of the operands and of the result.
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let mantissa = (state >> 11) as f64 / (1u64 << 53) as f64;
            let exponent = (state % 40) as i32 - 20;
            mantissa * 10f64.powi(exponent) * if state & 1 == 0 { 1.0 } else { -1.0 }
        };
        for _ in 0..2_000 {
            let (a, b) = (next(), next());
            let scale = a.abs() + b.abs();
            for (operator, float, bound) in [
                (Operator::Plus, a + b, scale),
                (Operator::Minus, a - b, scale),
                (Operator::Times, a * b, (a * b).abs()),
                (Operator::Divide, a / b, (a / b).abs()),
            ] {
                let text = opa(operator, &a.to_string(), &b.to_string());
                let ours: f64 = text.parse().unwrap();
                assert!(
                    (ours - float).abs() <= 4.0 * f64::EPSILON * bound,
                    "{a} {operator:?} {b}: {text}, float {float}"
                );
            }
        }
    }

    #[test]
    fn ties_round_to_even() {
        // 2^64 + 1 is halfway between two 64-bit mantissas: to the even one, 2^64.
        let halfway = Decimal::parse("18446744073709551617").unwrap();
        let binary = halfway.to_binary().unwrap();
        assert_eq!(binary.mantissa, BigUint::one() << 63u8);
        assert_eq!(binary.exponent, 1);
    }
}
