//! Builds the test filters to wasm once per test process, and small helpers shared by the tests.
// Test support: a failed build or a poisoned lock should stop the test run loudly.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::path::PathBuf;

use palisade_harness::{HostBuilder, LogLevel, PluginConfig};

/// Builds `package` (a cdylib in the workspace) for wasm32-wasip1, once per process.
pub(crate) fn wasm(package: &str) -> PathBuf {
    palisade_build::build_once(package).expect("building the test filter")
}

/// The probe filter (proxy-wasm Rust SDK).
pub(crate) fn probe() -> PathBuf {
    wasm("palisade-harness-probe")
}

/// The raw filter (hand-written imports, ABI 0.2.0, `malloc`).
pub(crate) fn raw() -> PathBuf {
    wasm("palisade-harness-raw")
}

/// A started host running the probe with one `http` plugin.
pub(crate) fn probe_host() -> anyhow::Result<palisade_harness::Host> {
    let mut host = HostBuilder::from_file(probe())
        .plugin(PluginConfig::new("http"))
        .build()?;
    assert!(host.start()?.ok());
    Ok(host)
}

/// A started host running the raw filter with `check` as plugin configuration.
pub(crate) fn raw_host(check: &str) -> anyhow::Result<palisade_harness::Host> {
    let mut host = HostBuilder::from_file(raw())
        .plugin(PluginConfig::new("raw").configuration(check))
        .env("RAW_A", "1")
        .env("RAW_B", "two")
        .build()?;
    assert!(host.start()?.ok());
    Ok(host)
}

/// The `name=value` reports the raw filter logged, by name.
pub(crate) fn reports(host: &palisade_harness::Host) -> HashMap<String, String> {
    host.log_messages(LogLevel::Info)
        .iter()
        .filter_map(|m| m.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// Request headers for a GET with the probe command `commands`.
pub(crate) fn get(commands: &str) -> Vec<(&str, &str)> {
    vec![
        (":method", "GET"),
        (":path", "/items?id=7"),
        (":authority", "example.com"),
        (":scheme", "https"),
        ("x-probe", commands),
    ]
}
