//! Runs a policy over one request: read the request, decide, carry the decision out, count,
//! and (when `events` is configured) emit a decision event.
//!
//! Host-independent, so the whole request path is unit-tested natively; `proxy` only calls in.

use std::time::{Duration, SystemTime};

use crate::decision::{Decision, Deny, DEFAULT_DENY_STATUS};
use crate::events::decision::{DecisionEvents, DecisionRecord};
use crate::host::Host;
use crate::metrics::{FilterMetrics, Outcome, BAD_DECISION};
use crate::policy::{FailureMode, Policy};
use crate::request::{Request, RequestBody};

/// Whether the proxy should go on with the request after the policy ran.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Flow {
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

/// What the filter has of a request when its policy decides, besides what the host holds.
#[derive(Debug, Default)]
pub(crate) struct Arrived {
    /// The buffered body, for a policy that reads it.
    pub body: Option<RequestBody>,
    /// The request headers as they went upstream, when they went on before the policy decided
    /// (a policy that reads the body, under Envoy's default Wasm config); `None` while the
    /// filter still holds them.
    pub sent_headers: Option<Vec<(String, String)>>,
}

/// Decides one request (its headers, and the body when the policy asked for it); with
/// `events`, emits its decision event afterwards. The proxy's clock is read (for the event's
/// time and `eval_time_us`, measured around [`Policy::decide`]: two readings) only when events
/// are on.
pub(crate) fn on_request<P: Policy>(
    policy: &P,
    metrics: &FilterMetrics,
    host: &mut dyn Host,
    arrived: Arrived,
    events: Option<&DecisionEvents>,
) -> Flow {
    let Arrived { body, sent_headers } = arrived;
    let headers_sent = sent_headers.is_some();
    let mut sent;
    let host: &mut dyn Host = match sent_headers {
        Some(headers) => {
            sent = SentHeaders {
                inner: host,
                headers,
            };
            &mut sent
        }
        None => host,
    };
    let mut started = None;
    let mut summary = None;
    let mut eval_time = Duration::ZERO;
    let decided = match Request::from_host(host) {
        Ok(request) => {
            let request = request.with_body(body);
            summary = events.map(|events| events.summarize(&request));
            let path = request.path().to_string();
            // One clock reading is the event's time and the start of the evaluation.
            started = events.map(|_| request.now());
            let decided = policy.decide(&request);
            if let Some(at) = started {
                eval_time = request.now().duration_since(at).unwrap_or_default();
            }
            match decided {
                Ok(decision) if headers_sent && decision.changes_request_headers() => {
                    Err(Failure {
                        message: format!(
                            "policy {} changes request headers that already went upstream: \
                             a plugin can hold them while it reads the body only when the Envoy \
                             Wasm filter sets allow_on_headers_stop_iteration: true (set it in \
                             the plugin configuration too)",
                            P::NAME
                        ),
                        reason: Some(BAD_DECISION),
                        denied: false,
                    })
                }
                Ok(decision) => match decision.validate() {
                    Ok(()) => Ok((decision, path)),
                    Err(err) => Err(Failure {
                        message: format!("policy {} decided something invalid: {err}", P::NAME),
                        reason: Some(BAD_DECISION),
                        denied: !decision.is_allowed(),
                    }),
                },
                Err(err) => Err(Failure {
                    message: format!("policy {} failed: {err}", P::NAME),
                    reason: err.reason,
                    denied: false,
                }),
            }
        }
        Err(err) => Err(Failure {
            message: format!("reading request headers: {err}"),
            reason: None,
            denied: false,
        }),
    };
    let mut error = None;
    let (decision, path) = match decided {
        Ok(decided) => decided,
        Err(failure) => {
            log::error!("{}", failure.message);
            metrics.count(host, Outcome::Error(failure.reason));
            error = Some(failure.message);
            // Failing open never turns a policy's denial into an allow.
            let mode = match failure.denied {
                true => FailureMode::Deny,
                false => policy.failure_mode(),
            };
            (failure_decision(mode), String::new())
        }
    };
    let forwarded = carry_out::<P>(policy, metrics, host, &decision, &path, &mut error);
    let started = started.or_else(|| events.map(|_| clock(host)));
    if let (Some(events), Some(time)) = (events, started) {
        let record = DecisionRecord {
            time,
            request: summary.as_ref(),
            decision: &decision,
            policy_fields: policy.event_fields(),
            allowed: forwarded,
            status: client_status(forwarded, &decision),
            eval_time,
            error: error.as_deref(),
        };
        events.emit(host, &record);
    }
    if !forwarded {
        return Flow::Stop;
    }
    Flow::Continue {
        response_headers: match decision {
            Decision::Allow(allow) => allow.response_headers,
            Decision::Deny(_) => Vec::new(),
        },
    }
}

/// The host, with the request headers as they went upstream: the proxy no longer hands them to
/// the plugin once they went on.
struct SentHeaders<'h> {
    inner: &'h mut dyn Host,
    headers: Vec<(String, String)>,
}

impl Host for SentHeaders<'_> {
    fn request_headers(&self) -> Result<Vec<(String, String)>, crate::host::HostError> {
        Ok(self.headers.clone())
    }
    fn property(&self, path: &[&str]) -> Result<Option<Vec<u8>>, crate::host::HostError> {
        self.inner.property(path)
    }
    fn request_body(&self, max: usize) -> Result<Vec<u8>, crate::host::HostError> {
        self.inner.request_body(max)
    }
    fn set_request_header(
        &mut self,
        name: &str,
        value: &str,
    ) -> Result<(), crate::host::HostError> {
        self.inner.set_request_header(name, value)
    }
    fn remove_request_header(&mut self, name: &str) -> Result<(), crate::host::HostError> {
        self.inner.remove_request_header(name)
    }
    fn add_response_header(
        &mut self,
        name: &str,
        value: &str,
    ) -> Result<(), crate::host::HostError> {
        self.inner.add_response_header(name, value)
    }
    fn set_property(&mut self, path: &[&str], value: &[u8]) -> Result<(), crate::host::HostError> {
        self.inner.set_property(path, value)
    }
    fn send_local_reply(
        &mut self,
        status: u16,
        headers: &[(String, String)],
        body: &[u8],
    ) -> Result<(), crate::host::HostError> {
        self.inner.send_local_reply(status, headers, body)
    }
    fn reset_request(&mut self) -> Result<(), crate::host::HostError> {
        self.inner.reset_request()
    }
    fn now(&self) -> Result<SystemTime, crate::host::HostError> {
        self.inner.now()
    }
    fn define_counter(
        &mut self,
        name: &str,
    ) -> Result<crate::host::MetricId, crate::host::HostError> {
        self.inner.define_counter(name)
    }
    fn define_gauge(
        &mut self,
        name: &str,
    ) -> Result<crate::host::MetricId, crate::host::HostError> {
        self.inner.define_gauge(name)
    }
    fn increment(
        &mut self,
        metric: crate::host::MetricId,
        delta: i64,
    ) -> Result<(), crate::host::HostError> {
        self.inner.increment(metric, delta)
    }
    fn set_tick_period(&mut self, period: Duration) -> Result<(), crate::host::HostError> {
        self.inner.set_tick_period(period)
    }
}

/// Why a request could not be decided as its policy said.
struct Failure {
    message: String,
    /// The error reason counted, if any.
    reason: Option<&'static str>,
    /// The policy denied the request (with a decision that could not be carried out).
    denied: bool,
}

/// A request that failed before its policy could run (its body could not be read): logged,
/// counted, handled by the failure mode, and reported in a decision event like any other.
pub(crate) fn on_failure<P: Policy>(
    policy: &P,
    metrics: &FilterMetrics,
    host: &mut dyn Host,
    message: String,
    events: Option<&DecisionEvents>,
) -> Flow {
    log::error!("{message}");
    metrics.count(host, Outcome::Error(None));
    let time = events.map(|_| clock(host));
    let summary = match (events, Request::from_host(host)) {
        (Some(events), Ok(request)) => Some(events.summarize(&request)),
        _ => None,
    };
    let decision = failure_decision(policy.failure_mode());
    let mut error = Some(message);
    let forwarded = carry_out::<P>(policy, metrics, host, &decision, "", &mut error);
    if let (Some(events), Some(time)) = (events, time) {
        let record = DecisionRecord {
            time,
            request: summary.as_ref(),
            decision: &decision,
            policy_fields: policy.event_fields(),
            allowed: forwarded,
            status: client_status(forwarded, &decision),
            eval_time: Duration::ZERO,
            error: error.as_deref(),
        };
        events.emit(host, &record);
    }
    if forwarded {
        Flow::Continue {
            response_headers: Vec::new(),
        }
    } else {
        Flow::Stop
    }
}

/// Applies the decision and counts the outcome; a failure to apply is logged, counted, noted
/// in `error`, and handled by the failure mode. True when the request goes upstream.
fn carry_out<P: Policy>(
    policy: &P,
    metrics: &FilterMetrics,
    host: &mut dyn Host,
    decision: &Decision,
    path: &str,
    error: &mut Option<String>,
) -> bool {
    if let Err(err) = decision.apply(host, path) {
        let message = format!("applying the decision of policy {}: {err}", P::NAME);
        log::error!("{message}");
        metrics.count(host, Outcome::Error(None));
        error.get_or_insert(message);
        if let Decision::Deny(denial) = decision {
            // Only the metadata or the reply itself can fail for a denial, and the reply is sent
            // last: send it (again), so the client is answered rather than held until a timeout.
            reply_or_reset(host, denial);
        } else if policy.failure_mode() == FailureMode::Deny {
            // A half-applied allow must not reach upstream when failing closed.
            deny_after_failure(metrics, host);
            return false;
        }
    }
    if decision.is_allowed() {
        metrics.count(host, Outcome::Allowed);
        true
    } else {
        metrics.count(host, Outcome::Denied);
        false
    }
}

/// The status the client got for a request the policy decided: 200 when it went upstream (the
/// upstream's own status is not known yet), else the local reply's.
fn client_status(forwarded: bool, decision: &Decision) -> u16 {
    match (forwarded, decision) {
        (true, _) => 200,
        // A failed allow that was turned into a denial replied with the default status.
        (false, Decision::Allow(_)) => DEFAULT_DENY_STATUS,
        (false, Decision::Deny(denial)) => denial.reply_status(),
    }
}

/// The proxy's clock; the Unix epoch if it cannot tell (logged at debug).
fn clock(host: &dyn Host) -> SystemTime {
    host.now().unwrap_or_else(|err| {
        log::debug!("reading the clock: {err}");
        SystemTime::UNIX_EPOCH
    })
}

/// Reads the buffered body for a policy with this limit; `complete` says whether the request
/// has ended. One byte past the limit is asked for, to know whether the body is longer.
pub(crate) fn read_body(
    host: &dyn Host,
    limit: usize,
    complete: bool,
) -> Result<RequestBody, crate::host::HostError> {
    let mut bytes = host.request_body(limit.saturating_add(1))?;
    let longer = bytes.len() > limit;
    bytes.truncate(limit);
    Ok(RequestBody {
        truncated: longer || !complete,
        bytes,
    })
}

/// Adds the response headers an allow decision asked for.
pub(crate) fn on_response_headers(headers: &[(String, String)], host: &mut dyn Host) {
    for (name, value) in headers {
        if let Err(err) = host.add_response_header(name, value) {
            log::warn!("adding response header {name}: {err}");
        }
    }
}

/// The decision a failure turns into under `mode`.
pub(crate) fn failure_decision(mode: FailureMode) -> Decision {
    match mode {
        FailureMode::Allow => Decision::allow().into(),
        FailureMode::Deny => fail_closed_reply().into(),
    }
}

/// The local reply a request gets when its policy failed and the filter fails closed.
fn fail_closed_reply() -> Deny {
    Decision::deny(DEFAULT_DENY_STATUS)
        .header("content-type", "text/plain")
        .body(FAIL_CLOSED_BODY)
}

fn deny_after_failure(metrics: &FilterMetrics, host: &mut dyn Host) {
    reply_or_reset(host, &fail_closed_reply());
    metrics.count(host, Outcome::Denied);
}

/// Sends a denial's local reply; when the proxy refuses it, resets the request instead, so the
/// client is not held until the proxy's timeout and nothing goes upstream.
fn reply_or_reset(host: &mut dyn Host, denial: &Deny) {
    let reply = host.send_local_reply(
        denial.reply_status(),
        &denial.headers,
        denial.body.as_bytes(),
    );
    if let Err(err) = reply {
        log::error!("sending the local reply: {err}; resetting the request");
        if let Err(err) = host.reset_request() {
            log::error!("resetting the request: {err}");
        }
    }
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
                result: Ok(Decision::allow().into()),
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
        on_request(
            &Fixed { result, mode },
            &metrics,
            host,
            Arrived::default(),
            None,
        )
    }

    fn continued() -> Flow {
        Flow::Continue {
            response_headers: vec![],
        }
    }

    #[test]
    fn allow_continues_and_counts() {
        let mut host = FakeHost::default();
        let decision: Decision = Decision::allow()
            .header("a", "b")
            .response_header("c", "d")
            .into();
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
        let flow = run(Ok(Decision::deny(451).into()), FailureMode::Deny, &mut host);
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
    fn an_invalid_header_is_a_bad_decision_that_follows_the_failure_mode() {
        let injected = || Decision::from(Decision::allow().header("x-user", "alice\r\nx-admin: 1"));
        let mut host = FakeHost::default();
        let flow = run(Ok(injected()), FailureMode::Deny, &mut host);
        assert_eq!(flow, Flow::Stop);
        assert_eq!(host.local_reply.as_ref().unwrap().status, 403);
        assert_eq!(host.counter("palisade.fixed.errors.bad_decision"), 1);
        assert!(host.logged("request header \"x-user\": the value holds a control character"));

        let mut host = FakeHost::default();
        let flow = run(Ok(injected()), FailureMode::Allow, &mut host);
        assert_eq!(flow, continued());
        assert!(
            host.headers.is_empty(),
            "nothing of the invalid decision is applied"
        );
        assert_eq!(host.counter("palisade.fixed.errors.bad_decision"), 1);
        assert_eq!(host.counter("palisade.fixed.requests_allowed"), 1);
    }

    #[test]
    fn an_invalid_denial_stays_a_denial_when_failing_open() {
        let mut host = FakeHost::default();
        let denial: Decision = Decision::deny(401)
            .header("www-authenticate", "x\r\nset-cookie: a=b")
            .into();
        let flow = run(Ok(denial), FailureMode::Allow, &mut host);
        assert_eq!(flow, Flow::Stop);
        let reply = host.local_reply.clone().unwrap();
        assert_eq!(
            (reply.status, reply.body.as_slice()),
            (403, FAIL_CLOSED_BODY.as_bytes())
        );
        assert!(reply.headers.iter().all(|(_, v)| !v.contains('\n')));
        assert_eq!(host.counter("palisade.fixed.errors.bad_decision"), 1);
        assert_eq!(host.counter("palisade.fixed.requests_denied"), 1);
    }

    /// Reads the `x-user` header and answers with a decision that sets it upstream.
    struct EchoUser;

    impl Policy for EchoUser {
        type Config = ();
        const NAME: &'static str = "echo_user";
        fn from_config(_: ()) -> Result<Self, ConfigError> {
            Ok(Self)
        }
        fn decide(&self, request: &Request<'_>) -> Result<Decision, PolicyError> {
            Ok(match request.header("x-user") {
                Some(user) if user == "bob" => {
                    Decision::allow().header("x-upstream-user", user).into()
                }
                Some(_) => Decision::allow().response_header("x-seen", "1").into(),
                None => Decision::deny(401).into(),
            })
        }
    }

    #[test]
    fn headers_that_went_upstream_are_read_from_the_copy_and_cannot_change() {
        let sent = |user: &str| Arrived {
            body: Some(RequestBody::default()),
            sent_headers: Some(vec![
                (":path".into(), "/".into()),
                ("x-user".into(), user.into()),
            ]),
        };
        // The proxy no longer hands the headers out (its map is empty): the copy decides.
        let mut host = FakeHost::default();
        let metrics = FilterMetrics::define(&mut host, "echo_user", &[]).unwrap();
        let flow = on_request(&EchoUser, &metrics, &mut host, sent("alice"), None);
        assert_eq!(
            flow,
            Flow::Continue {
                response_headers: vec![("x-seen".into(), "1".into())]
            }
        );
        // A decision that changes them is refused (bad_decision), and fails closed.
        let flow = on_request(&EchoUser, &metrics, &mut host, sent("bob"), None);
        assert_eq!(flow, Flow::Stop);
        assert_eq!(host.local_reply.as_ref().unwrap().status, 403);
        assert!(host.headers.is_empty(), "nothing was set");
        assert_eq!(host.counter("palisade.echo_user.errors.bad_decision"), 1);
        assert!(host.logged("allow_on_headers_stop_iteration"));
    }

    #[test]
    fn unreadable_headers_follow_the_failure_mode() {
        let mut host = FakeHost {
            fail_header_reads: true,
            ..FakeHost::default()
        };
        let flow = run(Ok(Decision::allow().into()), FailureMode::Deny, &mut host);
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
            Ok(Decision::allow().header("x", "y").into()),
            FailureMode::Deny,
            &mut host,
        );
        assert_eq!(flow, Flow::Stop);
        assert_eq!(host.local_reply.as_ref().unwrap().status, 403);
        assert_eq!(host.counter("palisade.fixed.errors"), 1);
        assert_eq!(host.counter("palisade.fixed.requests_allowed"), 0);
    }

    #[test]
    fn a_refused_local_reply_resets_the_request() {
        for (decided, mode) in [
            (Ok(Decision::deny(401).into()), FailureMode::Allow),
            (Err(PolicyError::new("boom")), FailureMode::Deny),
        ] {
            let mut host = FakeHost {
                fail_local_replies: true,
                ..FakeHost::default()
            };
            let flow = run(decided, mode, &mut host);
            assert_eq!(flow, Flow::Stop);
            assert!(host.reset, "the request is reset");
            assert!(host.logged("resetting the request"));
        }
        let mut host = FakeHost::default();
        run(
            Ok(Decision::deny(401).into()),
            FailureMode::Allow,
            &mut host,
        );
        assert!(!host.reset, "a reply that was sent resets nothing");
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
            result: Ok(Decision::allow().into()),
            mode: FailureMode::Deny,
        };
        let arrived = Arrived {
            body: Some(cut),
            sent_headers: None,
        };
        let flow = on_request(&policy, &metrics, &mut host, arrived, None);
        assert_eq!(
            flow,
            Flow::Stop,
            "the test policy fails on a truncated body"
        );
    }

    /// Runs the policy with decision events on; returns the flow and the event's data.
    fn run_with_events(
        result: Result<Decision, PolicyError>,
        mode: FailureMode,
        host: &mut FakeHost,
    ) -> (Flow, serde_json::Value) {
        use crate::events::decision::DecisionEvents;
        use crate::events::emitter::{EventEmitter, EventSink};
        use crate::events::metrics::EventMetrics;
        use crate::events::EventsConfig;
        let metrics = FilterMetrics::define(host, "fixed", &[]).unwrap();
        let config = EventsConfig::from_value(serde_json::json!({"sink_cluster": "sink"})).unwrap();
        let sink = EventSink::new(EventEmitter::new(
            &config,
            EventMetrics::define(host, "fixed").unwrap(),
        ));
        let events = DecisionEvents::new(&config, "/p".into(), "fixed", sink.clone(), 3).unwrap();
        let policy = Fixed { result, mode };
        let flow = on_request(&policy, &metrics, host, Arrived::default(), Some(&events));
        assert_eq!(host.counter("palisade.fixed.events.emitted"), 1);
        sink.with(|emitter| emitter.on_tick(host));
        let batch: serde_json::Value = serde_json::from_slice(&host.callouts[0].body).unwrap();
        assert_eq!(batch[0]["type"], "io.palisade.fixed.decision");
        (flow, batch[0]["data"].clone())
    }

    #[test]
    fn an_allowed_request_emits_its_decision() {
        let mut host = FakeHost::with_headers(&[(":method", "GET"), (":path", "/x")]);
        let decision: Decision = Decision::allow()
            .decision_id("d-7")
            .event_field("rule", serde_json::json!("r1"))
            .into();
        let (flow, data) = run_with_events(Ok(decision), FailureMode::Deny, &mut host);
        assert_eq!(flow, continued());
        assert_eq!(data["decision_id"], "d-7");
        assert_eq!(data["allowed"], true);
        assert_eq!(data["status"], 200);
        assert_eq!(data["rule"], "r1");
        assert_eq!(data["request"]["path"], "/x");
        assert_eq!(data["eval_time_us"], 0, "the fake clock stands still");
        assert!(data.get("error").is_none());
    }

    #[test]
    fn a_denied_request_emits_the_reply_status() {
        let mut host = FakeHost::with_headers(&[(":path", "/x")]);
        let (flow, data) =
            run_with_events(Ok(Decision::deny(42).into()), FailureMode::Deny, &mut host);
        assert_eq!(flow, Flow::Stop);
        assert_eq!(
            (data["allowed"].clone(), data["status"].clone()),
            (false.into(), 403.into())
        );
    }

    #[test]
    fn a_failed_policy_emits_the_error_and_the_failure_mode() {
        let mut host = FakeHost::default();
        let (flow, data) =
            run_with_events(Err(PolicyError::new("boom")), FailureMode::Allow, &mut host);
        assert_eq!(flow, continued());
        assert_eq!(data["allowed"], true);
        assert_eq!(data["error"], "policy fixed failed: boom");

        let mut host = FakeHost {
            fail_header_writes: true,
            ..FakeHost::default()
        };
        let decision: Decision = Decision::allow().header("x", "y").into();
        let (flow, data) = run_with_events(Ok(decision), FailureMode::Deny, &mut host);
        assert_eq!(flow, Flow::Stop);
        assert_eq!(
            (data["allowed"].clone(), data["status"].clone()),
            (false.into(), 403.into())
        );
        assert!(
            data["error"]
                .as_str()
                .unwrap()
                .starts_with("applying the decision of policy fixed"),
            "{data}"
        );
    }

    #[test]
    fn response_headers_are_added() {
        let mut host = FakeHost::default();
        on_response_headers(&[("x-a".into(), "1".into())], &mut host);
        assert_eq!(host.response_headers, vec![("x-a".into(), "1".into())]);
    }
}
