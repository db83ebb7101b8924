//! The `events` section of a plugin configuration: where events go, how they are batched,
//! and how much may wait in memory.
//!
//! ```json
//! "events": {
//!   "sink_cluster": "event_sink",
//!   "mode": "batched",
//!   "include_headers": ["x-tenant-id", "authorization"]
//! }
//! ```
//!
//! Every field but `sink_cluster` has a default (see each field). Errors name the field as
//! `events.<field>`.

use serde::Deserialize;
use serde_json::Value;

use crate::config::{from_value, ConfigError};
use crate::events::event::CloudEvent;

/// The top-level member of every plugin configuration that holds its decision events.
pub(crate) const EVENTS_FIELD: &str = "events";

/// Header names whose values are replaced by `REDACTED` in events unless
/// `allow_sensitive_headers` is true.
pub(super) const SENSITIVE_HEADERS: [&str; 4] = [
    "authorization",
    "cookie",
    "proxy-authorization",
    "set-cookie",
];

/// What a redacted header value reads as.
pub(super) const REDACTED: &str = "[REDACTED]";

/// How events are written to the sink (the HTTP binding's content modes).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryMode {
    /// One event per request; attributes as `ce-*` headers, the data as the body.
    Binary,
    /// One event per request, as an `application/cloudevents+json` body.
    Structured,
    /// Up to `max_batch_events` events per request, as an `application/cloudevents-batch+json`
    /// array.
    #[default]
    Batched,
}

/// The `events` section of a plugin configuration. Off unless present.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventsConfig {
    /// The Envoy cluster events are sent to (required).
    pub sink_cluster: String,
    /// `:authority` of the requests to the sink. Default: the cluster name.
    #[serde(default)]
    pub sink_authority: Option<String>,
    /// `:path` of the requests to the sink. Default: `/`.
    #[serde(default = "default_sink_path")]
    pub sink_path: String,
    /// Content mode. Default: `batched`.
    #[serde(default)]
    pub mode: DeliveryMode,
    /// The events' `source` (a URI-reference). Default: `/palisade/<plugin name>`, from Envoy's
    /// `plugin_name`, or the filter's name when the proxy has none.
    #[serde(default)]
    pub source: Option<String>,
    /// Prefix of the events' `type`: decision events are `<type_prefix>.<kind>.decision`.
    /// Default: `io.palisade`.
    #[serde(default = "default_type_prefix")]
    pub type_prefix: String,
    /// How often queued events are sent, in milliseconds. Default: 1000.
    #[serde(default = "default_flush_interval_ms")]
    pub flush_interval_ms: u32,
    /// Most events in one flush (one request in batched mode). Default: 100.
    #[serde(default = "default_max_batch_events")]
    pub max_batch_events: u32,
    /// Most events waiting in memory; beyond it the oldest are dropped. Default: 10000.
    #[serde(default = "default_max_queue_events")]
    pub max_queue_events: u32,
    /// Most encoded bytes waiting in memory; beyond it the oldest are dropped. Default: 4 MiB.
    #[serde(default = "default_max_queue_bytes")]
    pub max_queue_bytes: u32,
    /// Timeout of each request to the sink, in milliseconds. Default: 5000.
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u32,
    /// Request headers copied into decision events. Default: none. `authorization`, `cookie`,
    /// `proxy-authorization` and `set-cookie` are redacted unless `allow_sensitive_headers`.
    #[serde(default)]
    pub include_headers: Vec<String>,
    /// Copy sensitive headers listed in `include_headers` as they are. Default: false.
    #[serde(default)]
    pub allow_sensitive_headers: bool,
}

fn default_sink_path() -> String {
    "/".into()
}

fn default_type_prefix() -> String {
    "io.palisade".into()
}

fn default_flush_interval_ms() -> u32 {
    1000
}

fn default_max_batch_events() -> u32 {
    100
}

fn default_max_queue_events() -> u32 {
    10_000
}

fn default_max_queue_bytes() -> u32 {
    4 * 1024 * 1024
}

fn default_timeout_ms() -> u32 {
    5000
}

impl EventsConfig {
    /// Parses and checks the `events` section (already taken out of the plugin configuration).
    pub fn from_value(section: Value) -> Result<Self, ConfigError> {
        // serde would also read a struct from an array of its fields in order.
        if !section.is_object() {
            return Err(ConfigError::field(
                EVENTS_FIELD,
                format!("expected an object with at least `sink_cluster`, got {section}"),
            ));
        }
        let config: Self = from_value(section, Some(EVENTS_FIELD))?;
        config.validate()?;
        Ok(config)
    }

    /// The checks serde cannot express.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let field = |name: &str, message: String| {
            ConfigError::field(format!("{EVENTS_FIELD}.{name}"), message)
        };
        if self.sink_cluster.is_empty() {
            return Err(field(
                "sink_cluster",
                "expected a cluster name, got an empty string".into(),
            ));
        }
        if let Some(authority) = &self.sink_authority {
            if authority.is_empty() || !authority.bytes().all(is_visible_ascii) {
                return Err(field(
                    "sink_authority",
                    format!("expected a host name, got {authority:?}"),
                ));
            }
        }
        if !self.sink_path.starts_with('/') || !self.sink_path.bytes().all(is_visible_ascii) {
            return Err(field(
                "sink_path",
                format!(
                    "expected a path starting with `/`, without spaces, got {:?}",
                    self.sink_path
                ),
            ));
        }
        if let Some(source) = &self.source {
            probe_event(source, "io.palisade.probe").map_err(|reason| field("source", reason))?;
        }
        if self.type_prefix.is_empty() {
            return Err(field(
                "type_prefix",
                "expected a non-empty prefix such as `io.palisade`".into(),
            ));
        }
        probe_event("/", &format!("{}.probe.decision", self.type_prefix))
            .map_err(|reason| field("type_prefix", reason))?;
        for (name, value) in [
            ("flush_interval_ms", self.flush_interval_ms),
            ("max_batch_events", self.max_batch_events),
            ("max_queue_events", self.max_queue_events),
            ("max_queue_bytes", self.max_queue_bytes),
            ("timeout_ms", self.timeout_ms),
        ] {
            if value == 0 {
                return Err(field(name, "must be at least 1".into()));
            }
        }
        if self.max_batch_events > self.max_queue_events {
            return Err(field(
                "max_batch_events",
                format!(
                    "must not exceed max_queue_events ({}), got {}",
                    self.max_queue_events, self.max_batch_events
                ),
            ));
        }
        if let Some(name) = self
            .include_headers
            .iter()
            .find(|name| !is_header_name(name))
        {
            return Err(field(
                "include_headers",
                format!("expected HTTP header names, got {name:?}"),
            ));
        }
        Ok(())
    }

    /// The `:authority` of requests to the sink.
    pub fn authority(&self) -> &str {
        self.sink_authority.as_deref().unwrap_or(&self.sink_cluster)
    }

    /// The events' `source`: the configured one, else `/palisade/<plugin_name>` (the filter's
    /// name when the proxy gave no plugin name), percent-encoded to stay a URI-reference.
    pub fn source_for(&self, plugin_name: Option<&str>, filter_name: &str) -> String {
        if let Some(source) = &self.source {
            return source.clone();
        }
        let name = plugin_name.filter(|n| !n.is_empty()).unwrap_or(filter_name);
        format!("/palisade/{}", crate::request::percent_encode(name))
    }

    /// Whether a header's value is replaced by `REDACTED` in events.
    pub fn redacts(&self, header: &str) -> bool {
        !self.allow_sensitive_headers
            && SENSITIVE_HEADERS
                .iter()
                .any(|s| s.eq_ignore_ascii_case(header))
    }
}

/// Builds a throw-away event to check a `source` or `type` the way every event will be checked.
fn probe_event(source: &str, event_type: &str) -> Result<(), String> {
    CloudEvent::builder()
        .id("probe")
        .source(source)
        .event_type(event_type)
        .build()
        .map(|_| ())
        .map_err(|err| err.to_string())
}

fn is_visible_ascii(b: u8) -> bool {
    (0x21..=0x7E).contains(&b)
}

/// An RFC 7230 token.
fn is_header_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(section: Value) -> Result<EventsConfig, ConfigError> {
        EventsConfig::from_value(section)
    }

    #[test]
    fn defaults_follow_the_issue() {
        let c = parse(json!({"sink_cluster": "sink"})).unwrap();
        assert_eq!(c.authority(), "sink");
        assert_eq!(c.sink_path, "/");
        assert_eq!(c.mode, DeliveryMode::Batched);
        assert_eq!(c.source, None);
        assert_eq!(c.type_prefix, "io.palisade");
        assert_eq!(c.flush_interval_ms, 1000);
        assert_eq!(c.max_batch_events, 100);
        assert_eq!(c.max_queue_events, 10_000);
        assert_eq!(c.max_queue_bytes, 4 * 1024 * 1024);
        assert_eq!(c.timeout_ms, 5000);
        assert!(c.include_headers.is_empty());
        assert!(!c.allow_sensitive_headers);
    }

    #[test]
    fn every_field_can_be_set() {
        let c = parse(json!({
            "sink_cluster": "sink", "sink_authority": "events.local", "sink_path": "/ingest",
            "mode": "binary", "source": "urn:palisade:edge", "type_prefix": "com.example",
            "flush_interval_ms": 250, "max_batch_events": 10, "max_queue_events": 20,
            "max_queue_bytes": 4096, "timeout_ms": 300, "include_headers": ["x-a"],
            "allow_sensitive_headers": true
        }))
        .unwrap();
        assert_eq!(c.authority(), "events.local");
        assert_eq!(c.mode, DeliveryMode::Binary);
        assert_eq!(c.source_for(Some("p"), "f"), "urn:palisade:edge");
        assert!(!c.redacts("authorization"));
        assert_eq!(
            parse(json!({"sink_cluster": "s", "mode": "structured"}))
                .unwrap()
                .mode,
            DeliveryMode::Structured
        );
    }

    #[test]
    fn the_default_source_names_the_plugin() {
        let c = parse(json!({"sink_cluster": "sink"})).unwrap();
        assert_eq!(
            c.source_for(Some("edge-authz"), "rego_authz"),
            "/palisade/edge-authz"
        );
        assert_eq!(c.source_for(None, "rego_authz"), "/palisade/rego_authz");
        assert_eq!(c.source_for(Some(""), "rego_authz"), "/palisade/rego_authz");
        assert_eq!(c.source_for(Some("a b/ü"), "f"), "/palisade/a%20b%2F%C3%BC");
        probe_event(&c.source_for(Some("a b/ü\u{1}"), "f"), "t").unwrap();
    }

    #[test]
    fn sensitive_headers_are_redacted_by_default() {
        let c = parse(json!({"sink_cluster": "sink"})).unwrap();
        for name in [
            "authorization",
            "Cookie",
            "proxy-authorization",
            "set-cookie",
        ] {
            assert!(c.redacts(name), "{name}");
        }
        assert!(!c.redacts("x-tenant-id"));
    }

    #[test]
    fn errors_name_the_field() {
        let cases = [
            (json!({}), "events.sink_cluster"),
            (json!({"sink_cluster": ""}), "events.sink_cluster"),
            (
                json!({"sink_cluster": "s", "sink_authority": ""}),
                "events.sink_authority",
            ),
            (
                json!({"sink_cluster": "s", "sink_path": "ingest"}),
                "events.sink_path",
            ),
            (
                json!({"sink_cluster": "s", "sink_path": "/a b"}),
                "events.sink_path",
            ),
            (
                json!({"sink_cluster": "s", "source": "not a uri"}),
                "events.source",
            ),
            (json!({"sink_cluster": "s", "source": ""}), "events.source"),
            (
                json!({"sink_cluster": "s", "type_prefix": ""}),
                "events.type_prefix",
            ),
            (
                json!({"sink_cluster": "s", "type_prefix": "a\u{7}b"}),
                "events.type_prefix",
            ),
            (
                json!({"sink_cluster": "s", "flush_interval_ms": 0}),
                "events.flush_interval_ms",
            ),
            (
                json!({"sink_cluster": "s", "flush_interval_ms": -1}),
                "events.flush_interval_ms",
            ),
            (
                json!({"sink_cluster": "s", "max_batch_events": 0}),
                "events.max_batch_events",
            ),
            (
                json!({"sink_cluster": "s", "max_queue_events": 0}),
                "events.max_queue_events",
            ),
            (
                json!({"sink_cluster": "s", "max_batch_events": 11, "max_queue_events": 10}),
                "events.max_batch_events",
            ),
            (
                json!({"sink_cluster": "s", "max_queue_bytes": 0}),
                "events.max_queue_bytes",
            ),
            (
                json!({"sink_cluster": "s", "timeout_ms": "5s"}),
                "events.timeout_ms",
            ),
            (
                json!({"sink_cluster": "s", "timeout_ms": 0}),
                "events.timeout_ms",
            ),
            (
                json!({"sink_cluster": "s", "include_headers": ["a b"]}),
                "events.include_headers",
            ),
            (
                json!({"sink_cluster": "s", "include_headers": "x-a"}),
                "events.include_headers",
            ),
            (json!({"sink_cluster": "s", "mode": "fast"}), "events.mode"),
            (json!({"sink_cluster": "s", "sink": "x"}), "events.sink"),
            (json!(["s"]), "events"),
            (json!("s"), "events"),
        ];
        for (section, want) in cases {
            let err = parse(section.clone()).unwrap_err();
            assert_eq!(err.field.as_deref(), Some(want), "{section}: {err}");
        }
    }
}
