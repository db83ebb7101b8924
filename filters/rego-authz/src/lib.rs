//! `rego-authz`: OPA-Envoy-compatible authorization inside Envoy. The same Rego policies that
//! OPA-Envoy evaluates behind `ext_authz` run here, in the proxy, with no sidecar: same input
//! document, same decision object. See the crate README for the configuration.
//!
//! Build: `cargo build --release --target wasm32-wasip1 -p rego-authz`

palisade::export_policy!(palisade_rego::RegoAuthz);
