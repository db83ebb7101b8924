//! The `palisade` command's building blocks, shared with the workspace's end-to-end tests:
//! building filters to wasm, running real Envoy on loopback, a real echo upstream and CloudEvents
//! sink, the decision case format, and running policies through the compiled rego-authz filter
//! in the harness.
// Unsafe is denied but for one fenced exception: the death signal children ask for (envoy.rs).
#![deny(unsafe_code)]
#![allow(clippy::print_stdout)] // a command-line tool: printing is its job

pub mod bench;
pub mod cases;
pub mod command;
pub mod echo;
pub mod embedded;
pub mod envoy;
pub mod envoy_install;
pub mod eval;
pub mod new;
pub mod oci;
pub mod package;
pub mod policy_files;
pub mod policy_test;
pub mod rego_filter;
pub mod rego_tests;
pub mod sink;
pub mod toolchain;
pub mod up;
pub mod workspace;

pub use palisade_build as wasm;
