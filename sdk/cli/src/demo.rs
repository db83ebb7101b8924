//! `palisade demo`: the tenant-header example enforced by real Envoy, with a few requests.

use anyhow::{bail, Context};

use crate::echo::{EchoServer, EchoedRequest};
use crate::envoy::{self, Envoy};
use crate::wasm;

/// One request the demo sends and what the policy should do with it.
struct DemoRequest {
    label: &'static str,
    headers: &'static [(&'static str, &'static str)],
    expect_status: u16,
    /// For allowed requests: the tenant the upstream must see.
    expect_tenant: Option<&'static str>,
}

const REQUESTS: &[DemoRequest] = &[
    DemoRequest {
        label: "x-tenant-id: acme",
        headers: &[("x-tenant-id", "acme")],
        expect_status: 200,
        expect_tenant: Some("acme"),
    },
    DemoRequest {
        label: "(no tenant header)",
        headers: &[],
        expect_status: 401,
        expect_tenant: None,
    },
    DemoRequest {
        label: "x-tenant-id: mallory",
        headers: &[("x-tenant-id", "mallory")],
        expect_status: 403,
        expect_tenant: None,
    },
    DemoRequest {
        label: "x-tenant-id: globex + forged x-palisade-tenant: acme",
        headers: &[("x-tenant-id", "globex"), ("x-palisade-tenant", "acme")],
        expect_status: 200,
        expect_tenant: Some("globex"),
    },
];

/// Runs the demo, printing as it goes; fails if any request is not handled as expected.
pub fn run() -> anyhow::Result<()> {
    println!("palisade demo: a Rust policy (examples/tenant-header) enforced by real Envoy\n");
    println!("==> building examples/tenant-header for {}", wasm::TARGET);
    let built = wasm::build("tenant-header")?;
    println!(
        "    {} ({} bytes, sha256 {})",
        built.path.display(),
        built.size,
        built.sha256
    );

    let upstream = EchoServer::start()?;
    println!("==> echo upstream on 127.0.0.1:{}", upstream.port());

    let config_path = crate::workspace::envoy_config("tenant-header.yaml");
    let wasm_path = built.path.to_string_lossy();
    let port = upstream.port().to_string();
    let config = envoy::render_file(
        &config_path,
        &[("UPSTREAM_PORT", &port), ("WASM_PATH", &wasm_path)],
    )?;
    println!("==> starting Envoy with {}", config_path.display());
    let envoy = Envoy::start(&config)?;
    let listener = envoy.listener("ingress")?;
    println!("    Envoy is listening on http://{listener}\n");

    let agent = envoy::http_client();
    let mut failures = 0;
    for request in REQUESTS {
        let mut call = agent.get(&format!("http://{listener}/orders"));
        for (name, value) in request.headers {
            call = call.header(*name, *value);
        }
        let mut response = call.call().context("sending a demo request")?;
        let status = response.status().as_u16();
        let body = response.body_mut().read_to_string().unwrap_or_default();
        let (outcome, ok) = if status == 200 {
            let echoed: EchoedRequest =
                serde_json::from_str(&body).context("reading the upstream's echo")?;
            let tenant = echoed.header("x-palisade-tenant");
            let ok = status == request.expect_status && tenant == request.expect_tenant;
            (
                format!(
                    "allowed, upstream saw x-palisade-tenant: {}",
                    tenant.unwrap_or("-")
                ),
                ok,
            )
        } else {
            (
                format!("denied: {}", body.trim()),
                status == request.expect_status,
            )
        };
        let mark = if ok { "ok" } else { "UNEXPECTED" };
        println!(
            "  GET /orders  {:<52} -> {status} {outcome}  [{mark}]",
            request.label
        );
        if !ok {
            failures += 1;
        }
    }

    let stats = envoy.stats()?;
    let counter = |name: &str| {
        stats
            .get(&format!("wasmcustom.palisade.tenant_header.{name}"))
            .copied()
            .unwrap_or(0)
    };
    println!(
        "\n  filter counters: requests_allowed={} requests_denied={} errors={}",
        counter("requests_allowed"),
        counter("requests_denied"),
        counter("errors")
    );
    println!(
        "  the upstream received {} of {} requests",
        upstream.received().len(),
        REQUESTS.len()
    );
    if failures > 0 {
        bail!("{failures} demo request(s) were not handled as expected");
    }
    println!("\ndemo passed: Envoy enforced the policy on every request");
    Ok(())
}
