//! `sprintf(format, values)`, as OPA's: each value is handed to Go's `fmt.Sprintf` as OPA
//! hands it (an integer as `int64`, or `*big.Int` past 64 bits, a number with a fraction as
//! `float64`, a string as it is, anything else as its Rego text), and formatted as Go formats
//! it ([`go_fmt`]). regorus' `sprintf` fails on what Go writes into the result (`%!(EXTRA ...)`,
//! `%!d(MISSING)`), writes `-5` for `%d` as `--5`, and knows few flags.
//!
//! OPA reads a number from its text, which Palisade no longer has: an input of `2e3` or
//! `1.0e3` is the integer 2000 here (OPA passes `2e3` as a string, `1.0e3` as a float). A
//! number that is not a 64-bit integer is taken as Go's `encoding/json` writes it (`1e-7`,
//! `0.5`, `1e+300`), which is how OPA-Envoy's input and most OPA data are written.

mod floats;
mod go_fmt;
mod quote;

use anyhow::bail;
use regorus::unstable::{Expr, Ref, Span};
use regorus::Value;

use super::{arg, string_arg};
use go_fmt::Operand;

pub(super) fn sprintf(_: &Span, _: &[Ref<Expr>], args: &[Value], _: bool) -> anyhow::Result<Value> {
    let format = string_arg("sprintf", args, 0)?;
    let Value::Array(values) = arg(args, 1) else {
        bail!("sprintf: operand 2 must be an array");
    };
    let operands: Vec<Operand> = values.iter().map(operand).collect();
    match go_fmt::sprintf(format, &operands) {
        Ok(text) => Ok(Value::from(text)),
        Err(_) => bail!("sprintf: %p of a big integer prints its address, which differs each time"),
    }
}

/// A value as OPA hands it to Go.
fn operand(value: &Value) -> Operand {
    match value {
        Value::String(s) => Operand::Text(s.to_string()),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                return Operand::Int(i);
            }
            if let Some(big) = n.as_big() {
                return Operand::Big((*big).clone());
            }
            let f = n.as_f64().unwrap_or(0.0);
            // What OPA makes of the number's text: digits are an integer, a text with a point
            // a float, and a text with an exponent only (`1e+300`) a string.
            let text = json_number(f);
            if text.contains('.') {
                return Operand::Float(f);
            }
            if text.contains('e') {
                return Operand::Text(text);
            }
            match text.parse::<i64>() {
                Ok(i) => Operand::Int(i),
                Err(_) => match num_bigint::BigInt::parse_bytes(text.as_bytes(), 10) {
                    Some(big) => Operand::Big(big),
                    None => Operand::Text(text),
                },
            }
        }
        other => Operand::Text(rego_text(other)),
    }
}

/// A float as Go's `encoding/json` writes it: the shortest digits, with an exponent below
/// 10^-6 and from 10^21 up (`1e+21`, `1.5e-7`).
pub(crate) fn json_number(f: f64) -> String {
    let exponential = f != 0.0 && (f.abs() < 1e-6 || f.abs() >= 1e21);
    match exponential {
        true => {
            let text = floats::format_float(f, 'e', -1);
            // Go cleans `e-07` up to `e-7`.
            match text.split_once("e-0") {
                Some((mantissa, digit)) if digit.len() == 1 => format!("{mantissa}e-{digit}"),
                _ => text,
            }
        }
        false => floats::format_float(f, 'f', -1),
    }
}

/// A value as OPA writes it in Rego syntax (`ast.Value.String()`): strings quoted as Go
/// quotes them, `set()` for the empty set.
fn rego_text(value: &Value) -> String {
    let mut out = String::new();
    write_rego(&mut out, value);
    out
}

fn write_rego(out: &mut String, value: &Value) {
    let list = |out: &mut String, items: &mut dyn Iterator<Item = &Value>| {
        for (i, item) in items.enumerate() {
            if i > 0 {
                out.push_str(", ");
            }
            write_rego(out, item);
        }
    };
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => match (n.as_big(), n.as_f64()) {
            (Some(big), _) => out.push_str(&big.to_string()),
            (None, Some(f)) => out.push_str(&json_number(f)),
            (None, None) => out.push('0'),
        },
        Value::String(s) => out.push_str(&quote::quote(s, false)),
        Value::Array(items) => {
            out.push('[');
            list(out, &mut items.iter());
            out.push(']');
        }
        Value::Set(items) if items.is_empty() => out.push_str("set()"),
        Value::Set(items) => {
            out.push('{');
            list(out, &mut items.iter());
            out.push('}');
        }
        Value::Object(fields) => {
            out.push('{');
            for (i, (key, value)) in fields.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_rego(out, key);
                out.push_str(": ");
                write_rego(out, value);
            }
            out.push('}');
        }
        Value::Undefined => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::replacements::testing::call;
    use serde_json::json;

    #[test]
    fn numbers_are_written_as_go_json_writes_them() {
        assert_eq!(json_number(1e300), "1e+300");
        assert_eq!(json_number(1.5e300), "1.5e+300");
        assert_eq!(json_number(1e21), "1e+21");
        assert_eq!(json_number(1e20), "100000000000000000000");
        assert_eq!(json_number(1e-7), "1e-7");
        assert_eq!(json_number(1.5e-7), "1.5e-7");
        assert_eq!(json_number(1e-6), "0.000001");
        assert_eq!(json_number(1e-100), "1e-100");
        assert_eq!(json_number(-2.5), "-2.5");
        assert_eq!(json_number(9_007_199_254_740_994.0), "9007199254740994");
        assert_eq!(json_number(123_456.789), "123456.789");
    }

    #[test]
    fn values_are_handed_to_go_as_opa_hands_them() {
        let s = |format: &str, values: serde_json::Value| call(sprintf, &[json!(format), values]);
        assert_eq!(
            s("abc", json!([[1, 2], [3]])),
            Some(json!("abc%!(EXTRA string=[1, 2], string=[3])"))
        );
        assert_eq!(s("%d", json!([-5])), Some(json!("-5")));
        assert_eq!(s("%v", json!([1e300])), Some(json!("1e+300")));
        assert_eq!(s("%d", json!([1e300])), Some(json!("%!d(string=1e+300)")));
        assert_eq!(
            s("%T %v", json!([1e20, 1e20])),
            Some(json!("*big.Int 100000000000000000000"))
        );
        assert_eq!(s("%v %T", json!([1.5, 1.5])), Some(json!("1.5 float64")));
        assert_eq!(
            s("%v", json!([{"b": 1, "a": [2, "x\u{200b}"], "c": null}])),
            Some(json!("{\"a\": [2, \"x\\u200b\"], \"b\": 1, \"c\": null}"))
        );
        assert_eq!(
            s("%v", json!([18_446_744_073_709_551_615u64])),
            Some(json!("18446744073709551615"))
        );
        assert_eq!(s("%s", json!(["a"])), Some(json!("a")));
        assert_eq!(s("%s", json!("a")), None);
        assert_eq!(s("%s", json!({"a": 1})), None);
    }
}
