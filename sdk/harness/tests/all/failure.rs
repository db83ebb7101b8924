//! Failure policies when a callback traps: FailClosed, FailOpen, Reload.

use palisade_harness::{Action, FailurePolicy, HostBuilder, LogLevel, MetricValue, PluginConfig};

use crate::support::{get, probe};

fn host(policy: FailurePolicy) -> anyhow::Result<palisade_harness::Host> {
    let mut host = HostBuilder::from_file(probe())
        .plugin(PluginConfig::new("http").failure_policy(policy))
        .build()?;
    assert!(host.start()?.ok());
    Ok(host)
}

#[test]
fn fail_closed_gives_503_now_and_later() -> anyhow::Result<()> {
    let mut host = host(FailurePolicy::FailClosed)?;
    let s = host.new_http_stream()?;
    assert_eq!(host.request_headers(s, &get("trap"), true)?, Action::Ended);
    let reply = host.stream(s)?.local_reply.clone().expect("503");
    assert_eq!(reply.status, 503);
    assert!(host.vm_failed());
    // The SDK's panic hook logged the panic; the host logged the trap.
    assert!(host
        .log_messages(LogLevel::Critical)
        .iter()
        .any(|m| m.contains("probe trap")));
    assert!(host
        .log_messages(LogLevel::Critical)
        .iter()
        .any(|m| m.starts_with("wasm trap")));
    let later = host.new_http_stream()?;
    assert_eq!(host.request_headers(later, &get(""), true)?, Action::Ended);
    assert_eq!(
        host.stream(later)?.local_reply.as_ref().map(|r| r.status),
        Some(503)
    );
    Ok(())
}

#[test]
fn fail_open_skips_the_plugin() -> anyhow::Result<()> {
    let mut host = host(FailurePolicy::FailOpen)?;
    let s = host.new_http_stream()?;
    assert_eq!(
        host.request_headers(s, &get("trap"), false)?,
        Action::Continue
    );
    assert!(host.stream(s)?.local_reply.is_none());
    assert!(host.stream(s)?.skipped);
    assert_eq!(host.request_body(s, b"passes", true)?, Action::Continue);
    assert_eq!(host.stream(s)?.request_body, b"passes");
    let later = host.new_http_stream()?;
    assert_eq!(
        host.request_headers(later, &get("mutate"), true)?,
        Action::Continue
    );
    assert_eq!(
        host.stream(later)?.request_headers.get("x-added"),
        None,
        "plugin skipped"
    );
    assert_eq!(
        host.metric("probe_requests"),
        Some(&MetricValue::Counter(1))
    );
    Ok(())
}

#[test]
fn reload_gives_a_fresh_vm_for_later_streams() -> anyhow::Result<()> {
    let mut host = host(FailurePolicy::Reload)?;
    let s = host.new_http_stream()?;
    host.request_body(s, b"", false).ok();
    assert_eq!(host.request_headers(s, &get("trap"), true)?, Action::Ended);
    assert_eq!(
        host.stream(s)?.local_reply.as_ref().map(|r| r.status),
        Some(503)
    );
    assert!(host.vm_failed());
    let later = host.new_http_stream()?;
    assert_eq!(host.reloads(), 1);
    assert!(!host.vm_failed());
    assert_eq!(
        host.request_headers(later, &get("mutate"), true)?,
        Action::Continue
    );
    assert_eq!(
        host.stream(later)?.request_headers.get("x-added"),
        Some("1")
    );
    // Host-side state outlives the VM: the counter keeps counting across the reload.
    assert_eq!(
        host.metric("probe_requests"),
        Some(&MetricValue::Counter(2))
    );
    assert_eq!(host.stream(later)?.vm_generation, 1);
    Ok(())
}

#[test]
fn trap_in_body_callback() -> anyhow::Result<()> {
    let mut host = host(FailurePolicy::FailClosed)?;
    let s = host.new_http_stream()?;
    host.request_headers(s, &get("trap-body"), false)?;
    assert_eq!(host.request_body(s, b"x", true)?, Action::Ended);
    assert_eq!(
        host.stream(s)?.local_reply.as_ref().map(|r| r.status),
        Some(503)
    );
    Ok(())
}
