//! Runs a policy over one request: read the request, decide, carry the decision out, count.
//!
//! Host-independent, so the whole request path is unit-tested natively; `proxy` only calls in.

use crate::decision::{Decision, DEFAULT_DENY_STATUS};
use crate::host::Host;
use crate::metrics::{FilterMetrics, Outcome};
use crate::policy::{FailureMode, Policy};
use crate::request::{Request, RequestBody};

/// Whether the proxy should go on with the request after the policy ran.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Flow {
    /// Continue upstream; add these headers to the response when it comes back.
    Continue {
        /// Response headers the decision asked for.
        response_headers: Vec<(String, String)>,
    },
    /// A local reply was sent: stop here.
    Stop,
}

/// The local reply body when a policy fails closed.
pub const FAIL_CLOSED_BODY: &str = "palisade: request denied because the policy failed\n";

/// Decides one request (its headers, and the body when the policy asked for it).
pub fn on_request<P: Policy>(
    policy: &P,
    metrics: &FilterMetrics,
    host: &mut dyn Host,
    body: Option<RequestBody>,
) -> Flow {
    let decided = match Request::from_host(host) {
        Ok(request) => {
            let request = request.with_body(body);
            let path = request.path().to_string();
            policy
                .decide(&request)
                .map(|decision| (decision, path))
                .map_err(|err| {
                    let message = format!("policy {} failed: {err}", P::NAME);
                    (message, err.reason)
                })
        }
        Err(err) => Err((format!("reading request headers: {err}"), None)),
    };
    let (decision, path) = match decided {
        Ok(decided) => decided,
        Err((message, reason)) => {
            log::error!("{message}");
            metrics.count(host, Outcome::Error(reason));
            (failure_decision(policy.failure_mode()), String::new())
        }
    };
    if let Err(err) = decision.apply(host, &path) {
        log::error!("applying the decision of policy {}: {err}", P::NAME);
        metrics.count(host, Outcome::Error(None));
        if decision.is_allowed() && policy.failure_mode() == FailureMode::Deny {
            // A half-applied allow must not reach upstream when failing closed.
            return deny_after_failure(metrics, host);
        }
    }
    if decision.is_allowed() {
        metrics.count(host, Outcome::Allowed);
        Flow::Continue {
            response_headers: decision.response_headers,
        }
    } else {
        metrics.count(host, Outcome::Denied);
        Flow::Stop
    }
}

/// Reads the buffered body for a policy with this limit; `complete` says whether the request
/// has ended. One byte past the limit is asked for, to know whether the body is longer.
pub fn read_body(
    host: &dyn Host,
    limit: usize,
    complete: bool,
) -> Result<RequestBody, crate::HostError> {
    let mut bytes = host.request_body(limit.saturating_add(1))?;
    let longer = bytes.len() > limit;
    bytes.truncate(limit);
    Ok(RequestBody {
        truncated: longer || !complete,
        bytes,
    })
}

/// Adds the response headers an allow decision asked for.
pub fn on_response_headers(headers: &[(String, String)], host: &mut dyn Host) {
    for (name, value) in headers {
        if let Err(err) = host.add_response_header(name, value) {
            log::warn!("adding response header {name}: {err}");
        }
    }
}

/// The decision a failure turns into under `mode`.
pub fn failure_decision(mode: FailureMode) -> Decision {
    match mode {
        FailureMode::Allow => Decision::allow(),
        FailureMode::Deny => Decision::deny(DEFAULT_DENY_STATUS)
            .header("content-type", "text/plain")
            .body(FAIL_CLOSED_BODY),
    }
}

fn deny_after_failure(metrics: &FilterMetrics, host: &mut dyn Host) -> Flow {
    if let Err(err) = failure_decision(FailureMode::Deny).apply(host, "") {
        log::error!("sending the fail-closed reply: {err}");
    }
    metrics.count(host, Outcome::Denied);
    Flow::Stop
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ConfigError;
    use crate::policy::PolicyError;
    use crate::testing::FakeHost;

    struct Fixed {
        result: Result<Decision, PolicyError>,
        mode: FailureMode,
    }

    impl Policy for Fixed {
        type Config = ();
        const NAME: &'static str = "fixed";
        fn from_config(_: ()) -> Result<Self, ConfigError> {
            Ok(Self {
                result: Ok(Decision::allow()),
                mode: FailureMode::Deny,
            })
        }
        fn decide(&self, request: &Request<'_>) -> Result<Decision, PolicyError> {
            match request.body() {
                Some(body) if body.truncated => {
                    Err(PolicyError::because("truncated", "body truncated"))
                }
                _ => self.result.clone(),
            }
        }
        fn failure_mode(&self) -> FailureMode {
            self.mode
        }
    }

    fn run(result: Result<Decision, PolicyError>, mode: FailureMode, host: &mut FakeHost) -> Flow {
        let metrics = FilterMetrics::define(host, "fixed", &["truncated"]).unwrap();
        on_request(&Fixed { result, mode }, &metrics, host, None)
    }

    fn continued() -> Flow {
        Flow::Continue {
            response_headers: vec![],
        }
    }

    #[test]
    fn allow_continues_and_counts() {
        let mut host = FakeHost::default();
        let decision = Decision::allow().header("a", "b").response_header("c", "d");
        let flow = run(Ok(decision), FailureMode::Deny, &mut host);
        assert_eq!(
            flow,
            Flow::Continue {
                response_headers: vec![("c".into(), "d".into())]
            }
        );
        assert_eq!(host.counter("palisade.fixed.requests_allowed"), 1);
        assert_eq!(host.counter("palisade.fixed.requests_denied"), 0);
        assert_eq!(host.headers, vec![("a".into(), "b".into())]);
    }

    #[test]
    fn deny_stops_and_counts() {
        let mut host = FakeHost::default();
        let flow = run(Ok(Decision::deny(451)), FailureMode::Deny, &mut host);
        assert_eq!(flow, Flow::Stop);
        assert_eq!(host.local_reply.as_ref().unwrap().status, 451);
        assert_eq!(host.counter("palisade.fixed.requests_denied"), 1);
    }

    #[test]
    fn policy_error_fails_closed_by_default() {
        let mut host = FakeHost::default();
        let flow = run(Err(PolicyError::new("boom")), FailureMode::Deny, &mut host);
        assert_eq!(flow, Flow::Stop);
        let reply = host.local_reply.clone().unwrap();
        assert_eq!(reply.status, 403);
        assert_eq!(reply.body, FAIL_CLOSED_BODY.as_bytes());
        assert_eq!(host.counter("palisade.fixed.errors"), 1);
        assert_eq!(host.counter("palisade.fixed.requests_denied"), 1);
        assert!(host.logged("policy fixed failed: boom"));
    }

    #[test]
    fn policy_error_fails_open_when_configured() {
        let mut host = FakeHost::default();
        let flow = run(Err(PolicyError::new("boom")), FailureMode::Allow, &mut host);
        assert_eq!(flow, continued());
        assert_eq!(host.counter("palisade.fixed.errors"), 1);
        assert_eq!(host.counter("palisade.fixed.requests_allowed"), 1);
    }

    #[test]
    fn unreadable_headers_follow_the_failure_mode() {
        let mut host = FakeHost {
            fail_header_reads: true,
            ..FakeHost::default()
        };
        let flow = run(Ok(Decision::allow()), FailureMode::Deny, &mut host);
        assert_eq!(flow, Flow::Stop);
        assert_eq!(host.counter("palisade.fixed.errors"), 1);
    }

    #[test]
    fn a_failed_header_mutation_fails_closed() {
        let mut host = FakeHost {
            fail_header_writes: true,
            ..FakeHost::default()
        };
        let flow = run(
            Ok(Decision::allow().header("x", "y")),
            FailureMode::Deny,
            &mut host,
        );
        assert_eq!(flow, Flow::Stop);
        assert_eq!(host.local_reply.as_ref().unwrap().status, 403);
        assert_eq!(host.counter("palisade.fixed.errors"), 1);
        assert_eq!(host.counter("palisade.fixed.requests_allowed"), 0);
    }

    #[test]
    fn the_body_reaches_the_policy_with_its_truncation() {
        let mut host = FakeHost {
            body: b"0123456789".to_vec(),
            ..FakeHost::default()
        };
        let whole = read_body(&host, 64, true).unwrap();
        assert_eq!((whole.bytes.len(), whole.truncated), (10, false));
        let exact = read_body(&host, 10, true).unwrap();
        assert_eq!((exact.bytes.len(), exact.truncated), (10, false));
        let cut = read_body(&host, 4, true).unwrap();
        assert_eq!(
            (cut.bytes.as_slice(), cut.truncated),
            (b"0123".as_slice(), true)
        );
        let unfinished = read_body(&host, 64, false).unwrap();
        assert!(unfinished.truncated, "more body may follow");

        let metrics = FilterMetrics::define(&mut host, "fixed", &["truncated"]).unwrap();
        let policy = Fixed {
            result: Ok(Decision::allow()),
            mode: FailureMode::Deny,
        };
        let flow = on_request(&policy, &metrics, &mut host, Some(cut));
        assert_eq!(
            flow,
            Flow::Stop,
            "the test policy fails on a truncated body"
        );
    }

    #[test]
    fn response_headers_are_added() {
        let mut host = FakeHost::default();
        on_response_headers(&[("x-a".into(), "1".into())], &mut host);
        assert_eq!(host.response_headers, vec![("x-a".into(), "1".into())]);
    }
}
