//! `bits.*`, as OPA's: on integers of any size, including a number written with an exponent
//! (`1e300` is an integer), and a shift by the low 64 bits of its count, as Go's `big.Int`
//! shifts. (regorus refuses an integer it holds as a float past 2^53, and a count past 2^32.)

use anyhow::bail;
use num_bigint::BigInt;
use regorus::unstable::{Expr, Ref, Span};
use regorus::Value;

use super::arg;

/// Results wider than this are refused before they are computed: past 1023 bits a number is
/// beyond what Palisade can represent (`check_result` refuses it), and a wide shift would
/// allocate first.
const MAX_RESULT_BITS: u64 = 1100;

/// Operand `at` of `name` as an integer: OPA's `BigIntOperand`.
fn integer(name: &str, args: &[Value], at: usize) -> anyhow::Result<BigInt> {
    let Value::Number(n) = arg(args, at) else {
        bail!("{name}: operand {} must be an integer", at + 1);
    };
    if let Some(big) = n.as_big() {
        return Ok((*big).clone());
    }
    match n.as_f64() {
        Some(f) if f.is_finite() && f.fract() == 0.0 => Ok(exact_integer(f)),
        _ => bail!(
            "{name}: operand {} must be integer number but got floating-point number",
            at + 1
        ),
    }
}

/// The integer a finite, whole `f64` stands for. OPA reads a number from its text: an input of
/// `1.7293822569102705e18` is 1729382256910270500, which the float only approximates. The
/// shortest text that reads back as the float (what JSON writers write) is taken for it, when
/// it is a whole number; else the float's exact value.
fn exact_integer(f: f64) -> BigInt {
    let text = format!("{f:e}");
    let (mantissa, exponent) = text.split_once('e').unwrap_or((&text, "0"));
    let (whole, fraction) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let exponent: i64 = exponent.parse().unwrap_or(0);
    let places = exponent - i64::try_from(fraction.len()).unwrap_or(0);
    let digits = BigInt::parse_bytes(format!("{whole}{fraction}").as_bytes(), 10);
    match (digits, u32::try_from(places)) {
        (Some(digits), Ok(places)) => digits * BigInt::from(10u8).pow(places),
        _ => binary_integer(f),
    }
}

/// The integer a finite, whole `f64` is exactly.
fn binary_integer(f: f64) -> BigInt {
    let bits = f.to_bits();
    let biased = i64::try_from((bits >> 52) & 0x7ff).unwrap_or(0);
    let fraction = bits & ((1 << 52) - 1);
    let (mantissa, exponent) = match biased {
        0 => (fraction, -1074),
        _ => (fraction | 1 << 52, biased - 1075),
    };
    let magnitude = match usize::try_from(exponent) {
        Ok(up) => BigInt::from(mantissa) << up,
        Err(_) => BigInt::from(mantissa) >> usize::try_from(-exponent).unwrap_or(usize::MAX),
    };
    match f.is_sign_negative() {
        true => -magnitude,
        false => magnitude,
    }
}

/// A shift count: not negative; Go shifts by its low 64 bits.
fn shift(name: &str, args: &[Value]) -> anyhow::Result<u64> {
    let count = integer(name, args, 1)?;
    if count.sign() == num_bigint::Sign::Minus {
        bail!("{name}: operand 2 must be an unsigned integer number but got a negative integer");
    }
    Ok(count.iter_u64_digits().next().unwrap_or(0))
}

fn number(n: BigInt) -> Value {
    match i64::try_from(&n) {
        Ok(small) => Value::from(small),
        Err(_) => Value::Number(n.into()),
    }
}

pub(super) fn bits_and(
    _: &Span,
    _: &[Ref<Expr>],
    args: &[Value],
    _: bool,
) -> anyhow::Result<Value> {
    Ok(number(
        integer("bits.and", args, 0)? & integer("bits.and", args, 1)?,
    ))
}

pub(super) fn bits_or(_: &Span, _: &[Ref<Expr>], args: &[Value], _: bool) -> anyhow::Result<Value> {
    Ok(number(
        integer("bits.or", args, 0)? | integer("bits.or", args, 1)?,
    ))
}

pub(super) fn bits_xor(
    _: &Span,
    _: &[Ref<Expr>],
    args: &[Value],
    _: bool,
) -> anyhow::Result<Value> {
    Ok(number(
        integer("bits.xor", args, 0)? ^ integer("bits.xor", args, 1)?,
    ))
}

pub(super) fn bits_negate(
    _: &Span,
    _: &[Ref<Expr>],
    args: &[Value],
    _: bool,
) -> anyhow::Result<Value> {
    Ok(number(!integer("bits.negate", args, 0)?))
}

pub(super) fn bits_lsh(
    _: &Span,
    _: &[Ref<Expr>],
    args: &[Value],
    _: bool,
) -> anyhow::Result<Value> {
    let value = integer("bits.lsh", args, 0)?;
    let by = shift("bits.lsh", args)?;
    if value.bits() > 0 && value.bits().saturating_add(by) > MAX_RESULT_BITS {
        bail!("bits.lsh: the result is beyond what Palisade can represent");
    }
    Ok(number(value << usize::try_from(by).unwrap_or(usize::MAX)))
}

pub(super) fn bits_rsh(
    _: &Span,
    _: &[Ref<Expr>],
    args: &[Value],
    _: bool,
) -> anyhow::Result<Value> {
    let value = integer("bits.rsh", args, 0)?;
    let by = shift("bits.rsh", args)?;
    // Every bit shifted out: 0, or -1 for a negative value (Go rounds toward minus infinity).
    if by >= value.bits() {
        return Ok(number(BigInt::from(
            if value.sign() == num_bigint::Sign::Minus {
                -1
            } else {
                0
            },
        )));
    }
    Ok(number(value >> usize::try_from(by).unwrap_or(usize::MAX)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::replacements::testing::{call, canonical};
    use serde_json::json;

    #[test]
    fn integers_of_any_size() {
        assert_eq!(
            call(bits_and, &[json!(1e300), json!(-1)]),
            Some(canonical(json!(1e300)))
        );
        assert_eq!(
            call(bits_negate, &[json!(1e300)]),
            Some(canonical(json!(-1e300)))
        );
        assert_eq!(call(bits_and, &[json!(12), json!(10)]), Some(json!(8)));
        assert_eq!(call(bits_or, &[json!(12), json!(10)]), Some(json!(14)));
        assert_eq!(call(bits_xor, &[json!(12), json!(10)]), Some(json!(6)));
        assert_eq!(call(bits_negate, &[json!(5)]), Some(json!(-6)));
        assert_eq!(call(bits_and, &[json!(4e3), json!(4096)]), Some(json!(0)));
        // The float nearest 1729382256910270500 is 1729382256910270464 (2^60 + 2^59): OPA
        // reads the number's text.
        assert_eq!(
            call(bits_and, &[json!(1.729_382_256_910_270_5e18), json!(-1)]),
            Some(json!(1_729_382_256_910_270_500u64))
        );
        assert_eq!(call(bits_and, &[json!(1.5), json!(1)]), None);
        assert_eq!(call(bits_and, &[json!("1"), json!(1)]), None);
        assert_eq!(exact_integer(-8.0), BigInt::from(-8));
        assert_eq!(exact_integer(0.0), BigInt::from(0));
        assert_eq!(
            exact_integer(1.729_382_256_910_270_5e18),
            BigInt::from(1_729_382_256_910_270_500u64)
        );
        assert_eq!(exact_integer(1e300), BigInt::from(10u8).pow(300));
        assert_eq!(
            binary_integer(1.729_382_256_910_270_5e18),
            BigInt::from(1_729_382_256_910_270_464u64)
        );
    }

    #[test]
    fn shifts_by_the_low_64_bits_of_the_count() {
        assert_eq!(call(bits_lsh, &[json!(1), json!(3)]), Some(json!(8)));
        assert_eq!(call(bits_rsh, &[json!(-9), json!(1)]), Some(json!(-5)));
        assert_eq!(call(bits_rsh, &[json!(-9), json!(100)]), Some(json!(-1)));
        assert_eq!(call(bits_rsh, &[json!(9), json!(100)]), Some(json!(0)));
        // 1e300 is 0 modulo 2^64.
        assert_eq!(call(bits_lsh, &[json!(1), json!(1e300)]), Some(json!(1)));
        assert_eq!(call(bits_rsh, &[json!(1), json!(1e300)]), Some(json!(1)));
        assert_eq!(
            call(bits_lsh, &[json!(1e300), json!(1)]),
            Some(canonical(json!(2e300)))
        );
        assert_eq!(call(bits_lsh, &[json!(1), json!(-1)]), None);
        assert_eq!(call(bits_lsh, &[json!(1), json!(5000)]), None);
        assert_eq!(call(bits_lsh, &[json!(0), json!(5000)]), Some(json!(0)));
    }
}
