//! `time.format`, as OPA's (Go's `time.Time.Format`) for fractions of a second: `.000` (or
//! `,000`) writes that many digits, `.999` as many without trailing zeros, and nothing at all
//! when they are all zeros; without a layout, Go's RFC3339Nano (`.999999999`). regorus writes
//! 3, 6 or 9 digits for any of them. The rest of the layout is left to regorus: each fraction
//! is replaced by a marker regorus copies, and written in its place afterwards.

use regorus::unstable::{Expr, Ref, Span};
use regorus::Value;

use super::original;

/// Go's `time.RFC3339Nano`, OPA's layout when none is given.
const RFC3339_NANO: &str = "2006-01-02T15:04:05.999999999Z07:00";
/// Stands for a fraction in the layout given to regorus: ASCII (regorus' layout reader slices
/// at one byte), no layout element, and unlikely in a layout (one that holds it is left to
/// regorus as it is).
const MARKER: char = '\u{1}';

/// A fraction of a second in a layout: `.` or `,`, then `count` times `0` or `9`.
#[derive(Debug, PartialEq)]
struct Fraction {
    separator: char,
    trimmed: bool,
    count: usize,
}

pub(super) fn time_format(
    span: &Span,
    params: &[Ref<Expr>],
    args: &[Value],
    strict: bool,
) -> anyhow::Result<Value> {
    let format = original("time.format")?;
    let (ns, zone, layout) = match args.first() {
        Some(Value::Number(n)) => (n.as_i64(), Value::from("UTC"), RFC3339_NANO),
        Some(Value::Array(parts)) => match parts.as_slice() {
            [Value::Number(n)] => (n.as_i64(), Value::from("UTC"), RFC3339_NANO),
            [Value::Number(n), zone] => (n.as_i64(), zone.clone(), RFC3339_NANO),
            [Value::Number(n), zone, Value::String(layout), ..] => {
                (n.as_i64(), zone.clone(), go_layout(layout))
            }
            _ => return format(span, params, args, strict),
        },
        _ => return format(span, params, args, strict),
    };
    let Some(ns) = ns else {
        return format(span, params, args, strict);
    };
    if layout.contains(MARKER) {
        return format(span, params, args, strict);
    }
    let (marked, fractions) = mark_fractions(layout);
    let marked_args = [Value::from(vec![
        Value::from(ns),
        zone,
        Value::from(marked),
    ])];
    let Value::String(text) = format(span, params, &marked_args, strict)? else {
        return format(span, params, args, strict);
    };
    let nanosecond = ns.rem_euclid(1_000_000_000);
    let mut fractions = fractions.iter().peekable();
    let mut written = String::with_capacity(text.len());
    for c in text.chars() {
        match (c, fractions.next_if(|_| c == MARKER)) {
            (_, Some(fraction)) => written.push_str(&fraction.written(nanosecond)),
            (c, None) => written.push(c),
        }
    }
    Ok(Value::from(written))
}

/// The layout a name stands for (the names OPA knows), or the layout itself.
fn go_layout(layout: &str) -> &str {
    match layout {
        "ANSIC" => "Mon Jan _2 15:04:05 2006",
        "UnixDate" => "Mon Jan _2 15:04:05 MST 2006",
        "RubyDate" => "Mon Jan 02 15:04:05 -0700 2006",
        "RFC822" => "02 Jan 06 15:04 MST",
        "RFC822Z" => "02 Jan 06 15:04 -0700",
        "RFC850" => "Monday, 02-Jan-06 15:04:05 MST",
        "RFC1123" => "Mon, 02 Jan 2006 15:04:05 MST",
        "RFC1123Z" => "Mon, 02 Jan 2006 15:04:05 -0700",
        "RFC3339" => "2006-01-02T15:04:05Z07:00",
        "RFC3339Nano" => RFC3339_NANO,
        other => other,
    }
}

/// `layout` with each fraction of a second replaced by [`MARKER`], and the fractions in order.
/// As Go reads a layout: a `.` or `,`, a run of `0` or of `9`, and no digit after it.
fn mark_fractions(layout: &str) -> (String, Vec<Fraction>) {
    let mut marked = String::with_capacity(layout.len());
    let mut fractions = Vec::new();
    let mut rest = layout;
    while let Some(c) = rest.chars().next() {
        let after = rest.get(c.len_utf8()..).unwrap_or_default();
        let digit = after.chars().next().filter(|d| matches!(d, '0' | '9'));
        if let (true, Some(digit)) = (matches!(c, '.' | ','), digit) {
            let count = after.chars().take_while(|d| *d == digit).count();
            let tail = after.get(count..).unwrap_or_default();
            if !tail.starts_with(|d: char| d.is_ascii_digit()) {
                fractions.push(Fraction {
                    separator: c,
                    trimmed: digit == '9',
                    count,
                });
                marked.push(MARKER);
                rest = tail;
                continue;
            }
        }
        marked.push(c);
        rest = after;
    }
    (marked, fractions)
}

impl Fraction {
    /// Go's `appendNano`: the first `count` of nine digits (truncated), trimmed of trailing
    /// zeros (and of the separator when none is left) for `9`s.
    fn written(&self, nanosecond: i64) -> String {
        if self.trimmed && nanosecond == 0 {
            return String::new();
        }
        let digits = format!("{nanosecond:09}");
        let digits = digits.get(..self.count.min(9)).unwrap_or_default();
        let digits = match self.trimmed {
            true => digits.trim_end_matches('0'),
            false => digits,
        };
        match digits.is_empty() {
            true => String::new(),
            false => format!("{}{digits}", self.separator),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::replacements::testing::call;
    use serde_json::json;

    #[test]
    fn fractions_are_found_as_go_finds_them() {
        let (marked, fractions) = mark_fractions("05.999 2006,000 .0001 1.9");
        assert_eq!(marked, "05\u{1} 2006\u{1} .0001 1\u{1}");
        assert_eq!(
            fractions,
            [
                Fraction {
                    separator: '.',
                    trimmed: true,
                    count: 3
                },
                Fraction {
                    separator: ',',
                    trimmed: false,
                    count: 3
                },
                Fraction {
                    separator: '.',
                    trimmed: true,
                    count: 1
                },
            ]
        );
    }

    #[test]
    fn fractions_are_written_as_go_writes_them() {
        let fraction = |trimmed, count| Fraction {
            separator: '.',
            trimmed,
            count,
        };
        assert_eq!(fraction(true, 9).written(100), ".0000001");
        assert_eq!(fraction(true, 9).written(0), "");
        assert_eq!(fraction(true, 3).written(500_000_000), ".5");
        assert_eq!(fraction(true, 1).written(50_000_000), "");
        assert_eq!(fraction(false, 3).written(500_000_000), ".500");
        assert_eq!(fraction(false, 2).written(0), ".00");
        assert_eq!(fraction(false, 12).written(1), ".000000001");
    }

    #[test]
    fn time_format_writes_go_fractions() {
        let format = |arg: serde_json::Value| call(time_format, &[arg]);
        assert_eq!(
            format(json!(100)),
            Some(json!("1970-01-01T00:00:00.0000001Z"))
        );
        assert_eq!(
            format(json!(1_000_000_000)),
            Some(json!("1970-01-01T00:00:01Z"))
        );
        assert_eq!(
            format(json!([1_500_000_000, "UTC"])),
            Some(json!("1970-01-01T00:00:01.5Z"))
        );
        assert_eq!(
            format(json!([-1, "UTC"])),
            Some(json!("1969-12-31T23:59:59.999999999Z"))
        );
        assert_eq!(
            format(json!([1_500_000_000, "UTC", "RFC3339Nano"])),
            Some(json!("1970-01-01T00:00:01.5Z"))
        );
        assert_eq!(
            format(json!([1_500_000_000, "UTC", "2006.000"])),
            Some(json!("1970.500"))
        );
        assert_eq!(
            format(json!([1_500_000_000, "UTC", "05.9999999999"])),
            Some(json!("01.5"))
        );
    }
}
