//! Fault injection: a named host function answers a status or traps instead of doing its work, for
//! every call or the next n; the host counts (and optionally logs) every host call the plugin makes.

use palisade_harness::{Action, FailurePolicy, Fault, HostBuilder, LogLevel, PluginConfig, Status};

use crate::support::{get, probe, probe_host};

fn header(host: &palisade_harness::Host, s: palisade_harness::StreamId, name: &str) -> String {
    host.stream(s)
        .ok()
        .and_then(|st| st.request_headers.get(name).map(str::to_string))
        .unwrap_or_default()
}

#[test]
fn a_status_fault_replaces_the_call() -> anyhow::Result<()> {
    let mut host = probe_host()?;
    host.inject_fault("proxy_get_metric", Fault::Status(Status::NotFound));
    host.inject_fault("proxy_http_call", Fault::Status(Status::BadArgument));
    let s = host.new_http_stream()?;
    host.request_headers(s, &get("metrics"), true)?;
    assert_eq!(header(&host, s, "x-metric-requests"), "Err(NotFound)");
    // A ten-argument host function goes through the same gate.
    let s = host.new_http_stream()?;
    assert_eq!(
        host.request_headers(s, &get("callout"), true)?,
        Action::Continue
    );
    assert_eq!(header(&host, s, "x-callout-error"), "BadArgument");
    assert!(host.pending_http_callouts().is_empty());
    assert_eq!(host.faults_fired(), 2);
    Ok(())
}

#[test]
fn a_counted_fault_fires_only_for_the_next_calls() -> anyhow::Result<()> {
    let mut host = probe_host()?;
    host.inject_fault_times(
        "proxy_get_metric",
        Fault::Status(Status::InternalFailure),
        1,
    );
    let first = host.new_http_stream()?;
    host.request_headers(first, &get("metrics"), true)?;
    let second = host.new_http_stream()?;
    host.request_headers(second, &get("metrics"), true)?;
    // The probe uses the proxy-wasm crate, which reports INTERNAL_FAILURE by panicking: the first
    // stream trapped; nothing else was affected by the fault but the VM is failed (FailClosed).
    assert_eq!(host.faults_fired(), 1);
    assert!(host.vm_failed());
    Ok(())
}

#[test]
fn a_counted_fault_then_the_call_works_again() -> anyhow::Result<()> {
    let mut host = probe_host()?;
    host.inject_fault_times("proxy_get_metric", Fault::Status(Status::NotFound), 2);
    let mut seen = Vec::new();
    for _ in 0..3 {
        let s = host.new_http_stream()?;
        host.request_headers(s, &get("metrics"), true)?;
        seen.push(header(&host, s, "x-metric-requests"));
    }
    assert_eq!(seen[..2], ["Err(NotFound)", "Err(NotFound)"]);
    assert!(seen[2].starts_with("Ok("), "{seen:?}");
    host.inject_fault("proxy_get_metric", Fault::Status(Status::NotFound));
    host.clear_faults();
    let s = host.new_http_stream()?;
    host.request_headers(s, &get("metrics"), true)?;
    assert!(header(&host, s, "x-metric-requests").starts_with("Ok("));
    Ok(())
}

#[test]
fn a_trap_fault_fails_the_callback_under_the_plugins_policy() -> anyhow::Result<()> {
    let mut host = HostBuilder::from_file(probe())
        .plugin(PluginConfig::new("http").failure_policy(FailurePolicy::FailOpen))
        .build()?;
    assert!(host.start()?.ok());
    host.inject_fault_times("proxy_increment_metric", Fault::Trap, 1);
    let s = host.new_http_stream()?;
    assert_eq!(host.request_headers(s, &get(""), true)?, Action::Ended);
    assert_eq!(
        host.stream(s)?.local_reply.as_ref().map(|r| r.status),
        Some(503)
    );
    assert!(host.vm_failed());
    assert!(host.host_logs().iter().any(|l| l
        .message
        .contains("injected fault: proxy_increment_metric trapped")));
    // FailOpen: later streams skip the failed plugin.
    let later = host.new_http_stream()?;
    assert_eq!(
        host.request_headers(later, &get(""), true)?,
        Action::Continue
    );
    assert!(host.stream(later)?.skipped);
    Ok(())
}

#[test]
fn a_fault_armed_in_the_builder_applies_from_the_start() -> anyhow::Result<()> {
    let mut host = HostBuilder::from_file(probe())
        .vm_configuration("vm-config")
        .plugin(PluginConfig::new("http").configuration("plugin-config"))
        .fault("proxy_get_buffer_bytes", Fault::Status(Status::NotFound))
        .build()?;
    // The probe reads both configurations as "none" and starts anyway.
    assert!(host.start()?.ok());
    let infos = host.log_messages(LogLevel::Info);
    assert!(infos.contains(&"vm_start: "), "{infos:?}");
    assert!(infos.contains(&"configure: "), "{infos:?}");
    assert_eq!(host.faults_fired(), 2);
    // The proxy-wasm crate panics on any failed metric definition: the trap names the fault.
    let mut host = HostBuilder::from_file(probe())
        .fault(
            "proxy_define_metric",
            Fault::Status(Status::InternalFailure),
        )
        .build()?;
    let err = host.start().expect_err("the probe traps");
    assert!(err.to_string().contains("proxy_on_configure"), "{err}");
    Ok(())
}

#[test]
fn wasi_functions_get_an_errno() -> anyhow::Result<()> {
    let mut host = probe_host()?;
    // `println!` panics when the write fails: the errno reached the guest.
    host.inject_fault("fd_write", Fault::Status(Status::BadArgument));
    let s = host.new_http_stream()?;
    assert_eq!(host.request_headers(s, &get("log"), true)?, Action::Ended);
    assert!(host.vm_failed());
    assert!(host
        .log_messages(LogLevel::Critical)
        .iter()
        .any(|m| m.contains("failed printing to stdout")));
    Ok(())
}

#[test]
fn host_calls_are_counted_and_logged_per_context() -> anyhow::Result<()> {
    let mut host = HostBuilder::from_file(probe())
        .plugin(PluginConfig::new("http"))
        .record_host_calls()
        .build()?;
    assert!(host.start()?.ok());
    let at_start = host.take_host_calls();
    assert!(at_start
        .iter()
        .any(|c| c.name == "proxy_define_metric" && c.context_id == 1));
    assert!(host
        .host_call_counts()
        .contains_key("proxy_get_buffer_bytes"));
    host.reset_host_call_counts();
    host.inject_fault("proxy_get_metric", Fault::Status(Status::NotFound));
    let s = host.new_http_stream()?;
    host.request_headers(s, &get("metrics"), true)?;
    let counts = host.host_call_counts();
    assert_eq!(counts.get("proxy_get_metric"), Some(&1));
    assert!(counts.contains_key("proxy_get_header_map_value"));
    assert!(!counts.contains_key("proxy_define_metric"));
    let calls = host.take_host_calls();
    let faulted: Vec<_> = calls.iter().filter(|c| c.fault.is_some()).collect();
    assert_eq!(faulted.len(), 1);
    assert_eq!(faulted[0].name, "proxy_get_metric");
    assert_eq!(faulted[0].context_id, s.0);
    assert!(calls.iter().all(|c| c.context_id == s.0));
    assert!(host.take_host_calls().is_empty());
    host.record_host_calls(false);
    let s = host.new_http_stream()?;
    host.request_headers(s, &get(""), true)?;
    assert!(host.take_host_calls().is_empty());
    Ok(())
}

#[test]
fn faults_survive_a_reload_and_counted_ones_are_used_up() -> anyhow::Result<()> {
    let mut host = HostBuilder::from_file(probe())
        .plugin(
            PluginConfig::new("http")
                .failure_policy(FailurePolicy::Reload)
                .reload_backoff(std::time::Duration::ZERO),
        )
        .build()?;
    assert!(host.start()?.ok());
    host.inject_fault_times("proxy_increment_metric", Fault::Trap, 1);
    let s = host.new_http_stream()?;
    assert_eq!(host.request_headers(s, &get(""), true)?, Action::Ended);
    assert!(host.vm_failed());
    let later = host.new_http_stream()?;
    assert_eq!(
        host.request_headers(later, &get(""), true)?,
        Action::Continue
    );
    assert_eq!(host.reloads(), 1);
    assert_eq!(host.faults_fired(), 1);
    Ok(())
}
