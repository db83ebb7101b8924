//! Building the values OPA gets from Go's `encoding/json`: a nil slice is `null`, a `[]byte`
//! is standard base64, a `*big.Int` is an integer of any size, an `asn1.ObjectIdentifier` is
//! an array of numbers.

use std::collections::BTreeMap;

use regorus::Value;

use super::pem::encode_base64;

/// A JSON object built field by field (Go's struct fields, in any order).
#[derive(Debug, Default)]
pub(crate) struct Fields(BTreeMap<Value, Value>);

impl Fields {
    pub(crate) fn new() -> Self {
        Self::default()
    }

    pub(crate) fn with(mut self, name: &str, value: impl Into<Value>) -> Self {
        self.0.insert(Value::from(name), value.into());
        self
    }

    pub(crate) fn build(self) -> Value {
        Value::from(self.0)
    }
}

/// A Go slice that may be nil: `null`, or the array of its elements.
pub(crate) fn list<T>(items: &Option<Vec<T>>, each: impl Fn(&T) -> Value) -> Value {
    match items {
        None => Value::Null,
        Some(items) => Value::from(items.iter().map(each).collect::<Vec<_>>()),
    }
}

/// A `[]string` that may be nil.
pub(crate) fn strings(items: &Option<Vec<String>>) -> Value {
    list(items, |s| Value::from(s.as_str()))
}

/// A `[]byte` that may be nil.
pub(crate) fn bytes(bytes: Option<&[u8]>) -> Value {
    bytes.map_or(Value::Null, |b| Value::from(encode_base64(b)))
}

/// An `asn1.ObjectIdentifier`.
pub(crate) fn oid(components: &[u64]) -> Value {
    Value::from(
        components
            .iter()
            .map(|&c| Value::from(c))
            .collect::<Vec<_>>(),
    )
}

/// A `*big.Int` from big-endian two's-complement bytes (an ASN.1 INTEGER's contents).
pub(crate) fn signed_integer(bytes: &[u8]) -> Value {
    number(&num_bigint::BigInt::from_signed_bytes_be(bytes))
}

/// A `*big.Int` from big-endian unsigned bytes.
pub(crate) fn unsigned_integer(bytes: &[u8]) -> Value {
    number(&num_bigint::BigInt::from_bytes_be(
        num_bigint::Sign::Plus,
        bytes,
    ))
}

/// The integer, exact: the `x509` feature turns on serde_json's `arbitrary_precision`, with
/// which regorus writes integers of any size (`replacements::writable`).
fn number(n: &num_bigint::BigInt) -> Value {
    Value::from_numeric_string(&n.to_string()).unwrap_or(Value::Null)
}
