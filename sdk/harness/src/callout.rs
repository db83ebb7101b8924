//! HTTP callouts and gRPC calls the plugin dispatched, waiting for the test to answer them.

use std::time::Duration;

use crate::headers::HeaderMap;

/// Where a callout stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CalloutState {
    /// Dispatched, not answered yet.
    Pending,
    /// Answered by the test.
    Answered,
    /// Failed by the test or by the host (`proxy_on_http_call_response` got 0 headers).
    Failed,
    /// Its timeout passed on the virtual clock (an HTTP callout got Envoy's 504).
    TimedOut,
    /// Cancelled: by the plugin (gRPC) or because its context went away.
    Cancelled,
}

/// An HTTP callout made with `proxy_http_call`.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct HttpCallout {
    /// The token (`return_call_id`).
    pub token: u32,
    /// The context that dispatched it.
    pub context_id: u32,
    /// The root context of the plugin that dispatched it. As in Envoy, a callout belongs to the
    /// root context: `proxy_on_http_call_response` gets the root context's id (an SDK finds the
    /// stream that waits for it by the token), and the callout outlives the stream.
    pub root_context_id: u32,
    /// The upstream (cluster) name.
    pub upstream: String,
    /// Request headers (with `:method`, `:path`, `:authority`).
    pub headers: HeaderMap,
    /// Request body.
    pub body: Vec<u8>,
    /// Request trailers.
    pub trailers: HeaderMap,
    /// The timeout the plugin asked for.
    pub timeout: Duration,
    /// Virtual monotonic time of dispatch.
    pub dispatched_at: Duration,
    /// Where it stands.
    pub state: CalloutState,
}

impl HttpCallout {
    /// The headers as the cluster receives them: the plugin's, and what Envoy's router adds to
    /// a request of its own (`x-envoy-internal: true`, and `x-envoy-expected-rq-timeout-ms` with
    /// the callout's timeout), as seen in Envoy 1.40.
    pub fn received_headers(&self) -> HeaderMap {
        let mut headers = self.headers.clone();
        headers.add("x-envoy-internal", "true");
        if !self.timeout.is_zero() {
            headers.add(
                "x-envoy-expected-rq-timeout-ms",
                &self.timeout.as_millis().to_string(),
            );
        }
        headers
    }
}

/// A response the test gives to an HTTP callout.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HttpResponse {
    /// Headers, including `:status`.
    pub headers: HeaderMap,
    /// Body.
    pub body: Vec<u8>,
    /// Trailers.
    pub trailers: HeaderMap,
}

impl HttpResponse {
    /// A response with `:status` set to `status`.
    pub fn new(status: u16) -> Self {
        let mut headers = HeaderMap::new();
        headers.add(":status", &status.to_string());
        Self {
            headers,
            ..Self::default()
        }
    }

    /// What Envoy's router answers when the upstream refuses the connection (Envoy 1.40): a 503
    /// with `content-length`, `content-type: text/plain` and the reset reason as the body.
    pub fn connection_refused() -> Self {
        let body = "upstream connect error or disconnect/reset before headers. reset reason: \
                    remote connection failure";
        Self::new(503)
            .header("content-length", &body.len().to_string())
            .header("content-type", "text/plain")
            .body(body)
    }

    /// Adds a header.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.add(name, value);
        self
    }

    /// Sets the body.
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = body.into();
        self
    }

    /// Adds a trailer.
    pub fn trailer(mut self, name: &str, value: &str) -> Self {
        self.trailers.add(name, value);
        self
    }
}

/// Whether a gRPC exchange is a unary call or a stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GrpcKind {
    /// `proxy_grpc_call`.
    Call,
    /// `proxy_grpc_stream`.
    Stream,
}

/// A gRPC call or stream the plugin opened.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct GrpcCall {
    /// The token (`return_call_id` / `return_stream_id`).
    pub token: u32,
    /// Call or stream.
    pub kind: GrpcKind,
    /// The context that opened it.
    pub context_id: u32,
    /// The root context of the plugin that opened it, whose id the gRPC callbacks get (as for
    /// [`HttpCallout::root_context_id`]).
    pub root_context_id: u32,
    /// The upstream (cluster) name.
    pub upstream: String,
    /// The service name.
    pub service: String,
    /// The method name.
    pub method: String,
    /// Initial metadata the plugin sent.
    pub initial_metadata: HeaderMap,
    /// Messages the plugin sent (the call's one message, or each `proxy_grpc_send`).
    pub messages: Vec<Vec<u8>>,
    /// True once the plugin half-closed the stream (`end_stream` or `proxy_grpc_close`).
    pub local_closed: bool,
    /// The timeout (calls only).
    pub timeout: Duration,
    /// Virtual monotonic time it was opened.
    pub dispatched_at: Duration,
    /// Where it stands (`Answered` once closed by the test).
    pub state: CalloutState,
}
