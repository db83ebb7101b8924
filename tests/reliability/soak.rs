//! Soaks: rego-authz with the RBAC example policy decides hundreds of thousands of requests
//! (allowed and denied, varied paths and headers, decision events drained to a sink) and its
//! memory stays flat: the VM's linear memory in the harness, Envoy's resident set in Envoy.
//!
//! `PALISADE_SOAK_REQUESTS` (default 200000) and `PALISADE_ENVOY_SOAK_REQUESTS` (default 20000)
//! set the request counts.

use std::time::Instant;

use palisade_harness::{FailurePolicy, Host, HttpResponse, LogLevel};
use palisade_testkit::echo::EchoServer;
use palisade_testkit::envoy::{self, Envoy};
use serde_json::{json, Value};

use crate::support::{builder, counter, ROOT};

/// Requests before the first measurement: the heap reaches its working size.
const WARM_UP: usize = 10_000;

/// Linear memory may grow by at most this much between the end of the warm-up and the end.
const HARNESS_GROWTH: usize = 1 << 20;

/// Envoy's resident set may grow by at most this much after its warm-up.
const ENVOY_GROWTH_KB: u64 = 16 << 10;

fn count(variable: &str, default: usize) -> usize {
    std::env::var(variable)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The RBAC example (examples/rego/rbac) as a plugin configuration.
fn rbac() -> Value {
    let dir = palisade_testkit::workspace::root().join("examples/rego/rbac");
    let policy = std::fs::read_to_string(dir.join("policy.rego")).unwrap();
    let data: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("data.json")).unwrap()).unwrap();
    json!({"policies": {"policy.rego": policy}, "data": data})
}

/// The `i`th request of a soak: method, path, role (varied: public reads, granted and refused
/// roles, unknown roles) and whether RBAC allows it.
fn request(i: usize) -> (&'static str, String, Option<&'static str>, bool) {
    let id = i % 997;
    match i % 6 {
        0 => ("GET", format!("/public/page-{id}"), None, true),
        1 => ("GET", format!("/orders/{id}"), Some("clerk"), true),
        2 => ("DELETE", format!("/orders/{id}"), Some("clerk"), false),
        3 => (
            "DELETE",
            format!("/orders/{id}?force=1"),
            Some("admin"),
            true,
        ),
        4 => ("POST", format!("/admin/users/{id}"), Some("clerk"), false),
        _ => ("GET", format!("/admin/{id}"), Some("intern"), false),
    }
}

/// Fires the flush timer and answers sink calls `200` until none is pending (after a success
/// the filter sends the next full batch at once).
fn drain_events(host: &mut Host) -> anyhow::Result<()> {
    host.tick(ROOT)?;
    while !host
        .respond_pending_http_callouts(&HttpResponse::new(200))?
        .is_empty()
    {}
    Ok(())
}

fn send(host: &mut Host, i: usize) -> anyhow::Result<()> {
    let (method, path, role, allowed) = request(i);
    let stream = host.new_http_stream_for(ROOT)?;
    let user = format!("user-{}", i % 101);
    let mut headers = vec![
        (":method", method),
        (":path", path.as_str()),
        (":authority", "orders.test"),
        (":scheme", "http"),
        ("x-user", user.as_str()),
        ("authorization", "Bearer soak"),
    ];
    if let Some(role) = role {
        headers.push(("x-role", role));
    }
    host.request_headers(stream, &headers, true)?;
    let status = match &host.stream(stream)?.local_reply {
        Some(reply) => reply.status,
        None => {
            host.response_headers(stream, &[(":status", "200")], true)?;
            200
        }
    };
    anyhow::ensure!(
        (status == 200) == allowed,
        "request {i} ({method} {path} as {role:?}) got {status}"
    );
    host.finish_stream(stream)?;
    Ok(())
}

#[test]
fn linear_memory_stays_flat_over_a_harness_soak() -> anyhow::Result<()> {
    let total = count("PALISADE_SOAK_REQUESTS", 200_000).max(WARM_UP + 1);
    let mut configuration = rbac();
    configuration["events"] = json!({
        "sink_cluster": "sink",
        "include_headers": ["x-role", "x-user", "authorization"],
    });
    let mut host = builder("rego-authz", &configuration, FailurePolicy::FailClosed)
        .log_level(LogLevel::Info)
        .build()?;
    anyhow::ensure!(host.start()?.ok(), "rejected: {:?}", host.logs());
    let started = Instant::now();
    let mut warm = 0;
    for i in 0..total {
        send(&mut host, i)?;
        if i % 500 == 499 {
            drain_events(&mut host)?;
        }
        if i + 1 == WARM_UP {
            warm = host.memory_size();
        }
    }
    drain_events(&mut host)?;
    let end = host.memory_size();
    let took = started.elapsed();
    let calls = host.http_callouts().len();
    eprintln!(
        "harness soak: {total} requests in {took:?} ({:.1} µs/request); linear memory after \
         {WARM_UP}: {warm} B, at the end: {end} B ({:+} B); {calls} sink calls",
        took.as_secs_f64() * 1e6 / total as f64,
        end as i64 - warm as i64,
    );
    assert!(!host.vm_failed());
    assert!(
        end <= warm + HARNESS_GROWTH,
        "linear memory grew from {warm} to {end} B"
    );
    let delivered = counter(&host, "palisade.rego_authz.events.delivered");
    let dropped: u64 = host
        .metrics()
        .into_iter()
        .filter(|(name, _)| name.starts_with("palisade.rego_authz.events.dropped."))
        .map(|(name, _)| counter(&host, &name))
        .sum();
    eprintln!("harness soak: events delivered {delivered}, dropped {dropped}");
    assert_eq!((delivered, dropped), (total as u64, 0));
    let errors = host.metric("palisade.rego_authz.errors");
    assert!(
        matches!(errors, Some(palisade_harness::MetricValue::Counter(0))),
        "{errors:?}"
    );
    Ok(())
}

/// Envoy's `VmRSS` in kB.
fn rss_kb(pid: u32) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .ok_or_else(|| anyhow::anyhow!("no VmRSS for {pid}"))
}

#[test]
fn envoy_memory_stays_flat_over_a_soak() -> anyhow::Result<()> {
    let total = count("PALISADE_ENVOY_SOAK_REQUESTS", 20_000);
    let warm_up = (total / 10).max(1);
    let upstream = EchoServer::start()?;
    let wasm = crate::support::wasm("rego-authz");
    let bootstrap = envoy::render_file(
        &palisade_testkit::workspace::envoy_config("rego-authz.yaml"),
        &[
            ("UPSTREAM_PORT", &upstream.port().to_string()),
            ("WASM_PATH", &wasm.to_string_lossy()),
        ],
    )?;
    let bootstrap = envoy::with_plugin_configuration(&bootstrap, "rego-authz", &rbac())?;
    let envoy = Envoy::start(&bootstrap)?;
    let listener = envoy.listener("ingress")?;
    // One agent: one keep-alive connection reused for every request.
    let agent = envoy::http_client();
    let started = Instant::now();
    let mut warm = 0;
    for i in 0..total {
        let (method, path, role, allowed) = request(i);
        let mut request = ureq::http::Request::builder()
            .method(method)
            .uri(format!("http://{listener}{path}"))
            .header("x-user", format!("user-{}", i % 101));
        if let Some(role) = role {
            request = request.header("x-role", role);
        }
        let mut response = agent.run(request.body(())?)?;
        let status = response.status().as_u16();
        response.body_mut().read_to_vec()?;
        anyhow::ensure!(
            (status == 200) == allowed,
            "request {i} ({method} {path} as {role:?}) got {status}"
        );
        if i + 1 == warm_up {
            warm = rss_kb(envoy.pid())?;
        }
    }
    let end = rss_kb(envoy.pid())?;
    let took = started.elapsed();
    eprintln!(
        "Envoy soak: {total} requests in {took:?}; Envoy VmRSS after {warm_up}: {warm} kB, \
         at the end: {end} kB ({:+} kB)",
        end as i64 - warm as i64
    );
    assert!(
        end <= warm + ENVOY_GROWTH_KB,
        "Envoy's RSS grew from {warm} kB to {end} kB"
    );
    Ok(())
}
