//! Resource bounds of rego-authz: runaway policies are stopped by the evaluation budget and
//! follow the failure mode with a metric instead of killing the VM, and request bodies far over
//! `max_body_bytes` pass without being buffered whole.

use palisade_harness::Host;
use serde_json::json;

use crate::support::{configure, counter, finish, rego, send, started, ROOT};

/// The guest's linear memory may grow by at most this much over a bomb (it never shrinks).
const BOMB_GROWTH: usize = 40 << 20;

/// `to_number` of the request's `x-n` header: bombs read their size from the request so the
/// trial evaluation at configure time (which has no input) does not set them off.
const N: &str = "to_number(input.attributes.request.http.headers[\"x-n\"])";

/// One runaway policy: the rule, an `x-n` that stays within the budget (allowed), and one that
/// blows it (over budget).
struct Runaway {
    name: &'static str,
    rule: &'static str,
    small: &'static str,
    huge: &'static str,
}

const RUNAWAYS: &[Runaway] = &[
    Runaway {
        name: "a comprehension over a huge range",
        rule: "count([x | some x in numbers.range(1, {n})]) > 0",
        small: "1000",
        huge: "1000000000",
    },
    Runaway {
        name: "wide iteration (three nested loops)",
        rule: "count({[a, b, c] | some a in numbers.range(1, {n}); some b in numbers.range(1, {n}); some c in numbers.range(1, {n})}) > 0",
        small: "10",
        huge: "1000",
    },
    Runaway {
        name: "numbers.range_step",
        rule: "count(numbers.range_step(0, {n}, 1)) > 0",
        small: "1000",
        huge: "2000000000",
    },
    Runaway {
        name: "sprintf padding",
        rule: "count(sprintf(concat(\"\", [\"%0\", format_int({n}, 10), \"d\"]), [1])) > 0",
        small: "100",
        huge: "300000000",
    },
    Runaway {
        name: "replace with an empty pattern, nested",
        rule: "count(replace(replace(replace(sprintf(concat(\"\", [\"%0\", format_int({n}, 10), \"d\"]), [1]), \"\", \"0123456789\"), \"\", \"0123456789\"), \"\", \"0123456789\")) > 0",
        small: "1",
        huge: "1000000",
    },
    Runaway {
        name: "strings.replace_n",
        rule: "count(strings.replace_n({\"\": \"0123456789abcdef\"}, sprintf(concat(\"\", [\"%0\", format_int({n}, 10), \"d\"]), [1]))) > 0",
        small: "10",
        huge: "2000000",
    },
    Runaway {
        name: "concat doubling a string",
        rule: "s0 := format_int({n}, 10); s1 := concat(\"\", [s0, s0, s0, s0, s0, s0, s0, s0]); s2 := concat(\"\", [s1, s1, s1, s1, s1, s1, s1, s1]); s3 := concat(\"\", [s2, s2, s2, s2, s2, s2, s2, s2]); s4 := concat(\"\", [s3, s3, s3, s3, s3, s3, s3, s3]); s5 := concat(\"\", [s4, s4, s4, s4, s4, s4, s4, s4]); s6 := concat(\"\", [s5, s5, s5, s5, s5, s5, s5, s5]); s7 := concat(\"\", [s6, s6, s6, s6, s6, s6, s6, s6]); count(s7) > 0",
        small: "1",
        huge: "1000000000",
    },
    Runaway {
        name: "array.concat doubling an array",
        rule: "a0 := numbers.range(1, {n}); a1 := array.concat(a0, a0); a2 := array.concat(a1, a1); a3 := array.concat(a2, a2); a4 := array.concat(a3, a3); a5 := array.concat(a4, a4); a6 := array.concat(a5, a5); a7 := array.concat(a6, a6); a8 := array.concat(a7, a7); a9 := array.concat(a8, a8); a10 := array.concat(a9, a9); count(a10) > 0",
        small: "10",
        huge: "100000",
    },
    Runaway {
        name: "json.marshal of a structure sharing its parts",
        rule: "x0 := [format_int({n}, 10)]; x1 := [x0, x0, x0, x0]; x2 := [x1, x1, x1, x1]; x3 := [x2, x2, x2, x2]; x4 := [x3, x3, x3, x3]; x5 := [x4, x4, x4, x4]; x6 := [x5, x5, x5, x5]; x7 := [x6, x6, x6, x6]; x8 := [x7, x7, x7, x7]; x9 := [x8, x8, x8, x8]; x10 := [x9, x9, x9, x9]; x11 := [x10, x10, x10, x10]; x12 := [x11, x11, x11, x11]; count(json.marshal(x12)) > {n}",
        small: "1",
        huge: "1",
    },
];

/// Every runaway is stopped: the request follows `failure_mode` (deny: the fail-closed 403;
/// allow: upstream), `errors.budget_exceeded` counts it, the VM lives on and serves the next
/// request, and linear memory grows by at most [`BOMB_GROWTH`].
#[test]
fn runaway_policies_are_stopped_by_the_budget() -> anyhow::Result<()> {
    let mut problems = Vec::new();
    for runaway in RUNAWAYS {
        for (mode, over_budget) in [("deny", 403), ("allow", 200)] {
            let rule = runaway.rule.replace("{n}", N);
            let rules = format!("default allow := false\nallow if {{ {rule} }}");
            let mut host = started(&json!({"policy": rego(&rules), "failure_mode": mode}))?;
            // A first, small request sizes the heap for ordinary evaluations.
            let small = send(&mut host, "GET", "/", &[("x-n", runaway.small)])?;
            let before = host.memory_size();
            let started = std::time::Instant::now();
            let huge = send(&mut host, "GET", "/", &[("x-n", runaway.huge)])?;
            let took = started.elapsed();
            let grown = host.memory_size().saturating_sub(before);
            let again = send(&mut host, "GET", "/", &[("x-n", runaway.small)])?;
            let budget = counter(&host, "palisade.rego_authz.errors.budget_exceeded");
            eprintln!(
                "{} (failure_mode {mode}): {small} / {huge} in {took:?} / {again}; memory +{grown} B; budget_exceeded {budget}",
                runaway.name
            );
            let small_expected = if runaway.small == runaway.huge {
                over_budget
            } else {
                200
            };
            if host.vm_failed()
                || small != small_expected
                || huge != over_budget
                || again != small_expected
                || budget < 1
                || grown > BOMB_GROWTH
            {
                problems.push(format!(
                    "{} (failure_mode {mode}): statuses {small}/{huge}/{again}, budget_exceeded {budget}, VM failed {}, memory +{grown} B; log: {:?}",
                    runaway.name,
                    host.vm_failed(),
                    host.logs().iter().rev().take(2).map(|l| l.message.chars().take(300).collect::<String>()).collect::<Vec<_>>()
                ));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    Ok(())
}

/// A bomb that does not depend on the input goes off in the trial evaluation at configure
/// time: the budget stops it there too, the configuration is accepted, and every request then
/// follows the failure mode.
#[test]
fn a_bomb_independent_of_the_input_is_stopped_at_configure() -> anyhow::Result<()> {
    let rules = "default allow := false\nallow if { count(numbers.range(1, 1000000000)) > 0 }";
    let mut host = started(&json!({"policy": rego(rules)}))?;
    assert_eq!(send(&mut host, "GET", "/", &[])?, 403);
    assert!(!host.vm_failed());
    assert_eq!(
        counter(&host, "palisade.rego_authz.errors.budget_exceeded"),
        1
    );
    Ok(())
}

/// `json.unmarshal` of a deeply nested document is an error (undefined in Rego), not a crash.
#[test]
fn deeply_nested_json_is_an_error_not_a_crash() -> anyhow::Result<()> {
    let rules = "default allow := false\nallow if {\n  n := to_number(input.attributes.request.http.headers[\"x-n\"])\n  doc := concat(\"\", [concat(\"\", [\"[\" | some _ in numbers.range(1, n)]), concat(\"\", [\"]\" | some _ in numbers.range(1, n)])])\n  json.unmarshal(doc)\n}";
    let mut host = started(&json!({"policy": rego(rules)}))?;
    assert_eq!(send(&mut host, "GET", "/", &[("x-n", "10")])?, 200);
    assert_eq!(send(&mut host, "GET", "/", &[("x-n", "100000")])?, 403);
    assert!(!host.vm_failed());
    assert_eq!(send(&mut host, "GET", "/", &[("x-n", "10")])?, 200);
    Ok(())
}

/// Recursion: Rego forbids recursive rules and OPA refuses them when it compiles the policy.
/// regorus does not check (a recursive function overflowed the stack in the trial evaluation at
/// configure time, a trap; recursive rules trapped on the first request), so the SDK finds the
/// cycle itself (`palisade_rego::recursion`) and refuses the configuration, naming the rules.
#[test]
fn recursive_policies_are_refused_at_configure() -> anyhow::Result<()> {
    let policies = [
        (
            "data.envoy.authz.loop_a -> data.envoy.authz.loop_b -> data.envoy.authz.loop_a",
            "default allow := false\nallow if { loop_a }\nloop_a if { input.attributes.request.http.method == \"GET\"; loop_b }\nloop_b if { loop_a }",
        ),
        (
            "data.envoy.authz.f -> data.envoy.authz.f",
            "default allow := false\nallow if { f(1) }\nf(x) := y if { y := f(x) }",
        ),
    ];
    for (cycle, rules) in policies {
        let errors = configure(&json!({"policy": rego(rules)}))?
            .err()
            .unwrap_or_default();
        eprintln!("recursion: {errors:?}");
        assert!(
            errors
                .iter()
                .any(|e| e.contains("recursive rules") && e.contains(cycle)),
            "{cycle}: {errors:?}"
        );
    }
    Ok(())
}

/// regorus parses `[`/`{` nesting in time exponential in its depth (found by fuzzing the plugin
/// configuration, `fuzz/`): an unclosed `input.x[[[[...` 20 deep would hold `on_configure`
/// for minutes. Nesting past `palisade_rego::nesting::MAX_DEPTH` is refused at once, with
/// where it happens.
#[test]
fn deep_nesting_is_refused_before_parsing() -> anyhow::Result<()> {
    // Without the check, parsing these 40 levels would outlast any test run (the time about
    // doubles per level): this test would hang, not fail.
    let unclosed = format!("allow if {{ input.x{} }}", "[".repeat(40));
    let errors = configure(&json!({"policy": rego(&unclosed)}))?
        .err()
        .unwrap_or_default();
    assert!(
        errors
            .iter()
            .any(|e| e.contains("policy.rego:3:") && e.contains("nested deeper than 16")),
        "{errors:?}"
    );
    // The rule body's brace and 15 brackets: 16 levels, accepted.
    let nested = format!(
        "allow if {{ input.x == {}1{} }}",
        "[".repeat(15),
        "]".repeat(15)
    );
    let accepted = configure(&json!({"policy": rego(&nested)}))?;
    assert!(accepted.is_ok(), "{:?}", accepted.err());
    Ok(())
}

/// 64 KiB of zeros.
fn chunk() -> Vec<u8> {
    vec![b'0'; 64 << 10]
}

/// Sends `POST /upload` with a 64 MiB body in 64 KiB chunks; returns the status and how much
/// linear memory grew while the body went through.
fn upload(host: &mut Host) -> anyhow::Result<(u32, usize)> {
    let stream = host.new_http_stream_for(ROOT)?;
    let total = 64usize << 20;
    let length = total.to_string();
    host.request_headers(
        stream,
        &[
            (":method", "POST"),
            (":path", "/upload"),
            (":authority", "bounds.test"),
            (":scheme", "http"),
            ("content-type", "application/json"),
            ("content-length", &length),
        ],
        false,
    )?;
    let before = host.memory_size();
    let chunk = chunk();
    let chunks = total / chunk.len();
    for i in 0..chunks {
        host.request_body(stream, &chunk, i + 1 == chunks)?;
        if host.stream(stream)?.local_reply.is_some() {
            break;
        }
    }
    let grown = host.memory_size().saturating_sub(before);
    Ok((finish(host, stream)?, grown))
}

/// With `with_body`, a body far over `max_body_bytes` is decided on its first
/// `max_body_bytes` (`truncated_body: true`) and then passes through: the filter's memory
/// grows by at most a small multiple of `max_body_bytes`. Without `with_body` the body is never
/// read.
#[test]
fn bodies_far_over_max_body_bytes_are_not_buffered() -> anyhow::Result<()> {
    let max = 65536usize;
    let rules = "default allow := false\nallow if { input.truncated_body; count(input.attributes.request.http.body) == 65536 }";
    let mut host = started(&json!({
        "policy": rego(rules),
        "with_body": true,
        "max_body_bytes": max,
    }))?;
    // Warm up with a body of exactly max_body_bytes (not truncated: denied).
    let warm = host.new_http_stream_for(ROOT)?;
    host.request_headers(
        warm,
        &[
            (":method", "POST"),
            (":path", "/"),
            (":authority", "b"),
            (":scheme", "http"),
        ],
        false,
    )?;
    host.request_body(warm, &vec![b'0'; max], true)?;
    assert_eq!(finish(&mut host, warm)?, 403);
    let (status, grown) = upload(&mut host)?;
    eprintln!("with_body, max_body_bytes {max}: 64 MiB body -> {status}; linear memory +{grown} B");
    assert_eq!(
        status, 200,
        "the policy saw a truncated body of max_body_bytes"
    );
    assert!(grown <= 8 * max, "linear memory grew by {grown} B");
    assert!(!host.vm_failed());

    let rules = "default allow := false\nallow if { not input.attributes.request.http.body; not input.truncated_body }";
    let mut host = started(&json!({"policy": rego(rules)}))?;
    send(&mut host, "GET", "/", &[])?;
    let (status, grown) = upload(&mut host)?;
    eprintln!("without with_body: 64 MiB body -> {status}; linear memory +{grown} B");
    assert_eq!(status, 200, "the policy saw no body");
    assert_eq!(grown, 0);
    Ok(())
}

/// Calls that panicked in regorus 0.14.1 on values a request can carry (found by the `builtins`
/// fuzz target and a review of regorus, docs/RELIABILITY.md), each a trap of the compiled filter
/// (`panic = "abort"`) that left every later request of the VM with a 503. Now each is answered
/// (undefined, or OPA's value), and the VM serves the next request.
#[test]
fn calls_that_panicked_in_regorus_do_not_trap_the_vm() -> anyhow::Result<()> {
    let json_path = vec!["a"; 5000].join("/");
    let glob = format!("{}a{}", "{".repeat(300), "}".repeat(300));
    let calls: [(&str, serde_json::Value); 14] = [
        ("strings.count(a[0], a[1])", json!(["abc", ""])),
        ("object.subset(a[0], a[1])", json!([[1, 2], []])),
        ("object.subset(a[0], a[1])", json!([{"a": [1]}, {"a": []}])),
        (
            "regex.template_match(a[0], a[1], a[2], a[3])",
            json!(["urn:foo:{.*}", "u", "{", "}"]),
        ),
        ("time.parse_duration_ns(a[0])", json!(["1µ"])),
        ("time.parse_ns(a[0], a[1])", json!(["é", "é"])),
        ("time.format(a[0])", json!([[0, "UTC", "é"]])),
        ("sprintf(a[0], a[1])", json!(["%²d", [1]])),
        ("numbers.range_step(a[0], a[1], a[2])", json!([1, 5, 0])),
        ("numbers.range(a[0], a[1])", json!([0, i64::MIN])),
        ("glob.match(a[0], null, a[1])", json!([glob, "a"])),
        ("json.filter(a[0], a[1])", json!([{"a": 1}, [json_path]])),
        ("upper(units.parse(a[0]))", json!(["1e400"])),
        ("units.parse(a[0])", json!(["1e100000000"])),
    ];
    let mut problems = Vec::new();
    for (call, args) in calls {
        let rules = format!(
            "default allow := false\n\
             allow if {{\n  a := json.unmarshal(input.attributes.request.http.headers[\"x-args\"])\n  {call} != \"never\"\n}}\n\
             allow if input.attributes.request.http.headers[\"x-args\"] == \"ok\""
        );
        for interpreter in [false, true] {
            // An io.jwt call anywhere sends the policy to the interpreter.
            let rules = match interpreter {
                true => format!("{rules}\nunused if io.jwt.decode(\"x\")"),
                false => rules.clone(),
            };
            let mut host = started(&json!({"policy": rego(&rules)}))?;
            let answered = send(&mut host, "GET", "/", &[("x-args", &args.to_string())])?;
            let after = send(&mut host, "GET", "/", &[("x-args", "ok")])?;
            let shown: String = args.to_string().chars().take(60).collect();
            eprintln!("{call} {shown}: {answered}, then {after} (interpreter: {interpreter})");
            if host.vm_failed() || after != 200 {
                problems.push(format!(
                    "{call} with {shown} (interpreter: {interpreter}): VM failed {}, next request {after}",
                    host.vm_failed()
                ));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    Ok(())
}
