//! The small host interface the SDK's logic runs on.
//!
//! `proxy` implements it over the proxy-wasm ABI; unit tests implement it in memory. Nothing
//! outside `proxy` knows about proxy-wasm, so request views, decisions and metrics are tested
//! natively. [`CalloutHost`] adds what only the root context does: HTTP callouts (event
//! delivery) and the tick timer that paces them.

use std::time::{Duration, SystemTime};

/// A host call that returned a status the SDK could not use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("host call {call} failed with status {status}")]
pub struct HostError {
    /// The ABI function that failed, e.g. `proxy_get_header_map_pairs`.
    pub call: &'static str,
    /// The proxy-wasm status code it returned.
    pub status: u32,
}

/// A metric the host defined for this VM.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct MetricId(pub u32);

/// What the SDK needs from the proxy while handling one request.
pub trait Host {
    /// All request headers, pseudo-headers (`:method`, `:path`, ...) included, names lower-case.
    fn request_headers(&self) -> Result<Vec<(String, String)>, HostError>;
    /// A property value as the proxy encodes it; `None` when the proxy has no such property.
    fn property(&self, path: &[&str]) -> Result<Option<Vec<u8>>, HostError>;
    /// Up to `max` bytes of the request body the proxy has buffered so far.
    fn request_body(&self, max: usize) -> Result<Vec<u8>, HostError>;
    /// Sets a request header, replacing any values it had.
    fn set_request_header(&mut self, name: &str, value: &str) -> Result<(), HostError>;
    /// Removes a request header (all its values).
    fn remove_request_header(&mut self, name: &str) -> Result<(), HostError>;
    /// Adds a response header (called while the response headers are being processed).
    fn add_response_header(&mut self, name: &str, value: &str) -> Result<(), HostError>;
    /// Sets a property (Envoy stores it as filter state under the `wasm.` prefix).
    fn set_property(&mut self, path: &[&str], value: &[u8]) -> Result<(), HostError>;
    /// Answers the request from the proxy instead of forwarding it.
    fn send_local_reply(
        &mut self,
        status: u16,
        headers: &[(String, String)],
        body: &[u8],
    ) -> Result<(), HostError>;
    /// Resets the request's stream (`proxy_close_stream`): the client sees it end without a
    /// response, and nothing goes upstream. The last resort when a local reply is refused.
    fn reset_request(&mut self) -> Result<(), HostError>;
    /// The proxy's wall clock.
    fn now(&self) -> Result<SystemTime, HostError>;
    /// Defines a counter once per VM.
    fn define_counter(&mut self, name: &str) -> Result<MetricId, HostError>;
    /// Defines a gauge once per VM.
    fn define_gauge(&mut self, name: &str) -> Result<MetricId, HostError>;
    /// Adds `delta` to a counter (never negative) or a gauge (either sign).
    fn increment(&mut self, metric: MetricId, delta: i64) -> Result<(), HostError>;
    /// Calls the root context's `on_tick` every `period` from now on (whole milliseconds);
    /// zero stops the timer. From an HTTP context it sets the timer of that context's root
    /// (the emitter uses this to flush a full batch without waiting for the next tick).
    fn set_tick_period(&mut self, period: Duration) -> Result<(), HostError>;
}

/// What the root context needs besides [`Host`] to deliver events: HTTP callouts to a cluster
/// and the tick timer that paces them.
pub(crate) trait CalloutHost: Host {
    /// Sends an HTTP request to the cluster `cluster`. `headers` must include `:method`,
    /// `:path` and `:authority`. Returns the call's token; the answer (or the failure, or the
    /// timeout after `timeout`) arrives later at the root context's `on_http_call_response`
    /// with that token.
    fn dispatch_http_call(
        &mut self,
        cluster: &str,
        headers: &[(&str, &str)],
        body: &[u8],
        timeout: Duration,
    ) -> Result<u32, HostError>;
    /// The headers (`:status` included) of the callout response being delivered; only valid
    /// inside `on_http_call_response`.
    fn http_call_response_headers(&self) -> Result<Vec<(String, String)>, HostError>;
}
