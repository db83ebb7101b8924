//! Decodes a protobuf `google.protobuf.Struct` (binary wire format) into JSON.
//!
//! Envoy hands a plugin its `configuration` as the raw string of a `StringValue` (what Istio
//! sends: `pluginConfig` as JSON), but as the serialised message for a `Struct`. Accepting both
//! lets an Envoy bootstrap write the configuration as plain YAML. Whole-number doubles become
//! JSON integers, so typed fields such as `max_body_bytes: 8192` read as integers.

use serde_json::{Map, Number, Value};

/// The JSON object a serialised `Struct` holds; `None` if the bytes are not one.
pub fn struct_to_json(bytes: &[u8]) -> Option<Value> {
    decode_struct(bytes).map(Value::Object)
}

/// A cursor over protobuf wire-format bytes.
struct Wire<'a> {
    bytes: &'a [u8],
}

enum Field<'a> {
    Varint(u64),
    Fixed64(u64),
    Bytes(&'a [u8]),
}

impl<'a> Wire<'a> {
    fn varint(&mut self) -> Option<u64> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let (&byte, rest) = self.bytes.split_first()?;
            self.bytes = rest;
            value |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Some(value);
            }
        }
        None
    }

    /// The next field number and value; `None` at the end or on malformed input.
    fn field(&mut self) -> Option<(u64, Field<'a>)> {
        let key = self.varint()?;
        let value = match key & 7 {
            0 => Field::Varint(self.varint()?),
            1 => {
                let (raw, rest) = self.bytes.split_at_checked(8)?;
                self.bytes = rest;
                Field::Fixed64(u64::from_le_bytes(raw.try_into().ok()?))
            }
            2 => {
                let len = usize::try_from(self.varint()?).ok()?;
                let (raw, rest) = self.bytes.split_at_checked(len)?;
                self.bytes = rest;
                Field::Bytes(raw)
            }
            _ => return None,
        };
        Some((key >> 3, value))
    }

    /// All fields, or `None` if any is malformed.
    fn fields(bytes: &'a [u8]) -> Option<Vec<(u64, Field<'a>)>> {
        let mut wire = Wire { bytes };
        let mut fields = Vec::new();
        while !wire.bytes.is_empty() {
            fields.push(wire.field()?);
        }
        Some(fields)
    }
}

fn decode_struct(bytes: &[u8]) -> Option<Map<String, Value>> {
    let mut map = Map::new();
    for (number, field) in Wire::fields(bytes)? {
        let (1, Field::Bytes(entry)) = (number, field) else {
            return None;
        };
        let mut key = None;
        let mut value = Value::Null;
        for (number, field) in Wire::fields(entry)? {
            match (number, field) {
                (1, Field::Bytes(k)) => key = Some(String::from_utf8(k.to_vec()).ok()?),
                (2, Field::Bytes(v)) => value = decode_value(v)?,
                _ => return None,
            }
        }
        map.insert(key?, value);
    }
    Some(map)
}

fn decode_value(bytes: &[u8]) -> Option<Value> {
    let mut value = Value::Null;
    for (number, field) in Wire::fields(bytes)? {
        value = match (number, field) {
            (1, Field::Varint(_)) => Value::Null,
            (2, Field::Fixed64(bits)) => json_number(f64::from_bits(bits))?,
            (3, Field::Bytes(s)) => Value::String(String::from_utf8(s.to_vec()).ok()?),
            (4, Field::Varint(b)) => Value::Bool(b != 0),
            (5, Field::Bytes(s)) => Value::Object(decode_struct(s)?),
            (6, Field::Bytes(list)) => Value::Array(
                Wire::fields(list)?
                    .into_iter()
                    .map(|(n, f)| match (n, f) {
                        (1, Field::Bytes(v)) => decode_value(v),
                        _ => None,
                    })
                    .collect::<Option<Vec<_>>>()?,
            ),
            _ => return None,
        };
    }
    Some(value)
}

/// Whole numbers within i64 become integers; others stay doubles.
fn json_number(n: f64) -> Option<Value> {
    const LIMIT: f64 = 9_007_199_254_740_992.0; // 2^53: every integer below is exact
    if n.fract() == 0.0 && n.abs() <= LIMIT {
        #[allow(clippy::cast_possible_truncation)] // checked above: whole and within 2^53
        return Some(Value::Number(Number::from(n as i64)));
    }
    Number::from_f64(n).map(Value::Number)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    // Encoders for the test: the wire format written by hand.
    fn varint(mut v: u64, out: &mut Vec<u8>) {
        loop {
            let byte = (v & 0x7f) as u8;
            v >>= 7;
            if v == 0 {
                out.push(byte);
                return;
            }
            out.push(byte | 0x80);
        }
    }

    fn bytes_field(number: u64, payload: &[u8], out: &mut Vec<u8>) {
        varint(number << 3 | 2, out);
        varint(payload.len() as u64, out);
        out.extend_from_slice(payload);
    }

    fn encode_value(value: &Value) -> Vec<u8> {
        let mut out = Vec::new();
        match value {
            Value::Null => out.extend_from_slice(&[0x08, 0x00]),
            Value::Bool(b) => out.extend_from_slice(&[0x20, u8::from(*b)]),
            Value::Number(n) => {
                out.push(0x11);
                out.extend_from_slice(&n.as_f64().unwrap().to_bits().to_le_bytes());
            }
            Value::String(s) => bytes_field(3, s.as_bytes(), &mut out),
            Value::Array(items) => {
                let mut list = Vec::new();
                for item in items {
                    bytes_field(1, &encode_value(item), &mut list);
                }
                bytes_field(6, &list, &mut out);
            }
            Value::Object(map) => bytes_field(5, &encode_struct(map), &mut out),
        }
        out
    }

    fn encode_struct(map: &Map<String, Value>) -> Vec<u8> {
        let mut out = Vec::new();
        for (k, v) in map {
            let mut entry = Vec::new();
            bytes_field(1, k.as_bytes(), &mut entry);
            bytes_field(2, &encode_value(v), &mut entry);
            bytes_field(1, &entry, &mut out);
        }
        out
    }

    #[test]
    fn decodes_every_kind_of_value() {
        let original = json!({
            "path": "envoy/authz/allow",
            "max_body_bytes": 8192,
            "ratio": 0.25,
            "dry_run": false,
            "nothing": null,
            "policies": {"a.rego": "package a\n\tallow := true"},
            "list": [1, "two", [true], {"x": -3}]
        });
        let bytes = encode_struct(original.as_object().unwrap());
        assert_eq!(struct_to_json(&bytes), Some(original));
    }

    #[test]
    fn json_text_is_not_a_struct() {
        assert_eq!(struct_to_json(br#"{"a": 1}"#), None);
        assert_eq!(struct_to_json(b"\n\x05"), None, "truncated entry");
        assert_eq!(struct_to_json(b""), Some(json!({})));
    }
}
