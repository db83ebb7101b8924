//! What the SDK reads from every plugin configuration ([`SdkSettings`]): `events` (see
//! [`crate::events::EventsConfig`]) and `allow_on_headers_stop_iteration`.
//! [`parse_plugin_config`] takes them out before the rest is parsed as the policy's own
//! configuration, so every filter supports them without declaring the fields.

use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::config::{from_value, parse_config, ConfigError};
use crate::events::{EventsConfig, EVENTS_FIELD};

/// The top-level member that says the Envoy Wasm filter runs with
/// `allow_on_headers_stop_iteration: true`.
pub(crate) const STOP_ITERATION_FIELD: &str = "allow_on_headers_stop_iteration";

/// What the SDK reads from every plugin configuration, beside the policy's own fields.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SdkSettings {
    /// Decision events, when the configuration has an `events` section.
    pub events: Option<EventsConfig>,
    /// `allow_on_headers_stop_iteration: true`: the Envoy Wasm filter lets a plugin hold the
    /// request headers while it reads the body, so a policy that reads the body decides before
    /// anything goes upstream. Without it (Envoy's default, and all an Istio `WasmPlugin` can
    /// configure), a plugin that holds the headers never sees the body: the SDK lets the
    /// headers go on and holds the body until the policy decided.
    pub allow_on_headers_stop_iteration: bool,
}

/// Parses a plugin configuration into the policy's configuration `T` and the SDK's settings
/// (JSON or a serialised `Struct`, as [`parse_config`]). The SDK's members are removed before
/// `T` is parsed, so a `T` with `deny_unknown_fields` never sees them; an error in `events`
/// names the field as `events.<field>`. An `events` of `null` is the same as none.
pub fn parse_plugin_config<T: DeserializeOwned>(
    raw: &[u8],
) -> Result<(T, SdkSettings), ConfigError> {
    let mut document: Value = parse_config(raw)?;
    let (events, stop_iteration) = match &mut document {
        Value::Object(members) => (
            members.remove(EVENTS_FIELD),
            members.remove(STOP_ITERATION_FIELD),
        ),
        _ => (None, None),
    };
    let events = match events {
        None | Some(Value::Null) => None,
        Some(section) => Some(EventsConfig::from_value(section)?),
    };
    let allow_on_headers_stop_iteration = match stop_iteration {
        None | Some(Value::Null) => false,
        Some(Value::Bool(allowed)) => allowed,
        Some(other) => {
            return Err(ConfigError::field(
                STOP_ITERATION_FIELD,
                format!("expected a boolean, found {other}"),
            ))
        }
    };
    let settings = SdkSettings {
        events,
        allow_on_headers_stop_iteration,
    };
    Ok((from_value(document, None)?, settings))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::tests::Config;

    #[test]
    fn events_are_taken_out_before_the_policy_config_is_parsed() {
        let raw = br#"{"header": "x-t", "events": {"sink_cluster": "sink"}}"#;
        let (c, sdk) = parse_plugin_config::<Config>(raw).unwrap();
        assert_eq!(c.header, "x-t");
        assert_eq!(sdk.events.unwrap().sink_cluster, "sink");
        let (_, sdk) = parse_plugin_config::<Config>(br#"{"events": null}"#).unwrap();
        assert_eq!(sdk.events, None);
        let (c, sdk) = parse_plugin_config::<Config>(b"").unwrap();
        assert_eq!(
            (c.header.as_str(), sdk),
            ("x-tenant", SdkSettings::default())
        );
        // The policy's own errors are named as before.
        let err =
            parse_plugin_config::<Config>(br#"{"hedaer": "x", "events": {"sink_cluster": "s"}}"#)
                .unwrap_err();
        assert_eq!(err.field.as_deref(), Some("hedaer"));
        let err = parse_plugin_config::<Config>(br#"{"sink": {"cluster": 1}}"#).unwrap_err();
        assert_eq!(err.field.as_deref(), Some("sink.cluster"));
    }

    #[test]
    fn events_errors_name_the_events_field() {
        let err = parse_plugin_config::<Config>(br#"{"events": {}}"#).unwrap_err();
        assert_eq!(err.field.as_deref(), Some("events.sink_cluster"));
        let err = parse_plugin_config::<Config>(br#"{"events": {"sink_cluster": "s", "mdoe": 1}}"#)
            .unwrap_err();
        assert_eq!(err.field.as_deref(), Some("events.mdoe"));
        let err =
            parse_plugin_config::<Config>(br#"{"events": {"sink_cluster": "s", "mode": "fast"}}"#)
                .unwrap_err();
        assert_eq!(err.field.as_deref(), Some("events.mode"));
        assert!(err.message.contains("`binary`, `structured`"), "{err}");
        let err = parse_plugin_config::<Config>(br#"{"events": true}"#).unwrap_err();
        assert_eq!(err.field.as_deref(), Some("events"));
    }

    #[test]
    fn events_in_a_serialised_struct() {
        // Struct { fields: { "events": Struct { fields: { "sink_cluster": "s" } } } }.
        let inner_entry = [
            &[0x0a, 12][..],
            b"sink_cluster",
            &[0x12, 3, 0x1a, 1][..],
            b"s",
        ]
        .concat();
        let inner = [
            &[0x0a, u8::try_from(inner_entry.len()).unwrap()][..],
            &inner_entry,
        ]
        .concat();
        let value = [&[0x2a, u8::try_from(inner.len()).unwrap()][..], &inner].concat();
        let entry = [
            &[0x0a, 6][..],
            b"events",
            &[0x12, u8::try_from(value.len()).unwrap()][..],
            &value,
        ]
        .concat();
        let bytes = [&[0x0a, u8::try_from(entry.len()).unwrap()][..], &entry].concat();
        let (c, sdk) = parse_plugin_config::<Config>(&bytes).unwrap();
        assert_eq!(c.header, "x-tenant");
        assert_eq!(sdk.events.unwrap().sink_cluster, "s");
    }

    #[test]
    fn the_stop_iteration_setting_is_the_sdks() {
        let raw = br#"{"header": "x-t", "allow_on_headers_stop_iteration": true}"#;
        let (c, sdk) = parse_plugin_config::<Config>(raw).unwrap();
        assert_eq!(c.header, "x-t");
        assert!(sdk.allow_on_headers_stop_iteration);
        let (_, sdk) = parse_plugin_config::<Config>(b"{}").unwrap();
        assert!(!sdk.allow_on_headers_stop_iteration, "Envoy's default");
        let err = parse_plugin_config::<Config>(br#"{"allow_on_headers_stop_iteration": "yes"}"#)
            .unwrap_err();
        assert_eq!(
            err.field.as_deref(),
            Some("allow_on_headers_stop_iteration")
        );
    }
}
