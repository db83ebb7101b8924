//! Harness benchmarks: module compile (once per process), VM instantiate + configure, and one request
//! through the probe filter (a trivial filter) and through the tenant-header example policy.
//! Prints a table of medians.
//!
//! Run: `CARGO_PROFILE_BENCH_LTO=false CARGO_PROFILE_BENCH_CODEGEN_UNITS=16 cargo bench -p palisade-harness`
//! (the workspace release profile's fat LTO makes wasmtime take very long to build).
#![allow(
    clippy::print_stdout,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::time::{Duration, Instant};

use palisade_harness::{HostBuilder, PluginConfig};

#[allow(dead_code, unreachable_pub)]
#[path = "../tests/all/support.rs"]
mod support;

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn measure(iterations: usize, mut f: impl FnMut()) -> Duration {
    for _ in 0..iterations.min(10) {
        f();
    }
    let samples = (0..iterations)
        .map(|_| {
            let start = Instant::now();
            f();
            start.elapsed()
        })
        .collect();
    median(samples)
}

fn main() {
    let path = support::probe();
    let bytes = std::fs::read(&path).expect("read probe");

    let start = Instant::now();
    let mut host = HostBuilder::from_bytes(bytes.clone())
        .plugin(PluginConfig::new("http"))
        .build()
        .expect("build");
    let compile = start.elapsed();
    assert!(host.start().expect("start").ok());

    let instantiate = measure(200, || {
        let mut host = HostBuilder::from_bytes(bytes.clone())
            .plugin(PluginConfig::new("http").configuration("tick=0"))
            .build()
            .expect("build");
        assert!(host.start().expect("start").ok());
    });

    let request = measure(2000, || {
        let s = host.new_http_stream().expect("stream");
        host.request_headers(
            s,
            &[(":method", "GET"), (":path", "/"), (":authority", "a")],
            true,
        )
        .expect("headers");
        host.response_headers(s, &[(":status", "200")], true)
            .expect("response");
        host.finish_stream(s).expect("finish");
    });

    let mutate = measure(2000, || {
        let s = host.new_http_stream().expect("stream");
        host.request_headers(
            s,
            &[
                (":method", "GET"),
                (":path", "/"),
                (":authority", "a"),
                ("x-probe", "mutate"),
            ],
            true,
        )
        .expect("headers");
        host.finish_stream(s).expect("finish");
    });

    let tenant = std::fs::read(support::wasm("tenant-header")).expect("read tenant-header");
    let tenant_config = r#"{"allowed_tenants": ["acme"]}"#;
    let tenant_instantiate = measure(200, || {
        let mut host = HostBuilder::from_bytes(tenant.clone())
            .plugin(PluginConfig::new("tenant-header").configuration(tenant_config))
            .build()
            .expect("build");
        assert!(host.start().expect("start").ok());
    });
    let mut tenant_host = HostBuilder::from_bytes(tenant.clone())
        .plugin(PluginConfig::new("tenant-header").configuration(tenant_config))
        .build()
        .expect("build");
    assert!(tenant_host.start().expect("start").ok());
    let mut tenant_request = |tenant: &str| {
        let s = tenant_host.new_http_stream().expect("stream");
        tenant_host
            .request_headers(
                s,
                &[
                    (":method", "GET"),
                    (":path", "/orders"),
                    (":authority", "a"),
                    ("x-tenant-id", tenant),
                ],
                true,
            )
            .expect("headers");
        tenant_host.finish_stream(s).expect("finish");
    };
    let tenant_allowed = measure(2000, || tenant_request("acme"));
    let tenant_denied = measure(2000, || tenant_request("mallory"));

    println!(
        "| benchmark (probe filter, {} KiB)          | median      |",
        bytes.len() / 1024
    );
    println!("|--------------------------------------------|-------------|");
    println!("| compile module (once per process, cold)    | {compile:>11.2?} |");
    println!("| instantiate + vm start + configure         | {instantiate:>11.2?} |");
    println!("| one request (headers both ways + finish)   | {request:>11.2?} |");
    println!("| one request with header mutations          | {mutate:>11.2?} |");
    println!(
        "| tenant-header ({} KiB): instantiate+config | {tenant_instantiate:>11.2?} |",
        tenant.len() / 1024
    );
    println!("| tenant-header: one allowed request         | {tenant_allowed:>11.2?} |");
    println!("| tenant-header: one denied request          | {tenant_denied:>11.2?} |");
}
