//! `time.parse_duration_ns`, as Go's `time.ParseDuration`.

use anyhow::bail;
use regorus::unstable::{Expr, Ref, Span};
use regorus::Value;

use super::string_arg;

/// `time.parse_duration_ns(duration)`, as Go's `time.ParseDuration` (OPA's): a sign, then
/// decimal numbers with a unit each (`ns`, `us`, `µs`, `μs`, `ms`, `s`, `m`, `h`), summed as
/// Go sums them. (regorus slices the text at a byte that may be inside a character, or past its
/// end, and panics.)
pub(super) fn parse_duration_ns(
    _: &Span,
    _: &[Ref<Expr>],
    args: &[Value],
    _: bool,
) -> anyhow::Result<Value> {
    const NAME: &str = "time.parse_duration_ns";
    let text = string_arg(NAME, args, 0)?;
    match go_duration(text.as_bytes()) {
        Some(ns) => Ok(Value::from(ns)),
        None => bail!("{NAME}: time: invalid duration"),
    }
}

const LIMIT: u64 = 1 << 63;

/// Go's `time.ParseDuration`, step for step (its `uint64` sum wraps as Go's does).
fn go_duration(text: &[u8]) -> Option<i64> {
    let (negative, mut rest) = match text.split_first() {
        Some((b'-', rest)) => (true, rest),
        Some((b'+', rest)) => (false, rest),
        _ => (false, text),
    };
    if rest == b"0" {
        return Some(0);
    }
    if rest.is_empty() {
        return None;
    }
    let mut total: u64 = 0;
    while let Some(&first) = rest.first() {
        if !(first == b'.' || first.is_ascii_digit()) {
            return None;
        }
        let (mut whole, after) = leading_int(rest)?;
        let had_whole = after.len() != rest.len();
        rest = after;
        let (mut fraction, mut scale, mut had_fraction) = (0u64, 1f64, false);
        if let Some((b'.', after)) = rest.split_first() {
            let (f, s, after_fraction) = leading_fraction(after);
            had_fraction = after_fraction.len() != after.len();
            (fraction, scale, rest) = (f, s, after_fraction);
        }
        if !had_whole && !had_fraction {
            return None;
        }
        let unit_len = rest
            .iter()
            .position(|c| *c == b'.' || c.is_ascii_digit())
            .unwrap_or(rest.len());
        let (unit, after) = rest.split_at(unit_len);
        rest = after;
        let unit: u64 = match unit {
            b"ns" => 1,
            b"us" => 1_000,
            // µ (U+00B5) and μ (U+03BC), as UTF-8.
            [0xc2, 0xb5, b's'] | [0xce, 0xbc, b's'] => 1_000,
            b"ms" => 1_000_000,
            b"s" => 1_000_000_000,
            b"m" => 60_000_000_000,
            b"h" => 3_600_000_000_000,
            _ => return None,
        };
        if whole > LIMIT / unit {
            return None;
        }
        whole *= unit;
        if fraction > 0 {
            whole = whole.wrapping_add((fraction as f64 * (unit as f64 / scale)) as u64);
            if whole > LIMIT {
                return None;
            }
        }
        total = total.wrapping_add(whole);
        if total > LIMIT {
            return None;
        }
    }
    match negative {
        true => Some((total as i64).wrapping_neg()),
        false if total > LIMIT - 1 => None,
        false => i64::try_from(total).ok(),
    }
}

/// The digits at the start of `text` as a number (`None` past 2^63), and what follows.
fn leading_int(text: &[u8]) -> Option<(u64, &[u8])> {
    let digits = text.iter().take_while(|c| c.is_ascii_digit()).count();
    let (number, rest) = text.split_at(digits);
    let mut value: u64 = 0;
    for digit in number {
        if value > LIMIT / 10 {
            return None;
        }
        value = value * 10 + u64::from(digit - b'0');
        if value > LIMIT {
            return None;
        }
    }
    Some((value, rest))
}

/// The digits of a fraction as a number and its scale (digits past 2^63 are skipped), and what
/// follows.
fn leading_fraction(text: &[u8]) -> (u64, f64, &[u8]) {
    let digits = text.iter().take_while(|c| c.is_ascii_digit()).count();
    let (number, rest) = text.split_at(digits);
    let (mut value, mut scale, mut overflow) = (0u64, 1f64, false);
    for digit in number {
        if overflow {
            continue;
        }
        if value > (LIMIT - 1) / 10 {
            overflow = true;
            continue;
        }
        let next = value * 10 + u64::from(digit - b'0');
        if next > LIMIT {
            overflow = true;
            continue;
        }
        value = next;
        scale *= 10.0;
    }
    (value, scale, rest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_as_go_does() {
        let d = |text: &str| go_duration(text.as_bytes());
        assert_eq!(d("1.5h"), Some(5_400_000_000_000));
        assert_eq!(d("1µs"), Some(1_000));
        assert_eq!(d("-1m30s"), Some(-90_000_000_000));
        assert_eq!(d("0"), Some(0));
        assert_eq!(d("2562047h47m16.854775807s"), Some(i64::MAX));
        assert_eq!(d("2562047h47m16.854775808s"), None);
        // Go's sum wraps past 2^64 without noticing: OPA returns 0 for this.
        assert_eq!(d("9223372036854775808ns9223372036854775808ns"), Some(0));
        for bad in ["", "1", "1.", "-3h1.", "1sé", "1µ", ".s", "1x", "+", "-"] {
            assert_eq!(d(bad), None, "{bad}");
        }
    }
}
