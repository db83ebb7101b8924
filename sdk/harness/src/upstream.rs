//! What stands behind the filter when a test drives a whole request with
//! [`Host::client_request`](crate::Host::client_request): the route's upstream, and the clusters
//! the filter's callouts go to.

use std::fmt;
use std::sync::Arc;

use crate::callout::{HttpCallout, HttpResponse};
use crate::headers::HeaderMap;

/// A request as the upstream received it: the headers as they left the filter chain (with what
/// Envoy's router adds), the body and the trailers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ReceivedRequest {
    /// Headers, pseudo headers included (`:authority` is what an HTTP/1 upstream gets as `Host`).
    pub headers: HeaderMap,
    /// The body.
    pub body: Vec<u8>,
    /// The trailers.
    pub trailers: HeaderMap,
}

/// A response an upstream sends: status, headers, the body in the pieces it arrives in, trailers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamResponse {
    /// The status.
    pub status: u16,
    /// Headers (Envoy adds the framing: `content-length` for a body in one piece,
    /// `transfer-encoding: chunked` for several pieces or trailers, unless given).
    pub headers: Vec<(String, String)>,
    /// The body, piece by piece as the filter gets it.
    pub body: Vec<Vec<u8>>,
    /// Trailers.
    pub trailers: Vec<(String, String)>,
}

impl UpstreamResponse {
    /// A response with this status, no headers and no body.
    pub fn new(status: u16) -> Self {
        Self {
            status,
            headers: Vec::new(),
            body: Vec::new(),
            trailers: Vec::new(),
        }
    }

    /// Adds a header.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }

    /// Adds a piece of body.
    pub fn body(mut self, chunk: impl Into<Vec<u8>>) -> Self {
        self.body.push(chunk.into());
        self
    }

    /// Adds a trailer.
    pub fn trailer(mut self, name: &str, value: &str) -> Self {
        self.trailers.push((name.to_string(), value.to_string()));
        self
    }

    /// The response headers as the filter gets them: `:status`, the upstream's headers, the
    /// framing, and the `x-envoy-upstream-service-time` Envoy's router adds.
    pub(crate) fn presented_headers(&self) -> Vec<(String, String)> {
        let mut out = vec![(":status".to_string(), self.status.to_string())];
        out.extend(
            self.headers
                .iter()
                .map(|(k, v)| (k.to_ascii_lowercase(), v.clone())),
        );
        let has = |name: &str| out.iter().any(|(k, _)| k == name);
        let chunked = self.body.len() > 1 || !self.trailers.is_empty();
        if chunked && !has("transfer-encoding") {
            out.push(("transfer-encoding".into(), "chunked".into()));
        } else if !chunked && !has("content-length") {
            let length: usize = self.body.iter().map(Vec::len).sum();
            out.push(("content-length".into(), length.to_string()));
        }
        out.push(("x-envoy-upstream-service-time".into(), "0".into()));
        out
    }
}

/// The route's upstream: computes the response to each request that reaches it.
pub type Upstream = Arc<dyn Fn(&ReceivedRequest) -> UpstreamResponse + Send + Sync>;

/// How a cluster answers the HTTP callouts the filter sends to it.
#[derive(Clone)]
pub enum Cluster {
    /// Answers each callout with the response computed from it.
    Answers(Arc<dyn Fn(&HttpCallout) -> HttpResponse + Send + Sync>),
    /// Its endpoint refuses connections: Envoy's router answers with a 503
    /// ([`HttpResponse::connection_refused`]).
    Refuses,
    /// Accepts connections and never answers: the callout runs into its timeout, and Envoy's
    /// router answers with a 504.
    NeverAnswers,
    /// Has no healthy endpoint: Envoy fails the dispatch itself (`proxy_http_call` returns
    /// `INTERNAL_FAILURE`), so no callout is made.
    NoEndpoints,
}

impl Cluster {
    /// A cluster that answers every callout with `response`.
    pub fn answering(response: HttpResponse) -> Self {
        Self::Answers(Arc::new(move |_| response.clone()))
    }
}

impl fmt::Debug for Cluster {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Answers(_) => "Cluster::Answers(..)",
            Self::Refuses => "Cluster::Refuses",
            Self::NeverAnswers => "Cluster::NeverAnswers",
            Self::NoEndpoints => "Cluster::NoEndpoints",
        })
    }
}

/// What the client got back.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ClientResponse {
    /// The status.
    pub status: u16,
    /// The headers (no pseudo headers).
    pub headers: HeaderMap,
    /// The body.
    pub body: Vec<u8>,
    /// The trailers.
    pub trailers: HeaderMap,
}

/// One request from the client to the end of its stream: what reached the upstream and what the
/// client got. Compare two of them as values.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Exchange {
    /// The stream the request ran on (to look at its state, logs, callouts afterwards).
    pub stream: crate::stream::StreamId,
    /// What the upstream received; `None` when the request never reached it (a local reply).
    pub upstream: Option<ReceivedRequest>,
    /// What the client got.
    pub response: ClientResponse,
}
