//! Virtual time: proxy_get_current_time_nanoseconds, WASI clocks, tick periods and on_tick.

use std::time::Duration;

use palisade_harness::{HostBuilder, LogLevel, MetricValue, PluginConfig};

use crate::support::{get, probe};

#[test]
fn clocks_read_the_virtual_time() -> anyhow::Result<()> {
    let mut host = HostBuilder::from_file(probe())
        .plugin(PluginConfig::new("http"))
        .build()?;
    assert!(host.start()?.ok());
    host.advance_time(Duration::from_millis(1500))?;
    let s = host.new_http_stream()?;
    host.request_headers(s, &get("time"), true)?;
    let want = (1_704_067_200_000_000_000u64 + 1_500_000_000).to_string();
    let h = &host.stream(s)?.request_headers;
    assert_eq!(h.get("x-time-host"), Some(want.as_str()));
    assert_eq!(h.get("x-time-wasi"), Some(want.as_str()));
    Ok(())
}

#[test]
fn ticks_fire_once_per_period() -> anyhow::Result<()> {
    let mut host = HostBuilder::from_file(probe())
        .plugin(PluginConfig::new("http").configuration("tick=100"))
        .build()?;
    assert!(host.start()?.ok());
    assert_eq!(host.tick_period("http")?, Some(Duration::from_millis(100)));
    host.advance_time(Duration::from_millis(99))?;
    assert_eq!(host.metric("probe_ticks"), Some(MetricValue::Counter(0)));
    host.advance_time(Duration::from_millis(251))?;
    assert_eq!(host.metric("probe_ticks"), Some(MetricValue::Counter(3)));
    // Each tick sees the clock at its own due time.
    let ticks: Vec<_> = host
        .log_messages(LogLevel::Info)
        .into_iter()
        .filter(|m| m.starts_with("tick at"))
        .collect();
    let base = 1_704_067_200_000_000_000u64;
    assert_eq!(
        ticks,
        [100, 200, 300]
            .iter()
            .map(|ms| format!("tick at {}", base + ms * 1_000_000))
            .collect::<Vec<_>>()
    );
    assert_eq!(host.elapsed(), Duration::from_millis(350));
    Ok(())
}

#[test]
fn no_tick_without_period_unless_forced() -> anyhow::Result<()> {
    let mut host = HostBuilder::from_file(probe())
        .plugin(PluginConfig::new("http"))
        .build()?;
    assert!(host.start()?.ok());
    assert_eq!(host.tick_period("http")?, None);
    host.advance_time(Duration::from_secs(10))?;
    assert_eq!(host.metric("probe_ticks"), Some(MetricValue::Counter(0)));
    host.tick("http")?;
    assert_eq!(host.metric("probe_ticks"), Some(MetricValue::Counter(1)));
    Ok(())
}
