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

use anyhow::{bail, Result};
use num_bigint::{BigInt, Sign};
use num_traits::{ToPrimitive, Zero};

use super::go_float::GoFloat;

/// An arithmetic operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Operator {
    Plus,
    Minus,
    Times,
    Divide,
    Remainder,
}

/// Decimal exponents beyond this are refused on the float path: the value is far past anything
/// a request or a policy holds (Palisade refuses data beyond ±1e308), and computing with it
/// would take long.
const MAX_FLOAT_EXPONENT: u64 = 2_400;

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
    let (x, y) = (x.to_float()?, y.to_float()?);
    let result = match operator {
        Operator::Plus => x.add(&y),
        Operator::Minus => x.add(&y.negated()),
        Operator::Times => x.times(&y),
        _ if y.is_zero() => bail!("divide by zero"),
        _ => x.divide(&y),
    };
    let (negative, digits, power) = result.shortest();
    let sign = if negative { Sign::Minus } else { Sign::Plus };
    let decimal = Decimal::normalized(BigInt::from_biguint(sign, digits), power);
    Ok(match decimal.integer() {
        Some(integer) => integer.to_string(),
        None => format!("{}e{}", decimal.digits, decimal.exponent),
    })
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

    /// This decimal as OPA reads it into a float (Go's `SetString`).
    fn to_float(&self) -> Result<GoFloat> {
        if self.exponent.unsigned_abs() > MAX_FLOAT_EXPONENT {
            bail!("a number beyond 10^{MAX_FLOAT_EXPONENT}");
        }
        let negative = self.digits.sign() == Sign::Minus;
        Ok(GoFloat::from_decimal(
            negative,
            self.digits.magnitude(),
            self.exponent,
        ))
    }
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
    fn between_operations_a_fraction_is_a_float() {
        // OPA keeps 1/3 as 0.33333333333333333334, and (1/3) * 3 is 1. Here the quotient is
        // held as the float nearest to it, written 0.3333333333333333 for the next operation.
        let third = opa(Operator::Divide, "1", "3");
        let held: f64 = third.parse().unwrap();
        assert_eq!(held.to_string(), "0.3333333333333333");
        let product = opa(Operator::Times, &held.to_string(), "3");
        assert_eq!(product, "99999999999999990004e-20");
        assert_eq!(product.parse::<f64>().unwrap(), 0.9999999999999999);
    }
}
