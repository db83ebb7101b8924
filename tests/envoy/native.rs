//! The tenant-header example built natively, as an Envoy dynamic module
//! (`envoy-configs/tenant-header-native.yaml`), against the same example as a Wasm filter
//! (`tenant-header.yaml`): the same requests get the same answers, the upstream sees the same
//! headers, the same counters move. And the ABI check: every Envoy callback the module imports is
//! one the pinned Envoy binary exports (nothing checks this at load time: a missing callback
//! fails only when called).

use std::path::{Path, PathBuf};

use object::{Object, ObjectSymbol};
use palisade_testkit::echo::{EchoServer, EchoedRequest};
use palisade_testkit::envoy::{self, Envoy};

use crate::support::{self, get, Reply};

/// `librego_authz.so`, built once per test process.
pub fn rego_authz_module() -> PathBuf {
    palisade_build::build_native_once("rego-authz")
        .unwrap_or_else(|e| panic!("building rego-authz natively: {e}"))
}

/// `libtenant_header.so`, built once per test process.
fn native_module() -> PathBuf {
    palisade_build::build_native_once("tenant-header")
        .unwrap_or_else(|e| panic!("building tenant-header natively: {e}"))
}

fn native_envoy(upstream: &EchoServer) -> Envoy {
    let template = palisade_testkit::workspace::envoy_config("tenant-header-native.yaml");
    let config = envoy::render_file(
        &template,
        &[("UPSTREAM_PORT", &upstream.port().to_string())],
    )
    .unwrap();
    let module = native_module();
    Envoy::start_with_modules(&config, module.parent().unwrap()).unwrap_or_else(|e| panic!("{e}"))
}

fn wasm_envoy(upstream: &EchoServer) -> Envoy {
    let config = support::config(
        "tenant-header.yaml",
        upstream,
        &support::wasm("tenant-header"),
    );
    support::start(&config)
}

/// What a client and the upstream saw of one request.
#[derive(Debug, PartialEq)]
struct Seen {
    status: u16,
    body: String,
    content_type: Option<String>,
    policy: Option<String>,
    /// The tenant header(s) the upstream received, when the request got there.
    upstream_tenant: Option<Vec<String>>,
}

fn seen(envoy: &Envoy, upstream: &EchoServer, headers: &[(&str, &str)]) -> Seen {
    let before = upstream.received().len();
    let reply: Reply = get(envoy, "/orders?page=2", headers);
    upstream.wait_idle(std::time::Duration::from_millis(50));
    let received = upstream.received();
    let upstream_tenant = received.get(before).map(|request: &EchoedRequest| {
        request
            .headers
            .iter()
            .filter(|(k, _)| k == "x-palisade-tenant")
            .map(|(_, v)| v.clone())
            .collect()
    });
    Seen {
        status: reply.status,
        // The upstream's echo carries per-connection details; the body is compared on denials.
        body: if reply.status == 200 {
            String::new()
        } else {
            reply.body.clone()
        },
        content_type: reply.header("content-type").map(str::to_string),
        policy: reply.header("x-palisade-policy").map(str::to_string),
        upstream_tenant,
    }
}

const REQUESTS: &[&[(&str, &str)]] = &[
    &[],
    &[("x-tenant-id", "")],
    &[("x-tenant-id", "acme")],
    &[("x-tenant-id", "globex"), ("x-palisade-tenant", "acme")],
    &[("x-tenant-id", "initech")],
];

#[test]
fn the_native_module_decides_as_the_wasm_filter() {
    let (native_upstream, wasm_upstream) =
        (EchoServer::start().unwrap(), EchoServer::start().unwrap());
    let native = native_envoy(&native_upstream);
    let wasm = wasm_envoy(&wasm_upstream);
    for headers in REQUESTS {
        let (n, w) = (
            seen(&native, &native_upstream, headers),
            seen(&wasm, &wasm_upstream, headers),
        );
        assert_eq!(
            n, w,
            "request headers {headers:?}: native (left) and Wasm (right) differ"
        );
    }
    // And what they agree on is the policy's answer.
    let missing = seen(&native, &native_upstream, &[]);
    assert_eq!(missing.status, 401);
    assert_eq!(missing.policy.as_deref(), Some("tenant_header"));
    assert!(
        missing.body.contains("missing tenant header x-tenant-id"),
        "{missing:?}"
    );
    assert_eq!(
        seen(&native, &native_upstream, &[("x-tenant-id", "initech")]).status,
        403
    );
    let forged = seen(
        &native,
        &native_upstream,
        &[("x-tenant-id", "globex"), ("x-palisade-tenant", "acme")],
    );
    assert_eq!(forged.upstream_tenant, Some(vec!["globex".to_string()]));
    // The same counters, under each backend's stats prefix.
    for counter in ["requests_allowed", "requests_denied", "errors"] {
        let name = format!("palisade.tenant_header.{counter}");
        let native_count = native
            .stat(&format!("dynamicmodulescustom.{name}"))
            .unwrap();
        let wasm_count = wasm.stat(&format!("wasmcustom.{name}")).unwrap();
        // The native Envoy served the three requests above once more.
        let extra = match counter {
            "requests_allowed" => 1,
            "requests_denied" => 2,
            _ => 0,
        };
        assert_eq!(native_count, wasm_count + extra, "{counter}");
    }
}

/// The pinned Envoy executable (the Python package's wrapper script runs it).
fn envoy_executable() -> PathBuf {
    let venv = palisade_testkit::workspace::root().join(".venv/lib");
    std::fs::read_dir(&venv)
        .unwrap()
        .map(|entry| entry.unwrap().path().join("site-packages/envoy/_bin/envoy"))
        .find(|path| path.is_file())
        .unwrap_or_else(|| panic!("no envoy executable under {}", venv.display()))
}

/// The dynamic symbols of a shared object or executable: (defined, undefined).
fn dynamic_symbols(path: &Path) -> (Vec<String>, Vec<String>) {
    let bytes = std::fs::read(path).unwrap();
    let file = object::File::parse(&*bytes).unwrap();
    let (mut defined, mut undefined) = (Vec::new(), Vec::new());
    for symbol in file.dynamic_symbols() {
        let Ok(name) = symbol.name() else { continue };
        match symbol.is_undefined() {
            true => undefined.push(name.to_string()),
            false => defined.push(name.to_string()),
        }
    }
    (defined, undefined)
}

#[test]
fn every_callback_the_module_imports_is_one_the_pinned_envoy_exports() {
    let (_, imported) = dynamic_symbols(&native_module());
    let imported: Vec<&String> = imported
        .iter()
        .filter(|name| name.starts_with("envoy_dynamic_module_callback_"))
        .collect();
    assert!(
        imported.len() >= 5,
        "the module imports Envoy's header and metric callbacks: {imported:?}"
    );
    let (exported, _) = dynamic_symbols(&envoy_executable());
    let missing: Vec<&&String> = imported
        .iter()
        .filter(|name| !exported.contains(name))
        .collect();
    assert!(missing.is_empty(), "Envoy 1.40 does not export {missing:?}");
    // The hooks Envoy 1.40 requires of an HTTP filter module are all there.
    let (defined, _) = dynamic_symbols(&native_module());
    for hook in [
        "program_init",
        "http_filter_config_new",
        "http_filter_config_destroy",
        "http_filter_new",
        "http_filter_destroy",
        "http_filter_request_headers",
        "http_filter_request_body",
        "http_filter_request_trailers",
        "http_filter_response_headers",
        "http_filter_response_body",
        "http_filter_response_trailers",
        "http_filter_stream_complete",
        "http_filter_http_callout_done",
        "http_filter_http_stream_headers",
        "http_filter_http_stream_data",
        "http_filter_http_stream_trailers",
        "http_filter_http_stream_complete",
        "http_filter_http_stream_reset",
        "http_filter_scheduled",
        "http_filter_downstream_above_write_buffer_high_watermark",
        "http_filter_downstream_below_write_buffer_low_watermark",
    ] {
        let name = format!("envoy_dynamic_module_on_{hook}");
        assert!(defined.contains(&name), "the module lacks {name}");
    }
}

/// The request-probe test filter built natively, in the tenant-header bootstrap's place.
fn native_probe(upstream: &EchoServer) -> Envoy {
    let template = palisade_testkit::workspace::envoy_config("tenant-header-native.yaml");
    let config = envoy::render_file(
        &template,
        &[("UPSTREAM_PORT", &upstream.port().to_string())],
    )
    .unwrap()
    .replace("name: tenant_header,", "name: request_probe,");
    let module = palisade_build::build_native_once("request-probe")
        .unwrap_or_else(|e| panic!("building request-probe natively: {e}"));
    Envoy::start_with_modules(&config, module.parent().unwrap()).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn the_request_view_has_envoys_addresses_and_a_panic_is_the_failure_mode_not_a_crash() {
    let upstream = EchoServer::start().unwrap();
    let envoy = native_probe(&upstream);
    let reply = get(&envoy, "/probe?a=1", &[("x-probe", "yes")]);
    assert_eq!(reply.status, 200, "{reply:?}");
    let view: serde_json::Value = serde_json::from_str(&reply.body).unwrap();
    assert_eq!(view["path"], "/probe?a=1");
    assert_eq!(view["method"], "GET");
    assert_eq!(view["probe"], "yes");
    assert_eq!(view["source"]["address"], "127.0.0.1", "{view}");
    assert!(
        view["source"]["port"].as_u64().is_some_and(|p| p > 0),
        "{view}"
    );
    let listener = envoy.listener("ingress").unwrap();
    assert_eq!(
        view["destination"]["port"],
        u64::from(listener.port()),
        "{view}"
    );
    // A panic in the policy: the failure mode (fail closed) answers, Envoy lives on.
    let panicked = get(&envoy, "/", &[("x-panic", "on purpose")]);
    assert_eq!(panicked.status, 403, "{panicked:?}");
    assert_eq!(panicked.body, palisade::__private::FAIL_CLOSED_BODY);
    assert_eq!(get(&envoy, "/after", &[]).status, 200);
    assert_eq!(
        envoy
            .stat("dynamicmodulescustom.palisade.request_probe.errors")
            .unwrap(),
        1
    );
}

#[test]
fn a_bad_configuration_is_refused_by_the_native_module_naming_the_field() {
    let upstream = EchoServer::start().unwrap();
    let template = palisade_testkit::workspace::envoy_config("tenant-header-native.yaml");
    let config = envoy::render_file(
        &template,
        &[("UPSTREAM_PORT", &upstream.port().to_string())],
    )
    .unwrap();
    let bad_events = serde_json::json!({
        "allowed_tenants": ["acme"],
        "events": { "sink_cluster": "sink", "mode": "fast" },
    });
    let config = envoy::with_module_configuration(&config, "tenant-header", &bad_events).unwrap();
    let module = native_module();
    let refused = Envoy::start_with_modules(&config, module.parent().unwrap())
        .map(|_| ())
        .unwrap_err()
        .to_string();
    assert!(
        refused.contains("tenant_header: invalid plugin configuration: field `events.mode`"),
        "{refused}"
    );
    let misspelt = serde_json::json!({ "allowed_tenant": ["acme"] });
    let config = envoy::with_module_configuration(&config, "tenant-header", &misspelt).unwrap();
    let refused = Envoy::start_with_modules(&config, module.parent().unwrap())
        .map(|_| ())
        .unwrap_err()
        .to_string();
    assert!(refused.contains("allowed_tenant"), "{refused}");
}
