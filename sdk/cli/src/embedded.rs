//! The rego-authz module the command carries (built with it: see build.rs), so `palisade test`,
//! `eval`, `up` and `module` need neither cargo nor this checkout.

use palisade_testkit::rego_filter::RegoFilter;

/// The module's bytes (`palisade up` and `palisade module` write them out for Envoy).
pub const REGO_AUTHZ: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/rego_authz.wasm"));

/// The module, to decide with in the harness.
pub fn rego_filter() -> RegoFilter {
    RegoFilter::from_bytes("rego_authz.wasm (embedded)", REGO_AUTHZ)
}
