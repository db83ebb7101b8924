//! A real CloudEvents sink: an HTTP receiver on loopback that accepts the three content modes
//! of the CloudEvents HTTP binding 1.0.2 (binary, structured, batched), records every event in
//! its structured JSON form, and can play a failing or absent sink.
//!
//! The end-to-end tests point a filter's `events.sink_cluster` at it; `palisade bench` uses it
//! to measure the cost of emitting; `palisade up` can print the events as they arrive:
//!
//! ```no_run
//! use std::time::Duration;
//! use palisade_testkit::sink::Sink;
//!
//! let sink = Sink::start()?;
//! let live = sink.subscribe();
//! println!("sink on {}", sink.address());
//! // ... point Envoy's sink cluster at 127.0.0.1:<sink.port()> and send requests ...
//! for event in live.iter().take(3) {
//!     println!("{event}");
//! }
//! let events = sink.wait_for(3, Duration::from_secs(5))?;
//! # Ok::<(), palisade_testkit::sink::SinkError>(())
//! ```
//!
//! Decoding is this module's own (it shares no code with the SDK's encoder): binary-mode
//! header values are unquoted and percent-decoded as the binding requires (invalid UTF-8 is
//! refused), the body becomes `data` (JSON media types), a string (`text/*`) or `data_base64`.
//! A request that is not a valid CloudEvent gets `400` and is counted, not recorded.

use std::collections::VecDeque;
use std::fmt;
use std::io::Read;
use std::net::SocketAddr;
use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

use serde_json::{Map, Value};

/// Content type of structured mode.
pub const STRUCTURED_CONTENT_TYPE: &str = "application/cloudevents+json";
/// Content type of batched mode.
pub const BATCH_CONTENT_TYPE: &str = "application/cloudevents-batch+json";

/// The largest request body the sink reads; larger ones get `413`.
const MAX_BODY_BYTES: u64 = 16 * 1024 * 1024;
/// Worker threads answering requests.
const WORKERS: usize = 2;
/// How long `restart` keeps trying to bind the old port (the previous listener closes
/// asynchronously).
const REBIND_TIMEOUT: Duration = Duration::from_secs(3);
/// Invalid requests whose reasons are kept for [`Sink::invalid`].
const KEEP_INVALID: usize = 100;

/// What can go wrong running the sink.
#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    /// The listening socket could not be opened.
    #[error("starting the CloudEvents sink on {address}: {message}")]
    Bind {
        /// The address asked for.
        address: String,
        /// Why it failed.
        message: String,
    },
    /// [`Sink::wait_for`] ran out of time.
    #[error("the CloudEvents sink received {got} of {want} events in {timeout:?}")]
    Timeout {
        /// Events wanted.
        want: usize,
        /// Events received by then.
        got: usize,
        /// How long it waited.
        timeout: Duration,
    },
}

/// How an event came in (the HTTP binding's content modes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ContentMode {
    /// Attributes as `ce-*` headers, the data as the body.
    Binary,
    /// One `application/cloudevents+json` event.
    Structured,
    /// An `application/cloudevents-batch+json` array.
    Batched,
}

impl ContentMode {
    /// The mode's name as the `events.mode` configuration spells it.
    pub fn name(self) -> &'static str {
        match self {
            Self::Binary => "binary",
            Self::Structured => "structured",
            Self::Batched => "batched",
        }
    }
}

impl fmt::Display for ContentMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One event the sink accepted.
#[derive(Debug, Clone, PartialEq)]
pub struct ReceivedEvent {
    /// The content mode of the request it came in.
    pub mode: ContentMode,
    /// The event in structured JSON form (`specversion`, `id`, ..., `data` or `data_base64`),
    /// whatever mode it came in.
    pub event: Value,
    /// When the sink received it (its own clock).
    pub received_at: SystemTime,
}

impl ReceivedEvent {
    /// A string attribute (`id`, `type`, `subject`, an extension, ...).
    pub fn attribute(&self, name: &str) -> Option<&str> {
        self.event.get(name).and_then(Value::as_str)
    }

    /// The `id` attribute.
    pub fn id(&self) -> &str {
        self.attribute("id").unwrap_or_default()
    }

    /// The `type` attribute.
    pub fn event_type(&self) -> &str {
        self.attribute("type").unwrap_or_default()
    }

    /// The `source` attribute.
    pub fn source(&self) -> &str {
        self.attribute("source").unwrap_or_default()
    }

    /// The `subject` attribute, if any.
    pub fn subject(&self) -> Option<&str> {
        self.attribute("subject")
    }

    /// The JSON `data`, if the event has any (not `data_base64`).
    pub fn data(&self) -> Option<&Value> {
        self.event.get("data")
    }
}

/// One line per event: decision events (data with `allowed`) say what was decided about
/// which request; other events show their data, shortened.
impl fmt::Display for ReceivedEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:<10} {} {}",
            self.mode,
            self.event_type(),
            self.source()
        )?;
        let data = self.data();
        match data.and_then(|d| d.get("allowed")).and_then(Value::as_bool) {
            Some(allowed) => {
                let field = |name: &str| data.and_then(|d| d.get(name));
                let text = |value: Option<&Value>| match value {
                    Some(Value::String(s)) => s.clone(),
                    Some(Value::Null) | None => "-".into(),
                    Some(other) => other.to_string(),
                };
                let request = field("request");
                let verdict = if allowed { "ALLOW" } else { "DENY " };
                write!(
                    f,
                    "  {verdict} {} {} {}",
                    text(field("status")),
                    text(request.and_then(|r| r.get("method"))),
                    text(request.and_then(|r| r.get("path"))),
                )?;
                if let Some(us) = field("eval_time_us") {
                    write!(f, " ({us} us)")?;
                }
                write!(f, " decision {}", text(field("decision_id")))?;
                if let Some(error) = field("error") {
                    write!(f, " error: {}", text(Some(error)))?;
                }
                Ok(())
            }
            None => {
                if let Some(subject) = self.subject() {
                    write!(f, "  subject {subject}")?;
                }
                match data {
                    Some(data) => write!(f, "  {}", shorten(&data.to_string(), 120)),
                    None if self.event.get("data_base64").is_some() => {
                        write!(f, "  (binary data)")
                    }
                    None => Ok(()),
                }
            }
        }
    }
}

fn shorten(text: &str, max_chars: usize) -> String {
    match text.char_indices().nth(max_chars) {
        Some((cut, _)) => format!("{}...", text.get(..cut).unwrap_or(text)),
        None => text.to_string(),
    }
}

/// Requests the sink has answered, by outcome.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RequestCounts {
    /// Answered with a 2xx status: their events were recorded.
    pub accepted: usize,
    /// Answered with the non-2xx status set by [`Sink::set_status`], unread.
    pub refused: usize,
    /// Not valid CloudEvents (or not a POST, or too large): answered `4xx`.
    pub invalid: usize,
}

/// How to start a sink.
#[derive(Debug, Clone, Default)]
pub struct SinkOptions {
    /// Port on 127.0.0.1; 0 (the default) picks a free one.
    pub port: u16,
    /// Keep at most this many of the latest events for [`Sink::events`] (all are counted);
    /// `None` keeps every event. Long runs (benchmarks) set a limit to bound memory.
    pub keep_events: Option<usize>,
}

/// A running CloudEvents receiver on 127.0.0.1; stopped when dropped.
///
/// Thread-safe: tests read it while Envoy delivers to it from another thread.
pub struct Sink {
    address: SocketAddr,
    shared: Arc<Shared>,
    listening: Option<Listening>,
}

struct Listening {
    server: Arc<tiny_http::Server>,
    workers: Vec<JoinHandle<()>>,
}

#[derive(Default)]
struct Shared {
    state: Mutex<State>,
    arrived: Condvar,
}

struct State {
    status: u16,
    keep: Option<usize>,
    events: VecDeque<ReceivedEvent>,
    total: usize,
    requests: RequestCounts,
    invalid: VecDeque<String>,
    subscribers: Vec<mpsc::Sender<ReceivedEvent>>,
}

impl Default for State {
    fn default() -> Self {
        Self {
            status: 200,
            keep: None,
            events: VecDeque::new(),
            total: 0,
            requests: RequestCounts::default(),
            invalid: VecDeque::new(),
            subscribers: Vec::new(),
        }
    }
}

impl fmt::Debug for Sink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sink")
            .field("address", &self.address)
            .field("running", &self.is_running())
            .finish_non_exhaustive()
    }
}

impl Sink {
    /// Starts a sink on a free loopback port, answering `200` and keeping every event.
    pub fn start() -> Result<Self, SinkError> {
        Self::start_with(SinkOptions::default())
    }

    /// Starts a sink with these options.
    pub fn start_with(options: SinkOptions) -> Result<Self, SinkError> {
        let shared = Arc::new(Shared::default());
        lock(&shared.state).keep = options.keep_events;
        let listening = listen(&shared, SocketAddr::from(([127, 0, 0, 1], options.port)))?;
        let address = listening.address()?;
        Ok(Self {
            address,
            shared,
            listening: Some(listening),
        })
    }

    /// The address it listens on (kept across [`Self::stop`] and [`Self::restart`]).
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.address.port()
    }

    /// The events kept so far (see [`SinkOptions::keep_events`]), in arrival order.
    pub fn events(&self) -> Vec<ReceivedEvent> {
        lock(&self.shared.state).events.iter().cloned().collect()
    }

    /// How many events the sink has accepted since it started.
    pub fn count(&self) -> usize {
        lock(&self.shared.state).total
    }

    /// Waits until at least `n` events have been accepted in all, then returns the events
    /// kept; [`SinkError::Timeout`] if they have not arrived within `timeout`.
    pub fn wait_for(&self, n: usize, timeout: Duration) -> Result<Vec<ReceivedEvent>, SinkError> {
        let deadline = Instant::now() + timeout;
        let mut state = lock(&self.shared.state);
        while state.total < n {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(SinkError::Timeout {
                    want: n,
                    got: state.total,
                    timeout,
                });
            }
            state = self
                .shared
                .arrived
                .wait_timeout(state, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        Ok(state.events.iter().cloned().collect())
    }

    /// Answers every following request with `status`. With a 2xx status (the default is
    /// `200`) events are decoded and recorded; with any other (e.g. `503`, to play a failing
    /// sink; `400`, to play one that rejects) requests are answered unread and their events
    /// are not recorded.
    pub fn set_status(&self, status: u16) {
        lock(&self.shared.state).status = status;
    }

    /// The status requests are answered with.
    pub fn status(&self) -> u16 {
        lock(&self.shared.state).status
    }

    /// A live stream of the events accepted from now on (e.g. to print them as they arrive).
    /// The stream ends when the sink is dropped.
    pub fn subscribe(&self) -> mpsc::Receiver<ReceivedEvent> {
        let (sender, receiver) = mpsc::channel();
        lock(&self.shared.state).subscribers.push(sender);
        receiver
    }

    /// Requests answered so far, by outcome.
    pub fn requests(&self) -> RequestCounts {
        lock(&self.shared.state).requests
    }

    /// Why the latest invalid requests were refused (up to 100).
    pub fn invalid(&self) -> Vec<String> {
        lock(&self.shared.state).invalid.iter().cloned().collect()
    }

    /// Whether it is listening.
    pub fn is_running(&self) -> bool {
        self.listening.is_some()
    }

    /// Stops listening: new connections are refused, like a sink that is down. A connection
    /// a client opened before and keeps alive gets no answer to its next request (the client
    /// gives up at its own timeout). Recorded events are kept.
    pub fn stop(&mut self) {
        if let Some(listening) = self.listening.take() {
            listening.shut_down();
        }
    }

    /// Listens again on the same port after [`Self::stop`] (a no-op while running).
    pub fn restart(&mut self) -> Result<(), SinkError> {
        if self.listening.is_some() {
            return Ok(());
        }
        let deadline = Instant::now() + REBIND_TIMEOUT;
        loop {
            match listen(&self.shared, self.address) {
                Ok(listening) => {
                    self.listening = Some(listening);
                    return Ok(());
                }
                Err(err) if Instant::now() >= deadline => return Err(err),
                Err(_) => std::thread::sleep(Duration::from_millis(20)),
            }
        }
    }
}

impl Drop for Sink {
    fn drop(&mut self) {
        self.stop();
    }
}

impl Listening {
    fn address(&self) -> Result<SocketAddr, SinkError> {
        self.server
            .server_addr()
            .to_ip()
            .ok_or_else(|| SinkError::Bind {
                address: "127.0.0.1".into(),
                message: "the listener has no IP address".into(),
            })
    }

    fn shut_down(self) {
        for _ in &self.workers {
            self.server.unblock();
        }
        for worker in self.workers {
            let _ = worker.join();
        }
        // The last reference: dropping it closes the listening socket.
        drop(self.server);
    }
}

fn listen(shared: &Arc<Shared>, address: SocketAddr) -> Result<Listening, SinkError> {
    let server = tiny_http::Server::http(address).map_err(|err| SinkError::Bind {
        address: address.to_string(),
        message: err.to_string(),
    })?;
    let server = Arc::new(server);
    let workers = (0..WORKERS)
        .map(|_| {
            let server = Arc::clone(&server);
            let shared = Arc::clone(shared);
            std::thread::spawn(move || serve(&server, &shared))
        })
        .collect();
    Ok(Listening { server, workers })
}

fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    state.lock().unwrap_or_else(PoisonError::into_inner)
}

fn serve(server: &tiny_http::Server, shared: &Shared) {
    while let Ok(mut request) = server.recv() {
        let status = lock(&shared.state).status;
        let (status, body) = if !(200..300).contains(&status) {
            lock(&shared.state).requests.refused += 1;
            (status, String::new())
        } else {
            match receive(&mut request) {
                Ok(events) => {
                    record(shared, events);
                    (status, String::new())
                }
                Err((status, reason)) => {
                    let mut state = lock(&shared.state);
                    state.requests.invalid += 1;
                    if state.invalid.len() == KEEP_INVALID {
                        state.invalid.pop_front();
                    }
                    state.invalid.push_back(reason.clone());
                    (status, format!("{reason}\n"))
                }
            }
        };
        let response = tiny_http::Response::from_string(body).with_status_code(status);
        let _ = request.respond(response);
    }
}

fn record(shared: &Shared, events: Vec<ReceivedEvent>) {
    let mut state = lock(&shared.state);
    state.requests.accepted += 1;
    state.total += events.len();
    for event in events {
        state
            .subscribers
            .retain(|subscriber| subscriber.send(event.clone()).is_ok());
        state.events.push_back(event);
    }
    if let Some(keep) = state.keep {
        let excess = state.events.len().saturating_sub(keep);
        state.events.drain(..excess);
    }
    drop(state);
    shared.arrived.notify_all();
}

/// A refusal: the status and why.
type Refusal = (u16, String);

/// Reads one request as CloudEvents.
fn receive(request: &mut tiny_http::Request) -> Result<Vec<ReceivedEvent>, Refusal> {
    if *request.method() != tiny_http::Method::Post {
        return Err((405, format!("expected POST, got {}", request.method())));
    }
    let headers: Vec<(String, String)> = request
        .headers()
        .iter()
        .map(|h| {
            (
                h.field.as_str().as_str().to_ascii_lowercase(),
                h.value.as_str().to_string(),
            )
        })
        .collect();
    let mut body = Vec::new();
    request
        .as_reader()
        .take(MAX_BODY_BYTES + 1)
        .read_to_end(&mut body)
        .map_err(|err| (400, format!("reading the body: {err}")))?;
    if body.len() as u64 > MAX_BODY_BYTES {
        return Err((413, format!("body larger than {MAX_BODY_BYTES} bytes")));
    }
    let (mode, events) = decode(&headers, &body).map_err(|reason| (400, reason))?;
    let received_at = SystemTime::now();
    Ok(events
        .into_iter()
        .map(|event| ReceivedEvent {
            mode,
            event,
            received_at,
        })
        .collect())
}

/// Decodes an HTTP message (lower-case header names) into events in structured JSON form.
pub fn decode(
    headers: &[(String, String)],
    body: &[u8],
) -> Result<(ContentMode, Vec<Value>), String> {
    let content_type = headers
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case("content-type"))
        .map(|(_, value)| value.as_str());
    let media_type = content_type.map(media_type).unwrap_or_default();
    if media_type.starts_with("application/cloudevents-batch") {
        if media_type != BATCH_CONTENT_TYPE {
            return Err(format!("unsupported batch format {media_type}"));
        }
        let Value::Array(items) = parse_json(body)? else {
            return Err("a batch must be a JSON array".into());
        };
        let events = items
            .into_iter()
            .enumerate()
            .map(|(i, item)| check_structured(item).map_err(|e| format!("batch item {i}: {e}")))
            .collect::<Result<_, _>>()?;
        Ok((ContentMode::Batched, events))
    } else if media_type.starts_with("application/cloudevents") {
        if media_type != STRUCTURED_CONTENT_TYPE {
            return Err(format!("unsupported event format {media_type}"));
        }
        let event = check_structured(parse_json(body)?)?;
        Ok((ContentMode::Structured, vec![event]))
    } else {
        Ok((
            ContentMode::Binary,
            vec![decode_binary(headers, content_type, body)?],
        ))
    }
}

/// The media type of a `Content-Type`, lower-cased, without parameters.
fn media_type(content_type: &str) -> String {
    content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase()
}

fn parse_json(body: &[u8]) -> Result<Value, String> {
    serde_json::from_slice(body).map_err(|err| format!("invalid JSON: {err}"))
}

/// Checks a structured-mode event: an object with the required attributes as non-empty
/// strings, `specversion` 1.0, and not both `data` and `data_base64`.
fn check_structured(event: Value) -> Result<Value, String> {
    let Value::Object(map) = &event else {
        return Err(format!("an event must be a JSON object, got {event}"));
    };
    check_required(map)?;
    if map.contains_key("data") && map.contains_key("data_base64") {
        return Err("an event has both data and data_base64".into());
    }
    for (name, value) in map {
        if name == "data" || name == "data_base64" {
            continue;
        }
        if !is_attribute_name(name) {
            return Err(format!("invalid attribute name {name:?}"));
        }
        if value.is_null() {
            return Err(format!("attribute {name} is null"));
        }
    }
    Ok(event)
}

fn check_required(map: &Map<String, Value>) -> Result<(), String> {
    for name in ["specversion", "id", "source", "type"] {
        match map.get(name) {
            Some(Value::String(value)) if !value.is_empty() => {}
            Some(other) => {
                return Err(format!(
                    "attribute {name} must be a non-empty string, got {other}"
                ))
            }
            None => return Err(format!("missing required attribute {name}")),
        }
    }
    match map.get("specversion").and_then(Value::as_str) {
        Some("1.0") => Ok(()),
        other => Err(format!("unsupported specversion {other:?}")),
    }
}

/// Lower-case letters and digits (the spec's naming rule).
fn is_attribute_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
}

/// A binary-mode message: `ce-*` headers are the attributes, `Content-Type` the
/// `datacontenttype`, the body the data.
fn decode_binary(
    headers: &[(String, String)],
    content_type: Option<&str>,
    body: &[u8],
) -> Result<Value, String> {
    let mut event = Map::new();
    for (name, value) in headers {
        let Some(attribute) = name.strip_prefix("ce-") else {
            continue;
        };
        if !is_attribute_name(attribute) {
            return Err(format!("invalid attribute header {name}"));
        }
        if attribute == "datacontenttype" {
            return Err("ce-datacontenttype is not allowed in binary mode".into());
        }
        let decoded = decode_header_value(value).map_err(|e| format!("header {name}: {e}"))?;
        if event
            .insert(attribute.to_string(), decoded.into())
            .is_some()
        {
            return Err(format!("header {name} is repeated"));
        }
    }
    if event.is_empty() {
        return Err("not a CloudEvent: no ce-* headers and no CloudEvents content type".into());
    }
    check_required(&event)?;
    if let Some(content_type) = content_type {
        event.insert("datacontenttype".into(), content_type.into());
    }
    if !body.is_empty() {
        let media = content_type.map(media_type).unwrap_or_default();
        let json = media == "application/json" || media.ends_with("+json");
        let (name, data) = if json {
            ("data", parse_json(body).map_err(|e| format!("data: {e}"))?)
        } else if let (true, Ok(value)) = (media.is_empty(), parse_json(body)) {
            // No content type: JSON if it parses (as the JSON format assumes), else bytes.
            ("data", value)
        } else if media.starts_with("text/") {
            let text = String::from_utf8(body.to_vec()).map_err(|_| "data: text is not UTF-8")?;
            ("data", Value::String(text))
        } else {
            ("data_base64", Value::String(base64(body)))
        };
        event.insert(name.into(), data);
    }
    Ok(Value::Object(event))
}

/// Undoes the binding's header encoding: a double-quoted string is unquoted first (backslash
/// escapes included), then one round of percent-decoding; the bytes must be UTF-8.
pub fn decode_header_value(value: &str) -> Result<String, String> {
    let value = value.trim_matches([' ', '\t']);
    let unquoted = match value.strip_prefix('"') {
        Some(rest) => {
            let inner = rest
                .strip_suffix('"')
                .ok_or_else(|| "unterminated quoted string".to_string())?;
            let mut out = String::with_capacity(inner.len());
            let mut chars = inner.chars();
            while let Some(c) = chars.next() {
                match c {
                    '\\' => out.push(chars.next().ok_or("dangling backslash")?),
                    '"' => return Err("unescaped quote inside a quoted string".into()),
                    c => out.push(c),
                }
            }
            out
        }
        None => value.to_string(),
    };
    let bytes = unquoted.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b == b'%' {
            let hex = bytes
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| format!("invalid percent-encoding at byte {i}"))?;
            decoded.push(hex);
            i += 3;
        } else {
            decoded.push(b);
            i += 1;
        }
    }
    String::from_utf8(decoded).map_err(|_| "percent-decodes to invalid UTF-8".into())
}

/// Standard base64 with padding (for `data_base64`).
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let symbol = |index: u32| {
        let index = usize::try_from(index & 63).unwrap_or_default();
        ALPHABET.get(index).map_or('=', |b| char::from(*b))
    };
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = |i: usize| u32::from(chunk.get(i).copied().unwrap_or(0));
        let n = (b(0) << 16) | (b(1) << 8) | b(2);
        out.push(symbol(n >> 18));
        out.push(symbol(n >> 12));
        out.push(if chunk.len() > 1 { symbol(n >> 6) } else { '=' });
        out.push(if chunk.len() > 2 { symbol(n) } else { '=' });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn headers(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn binary_mode_percent_decodes_the_headers() {
        let (mode, events) = decode(
            &headers(&[
                ("ce-specversion", "1.0"),
                ("ce-id", "1234-1234-1234"),
                ("ce-source", "/mycontext/subcontext"),
                ("ce-type", "com.example.someevent"),
                ("ce-subject", "Euro%20%E2%82%AC%20%F0%9F%98%80"),
                ("ce-comexampleextension1", "%22value%22%25"),
                ("content-type", "application/json; charset=utf-8"),
            ]),
            br#"{"a": 1}"#,
        )
        .unwrap();
        assert_eq!(mode, ContentMode::Binary);
        assert_eq!(
            events[0],
            json!({
                "specversion": "1.0", "id": "1234-1234-1234", "source": "/mycontext/subcontext",
                "type": "com.example.someevent", "subject": "Euro € 😀",
                "comexampleextension1": "\"value\"%",
                "datacontenttype": "application/json; charset=utf-8", "data": {"a": 1}
            })
        );
    }

    #[test]
    fn header_values_are_unquoted_then_decoded_once() {
        assert_eq!(decode_header_value(r#""a \"b\" c""#).unwrap(), r#"a "b" c"#);
        assert_eq!(decode_header_value("%2541").unwrap(), "%41");
        assert_eq!(decode_header_value("%e2%82%ac").unwrap(), "€");
        assert!(decode_header_value("%C0%A0").is_err(), "overlong UTF-8");
        assert!(decode_header_value("%4").is_err());
        assert!(decode_header_value("%zz").is_err());
        assert!(decode_header_value(r#""open"#).is_err());
    }

    #[test]
    fn binary_data_follows_the_content_type() {
        let base = [
            ("ce-specversion", "1.0"),
            ("ce-id", "1"),
            ("ce-source", "/s"),
            ("ce-type", "t"),
        ];
        let with = |content_type: &str, body: &[u8]| {
            let mut h = headers(&base);
            h.push(("content-type".into(), content_type.into()));
            decode(&h, body).map(|(_, events)| events[0].clone())
        };
        assert_eq!(with("text/plain", b"hi").unwrap()["data"], "hi");
        assert_eq!(
            with("application/octet-stream", b"\x00\xffab").unwrap()["data_base64"],
            "AP9hYg=="
        );
        assert_eq!(
            with("application/vnd.example+json", b"")
                .unwrap()
                .get("data"),
            None
        );
        assert!(with("application/json", b"{").is_err());
        assert_eq!(base64(b"abc"), "YWJj");
        assert_eq!(base64(b"a"), "YQ==");
        let missing = decode(&headers(&base[..3]), b"").unwrap_err();
        assert!(missing.contains("type"), "{missing}");
        let not_an_event = decode(&headers(&[("content-type", "text/plain")]), b"x");
        assert!(not_an_event.unwrap_err().contains("not a CloudEvent"));
        let mut dct = headers(&base);
        dct.push(("ce-datacontenttype".into(), "text/plain".into()));
        assert!(decode(&dct, b"").is_err());
    }

    #[test]
    fn structured_and_batched_modes() {
        let event =
            json!({"specversion": "1.0", "id": "1", "source": "/s", "type": "t", "data": {"x": 1}});
        let ct = |v: &str| headers(&[("content-type", v)]);
        let (mode, events) = decode(
            &ct("application/cloudevents+json; charset=UTF-8"),
            event.to_string().as_bytes(),
        )
        .unwrap();
        assert_eq!(
            (mode, events),
            (ContentMode::Structured, vec![event.clone()])
        );
        let batch = json!([event, event]).to_string();
        let (mode, events) = decode(&ct(BATCH_CONTENT_TYPE), batch.as_bytes()).unwrap();
        assert_eq!((mode, events.len()), (ContentMode::Batched, 2));
        assert_eq!(decode(&ct(BATCH_CONTENT_TYPE), b"[]").unwrap().1.len(), 0);
        for bad in [
            json!({"specversion": "0.3", "id": "1", "source": "/s", "type": "t"}),
            json!({"specversion": "1.0", "id": "", "source": "/s", "type": "t"}),
            json!({"specversion": "1.0", "id": "1", "type": "t"}),
            json!({"specversion": "1.0", "id": "1", "source": "/s", "type": "t", "Bad": "x"}),
            json!({"specversion": "1.0", "id": "1", "source": "/s", "type": "t", "data": 1, "data_base64": ""}),
            json!([1]),
        ] {
            assert!(
                decode(&ct(STRUCTURED_CONTENT_TYPE), bad.to_string().as_bytes()).is_err(),
                "{bad}"
            );
        }
        assert!(decode(&ct(BATCH_CONTENT_TYPE), b"{}").is_err());
        assert!(decode(&ct("application/cloudevents+avro"), b"").is_err());
    }

    fn post(sink: &Sink, content_type: &str, extra: &[(&str, &str)], body: &str) -> u16 {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(5)))
            .build()
            .into();
        let mut request = agent
            .post(&format!("http://{}/", sink.address()))
            .header("content-type", content_type);
        for (name, value) in extra {
            request = request.header(*name, *value);
        }
        request.send(body).map(|r| r.status().as_u16()).unwrap_or(0)
    }

    #[test]
    fn a_live_sink_records_answers_stops_and_restarts() {
        let mut sink = Sink::start().unwrap();
        let live = sink.subscribe();
        let event = json!({"specversion": "1.0", "id": "1", "source": "/s", "type": "t",
                           "data": {"allowed": false, "status": 403, "decision_id": "d1",
                                    "request": {"method": "GET", "path": "/x"}}});
        assert_eq!(
            post(&sink, STRUCTURED_CONTENT_TYPE, &[], &event.to_string()),
            200
        );
        let binary = [
            ("ce-specversion", "1.0"),
            ("ce-id", "2"),
            ("ce-source", "/s"),
            ("ce-type", "t"),
        ];
        assert_eq!(post(&sink, "text/plain", &binary, "hello"), 200);
        let batch = json!([event, event]).to_string();
        assert_eq!(post(&sink, BATCH_CONTENT_TYPE, &[], &batch), 200);
        let events = sink.wait_for(4, Duration::from_secs(5)).unwrap();
        let modes: Vec<_> = events.iter().map(|e| e.mode).collect();
        assert_eq!(modes.len(), 4);
        assert!(modes.contains(&ContentMode::Binary) && modes.contains(&ContentMode::Batched));
        let first = live.recv_timeout(Duration::from_secs(1)).unwrap();
        assert_eq!(first.event_type(), "t");
        let line = events
            .iter()
            .find(|e| e.mode == ContentMode::Structured)
            .unwrap()
            .to_string();
        assert!(line.contains("DENY  403 GET /x"), "{line}");
        assert_eq!(post(&sink, STRUCTURED_CONTENT_TYPE, &[], "{}"), 400);
        assert_eq!(sink.invalid().len(), 1);

        sink.set_status(503);
        assert_eq!(
            post(&sink, STRUCTURED_CONTENT_TYPE, &[], &event.to_string()),
            503
        );
        assert_eq!(sink.count(), 4);
        assert_eq!(
            sink.requests(),
            RequestCounts {
                accepted: 3,
                refused: 1,
                invalid: 1
            }
        );
        let err = sink.wait_for(5, Duration::from_millis(50)).unwrap_err();
        assert!(
            matches!(
                err,
                SinkError::Timeout {
                    want: 5,
                    got: 4,
                    ..
                }
            ),
            "{err}"
        );

        let port = sink.port();
        sink.stop();
        assert!(!sink.is_running());
        assert_eq!(
            post(&sink, STRUCTURED_CONTENT_TYPE, &[], &event.to_string()),
            0
        );
        sink.restart().unwrap();
        assert_eq!(sink.port(), port);
        sink.set_status(202);
        assert_eq!(
            post(&sink, STRUCTURED_CONTENT_TYPE, &[], &event.to_string()),
            202
        );
        assert_eq!(sink.wait_for(5, Duration::from_secs(5)).unwrap().len(), 5);
    }

    #[test]
    fn a_bounded_sink_keeps_the_latest_events_and_counts_all() {
        let sink = Sink::start_with(SinkOptions {
            keep_events: Some(2),
            ..SinkOptions::default()
        })
        .unwrap();
        let batch: Vec<Value> = (0..5)
            .map(
                |i| json!({"specversion": "1.0", "id": i.to_string(), "source": "/s", "type": "t"}),
            )
            .collect();
        assert_eq!(
            post(
                &sink,
                BATCH_CONTENT_TYPE,
                &[],
                &Value::from(batch).to_string()
            ),
            200
        );
        assert_eq!(sink.count(), 5);
        let ids: Vec<_> = sink.events().iter().map(|e| e.id().to_string()).collect();
        assert_eq!(ids, ["3", "4"]);
    }
}
