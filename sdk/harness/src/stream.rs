//! HTTP streams and TCP connections as the host sees them: what came in, what the plugin changed, where
//! processing stands.

use crate::headers::HeaderMap;

/// What driving one event of a stream resulted in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// The plugin returned `CONTINUE` (or was skipped under `FailOpen`): the data goes on.
    Continue,
    /// The plugin returned `PAUSE`: processing stops until the plugin resumes it.
    Pause,
    /// The plugin was not called because the stream had already ended (local reply, reset, a plugin trap
    /// under `FailClosed`/`Reload`), or it trapped in this callback. See the stream's `local_reply`.
    Ended,
}

impl Action {
    pub(crate) fn from_code(code: i32) -> Self {
        // Envoy treats every code other than CONTINUE as a stop.
        if code == 0 {
            Action::Continue
        } else {
            Action::Pause
        }
    }
}

/// An HTTP response the plugin produced with `proxy_send_local_response` (or the host's 503 under
/// `FailClosed`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalReply {
    /// The HTTP status code.
    pub status: u32,
    /// The response code details (`status_code_details`).
    pub details: String,
    /// The body.
    pub body: Vec<u8>,
    /// The headers the client gets: the plugin's, `content-length` and `content-type` for a body, and
    /// (for a reply sent before the response started) what the plugin's own response callbacks changed.
    pub headers: HeaderMap,
    /// The gRPC status, if any (`-1`/`u32::MAX` means none, as in the ABI).
    pub grpc_status: Option<u32>,
}

/// A handle to an HTTP stream (its stream context id).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StreamId(pub u32);

/// A handle to a TCP connection (its stream context id).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnectionId(pub u32);

/// The state of one HTTP request/response pair.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct HttpStream {
    /// The stream context id.
    pub context_id: u32,
    /// The root context id of the plugin the stream belongs to.
    pub root_context_id: u32,
    /// Request headers as they stand (after the plugin's changes).
    pub request_headers: HeaderMap,
    /// Request body bytes forwarded upstream so far.
    pub request_body: Vec<u8>,
    /// Request body bytes buffered by the host while the plugin paused.
    pub request_body_buffered: Vec<u8>,
    /// Request trailers.
    pub request_trailers: HeaderMap,
    /// Response headers.
    pub response_headers: HeaderMap,
    /// Response body bytes forwarded downstream so far.
    pub response_body: Vec<u8>,
    /// Response body bytes buffered while the plugin paused.
    pub response_body_buffered: Vec<u8>,
    /// Response trailers.
    pub response_trailers: HeaderMap,
    /// The local reply, if the plugin (or the failure policy) sent one.
    pub local_reply: Option<LocalReply>,
    /// True while request processing is paused.
    pub request_paused: bool,
    /// True while response processing is paused.
    pub response_paused: bool,
    /// How often the plugin resumed the request with `proxy_continue_stream`.
    pub request_resumed: u32,
    /// How often the plugin resumed the response with `proxy_continue_stream`.
    pub response_resumed: u32,
    /// True once the request headers went on to the filters after the plugin (and upstream): Envoy then
    /// no longer gives them to the plugin (reading them gives an empty map, changing them
    /// `BAD_ARGUMENT`).
    pub request_headers_sent: bool,
    /// True while the request is stopped for headers, body and trailers alike: a paused
    /// `proxy_on_request_headers` without `allow_on_headers_stop_iteration`. Body chunks and trailers
    /// that arrive meanwhile are held, not delivered to the plugin, until it resumes the request.
    pub request_stopped_all: bool,
    /// True when the plugin reset the stream with `proxy_close_stream`.
    pub reset: bool,
    /// True when the plugin is skipped for this stream (`FailOpen` after a trap).
    pub skipped: bool,
    /// True once `proxy_on_done` returned true or the plugin called `proxy_done`.
    pub done: bool,
    /// True once `proxy_on_delete` ran.
    pub deleted: bool,
    /// Values the plugin stored with `proxy_set_property`, under Envoy's `wasm.` prefix, and with
    /// Envoy's `set_envoy_filter_state` foreign function, under their own path.
    pub filter_state: Vec<(String, Vec<u8>)>,
    /// How often the plugin called Envoy's `clear_route_cache` foreign function.
    pub route_cache_cleared: u32,
    /// Which VM instance (0 = first, +1 per reload) the stream was created on.
    pub vm_generation: u32,
    pub(crate) created_at: std::time::SystemTime,
    /// The plugin's `allow_on_headers_stop_iteration`.
    pub(crate) allow_on_headers_stop_iteration: bool,
    /// While stopped for all: the request ended (end of stream) / trailers arrived.
    pub(crate) request_end_held: bool,
    pub(crate) request_trailers_held: bool,
    pub(crate) done_pending: bool,
    /// True during `proxy_on_log`, where the request headers are readable again.
    pub(crate) access_log_phase: bool,
    /// What a local reply to this request looks like (gRPC, HEAD), from its request headers.
    pub(crate) request_kind: RequestKind,
    pub(crate) properties: Vec<(Vec<String>, crate::properties::PropertyValue)>,
}

impl HttpStream {
    /// True once the stream will get no further events (local reply or reset).
    pub fn ended(&self) -> bool {
        self.local_reply.is_some() || self.reset
    }

    /// The value the plugin stored under `key` (e.g. `"wasm.my_key"`) with `proxy_set_property`.
    pub fn filter_state(&self, key: &str) -> Option<&[u8]> {
        self.filter_state
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_slice())
    }
}

/// The state of one TCP connection (downstream and upstream side).
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct TcpConnection {
    /// The stream context id.
    pub context_id: u32,
    /// The root context id of the plugin.
    pub root_context_id: u32,
    /// Downstream bytes forwarded upstream so far.
    pub downstream_forwarded: Vec<u8>,
    /// Downstream bytes buffered while paused.
    pub downstream_buffered: Vec<u8>,
    /// Upstream bytes forwarded downstream so far.
    pub upstream_forwarded: Vec<u8>,
    /// Upstream bytes buffered while paused.
    pub upstream_buffered: Vec<u8>,
    /// True while downstream processing is paused.
    pub downstream_paused: bool,
    /// True while upstream processing is paused.
    pub upstream_paused: bool,
    /// True once the plugin closed the downstream connection with `proxy_close_stream`.
    pub downstream_closed_by_plugin: bool,
    /// True once the plugin closed the upstream connection with `proxy_close_stream`.
    pub upstream_closed_by_plugin: bool,
    /// True when the plugin is skipped for this connection (`FailOpen` after a trap).
    pub skipped: bool,
    /// True once the connection is closed because the plugin trapped (`FailClosed`/`Reload`).
    pub failed: bool,
    /// True once `proxy_on_done` returned true or the plugin called `proxy_done`.
    pub done: bool,
    /// True once `proxy_on_delete` ran.
    pub deleted: bool,
    /// Which VM instance the connection was created on.
    pub vm_generation: u32,
    pub(crate) done_pending: bool,
}

/// What Envoy looks at in the request to shape a local reply.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct RequestKind {
    /// The request's `content-type` starts with `application/grpc`.
    pub(crate) grpc: bool,
    /// The request's method is HEAD.
    pub(crate) head: bool,
}

impl RequestKind {
    /// The kind of a request with these headers.
    pub(crate) fn of(headers: &HeaderMap) -> Self {
        Self {
            grpc: headers
                .get("content-type")
                .is_some_and(|t| t.starts_with("application/grpc")),
            head: headers.get(":method") == Some("HEAD"),
        }
    }
}
