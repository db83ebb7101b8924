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
use std::time::{Duration, SystemTime, UNIX_EPOCH};

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
/// [`format_rfc3339`]).
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
#[derive(Debug, Clone, PartialEq)]
pub enum Data {
    /// A JSON value: `data` as JSON in structured mode, JSON text in binary mode.
    Json(serde_json::Value),
    /// Text: a JSON string in structured mode, its UTF-8 bytes in binary mode.
    Text(String),
    /// Bytes: `data_base64` in structured mode, as-is in binary mode.
    Binary(Vec<u8>),
}

/// A valid CloudEvents 1.0 event. Made by [`CloudEvent::builder`]; immutable afterwards.
#[derive(Debug, Clone, PartialEq)]
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

/// A time kept both ways: the instant, and its RFC 3339 form (computed once, in `build()`).
#[derive(Debug, Clone, PartialEq)]
struct Timestamp {
    instant: SystemTime,
    rfc3339: String,
}

impl CloudEvent {
    /// Starts a builder; see [`CloudEventBuilder`].
    pub fn builder() -> CloudEventBuilder {
        CloudEventBuilder::default()
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
            (None, Some(Data::Json(_))) => Some(JSON_CONTENT_TYPE),
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
/// # use palisade::events::CloudEvent;
/// let event = CloudEvent::builder()
///     .id("A234-1234-1234")
///     .source("https://github.com/cloudevents/spec/pull")
///     .event_type("com.github.pull_request.opened")
///     .subject("123")
///     .extension("comexampleothervalue", 5)
///     .json_data(serde_json::json!({"number": 123}))
///     .build()?;
/// assert_eq!(event.specversion(), "1.0");
/// # Ok::<(), palisade::events::EventError>(())
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
            Some(TimeInput::Instant(instant)) => Some(Timestamp {
                instant,
                rfc3339: format_rfc3339(instant).ok_or_else(|| {
                    EventError::invalid("time", "must be between years 0000 and 9999 (UTC)")
                })?,
            }),
            Some(TimeInput::Rfc3339(text)) => {
                let instant =
                    parse_rfc3339(&text).map_err(|reason| EventError::invalid("time", reason))?;
                // In range: parsing accepts only four-digit years and offsets under a day,
                // but an offset can still push 0000-01-01 or 9999-12-31 out of range.
                let rfc3339 = format_rfc3339(instant).ok_or_else(|| {
                    EventError::invalid("time", "must be between years 0000 and 9999 (UTC)")
                })?;
                Some(Timestamp { instant, rfc3339 })
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
            (Some(Data::Json(_)), Some(ct)) if !is_json_media_type(&ct) => {
                return Err(EventError::invalid(
                    "datacontenttype",
                    "JSON data needs a JSON media type (application/json, text/json or +json)",
                ));
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

const SECS_PER_DAY: i64 = 86_400;
/// 0000-01-01T00:00:00Z and 9999-12-31T23:59:59Z, as seconds from the Unix epoch.
const MIN_SECS: i64 = -62_167_219_200;
const MAX_SECS: i64 = 253_402_300_799;

/// Seconds and nanoseconds from the Unix epoch (`nanos` always counts forward).
fn to_unix(time: SystemTime) -> Option<(i64, u32)> {
    match time.duration_since(UNIX_EPOCH) {
        Ok(after) => Some((i64::try_from(after.as_secs()).ok()?, after.subsec_nanos())),
        Err(err) => {
            let before = err.duration();
            let secs = i64::try_from(before.as_secs()).ok()?;
            match before.subsec_nanos() {
                0 => Some((-secs, 0)),
                n => Some((-secs - 1, 1_000_000_000 - n)),
            }
        }
    }
}

/// Days since 1970-01-01 to a proleptic Gregorian (year, month, day).
/// Howard Hinnant's `civil_from_days`: exact for every `i64` day here.
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// The inverse of [`civil_from_days`].
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn is_leap_year(year: i64) -> bool {
    year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if is_leap_year(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Formats an instant as RFC 3339 in UTC, e.g. `2018-04-05T17:31:00Z` or
/// `2018-04-05T17:31:00.250Z` (0, 3, 6 or 9 fractional digits, the fewest that are exact).
/// `None` outside years 0000 to 9999, which RFC 3339 cannot write.
pub fn format_rfc3339(time: SystemTime) -> Option<String> {
    let (secs, nanos) = to_unix(time)?;
    if !(MIN_SECS..=MAX_SECS).contains(&secs) {
        return None;
    }
    let (year, month, day) = civil_from_days(secs.div_euclid(SECS_PER_DAY));
    let sod = secs.rem_euclid(SECS_PER_DAY);
    let (hour, minute, second) = (sod / 3600, sod / 60 % 60, sod % 60);
    let fraction = if nanos == 0 {
        String::new()
    } else if nanos % 1_000_000 == 0 {
        format!(".{:03}", nanos / 1_000_000)
    } else if nanos % 1_000 == 0 {
        format!(".{:06}", nanos / 1_000)
    } else {
        format!(".{nanos:09}")
    };
    Some(format!(
        "{year:04}-{month:02}-{day:02}T{hour:02}:{minute:02}:{second:02}{fraction}Z"
    ))
}

/// Reads exactly `n` ASCII digits at `*pos` as a number and moves past them.
fn digits(bytes: &[u8], pos: &mut usize, n: usize) -> Option<i64> {
    let mut value = 0i64;
    for _ in 0..n {
        let b = *bytes.get(*pos).filter(|b| b.is_ascii_digit())?;
        value = value * 10 + i64::from(b - b'0');
        *pos += 1;
    }
    Some(value)
}

fn expect_byte(bytes: &[u8], pos: &mut usize, allowed: &[u8]) -> Option<u8> {
    let b = *bytes.get(*pos).filter(|b| allowed.contains(b))?;
    *pos += 1;
    Some(b)
}

/// Parses an RFC 3339 `date-time` (section 5.6), any offset. Leap seconds (`:60`) are
/// rejected: `SystemTime` counts Unix time, which has none. Digits past nanoseconds are
/// dropped.
fn parse_rfc3339(text: &str) -> Result<SystemTime, &'static str> {
    const SHAPE: &str = "must be an RFC 3339 date-time like 2018-04-05T17:31:00Z";
    let bytes = text.as_bytes();
    let mut pos = 0;
    let mut field = |n: usize, sep: &[u8]| -> Option<i64> {
        let v = digits(bytes, &mut pos, n)?;
        if !sep.is_empty() {
            expect_byte(bytes, &mut pos, sep)?;
        }
        Some(v)
    };
    let (year, month, day) = (
        field(4, b"-").ok_or(SHAPE)?,
        field(2, b"-").ok_or(SHAPE)?,
        field(2, b"Tt").ok_or(SHAPE)?,
    );
    let (hour, minute, second) = (
        field(2, b":").ok_or(SHAPE)?,
        field(2, b":").ok_or(SHAPE)?,
        field(2, b"").ok_or(SHAPE)?,
    );
    if !(1..=12).contains(&month) || !(1..=days_in_month(year, month)).contains(&day) {
        return Err("the date does not exist");
    }
    if second == 60 {
        return Err("leap seconds (:60) cannot be represented");
    }
    if hour > 23 || minute > 59 || second > 59 {
        return Err("the time of day does not exist");
    }
    let mut nanos = 0u32;
    if bytes.get(pos) == Some(&b'.') {
        pos += 1;
        let start = pos;
        while let Some(b) = bytes.get(pos).filter(|b| b.is_ascii_digit()) {
            if pos - start < 9 {
                nanos = nanos * 10 + u32::from(b - b'0');
            }
            pos += 1;
        }
        match pos - start {
            0 => return Err(SHAPE),
            n @ 1..=8 => nanos *= 10u32.pow(9 - n as u32),
            _ => {}
        }
    }
    let offset_secs = match expect_byte(bytes, &mut pos, b"Zz+-").ok_or(SHAPE)? {
        b'Z' | b'z' => 0,
        sign => {
            let h = digits(bytes, &mut pos, 2).ok_or(SHAPE)?;
            expect_byte(bytes, &mut pos, b":").ok_or(SHAPE)?;
            let m = digits(bytes, &mut pos, 2).ok_or(SHAPE)?;
            if h > 23 || m > 59 {
                return Err("the UTC offset does not exist");
            }
            let offset = h * 3600 + m * 60;
            if sign == b'-' {
                -offset
            } else {
                offset
            }
        }
    };
    if pos != bytes.len() {
        return Err(SHAPE);
    }
    let secs =
        days_from_civil(year, month, day) * SECS_PER_DAY + hour * 3600 + minute * 60 + second
            - offset_secs;
    let since_epoch = Duration::from_secs(secs.unsigned_abs());
    let instant = if secs >= 0 {
        UNIX_EPOCH.checked_add(since_epoch)
    } else {
        UNIX_EPOCH.checked_sub(since_epoch)
    };
    instant
        .and_then(|t| t.checked_add(Duration::from_nanos(u64::from(nanos))))
        .ok_or("the instant cannot be represented on this platform")
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
    use serde_json::json;

    fn at(secs: i64, nanos: u32) -> SystemTime {
        let t = if secs >= 0 {
            UNIX_EPOCH + Duration::from_secs(secs as u64)
        } else {
            UNIX_EPOCH - Duration::from_secs(secs.unsigned_abs())
        };
        t + Duration::from_nanos(u64::from(nanos))
    }

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
        // The example at the end of the CloudEvents 1.0.2 spec.
        let event = CloudEvent::builder()
            .event_type("com.github.pull_request.opened")
            .source("https://github.com/cloudevents/spec/pull")
            .subject("123")
            .id("A234-1234-1234")
            .time(at(1_522_949_460, 0))
            .extension("comexampleextension1", "value")
            .extension("comexampleothervalue", 5)
            .datacontenttype("text/xml")
            .text_data(r#"<much wow="xml"/>"#)
            .build()
            .unwrap();
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

    #[test]
    fn formats_known_instants() {
        for (secs, nanos, want) in [
            (0, 0, "1970-01-01T00:00:00Z"),
            (1_522_949_460, 0, "2018-04-05T17:31:00Z"),
            (1_522_900_584, 0, "2018-04-05T03:56:24Z"),
            (951_782_400, 0, "2000-02-29T00:00:00Z"), // divisible by 400: leap
            (1_078_012_800, 0, "2004-02-29T00:00:00Z"),
            (1_582_934_400, 0, "2020-02-29T00:00:00Z"),
            (-2_203_891_200, 0, "1900-03-01T00:00:00Z"), // 1900: not leap
            (4_107_542_399, 0, "2100-02-28T23:59:59Z"),  // 2100: not leap
            (4_107_542_400, 0, "2100-03-01T00:00:00Z"),
            (-11_670_955_200, 0, "1600-02-29T12:00:00Z"),
            (2_147_483_648, 0, "2038-01-19T03:14:08Z"),
            (-1, 0, "1969-12-31T23:59:59Z"),
            (253_402_300_799, 0, "9999-12-31T23:59:59Z"),
            (-62_167_219_200, 0, "0000-01-01T00:00:00Z"),
        ] {
            assert_eq!(
                format_rfc3339(at(secs, nanos)).as_deref(),
                Some(want),
                "{secs}"
            );
        }
    }

    #[test]
    fn formats_sub_second_precision() {
        for (secs, nanos, want) in [
            (1, 500_000_000, "1970-01-01T00:00:01.500Z"),
            (1, 1_000_000, "1970-01-01T00:00:01.001Z"),
            (1, 123_000, "1970-01-01T00:00:01.000123Z"),
            (1, 1, "1970-01-01T00:00:01.000000001Z"),
            (1, 999_999_999, "1970-01-01T00:00:01.999999999Z"),
            (951_868_799, 999_000_000, "2000-02-29T23:59:59.999Z"),
            (-1, 999_999_999, "1969-12-31T23:59:59.999999999Z"), // 1 ns before the epoch
            (-1, 250_000_000, "1969-12-31T23:59:59.250Z"),
        ] {
            assert_eq!(
                format_rfc3339(at(secs, nanos)).as_deref(),
                Some(want),
                "{want}"
            );
        }
    }

    #[test]
    fn years_outside_0000_to_9999_are_rejected() {
        assert_eq!(format_rfc3339(at(253_402_300_800, 0)), None);
        assert_eq!(format_rfc3339(at(-62_167_219_201, 0)), None);
        assert_eq!(format_rfc3339(at(-62_167_219_201, 999_999_999)), None);
        let err = minimal().time(at(253_402_300_800, 0)).build().unwrap_err();
        assert!(invalid("time")(&err));
    }

    #[test]
    fn civil_conversion_round_trips_every_day_of_a_long_span() {
        // Every day from 0000-01-01 to 9999-12-31 maps to a valid date and back.
        let (first, last) = (MIN_SECS / SECS_PER_DAY, MAX_SECS / SECS_PER_DAY);
        let mut expected = (0, 1, 1);
        for days in first..=last {
            let (y, m, d) = civil_from_days(days);
            assert_eq!((y, m, d), expected, "day {days}");
            assert_eq!(days_from_civil(y, m, d), days);
            expected = if d < days_in_month(y, m) {
                (y, m, d + 1)
            } else if m < 12 {
                (y, m + 1, 1)
            } else {
                (y + 1, 1, 1)
            };
        }
    }

    #[test]
    fn parses_rfc3339_strings_into_utc() {
        for (text, secs, nanos, canonical) in [
            (
                "2018-04-05T17:31:00Z",
                1_522_949_460,
                0,
                "2018-04-05T17:31:00Z",
            ),
            (
                "2018-04-05T19:31:00+02:00",
                1_522_949_460,
                0,
                "2018-04-05T17:31:00Z",
            ),
            (
                "2018-04-05t12:01:00.5-05:30",
                1_522_949_460,
                500_000_000,
                "2018-04-05T17:31:00.500Z",
            ),
            (
                "2000-02-29T00:00:00.000000001z",
                951_782_400,
                1,
                "2000-02-29T00:00:00.000000001Z",
            ),
            (
                "1969-12-31T23:59:59.1234567891Z",
                -1,
                123_456_789,
                "1969-12-31T23:59:59.123456789Z",
            ),
        ] {
            let event = minimal().time_rfc3339(text).build().expect(text);
            assert_eq!(event.time(), Some(at(secs, nanos)), "{text}");
            assert_eq!(event.time_rfc3339(), Some(canonical), "{text}");
        }
    }

    #[test]
    fn rejects_bad_rfc3339_strings() {
        for text in [
            "",
            "2018-04-05",
            "2018-04-05 17:31:00Z",
            "2018-04-05T17:31:00",
            "2018-04-05T17:31Z",
            "2018-04-05T17:31:00.Z",
            "2018-04-05T17:31:00+0200",
            "2018-04-05T17:31:00Z ",
            "2019-02-29T00:00:00Z",
            "1900-02-29T00:00:00Z",
            "2018-13-01T00:00:00Z",
            "2018-04-31T00:00:00Z",
            "2018-04-05T24:00:00Z",
            "2016-12-31T23:59:60Z",
            "2018-04-05T17:31:00+24:00",
            "0000-01-01T00:00:00+00:01",
            "+2018-04-05T17:31:00Z",
        ] {
            let err = minimal().time_rfc3339(text).build().unwrap_err();
            assert!(invalid("time")(&err), "{text:?}: {err:?}");
        }
    }

    #[test]
    fn format_and_parse_round_trip() {
        let mut secs = MIN_SECS;
        let mut nanos = 0u32;
        while secs <= MAX_SECS {
            let t = at(secs, nanos);
            let text = format_rfc3339(t).unwrap();
            assert_eq!(parse_rfc3339(&text), Ok(t), "{text}");
            secs += 7_777_777; // about 90 days, so it lands on every time of day over the span
            nanos = (nanos + 123_457_000) % 1_000_000_000;
        }
    }
}
