//! `units.parse_bytes`, as OPA's: the amount is read as Go's `big.Float` reads it (a 64-bit
//! mantissa, rounded to nearest even), multiplied by the unit in the same precision, and the
//! product truncated toward zero (`"1.5"` is 1). (regorus rounds to the nearest integer, and
//! knows units OPA does not.)

use anyhow::bail;
use num_bigint::{BigInt, BigUint, Sign};

use crate::go_float::GoFloat;
use regorus::unstable::{Expr, Ref, Span};
use regorus::Value;

use super::string_arg;

const NAME: &str = "units.parse_bytes";

/// The largest decimal exponent computed with: beyond it the result is past what Palisade can
/// represent (±1e308) anyway.
const MAX_EXPONENT: i64 = 400;

pub(super) fn parse_bytes(
    _: &Span,
    _: &[Ref<Expr>],
    args: &[Value],
    _: bool,
) -> anyhow::Result<Value> {
    let text = lower_without_quotes(string_arg(NAME, args, 0)?);
    if text.contains(' ') {
        bail!("{NAME}: spaces not allowed in resource strings");
    }
    let (amount, unit) = split_amount(&text)?;
    if amount.is_empty() {
        bail!("{NAME}: no byte amount provided");
    }
    let multiplier: u64 = match unit {
        "" => 1,
        "kb" | "k" => 1000,
        "kib" | "ki" => 1 << 10,
        "mb" | "m" => 1000_u64.pow(2),
        "mib" | "mi" => 1 << 20,
        "gb" | "g" => 1000_u64.pow(3),
        "gib" | "gi" => 1 << 30,
        "tb" | "t" => 1000_u64.pow(4),
        "tib" | "ti" => 1 << 40,
        "pb" | "p" => 1000_u64.pow(5),
        "pib" | "pi" => 1 << 50,
        "eb" | "e" => 1000_u64.pow(6),
        "eib" | "ei" => 1 << 60,
        _ => bail!("{NAME}: byte unit not recognized"),
    };
    let Some((negative, amount)) = go_float(amount)? else {
        bail!("{NAME}: could not parse byte amount to a number");
    };
    let product = amount.times(&GoFloat::from_decimal(false, &BigUint::from(multiplier), 0));
    let whole = BigInt::from_biguint(
        if negative { Sign::Minus } else { Sign::Plus },
        product.truncated(),
    );
    Ok(match i64::try_from(&whole) {
        Ok(small) => Value::from(small),
        Err(_) => Value::Number(whole.into()),
    })
}

/// Go's `strings.ToLower` then `strings.ReplaceAll(_, "\"", "")`, as far as the answer can tell
/// (only ASCII digits and units are read: the two characters Go lowers to ASCII, the Kelvin sign
/// and the dotted capital I, are lowered, others are left as they are).
fn lower_without_quotes(text: &str) -> String {
    text.chars()
        .filter(|c| *c != '"')
        .map(|c| match c {
            '\u{212a}' => 'k',
            '\u{130}' => 'i',
            c => c.to_ascii_lowercase(),
        })
        .collect()
}

/// OPA's `extractNumAndUnit`: the amount (digits, `.`, and an exponent) and the unit after it.
/// An exponent of more than six digits is refused.
fn split_amount(text: &str) -> anyhow::Result<(&str, &str)> {
    let bytes = text.as_bytes();
    let mut at = 0;
    while let Some(&byte) = bytes.get(at) {
        match byte {
            b'0'..=b'9' | b'.' | b'+' | b'-' => {}
            b'e' | b'E' => {
                let next = bytes.get(at + 1).copied();
                if !matches!(next, Some(b'0'..=b'9' | b'+' | b'-')) {
                    break;
                }
                if matches!(next, Some(b'+' | b'-')) {
                    at += 1;
                }
                let digits = bytes
                    .get(at + 1..)
                    .unwrap_or_default()
                    .iter()
                    .take_while(|b| b.is_ascii_digit())
                    .count();
                if digits > 6 {
                    bail!("{NAME}: exponent too large");
                }
            }
            _ => break,
        }
        at += 1;
    }
    Ok((text.get(..at).unwrap_or(text), text.get(at..).unwrap_or("")))
}

/// `text` read as Go's `big.Float.SetString` reads a decimal number (sign, digits with a point,
/// exponent): whether it is negative, and its value. `None` when it is not a number.
fn go_float(text: &str) -> anyhow::Result<Option<(bool, GoFloat)>> {
    let (negative, unsigned) = match text.as_bytes().first() {
        Some(b'-') => (true, text.get(1..).unwrap_or("")),
        Some(b'+') => (false, text.get(1..).unwrap_or("")),
        _ => (false, text),
    };
    let (mantissa_text, exponent_text) = match unsigned.find(['e', 'E']) {
        Some(at) => (
            unsigned.get(..at).unwrap_or(""),
            Some(unsigned.get(at + 1..).unwrap_or("")),
        ),
        None => (unsigned, None),
    };
    let (whole, fraction) = mantissa_text.split_once('.').unwrap_or((mantissa_text, ""));
    let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if whole.len() + fraction.len() == 0 || !all_digits(whole) || !all_digits(fraction) {
        return Ok(None);
    }
    let exponent: i64 = match exponent_text {
        None => 0,
        Some(e) => {
            let digits = e.strip_prefix(['+', '-']).unwrap_or(e);
            if digits.is_empty() || !all_digits(digits) {
                return Ok(None);
            }
            e.parse().unwrap_or(i64::MAX)
        }
    };
    let digits = format!("{whole}{fraction}");
    let mantissa = BigUint::parse_bytes(digits.as_bytes(), 10).unwrap_or_default();
    let decimal_exponent = exponent.saturating_sub(i64::try_from(fraction.len()).unwrap_or(0));
    // Past what Palisade can hold, or so small that no unit brings it to 1.
    let magnitude = decimal_exponent.saturating_add(i64::try_from(digits.len()).unwrap_or(0));
    if magnitude > MAX_EXPONENT {
        bail!("{NAME}: the amount is too large");
    }
    if magnitude < -40 {
        return Ok(Some((
            negative,
            GoFloat::from_decimal(false, &BigUint::ZERO, 0),
        )));
    }
    Ok(Some((
        negative,
        GoFloat::from_decimal(false, &mantissa, decimal_exponent),
    )))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::replacements::testing::{call, canonical};
    use serde_json::json;

    fn bytes(text: &str) -> Option<serde_json::Value> {
        call(parse_bytes, &[json!(text)])
    }

    #[test]
    fn amounts_are_truncated_as_opa_truncates_them() {
        assert_eq!(bytes("1.5"), Some(json!(1)));
        assert_eq!(bytes("-1.5"), Some(json!(-1)));
        assert_eq!(bytes("0.99999999999999999999"), Some(json!(1)));
        assert_eq!(bytes("0.9999999999999999999"), Some(json!(0)));
        assert_eq!(bytes("1e-1"), Some(json!(0)));
        assert_eq!(bytes(".5k"), Some(json!(500)));
        assert_eq!(bytes("5."), Some(json!(5)));
        assert_eq!(bytes("0.3kb"), Some(json!(300)));
        assert_eq!(bytes("1e7"), Some(json!(10_000_000)));
        assert_eq!(bytes("1e-500"), Some(json!(0)));
        assert_eq!(bytes("1.1e-3k"), Some(json!(1)));
        assert_eq!(bytes("0.1e"), Some(json!(100_000_000_000_000_000u64)));
        assert_eq!(
            bytes("123456789.123456789e5"),
            Some(json!(12_345_678_912_345u64))
        );
        assert_eq!(
            bytes("18446744073709551617"),
            Some(canonical(json!(18_446_744_073_709_551_616.0)))
        );
    }

    #[test]
    fn large_amounts_round_as_go_big_float() {
        // 5^60 held in 128 bits, the product in 64: below 10^60, as OPA answers.
        let (negative, amount) = go_float("1e60").unwrap().unwrap();
        assert!(!negative);
        assert_eq!(
            amount
                .times(&GoFloat::from_decimal(false, &BigUint::from(1u8), 0))
                .truncated()
                .to_string(),
            "999999999999999999999373423426722168652130621984886772203520"
        );
        let (_, amount) = go_float("7e57").unwrap().unwrap();
        assert_eq!(
            amount.truncated().to_string(),
            "7000000000000000000186172089462780720104404134055997603840"
        );
    }

    #[test]
    fn units_are_opas() {
        assert_eq!(bytes("1e"), Some(json!(1_000_000_000_000_000_000u64)));
        assert_eq!(bytes("+2k"), Some(json!(2000)));
        assert_eq!(bytes("\"5Mi\""), Some(json!(5_242_880)));
        assert_eq!(bytes("5MIB"), Some(json!(5_242_880)));
        assert_eq!(bytes("1\u{212a}i"), Some(json!(1024)));
        assert_eq!(bytes("1k\"i\""), Some(json!(1024)));
        for bad in [
            "0x10",
            "1zib",
            "1.2.3",
            "1__0",
            "inf",
            "1e1000000",
            "",
            "kb",
            "1 kb",
            "1e+",
            "--1",
            "1yb",
            "1e-0000001",
            "1e500",
        ] {
            assert_eq!(bytes(bad), None, "{bad}");
        }
    }
}
