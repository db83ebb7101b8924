//! The SDK itself in real Envoy, through the `request-probe` test policy (run with the
//! tenant-header config, whose plugin configuration it ignores): the request view a policy
//! gets, and what a panic does; and which callbacks Envoy will call in the SDK's modules.

use palisade_testkit::echo::EchoServer;
use palisade_testkit::envoy::Envoy;

use crate::support::{self, get};

fn running() -> (Envoy, EchoServer) {
    let upstream = EchoServer::start().unwrap();
    let config = support::config(
        "tenant-header.yaml",
        &upstream,
        &support::wasm("request-probe"),
    );
    (support::start(&config), upstream)
}

#[test]
fn the_request_view_matches_what_the_client_sent() {
    let (envoy, upstream) = running();
    let listener = envoy.listener("ingress").unwrap();
    let reply = get(
        &envoy,
        "/shop/items?id=7&tag=a+b&tag=c%2Fd",
        &[
            ("x-probe", "yes"),
            ("host", "shop.example"),
            ("x-multi", "1"),
        ],
    );
    assert_eq!(reply.status, 200, "{reply:?}");
    assert!(upstream.received().is_empty(), "the probe answers locally");
    let view: serde_json::Value = serde_json::from_str(&reply.body).unwrap();
    assert_eq!(view["method"], "GET");
    assert_eq!(view["path"], "/shop/items?id=7&tag=a+b&tag=c%2Fd");
    assert_eq!(view["url_path"], "/shop/items");
    assert_eq!(
        view["query"],
        serde_json::json!([["id", "7"], ["tag", "a b"], ["tag", "c/d"]])
    );
    assert_eq!(view["host"], "shop.example");
    assert_eq!(view["scheme"], "http");
    assert_eq!(view["probe"], "yes", "header lookup ignores case");
    let names: Vec<&str> = view["headers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|pair| pair[0].as_str().unwrap())
        .collect();
    assert!(
        names.contains(&":authority") && names.contains(&"x-multi"),
        "{names:?}"
    );
    assert!(
        names
            .iter()
            .all(|n| n.chars().all(|c| !c.is_ascii_uppercase())),
        "{names:?}"
    );
    assert_eq!(view["source"]["address"], "127.0.0.1");
    assert_ne!(view["source"]["port"], 0);
    assert_eq!(view["destination"]["address"], listener.ip().to_string());
    assert_eq!(view["destination"]["port"], listener.port());
}

#[test]
fn a_panic_is_logged_at_critical_and_fails_closed() {
    let (envoy, upstream) = running();

    let reply = get(&envoy, "/", &[]);
    assert_eq!(
        reply.status, 200,
        "a request that does not panic passes: {reply:?}"
    );

    let reply = get(&envoy, "/", &[("x-panic", "test")]);
    assert_eq!(reply.status, 503, "{reply:?}");
    assert_eq!(
        upstream.received().len(),
        1,
        "the panicking request reached upstream"
    );

    let log = envoy.log();
    let line = log
        .lines()
        .find(|l| l.contains("palisade: panicked at"))
        .unwrap_or_else(|| panic!("no panic line in Envoy's log:\n{log}"));
    assert!(line.contains("[critical]"), "{line}");
    // The panic's message follows on the next line of the same log entry.
    assert!(log.contains("asked to panic: test"), "{log}");
}

/// The shipped bootstraps' failure policy, FAIL_RELOAD: after a trap (a bug), the request that
/// trapped and those within the reload backoff get 503s, never the upstream unchecked; then a
/// fresh VM serves again. (The scenarios in tests/scenarios/fail_*.yaml show every failure
/// policy in both worlds.)
#[test]
fn after_a_trap_the_shipped_failure_policy_serves_again() {
    let upstream = EchoServer::start().unwrap();
    let config = support::config(
        "rego-authz.yaml",
        &upstream,
        &support::wasm("request-probe"),
    );
    assert!(config.contains("failure_policy: FAIL_RELOAD"), "{config}");
    let envoy = support::start(&config);
    assert_eq!(get(&envoy, "/", &[]).status, 200);
    let trapped = get(&envoy, "/", &[("x-panic", "test")]);
    assert_eq!(trapped.status, 503, "{trapped:?}");
    // Within the backoff (1 s from the last VM load, plus jitter): refused; past it already
    // answered by a fresh VM. Never let through unchecked.
    let during = get(&envoy, "/", &[("x-probe", "yes")]);
    let filtered = during.status == 200 && during.body.contains("\"probe\":\"yes\"");
    assert!(during.status == 503 || filtered, "{during:?}");
    std::thread::sleep(std::time::Duration::from_millis(1600));
    // A fresh VM: the filter runs again (the probe answers with its request view).
    let after = get(&envoy, "/", &[("x-probe", "yes")]);
    assert_eq!(after.status, 200, "{after:?}");
    let view: serde_json::Value = serde_json::from_str(&after.body).unwrap();
    assert_eq!(view["probe"], "yes");
    assert_eq!(
        upstream.received().len(),
        1,
        "only the first request went upstream"
    );
}

/// Envoy calls a callback on every request that reaches it only when the module exports it
/// (proxy-wasm-cpp-host skips unexported ones), and each call into the VM costs CPU: the SDK
/// exports only those it answers. Read from the module's export section.
#[test]
fn the_modules_export_only_the_callbacks_the_sdk_answers() {
    let expected = [
        "_initialize",
        "memory",
        "proxy_abi_version_0_2_1",
        "proxy_on_configure",
        "proxy_on_context_create",
        "proxy_on_delete",
        "proxy_on_http_call_response",
        "proxy_on_memory_allocate",
        "proxy_on_request_body",
        "proxy_on_request_headers",
        "proxy_on_request_trailers",
        "proxy_on_response_headers",
        "proxy_on_tick",
        "proxy_on_vm_start",
    ];
    for package in ["rego-authz", "tenant-header", "request-probe"] {
        let module = std::fs::read(support::wasm(package)).unwrap();
        let mut exports = export_names(&module);
        exports.sort();
        assert_eq!(exports, expected, "{package}");
    }
}

/// The names in a wasm module's export section.
fn export_names(module: &[u8]) -> Vec<String> {
    let mut names = Vec::new();
    for payload in wasmparser::Parser::new(0).parse_all(module) {
        if let wasmparser::Payload::ExportSection(exports) = payload.unwrap() {
            for export in exports {
                names.push(export.unwrap().name.to_string());
            }
        }
    }
    names
}

/// How many times Envoy 1.40 starts a module for an HTTP filter: two instances on the main
/// thread and one per worker, each with its root context created, `proxy_on_vm_start` and
/// `proxy_on_configure`. The harness runs one instance, the worker's (see
/// `sdk/harness/README.md`); this pins the count it documents.
#[test]
fn envoy_starts_a_module_twice_on_the_main_thread_and_once_per_worker() {
    let upstream = EchoServer::start().unwrap();
    let config = support::config(
        "tenant-header.yaml",
        &upstream,
        &support::wasm("palisade-harness-recorder"),
    );
    for workers in [1u32, 2] {
        let envoy = palisade_testkit::envoy::Envoy::start_with(&config, workers)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(get(&envoy, "/", &[]).status, 200);
        let log = envoy.log();
        let count = |needle: &str| log.lines().filter(|l| l.contains(needle)).count();
        let instances = 2 + workers as usize;
        assert_eq!(count("cb vm_start ctx=root"), instances, "{log}");
        assert_eq!(count("cb configure ctx=root"), instances, "{log}");
        assert_eq!(
            count("cb context_create ctx=root parent=other"),
            instances,
            "{log}"
        );
        assert_eq!(count("cb request_headers ctx=stream"), 1, "{log}");
    }
}
