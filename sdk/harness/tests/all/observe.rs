//! Logs (proxy_log, stdout/stderr, log level), metrics, foreign functions.

use palisade_harness::{HostBuilder, LogLevel, MetricValue, PluginConfig, Status};

use crate::support::{get, probe, probe_host};

#[test]
fn logs_by_level_and_stdio() -> anyhow::Result<()> {
    let mut host = probe_host()?;
    let s = host.new_http_stream()?;
    host.request_headers(s, &get("log"), true)?;
    assert_eq!(host.log_messages(LogLevel::Trace), vec!["trace message"]);
    assert_eq!(host.log_messages(LogLevel::Debug), vec!["debug message"]);
    assert_eq!(host.log_messages(LogLevel::Warn), vec!["warn message"]);
    assert_eq!(
        host.log_messages(LogLevel::Critical),
        vec!["critical message"]
    );
    // stdout is INFO, stderr is ERROR (WASI fd_write).
    assert!(host.log_messages(LogLevel::Info).contains(&"stdout line"));
    assert_eq!(
        host.log_messages(LogLevel::Error),
        vec!["error message", "stderr line"]
    );
    assert!(host
        .logs()
        .iter()
        .filter(|l| l.message == "stdout line")
        .all(|l| l.context_id == s.0));
    assert_eq!(
        host.stream(s)?.request_headers.get("x-log-level"),
        Some("Ok(Trace)")
    );
    Ok(())
}

#[test]
fn log_level_filters_and_is_reported() -> anyhow::Result<()> {
    let mut host = HostBuilder::from_file(probe())
        .plugin(PluginConfig::new("http"))
        .log_level(LogLevel::Warn)
        .build()?;
    assert!(host.start()?.ok());
    let s = host.new_http_stream()?;
    host.request_headers(s, &get("log"), true)?;
    assert!(host.log_messages(LogLevel::Info).is_empty());
    assert_eq!(host.log_messages(LogLevel::Warn), vec!["warn message"]);
    assert_eq!(
        host.stream(s)?.request_headers.get("x-log-level"),
        Some("Ok(Warn)")
    );
    Ok(())
}

#[test]
fn metrics_define_record_increment_get() -> anyhow::Result<()> {
    let mut host = probe_host()?;
    for _ in 0..2 {
        let s = host.new_http_stream()?;
        host.request_headers(s, &get("metrics"), true)?;
    }
    assert_eq!(host.metric("probe_requests"), Some(MetricValue::Counter(2)));
    assert_eq!(host.metric("probe_gauge"), Some(MetricValue::Gauge(40)));
    assert_eq!(
        host.metric("probe_histogram"),
        Some(MetricValue::Histogram(vec![7, 7]))
    );
    assert_eq!(host.metric("probe_ticks"), Some(MetricValue::Counter(0)));
    assert_eq!(host.metrics().len(), 4);
    Ok(())
}

#[test]
fn metric_reads_and_bad_increments_report_status() -> anyhow::Result<()> {
    let mut host = probe_host()?;
    let s = host.new_http_stream()?;
    host.request_headers(s, &get("metrics"), true)?;
    let h = &host.stream(s)?.request_headers;
    assert_eq!(h.get("x-metric-requests"), Some("Ok(1)"));
    assert_eq!(h.get("x-metric-negative"), Some("Err(BadArgument)"));
    Ok(())
}

#[test]
fn foreign_functions() -> anyhow::Result<()> {
    let mut host = HostBuilder::from_file(probe())
        .plugin(PluginConfig::new("http"))
        .foreign_function("echo", |args| {
            let mut out = b"echo:".to_vec();
            out.extend_from_slice(args);
            Ok(out)
        })
        .foreign_function("refuse", |_| Err(Status::BadArgument))
        .build()?;
    assert!(host.start()?.ok());
    let s = host.new_http_stream()?;
    host.request_headers(s, &get("foreign"), true)?;
    let h = &host.stream(s)?.request_headers;
    assert_eq!(h.get("x-foreign"), Some("echo:ping"));
    assert_eq!(h.get("x-foreign-missing"), Some("Err(NotFound)"));
    Ok(())
}
