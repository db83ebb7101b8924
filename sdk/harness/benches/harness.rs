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

use palisade_harness::{HostBuilder, HttpResponse, PluginConfig};

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

    let rego = rego_authz("rego-authz.yaml");
    let events = rego_authz("rego-authz-events.yaml");

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
    println!(
        "| rego-authz ({} KiB): instantiate+config   | {:>11.2?} |",
        rego.size / 1024,
        rego.instantiate
    );
    println!(
        "| rego-authz: one allowed request (GET)      | {:>11.2?} |",
        rego.allowed
    );
    println!(
        "| rego-authz: one allowed request (admin)    | {:>11.2?} |",
        rego.admin
    );
    println!(
        "| rego-authz: one denied request             | {:>11.2?} |",
        rego.denied
    );
    println!(
        "| + events: one allowed request (GET)        | {:>11.2?} |",
        events.allowed
    );
    println!(
        "| + events: one allowed request (admin)      | {:>11.2?} |",
        events.admin
    );
    println!(
        "| + events: one denied request               | {:>11.2?} |",
        events.denied
    );
}

struct RegoFigures {
    size: usize,
    instantiate: Duration,
    allowed: Duration,
    admin: Duration,
    denied: Duration,
}

/// rego-authz with the plugin configuration of a `palisade bench` bootstrap
/// (`envoy-configs/bench/<file>`), on the requests the Envoy benchmark sends. With decision
/// events, the harness plays the sink: every 100 requests it ticks the root context and answers
/// the batch with 200, so delivery's cost is in the figures too.
fn rego_authz(file: &str) -> RegoFigures {
    let wasm = std::fs::read(support::wasm("rego-authz")).expect("read rego-authz");
    let bootstrap = palisade_build::workspace_root()
        .join("envoy-configs/bench")
        .join(file);
    let text = std::fs::read_to_string(bootstrap).expect("read bootstrap");
    // Fill the bootstrap's placeholders: only the plugin configuration is read.
    let text = ["ADMIN_PORT", "LISTENER_PORT", "WASM_PATH", "SINK_PORT"]
        .iter()
        .fold(text, |text, name| {
            text.replace(&format!("${{{name}}}"), "0")
        });
    let yaml: serde_yaml::Value = serde_yaml::from_str(&text).expect("bootstrap yaml");
    let value = &yaml["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]
        ["typed_config"]["http_filters"][0]["typed_config"]["config"]["configuration"]["value"];
    let config = serde_json::to_string(value).expect("configuration as json");
    let build = || {
        let mut host = HostBuilder::from_bytes(wasm.clone())
            .plugin(PluginConfig::new("rego-authz").configuration(config.as_str()))
            .build()
            .expect("build");
        assert!(host.start().expect("start").ok());
        host
    };
    let instantiate = measure(20, || drop(build()));
    let mut host = build();
    let mut sent = 0u64;
    // The three requests of `palisade bench`'s mix.
    let mut request = |method: &str, path: &str, role: Option<&str>, allowed: bool| {
        let s = host.new_http_stream().expect("stream");
        let mut headers = vec![
            (":method", method),
            (":path", path),
            (":authority", "bench"),
        ];
        headers.extend(role.map(|role| ("x-role", role)));
        host.request_headers(s, &headers, true).expect("headers");
        let replied = host.stream(s).expect("stream").local_reply.is_some();
        assert_eq!(replied, !allowed, "{method} {path} {role:?}");
        host.finish_stream(s).expect("finish");
        sent += 1;
        if sent.is_multiple_of(100) {
            host.tick("rego-authz").expect("tick");
            host.respond_pending_http_callouts(&HttpResponse::new(200))
                .expect("answer");
        }
    };
    RegoFigures {
        size: wasm.len(),
        instantiate,
        allowed: measure(2000, || request("GET", "/public/item?id=7", None, true)),
        admin: measure(2000, || {
            request("POST", "/private/item", Some("admin"), true)
        }),
        denied: measure(2000, || request("GET", "/private/item", None, false)),
    }
}
