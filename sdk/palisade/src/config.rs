//! Typed plugin configuration, parsed once in `on_configure`.
//!
//! Envoy delivers a `google.protobuf.StringValue` configuration as its raw string and a
//! `Struct` (and Istio its `pluginConfig`) as JSON, so both arrive here as JSON text. An
//! error names the field that was wrong and what was expected. What the SDK itself reads from
//! every configuration is in [`crate::settings`].

use serde::de::DeserializeOwned;
use serde_json::Value;

/// Why a plugin configuration was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid plugin configuration: {}{message}", field_prefix(.field))]
pub struct ConfigError {
    /// The field's path, e.g. `events.sink_cluster`; `None` when the document itself is bad.
    pub field: Option<String>,
    /// What was wrong and, where serde knows it, what was expected.
    pub message: String,
}

fn field_prefix(field: &Option<String>) -> String {
    field
        .as_ref()
        .map(|f| format!("field `{f}`: "))
        .unwrap_or_default()
}

impl ConfigError {
    /// An error about one field, for checks serde cannot express (ranges, cross-field rules).
    pub fn field(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: Some(field.into()),
            message: message.into(),
        }
    }
}

/// Parses a plugin configuration. An absent or blank configuration is read as `{}`, so a
/// config type whose fields all have defaults works without one. JSON text is the usual form;
/// a serialised `google.protobuf.Struct` (what Envoy passes for a `Struct` configuration) is
/// accepted too.
pub fn parse_config<T: DeserializeOwned>(raw: &[u8]) -> Result<T, ConfigError> {
    let raw = if raw.iter().all(u8::is_ascii_whitespace) {
        b"{}".as_slice()
    } else {
        raw
    };
    let looks_like_json = raw
        .iter()
        .find(|b| !b.is_ascii_whitespace())
        .is_some_and(|b| *b == b'{');
    if !looks_like_json {
        if let Some(document) = crate::proto_struct::struct_to_json(raw) {
            return serde_path_to_error::deserialize(document).map_err(|err| {
                let path = err.path().to_string();
                let inner = err.into_inner();
                ConfigError {
                    field: nested_field(&path, &inner.to_string()),
                    message: strip_position(&inner),
                }
            });
        }
    }
    let mut deserializer = serde_json::Deserializer::from_slice(raw);
    let value = serde_path_to_error::deserialize(&mut deserializer).map_err(|err| {
        let path = err.path().to_string();
        let inner = err.into_inner();
        // serde reports unknown and missing fields relative to their parent: name the field.
        ConfigError {
            field: nested_field(&path, &inner.to_string()),
            message: strip_position(&inner),
        }
    })?;
    deserializer.end().map_err(|err| ConfigError {
        field: None,
        message: err.to_string(),
    })?;
    Ok(value)
}

/// Deserialises `T` from a parsed document; error fields are prefixed with `prefix.` when the
/// document is a section of the configuration (and named `prefix` when the section itself has
/// the wrong shape).
pub(crate) fn from_value<T: DeserializeOwned>(
    document: Value,
    prefix: Option<&str>,
) -> Result<T, ConfigError> {
    serde_path_to_error::deserialize(document).map_err(|err| {
        let path = err.path().to_string();
        let inner = err.into_inner();
        let field = nested_field(&path, &inner.to_string());
        ConfigError {
            field: match (prefix, field) {
                (Some(prefix), Some(field)) => Some(format!("{prefix}.{field}")),
                (Some(prefix), None) => Some(prefix.to_string()),
                (None, field) => field,
            },
            message: strip_position(&inner),
        }
    })
}

/// serde_path_to_error's path ends at the parent for a missing field (and at the field itself
/// for an unknown one): make it always end at the field the error names.
fn nested_field(path: &str, message: &str) -> Option<String> {
    let named = ["unknown field `", "missing field `"]
        .iter()
        .find_map(|prefix| message.strip_prefix(prefix))
        .and_then(|rest| rest.split('`').next());
    let parent = (path != ".").then_some(path);
    match (parent, named) {
        (Some(parent), Some(name)) if parent == name || parent.ends_with(&format!(".{name}")) => {
            Some(parent.to_string())
        }
        (Some(parent), Some(name)) => Some(format!("{parent}.{name}")),
        (None, Some(name)) => Some(name.to_string()),
        (Some(parent), None) => Some(parent.to_string()),
        (None, None) => None,
    }
}

/// serde_json appends "at line L column C"; for a one-line config the field is the better pointer,
/// but keep the position for syntax errors where there is no field.
fn strip_position(err: &serde_json::Error) -> String {
    let text = err.to_string();
    if err.is_syntax() || err.is_eof() {
        return text;
    }
    match text.rfind(" at line ") {
        Some(at) => text[..at].to_string(),
        None => text,
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use serde::Deserialize;

    /// A policy configuration for the tests here and in `settings`.
    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    pub(crate) struct Sink {
        pub(crate) cluster: String,
        #[serde(default)]
        pub(crate) timeout_ms: u32,
    }

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    pub(crate) struct Config {
        #[serde(default = "default_header")]
        pub(crate) header: String,
        pub(crate) sink: Option<Sink>,
    }

    fn default_header() -> String {
        "x-tenant".into()
    }

    #[test]
    fn empty_config_uses_defaults() {
        let c: Config = parse_config(b"").unwrap();
        assert_eq!(c.header, "x-tenant");
        let c: Config = parse_config(b"  \n").unwrap();
        assert_eq!(c.sink, None);
    }

    #[test]
    fn wrong_type_names_the_nested_field_and_expectation() {
        let err = parse_config::<Config>(br#"{"sink": {"cluster": "c", "timeout_ms": "soon"}}"#)
            .unwrap_err();
        assert_eq!(err.field.as_deref(), Some("sink.timeout_ms"));
        assert!(err.message.contains("expected u32"), "{err}");
        assert!(
            err.to_string()
                .starts_with("invalid plugin configuration: field `sink.timeout_ms`: "),
            "{err}"
        );
    }

    #[test]
    fn unknown_and_missing_fields_are_named() {
        let err =
            parse_config::<Config>(br#"{"sink": {"cluster": "c", "retries": 3}}"#).unwrap_err();
        assert_eq!(err.field.as_deref(), Some("sink.retries"));
        assert!(
            err.message.contains("expected `cluster` or `timeout_ms`"),
            "{err}"
        );

        let err = parse_config::<Config>(br#"{"sink": {}}"#).unwrap_err();
        assert_eq!(err.field.as_deref(), Some("sink.cluster"));

        let err = parse_config::<Config>(br#"{"hedaer": "x"}"#).unwrap_err();
        assert_eq!(err.field.as_deref(), Some("hedaer"));
    }

    #[test]
    fn a_serialised_struct_is_read_like_json() {
        // Struct { fields: { "header": Value { string_value: "x-t" } } }, as Envoy passes it.
        let entry = [&[0x0a, 6][..], b"header", &[0x12, 5, 0x1a, 3][..], b"x-t"].concat();
        let bytes = [&[0x0a, u8::try_from(entry.len()).unwrap()][..], &entry].concat();
        let c: Config = parse_config(&bytes).unwrap();
        assert_eq!(c.header, "x-t");
        let typo = [&[0x0a, 6][..], b"hedaer", &[0x12, 5, 0x1a, 3][..], b"x-t"].concat();
        let bytes = [&[0x0a, u8::try_from(typo.len()).unwrap()][..], &typo].concat();
        let err = parse_config::<Config>(&bytes).unwrap_err();
        assert_eq!(err.field.as_deref(), Some("hedaer"));
    }

    #[test]
    fn syntax_errors_keep_their_position() {
        let err = parse_config::<Config>(b"{\"header\": ").unwrap_err();
        assert_eq!(err.field.as_deref(), Some("header"));
        assert!(err.message.contains("line 1 column"), "{err}");
        let err = parse_config::<Config>(br#"{"header": "a"} trailing"#).unwrap_err();
        assert!(err.message.contains("trailing characters"), "{err}");
    }
}
