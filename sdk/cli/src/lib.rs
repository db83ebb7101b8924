//! The `palisade` command: its subcommands, as a library for the command's own tests
//! (`tests/`). What the workspace tests share with it (real Envoy, the echo upstream, the
//! CloudEvents sink, the decision cases and their runner) is `palisade-testkit`.
#![forbid(unsafe_code)]
#![allow(clippy::print_stdout)] // a command-line tool: printing is its job

pub mod bench;
pub mod command;
pub mod embedded;
pub mod envoy_install;
pub mod eval;
pub mod new;
pub mod oci;
pub mod package;
pub mod policy_test;
pub mod rego_tests;
pub mod toolchain;
pub mod up;
