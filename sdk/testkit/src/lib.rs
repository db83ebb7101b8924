//! What the workspace tests (`tests/`) and the `palisade` command (`sdk/cli`) share: real Envoy
//! on loopback, a real echo upstream and CloudEvents sink, where the checkout is, the decision
//! case format, and running policies through the compiled rego-authz filter in the harness.
//!
//! It is a test kit: it finds Envoy, configs and crates in this checkout (`workspace`), and
//! gives the rego-authz module to [`rego_filter::RegoFilter`] as a file or as bytes (the
//! command passes the module it carries). Feature `istio` adds the Istio CRD schema check the
//! workspace tests and the CLI's tests run; the command itself does without it.
// Unsafe is denied but for one fenced exception: the death signal children ask for (envoy.rs).
#![deny(unsafe_code)]

pub mod cases;
pub mod echo;
pub mod envoy;
#[cfg(feature = "istio")]
pub mod istio;
pub mod policy_files;
pub mod rego_filter;
pub mod sink;
pub mod workspace;
