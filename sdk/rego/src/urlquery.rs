//! OPA's `urlquery.*` builtins, written here instead of taking regorus' (whose `url` dependency
//! would add ~200 KB to the module), with the answers OPA gives (Go's `net/url`): `encode` and
//! `encode_object` escape all but `A-Z a-z 0-9 - _ . ~` and write a space as `+`;
//! `encode_object` sorts the keys; `decode_object` refuses `;` separators and bad escapes.

use std::collections::BTreeMap;

use anyhow::bail;
use regorus::Value;

fn text<'v>(name: &str, args: &'v [Value]) -> anyhow::Result<&'v str> {
    match args.first() {
        Some(Value::String(text)) => Ok(text),
        _ => bail!("{name}: operand 1 must be a string"),
    }
}

/// Go's `url.QueryEscape`.
fn escape(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    for byte in raw.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(char::from(byte));
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out
}

/// Go's `url.QueryUnescape`; bytes that are not UTF-8 become U+FFFD, as OPA writes them.
fn unescape(name: &str, escaped: &str) -> anyhow::Result<String> {
    let bytes = escaped.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut at = 0;
    while let Some(&byte) = bytes.get(at) {
        match byte {
            b'%' => {
                let digits = bytes.get(at + 1..at + 3).and_then(|pair| {
                    std::str::from_utf8(pair)
                        .ok()
                        .and_then(|pair| u8::from_str_radix(pair, 16).ok())
                });
                let Some(decoded) = digits else {
                    let bad = escaped.get(at..(at + 3).min(escaped.len())).unwrap_or("%");
                    bail!("{name}: invalid URL escape {bad:?}");
                };
                out.push(decoded);
                at += 3;
            }
            b'+' => {
                out.push(b' ');
                at += 1;
            }
            _ => {
                out.push(byte);
                at += 1;
            }
        }
    }
    Ok(super::go_bytes::lossy_text(&out))
}

/// `urlquery.encode(x)`.
pub(crate) fn encode(args: &[Value]) -> anyhow::Result<Value> {
    Ok(Value::from(escape(text("urlquery.encode", args)?)))
}

/// `urlquery.decode(x)`.
pub(crate) fn decode(args: &[Value]) -> anyhow::Result<Value> {
    let name = "urlquery.decode";
    Ok(Value::from(unescape(name, text(name, args)?)?))
}

/// `urlquery.encode_object(object)`: values are strings, or arrays or sets of strings.
pub(crate) fn encode_object(args: &[Value]) -> anyhow::Result<Value> {
    let name = "urlquery.encode_object";
    let Some(Value::Object(object)) = args.first() else {
        bail!("{name}: operand 1 must be an object");
    };
    let mut pairs = Vec::new();
    for (key, value) in object.iter() {
        let Value::String(key) = key else {
            bail!("{name}: keys must be strings");
        };
        let values: Vec<&Value> = match value {
            Value::String(_) => vec![value],
            Value::Array(items) => items.iter().collect(),
            Value::Set(items) => items.iter().collect(),
            _ => bail!("{name}: values must be strings, or arrays or sets of strings"),
        };
        for value in values {
            let Value::String(value) = value else {
                bail!("{name}: values must be strings, or arrays or sets of strings");
            };
            pairs.push(format!("{}={}", escape(key), escape(value)));
        }
    }
    Ok(Value::from(pairs.join("&")))
}

/// `urlquery.decode_object(x)`: each key with the list of its values.
pub(crate) fn decode_object(args: &[Value]) -> anyhow::Result<Value> {
    let name = "urlquery.decode_object";
    let mut object: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    let mut first_error = None;
    for pair in text(name, args)?.split('&').filter(|pair| !pair.is_empty()) {
        if pair.contains(';') {
            first_error.get_or_insert_with(|| "invalid semicolon separator in query".to_string());
            continue;
        }
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        match (unescape(name, key), unescape(name, value)) {
            (Ok(key), Ok(value)) => object.entry(key).or_default().push(Value::from(value)),
            (Err(err), _) | (_, Err(err)) => {
                first_error.get_or_insert_with(|| err.to_string());
            }
        }
    }
    if let Some(error) = first_error {
        bail!("{error}");
    }
    Ok(Value::from(
        object
            .into_iter()
            .map(|(key, values)| (Value::from(key), Value::from(values)))
            .collect::<BTreeMap<Value, Value>>(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(text: &str) -> [Value; 1] {
        [Value::from(text)]
    }

    fn v(json: &str) -> Value {
        Value::from_json_str(json).unwrap()
    }

    #[test]
    fn answers_as_opa_does() {
        // Each answer is real OPA's (v1.20.2).
        assert_eq!(
            encode(&s("a b&c=d/é~-_.*!")).unwrap(),
            v(r#""a+b%26c%3Dd%2F%C3%A9~-_.%2A%21""#)
        );
        assert_eq!(decode(&s("a+b%20c%2F")).unwrap(), v(r#""a b c/""#));
        assert_eq!(decode(&s("%ff")).unwrap(), Value::from("\u{fffd}"));
        assert!(decode(&s("%zz")).is_err());
        let object = v(r#"{"b": "2 x", "a": ["1", "3"], "c": ["x", "y"]}"#);
        assert_eq!(
            encode_object(&[object]).unwrap(),
            v(r#""a=1&a=3&b=2+x&c=x&c=y""#)
        );
        assert_eq!(
            decode_object(&s("a=1&a=2&b=x+y&c")).unwrap(),
            v(r#"{"a": ["1", "2"], "b": ["x y"], "c": [""]}"#)
        );
        assert_eq!(decode_object(&s("")).unwrap(), v("{}"));
        for bad in ["a=1;b=2", "=1&&a=%2", "a=%zz&b=1"] {
            assert!(decode_object(&s(bad)).is_err(), "{bad}");
        }
    }
}
