//! The tenant-header example in real Envoy, with `envoy-configs/tenant-header.yaml`.

use palisade_testkit::echo::{EchoServer, EchoedRequest};
use palisade_testkit::envoy::{Envoy, EnvoyError};

use crate::support::{self, get};

const CONFIG: &str = "tenant-header.yaml";

fn running() -> (Envoy, EchoServer) {
    let upstream = EchoServer::start().unwrap();
    let config = support::config(CONFIG, &upstream, &support::wasm("tenant-header"));
    (support::start(&config), upstream)
}

#[test]
fn allowed_request_reaches_upstream_with_the_tenant_header() {
    let (envoy, upstream) = running();
    let reply = get(&envoy, "/orders?page=2", &[("x-tenant-id", "acme")]);
    assert_eq!(reply.status, 200, "{reply:?}");
    let echoed: EchoedRequest = serde_json::from_str(&reply.body).unwrap();
    assert_eq!(echoed.path, "/orders?page=2");
    assert_eq!(echoed.header("x-palisade-tenant"), Some("acme"));
    assert_eq!(echoed.header("x-tenant-id"), Some("acme"));
    assert_eq!(upstream.received().len(), 1);
    assert_eq!(
        envoy
            .stat("wasmcustom.palisade.tenant_header.requests_allowed")
            .unwrap(),
        1
    );
}

#[test]
fn a_forged_tenant_header_is_replaced() {
    let (envoy, upstream) = running();
    let reply = get(
        &envoy,
        "/",
        &[("x-tenant-id", "globex"), ("x-palisade-tenant", "acme")],
    );
    assert_eq!(reply.status, 200, "{reply:?}");
    let seen = upstream.received();
    let values: Vec<_> = seen[0]
        .headers
        .iter()
        .filter(|(k, _)| k == "x-palisade-tenant")
        .map(|(_, v)| v.as_str())
        .collect();
    assert_eq!(values, ["globex"]);
}

#[test]
fn missing_tenant_gets_the_policy_local_reply() {
    let (envoy, upstream) = running();
    let reply = get(&envoy, "/orders", &[]);
    assert_eq!(reply.status, 401);
    assert_eq!(reply.header("content-type"), Some("application/json"));
    assert_eq!(reply.header("x-palisade-policy"), Some("tenant_header"));
    let body: serde_json::Value = serde_json::from_str(&reply.body).unwrap();
    assert_eq!(body["error"], "missing tenant header x-tenant-id");
    assert!(
        upstream.received().is_empty(),
        "a denied request reached the upstream"
    );
    assert_eq!(
        envoy
            .stat("wasmcustom.palisade.tenant_header.requests_denied")
            .unwrap(),
        1
    );
}

#[test]
fn unknown_tenant_is_forbidden() {
    let (envoy, upstream) = running();
    let reply = get(&envoy, "/orders", &[("x-tenant-id", "mallory")]);
    assert_eq!(reply.status, 403);
    assert!(reply.body.contains("unknown tenant mallory"), "{reply:?}");
    assert!(upstream.received().is_empty());
}

/// The shipped config's plugin configuration, which the bad-config tests replace.
const GOOD_FIELD: &str = r#""tenant_header": "x-tenant-id","#;

fn start_with_plugin_field(replacement: &str) -> EnvoyError {
    let upstream = EchoServer::start().unwrap();
    let config = support::config(CONFIG, &upstream, &support::wasm("tenant-header"));
    assert!(
        config.contains(GOOD_FIELD),
        "the shipped config changed shape"
    );
    let bad = config.replace(GOOD_FIELD, replacement);
    match Envoy::start(&bad) {
        Ok(envoy) => panic!("Envoy accepted a bad plugin config; log:\n{}", envoy.log()),
        Err(err) => err,
    }
}

#[test]
fn a_wrongly_typed_field_makes_envoy_refuse_the_config() {
    let err = start_with_plugin_field(r#""tenant_header": 42,"#);
    let EnvoyError::Exited { log, .. } = err else {
        panic!("expected Envoy to exit, got {err}");
    };
    assert!(
        log.contains("tenant_header: invalid plugin configuration: field `tenant_header`: invalid type: integer `42`, expected a string"),
        "our message is not in Envoy's log:\n{log}"
    );
}

#[test]
fn an_unknown_field_is_named_in_the_rejection() {
    let err = start_with_plugin_field(r#""tenant_header": "x-tenant-id", "tenant_heder": "x","#);
    let EnvoyError::Exited { log, .. } = err else {
        panic!("expected Envoy to exit, got {err}");
    };
    assert!(
        log.contains("field `tenant_heder`: unknown field `tenant_heder`"),
        "our message is not in Envoy's log:\n{log}"
    );
}

#[test]
fn a_check_beyond_serde_is_reported_with_its_field() {
    let err = start_with_plugin_field(r#""tenant_header": "X Tenant","#);
    let EnvoyError::Exited { log, .. } = err else {
        panic!("expected Envoy to exit, got {err}");
    };
    assert!(
        log.contains(
            r#"field `tenant_header`: expected a lower-case HTTP header name, got "X Tenant""#
        ),
        "our message is not in Envoy's log:\n{log}"
    );
}
