//! Property values encoded as Envoy encodes them, and property paths.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::headers::serialize_pairs;

/// A property value, typed the way Envoy's attributes are.
#[derive(Debug, Clone, PartialEq)]
pub enum PropertyValue {
    /// A string, returned raw.
    String(String),
    /// Raw bytes (e.g. a value a filter set with `set_property`).
    Bytes(Vec<u8>),
    /// A signed integer: 8 bytes little-endian.
    Int(i64),
    /// An unsigned integer: 8 bytes little-endian.
    UInt(u64),
    /// A double: 8 bytes little-endian IEEE 754.
    Double(f64),
    /// A bool: one byte, 0 or 1.
    Bool(bool),
    /// A timestamp: int64 nanoseconds since the Unix epoch, little-endian.
    Timestamp(SystemTime),
    /// A duration: int64 nanoseconds, little-endian.
    Duration(Duration),
    /// A string map (e.g. `request.headers`): a serialized header map.
    Map(Vec<(String, String)>),
}

impl PropertyValue {
    /// The bytes `proxy_get_property` returns for this value.
    pub fn encode(&self) -> Vec<u8> {
        match self {
            PropertyValue::String(s) => s.as_bytes().to_vec(),
            PropertyValue::Bytes(b) => b.clone(),
            PropertyValue::Int(i) => i.to_le_bytes().to_vec(),
            PropertyValue::UInt(u) => u.to_le_bytes().to_vec(),
            PropertyValue::Double(d) => d.to_le_bytes().to_vec(),
            PropertyValue::Bool(b) => vec![u8::from(*b)],
            PropertyValue::Timestamp(t) => nanos_since_epoch(*t).to_le_bytes().to_vec(),
            PropertyValue::Duration(d) => saturating_nanos(*d).to_le_bytes().to_vec(),
            PropertyValue::Map(pairs) => serialize_pairs(pairs),
        }
    }

    /// The value at `key` when this is a map (Envoy lets a path index into a map).
    pub(crate) fn index(&self, key: &str) -> Option<PropertyValue> {
        match self {
            PropertyValue::Map(pairs) => pairs
                .iter()
                .find(|(k, _)| k == key)
                .map(|(_, v)| PropertyValue::String(v.clone())),
            _ => None,
        }
    }
}

impl From<&str> for PropertyValue {
    fn from(s: &str) -> Self {
        PropertyValue::String(s.to_string())
    }
}

impl From<String> for PropertyValue {
    fn from(s: String) -> Self {
        PropertyValue::String(s)
    }
}

impl From<i64> for PropertyValue {
    fn from(i: i64) -> Self {
        PropertyValue::Int(i)
    }
}

impl From<bool> for PropertyValue {
    fn from(b: bool) -> Self {
        PropertyValue::Bool(b)
    }
}

fn saturating_nanos(d: Duration) -> i64 {
    i64::try_from(d.as_nanos()).unwrap_or(i64::MAX)
}

/// Nanoseconds since the Unix epoch (negative before it).
pub(crate) fn nanos_since_epoch(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => saturating_nanos(d),
        Err(e) => -saturating_nanos(e.duration()),
    }
}

/// Splits a guest property path: segments separated by NUL bytes (a trailing NUL is ignored).
pub(crate) fn parse_guest_path(bytes: &[u8]) -> Vec<String> {
    let trimmed = bytes.strip_suffix(&[0]).unwrap_or(bytes);
    trimmed
        .split(|b| *b == 0)
        .map(|s| String::from_utf8_lossy(s).into_owned())
        .collect()
}

/// Splits a dotted path given by a test (`"source.address"`).
pub(crate) fn parse_dotted_path(path: &str) -> Vec<String> {
    path.split('.').map(str::to_string).collect()
}

/// The key under which Envoy keeps a value a filter set with `proxy_set_property`: `wasm.` + the path.
pub(crate) fn filter_state_key(path: &[String]) -> String {
    format!("wasm.{}", path.join("."))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodings_match_envoy() {
        assert_eq!(PropertyValue::from("abc").encode(), b"abc");
        assert_eq!(PropertyValue::Int(-2).encode(), (-2i64).to_le_bytes());
        assert_eq!(PropertyValue::UInt(7).encode(), [7, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(PropertyValue::Double(1.5).encode(), 1.5f64.to_le_bytes());
        assert_eq!(PropertyValue::Bool(true).encode(), [1]);
        assert_eq!(PropertyValue::Bool(false).encode(), [0]);
        let t = UNIX_EPOCH + Duration::from_secs(2);
        assert_eq!(
            PropertyValue::Timestamp(t).encode(),
            2_000_000_000i64.to_le_bytes()
        );
        assert_eq!(
            PropertyValue::Duration(Duration::from_millis(3)).encode(),
            3_000_000i64.to_le_bytes()
        );
        let map = PropertyValue::Map(vec![("a".into(), "1".into())]);
        assert_eq!(map.encode(), serialize_pairs(&[("a".into(), "1".into())]));
        assert_eq!(map.index("a"), Some(PropertyValue::from("1")));
        assert_eq!(map.index("b"), None);
    }

    #[test]
    fn paths() {
        assert_eq!(parse_guest_path(b"request\0path"), vec!["request", "path"]);
        assert_eq!(
            parse_guest_path(b"request\0path\0"),
            vec!["request", "path"]
        );
        assert_eq!(parse_guest_path(b"plugin_name"), vec!["plugin_name"]);
        assert_eq!(
            parse_dotted_path("source.address"),
            vec!["source", "address"]
        );
        assert_eq!(
            filter_state_key(&["my_key".to_string()]),
            "wasm.my_key".to_string()
        );
    }
}
