//! Failure policies when a callback traps: FailClosed, FailOpen, Reload.

use std::time::Duration;

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
    // The SDK's panic hook logged the panic, as a line of the plugin's; the host logged the trap
    // in its own log, as Envoy does, not among the plugin's lines.
    assert!(host
        .log_messages(LogLevel::Critical)
        .iter()
        .any(|m| m.contains("probe trap")));
    assert!(!host
        .log_messages_from(LogLevel::Trace)
        .iter()
        .any(|m| m.starts_with("wasm trap")));
    assert!(host
        .host_logs()
        .iter()
        .any(|l| l.level == LogLevel::Error && l.message.starts_with("wasm trap")));
    let from_error = host.log_messages_from(LogLevel::Error);
    assert!(
        host.log_messages_from(LogLevel::Critical).len() <= from_error.len(),
        "a higher level keeps fewer lines"
    );
    let later = host.new_http_stream()?;
    assert_eq!(host.request_headers(later, &get(""), true)?, Action::Ended);
    assert_eq!(
        host.stream(later)?.local_reply.as_ref().map(|r| r.status),
        Some(503)
    );
    Ok(())
}

#[test]
fn fail_open_fails_the_trapping_stream_and_skips_the_plugin_later() -> anyhow::Result<()> {
    let mut host = host(FailurePolicy::FailOpen)?;
    let s = host.new_http_stream()?;
    // Envoy answers 503 for the stream whose callback trapped, whatever the policy.
    assert_eq!(host.request_headers(s, &get("trap"), false)?, Action::Ended);
    assert_eq!(
        host.stream(s)?.local_reply.as_ref().map(|r| r.status),
        Some(503)
    );
    let later = host.new_http_stream()?;
    assert_eq!(
        host.request_headers(later, &get("mutate"), false)?,
        Action::Continue
    );
    assert!(host.stream(later)?.skipped);
    assert_eq!(
        host.stream(later)?.request_headers.get("x-added"),
        None,
        "plugin skipped"
    );
    assert_eq!(host.request_body(later, b"passes", true)?, Action::Continue);
    assert_eq!(host.stream(later)?.request_body, b"passes");
    assert_eq!(host.metric("probe_requests"), Some(MetricValue::Counter(1)));
    Ok(())
}

#[test]
fn reload_gives_a_fresh_vm_for_later_streams() -> anyhow::Result<()> {
    let mut host = host(FailurePolicy::Reload)?;
    // The VM was loaded long enough ago: the first stream after the trap gets a fresh VM.
    host.advance_time(Duration::from_secs(1))?;
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
    assert_eq!(host.metric("probe_requests"), Some(MetricValue::Counter(2)));
    assert_eq!(host.stream(later)?.vm_generation, 1);
    Ok(())
}

#[test]
fn reload_waits_for_the_backoff_since_the_last_load() -> anyhow::Result<()> {
    let mut host = HostBuilder::from_file(probe())
        .plugin(
            PluginConfig::new("http")
                .failure_policy(FailurePolicy::Reload)
                .reload_backoff(Duration::from_millis(200)),
        )
        .build()?;
    assert!(host.start()?.ok());
    let s = host.new_http_stream()?;
    host.request_headers(s, &get("trap"), true)?;
    // 100 ms after the load: still failed, 503 without a reload.
    host.advance_time(Duration::from_millis(100))?;
    let early = host.new_http_stream()?;
    assert_eq!(
        host.request_headers(early, &get("mutate"), true)?,
        Action::Ended
    );
    assert_eq!(
        host.stream(early)?.local_reply.as_ref().map(|r| r.status),
        Some(503)
    );
    assert_eq!(host.reloads(), 0);
    host.advance_time(Duration::from_millis(100))?;
    let later = host.new_http_stream()?;
    assert_eq!(host.reloads(), 1);
    host.request_headers(later, &get("mutate"), true)?;
    assert_eq!(
        host.stream(later)?.request_headers.get("x-added"),
        Some("1")
    );
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
