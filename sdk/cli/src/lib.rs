//! The `palisade` command's building blocks, shared with the workspace's end-to-end tests:
//! building filters to wasm, running real Envoy on loopback, and a real echo upstream.
#![forbid(unsafe_code)]
#![allow(clippy::print_stdout)] // a command-line tool: printing is its job

pub mod bench;
pub mod demo;
pub mod echo;
pub mod envoy;
pub mod workspace;

pub use palisade_build as wasm;
