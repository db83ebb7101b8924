//! Run a policy natively, in `cargo test`, the way the filter runs it in Envoy: build a
//! request, and get what the proxy would do with it (feature `testing`).
//!
//! ```
//! use palisade::testing::{self, Outcome, TestRequest};
//! # use palisade::{ConfigError, Decision, Policy, PolicyError, Request};
//! # struct Tenant;
//! # impl Policy for Tenant {
//! #     type Config = serde_json::Value;
//! #     const NAME: &'static str = "tenant";
//! #     fn from_config(_: serde_json::Value) -> Result<Self, ConfigError> { Ok(Self) }
//! #     fn decide(&self, request: &Request<'_>) -> Result<Decision, PolicyError> {
//! #         Ok(match request.header("x-tenant") {
//! #             Some(tenant) => Decision::allow().header("x-palisade-tenant", tenant).into(),
//! #             None => Decision::deny(401).body("missing tenant").into(),
//! #         })
//! #     }
//! # }
//!
//! let policy: Tenant = testing::configure(r#"{}"#).unwrap();
//! let outcome = testing::run(&policy, &TestRequest::get("/orders").header("x-tenant", "acme"));
//! assert_eq!(outcome.upstream_header("x-palisade-tenant"), Some("acme"));
//!
//! let outcome = testing::run(&policy, &TestRequest::get("/orders"));
//! assert!(matches!(outcome, Outcome::Denied { status: 401, .. }));
//! ```
//!
//! The request runs through the same code as in the proxy: reading the request, the policy's
//! [`Policy::decide`], its [`Policy::failure_mode`] when it fails, the decision's checks (a
//! header value with CR or LF is refused), and the decision carried out on the request.
//! Decision events are not sent.

pub(crate) mod fake_host;

pub(crate) use fake_host::FakeHost;

use crate::filter::{self, Arrived, Flow};
use crate::metrics::FilterMetrics;
use crate::{ConfigError, Policy};

/// A request as a client sends it through the proxy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestRequest {
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    properties: Vec<(String, Vec<u8>)>,
}

impl TestRequest {
    /// A request with this method and path (query included), to `example.test` over http,
    /// from `127.0.0.1:40000` to `127.0.0.1:10000`.
    pub fn new(method: &str, path: &str) -> Self {
        Self {
            headers: vec![
                (":method".into(), method.into()),
                (":path".into(), path.into()),
                (":authority".into(), "example.test".into()),
                (":scheme".into(), "http".into()),
            ],
            body: Vec::new(),
            properties: vec![
                ("source.address".into(), b"127.0.0.1:40000".to_vec()),
                ("destination.address".into(), b"127.0.0.1:10000".to_vec()),
            ],
        }
    }

    /// A `GET` request.
    pub fn get(path: &str) -> Self {
        Self::new("GET", path)
    }

    /// A `POST` request with a body.
    pub fn post(path: &str, body: impl Into<Vec<u8>>) -> Self {
        Self::new("POST", path).body(body)
    }

    /// Adds a header (the name as given: Envoy hands headers over in lowercase). A pseudo-header
    /// (`:authority`, `:scheme`, ...) replaces the one there.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        if name.starts_with(':') {
            self.headers.retain(|(k, _)| k != name);
        }
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Sets the body (with its `content-length`).
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = body.into();
        self.headers.retain(|(k, _)| k != "content-length");
        self.headers
            .push(("content-length".into(), self.body.len().to_string()));
        self
    }

    /// Sets the downstream peer's address, as Envoy's `source.address` (`10.0.0.7:51234`).
    pub fn source_address(self, address: &str) -> Self {
        self.property("source.address", address)
    }

    /// Sets the address the request came in on, as Envoy's `destination.address`.
    pub fn destination_address(self, address: &str) -> Self {
        self.property("destination.address", address)
    }

    /// Sets an Envoy property by its dotted path (`connection.mtls`, `source.port`), to the
    /// bytes Envoy would give.
    pub fn property(mut self, path: &str, value: impl Into<Vec<u8>>) -> Self {
        self.properties.retain(|(k, _)| k != path);
        self.properties.push((path.into(), value.into()));
        self
    }
}

/// What the proxy does with a request once the policy ran.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The request goes upstream.
    Allowed {
        /// The request headers as they go upstream (pseudo-headers included).
        upstream_headers: Vec<(String, String)>,
        /// Headers added to the response on its way back.
        response_headers: Vec<(String, String)>,
    },
    /// The proxy answers the request itself.
    Denied {
        /// The reply's status.
        status: u16,
        /// The reply's headers.
        headers: Vec<(String, String)>,
        /// The reply's body.
        body: Vec<u8>,
    },
}

impl Outcome {
    /// Whether the request goes upstream.
    pub fn is_allowed(&self) -> bool {
        matches!(self, Self::Allowed { .. })
    }

    /// A request header as it goes upstream (`None` when denied or absent).
    pub fn upstream_header(&self, name: &str) -> Option<&str> {
        match self {
            Self::Allowed {
                upstream_headers, ..
            } => find(upstream_headers, name),
            Self::Denied { .. } => None,
        }
    }
}

fn find<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// Builds the policy from a plugin configuration (JSON), as the filter does in
/// `on_configure`: the SDK's own fields (`events`, `allow_on_headers_stop_iteration`) are
/// taken out, the rest is the policy's [`Policy::Config`].
pub fn configure<P: Policy>(configuration: &str) -> Result<P, ConfigError> {
    let (config, _settings) =
        crate::settings::parse_plugin_config::<P::Config>(configuration.as_bytes())?;
    P::from_config(config)
}

/// Runs one request through the policy, under Envoy's default Wasm config (all an Istio
/// `WasmPlugin` can set). The body is handed over when the policy asks for it
/// ([`Policy::body_limit`]); the request headers of a request with a body then go upstream
/// before the policy decides, so a decision that changes them is refused and handled by the
/// failure mode, as in Envoy.
pub fn run<P: Policy>(policy: &P, request: &TestRequest) -> Outcome {
    let mut host = FakeHost {
        headers: request.headers.clone(),
        properties: request.properties.iter().cloned().collect(),
        body: request.body.clone(),
        ..FakeHost::default()
    };
    let Ok(metrics) = FilterMetrics::define(&mut host, P::NAME, P::ERROR_REASONS) else {
        unreachable!("the in-memory host defines every counter")
    };
    let body = policy
        .body_limit()
        .and_then(|limit| filter::read_body(&host, limit, true).ok());
    let sent_headers = body
        .as_ref()
        .filter(|_| !request.body.is_empty())
        .map(|_| request.headers.clone());
    let arrived = Arrived { body, sent_headers };
    match filter::on_request(policy, &metrics, &mut host, arrived, None) {
        Flow::Continue { response_headers } => Outcome::Allowed {
            upstream_headers: host.headers,
            response_headers,
        },
        Flow::Stop => match host.local_reply {
            Some(reply) => Outcome::Denied {
                status: reply.status,
                headers: reply.headers,
                body: reply.body,
            },
            // The reply could not be sent and the request was reset: the client gets no
            // answer, and nothing goes upstream.
            None => Outcome::Denied {
                status: 0,
                headers: Vec::new(),
                body: Vec::new(),
            },
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Decision, PolicyError, Request};

    /// Reads the body; allows `ok` and names the body's length upstream.
    struct BodyLength;

    impl Policy for BodyLength {
        type Config = serde_json::Value;
        const NAME: &'static str = "body_length";

        fn from_config(_: serde_json::Value) -> Result<Self, ConfigError> {
            Ok(Self)
        }

        fn decide(&self, request: &Request<'_>) -> Result<Decision, PolicyError> {
            let body = request.body().map(|b| b.bytes.clone()).unwrap_or_default();
            Ok(match body.as_slice() {
                b"" | b"ok" => Decision::allow()
                    .header("x-length", body.len().to_string())
                    .into(),
                _ => Decision::deny(400).body("not ok").into(),
            })
        }

        fn body_limit(&self) -> Option<usize> {
            Some(16)
        }
    }

    #[test]
    fn a_body_policy_decides_on_the_body_as_under_envoys_default_wasm_config() {
        let policy: BodyLength = configure("{}").unwrap();
        let denied = run(&policy, &TestRequest::post("/", "no"));
        assert_eq!(
            denied,
            Outcome::Denied {
                status: 400,
                headers: Vec::new(),
                body: b"not ok".to_vec()
            }
        );
        // Without a body the headers are still held, so the decision may change them.
        let allowed = run(&policy, &TestRequest::get("/"));
        assert_eq!(allowed.upstream_header("x-length"), Some("0"));
        // With one, they went upstream before the decision: changing them is refused, and the
        // failure mode (deny) answers.
        let refused = run(&policy, &TestRequest::post("/", "ok"));
        assert!(
            matches!(refused, Outcome::Denied { status: 403, .. }),
            "{refused:?}"
        );
    }

    #[test]
    fn requests_carry_what_they_were_given() {
        let request = TestRequest::new("PUT", "/a?b=1")
            .header(":authority", "orders.internal")
            .source_address("10.0.0.7:51234")
            .body("{}");
        let policy: BodyLength = configure("").unwrap();
        let Outcome::Denied { .. } = run(&policy, &request) else {
            panic!("`{{}}` is not an allowed body");
        };
        assert_eq!(
            request
                .headers
                .iter()
                .filter(|(k, _)| k == ":authority")
                .count(),
            1
        );
        assert!(request
            .headers
            .contains(&("content-length".into(), "2".into())));
        assert!(request
            .properties
            .contains(&("source.address".into(), b"10.0.0.7:51234".to_vec())));
    }
}
