//! Fail closed means closed: with `failure_mode: deny`, no request reaches the upstream when
//! rego-authz's evaluation fails in any way (a runtime error, the evaluation budget, a bad decision
//! object, a body over `max_body_bytes` that the policy needs, a trap), and the failure is counted.
//! The same cases with `failure_mode: allow` show the difference; a trap follows Envoy's failure
//! policy instead, whatever `failure_mode` says.
//!
//! Each case is one row of [`cases`]; one runner drives them all in the harness. In real Envoy, a
//! trapping filter is `tests/scenarios/fail_closed.yaml`; rego-authz cannot be made to trap by a
//! policy (the memory bombs that did are bounded now), and
//! [`memory_bombs_in_envoy_never_reach_the_upstream`] shows those in Envoy.
#![allow(clippy::print_stdout)] // each test prints its table (call x status -> outcome)

use palisade_harness::{FailurePolicy, Fault};
use serde_json::{json, Value};

use crate::support::{self, counter, request_outcome, RequestOutcome, ROOT};

/// One way evaluation can fail.
struct Case {
    name: &'static str,
    /// Rules of `package envoy.authz` (Rego v1).
    rules: &'static str,
    /// Plugin configuration fields besides `policy` and `failure_mode`.
    extra: Value,
    /// The request body (the request is bodiless without one).
    body: Option<&'static [u8]>,
    /// A host call made to trap the VM.
    trap: Option<&'static str>,
    /// What happens under `failure_mode: deny`.
    expect: Expect,
    /// What the request gets under `failure_mode: allow`.
    on_allow: RequestOutcome,
}

impl Case {
    /// A case with no other configuration, no body and no trap.
    fn new(
        name: &'static str,
        rules: &'static str,
        expect: Expect,
        on_allow: RequestOutcome,
    ) -> Self {
        Self {
            name,
            rules,
            extra: json!({}),
            body: None,
            trap: None,
            expect,
            on_allow,
        }
    }
}

/// What a case does under `failure_mode: deny`.
#[derive(Debug, Clone, Copy)]
enum Expect {
    /// An evaluation failure: the fail-closed reply, counted as `errors.<reason>`.
    Failure(&'static str),
    /// Not a failure but a policy denial (counted as `requests_denied`).
    PolicyDenial,
    /// The VM traps (the SDK cannot count it; Envoy counts the crash): Envoy's 503.
    Trap,
}

/// A JSON body longer than the 16-byte limit the body case configures.
const LONG_BODY: &[u8] = br#"{"ok": true, "padding": "0123456789abcdef"}"#;

/// A policy whose first builtin call asks for a billion-element array.
const MEMORY_BOMB: &str = "allow if count(numbers.range(1, 1000000000)) > 0";

/// A policy whose first builtin call asks for a gigabyte string.
const SPRINTF_BOMB: &str = r#"allow if sprintf("%0999999999d", [1]) == "1""#;

fn cases() -> Vec<Case> {
    let upstream = RequestOutcome::Upstream;
    vec![
        // OPA raises eval_conflict_error. The bytecode VM gives two values of the rule the
        // filter evaluates as an undefined result (the policy stays on the VM: no rule reads
        // `allow`), and the interpreter, evaluating again, the conflict error: a failure, even
        // with a default, counted as an evaluation error; never a silent allow or deny.
        Case::new(
            "runtime error: conflicting values for a complete rule",
            r#"default allow := false
allow := true if input.attributes.request.http.method == "POST"
allow := false if input.attributes.request.http.headers["x-user"] == "alice""#,
            Expect::Failure("evaluation"),
            upstream.clone(),
        ),
        // As in OPA (non-strict), a builtin error makes the expression undefined: the rule
        // falls back to its default. A decision, not a failure.
        Case::new(
            "builtin error (1 / 0) under a default rule",
            "default allow := false\nallow if 1 / 0 == 1",
            Expect::PolicyDenial,
            RequestOutcome::Reply(403),
        ),
        // No arithmetic: that would run the policy on the interpreter, which the instruction
        // budget does not bound (its time budget does, on the proxy's clock).
        Case::new(
            "budget exceeded: a huge comprehension",
            r#"allow if {
    r := numbers.range(1, 3000)
    count([1 | some i in r; some j in r; i < j; j < i]) == 0
}"#,
            Expect::Failure("budget_exceeded"),
            upstream.clone(),
        ),
        Case::new(
            "bad decision: allowed is a string",
            r#"allow := {"allowed": "yes"}"#,
            Expect::Failure("bad_decision"),
            upstream.clone(),
        ),
        Case::new(
            "bad decision: http_status is a string",
            r#"allow := {"allowed": false, "http_status": "x"}"#,
            Expect::Failure("bad_decision"),
            upstream.clone(),
        ),
        Case::new(
            "bad decision: http_status out of range",
            r#"allow := {"allowed": false, "http_status": 1000}"#,
            Expect::Failure("bad_decision"),
            upstream.clone(),
        ),
        Case::new(
            "bad decision: a number",
            "allow := 42",
            Expect::Failure("bad_decision"),
            upstream.clone(),
        ),
        Case::new(
            "bad decision: undefined (no default)",
            r#"allow if input.attributes.request.http.headers["x-user"] == "nobody""#,
            Expect::Failure("undefined"),
            upstream.clone(),
        ),
        // OPA-Envoy gives a truncated body as `truncated_body: true` without `parsed_body`:
        // not a failure, so `failure_mode` does not apply; a policy that needs the body denies.
        Case {
            extra: json!({ "with_body": true, "max_body_bytes": 16 }),
            body: Some(LONG_BODY),
            ..Case::new(
                "body over max_body_bytes, the policy needs parsed_body",
                "default allow := false\nallow if input.parsed_body.ok == true",
                Expect::PolicyDenial,
                RequestOutcome::Reply(403),
            )
        },
        Case {
            extra: json!({ "with_body": true, "max_body_bytes": 16 }),
            body: Some(LONG_BODY),
            ..Case::new(
                "body over max_body_bytes, the policy checks truncated_body",
                "default allow := false\nallow if not input.truncated_body",
                Expect::PolicyDenial,
                RequestOutcome::Reply(403),
            )
        },
        // Envoy answers 503 for the stream whose callback trapped, whatever the policy.
        Case {
            trap: Some("proxy_get_header_map_pairs"),
            ..Case::new(
                "trap (Fault::Trap reading the request headers)",
                "allow := true",
                Expect::Trap,
                RequestOutcome::Reply(503),
            )
        },
        Case::new(
            "memory bomb: sprintf with a billion-digit width",
            SPRINTF_BOMB,
            Expect::Failure("budget_exceeded"),
            RequestOutcome::Upstream,
        ),
        // One builtin call is one instruction of the budget: only a memory bound can stop it.
        Case::new(
            "memory bomb: numbers.range(1, 1000000000)",
            MEMORY_BOMB,
            Expect::Failure("budget_exceeded"),
            RequestOutcome::Upstream,
        ),
    ]
}

/// What one request did under one failure mode.
struct Observed {
    outcome: RequestOutcome,
    errors: u64,
    reason_count: u64,
    denied: u64,
    trapped: bool,
    /// The first error the filter logged.
    error_log: Option<String>,
}

fn run_case(case: &Case, failure_mode: &str) -> anyhow::Result<Observed> {
    let mut configuration = json!({
        "policy": support::rego(case.rules),
        "failure_mode": failure_mode,
    });
    for (key, value) in case.extra.as_object().into_iter().flatten() {
        configuration[key] = value.clone();
    }
    let mut host =
        support::builder("rego-authz", &configuration, FailurePolicy::FailClosed).build()?;
    assert!(host.start()?.ok(), "{}: configured", case.name);
    if let Some(call) = case.trap {
        host.inject_fault(call, Fault::Trap);
    }
    let s = host.new_http_stream_for(ROOT)?;
    let headers = [
        (":method", "POST"),
        (":path", "/orders"),
        (":authority", "shop.test"),
        (":scheme", "http"),
        ("content-type", "application/json"),
        ("x-user", "alice"),
    ];
    host.request_headers(s, &headers, case.body.is_none())?;
    if let Some(body) = case.body {
        if !host.stream(s)?.ended() {
            host.request_body(s, body, true)?;
        }
    }
    let outcome = request_outcome(&host, s);
    let trapped = host.vm_failed();
    let error_log = host
        .logs()
        .iter()
        .find(|l| l.level >= palisade_harness::LogLevel::Error)
        .map(|l| l.message.clone());
    host.finish_stream(s)?;
    let metric = |name: &str| counter(&host, &format!("palisade.rego_authz.{name}"));
    Ok(Observed {
        outcome,
        errors: metric("errors"),
        reason_count: match case.expect {
            Expect::Failure(reason) => metric(&format!("errors.{reason}")),
            _ => 0,
        },
        denied: metric("requests_denied"),
        trapped,
        error_log,
    })
}

#[test]
fn no_failure_reaches_the_upstream_when_failing_closed() -> anyhow::Result<()> {
    let mut problems = Vec::new();
    println!(
        "\n{:<58} {:<12} {:<16} {:<12}",
        "failure", "deny", "counted", "allow"
    );
    for case in cases() {
        let deny = run_case(&case, "deny")?;
        let allow = run_case(&case, "allow")?;
        let log = deny.error_log.clone().unwrap_or_default();
        let mut problem =
            |what: String| problems.push(format!("{}: {what} (logged: {log})", case.name));
        if deny.outcome.reached_upstream() {
            problem("reached the upstream under failure_mode deny".into());
        }
        let failure = |reason: &str, problem: &mut dyn FnMut(String)| {
            if deny.outcome != RequestOutcome::FailClosed {
                problem(format!("{} instead of the fail-closed reply", deny.outcome));
            }
            if deny.errors != 1 || deny.reason_count != 1 {
                problem(format!(
                    "counted errors={} errors.{reason}={}",
                    deny.errors, deny.reason_count
                ));
            }
            if allow.errors != 1 || allow.reason_count != 1 {
                problem("not counted under failure_mode allow".into());
            }
        };
        let trap = |problem: &mut dyn FnMut(String)| {
            if !deny.trapped || deny.outcome != RequestOutcome::Reply(503) {
                problem(format!("expected a trap and a 503, got {}", deny.outcome));
            }
        };
        match case.expect {
            Expect::Trap => trap(&mut problem),
            Expect::Failure(reason) => failure(reason, &mut problem),
            Expect::PolicyDenial => {
                if deny.denied != 1 || deny.errors != 0 {
                    problem(format!(
                        "expected one policy denial, counted denied={} errors={}",
                        deny.denied, deny.errors
                    ));
                }
            }
        }
        if allow.outcome != case.on_allow {
            problem(format!(
                "{} under failure_mode allow, expected {}",
                allow.outcome, case.on_allow
            ));
        }
        let counted = match case.expect {
            _ if deny.trapped => "VM trapped".to_string(),
            Expect::Failure(reason) => format!("{reason} x{}", deny.reason_count),
            _ => format!("denied x{}", deny.denied),
        };
        println!(
            "{:<58} {:<12} {:<16} {:<12}",
            case.name,
            deny.outcome.to_string(),
            counted,
            allow.outcome.to_string()
        );
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    Ok(())
}

/// The two memory bombs in real Envoy (V8, the shipped `envoy-configs/rego-authz.yaml`,
/// FAIL_CLOSED, a real echo upstream): `max_eval_bytes` stops them before they allocate, so each
/// request gets the fail-closed 403, counted, and the upstream never sees one. (Before the bound,
/// `numbers.range` trapped the VM.)
#[test]
fn memory_bombs_in_envoy_never_reach_the_upstream() {
    use palisade_testkit::echo::EchoServer;
    use palisade_testkit::envoy::{self, Envoy};

    let upstream = EchoServer::start().unwrap();
    let template = envoy::render_file(
        &palisade_testkit::workspace::envoy_config("rego-authz.yaml"),
        &[
            ("UPSTREAM_PORT", &upstream.port().to_string()),
            ("WASM_PATH", &support::wasm("rego-authz").to_string_lossy()),
        ],
    )
    .unwrap();
    for rules in [MEMORY_BOMB, SPRINTF_BOMB] {
        let configuration = json!({ "policy": support::rego(rules), "failure_mode": "deny" });
        let bootstrap =
            envoy::with_plugin_configuration(&template, "rego-authz", &configuration).unwrap();
        let envoy = Envoy::start(&bootstrap).unwrap_or_else(|e| panic!("{e}"));
        let listener = envoy.listener("ingress").unwrap();
        let agent = envoy::http_client();
        let mut statuses = Vec::new();
        for _ in 0..2 {
            let response = agent
                .get(&format!("http://{listener}/orders"))
                .header("x-user", "alice")
                .call()
                .unwrap();
            statuses.push(response.status().as_u16());
        }
        let stats = envoy.stats().unwrap();
        let budget = stats
            .get("wasmcustom.palisade.rego_authz.errors.budget_exceeded")
            .copied()
            .unwrap_or(0);
        println!("{rules}: statuses {statuses:?}, errors.budget_exceeded {budget}");
        // The fail-closed reply of a counted failure, each time: the VM did not trap (it would
        // answer 503, now and for every later request).
        assert_eq!(statuses, [403, 403], "{rules}\n{}", envoy.log());
        assert_eq!(budget, 2, "{rules}: {stats:?}");
        assert!(
            upstream.received().is_empty(),
            "{rules}: reached the upstream"
        );
    }
}
