//! Host-call faults: every host call the SDK makes, in every phase of a plugin's life, is made to
//! fail with each failure status in turn. The VM must not trap, and the request must get either its
//! normal outcome or the one the filter's `failure_mode` prescribes; a failure the SDK sees is
//! counted. Then traps in each callback under each Envoy failure policy.
//!
//! The calls are not listed by hand: a clean run records which host functions each phase calls,
//! and every one of those is faulted.
#![allow(clippy::print_stdout)] // each test prints its table (call x status -> outcome)

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use palisade_harness::{FailurePolicy, Fault, Host, HttpResponse};
use serde_json::{json, Value};

use crate::support::{self, counter, request_outcome, RequestOutcome, ROOT};

/// A phase of the scenario; a fault is armed for one phase only.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Phase {
    Start,
    Configure,
    RequestHeaders,
    RequestBody,
    ResponseHeaders,
    Finish,
    Tick,
    CalloutResponse,
}

impl Phase {
    const ALL: [Phase; 8] = [
        Phase::Start,
        Phase::Configure,
        Phase::RequestHeaders,
        Phase::RequestBody,
        Phase::ResponseHeaders,
        Phase::Finish,
        Phase::Tick,
        Phase::CalloutResponse,
    ];

    fn name(self) -> &'static str {
        match self {
            Phase::Start => "vm_start",
            Phase::Configure => "configure",
            Phase::RequestHeaders => "request_headers",
            Phase::RequestBody => "request_body",
            Phase::ResponseHeaders => "response_headers",
            Phase::Finish => "log/done",
            Phase::Tick => "tick",
            Phase::CalloutResponse => "callout_response",
        }
    }

    /// Phases before any request: a fault there may make the plugin refuse its configuration.
    fn before_requests(self) -> bool {
        matches!(self, Phase::Start | Phase::Configure)
    }
}

/// How the filter runs in one scenario.
struct Variant {
    name: &'static str,
    package: &'static str,
    /// `palisade.<filter>.`
    metrics_prefix: &'static str,
    configuration: Value,
    fails_closed: bool,
    with_body: bool,
    events: bool,
    headers: Vec<(&'static str, &'static str)>,
    /// The outcome without a fault.
    normal: RequestOutcome,
}

/// Allows `x-user: alice` (adding a response header, so the response path has work), denies others.
const ALICE_ONLY: &str = r#"default allow := false
allow := {"allowed": true, "response_headers_to_add": {"x-checked": "yes"}} if {
    input.attributes.request.http.headers["x-user"] == "alice"
}"#;

fn rego_variant(
    name: &'static str,
    failure_mode: &str,
    events: bool,
    user: &'static str,
) -> Variant {
    let mut configuration = json!({
        "policy": support::rego(ALICE_ONLY),
        "with_body": true,
        "failure_mode": failure_mode,
    });
    if events {
        configuration["events"] = support::events_section();
    }
    Variant {
        name,
        package: "rego-authz",
        metrics_prefix: "palisade.rego_authz.",
        configuration,
        fails_closed: failure_mode == "deny",
        with_body: true,
        events,
        headers: vec![("x-user", user)],
        normal: match user {
            "alice" => RequestOutcome::Upstream,
            _ => RequestOutcome::Reply(403),
        },
    }
}

fn variants() -> Vec<Variant> {
    vec![
        rego_variant("rego-authz deny", "deny", false, "alice"),
        rego_variant("rego-authz deny, denied request", "deny", false, "bob"),
        rego_variant("rego-authz deny+events", "deny", true, "alice"),
        rego_variant("rego-authz allow+events", "allow", true, "alice"),
        Variant {
            name: "tenant-header+events",
            package: "tenant-header",
            metrics_prefix: "palisade.tenant_header.",
            configuration: json!({ "allowed_tenants": ["acme"], "events": support::events_section() }),
            fails_closed: true,
            with_body: false,
            events: true,
            headers: vec![("x-tenant-id", "acme")],
            normal: RequestOutcome::Upstream,
        },
    ]
}

/// What one run of the scenario did.
#[derive(Debug, Default)]
struct Run {
    /// The host functions each phase called (proxy-wasm and WASI).
    calls: BTreeMap<Phase, BTreeSet<&'static str>>,
    /// `None` when the plugin refused its configuration.
    outcome: Option<RequestOutcome>,
    /// The phase whose callback trapped.
    trapped: Option<Phase>,
    errors_counted: u64,
    faults_fired: u64,
    /// Events the sink was sent (callouts made).
    callouts: usize,
}

/// Runs the scenario: start, configure, one request (headers, body), its response, the end of the
/// stream, a tick (which flushes events), and the sink's answer; `fault` is armed during one phase.
fn run(variant: &Variant, fault: Option<(Phase, &str, Fault)>) -> anyhow::Result<Run> {
    let mut host = support::builder(
        variant.package,
        &variant.configuration,
        FailurePolicy::FailClosed,
    )
    .build()?;
    let mut run = Run::default();
    let mut stream = None;
    for phase in Phase::ALL {
        if let Some((_, call, f)) = fault.filter(|(p, _, _)| *p == phase) {
            host.inject_fault(call, f);
        }
        host.reset_host_call_counts();
        let proceed = step(&mut host, variant, phase, &mut stream, &mut run)?;
        host.clear_faults();
        run.calls
            .insert(phase, host.host_call_counts().keys().copied().collect());
        if host.vm_failed() {
            run.trapped = Some(phase);
        }
        if !proceed || host.vm_failed() {
            break;
        }
    }
    if let (Some(s), None) = (stream, run.outcome.as_ref()) {
        run.outcome = Some(request_outcome(&host, s));
    }
    run.errors_counted = counter(&host, &format!("{}errors", variant.metrics_prefix));
    run.faults_fired = host.faults_fired();
    run.callouts = host.http_callouts().len();
    Ok(run)
}

/// One phase; false when the scenario cannot go on (configuration refused, request ended).
fn step(
    host: &mut Host,
    variant: &Variant,
    phase: Phase,
    stream: &mut Option<palisade_harness::StreamId>,
    run: &mut Run,
) -> anyhow::Result<bool> {
    match phase {
        Phase::Start => Ok(host.start_vm()?),
        Phase::Configure => Ok(host.configure()?),
        Phase::RequestHeaders => {
            let s = host.new_http_stream_for(ROOT)?;
            *stream = Some(s);
            let mut headers = vec![
                (":method", "POST"),
                (":path", "/orders?id=7"),
                (":authority", "shop.test"),
                (":scheme", "http"),
                ("content-type", "application/json"),
            ];
            headers.extend_from_slice(&variant.headers);
            host.request_headers(s, &headers, !variant.with_body)?;
            Ok(true)
        }
        Phase::RequestBody => {
            let s = stream.expect("a stream");
            if variant.with_body && !host.stream(s)?.ended() {
                host.request_body(s, br#"{"item":7}"#, true)?;
            }
            run.outcome = Some(request_outcome(host, s));
            Ok(true)
        }
        Phase::ResponseHeaders => {
            let s = stream.expect("a stream");
            if run.outcome == Some(RequestOutcome::Upstream) {
                host.response_headers(s, &[(":status", "200")], true)?;
            }
            Ok(true)
        }
        Phase::Finish => {
            host.finish_stream(stream.expect("a stream"))?;
            Ok(true)
        }
        Phase::Tick => {
            host.advance_time(Duration::from_millis(1000))?;
            Ok(true)
        }
        Phase::CalloutResponse => {
            host.respond_pending_http_callouts(&HttpResponse::new(202))?;
            Ok(true)
        }
    }
}

/// Calls whose failure must never change what happens to a request.
fn is_observability(call: &str) -> bool {
    matches!(
        call,
        "proxy_log" | "proxy_get_log_level" | "proxy_increment_metric" | "proxy_define_metric"
    )
}

/// Checks one faulted run; returns what is wrong with it.
fn check(variant: &Variant, phase: Phase, call: &str, run: &Run) -> Option<String> {
    if let Some(at) = run.trapped {
        return Some(format!("trapped in {}", at.name()));
    }
    if run.faults_fired == 0 {
        return Some("the fault never fired".into());
    }
    let Some(outcome) = &run.outcome else {
        // The plugin refused its configuration: allowed only for faults before requests that
        // are not mere logging.
        return match phase.before_requests() && !matches!(call, "proxy_log" | "proxy_get_log_level")
        {
            true => None,
            false => Some("configuration refused".into()),
        };
    };
    let normal = *outcome == variant.normal;
    let decided_before = phase > Phase::RequestBody;
    if normal {
        return None;
    }
    if decided_before || is_observability(call) || phase.before_requests() {
        return Some(format!("{outcome} instead of the normal outcome"));
    }
    match outcome {
        RequestOutcome::FailClosed if variant.fails_closed => {
            (run.errors_counted == 0).then(|| "failed closed but did not count an error".into())
        }
        // The local reply itself was refused by the host: the request is reset, never sent.
        RequestOutcome::Reset if call == "proxy_send_local_response" => None,
        other => Some(format!(
            "{other} under failure_mode {}",
            match variant.fails_closed {
                true => "deny",
                false => "allow",
            }
        )),
    }
}

fn outcome_cell(variant: &Variant, run: &Run) -> String {
    match (&run.trapped, &run.outcome) {
        (Some(_), _) => "TRAP".into(),
        (None, None) => "refused".into(),
        (None, Some(o)) if *o == variant.normal => "ok".into(),
        (None, Some(o)) => o.to_string(),
    }
}

#[test]
fn every_host_call_fails_with_every_status_without_a_panic() -> anyhow::Result<()> {
    let started = std::time::Instant::now();
    let mut problems = Vec::new();
    let mut rows = 0;
    for variant in variants() {
        let clean = run(&variant, None)?;
        assert_eq!(
            clean.outcome.as_ref(),
            Some(&variant.normal),
            "{}",
            variant.name
        );
        assert_eq!(clean.trapped, None, "{}", variant.name);
        if variant.events {
            assert_eq!(
                clean.callouts, 1,
                "{}: the tick sends the event",
                variant.name
            );
        }
        let targets: Vec<(Phase, &str)> = clean
            .calls
            .iter()
            .flat_map(|(phase, calls)| calls.iter().map(move |c| (*phase, *c)))
            .filter(|(_, call)| call.starts_with("proxy_"))
            .collect();
        let wasi: BTreeSet<&str> = clean
            .calls
            .values()
            .flatten()
            .filter(|c| !c.starts_with("proxy_"))
            .copied()
            .collect();
        println!(
            "\n{}: {} (phase, call) pairs x {} statuses; WASI calls not faulted: {wasi:?}",
            variant.name,
            targets.len(),
            Fault::STATUSES.len()
        );
        println!(
            "{:<17} {:<36} {:<12} {:<12} {:<16} {:<21}",
            "phase",
            "call",
            "NOT_FOUND",
            "BAD_ARGUMENT",
            "INTERNAL_FAILURE",
            "INVALID_MEMORY_ACCESS"
        );
        for (phase, call) in targets {
            let mut cells = Vec::new();
            for fault in Fault::STATUSES {
                let faulted = run(&variant, Some((phase, call, fault)))?;
                rows += 1;
                cells.push(outcome_cell(&variant, &faulted));
                if let Some(problem) = check(&variant, phase, call, &faulted) {
                    problems.push(format!(
                        "{}: {} {call} {fault}: {problem}",
                        variant.name,
                        phase.name()
                    ));
                }
            }
            println!(
                "{:<17} {:<36} {:<12} {:<12} {:<16} {:<21}",
                phase.name(),
                call,
                cells[0],
                cells[1],
                cells[2],
                cells[3]
            );
        }
    }
    println!("\n{rows} faulted runs in {:.1?}", started.elapsed());
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    Ok(())
}

/// A callback of rego-authz and a host call it makes, trapped by [`Fault::Trap`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Callback {
    Configure,
    RequestHeaders,
    RequestBody,
    ResponseHeaders,
    Tick,
    HttpCallResponse,
}

impl Callback {
    const ALL: [Callback; 6] = [
        Callback::Configure,
        Callback::RequestHeaders,
        Callback::RequestBody,
        Callback::ResponseHeaders,
        Callback::Tick,
        Callback::HttpCallResponse,
    ];

    /// A host call this callback makes.
    fn call(self) -> &'static str {
        match self {
            Callback::Configure | Callback::RequestBody => "proxy_get_buffer_bytes",
            Callback::RequestHeaders => "proxy_get_header_map_pairs",
            Callback::ResponseHeaders => "proxy_add_header_map_value",
            Callback::Tick => "proxy_http_call",
            Callback::HttpCallResponse => "proxy_get_header_map_pairs",
        }
    }

    /// True for the callbacks of a request stream (the trapping stream gets Envoy's 503).
    fn on_stream(self) -> bool {
        matches!(
            self,
            Callback::RequestHeaders | Callback::RequestBody | Callback::ResponseHeaders
        )
    }
}

/// Traps a host call inside `callback` once; returns the host and the trapping stream's outcome
/// (`None` for a callback outside a stream).
fn trap_in(
    callback: Callback,
    policy: FailurePolicy,
) -> anyhow::Result<(Host, Option<RequestOutcome>)> {
    let configuration = json!({
        "policy": support::rego(ALICE_ONLY),
        "with_body": true,
        "failure_mode": "deny",
        "events": support::events_section(),
    });
    let mut host = palisade_harness::HostBuilder::from_file(support::wasm("rego-authz"))
        .plugin(
            palisade_harness::PluginConfig::new(ROOT)
                .configuration(configuration.to_string())
                .failure_policy(policy)
                .reload_backoff(Duration::ZERO),
        )
        .build()?;
    let arm = |host: &mut Host, at: Callback| {
        if at == callback {
            host.inject_fault_times(callback.call(), Fault::Trap, 1);
        }
    };
    arm(&mut host, Callback::Configure);
    if callback == Callback::Configure {
        let err = host.start().expect_err("on_configure traps");
        assert!(err.to_string().contains("proxy_on_configure"), "{err}");
        return Ok((host, None));
    }
    assert!(host.start()?.ok());
    let s = host.new_http_stream_for(ROOT)?;
    let headers = [
        (":method", "POST"),
        (":path", "/orders"),
        (":authority", "shop.test"),
        (":scheme", "http"),
        ("x-user", "alice"),
    ];
    // A bodiless request is decided in on_request_headers, one with a body in on_request_body.
    let bodiless = callback == Callback::RequestHeaders;
    arm(&mut host, Callback::RequestHeaders);
    host.request_headers(s, &headers, bodiless)?;
    if !bodiless && !host.stream(s)?.ended() {
        arm(&mut host, Callback::RequestBody);
        host.request_body(s, b"{}", true)?;
    }
    if request_outcome(&host, s) == RequestOutcome::Upstream {
        arm(&mut host, Callback::ResponseHeaders);
        host.response_headers(s, &[(":status", "200")], true)?;
    }
    let stream_outcome = request_outcome(&host, s);
    host.finish_stream(s)?;
    arm(&mut host, Callback::Tick);
    host.advance_time(Duration::from_millis(1000))?;
    arm(&mut host, Callback::HttpCallResponse);
    host.respond_pending_http_callouts(&HttpResponse::new(202))?;
    assert_eq!(host.faults_fired(), 1, "{callback:?}: the trap fired");
    Ok((host, callback.on_stream().then_some(stream_outcome)))
}

/// A later request from `bob`, whom the policy denies (403): 503 while the VM is failed, upstream
/// when the plugin is skipped, 403 when the policy runs again. `None` when the plugin takes no
/// streams (its configuration was refused).
fn later_request(host: &mut Host) -> anyhow::Result<Option<RequestOutcome>> {
    host.advance_time(Duration::from_millis(10))?;
    let s = match host.new_http_stream_for(ROOT) {
        Ok(s) => s,
        Err(palisade_harness::HarnessError::PluginNotRunning(_)) => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    let headers = [
        (":method", "GET"),
        (":path", "/orders"),
        (":authority", "shop.test"),
        (":scheme", "http"),
        ("x-user", "bob"),
    ];
    host.request_headers(s, &headers, true)?;
    let outcome = request_outcome(host, s);
    host.finish_stream(s)?;
    Ok(Some(outcome))
}

#[test]
fn a_trap_in_each_callback_follows_the_failure_policy() -> anyhow::Result<()> {
    println!(
        "\n{:<18} {:<12} {:<14} later request",
        "trap in", "policy", "that stream"
    );
    for callback in Callback::ALL {
        for policy in [
            FailurePolicy::FailClosed,
            FailurePolicy::FailOpen,
            FailurePolicy::Reload,
        ] {
            let (mut host, stream) = trap_in(callback, policy)?;
            assert!(host.vm_failed(), "{callback:?} {policy:?}: the VM failed");
            if callback.on_stream() {
                // Envoy fails the stream whose callback trapped with a 503, whatever the policy.
                assert_eq!(
                    stream,
                    Some(RequestOutcome::Reply(503)),
                    "{callback:?} {policy:?}"
                );
            }
            let later = later_request(&mut host)?;
            let expected = match (callback, policy) {
                // A trap in on_configure: the configuration is refused, the plugin takes no
                // streams; Reload gets a fresh VM, configured again, for the next stream.
                (Callback::Configure, FailurePolicy::Reload) => Some(RequestOutcome::Reply(403)),
                (Callback::Configure, _) => None,
                (_, FailurePolicy::FailClosed) => Some(RequestOutcome::Reply(503)),
                (_, FailurePolicy::FailOpen) => Some(RequestOutcome::Upstream),
                (_, FailurePolicy::Reload) => Some(RequestOutcome::Reply(403)),
            };
            assert_eq!(later, expected, "{callback:?} {policy:?}: a later request");
            if policy == FailurePolicy::Reload {
                assert_eq!(host.reloads(), 1, "{callback:?}");
                assert!(!host.vm_failed(), "{callback:?}: the reloaded VM runs");
            }
            println!(
                "{:<18} {:<12} {:<14} {}",
                format!("{callback:?}"),
                format!("{policy:?}"),
                stream.map_or("-".to_string(), |o| o.to_string()),
                later.map_or("no streams (config refused)".to_string(), |o| o.to_string())
            );
        }
    }
    Ok(())
}
