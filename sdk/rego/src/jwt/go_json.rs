//! JSON as Go's `encoding/json.Marshal` writes it: the bytes OPA's `io.jwt.encode_sign` signs,
//! so an HMAC, RSA or EdDSA token comes out byte for byte the same as OPA's.
//!
//! Object keys are sorted by their bytes, nothing is indented, and besides `"` and `\` Go
//! escapes control characters (`\n`, `\r`, `\t`, `\b`, `\f`, else `\u00XX`) and, to keep the
//! text HTML-safe, `<`, `>`, `&`, U+2028 and U+2029 as `\u003c`-style sequences. Numbers are
//! written as the engine holds them; OPA keeps a number's text as written (`1.0`, `1e3`), so
//! a payload with such a literal is the one place the two can differ.

use serde_json::Value;

/// `value` as Go's `json.Marshal` writes it.
pub(super) fn marshal(value: &Value) -> String {
    let mut out = String::new();
    write_value(&mut out, value);
    out
}

fn write_value(out: &mut String, value: &Value) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => out.push_str(&n.to_string()),
        Value::String(s) => write_string(out, s),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_value(out, item);
            }
            out.push(']');
        }
        Value::Object(members) => {
            let mut members: Vec<(&String, &Value)> = members.iter().collect();
            members.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
            out.push('{');
            for (i, (name, member)) in members.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_string(out, name);
                out.push(':');
                write_value(out, member);
            }
            out.push('}');
        }
    }
}

fn write_string(out: &mut String, text: &str) {
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' => {
                out.push_str(&format!("\\u{:04x}", u32::from(c)));
            }
            c if u32::from(c) < 0x20 => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn sorts_keys_by_bytes_without_whitespace() {
        let value =
            json!({"set": [1, 2], "": 1, "B": 2, "a": {"z": null, "a": [true, false]}, "é": 4});
        assert_eq!(
            marshal(&value),
            r#"{"":1,"B":2,"a":{"a":[true,false],"z":null},"set":[1,2],"é":4}"#
        );
    }

    #[test]
    fn escapes_as_go_does() {
        // Go's (OPA v1.20.2's) output for the same string.
        let text = "<>&\u{2028}\u{2029}\u{8}\u{c}\n\r\t\u{1}\u{7f} é ✓ 😀 \"\\/";
        assert_eq!(
            marshal(&json!(text)),
            "\"\\u003c\\u003e\\u0026\\u2028\\u2029\\b\\f\\n\\r\\t\\u0001\u{7f} é ✓ 😀 \\\"\\\\/\""
        );
        assert_eq!(marshal(&json!({"<": 1})), r#"{"\u003c":1}"#);
    }

    #[test]
    fn writes_integers_as_digits() {
        assert_eq!(
            marshal(&json!([0, -1, 12_345_678_901_234_567_890u64, 1.5])),
            "[0,-1,12345678901234567890,1.5]"
        );
    }
}
