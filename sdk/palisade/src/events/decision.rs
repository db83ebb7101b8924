//! Decision events: what a filter decided about one request, as a CloudEvent.
//!
//! Type `<type_prefix>.<kind>.decision` (kind: [`crate::Policy::EVENT_KIND`]), subject the
//! request's path without its query string, time from the proxy's clock, and JSON data:
//!
//! ```json
//! {
//!   "decision_id": "5f0c...",            // the policy's, or a fresh UUID
//!   "allowed": false,
//!   "status": 403,                       // the local reply's status; 200 when allowed
//!   "request": {"method": "GET", "path": "/a?b=c", "host": "example.com",
//!               "source_address": "10.0.0.1:5000"},
//!   "headers": {"x-tenant-id": "acme", "authorization": "[REDACTED]"},
//!   "eval_time_us": 41,
//!   "error": "policy rego_authz failed: ...",   // only when the policy failed
//!   "rule": "data.envoy.authz.allow"            // fields the policy added
//! }
//! ```
//!
//! `headers` lists only the names in `include_headers` that the request has (repeated
//! headers joined with `,`); it is absent when `include_headers` is empty. A policy's own
//! fields ([`crate::Policy::event_fields`] for all its events, then
//! [`crate::Decision::event_field`] for one decision, which win over the former) cannot
//! replace the fields above.

use std::time::{Duration, SystemTime};

use serde::ser::{Serialize, SerializeMap as _, Serializer};
use serde_json::Value;

use super::config::{EventsConfig, REDACTED};
use super::emitter::EventSink;
use super::event::{CloudEvent, EventError};
use crate::config::ConfigError;
use crate::decision::Decision;
use crate::host::Host;
use crate::ids::IdGenerator;
use crate::request::Request;

const JSON: &str = "application/json";

/// The request as a decision event describes it (taken while the request is being decided).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct RequestSummary {
    /// `:method`.
    pub method: String,
    /// `:path`, query string included.
    pub path: String,
    /// `:authority`.
    pub host: String,
    /// The downstream peer (`address:port`, IPv6 in brackets), when the proxy tells.
    pub source_address: Option<String>,
    /// The `include_headers` the request has, redacted as configured.
    pub headers: Vec<(String, String)>,
}

/// One decision, as the filter carried it out.
#[derive(Debug, Clone)]
pub(crate) struct DecisionRecord<'a> {
    /// When the request was decided (proxy clock, before the policy ran).
    pub time: SystemTime,
    /// The request; `None` when even its headers could not be read.
    pub request: Option<&'a RequestSummary>,
    /// The decision the policy returned (or the failure mode's, when it failed).
    pub decision: &'a Decision,
    /// The policy's own fields for all its events ([`crate::Policy::event_fields`]).
    pub policy_fields: &'a [(String, Value)],
    /// Whether the request went upstream.
    pub allowed: bool,
    /// The local reply's status when denied.
    pub status: u16,
    /// How long the policy took (proxy clock).
    pub eval_time: Duration,
    /// Why the policy (or carrying out its decision) failed.
    pub error: Option<&'a str>,
}

/// Builds decision events for one filter and hands them to the emitter.
#[derive(Debug)]
pub(crate) struct DecisionEvents {
    sink: EventSink,
    /// Every event's constant attributes, checked once: each event is made from it.
    template: CloudEvent,
    /// Lower-case header names, each with whether its value is redacted.
    headers: Vec<(String, bool)>,
    ids: IdGenerator,
}

impl DecisionEvents {
    /// Decision events of `kind` from `source` (see [`EventsConfig::source_for`]), delivered
    /// through `sink`; ids drawn from a generator seeded with `seed` and the system's
    /// randomness. Fails, naming `events.source` or `events.type_prefix`, when those do not
    /// make valid events.
    pub(crate) fn new(
        config: &EventsConfig,
        source: String,
        kind: &str,
        sink: EventSink,
        seed: u64,
    ) -> Result<Self, ConfigError> {
        let event_type = format!("{}.{kind}.decision", config.type_prefix);
        let template = CloudEvent::builder()
            .id("template")
            .source(source)
            .event_type(event_type)
            .datacontenttype(JSON)
            .build()
            .map_err(|err| {
                let field = match &err {
                    EventError::InvalidAttribute { name, .. } if name == "type" => "type_prefix",
                    _ => "source",
                };
                ConfigError::field(format!("events.{field}"), err.to_string())
            })?;
        let headers = config
            .include_headers
            .iter()
            .map(|name| (name.to_ascii_lowercase(), config.redacts(name)))
            .collect();
        Ok(Self {
            sink,
            template,
            headers,
            ids: IdGenerator::seeded(seed),
        })
    }

    /// The events' `type`.
    #[cfg(test)]
    pub(crate) fn event_type(&self) -> &str {
        self.template.event_type()
    }

    /// The events' `source`.
    #[cfg(test)]
    pub(crate) fn source(&self) -> &str {
        self.template.source()
    }

    /// The emitter the events go to.
    pub(crate) fn sink(&self) -> &EventSink {
        &self.sink
    }

    /// What the event will say about the request: taken before the policy runs, while the
    /// request can still be read.
    pub(crate) fn summarize(&self, request: &Request<'_>) -> RequestSummary {
        let headers = self
            .headers
            .iter()
            .filter_map(|(name, redacted)| {
                let values: Vec<&str> = request.header_values(name).collect();
                if values.is_empty() {
                    None
                } else if *redacted {
                    Some((name.clone(), REDACTED.to_string()))
                } else {
                    Some((name.clone(), values.join(",")))
                }
            })
            .collect();
        RequestSummary {
            method: request.method().to_string(),
            path: request.path().to_string(),
            host: request.host().to_string(),
            source_address: request.source().map(|peer| {
                let address = if peer.address.contains(':') {
                    format!("[{}]", peer.address)
                } else {
                    peer.address.clone()
                };
                if peer.port == 0 {
                    address
                } else {
                    format!("{address}:{}", peer.port)
                }
            }),
            headers,
        }
    }

    /// The decision event for a record.
    pub(crate) fn event(&self, record: &DecisionRecord<'_>) -> Result<CloudEvent, EventError> {
        let decision = record.decision;
        let generated;
        let decision_id = match &decision.report().decision_id {
            Some(id) => id.as_str(),
            None => {
                generated = self.ids.next_uuid();
                generated.as_str()
            }
        };
        let unknown = RequestSummary::default();
        let request = record.request.unwrap_or(&unknown);
        let data = DecisionData {
            own: own_fields(record.policy_fields, &decision.report().event_fields),
            decision_id,
            allowed: record.allowed,
            status: record.status,
            request,
            headers: (!self.headers.is_empty()).then_some(request.headers.as_slice()),
            eval_time_us: u64::try_from(record.eval_time.as_micros()).unwrap_or(u64::MAX),
            error: record.error,
        };
        let subject = request.path.split('?').next().unwrap_or_default();
        let subject = (!subject.is_empty()).then_some(subject);
        self.template
            .with_json(self.ids.next_uuid(), record.time, subject, &data)
    }

    /// Builds the event and queues it; never fails the request (an event that cannot be built
    /// is counted as dropped, `encode`).
    pub(crate) fn emit(&self, host: &mut dyn Host, record: &DecisionRecord<'_>) {
        match self.event(record) {
            Ok(event) => self.sink.emit(host, &event),
            Err(err) => self.sink.drop_unbuildable(host, &err),
        }
    }
}

/// The members the SDK writes in every decision event; a policy's fields by these names are
/// left out.
const SDK_FIELDS: [&str; 7] = [
    "decision_id",
    "allowed",
    "status",
    "request",
    "headers",
    "eval_time_us",
    "error",
];

/// The policy's fields for all its events, then the decision's own (which win), without the
/// SDK's names; each name once.
fn own_fields<'a>(
    policy: &'a [(String, Value)],
    decision: &'a [(String, Value)],
) -> Vec<(&'a str, &'a Value)> {
    let all: Vec<(&str, &Value)> = policy
        .iter()
        .chain(decision)
        .map(|(name, value)| (name.as_str(), value))
        .filter(|(name, _)| !SDK_FIELDS.contains(name))
        .collect();
    all.iter()
        .enumerate()
        .filter(|(i, (name, _))| !all.iter().skip(i + 1).any(|(later, _)| later == name))
        .map(|(_, field)| *field)
        .collect()
}

/// A decision event's `data`, serialised straight to JSON text (the shape in the module docs).
struct DecisionData<'a> {
    own: Vec<(&'a str, &'a Value)>,
    decision_id: &'a str,
    allowed: bool,
    status: u16,
    request: &'a RequestSummary,
    /// `None` when `include_headers` is empty (no `headers` member at all).
    headers: Option<&'a [(String, String)]>,
    eval_time_us: u64,
    error: Option<&'a str>,
}

impl Serialize for DecisionData<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        for (name, value) in &self.own {
            map.serialize_entry(name, value)?;
        }
        map.serialize_entry("decision_id", self.decision_id)?;
        map.serialize_entry("allowed", &self.allowed)?;
        map.serialize_entry("status", &self.status)?;
        map.serialize_entry("request", &RequestMember(self.request))?;
        if let Some(headers) = self.headers {
            map.serialize_entry("headers", &HeadersMember(headers))?;
        }
        map.serialize_entry("eval_time_us", &self.eval_time_us)?;
        if let Some(error) = self.error {
            map.serialize_entry("error", error)?;
        }
        map.end()
    }
}

/// `request`: method, path, host, and the source address (`null` when unknown).
struct RequestMember<'a>(&'a RequestSummary);

impl Serialize for RequestMember<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(4))?;
        map.serialize_entry("method", &self.0.method)?;
        map.serialize_entry("path", &self.0.path)?;
        map.serialize_entry("host", &self.0.host)?;
        map.serialize_entry("source_address", &self.0.source_address)?;
        map.end()
    }
}

/// `headers`: name to value.
struct HeadersMember<'a>(&'a [(String, String)]);

impl Serialize for HeadersMember<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_map(self.0.iter().map(|(name, value)| (name, value)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::emitter::EventEmitter;
    use crate::events::metrics::EventMetrics;
    use crate::testing::FakeHost;
    use serde_json::json;

    fn decision_events(host: &mut FakeHost, config: Value) -> DecisionEvents {
        let config = EventsConfig::from_value(config).unwrap();
        let metrics = EventMetrics::define(host, "f").unwrap();
        let sink = EventSink::new(EventEmitter::new(&config, metrics));
        let source = config.source_for(Some("edge"), "f");
        DecisionEvents::new(&config, source, "authz", sink, 1).unwrap()
    }

    fn request_host() -> FakeHost {
        let mut host = FakeHost::with_headers(&[
            (":method", "POST"),
            (":path", "/orders/7?token=s"),
            (":authority", "shop.example"),
            ("authorization", "Bearer secret"),
            ("cookie", "a=1"),
            ("cookie", "b=2"),
            ("x-tenant-id", "acme"),
            ("x-multi", "1"),
            ("x-multi", "2"),
        ]);
        host.properties
            .insert("source.address".into(), b"[2001:db8::1]:5000".to_vec());
        host
    }

    fn record<'a>(summary: &'a RequestSummary, decision: &'a Decision) -> DecisionRecord<'a> {
        static POLICY_FIELDS: std::sync::LazyLock<Vec<(String, Value)>> =
            std::sync::LazyLock::new(|| {
                vec![
                    ("revision".to_string(), json!("r-9")),
                    ("rule".to_string(), json!("replaced by the decision's")),
                    ("status".to_string(), json!("replaced by the SDK's")),
                ]
            });
        DecisionRecord {
            time: SystemTime::UNIX_EPOCH + Duration::from_millis(1_704_067_200_123),
            request: Some(summary),
            decision,
            policy_fields: &POLICY_FIELDS,
            allowed: decision.is_allowed(),
            status: match decision {
                Decision::Allow(_) => 200,
                Decision::Deny(denial) => denial.reply_status(),
            },
            eval_time: Duration::from_micros(42),
            error: None,
        }
    }

    #[test]
    fn the_event_describes_the_decision() {
        let mut host = request_host();
        let events = decision_events(
            &mut host,
            json!({"sink_cluster": "s", "include_headers": ["x-tenant-id", "X-Multi", "x-absent"]}),
        );
        assert_eq!(events.event_type(), "io.palisade.authz.decision");
        assert_eq!(events.source(), "/palisade/edge");
        let request = Request::from_host(&host).unwrap();
        let summary = events.summarize(&request);
        let decision: Decision = Decision::deny(451)
            .decision_id("d-1")
            .event_field("rule", json!("data.authz.allow"))
            .event_field("allowed", json!("spoofed"))
            .into();
        let event = events.event(&record(&summary, &decision)).unwrap();
        assert_eq!(event.event_type(), "io.palisade.authz.decision");
        assert_eq!(event.source(), "/palisade/edge");
        assert_eq!(event.subject(), Some("/orders/7"));
        assert_eq!(event.time_rfc3339(), Some("2024-01-01T00:00:00.123Z"));
        assert_eq!(event.datacontenttype(), Some("application/json"));
        assert_eq!(event.id().len(), 36);
        let Some(data) = event.data().and_then(|d| d.json_value()) else {
            panic!("JSON data expected");
        };
        assert_eq!(
            data,
            json!({
                "decision_id": "d-1",
                "allowed": false,
                "status": 451,
                "request": {
                    "method": "POST", "path": "/orders/7?token=s", "host": "shop.example",
                    "source_address": "[2001:db8::1]:5000"
                },
                "headers": {"x-tenant-id": "acme", "x-multi": "1,2"},
                "eval_time_us": 42,
                "rule": "data.authz.allow",
                "revision": "r-9"
            })
        );
    }

    #[test]
    fn sensitive_headers_are_redacted_unless_allowed() {
        let mut host = request_host();
        let listed = json!(["authorization", "cookie", "x-tenant-id"]);
        let events = decision_events(
            &mut host,
            json!({"sink_cluster": "s", "include_headers": listed}),
        );
        let request = Request::from_host(&host).unwrap();
        assert_eq!(
            events.summarize(&request).headers,
            vec![
                ("authorization".to_string(), REDACTED.to_string()),
                ("cookie".to_string(), REDACTED.to_string()),
                ("x-tenant-id".to_string(), "acme".to_string()),
            ]
        );
        let events = decision_events(
            &mut host,
            json!({"sink_cluster": "s", "include_headers": listed, "allow_sensitive_headers": true}),
        );
        let request = Request::from_host(&host).unwrap();
        let headers = events.summarize(&request).headers;
        assert_eq!(headers[0].1, "Bearer secret");
        assert_eq!(headers[1].1, "a=1,b=2");
    }

    #[test]
    fn without_include_headers_there_is_no_headers_member() {
        let mut host = request_host();
        let events = decision_events(&mut host, json!({"sink_cluster": "s"}));
        let request = Request::from_host(&host).unwrap();
        let summary = events.summarize(&request);
        let decision: Decision = Decision::allow().into();
        let mut record = record(&summary, &decision);
        record.error = Some("boom");
        let event = events.event(&record).unwrap();
        let Some(data) = event.data().and_then(|d| d.json_value()) else {
            panic!("JSON data expected");
        };
        assert_eq!(data.get("headers"), None);
        assert_eq!(data["error"], "boom");
        assert_eq!(data["status"], 200);
        assert_eq!(
            data["decision_id"].as_str().unwrap().len(),
            36,
            "a fresh UUID"
        );
    }

    #[test]
    fn an_unreadable_request_still_gives_an_event() {
        let mut host = FakeHost::default();
        let events = decision_events(&mut host, json!({"sink_cluster": "s"}));
        let decision: Decision = Decision::deny(403).into();
        let summary = RequestSummary::default();
        let record = DecisionRecord {
            request: None,
            ..record(&summary, &decision)
        };
        let event = events.event(&record).unwrap();
        assert_eq!(event.subject(), None);
        let Some(data) = event.data().and_then(|d| d.json_value()) else {
            panic!("JSON data expected");
        };
        assert_eq!(
            data["request"],
            json!({"method": "", "path": "", "host": "", "source_address": null})
        );
    }

    #[test]
    fn an_event_that_cannot_be_built_is_counted() {
        let mut host = FakeHost::default();
        let events = decision_events(&mut host, json!({"sink_cluster": "s"}));
        let summary = RequestSummary {
            path: "/a\u{1}b".into(),
            ..RequestSummary::default()
        };
        let decision: Decision = Decision::allow().into();
        events.emit(&mut host, &record(&summary, &decision));
        assert_eq!(host.counter("palisade.f.events.dropped.encode"), 1);
        assert_eq!(host.counter("palisade.f.events.emitted"), 1);
    }

    #[test]
    fn a_bad_kind_or_source_is_a_config_error() {
        let mut host = FakeHost::default();
        let config = EventsConfig::from_value(json!({"sink_cluster": "s"})).unwrap();
        let metrics = EventMetrics::define(&mut host, "f").unwrap();
        let sink = EventSink::new(EventEmitter::new(&config, metrics));
        let err = DecisionEvents::new(&config, "/p".into(), "a\u{7}", sink.clone(), 1).unwrap_err();
        assert_eq!(err.field.as_deref(), Some("events.type_prefix"));
        let err = DecisionEvents::new(&config, "a b".into(), "authz", sink, 1).unwrap_err();
        assert_eq!(err.field.as_deref(), Some("events.source"));
    }
}
