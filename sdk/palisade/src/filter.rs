//! Runs a policy over one request: read the request, decide, carry the decision out, count.
//!
//! Host-independent, so the whole request path is unit-tested natively; `proxy` only calls in.

use crate::decision::Decision;
use crate::host::Host;
use crate::metrics::{FilterMetrics, Outcome};
use crate::policy::{FailureMode, Policy};
use crate::request::Request;

/// Whether the proxy should go on with the request after the policy ran.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    /// Continue to the next filter and upstream.
    Continue,
    /// A local reply was sent: stop here.
    Stop,
}

/// The local reply body when a policy fails closed.
pub const FAIL_CLOSED_BODY: &str = "palisade: request denied because the policy failed\n";

/// Handles the request headers of one stream.
pub fn on_request_headers<P: Policy>(
    policy: &P,
    metrics: &FilterMetrics,
    host: &mut dyn Host,
) -> Flow {
    let decided = match Request::from_host(host) {
        Ok(request) => policy
            .decide(&request)
            .map_err(|err| format!("policy {} failed: {err}", P::NAME)),
        Err(err) => Err(format!("reading request headers: {err}")),
    };
    let decision = match decided {
        Ok(decision) => decision,
        Err(message) => {
            log::error!("{message}");
            metrics.count(host, Outcome::Error);
            failure_decision(policy.failure_mode())
        }
    };
    if let Err(err) = decision.apply(host) {
        log::error!("applying the decision of policy {}: {err}", P::NAME);
        metrics.count(host, Outcome::Error);
        if decision.is_allowed() && policy.failure_mode() == FailureMode::Deny {
            // A half-applied allow must not reach upstream when failing closed.
            return deny_after_failure(metrics, host);
        }
    }
    if decision.is_allowed() {
        metrics.count(host, Outcome::Allowed);
        Flow::Continue
    } else {
        metrics.count(host, Outcome::Denied);
        Flow::Stop
    }
}

fn failure_decision(mode: FailureMode) -> Decision {
    match mode {
        FailureMode::Allow => Decision::allow(),
        FailureMode::Deny => Decision::deny(crate::decision::DEFAULT_DENY_STATUS)
            .header("content-type", "text/plain")
            .body(FAIL_CLOSED_BODY),
    }
}

fn deny_after_failure(metrics: &FilterMetrics, host: &mut dyn Host) -> Flow {
    if let Err(err) = failure_decision(FailureMode::Deny).apply(host) {
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
        fn decide(&self, _: &Request<'_>) -> Result<Decision, PolicyError> {
            self.result.clone()
        }
        fn failure_mode(&self) -> FailureMode {
            self.mode
        }
    }

    fn run(result: Result<Decision, PolicyError>, mode: FailureMode, host: &mut FakeHost) -> Flow {
        let metrics = FilterMetrics::define(host, "fixed").unwrap();
        on_request_headers(&Fixed { result, mode }, &metrics, host)
    }

    #[test]
    fn allow_continues_and_counts() {
        let mut host = FakeHost::default();
        let flow = run(
            Ok(Decision::allow().header("a", "b")),
            FailureMode::Deny,
            &mut host,
        );
        assert_eq!(flow, Flow::Continue);
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
        assert_eq!(flow, Flow::Continue);
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
}
