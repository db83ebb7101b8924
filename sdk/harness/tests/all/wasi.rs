//! The WASI imports Envoy provides: clocks, random, environment, args, stdio, refused file calls, exit.

use std::time::Duration;

use palisade_harness::{HarnessError, HostBuilder, LogLevel, PluginConfig};

use crate::support::{get, probe, raw, reports};

#[test]
fn wasi_calls() -> anyhow::Result<()> {
    let host = HostBuilder::from_file(raw())
        .plugin(PluginConfig::new("raw").configuration("wasi"))
        .env("RAW_A", "1")
        .env("RAW_B", "two")
        .random_seed(42)
        .build();
    let mut host = host?;
    assert!(host.start()?.ok());
    let r = reports(&host);
    assert_eq!(r["clock_realtime"], "0:1704067200000000000");
    assert!(
        monotonic_nanos(&r["clock_monotonic"])? < 10_000_000_000,
        "{r:?}"
    );
    assert_eq!(r["clock_unknown"], "58");
    assert_eq!(r["clock_bad_pointer"], "21");
    assert_eq!(r["clock_res"], "0:1");
    assert_eq!(r["random"], "0");
    assert_eq!(r["random_bytes"].len(), 32);
    assert_ne!(r["random_bytes"], "0".repeat(32));
    assert_eq!(r["random_too_big"], "28");
    assert_eq!(r["random_bad_pointer"], "21");
    assert_eq!(r["environ_sizes"], "0:2:18");
    assert_eq!(r["environ_get"], "0");
    assert_eq!(r["environ"], "RAW_A=1|RAW_B=two|");
    assert_eq!(r["environ_bad_pointer"], "21");
    assert_eq!(r["args_sizes"], "0:0:0");
    assert_eq!(r["args_get"], "0");
    assert_eq!(r["fd_write_stdout"], "0:13");
    assert_eq!(r["fd_write_stderr"], "0");
    assert_eq!(r["fd_write_bad_fd"], "8");
    assert_eq!(r["fd_write_bad_iovec"], "21");
    assert_eq!(r["fd_read"], "52");
    assert_eq!(r["fd_seek"], "70");
    assert_eq!(r["fd_close"], "8");
    assert_eq!(r["fd_fdstat_get"], "0:2");
    assert_eq!(r["fd_fdstat_get_bad_fd"], "8");
    assert_eq!(r["fd_fdstat_set_flags"], "52");
    assert_eq!(r["fd_prestat_get"], "8");
    assert_eq!(r["fd_prestat_dir_name"], "52");
    assert_eq!(r["path_open"], "52");
    assert_eq!(r["poll_oneoff"], "52");
    assert_eq!(r["sched_yield"], "0");
    assert!(host.log_messages(LogLevel::Info).contains(&"via fd_write"));
    assert!(host.log_messages(LogLevel::Error).contains(&"via fd_write"));
    // The same seed gives the same bytes.
    let mut again = HostBuilder::from_file(raw())
        .plugin(PluginConfig::new("raw").configuration("wasi"))
        .random_seed(42)
        .build()?;
    again.start()?;
    assert_eq!(reports(&again)["random_bytes"], r["random_bytes"]);
    Ok(())
}

/// The nanoseconds of a `clock_time_get` report (`<errno>:<nanos>`, errno 0).
fn monotonic_nanos(report: &str) -> anyhow::Result<u64> {
    let nanos = report
        .strip_prefix("0:")
        .ok_or_else(|| anyhow::anyhow!("clock_time_get failed: {report}"))?;
    Ok(nanos.parse()?)
}

#[test]
fn monotonic_clock_follows_virtual_time_and_real_time() -> anyhow::Result<()> {
    // Virtual time as the test advances it, plus the real time that passed, as a guest in
    // Envoy measuring its own work sees it.
    let mut host = HostBuilder::from_file(raw())
        .plugin(PluginConfig::new("raw").configuration("wasi"))
        .build()?;
    host.advance_time(Duration::from_secs(50))?;
    host.start()?;
    let nanos = monotonic_nanos(&reports(&host)["clock_monotonic"])?;
    assert!(nanos >= 50_000_000_000, "{nanos}");
    assert!(nanos < 60_000_000_000, "{nanos}");
    Ok(())
}

#[test]
fn proc_exit_traps() -> anyhow::Result<()> {
    let mut host = HostBuilder::from_file(raw())
        .plugin(PluginConfig::new("raw").configuration("proc-exit"))
        .build()?;
    match host.start() {
        Err(HarnessError::Trap { callback, message }) => {
            assert_eq!(callback, "proxy_on_configure");
            assert!(message.contains("proc_exit(3)"), "{message}");
        }
        other => anyhow::bail!("expected a trap, got {other:?}"),
    }
    Ok(())
}

#[test]
fn environment_through_rust_std() -> anyhow::Result<()> {
    let mut host = HostBuilder::from_file(probe())
        .plugin(PluginConfig::new("http"))
        .env("PROBE_ENV", "yes")
        .build()?;
    assert!(host.start()?.ok());
    let s = host.new_http_stream()?;
    host.request_headers(s, &get("env"), true)?;
    let h = &host.stream(s)?.request_headers;
    assert_eq!(h.get("x-env"), Some("yes"));
    assert_eq!(h.get("x-env-count"), Some("1"));
    assert_eq!(h.get("x-args"), Some("0"));
    Ok(())
}
