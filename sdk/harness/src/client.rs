//! A request as a client sends it, and how Envoy's HTTP connection manager presents it to the
//! filter chain (Envoy 1.40 with the connection manager's defaults), measured against Envoy with
//! the raw-ABI recorder filter (`tests/scenarios/abi_callbacks.yaml`):
//!
//! - pseudo headers first: `:authority`, `:path`, `:method`, `:scheme`;
//! - then the client's headers in order, names lower-cased. A header Envoy keeps inline
//!   ([`JOINED`]: `cache-control`, `authorization`, `x-forwarded-for`, ...) that comes again is
//!   joined to its first value with a comma; other repeated headers stay separate pairs;
//! - hop-by-hop headers are dropped (`connection`, `keep-alive`, `proxy-connection`, `upgrade`),
//!   `te` keeps only `trailers`, `expect: 100-continue` is answered by Envoy and dropped, and so
//!   are the headers Envoy strips from an external request ([`DROPPED`]:
//!   `x-forwarded-client-cert`, `x-envoy-retry-on`, ...);
//! - the body's framing: `content-length` for a body sent in one piece, `transfer-encoding:
//!   chunked` for one sent in chunks or with trailers;
//! - `x-forwarded-proto: http` unless the client sent one, and an `x-request-id` unless it did.

/// Request headers Envoy keeps inline: a repeated one reaches the filter as one comma-joined value.
pub const JOINED: &[&str] = &[
    "accept",
    "accept-encoding",
    "access-control-request-headers",
    "access-control-request-method",
    "authorization",
    "cache-control",
    "content-encoding",
    "content-type",
    "expect",
    "grpc-accept-encoding",
    "grpc-timeout",
    "if-modified-since",
    "if-none-match",
    "origin",
    "pragma",
    "referer",
    "user-agent",
    "via",
    "x-client-trace-id",
    "x-envoy-decorator-operation",
    "x-envoy-downstream-service-cluster",
    "x-envoy-external-address",
    "x-envoy-original-path",
    "x-forwarded-for",
    "x-forwarded-host",
    "x-forwarded-port",
    "x-forwarded-proto",
];

/// Request headers a client sends that never reach the filter.
pub const DROPPED: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-connection",
    "upgrade",
    "x-envoy-expected-rq-timeout-ms",
    "x-envoy-force-trace",
    "x-envoy-hedge-on-per-try-timeout",
    "x-envoy-internal",
    "x-envoy-ip-tags",
    "x-envoy-max-retries",
    "x-envoy-retry-on",
    "x-envoy-upstream-alt-stat-name",
    "x-envoy-upstream-rq-timeout-ms",
    "x-forwarded-client-cert",
];

/// An HTTP/1.1 request as a client sends it to Envoy's listener.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientRequest {
    /// The method.
    pub method: String,
    /// The path (with the query).
    pub path: String,
    /// The `Host` header, which becomes `:authority`.
    pub authority: String,
    /// Headers as sent, in order (repeat a name to send it twice).
    pub headers: Vec<(String, String)>,
    /// The body as sent: one piece (with `content-length`), or chunks (chunked).
    pub body: Vec<Vec<u8>>,
    /// Trailers (the body is then sent chunked).
    pub trailers: Vec<(String, String)>,
}

impl ClientRequest {
    /// A request with this method and path to `example.com`, with no headers and no body.
    pub fn new(method: &str, path: &str) -> Self {
        Self {
            method: method.to_string(),
            path: path.to_string(),
            authority: "example.com".to_string(),
            headers: Vec::new(),
            body: Vec::new(),
            trailers: Vec::new(),
        }
    }

    /// A GET of `path`.
    pub fn get(path: &str) -> Self {
        Self::new("GET", path)
    }

    /// A POST to `path`.
    pub fn post(path: &str) -> Self {
        Self::new("POST", path)
    }

    /// Sets the `Host` header.
    pub fn authority(mut self, authority: &str) -> Self {
        self.authority = authority.to_string();
        self
    }

    /// Adds a header (again for a repeated one).
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }

    /// Adds a piece of body: one piece is sent with `content-length`, several as chunks.
    pub fn body(mut self, chunk: impl Into<Vec<u8>>) -> Self {
        self.body.push(chunk.into());
        self
    }

    /// Adds a trailer.
    pub fn trailer(mut self, name: &str, value: &str) -> Self {
        self.trailers.push((name.to_string(), value.to_string()));
        self
    }

    /// Whether the body goes chunked: several pieces, or trailers.
    pub fn chunked(&self) -> bool {
        self.body.len() > 1 || !self.trailers.is_empty()
    }

    /// The request headers as the filter chain gets them (see the module's documentation), with
    /// `request_id` as the `x-request-id` Envoy generates.
    pub fn presented_headers(&self, request_id: &str) -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> = vec![
            (":authority".into(), self.authority.clone()),
            (":path".into(), self.path.clone()),
            (":method".into(), self.method.clone()),
            (":scheme".into(), "http".into()),
        ];
        for (name, value) in &self.headers {
            let name = name.to_ascii_lowercase();
            let value = match name.as_str() {
                _ if DROPPED.contains(&name.as_str()) => continue,
                "te" => match value.split(',').map(str::trim).any(|t| t == "trailers") {
                    true => "trailers".to_string(),
                    false => continue,
                },
                "expect" if value.eq_ignore_ascii_case("100-continue") => continue,
                _ => value.clone(),
            };
            let earlier = out.iter_mut().find(|(k, _)| *k == name);
            match earlier {
                Some((_, first)) if JOINED.contains(&name.as_str()) => {
                    first.push(',');
                    first.push_str(&value);
                }
                _ => out.push((name, value)),
            }
        }
        let has = |out: &[(String, String)], name: &str| out.iter().any(|(k, _)| k == name);
        match (self.chunked(), self.body.as_slice()) {
            (true, _) => out.push(("transfer-encoding".into(), "chunked".into())),
            (false, [one]) if !has(&out, "content-length") => {
                out.push(("content-length".into(), one.len().to_string()));
            }
            _ => {}
        }
        if !has(&out, "x-forwarded-proto") {
            out.push(("x-forwarded-proto".into(), "http".into()));
        }
        if !has(&out, "x-request-id") {
            out.push(("x-request-id".into(), request_id.to_string()));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_as_the_connection_manager_presents_them() {
        let request = ClientRequest::post("/a?b=1")
            .authority("api")
            .header("Cache-Control", "no-cache")
            .header("x-custom", "1")
            .header("cache-control", "max-age=0")
            .header("x-custom", "2")
            .header("connection", "close")
            .header("te", "trailers, gzip")
            .header("x-envoy-retry-on", "5xx")
            .header("expect", "100-continue")
            .body("abc");
        let got = request.presented_headers("id-1");
        let want: Vec<(String, String)> = [
            (":authority", "api"),
            (":path", "/a?b=1"),
            (":method", "POST"),
            (":scheme", "http"),
            ("cache-control", "no-cache,max-age=0"),
            ("x-custom", "1"),
            ("x-custom", "2"),
            ("te", "trailers"),
            ("content-length", "3"),
            ("x-forwarded-proto", "http"),
            ("x-request-id", "id-1"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        assert_eq!(got, want);
    }

    #[test]
    fn a_chunked_body_and_the_clients_own_forwarding_headers() {
        let request = ClientRequest::get("/")
            .header("x-forwarded-proto", "https")
            .header("x-request-id", "mine")
            .body("a")
            .body("b");
        let got = request.presented_headers("generated");
        assert!(got.contains(&("transfer-encoding".into(), "chunked".into())));
        assert!(got.contains(&("x-forwarded-proto".into(), "https".into())));
        assert!(got.contains(&("x-request-id".into(), "mine".into())));
        assert!(!got.iter().any(|(_, v)| v == "generated"));
    }
}
