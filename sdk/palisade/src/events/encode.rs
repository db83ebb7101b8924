//! CloudEvents over HTTP (binding 1.0.2): binary, structured and batched messages for a
//! [`CloudEvent`], as plain headers and body the caller can send with any HTTP client.
//!
//! Header names are lower-case (`ce-id`, `content-type`): HTTP/2 requires it and Envoy
//! lower-cases them anyway. Encoding cannot fail, because a [`CloudEvent`] is valid by
//! construction.

use base64::Engine as _;
use serde_json::Value;

use super::event::{CloudEvent, Data, ExtensionValue};

/// `Content-Type` of a structured-mode message (the JSON event format).
pub const STRUCTURED_CONTENT_TYPE: &str = "application/cloudevents+json; charset=UTF-8";

/// `Content-Type` of a batched-mode message (the JSON batch format).
pub const BATCH_CONTENT_TYPE: &str = "application/cloudevents-batch+json; charset=UTF-8";

/// The header name carrying the media type of the body.
pub const CONTENT_TYPE_HEADER: &str = "content-type";

/// Prefix of the header that carries each attribute in binary mode.
pub const ATTRIBUTE_HEADER_PREFIX: &str = "ce-";

/// An HTTP message body and the headers that describe it (no method, path or host: the
/// sender chooses those).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HttpMessage {
    /// Header names (lower-case) and values, in the order they were produced.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
}

impl HttpMessage {
    /// Binary content mode: each attribute but `datacontenttype` becomes a `ce-<name>`
    /// header with a percent-encoded value; `content-type` is the data's media type; the
    /// body is the data as-is (JSON data as compact JSON text).
    ///
    /// Without data the body is empty and there is no `content-type` unless
    /// `datacontenttype` was set.
    pub fn binary(event: &CloudEvent) -> Self {
        let mut headers = Vec::with_capacity(8);
        let mut attribute = |name: &str, value: &str| {
            headers.push((
                format!("{ATTRIBUTE_HEADER_PREFIX}{name}"),
                percent_encode_header_value(value),
            ));
        };
        attribute("specversion", event.specversion());
        attribute("id", event.id());
        attribute("source", event.source());
        attribute("type", event.event_type());
        if let Some(schema) = event.dataschema() {
            attribute("dataschema", schema);
        }
        if let Some(subject) = event.subject() {
            attribute("subject", subject);
        }
        if let Some(time) = event.time_rfc3339() {
            attribute("time", time);
        }
        for (name, value) in event.extensions() {
            attribute(name, &value.to_string());
        }
        if let Some(content_type) = event.effective_content_type() {
            headers.push((CONTENT_TYPE_HEADER.to_owned(), content_type.to_owned()));
        }
        let body = match event.data() {
            None => Vec::new(),
            Some(Data::Json(value)) => value.to_string().into_bytes(),
            Some(Data::JsonText(text)) => text.get().as_bytes().to_vec(),
            Some(Data::Text(text)) => text.clone().into_bytes(),
            Some(Data::Binary(bytes)) => bytes.clone(),
        };
        Self { headers, body }
    }

    /// Structured content mode: the event as one JSON object (see [`to_json`]).
    pub fn structured(event: &CloudEvent) -> Self {
        Self {
            headers: vec![(
                CONTENT_TYPE_HEADER.to_owned(),
                STRUCTURED_CONTENT_TYPE.to_owned(),
            )],
            body: to_json_bytes(event),
        }
    }

    /// Batched content mode: a JSON array of structured events; no events give `[]`.
    ///
    /// All events share `specversion` 1.0, as the binding requires. The binding also says
    /// batched mode MUST NOT be used unless the receiver asked for it, and lets the receiver
    /// choose the batch size: both are for the sender to honour.
    pub fn batched<'a>(events: impl IntoIterator<Item = &'a CloudEvent>) -> Self {
        let array: Vec<JsonFormat<'_>> = events.into_iter().map(JsonFormat).collect();
        Self {
            headers: vec![(
                CONTENT_TYPE_HEADER.to_owned(),
                BATCH_CONTENT_TYPE.to_owned(),
            )],
            body: serde_json::to_vec(&array).unwrap_or_default(),
        }
    }

    /// The first value of a header, by case-insensitive name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// The event in the JSON event format: attributes as members (booleans and integers as JSON
/// booleans and numbers), JSON and text data as `data`, binary data base64-encoded as
/// `data_base64`.
///
/// `datacontenttype` is written when set; JSON data without one relies on the format's
/// implied `application/json`.
pub fn to_json(event: &CloudEvent) -> Value {
    // Serialising members that are already valid JSON values cannot fail.
    serde_json::to_value(JsonFormat(event)).unwrap_or(Value::Null)
}

/// [`to_json`] written straight to bytes, without copying the event's data into a [`Value`]
/// first (the request path encodes every decision event this way).
fn to_json_bytes(event: &CloudEvent) -> Vec<u8> {
    serde_json::to_vec(&JsonFormat(event)).unwrap_or_default()
}

/// Serialises a [`CloudEvent`] in the JSON event format, members sorted by name.
struct JsonFormat<'a>(&'a CloudEvent);

/// One member's value, borrowed from the event.
enum Member<'a> {
    Text(&'a str),
    Boolean(bool),
    Integer(i32),
    Json(&'a Value),
    JsonText(&'a serde_json::value::RawValue),
    Base64(&'a [u8]),
}

impl serde::Serialize for Member<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::Text(text) => serializer.serialize_str(text),
            Self::Boolean(b) => serializer.serialize_bool(*b),
            Self::Integer(i) => serializer.serialize_i32(*i),
            Self::Json(value) => value.serialize(serializer),
            Self::JsonText(text) => text.serialize(serializer),
            Self::Base64(bytes) => {
                serializer.serialize_str(&base64::engine::general_purpose::STANDARD.encode(bytes))
            }
        }
    }
}

impl serde::Serialize for JsonFormat<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap as _;
        let event = self.0;
        let mut members: Vec<(&str, Member<'_>)> = vec![
            ("specversion", Member::Text(event.specversion())),
            ("id", Member::Text(event.id())),
            ("source", Member::Text(event.source())),
            ("type", Member::Text(event.event_type())),
        ];
        let optional = [
            ("datacontenttype", event.datacontenttype()),
            ("dataschema", event.dataschema()),
            ("subject", event.subject()),
            ("time", event.time_rfc3339()),
        ];
        for (name, value) in optional {
            if let Some(value) = value {
                members.push((name, Member::Text(value)));
            }
        }
        for (name, value) in event.extensions() {
            let value = match value {
                ExtensionValue::String(s) => Member::Text(s),
                ExtensionValue::Boolean(b) => Member::Boolean(*b),
                ExtensionValue::Integer(i) => Member::Integer(*i),
            };
            members.push((name, value));
        }
        match event.data() {
            None => {}
            Some(Data::Json(value)) => members.push(("data", Member::Json(value))),
            Some(Data::JsonText(text)) => members.push(("data", Member::JsonText(text))),
            Some(Data::Text(text)) => members.push(("data", Member::Text(text))),
            Some(Data::Binary(bytes)) => members.push(("data_base64", Member::Base64(bytes))),
        }
        // The order a `serde_json::Map` (a sorted map in this build) gives, so both
        // encodings write the same bytes.
        members.sort_unstable_by_key(|(name, _)| *name);
        let mut map = serializer.serialize_map(Some(members.len()))?;
        for (name, value) in &members {
            map.serialize_entry(name, value)?;
        }
        map.end()
    }
}

/// Percent-encodes a header value as the HTTP binding requires: space, `"`, `%` and every
/// byte outside printable ASCII (U+0021-U+007E) become `%XY` (UTF-8 bytes, upper-case hex);
/// everything else is left alone.
pub fn percent_encode_header_value(value: &str) -> String {
    let keep = |b: u8| (0x21..=0x7E).contains(&b) && b != b'"' && b != b'%';
    if value.bytes().all(keep) {
        return value.to_owned();
    }
    let hex = |nibble: u8| {
        char::from(if nibble < 10 {
            b'0' + nibble
        } else {
            b'A' + nibble - 10
        })
    };
    let mut out = String::with_capacity(value.len() + 8);
    for b in value.bytes() {
        if keep(b) {
            out.push(char::from(b));
        } else {
            out.push('%');
            out.push(hex(b >> 4));
            out.push(hex(b & 0x0F));
        }
    }
    out
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
mod tests {
    use super::*;
    use crate::events::event::spec_example;
    use crate::time::at;
    use cloudevents::AttributesReader as _;
    use serde_json::json;
    use std::collections::BTreeMap;
    use std::time::UNIX_EPOCH;

    /// Test-only binary-mode decoding of a header value: one round of percent-decoding,
    /// accepting lower-case hex and rejecting invalid UTF-8, as the binding requires.
    fn percent_decode(value: &str) -> Result<String, String> {
        let bytes = value.as_bytes();
        let mut out = Vec::new();
        let mut i = 0;
        while i < bytes.len() {
            if bytes[i] == b'%' {
                let hex = value
                    .get(i + 1..i + 3)
                    .ok_or_else(|| format!("truncated escape at {i}"))?;
                out.push(u8::from_str_radix(hex, 16).map_err(|e| e.to_string())?);
                i += 3;
            } else {
                out.push(bytes[i]);
                i += 1;
            }
        }
        String::from_utf8(out).map_err(|e| e.to_string())
    }

    fn parse_structured(body: &[u8]) -> cloudevents::Event {
        serde_json::from_slice(body).expect("cloudevents-sdk parses our structured event")
    }

    /// Compares our event with cloudevents-sdk's reading of it, attribute by attribute.
    fn assert_same(ours: &CloudEvent, theirs: &cloudevents::Event) {
        assert_eq!(theirs.specversion().to_string(), ours.specversion());
        assert_eq!(theirs.id(), ours.id());
        assert_eq!(theirs.source().as_str(), ours.source());
        assert_eq!(theirs.ty(), ours.event_type());
        assert_eq!(theirs.datacontenttype(), ours.datacontenttype());
        assert_eq!(theirs.dataschema().map(|u| u.as_str()), ours.dataschema());
        assert_eq!(theirs.subject(), ours.subject());
        let their_time = theirs
            .time()
            .map(|t| (t.timestamp(), t.timestamp_subsec_nanos()));
        let our_time = ours.time().map(|t| {
            let d = t.duration_since(UNIX_EPOCH).unwrap();
            (d.as_secs() as i64, d.subsec_nanos())
        });
        assert_eq!(their_time, our_time, "time of {}", ours.id());
        let their_exts: BTreeMap<String, String> = theirs
            .iter_extensions()
            .map(|(k, v)| {
                let v = match v {
                    cloudevents::event::ExtensionValue::String(s) => format!("s:{s}"),
                    cloudevents::event::ExtensionValue::Boolean(b) => format!("b:{b}"),
                    cloudevents::event::ExtensionValue::Integer(i) => format!("i:{i}"),
                };
                (k.to_owned(), v)
            })
            .collect();
        let our_exts: BTreeMap<String, String> = ours
            .extensions()
            .map(|(k, v)| {
                let v = match v {
                    ExtensionValue::String(s) => format!("s:{s}"),
                    ExtensionValue::Boolean(b) => format!("b:{b}"),
                    ExtensionValue::Integer(i) => format!("i:{i}"),
                };
                (k.to_owned(), v)
            })
            .collect();
        assert_eq!(their_exts, our_exts);
        match (ours.data(), theirs.data()) {
            (None, None) => {}
            (Some(Data::Json(a)), Some(cloudevents::Data::Json(b))) => assert_eq!(a, b),
            (Some(Data::Text(a)), Some(cloudevents::Data::String(b))) => assert_eq!(a, b),
            (Some(Data::Binary(a)), Some(cloudevents::Data::Binary(b))) => assert_eq!(a, b),
            (a, b) => panic!("data differs: ours {a:?}, theirs {b:?}"),
        }
    }

    /// A varied set of events for the oracle tests.
    fn many_events(n: u32) -> Vec<CloudEvent> {
        (0..n)
            .map(|i| {
                let mut b = CloudEvent::builder()
                    .id(format!("evt-{i}"))
                    .source(format!("/palisade/filters/authz/{}", i % 3))
                    .event_type("dev.palisade.decision.v1")
                    .time(at(1_700_000_000 + i64::from(i) * 86_399, i * 1_000_123))
                    .extension("seq", i as i32)
                    .extension("dryrun", i % 2 == 0)
                    .extension("tenant", format!("t\u{e9}nant {i}"));
                if i % 4 == 1 {
                    b = b.subject(format!("/api/items/{i}"));
                }
                if i % 5 == 2 {
                    b = b.dataschema("https://palisade.dev/schemas/decision/v1.json");
                }
                b = match i % 4 {
                    0 => b.json_data(json!({"allowed": i % 2 == 0, "n": i, "path": "/x y"})),
                    1 => b.text_data(format!("line {i}\n\"quoted\" \u{20ac}")),
                    2 => b.binary_data(
                        (0..=255u8)
                            .cycle()
                            .skip(i as usize)
                            .take(37)
                            .collect::<Vec<_>>(),
                    ),
                    _ => b,
                };
                b.build().unwrap()
            })
            .collect()
    }

    #[test]
    fn percent_encodes_what_the_binding_requires() {
        assert_eq!(percent_encode_header_value("a b"), "a%20b");
        assert_eq!(percent_encode_header_value("say \"hi\""), "say%20%22hi%22");
        assert_eq!(percent_encode_header_value("100%"), "100%25");
        assert_eq!(percent_encode_header_value("\u{20ac}"), "%E2%82%AC");
        // The binding's own example.
        assert_eq!(
            percent_encode_header_value("Euro \u{20ac} \u{1f600}"),
            "Euro%20%E2%82%AC%20%F0%9F%98%80"
        );
        // Control characters (not valid in attributes, but the binding recommends encoding).
        assert_eq!(
            percent_encode_header_value("a\tb\r\n\u{7f}"),
            "a%09b%0D%0A%7F"
        );
        assert_eq!(percent_encode_header_value("\u{80}\u{9f}"), "%C2%80%C2%9F");
    }

    #[test]
    fn printable_ascii_other_than_quote_and_percent_is_left_alone() {
        let printable: String = (0x21u8..=0x7E)
            .filter(|b| *b != b'"' && *b != b'%')
            .map(char::from)
            .collect();
        assert_eq!(percent_encode_header_value(&printable), printable);
        let uri = "https://example.com:8443/a/b?c=d+e&f=g#h";
        assert_eq!(percent_encode_header_value(uri), uri);
        assert_eq!(percent_encode_header_value("urn:a+b/c"), "urn:a+b/c");
    }

    #[test]
    fn percent_encoding_round_trips_through_a_strict_decoder() {
        let all_ascii: String = (0u8..=0x7F).map(char::from).collect();
        for value in [
            "",
            "plain",
            all_ascii.as_str(),
            "%20 is not a space",
            "\u{e9}\u{20ac}\u{1f600}\u{10ffff}",
        ] {
            let encoded = percent_encode_header_value(value);
            assert!(encoded
                .bytes()
                .all(|b| (0x21..=0x7E).contains(&b) && b != b'"'));
            assert_eq!(percent_decode(&encoded).unwrap(), value);
        }
        // The decoder is a fair oracle: lower-case hex decodes, overlong UTF-8 is rejected.
        assert_eq!(percent_decode("%e2%82%ac").unwrap(), "\u{20ac}");
        assert!(percent_decode("%C0%A0").is_err());
    }

    #[test]
    fn binary_mode_matches_the_binding_example() {
        let event = CloudEvent::builder()
            .id("1234-1234-1234")
            .source("/mycontext/subcontext")
            .event_type("com.example.someevent")
            .time(at(1_522_900_584, 0))
            .datacontenttype("application/json; charset=utf-8")
            .json_data(json!({"app": "data"}))
            .build()
            .unwrap();
        let msg = HttpMessage::binary(&event);
        let headers: Vec<(&str, &str)> = msg
            .headers
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect();
        assert_eq!(
            headers,
            [
                ("ce-specversion", "1.0"),
                ("ce-id", "1234-1234-1234"),
                ("ce-source", "/mycontext/subcontext"),
                ("ce-type", "com.example.someevent"),
                ("ce-time", "2018-04-05T03:56:24Z"),
                ("content-type", "application/json; charset=utf-8"),
            ]
        );
        assert_eq!(msg.body, br#"{"app":"data"}"#);
        assert_eq!(
            msg.header("Content-Type"),
            Some("application/json; charset=utf-8")
        );
    }

    #[test]
    fn binary_mode_maps_every_attribute_but_datacontenttype() {
        let event = spec_example();
        let msg = HttpMessage::binary(&event);
        assert_eq!(msg.header("ce-datacontenttype"), None);
        assert_eq!(msg.header("content-type"), Some("text/xml"));
        assert_eq!(msg.header("ce-subject"), Some("123"));
        assert_eq!(msg.header("ce-time"), Some("2018-04-05T17:31:00Z"));
        assert_eq!(msg.header("ce-comexampleextension1"), Some("value"));
        assert_eq!(msg.header("ce-comexampleothervalue"), Some("5"));
        assert_eq!(msg.body, br#"<much wow="xml"/>"#);
        assert_eq!(msg.headers.len(), 9);
    }

    #[test]
    fn binary_mode_percent_encodes_every_attribute_value() {
        let event = CloudEvent::builder()
            .id("id with space")
            .source("https://example.com/a%20b?x=1")
            .event_type("com.example.\"quoted\"")
            .subject("Euro \u{20ac} \u{1f600}")
            .time(at(1, 500_000_000))
            .extension("flag", false)
            .extension("count", -42)
            .extension("note", "100% caf\u{e9}")
            .build()
            .unwrap();
        let msg = HttpMessage::binary(&event);
        assert_eq!(msg.header("ce-id"), Some("id%20with%20space"));
        assert_eq!(
            msg.header("ce-source"),
            Some("https://example.com/a%2520b?x=1")
        );
        assert_eq!(msg.header("ce-type"), Some("com.example.%22quoted%22"));
        assert_eq!(
            msg.header("ce-subject"),
            Some("Euro%20%E2%82%AC%20%F0%9F%98%80")
        );
        assert_eq!(msg.header("ce-time"), Some("1970-01-01T00:00:01.500Z"));
        assert_eq!(msg.header("ce-flag"), Some("false"));
        assert_eq!(msg.header("ce-count"), Some("-42"));
        assert_eq!(msg.header("ce-note"), Some("100%25%20caf%C3%A9"));
        // No data: no body and no content-type.
        assert_eq!(msg.header("content-type"), None);
        assert!(msg.body.is_empty());
        // Every header value decodes back to the attribute's canonical string.
        for (name, value) in &msg.headers {
            let attr = name.strip_prefix("ce-").unwrap();
            let want = match attr {
                "specversion" => event.specversion().to_owned(),
                "id" => event.id().to_owned(),
                "source" => event.source().to_owned(),
                "type" => event.event_type().to_owned(),
                "subject" => event.subject().unwrap().to_owned(),
                "time" => event.time_rfc3339().unwrap().to_owned(),
                ext => event.extension(ext).unwrap().to_string(),
            };
            assert_eq!(percent_decode(value).unwrap(), want, "{name}");
        }
    }

    #[test]
    fn binary_mode_bodies_are_the_data_as_is() {
        let base = || CloudEvent::builder().id("1").source("/s").event_type("t");
        let bytes = vec![0u8, 0xFF, 0x80, b'"'];
        let bin = HttpMessage::binary(&base().binary_data(bytes.clone()).build().unwrap());
        assert_eq!(bin.body, bytes);
        assert_eq!(bin.header("content-type"), Some("application/octet-stream"));
        let text = HttpMessage::binary(&base().text_data("h\u{e9} \"x\"").build().unwrap());
        assert_eq!(text.body, "h\u{e9} \"x\"".as_bytes());
        assert_eq!(
            text.header("content-type"),
            Some("text/plain; charset=utf-8")
        );
        let json = HttpMessage::binary(&base().json_data(json!([1, "two"])).build().unwrap());
        assert_eq!(json.body, br#"[1,"two"]"#);
        assert_eq!(json.header("content-type"), Some("application/json"));
    }

    #[test]
    fn structured_mode_of_the_spec_example() {
        let event = spec_example();
        let msg = HttpMessage::structured(&event);
        assert_eq!(
            msg.headers,
            [(
                "content-type".to_owned(),
                "application/cloudevents+json; charset=UTF-8".to_owned()
            )]
        );
        let body: Value = serde_json::from_slice(&msg.body).unwrap();
        assert_eq!(
            body,
            json!({
                "specversion" : "1.0",
                "type" : "com.github.pull_request.opened",
                "source" : "https://github.com/cloudevents/spec/pull",
                "subject" : "123",
                "id" : "A234-1234-1234",
                "time" : "2018-04-05T17:31:00Z",
                "comexampleextension1" : "value",
                "comexampleothervalue" : 5,
                "datacontenttype" : "text/xml",
                "data" : "<much wow=\"xml\"/>"
            })
        );
        assert_same(&event, &parse_structured(&msg.body));
    }

    #[test]
    fn structured_mode_uses_data_base64_for_binary_data() {
        let event = CloudEvent::builder()
            .id("1")
            .source("/s")
            .event_type("t")
            .datacontenttype("image/png")
            .binary_data(b"\x89PNG\r\n\x1a\n\x00\xff".to_vec())
            .build()
            .unwrap();
        let body: Value = serde_json::from_slice(&HttpMessage::structured(&event).body).unwrap();
        assert_eq!(body["data_base64"], "iVBORw0KGgoA/w==");
        assert!(body.get("data").is_none());
        // RFC 4648 test vectors, through the whole encoder.
        for (raw, b64) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            let event = CloudEvent::builder()
                .id("1")
                .source("/s")
                .event_type("t")
                .binary_data(raw.as_bytes())
                .build()
                .unwrap();
            assert_eq!(to_json(&event)["data_base64"], b64);
        }
    }

    #[test]
    fn structured_mode_json_data_is_inline_and_content_type_implied() {
        let event = CloudEvent::builder()
            .id("1")
            .source("/s")
            .event_type("t")
            .json_data(json!({"allowed": false, "reasons": ["no token"]}))
            .build()
            .unwrap();
        let body = to_json(&event);
        assert_eq!(
            body["data"],
            json!({"allowed": false, "reasons": ["no token"]})
        );
        assert!(body.get("datacontenttype").is_none());
        assert_same(
            &event,
            &parse_structured(&HttpMessage::structured(&event).body),
        );
    }

    #[test]
    fn structured_events_decode_in_cloudevents_sdk() {
        for event in many_events(12) {
            let msg = HttpMessage::structured(&event);
            assert_same(&event, &parse_structured(&msg.body));
        }
    }

    #[test]
    fn batch_of_zero_is_an_empty_array() {
        let msg = HttpMessage::batched(&[]);
        assert_eq!(msg.body, b"[]");
        assert_eq!(
            msg.header("content-type"),
            Some("application/cloudevents-batch+json; charset=UTF-8")
        );
        let decoded: Vec<cloudevents::Event> = serde_json::from_slice(&msg.body).unwrap();
        assert!(decoded.is_empty());
    }

    #[test]
    fn batch_of_one_is_an_array_of_the_structured_event() {
        let event = spec_example();
        let batch: Value = serde_json::from_slice(&HttpMessage::batched([&event]).body).unwrap();
        let single: Value = serde_json::from_slice(&HttpMessage::structured(&event).body).unwrap();
        assert_eq!(batch, Value::Array(vec![single]));
    }

    #[test]
    fn batch_of_many_decodes_in_cloudevents_sdk() {
        let events = many_events(100);
        let msg = HttpMessage::batched(&events);
        assert_eq!(
            msg.header("content-type"),
            Some("application/cloudevents-batch+json; charset=UTF-8")
        );
        let decoded: Vec<cloudevents::Event> = serde_json::from_slice(&msg.body).unwrap();
        assert_eq!(decoded.len(), events.len());
        for (ours, theirs) in events.iter().zip(&decoded) {
            assert_same(ours, theirs);
        }
    }
}
