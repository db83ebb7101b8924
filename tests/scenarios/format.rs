//! The scenario file format: a plugin setup, then scenarios made of steps (requests and waits), each
//! request with the observable outcome it must have in both worlds.
//!
//! ```yaml
//! note: what the file is about
//! filter: palisade-harness-probe                                   # optional, this is the default
//! plugin: { configuration: "tick=50", failure_policy: FAIL_OPEN,   # all optional
//!           allow_on_headers_stop_iteration: true }
//! scenarios:
//!   - name: deny
//!     note: a local reply from request headers; the upstream sees nothing
//!     steps:
//!       - request:
//!           headers: { x-probe: deny }
//!           expect:
//!             status: 403
//!             headers: { x-denied: "yes" }
//!             body: denied
//!             upstream: { received: false }
//! ```
//!
//! `filter` names the module every scenario of the file runs, in one of two forms:
//! - a workspace cdylib crate, by package name (`filter: palisade-harness-probe`, the default),
//!   built to `wasm32-wasip1` with cargo (`palisade_build::build_once`);
//! - a third-party filter written in AssemblyScript, by its directory under
//!   `tests/filters/assemblyscript/` (`filter: { assemblyscript: as-headers }`): an npm package
//!   (`package.json` + `package-lock.json`, versions pinned) whose entry is `assembly/index.ts`,
//!   built with `npm ci` and `asc` by `assemblyscript.rs`, which needs Node.js and npm on `PATH`.
//!
//! A value expectation is a scalar (exact) or one pattern: `{contains: s}`, `{prefix: s}`,
//! `{present: bool}`, `{hex_text: s}` / `{hex_text_prefix: s}` (the hex the probe reports for a
//! string property), `{hex_i64: n}` (an 8-byte little-endian integer property).
//! A pattern says the value legitimately differs between the worlds, so it is left out of the
//! harness-vs-Envoy value comparison (its pattern is still checked in both).

use std::collections::BTreeMap;
use std::fmt;

use serde::de::{MapAccess, Visitor};
use serde::{Deserialize, Deserializer};

/// One scenario file: the plugin every scenario in it runs with, and the scenarios, in order. Both
/// worlds run the scenarios of a file in order against one plugin instance, so state (metrics, a
/// failed VM) carries over from one scenario to the next, as it does in one Envoy.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScenarioFile {
    /// What the file covers.
    pub note: String,
    /// The filter module every scenario runs (see the module docs for the two forms).
    #[serde(default)]
    pub filter: Filter,
    #[serde(default)]
    pub plugin: Plugin,
    /// Also run every step against the filter built natively (an Envoy dynamic module from the
    /// same crate, configured with the same plugin configuration), which must meet the same
    /// expectations: for files whose expectations hold in both backends.
    #[serde(default)]
    pub native: bool,
    pub scenarios: Vec<Scenario>,
}

/// Where a scenario file's filter module comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Filter {
    /// A cdylib crate of the workspace, by package name.
    Crate(String),
    /// An AssemblyScript package under `tests/filters/assemblyscript/`, by directory name.
    AssemblyScript(String),
}

impl Default for Filter {
    /// The Rust probe filter of the harness's tests.
    fn default() -> Self {
        Filter::Crate("palisade-harness-probe".into())
    }
}

impl fmt::Display for Filter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Filter::Crate(package) => write!(f, "crate {package}"),
            Filter::AssemblyScript(name) => write!(f, "AssemblyScript filter {name}"),
        }
    }
}

impl<'de> Deserialize<'de> for Filter {
    /// A plain string is a crate; `{ assemblyscript: name }` an AssemblyScript package.
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct InLanguage {
            assemblyscript: String,
        }
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Crate(String),
            InLanguage(InLanguage),
        }
        match Raw::deserialize(d) {
            Ok(Raw::Crate(package)) => Ok(Filter::Crate(package)),
            Ok(Raw::InLanguage(InLanguage { assemblyscript })) => {
                Ok(Filter::AssemblyScript(assemblyscript))
            }
            Err(_) => Err(serde::de::Error::custom(
                "`filter` is a workspace crate's package name, or `{ assemblyscript: <directory \
                 under tests/filters/assemblyscript> }`",
            )),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Plugin {
    pub name: String,
    pub root_id: String,
    pub vm_id: String,
    /// The plugin configuration: a string as is, or a map passed on as JSON.
    #[serde(deserialize_with = "text_or_json")]
    pub configuration: String,
    pub failure_policy: FailurePolicy,
    /// Envoy's `allow_on_headers_stop_iteration` for the Wasm filter (default false, as in Envoy).
    pub allow_on_headers_stop_iteration: bool,
}

impl Default for Plugin {
    fn default() -> Self {
        Self {
            name: "probe".into(),
            root_id: "http".into(),
            vm_id: "probe-vm".into(),
            configuration: String::new(),
            failure_policy: FailurePolicy::Closed,
            allow_on_headers_stop_iteration: false,
        }
    }
}

fn text_or_json<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    match serde_json::Value::deserialize(d)? {
        serde_json::Value::String(text) => Ok(text),
        other => Ok(other.to_string()),
    }
}

/// Envoy's `failure_policy` names.
#[derive(Debug, Clone, Copy, Deserialize)]
pub enum FailurePolicy {
    #[serde(rename = "FAIL_CLOSED")]
    Closed,
    #[serde(rename = "FAIL_OPEN")]
    Open,
    #[serde(rename = "FAIL_RELOAD")]
    Reload,
}

impl FailurePolicy {
    pub fn envoy_name(self) -> &'static str {
        match self {
            FailurePolicy::Closed => "FAIL_CLOSED",
            FailurePolicy::Open => "FAIL_OPEN",
            FailurePolicy::Reload => "FAIL_RELOAD",
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    pub name: String,
    pub note: String,
    pub steps: Vec<Step>,
}

/// One step: `request: {...}`, `wait_for: {...}` or `sleep_ms: n` (a map with one key).
#[derive(Debug)]
pub enum Step {
    Request(Box<Request>),
    WaitFor(WaitFor),
    /// Lets time pass: real time in Envoy, the virtual clock in the harness.
    SleepMs(u64),
}

impl<'de> Deserialize<'de> for Step {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Raw {
            request: Option<Box<Request>>,
            wait_for: Option<WaitFor>,
            sleep_ms: Option<u64>,
        }
        match Raw::deserialize(d)? {
            Raw {
                request: Some(r),
                wait_for: None,
                sleep_ms: None,
            } => Ok(Step::Request(r)),
            Raw {
                request: None,
                wait_for: Some(w),
                sleep_ms: None,
            } => Ok(Step::WaitFor(w)),
            Raw {
                request: None,
                wait_for: None,
                sleep_ms: Some(ms),
            } => Ok(Step::SleepMs(ms)),
            _ => Err(serde::de::Error::custom(
                "a step is one of `request`, `wait_for`, `sleep_ms`",
            )),
        }
    }
}

/// A client request through the listener, and what must come of it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Request {
    #[serde(default = "default_method")]
    pub method: String,
    #[serde(default = "default_path")]
    pub path: String,
    /// The `Host` header (`:authority`).
    #[serde(default = "default_authority")]
    pub authority: String,
    /// Request headers in order (names as written; both worlds lower-case them); a list of values
    /// sends the header once per value.
    #[serde(default, deserialize_with = "ordered_pairs")]
    pub headers: Vec<(String, String)>,
    /// Body chunks. One chunk is sent with `content-length`; several are sent chunked, with a pause
    /// between them so Envoy's filter sees them as separate body callbacks.
    #[serde(default)]
    pub body: Vec<String>,
    /// Request trailers (the body is then sent chunked, trailers after the last chunk).
    #[serde(default, deserialize_with = "ordered_pairs")]
    pub trailers: Vec<(String, String)>,
    #[serde(default)]
    pub expect: Expect,
    /// Expectations that hold in Envoy only (a recorded difference, with its reason).
    pub envoy_only: Option<WorldOnly>,
    /// Expectations that hold in the harness only (a recorded difference, with its reason).
    pub harness_only: Option<WorldOnly>,
}

fn default_method() -> String {
    "GET".into()
}

fn default_path() -> String {
    "/".into()
}

fn default_authority() -> String {
    "example.com".into()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorldOnly {
    pub reason: String,
    pub expect: Expect,
}

/// The observable outcome of one request. Absent fields are not checked against an expectation
/// (but the worlds are still compared with each other; see `compare.rs`).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    /// The status the client got.
    pub status: Option<u16>,
    /// Response headers the client got.
    #[serde(default)]
    pub headers: BTreeMap<String, ValueMatch>,
    /// The response body the client got.
    pub body: Option<ValueMatch>,
    /// What the echo upstream received.
    pub upstream: Option<UpstreamExpect>,
    /// The HTTP callouts the plugin made during this request, in order (to clusters both worlds can
    /// observe: `auth_cluster`).
    pub callouts: Option<Vec<CalloutExpect>>,
    /// Plugin metric values after the request.
    #[serde(default)]
    pub metrics: BTreeMap<String, MetricMatch>,
    /// Substrings of messages the plugin must have logged during the request, in this order.
    #[serde(default)]
    pub logs: Vec<String>,
    /// Substrings no message of the plugin's may contain (what the host logs itself, such as a
    /// trap, is not the plugin's).
    #[serde(default)]
    pub not_logged: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpstreamExpect {
    /// False: the request must not reach the upstream.
    #[serde(default = "yes")]
    pub received: bool,
    pub method: Option<String>,
    pub path: Option<String>,
    #[serde(default)]
    pub headers: BTreeMap<String, ValueMatch>,
    pub body: Option<ValueMatch>,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CalloutExpect {
    pub cluster: String,
    pub method: Option<String>,
    pub path: Option<String>,
    #[serde(default)]
    pub headers: BTreeMap<String, ValueMatch>,
    pub body: Option<ValueMatch>,
}

/// Waits until a metric reaches a value: Envoy is polled in real time, the harness's virtual clock is
/// advanced in small steps; both give up after `timeout_ms`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WaitFor {
    pub metric: String,
    pub at_least: u64,
    #[serde(default = "default_wait")]
    pub timeout_ms: u64,
    /// Substrings of messages the plugin must have logged while waiting.
    #[serde(default)]
    pub logs: Vec<String>,
}

fn default_wait() -> u64 {
    5000
}

#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum MetricMatch {
    Exact(u64),
    Pattern(MetricPattern),
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricPattern {
    pub at_least: u64,
}

impl MetricMatch {
    pub fn matches(&self, value: Option<u64>) -> bool {
        match (self, value) {
            (MetricMatch::Exact(want), Some(v)) => v == *want,
            (MetricMatch::Pattern(p), Some(v)) => v >= p.at_least,
            (_, None) => false,
        }
    }

    /// True when the value may differ between the worlds.
    pub fn is_pattern(&self) -> bool {
        matches!(self, MetricMatch::Pattern(_))
    }
}

impl fmt::Display for MetricMatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MetricMatch::Exact(v) => write!(f, "{v}"),
            MetricMatch::Pattern(p) => write!(f, ">= {}", p.at_least),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum ValueMatch {
    Text(String),
    Integer(i64),
    Bool(bool),
    Pattern(Pattern),
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pattern {
    pub contains: Option<String>,
    pub prefix: Option<String>,
    pub present: Option<bool>,
    pub hex_text: Option<String>,
    pub hex_text_prefix: Option<String>,
    pub hex_i64: Option<i64>,
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl ValueMatch {
    /// Does the observed value (None: absent) satisfy this expectation?
    pub fn matches(&self, value: Option<&str>) -> bool {
        match self {
            ValueMatch::Text(want) => value == Some(want.as_str()),
            ValueMatch::Integer(want) => value == Some(want.to_string().as_str()),
            ValueMatch::Bool(want) => value == Some(want.to_string().as_str()),
            ValueMatch::Pattern(p) => {
                if let Some(present) = p.present {
                    return value.is_some() == present;
                }
                let Some(value) = value else { return false };
                p.contains
                    .as_ref()
                    .is_none_or(|s| value.contains(s.as_str()))
                    && p.prefix
                        .as_ref()
                        .is_none_or(|s| value.starts_with(s.as_str()))
                    && p.hex_text
                        .as_ref()
                        .is_none_or(|s| value == hex(s.as_bytes()))
                    && p.hex_text_prefix
                        .as_ref()
                        .is_none_or(|s| value.starts_with(&hex(s.as_bytes())))
                    && p.hex_i64.is_none_or(|n| value == hex(&n.to_le_bytes()))
            }
        }
    }

    /// True when the value may differ between the worlds (only its pattern is checked).
    pub fn is_pattern(&self) -> bool {
        match self {
            ValueMatch::Pattern(p) => p.hex_text.is_none() && p.hex_i64.is_none(),
            _ => false,
        }
    }
}

impl fmt::Display for ValueMatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ValueMatch::Text(s) => write!(f, "{s:?}"),
            ValueMatch::Integer(n) => write!(f, "\"{n}\""),
            ValueMatch::Bool(b) => write!(f, "\"{b}\""),
            ValueMatch::Pattern(p) => write!(f, "{p:?}"),
        }
    }
}

/// A YAML map read in document order (headers keep their order, unlike a `BTreeMap`).
fn ordered_pairs<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<(String, String)>, D::Error> {
    struct Pairs;
    impl<'de> Visitor<'de> for Pairs {
        type Value = Vec<(String, String)>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a map of header names to values")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let mut out = Vec::new();
            while let Some((k, values)) = map.next_entry::<String, Values>()? {
                out.extend(values.0.into_iter().map(|v| (k.clone(), v)));
            }
            Ok(out)
        }
    }
    d.deserialize_map(Pairs)
}

/// A header's values: one scalar, or a list of them for a header sent several times.
struct Values(Vec<String>);

impl<'de> Deserialize<'de> for Values {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum OneOrMore {
            One(Scalar),
            More(Vec<Scalar>),
        }
        Ok(Values(match OneOrMore::deserialize(d)? {
            OneOrMore::One(v) => vec![v.0],
            OneOrMore::More(vs) => vs.into_iter().map(|v| v.0).collect(),
        }))
    }
}

/// A header value written as a string, number or bool.
struct Scalar(String);

impl<'de> Deserialize<'de> for Scalar {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Any {
            S(String),
            I(i64),
            B(bool),
        }
        Ok(Scalar(match Any::deserialize(d)? {
            Any::S(s) => s,
            Any::I(i) => i.to_string(),
            Any::B(b) => b.to_string(),
        }))
    }
}

impl ScenarioFile {
    pub fn parse(text: &str) -> anyhow::Result<Self> {
        Ok(serde_yaml::from_str(text)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filter_of(yaml: &str) -> anyhow::Result<Filter> {
        let text = format!("note: n\n{yaml}scenarios: []\n");
        Ok(ScenarioFile::parse(&text)?.filter)
    }

    #[test]
    fn a_filter_is_a_crate_or_an_assemblyscript_package() {
        assert_eq!(filter_of("").unwrap(), Filter::default());
        assert_eq!(
            filter_of("filter: request-probe\n").unwrap(),
            Filter::Crate("request-probe".into())
        );
        assert_eq!(
            filter_of("filter: { assemblyscript: as-headers }\n").unwrap(),
            Filter::AssemblyScript("as-headers".into())
        );
        let wrong = filter_of("filter: { rust: as-headers }\n").unwrap_err();
        assert!(
            wrong.to_string().contains("assemblyscript: <directory"),
            "{wrong}"
        );
    }
}
