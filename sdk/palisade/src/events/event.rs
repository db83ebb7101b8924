//! The CloudEvents 1.0.2 event a filter emits, and the builder that validates it.
//!
//! A [`CloudEvent`] can only be made by [`CloudEventBuilder::build`], so every value of the
//! type satisfies the spec's constraints and the encoders in [`super::encode`] never fail.
//!
//! Choices this module makes where the spec leaves room (each is checked in `build()`):
//! - **Time** comes from the caller ([`CloudEventBuilder::time`] takes a `SystemTime`, or
//!   [`CloudEventBuilder::time_rfc3339`] a string): inside a filter the clock is the proxy's,
//!   so this module never reads one. It is written as RFC 3339 in UTC (`Z`), with 0, 3, 6 or 9
//!   fractional digits (the fewest that are exact), for years 0000 to 9999.
//! - **Extension names** must be 1 to 20 characters `a-z`/`0-9`. The spec's MUST is the
//!   character set; the 20-character limit is a SHOULD that we enforce, because a producer that
//!   stays inside it is accepted by every consumer and binding.
//! - **URIs** get a light syntax check, not a full RFC 3986 parse: only URI characters (no
//!   spaces, no non-ASCII), `%` followed by two hex digits, at most one `#`, and a valid scheme
//!   whenever the first segment has a `:`. `dataschema` must also have a scheme and no
//!   fragment (RFC 3986 section 4.3, `absolute-URI`).
//! - **`datacontenttype`** must look like `type/subtype[; parameters]` in printable ASCII, as it
//!   becomes an HTTP `Content-Type` header as-is. When data is text or bytes and no
//!   content type was given, `build()` sets `text/plain; charset=utf-8` or
//!   `application/octet-stream`: without it the JSON format would imply `application/json`.
//!   JSON data needs a JSON media type (or none); text data must not claim a JSON media type
//!   (use JSON data for that), because the JSON format would read the text as a JSON string.
//! - **String values** (`id`, `subject`, string extensions, ...) must not contain the control
//!   characters or Unicode noncharacters the spec's `String` type excludes.

use std::collections::BTreeMap;
use std::fmt;
use std::time::SystemTime;

use crate::time::{format_rfc3339, parse_rfc3339};

/// The only `specversion` this module produces.
pub const SPEC_VERSION: &str = "1.0";

/// Longest extension attribute name we accept (the spec's SHOULD, enforced).
pub const MAX_EXTENSION_NAME_LEN: usize = 20;

/// Attribute names defined by the spec, plus `data`: no extension may use them.
const RESERVED_NAMES: [&str; 9] = [
    "id",
    "source",
    "specversion",
    "type",
    "datacontenttype",
    "dataschema",
    "subject",
    "time",
    "data",
];

const TEXT_CONTENT_TYPE: &str = "text/plain; charset=utf-8";
const BINARY_CONTENT_TYPE: &str = "application/octet-stream";
const JSON_CONTENT_TYPE: &str = "application/json";

/// Why [`CloudEventBuilder::build`] refused to make an event.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EventError {
    /// A REQUIRED attribute (`id`, `source` or `type`) was never set.
    #[error("CloudEvent attribute `{0}` is required but was not set")]
    MissingAttribute(&'static str),
    /// An attribute (or extension name) was set to a value the spec does not allow.
    #[error("CloudEvent attribute `{name}` is invalid: {reason}")]
    InvalidAttribute {
        /// The attribute's name (for a bad extension name, the name itself).
        name: String,
        /// What the spec expects.
        reason: &'static str,
    },
}

impl EventError {
    fn invalid(name: &str, reason: &'static str) -> Self {
        Self::InvalidAttribute {
            name: name.to_owned(),
            reason,
        }
    }
}

/// The value of an extension attribute, in the spec's type system.
///
/// URI, URI-reference, Timestamp and Binary values travel as their canonical strings in
/// every format, so they are [`ExtensionValue::String`] here (format a time with
/// `format_rfc3339`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExtensionValue {
    /// `String`.
    String(String),
    /// `Boolean`.
    Boolean(bool),
    /// `Integer`: the spec limits it to 32-bit signed.
    Integer(i32),
}

/// Writes the canonical string encoding (`true`, `-5`, the string itself), as HTTP headers use.
impl fmt::Display for ExtensionValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::String(s) => f.write_str(s),
            Self::Boolean(b) => write!(f, "{b}"),
            Self::Integer(i) => write!(f, "{i}"),
        }
    }
}

impl From<String> for ExtensionValue {
    fn from(value: String) -> Self {
        Self::String(value)
    }
}

impl From<&str> for ExtensionValue {
    fn from(value: &str) -> Self {
        Self::String(value.to_owned())
    }
}

impl From<bool> for ExtensionValue {
    fn from(value: bool) -> Self {
        Self::Boolean(value)
    }
}

impl From<i32> for ExtensionValue {
    fn from(value: i32) -> Self {
        Self::Integer(value)
    }
}

/// The event payload.
#[derive(Debug, Clone)]
pub enum Data {
    /// A JSON value: `data` as JSON in structured mode, JSON text in binary mode.
    Json(serde_json::Value),
    /// JSON already serialised (see [`CloudEvent::with_json`]): the same as [`Data::Json`] on
    /// the wire, without building a [`serde_json::Value`] first.
    JsonText(Box<serde_json::value::RawValue>),
    /// Text: a JSON string in structured mode, its UTF-8 bytes in binary mode.
    Text(String),
    /// Bytes: `data_base64` in structured mode, as-is in binary mode.
    Binary(Vec<u8>),
}

impl Data {
    /// JSON data as a value (parsing [`Data::JsonText`]); `None` for text and binary data.
    pub fn json_value(&self) -> Option<serde_json::Value> {
        match self {
            Self::Json(value) => Some(value.clone()),
            Self::JsonText(text) => serde_json::from_str(text.get()).ok(),
            Self::Text(_) | Self::Binary(_) => None,
        }
    }

    fn is_json(&self) -> bool {
        matches!(self, Self::Json(_) | Self::JsonText(_))
    }
}

/// JSON data is equal whichever way it is held.
impl PartialEq for Data {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Self::Text(a), Self::Text(b)) => a == b,
            (Self::Binary(a), Self::Binary(b)) => a == b,
            (a, b) if a.is_json() && b.is_json() => a.json_value() == b.json_value(),
            _ => false,
        }
    }
}

impl Eq for Data {}

/// A valid CloudEvents 1.0 event. Made by [`CloudEvent::builder`]; immutable afterwards.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloudEvent {
    id: String,
    source: String,
    event_type: String,
    datacontenttype: Option<String>,
    dataschema: Option<String>,
    subject: Option<String>,
    time: Option<Timestamp>,
    extensions: BTreeMap<String, ExtensionValue>,
    data: Option<Data>,
}

const JSON_DATA_MEDIA_TYPE: &str =
    "JSON data needs a JSON media type (application/json, text/json or +json)";

/// A time kept both ways: the instant, and its RFC 3339 form (computed once, in `build()`).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Timestamp {
    instant: SystemTime,
    rfc3339: String,
}

impl Timestamp {
    fn of(instant: SystemTime) -> Result<Self, EventError> {
        let rfc3339 = format_rfc3339(instant).ok_or_else(|| {
            EventError::invalid("time", "must be between years 0000 and 9999 (UTC)")
        })?;
        Ok(Self { instant, rfc3339 })
    }
}

impl CloudEvent {
    /// Starts a builder; see [`CloudEventBuilder`].
    pub fn builder() -> CloudEventBuilder {
        CloudEventBuilder::default()
    }

    /// An event like this one (same `source`, `type`, `datacontenttype`, `dataschema` and
    /// extensions) with its own `id`, `time`, `subject` and `data`, serialised here straight to
    /// JSON text. Only those are checked, the rest was when this one was built: the cheap way
    /// to make many events of one kind, such as a decision event per request. This event's
    /// `datacontenttype`, if any, must be a JSON media type.
    pub fn with_json(
        &self,
        id: String,
        time: SystemTime,
        subject: Option<&str>,
        data: &impl serde::Serialize,
    ) -> Result<CloudEvent, EventError> {
        check_non_empty("id", &id)?;
        check_string("id", &id)?;
        if let Some(subject) = subject {
            check_non_empty("subject", subject)?;
            check_string("subject", subject)?;
        }
        if let Some(ct) = &self.datacontenttype {
            if !is_json_media_type(ct) {
                return Err(EventError::invalid("datacontenttype", JSON_DATA_MEDIA_TYPE));
            }
        }
        Ok(CloudEvent {
            id,
            source: self.source.clone(),
            event_type: self.event_type.clone(),
            datacontenttype: self.datacontenttype.clone(),
            dataschema: self.dataschema.clone(),
            subject: subject.map(str::to_owned),
            time: Some(Timestamp::of(time)?),
            extensions: self.extensions.clone(),
            data: Some(Data::JsonText(
                serde_json::value::to_raw_value(data).map_err(|_| {
                    EventError::invalid("data", "must serialise to JSON (string map keys)")
                })?,
            )),
        })
    }

    /// `id`.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// `source`, a URI-reference.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// `specversion`: always `"1.0"`.
    pub fn specversion(&self) -> &'static str {
        SPEC_VERSION
    }

    /// `type`.
    pub fn event_type(&self) -> &str {
        &self.event_type
    }

    /// `datacontenttype`, as set (or as `build()` defaulted it for text and binary data).
    pub fn datacontenttype(&self) -> Option<&str> {
        self.datacontenttype.as_deref()
    }

    /// `dataschema`, an absolute URI.
    pub fn dataschema(&self) -> Option<&str> {
        self.dataschema.as_deref()
    }

    /// `subject`.
    pub fn subject(&self) -> Option<&str> {
        self.subject.as_deref()
    }

    /// `time`, as the instant the caller gave.
    pub fn time(&self) -> Option<SystemTime> {
        self.time.as_ref().map(|t| t.instant)
    }

    /// `time` in its canonical RFC 3339 form (UTC).
    pub fn time_rfc3339(&self) -> Option<&str> {
        self.time.as_ref().map(|t| t.rfc3339.as_str())
    }

    /// One extension attribute by name.
    pub fn extension(&self, name: &str) -> Option<&ExtensionValue> {
        self.extensions.get(name)
    }

    /// All extension attributes, sorted by name.
    pub fn extensions(&self) -> impl Iterator<Item = (&str, &ExtensionValue)> {
        self.extensions.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// The payload, if any.
    pub fn data(&self) -> Option<&Data> {
        self.data.as_ref()
    }

    /// The media type of the data on the wire: `datacontenttype`, or `application/json` for
    /// JSON data without one (the JSON format's implied type). `None` when neither applies.
    pub fn effective_content_type(&self) -> Option<&str> {
        match (&self.datacontenttype, &self.data) {
            (Some(ct), _) => Some(ct.as_str()),
            (None, Some(Data::Json(_) | Data::JsonText(_))) => Some(JSON_CONTENT_TYPE),
            (None, _) => None,
        }
    }
}

/// Where the builder's `time` came from; parsed and checked in `build()`.
#[derive(Debug, Clone)]
enum TimeInput {
    Instant(SystemTime),
    Rfc3339(String),
}

/// Collects attributes for a [`CloudEvent`]. Setters never fail; [`build`](Self::build)
/// checks everything and names the first attribute that is missing or wrong.
///
/// Setting an attribute twice keeps the last value; so does setting an extension twice.
///
/// ```
/// # use palisade::__private::cloudevents::CloudEvent;
/// let event = CloudEvent::builder()
///     .id("A234-1234-1234")
///     .source("https://github.com/cloudevents/spec/pull")
///     .event_type("com.github.pull_request.opened")
///     .subject("123")
///     .extension("comexampleothervalue", 5)
///     .json_data(serde_json::json!({"number": 123}))
///     .build()?;
/// assert_eq!(event.specversion(), "1.0");
/// # Ok::<(), palisade::__private::cloudevents::EventError>(())
/// ```
#[derive(Debug, Clone, Default)]
pub struct CloudEventBuilder {
    id: Option<String>,
    source: Option<String>,
    event_type: Option<String>,
    datacontenttype: Option<String>,
    dataschema: Option<String>,
    subject: Option<String>,
    time: Option<TimeInput>,
    extensions: Vec<(String, ExtensionValue)>,
    data: Option<Data>,
}

impl CloudEventBuilder {
    /// An empty builder (same as [`CloudEvent::builder`]).
    pub fn new() -> Self {
        Self::default()
    }

    /// `id` (REQUIRED, non-empty; `source` + `id` must be unique per event).
    pub fn id(mut self, id: impl Into<String>) -> Self {
        self.id = Some(id.into());
        self
    }

    /// `source` (REQUIRED, a non-empty URI-reference).
    pub fn source(mut self, source: impl Into<String>) -> Self {
        self.source = Some(source.into());
        self
    }

    /// `type` (REQUIRED, non-empty; reverse-DNS prefix recommended).
    pub fn event_type(mut self, event_type: impl Into<String>) -> Self {
        self.event_type = Some(event_type.into());
        self
    }

    /// `datacontenttype` (an RFC 2046 media type).
    pub fn datacontenttype(mut self, content_type: impl Into<String>) -> Self {
        self.datacontenttype = Some(content_type.into());
        self
    }

    /// `dataschema` (an absolute URI).
    pub fn dataschema(mut self, schema: impl Into<String>) -> Self {
        self.dataschema = Some(schema.into());
        self
    }

    /// `subject` (non-empty).
    pub fn subject(mut self, subject: impl Into<String>) -> Self {
        self.subject = Some(subject.into());
        self
    }

    /// `time`, from an instant the caller took from the proxy's clock.
    pub fn time(mut self, time: SystemTime) -> Self {
        self.time = Some(TimeInput::Instant(time));
        self
    }

    /// `time`, from an RFC 3339 string (any offset; it is stored and written as UTC).
    pub fn time_rfc3339(mut self, time: impl Into<String>) -> Self {
        self.time = Some(TimeInput::Rfc3339(time.into()));
        self
    }

    /// An extension attribute; the name is checked in `build()`.
    pub fn extension(mut self, name: impl Into<String>, value: impl Into<ExtensionValue>) -> Self {
        self.extensions.push((name.into(), value.into()));
        self
    }

    /// The payload (replaces any earlier data).
    pub fn data(mut self, data: Data) -> Self {
        self.data = Some(data);
        self
    }

    /// JSON payload.
    pub fn json_data(self, value: serde_json::Value) -> Self {
        self.data(Data::Json(value))
    }

    /// Text payload.
    pub fn text_data(self, text: impl Into<String>) -> Self {
        self.data(Data::Text(text.into()))
    }

    /// Binary payload.
    pub fn binary_data(self, bytes: impl Into<Vec<u8>>) -> Self {
        self.data(Data::Binary(bytes.into()))
    }

    /// Checks every attribute and makes the event.
    pub fn build(self) -> Result<CloudEvent, EventError> {
        let id = required("id", self.id)?;
        check_string("id", &id)?;
        let source = required("source", self.source)?;
        check_uri_reference("source", &source)?;
        let event_type = required("type", self.event_type)?;
        check_string("type", &event_type)?;

        let datacontenttype = match self.datacontenttype {
            Some(ct) => {
                check_media_type(&ct)?;
                Some(ct)
            }
            None => None,
        };
        if let Some(schema) = &self.dataschema {
            check_absolute_uri("dataschema", schema)?;
        }
        if let Some(subject) = &self.subject {
            check_non_empty("subject", subject)?;
            check_string("subject", subject)?;
        }
        let time = match self.time {
            None => None,
            Some(TimeInput::Instant(instant)) => Some(Timestamp::of(instant)?),
            Some(TimeInput::Rfc3339(text)) => {
                let instant =
                    parse_rfc3339(&text).map_err(|reason| EventError::invalid("time", reason))?;
                // In range: parsing accepts only four-digit years and offsets under a day,
                // but an offset can still push 0000-01-01 or 9999-12-31 out of range.
                Some(Timestamp::of(instant)?)
            }
        };

        let mut extensions = BTreeMap::new();
        for (name, value) in self.extensions {
            check_extension_name(&name)?;
            if let ExtensionValue::String(s) = &value {
                check_string(&name, s)?;
            }
            extensions.insert(name, value);
        }

        let datacontenttype = match (&self.data, datacontenttype) {
            (Some(data), Some(ct)) if data.is_json() && !is_json_media_type(&ct) => {
                return Err(EventError::invalid("datacontenttype", JSON_DATA_MEDIA_TYPE));
            }
            (Some(Data::Text(_)), Some(ct)) if is_json_media_type(&ct) => {
                return Err(EventError::invalid(
                    "datacontenttype",
                    "text data cannot have a JSON media type; set JSON data instead",
                ));
            }
            (Some(Data::Text(_)), None) => Some(TEXT_CONTENT_TYPE.to_owned()),
            (Some(Data::Binary(_)), None) => Some(BINARY_CONTENT_TYPE.to_owned()),
            (_, ct) => ct,
        };

        Ok(CloudEvent {
            id,
            source,
            event_type,
            datacontenttype,
            dataschema: self.dataschema,
            subject: self.subject,
            time,
            extensions,
            data: self.data,
        })
    }
}

fn required(name: &'static str, value: Option<String>) -> Result<String, EventError> {
    let value = value.ok_or(EventError::MissingAttribute(name))?;
    check_non_empty(name, &value)?;
    Ok(value)
}

fn check_non_empty(name: &str, value: &str) -> Result<(), EventError> {
    if value.is_empty() {
        return Err(EventError::invalid(name, "must be a non-empty string"));
    }
    Ok(())
}

/// The spec's `String` type: no C0/C1 control characters, no Unicode noncharacters
/// (surrogates cannot occur in a Rust `str`).
fn check_string(name: &str, value: &str) -> Result<(), EventError> {
    let bad = |c: char| {
        let cp = u32::from(c);
        c.is_control() // exactly U+0000-U+001F and U+007F-U+009F
            || (0xFDD0..=0xFDEF).contains(&cp)
            || (cp & 0xFFFE) == 0xFFFE
    };
    if value.chars().any(bad) {
        return Err(EventError::invalid(
            name,
            "must not contain control characters or Unicode noncharacters",
        ));
    }
    Ok(())
}

/// Lower-case `a-z` and `0-9`, 1 to 20 characters, not an attribute the spec defines.
fn check_extension_name(name: &str) -> Result<(), EventError> {
    if name.is_empty()
        || name.len() > MAX_EXTENSION_NAME_LEN
        || !name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
    {
        return Err(EventError::invalid(
            name,
            "extension names must be 1 to 20 characters from a-z and 0-9",
        ));
    }
    if RESERVED_NAMES.contains(&name) {
        return Err(EventError::invalid(
            name,
            "extension name is reserved for a context attribute or data",
        ));
    }
    Ok(())
}

fn is_uri_char(b: u8) -> bool {
    // RFC 3986 unreserved, gen-delims and sub-delims; `%` is handled separately.
    b.is_ascii_alphanumeric() || b"-._~:/?#[]@!$&'()*+,;=".contains(&b)
}

/// Light RFC 3986 `URI-reference` check; returns whether the value has a scheme.
fn uri_syntax(name: &str, value: &str) -> Result<bool, EventError> {
    check_non_empty(name, value)?;
    let bytes = value.as_bytes();
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b == b'%' {
            let hex = |j: usize| bytes.get(j).is_some_and(u8::is_ascii_hexdigit);
            if !(hex(i + 1) && hex(i + 2)) {
                return Err(EventError::invalid(
                    name,
                    "`%` must start a percent-encoding like %2F",
                ));
            }
            i += 3;
        } else if is_uri_char(b) {
            i += 1;
        } else {
            return Err(EventError::invalid(
                name,
                "must be a URI-reference: only RFC 3986 characters, others percent-encoded",
            ));
        }
    }
    if value.matches('#').count() > 1 {
        return Err(EventError::invalid(
            name,
            "must not contain more than one `#`",
        ));
    }
    // A `:` in the first segment means a scheme (a relative path cannot start that way).
    let first_segment = value.split(['/', '?', '#']).next().unwrap_or_default();
    match first_segment.split_once(':') {
        None => Ok(false),
        Some((scheme, _)) => {
            let mut chars = scheme.bytes();
            let valid = chars.next().is_some_and(|b| b.is_ascii_alphabetic())
                && chars.all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b));
            if valid {
                Ok(true)
            } else {
                Err(EventError::invalid(
                    name,
                    "scheme must be a letter followed by letters, digits, `+`, `-` or `.`",
                ))
            }
        }
    }
}

fn check_uri_reference(name: &str, value: &str) -> Result<(), EventError> {
    uri_syntax(name, value).map(|_| ())
}

/// RFC 3986 section 4.3 `absolute-URI`: a scheme, and no fragment.
fn check_absolute_uri(name: &str, value: &str) -> Result<(), EventError> {
    if !uri_syntax(name, value)? {
        return Err(EventError::invalid(
            name,
            "must be an absolute URI (with a scheme)",
        ));
    }
    if value.contains('#') {
        return Err(EventError::invalid(
            name,
            "must be an absolute URI, which has no `#fragment`",
        ));
    }
    Ok(())
}

fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$&-^_.+".contains(&b))
}

/// `type/subtype[; parameters]` in printable ASCII: it becomes `Content-Type` unencoded.
fn check_media_type(value: &str) -> Result<(), EventError> {
    if !value
        .bytes()
        .all(|b| b == b' ' || b == b'\t' || b.is_ascii_graphic())
    {
        return Err(EventError::invalid(
            "datacontenttype",
            "must be printable ASCII (it is sent as the HTTP Content-Type)",
        ));
    }
    let essence = value.split(';').next().unwrap_or_default().trim();
    match essence.split_once('/') {
        Some((ty, sub)) if is_token(ty) && is_token(sub) => Ok(()),
        _ => Err(EventError::invalid(
            "datacontenttype",
            "must be an RFC 2046 media type like `application/json`",
        )),
    }
}

/// Whether a media type says the data is JSON (`application/json`, `text/json`, `*/*+json`).
pub fn is_json_media_type(content_type: &str) -> bool {
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    essence == "application/json" || essence == "text/json" || essence.ends_with("+json")
}

/// The example event at the end of the CloudEvents 1.0.2 spec, for tests.
#[cfg(test)]
#[allow(clippy::unwrap_used)]
pub(crate) fn spec_example() -> CloudEvent {
    CloudEvent::builder()
        .event_type("com.github.pull_request.opened")
        .source("https://github.com/cloudevents/spec/pull")
        .subject("123")
        .id("A234-1234-1234")
        .time(crate::time::at(1_522_949_460, 0))
        .extension("comexampleextension1", "value")
        .extension("comexampleothervalue", 5)
        .datacontenttype("text/xml")
        .text_data(r#"<much wow="xml"/>"#)
        .build()
        .unwrap()
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
    use crate::time::at;
    use serde_json::json;

    fn minimal() -> CloudEventBuilder {
        CloudEvent::builder()
            .id("1")
            .source("/palisade/test")
            .event_type("dev.palisade.test")
    }

    fn invalid(name: &str) -> impl Fn(&EventError) -> bool + '_ {
        move |e| matches!(e, EventError::InvalidAttribute { name: n, .. } if n == name)
    }

    #[test]
    fn spec_example_event_builds() {
        let event = spec_example();
        assert_eq!(event.specversion(), "1.0");
        assert_eq!(event.id(), "A234-1234-1234");
        assert_eq!(event.time_rfc3339(), Some("2018-04-05T17:31:00Z"));
        assert_eq!(event.time(), Some(at(1_522_949_460, 0)));
        assert_eq!(
            event.extension("comexampleothervalue"),
            Some(&ExtensionValue::Integer(5))
        );
        assert_eq!(event.datacontenttype(), Some("text/xml"));
        assert_eq!(
            event.data(),
            Some(&Data::Text(r#"<much wow="xml"/>"#.into()))
        );
    }

    #[test]
    fn spec_example_sources_are_uri_references() {
        for source in [
            "https://github.com/cloudevents",
            "mailto:cncf-wg-serverless@lists.cncf.io",
            "urn:uuid:6e8bc430-9c3a-11d9-9669-0800200c9a66",
            "/cloudevents/spec/pull/123",
            "/sensors/tn-1234567/alerts",
            "1-555-123-4567",
            "https://example.com/storage/tenant/container",
            "//authority/only",
            "a%2Fb?q=1#frag",
            "http://[::1]:8080/x",
        ] {
            minimal().source(source).build().expect(source);
        }
    }

    #[test]
    fn events_made_from_a_template_keep_its_attributes_and_check_their_own() {
        use std::time::Duration;
        let template = CloudEvent::builder()
            .id("template")
            .source("/edge/f")
            .event_type("io.palisade.authz.decision")
            .datacontenttype("application/json")
            .extension("region", "eu")
            .build()
            .unwrap();
        let at = SystemTime::UNIX_EPOCH + Duration::from_millis(1_704_067_200_123);
        let event = template
            .with_json(
                "e1".into(),
                at,
                Some("/orders"),
                &serde_json::json!({"a": 1}),
            )
            .unwrap();
        let built = CloudEvent::builder()
            .id("e1")
            .source("/edge/f")
            .event_type("io.palisade.authz.decision")
            .datacontenttype("application/json")
            .extension("region", "eu")
            .time(at)
            .subject("/orders")
            .json_data(serde_json::json!({"a": 1}))
            .build()
            .unwrap();
        assert_eq!(event, built);
        let data = serde_json::json!({});
        let make = |id: &str, subject| template.with_json(id.into(), at, subject, &data);
        assert!(make("", None).is_err_and(|e| invalid("id")(&e)));
        assert!(make("e\u{7}", None).is_err_and(|e| invalid("id")(&e)));
        assert!(make("e", Some("")).is_err_and(|e| invalid("subject")(&e)));
        assert!(make("e", Some("/a\nb")).is_err_and(|e| invalid("subject")(&e)));
        let far = SystemTime::UNIX_EPOCH + Duration::from_secs(300_000_000_000);
        assert!(template
            .with_json("e".into(), far, None, &data)
            .is_err_and(|e| invalid("time")(&e)));
        let text = CloudEvent::builder()
            .id("t")
            .source("/s")
            .event_type("t")
            .datacontenttype("text/plain")
            .build()
            .unwrap();
        assert!(text
            .with_json("e".into(), at, None, &data)
            .is_err_and(|e| invalid("datacontenttype")(&e)));
    }

    #[test]
    fn missing_required_attributes_are_named() {
        let no_id = CloudEvent::builder().source("/s").event_type("t").build();
        assert_eq!(no_id, Err(EventError::MissingAttribute("id")));
        let no_source = CloudEvent::builder().id("1").event_type("t").build();
        assert_eq!(no_source, Err(EventError::MissingAttribute("source")));
        let no_type = CloudEvent::builder().id("1").source("/s").build();
        assert_eq!(no_type, Err(EventError::MissingAttribute("type")));
        assert_eq!(
            CloudEventBuilder::new().build(),
            Err(EventError::MissingAttribute("id"))
        );
    }

    #[test]
    fn empty_required_and_optional_strings_are_invalid() {
        for (builder, name) in [
            (minimal().id(""), "id"),
            (minimal().source(""), "source"),
            (minimal().event_type(""), "type"),
            (minimal().subject(""), "subject"),
            (minimal().dataschema(""), "dataschema"),
            (minimal().datacontenttype(""), "datacontenttype"),
        ] {
            let err = builder.build().unwrap_err();
            assert!(invalid(name)(&err), "{name}: {err:?}");
        }
    }

    #[test]
    fn error_messages_name_the_attribute() {
        let err = minimal().source("not a uri").build().unwrap_err();
        assert!(err.to_string().contains("`source`"), "{err}");
        let err = CloudEvent::builder().build().unwrap_err();
        assert_eq!(
            err.to_string(),
            "CloudEvent attribute `id` is required but was not set"
        );
    }

    #[test]
    fn bad_sources_are_rejected() {
        for source in [
            "has space",
            "quote\"",
            "caf\u{e9}",
            "bad%2",
            "bad%zz",
            "a#b#c",
            "1http://x",
            ":nothing",
            "ht_tp://x",
        ] {
            let err = minimal().source(source).build().unwrap_err();
            assert!(invalid("source")(&err), "{source}: {err:?}");
        }
    }

    #[test]
    fn dataschema_must_be_absolute_uri() {
        minimal()
            .dataschema("https://palisade.dev/schemas/decision/v1.json")
            .build()
            .unwrap();
        minimal()
            .dataschema("urn:palisade:decision:v1")
            .build()
            .unwrap();
        for schema in ["/relative/path", "https://x/s.json#/defs/a", "sp ace:x"] {
            let err = minimal().dataschema(schema).build().unwrap_err();
            assert!(invalid("dataschema")(&err), "{schema}: {err:?}");
        }
    }

    #[test]
    fn control_characters_and_noncharacters_are_rejected() {
        for (builder, name) in [
            (minimal().id("a\nb"), "id"),
            (minimal().event_type("t\u{7f}"), "type"),
            (minimal().subject("s\u{85}"), "subject"),
            (minimal().subject("s\u{fdd0}"), "subject"),
            (minimal().subject("s\u{1fffe}"), "subject"),
            (minimal().extension("ext", "tab\there"), "ext"),
        ] {
            let err = builder.build().unwrap_err();
            assert!(invalid(name)(&err), "{name}: {err:?}");
        }
        // Non-ASCII that is a valid character is fine.
        minimal()
            .subject("Euro \u{20ac} \u{1f600}")
            .build()
            .unwrap();
    }

    #[test]
    fn extension_names_follow_the_naming_rule() {
        let ok = minimal()
            .extension("traceparent", "00-abc")
            .extension("a", true)
            .extension("x0123456789abcdefghi", 1) // 20 characters
            .build()
            .unwrap();
        assert_eq!(ok.extensions().count(), 3);
        for name in [
            "",
            "Upper",
            "with-dash",
            "under_score",
            "caf\u{e9}",
            "x0123456789abcdefghij", // 21 characters
        ] {
            let err = minimal().extension(name, "v").build().unwrap_err();
            assert!(invalid(name)(&err), "{name:?}: {err:?}");
        }
    }

    #[test]
    fn time_must_be_writable_as_rfc3339() {
        let err = minimal().time(at(253_402_300_800, 0)).build().unwrap_err();
        assert!(invalid("time")(&err));
        let err = minimal()
            .time_rfc3339("2019-02-29T00:00:00Z")
            .build()
            .unwrap_err();
        assert!(invalid("time")(&err));
        let event = minimal()
            .time_rfc3339("2018-04-05T19:31:00+02:00")
            .build()
            .unwrap();
        assert_eq!(event.time_rfc3339(), Some("2018-04-05T17:31:00Z"));
    }

    #[test]
    fn extension_names_cannot_shadow_context_attributes_or_data() {
        for name in RESERVED_NAMES {
            let err = minimal().extension(name, "v").build().unwrap_err();
            assert!(invalid(name)(&err), "{name}: {err:?}");
            assert!(err.to_string().contains("reserved"));
        }
    }

    #[test]
    fn setting_twice_keeps_the_last_value() {
        let event = minimal()
            .id("first")
            .id("second")
            .extension("n", 1)
            .extension("n", "two")
            .build()
            .unwrap();
        assert_eq!(event.id(), "second");
        assert_eq!(
            event.extension("n"),
            Some(&ExtensionValue::String("two".into()))
        );
    }

    #[test]
    fn datacontenttype_is_checked_against_the_data() {
        let err = minimal()
            .datacontenttype("text/xml")
            .json_data(json!({}))
            .build()
            .unwrap_err();
        assert!(invalid("datacontenttype")(&err));
        let err = minimal()
            .datacontenttype("application/json")
            .text_data("{}")
            .build()
            .unwrap_err();
        assert!(invalid("datacontenttype")(&err));
        for ct in [
            "json",
            "/json",
            "application/",
            "text/plain\r\nx: y",
            "t\u{e9}xt/plain",
        ] {
            let err = minimal().datacontenttype(ct).build().unwrap_err();
            assert!(invalid("datacontenttype")(&err), "{ct:?}: {err:?}");
        }
        for ct in [
            "application/json",
            "application/json; charset=utf-8",
            "application/cloudevents+json",
            "Text/JSON",
        ] {
            minimal()
                .datacontenttype(ct)
                .json_data(json!(1))
                .build()
                .expect(ct);
        }
    }

    #[test]
    fn datacontenttype_defaults_follow_the_data() {
        let json = minimal().json_data(json!({"a": 1})).build().unwrap();
        assert_eq!(json.datacontenttype(), None);
        assert_eq!(json.effective_content_type(), Some("application/json"));
        let text = minimal().text_data("hi").build().unwrap();
        assert_eq!(text.datacontenttype(), Some("text/plain; charset=utf-8"));
        let bin = minimal().binary_data(vec![1, 2]).build().unwrap();
        assert_eq!(bin.datacontenttype(), Some("application/octet-stream"));
        let none = minimal().build().unwrap();
        assert_eq!(none.effective_content_type(), None);
        let declared = minimal()
            .datacontenttype("image/png")
            .binary_data(vec![0x89])
            .build()
            .unwrap();
        assert_eq!(declared.datacontenttype(), Some("image/png"));
    }
}
